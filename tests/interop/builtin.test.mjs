// End-to-end tests of teamnotes' built-in OAuth 2.1 authorization server, driven by the
// official MCP TypeScript clients with a headless "browser" (cookie jar, manual redirects,
// the server's own sign-in, consent and setup forms).
//
//   1. first start without accounts: the setup link from the log creates the administrator,
//      and the link is dead afterwards
//   2. SDK 1.x given only the MCP URL: 401 -> PRM -> AS metadata -> DCR -> authorize (PKCE
//      S256, RFC 8707 resource, scope) -> sign-in -> consent -> token -> whoami, for alice
//      (editor) and bob (viewer); a second authorization of the same user and client skips
//      the consent page
//   3. Client ID Metadata Documents: the SDK's clientMetadataUrl becomes the client_id
//      (no registration), the consent page names the document's client_name
//   4. refresh: an expired access token makes the SDK refresh (rotation); the rotated token
//      presented again is refused and revokes its family
//   5. the v2 client (@modelcontextprotocol/client) in auto mode (2026-07-28) with DCR
//   6. `teamnotes user disable` stops a signed-in user's access token within seconds
//
// Tests 1, 3 and 4 each start their own `teamnotes serve` (3 and 4 with their settings),
// tests 2, 5 and 6 share one; each on a free port with a throw-away data dir and its
// accounts created with `teamnotes user add` before the start. Every server must exit with
// code 0 on SIGTERM at the end.
//
// Both SDKs accept a clientMetadataUrl only when it is an https URL (SEP-991), which a
// document on loopback http is not: test 3 shows that refusal, then serves the document on
// https://127.0.0.1 with a throw-away self-signed certificate and runs that server inside
// its own mount namespace (unshare -m) in which the system CA bundle
// (/etc/ssl/certs/ca-certificates.crt, libcurl's) is the real one plus that certificate.
//
// Run: tests/interop/run-builtin.sh   (env TN_BUILD = meson build dir, default
//      /work/main/build; TN_SERVER_LOG=1 echoes the servers' logs to stderr)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InvalidClientMetadataError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import {
    Client as V2Client,
    StreamableHTTPClientTransport as V2HttpTransport,
    UnauthorizedError as V2UnauthorizedError
} from '@modelcontextprotocol/client';

import {
    BuiltinOAuthProvider,
    CookieJar,
    REDIRECT_URI,
    ROOT,
    TEAMNOTES_BIN,
    browserFetch,
    cli,
    connectV1,
    describeLog,
    formOf,
    jwtPayload,
    pageText,
    parseForm,
    postForm,
    recordingFetch,
    startTeamnotes,
    stopServer,
    textOf
} from './lib/harness.mjs';

const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'; // libcurl's default CAfile (Debian)
const MODERN_VERSION = '2026-07-28';
const TEST_TIMEOUT = 90_000;

const USERS = {
    alice: { email: 'alice@acme.test', name: 'Alice', role: 'editor', org: 'acme', password: 'alice-password-1' },
    bob: { email: 'bob@acme.test', name: 'Bob', role: 'viewer', org: 'acme', password: 'bob-password-12' }
};
const PERMISSIONS = { editor: ['notes:read', 'notes:write'], viewer: ['notes:read'] };

let TMP; // one throw-away directory for every data dir, key and bundle of this run

// The server of tests 2, 5 and 6 (alice and bob), started by the first of them that runs and
// stopped at the end. main.s: the server; main.sessions: SDK 1.x sessions by user.
const main = { sessions: {} };
let mainStarting;

function mainServer() {
    mainStarting ??= startTeamnotes('tn-main', { dir: TMP, users: USERS }).then(s => (main.s = s));
    return mainStarting;
}

before(() => {
    assert.ok(existsSync(TEAMNOTES_BIN), `${TEAMNOTES_BIN} not found: build with \`cd ${ROOT} && ninja -C build\`, or set TN_BUILD`);
    TMP = mkdtempSync(join(tmpdir(), 'tn-builtin-'));
});

after(async () => {
    for (const s of Object.values(main.sessions)) await s.client?.close().catch(() => {});
    if (mainStarting) await mainStarting.catch(() => {});
    try {
        if (main.s) await stopServer(main.s);
    } finally {
        if (TMP) rmSync(TMP, { recursive: true, force: true });
    }
});

// ---------------------------------------------------------------------------------------
// The OAuth client providers
// ---------------------------------------------------------------------------------------

/** The harness's provider, named `tn-builtin-test (email)` by default. */
class HeadlessOAuthProvider extends BuiltinOAuthProvider {
    static clientPrefix = 'tn-builtin-test';
}

/**
 * The provider for the v2 client: also keeps the discovery state, with which the v2 client
 * checks that the authorization response comes from the authorization server it started at
 * (SEP-2352; without it the client warns that it cannot).
 */
class HeadlessOAuthProviderV2 extends HeadlessOAuthProvider {
    saveDiscoveryState(state) {
        this._discovery = state;
    }
    discoveryState() {
        return this._discovery;
    }
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

/** connectV1 with the v2 client in auto mode; finishAuth gets the whole callback (code, iss). */
async function connectV2(url, provider, log = []) {
    const fetchFn = recordingFetch(log);
    const options = { versionNegotiation: { mode: 'auto' } };
    const first = new V2Client({ name: 'tn-builtin-test-v2', version: '1.0.0' }, options);
    const firstTransport = new V2HttpTransport(url, { authProvider: provider, fetch: fetchFn });
    await assert.rejects(first.connect(firstTransport), err => {
        assert.ok(err instanceof V2UnauthorizedError, `expected UnauthorizedError, got ${err?.constructor?.name}: ${err?.message}`);
        return true;
    });
    await firstTransport.finishAuth(provider.takeCallback());
    await first.close().catch(() => {});
    const client = new V2Client({ name: 'tn-builtin-test-v2', version: '1.0.0' }, options);
    const transport = new V2HttpTransport(url, { authProvider: provider, fetch: fetchFn });
    await client.connect(transport);
    return { client, transport, log };
}

async function whoami(client) {
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    assert.notEqual(result.isError, true, `whoami failed: ${textOf(result)}`);
    assert.ok(result.structuredContent, `structuredContent: ${JSON.stringify(result)}`);
    return result.structuredContent;
}

/** A raw MCP tools/call of whoami with a bearer token (2025-11-25, stateless). */
async function rawWhoami(server, accessToken) {
    const res = await fetch(server.url, {
        method: 'POST',
        headers: {
            authorization: `Bearer ${accessToken}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-11-25'
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } })
    });
    const body = await res.text();
    return { status: res.status, wwwAuthenticate: res.headers.get('www-authenticate'), body };
}

/** A raw refresh_token grant at the issuer's token endpoint (a public client). */
async function rawRefresh(server, clientId, refreshToken) {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }).toString();
    const res = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body
    });
    const text = await res.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { request: `POST /token ${body.replace(/refresh_token=[^&]+/, 'refresh_token=…')}`, status: res.status, text, json };
}

/** Checks the whole of a whoami answer for `account` of `server`, issued to `clientId`. */
function assertWhoami(who, server, account, clientId, accessToken) {
    assert.equal(who.userId, account.id, 'userId');
    assert.equal(who.issuer, server.issuer, 'issuer');
    assert.equal(who.organizationId, account.orgId, 'organizationId');
    assert.deepEqual(who.roles, [account.role], 'roles');
    assert.deepEqual(who.permissions, PERMISSIONS[account.role], 'permissions');
    assert.deepEqual([...who.scopes].sort(), ['notes:read', 'notes:write'], 'scopes');
    assert.equal(who.clientId, clientId, 'clientId');
    assert.equal(who.expiresAt, jwtPayload(accessToken).exp, 'expiresAt is the token exp');
}

// ---------------------------------------------------------------------------------------
// 1. first start: the setup link
// ---------------------------------------------------------------------------------------

describe('1. first start without accounts: the setup link creates the administrator', { timeout: TEST_TIMEOUT }, () => {
    let s;
    let setupUrl;
    const jar = new CookieJar();

    before(async () => {
        s = await startTeamnotes('tn-setup', { dir: TMP });
    });
    after(async () => {
        await stopServer(s);
    });

    it('the log names the one-time setup link of this server', () => {
        const line = s.output().split('\n').find(l => l.includes('/setup?token='));
        assert.ok(line, `no setup link in the log:\n${s.output()}`);
        setupUrl = new URL(/\burl=(\S+)/.exec(line)[1]);
        assert.equal(`${setupUrl.origin}${setupUrl.pathname}`, `${s.issuer}/setup`);
        assert.match(setupUrl.searchParams.get('token'), /^[A-Za-z0-9_-]{20,}$/);
    });

    it('GET the link: the form; POST it: 200 "You are the administrator"', async () => {
        assert.ok(setupUrl, 'setup link found');
        const res = await browserFetch(setupUrl, { method: 'GET' }, jar);
        const html = await res.text();
        assert.equal(res.status, 200, html);
        assert.ok(jar.names().includes('tn_csrf'), `a tn_csrf cookie was set: ${jar.names()}`);
        const form = parseForm(html);
        assert.ok(form, `a form on the setup page:\n${html}`);
        assert.equal(form.action, '/setup');
        assert.equal(form.hidden.token, setupUrl.searchParams.get('token'));
        assert.ok(form.hidden.csrf, 'a csrf field');
        assert.deepEqual(form.fields, ['email', 'name', 'password', 'password2']);
        const post = await browserFetch(
            new URL('/setup', s.issuer),
            postForm({
                ...form.hidden,
                email: 'Admin@Acme.test',
                name: 'Ada Admin',
                password: 'admin-password-1',
                password2: 'admin-password-1'
            }),
            jar
        );
        const text = pageText(await post.text());
        assert.equal(post.status, 200, text);
        assert.match(text, /administrator/i);
        assert.match(text, /You are the administrator/);
    });

    it('the account exists: admin, in its organization, email lower-cased', async () => {
        const list = await cli(['user', 'list', '--data-dir', s.dataDir]);
        const rows = list.trim().split('\n');
        assert.equal(rows.length, 1, list);
        assert.match(rows[0], /^admin@acme\.test\s+admin\s+org_\S+\s+usr_\S+$/);
        assert.match(s.output(), /first administrator created/);
    });

    it('a second visit of the link answers 404 (GET and POST)', async () => {
        assert.ok(setupUrl, 'setup link found');
        const again = await browserFetch(setupUrl, { method: 'GET' }, new CookieJar());
        const text = pageText(await again.text());
        assert.equal(again.status, 404, text);
        assert.match(text, /already has an administrator/);
        const post = await fetch(
            new URL('/setup', s.issuer),
            postForm({ token: setupUrl.searchParams.get('token'), email: 'x@y.z', password: 'a-long-password', password2: 'a-long-password' })
        );
        await post.body?.cancel();
        assert.equal(post.status, 404);
    });
});

// ---------------------------------------------------------------------------------------
// 2. SDK 1.x: discovery, DCR, authorization, whoami
// ---------------------------------------------------------------------------------------

describe('2. SDK 1.x given only the MCP URL: 401 -> PRM -> metadata -> DCR -> authorize -> token -> whoami', { timeout: TEST_TIMEOUT }, () => {
    before(mainServer);

    for (const key of ['alice', 'bob']) {
        describe(key, () => {
            let provider;
            let s;
            let account;

            it('connects after the full authorization flow', async () => {
                account = main.s.accounts[key];
                provider = new HeadlessOAuthProvider(account);
                s = main.sessions[key] = await connectV1(main.s.url, provider);
                main.sessions[key].provider = provider;
                assert.equal(provider.authorizationUrls.length, 1, 'one authorization');
            });

            it('401 with resource_metadata, then PRM, then the AS metadata of the same origin', () => {
                assert.ok(s, 'connected');
                const log = s.log;
                const i401 = log.findIndex(r => r.url === main.s.url.href && r.status === 401);
                assert.equal(i401, 0, `the first request is the MCP endpoint's 401:\n${describeLog(log)}`);
                assert.match(log[0].wwwAuthenticate, /^Bearer /);
                assert.ok(log[0].wwwAuthenticate.includes(`resource_metadata="${main.s.prm}"`), log[0].wwwAuthenticate);
                const iPrm = log.findIndex(r => r.url === main.s.prm && r.status === 200);
                const iMeta = log.findIndex(r => r.url === `${main.s.issuer}/.well-known/oauth-authorization-server` && r.status === 200);
                assert.ok(iPrm > i401, `PRM fetched after the 401:\n${describeLog(log)}`);
                assert.ok(iMeta > iPrm, `AS metadata fetched after the PRM:\n${describeLog(log)}`);
            });

            it('the PRM and the AS metadata say what the issuer is', async () => {
                const prm = await (await fetch(main.s.prm)).json();
                assert.equal(prm.resource, main.s.url.href);
                assert.deepEqual(prm.authorization_servers, [main.s.issuer]);
                assert.deepEqual(prm.scopes_supported, ['notes:read', 'notes:write']);
                const meta = await (await fetch(`${main.s.issuer}/.well-known/oauth-authorization-server`)).json();
                assert.equal(meta.issuer, main.s.issuer);
                assert.equal(meta.authorization_endpoint, `${main.s.issuer}/authorize`);
                assert.equal(meta.token_endpoint, `${main.s.issuer}/token`);
                assert.equal(meta.registration_endpoint, `${main.s.issuer}/register`);
                assert.equal(meta.revocation_endpoint, `${main.s.issuer}/revoke`);
                assert.equal(meta.jwks_uri, `${main.s.issuer}/jwks`);
                assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
                assert.equal(meta.client_id_metadata_document_supported, true);
                assert.equal(meta.authorization_response_iss_parameter_supported, true);
                const oidc = await (await fetch(`${main.s.issuer}/.well-known/openid-configuration`)).json();
                assert.equal(oidc.issuer, main.s.issuer);
            });

            it('registered at /register: 201, client_id issued, saved by the SDK', () => {
                assert.ok(s, 'connected');
                const regs = s.log.filter(r => r.method === 'POST' && r.url === `${main.s.issuer}/register`);
                assert.equal(regs.length, 1, `one registration:\n${describeLog(s.log)}`);
                const reg = regs[0];
                assert.equal(reg.status, 201, JSON.stringify(reg.responseJson));
                const sent = JSON.parse(reg.requestBody);
                assert.deepEqual(sent.redirect_uris, [REDIRECT_URI]);
                assert.equal(sent.token_endpoint_auth_method, 'none');
                const issued = reg.responseJson;
                assert.match(issued.client_id, /^[A-Za-z0-9_-]{16,}$/);
                assert.equal(issued.client_secret, undefined, 'a public client gets no secret');
                assert.deepEqual(issued.redirect_uris, [REDIRECT_URI]);
                assert.deepEqual(issued.grant_types, ['authorization_code', 'refresh_token']);
                assert.equal(issued.client_name, provider.clientName);
                assert.equal(provider.savedClients.length, 1);
                assert.equal(provider.savedClients[0].client_id, issued.client_id, "the SDK keeps the issuer's client id");
            });

            it('the authorize URL: S256, resource = the MCP URL, scope, the DCR client', () => {
                const url = provider.authorizationUrls[0];
                assert.ok(url, 'an authorization URL was built');
                assert.equal(`${url.origin}${url.pathname}`, `${main.s.issuer}/authorize`);
                const q = url.searchParams;
                assert.equal(q.get('response_type'), 'code');
                assert.equal(q.get('code_challenge_method'), 'S256');
                assert.match(q.get('code_challenge') || '', /^[A-Za-z0-9_-]{43}$/);
                assert.equal(q.get('resource'), main.s.url.href);
                assert.equal(q.get('scope'), 'notes:read notes:write');
                assert.equal(q.get('client_id'), provider.savedClients[0]?.client_id);
                assert.equal(q.get('redirect_uri'), REDIRECT_URI);
                assert.ok(q.get('state'), 'a state');
            });

            it('sign-in form, consent form, 303 to the redirect URI with code, state and iss', () => {
                const b = provider.browses[0];
                assert.deepEqual(b.trace, ['GET /authorize -> 200', 'POST /authorize/login -> 200', 'POST /authorize/consent -> 303']);
                const [signin, consent] = b.pages;
                assert.equal(signin.form.action, '/authorize/login');
                assert.deepEqual(Object.keys(signin.form.hidden).sort(), ['csrf', 'req']);
                assert.deepEqual(signin.form.fields, ['email', 'password']);
                assert.equal(consent.form.action, '/authorize/consent');
                assert.deepEqual(Object.keys(consent.form.hidden).sort(), ['csrf', 'req']);
                assert.deepEqual(consent.form.buttons, [
                    { name: 'decision', value: 'deny' },
                    { name: 'decision', value: 'allow' }
                ]);
                assert.ok(consent.text.includes(provider.clientName), `the consent page names the client: ${consent.text}`);
                assert.ok(consent.text.includes(account.email), `the consent page names the user: ${consent.text}`);
                assert.ok(provider.jar.names().includes('tn_session'), `signed in at the issuer: ${provider.jar.names()}`);
                const cb = b.callback;
                assert.match(cb.get('code'), /^[A-Za-z0-9_-]{43}$/);
                assert.equal(cb.get('iss'), main.s.issuer);
                assert.equal(cb.get('state'), provider.authorizationUrls[0].searchParams.get('state'));
            });

            it('token endpoint: 200 with a Bearer JWT for the MCP URL and a refresh token', () => {
                const ex = s.log.filter(r => r.method === 'POST' && r.url === `${main.s.issuer}/token`);
                assert.equal(ex.length, 1, describeLog(s.log));
                assert.equal(ex[0].status, 200, JSON.stringify(ex[0].responseJson));
                const sent = formOf(ex[0]);
                assert.equal(sent.grant_type, 'authorization_code');
                assert.equal(sent.code, provider.browses[0].callback.get('code'));
                assert.match(sent.code_verifier, /^[A-Za-z0-9._~-]{43,128}$/);
                assert.equal(sent.resource, main.s.url.href);
                const tokens = provider.tokens();
                assert.equal(tokens.token_type, 'Bearer');
                assert.equal(tokens.expires_in, 3600);
                assert.equal(tokens.scope, 'notes:read notes:write');
                assert.ok(tokens.refresh_token, 'a refresh token');
                const claims = jwtPayload(tokens.access_token);
                assert.equal(claims.iss, main.s.issuer);
                assert.equal(claims.aud, main.s.url.href);
                assert.equal(claims.sub, account.id);
                assert.equal(claims.client_id, provider.savedClients[0].client_id);
            });

            it(`whoami: ${key} (${USERS[key].role}, org ${USERS[key].org})`, async () => {
                assert.ok(s, 'connected');
                const who = await whoami(s.client);
                assertWhoami(who, main.s, account, provider.savedClients[0].client_id, provider.tokens().access_token);
            });
        });
    }

    it('alice and bob: different users, the same organization, their own permissions', async () => {
        const { alice, bob } = main.sessions;
        assert.ok(alice?.client && bob?.client, 'both connected');
        const [a, b] = await Promise.all([whoami(alice.client), whoami(bob.client)]);
        assert.notEqual(a.userId, b.userId);
        assert.equal(a.organizationId, b.organizationId);
        assert.equal(a.organizationId, main.s.accounts.alice.orgId);
        assert.deepEqual(a.permissions, ['notes:read', 'notes:write']);
        assert.deepEqual(b.permissions, ['notes:read']);
        assert.deepEqual(a.roles, ['editor']);
        assert.deepEqual(b.roles, ['viewer']);
        assert.equal(a.issuer, `http://127.0.0.1:${main.s.port}`);
        assert.equal(b.issuer, a.issuer);
        assert.notEqual(a.clientId, b.clientId, 'two registrations');
    });

    it('second authorization of alice with the same client: no consent page (remembered)', async () => {
        const { alice } = main.sessions;
        assert.ok(alice?.client, 'alice connected');
        const provider = alice.provider;
        const clientId = provider.savedClients[0].client_id;
        // The same browser (signed in): straight back with a code.
        provider.invalidateCredentials('tokens');
        const again = await connectV1(main.s.url, provider);
        assert.deepEqual(provider.browses[1].trace, ['GET /authorize -> 303'], 'signed in and consent remembered');
        assert.equal(provider.authorizationUrls[1].searchParams.get('client_id'), clientId);
        assert.equal(provider.browses[1].callback.get('iss'), main.s.issuer);
        // A new browser: signs in, and no consent page follows.
        provider.invalidateCredentials('tokens');
        provider.newBrowser();
        const third = await connectV1(main.s.url, provider);
        assert.deepEqual(provider.browses[2].trace, ['GET /authorize -> 200', 'POST /authorize/login -> 303']);
        assert.equal(provider.savedClients.length, 1, 'no second registration');
        assert.ok(![...again.log, ...third.log].some(r => r.url.endsWith('/register')), 'no /register call');
        const who = await whoami(third.client);
        assertWhoami(who, main.s, main.s.accounts.alice, clientId, provider.tokens().access_token);
        await again.client.close().catch(() => {});
        await third.client.close().catch(() => {});
    });
});

// ---------------------------------------------------------------------------------------
// 3. Client ID Metadata Documents
// ---------------------------------------------------------------------------------------

/** A throw-away self-signed certificate for 127.0.0.1 (openssl). */
function makeCertificate(dir) {
    const key = join(dir, 'cimd-key.pem');
    const cert = join(dir, 'cimd-cert.pem');
    execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
            '-subj', '/CN=tn-builtin-test CIMD', '-addext', 'subjectAltName=IP:127.0.0.1',
            '-keyout', key, '-out', cert],
        { stdio: 'pipe' }
    );
    return { key: readFileSync(key), cert: readFileSync(cert), certPath: cert };
}

/** Serves one JSON document at `path` (http or https), recording every request. */
async function serveDocument(make, path, doc) {
    const requests = [];
    const srv = make((req, res) => {
        requests.push({ method: req.method, url: req.url, userAgent: req.headers['user-agent'] });
        if (req.url !== path) {
            res.writeHead(404).end();
            return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
        res.end(JSON.stringify(doc()));
    });
    await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', resolve);
    });
    return { srv, port: srv.address().port, requests, close: () => new Promise(r => srv.close(() => r())) };
}

describe('3. Client ID Metadata Document: clientMetadataUrl as client_id, no registration', { timeout: TEST_TIMEOUT }, () => {
    let s;
    let httpDoc;
    let httpsDoc;
    let cimdUrl;
    const CLIENT_NAME = 'Notes Desk (CIMD test client)';
    const docFor = url => () => ({
        client_id: url(),
        client_name: CLIENT_NAME,
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code']
    });

    before(async () => {
        const dir = mkdtempSync(join(TMP, 'cimd-tls-'));
        const tls = makeCertificate(dir);
        httpDoc = await serveDocument(createHttpServer, '/oauth/client.json', docFor(() => `http://127.0.0.1:${httpDoc.port}/oauth/client.json`));
        httpsDoc = await serveDocument(
            handler => createHttpsServer({ key: tls.key, cert: tls.cert }, handler),
            '/oauth/client.json',
            docFor(() => cimdUrl)
        );
        cimdUrl = `https://127.0.0.1:${httpsDoc.port}/oauth/client.json`;
        // The server trusts the throw-away certificate: in a mount namespace of its own, the
        // system bundle libcurl reads is replaced by the bundle plus that certificate.
        assert.ok(existsSync(SYSTEM_CA_BUNDLE), `${SYSTEM_CA_BUNDLE} not found`);
        const bundle = join(dir, 'ca-bundle.crt');
        writeFileSync(bundle, Buffer.concat([readFileSync(SYSTEM_CA_BUNDLE), Buffer.from('\n'), tls.cert]));
        const unshareFlags = process.getuid?.() === 0 ? '-m' : '-rm';
        s = await startTeamnotes('tn-cimd', {
            dir: TMP,
            users: { alice: USERS.alice },
            env: { CIMD_ALLOW_LOOPBACK: '1' },
            wrap: (bin, args) => [
                'unshare',
                [unshareFlags, 'sh', '-c', `mount --bind "$0" ${SYSTEM_CA_BUNDLE} && exec "$@"`, bundle, bin, ...args]
            ]
        });
    });
    after(async () => {
        await httpDoc?.close();
        await httpsDoc?.close();
        await stopServer(s);
    });

    it('the server takes the document from loopback http (CIMD_ALLOW_LOOPBACK=1): its sign-in page', async () => {
        const url = `http://127.0.0.1:${httpDoc.port}/oauth/client.json`;
        const q = new URLSearchParams({
            response_type: 'code',
            client_id: url,
            redirect_uri: REDIRECT_URI,
            code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
            code_challenge_method: 'S256',
            scope: 'notes:read',
            state: 'xyz',
            resource: s.url.href
        });
        const res = await fetch(`${s.issuer}/authorize?${q}`, { redirect: 'manual' });
        const html = await res.text();
        assert.equal(res.status, 200, pageText(html));
        assert.equal(parseForm(html)?.action, '/authorize/login');
        assert.ok(pageText(html).includes(CLIENT_NAME), `the sign-in page names the client: ${pageText(html)}`);
        assert.ok(httpDoc.requests.some(r => r.url === '/oauth/client.json' && r.userAgent === 'teamnotes'), 'fetched by the server');
    });

    it('both SDKs refuse an http clientMetadataUrl (SEP-991 wants https): nothing is sent to the issuer', async () => {
        const url = `http://127.0.0.1:${httpDoc.port}/oauth/client.json`;
        const provider = new HeadlessOAuthProvider(s.accounts.alice, { clientMetadataUrl: url });
        const log = [];
        const client = new Client({ name: 'tn-builtin-test', version: '1.0.0' }, { capabilities: {} });
        const transport = new StreamableHTTPClientTransport(s.url, { authProvider: provider, fetch: recordingFetch(log) });
        await assert.rejects(client.connect(transport), err => {
            assert.ok(err instanceof InvalidClientMetadataError, `${err?.constructor?.name}: ${err?.message}`);
            assert.match(err.message, /clientMetadataUrl must be a valid HTTPS URL/);
            return true;
        });
        await client.close().catch(() => {});
        assert.equal(provider.authorizationUrls.length, 0);
        assert.ok(!log.some(r => r.path === '/register' || r.path === '/token'), describeLog(log));
        const v2log = [];
        const v2provider = new HeadlessOAuthProvider(s.accounts.alice, { clientMetadataUrl: url });
        const v2 = new V2Client({ name: 'tn-builtin-test-v2', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
        await assert.rejects(v2.connect(new V2HttpTransport(s.url, { authProvider: v2provider, fetch: recordingFetch(v2log) })), err => {
            assert.match(String(err?.message), /clientMetadataUrl must be a valid HTTPS URL/, `${err?.constructor?.name}: ${err?.message}`);
            return true;
        });
        await v2.close().catch(() => {});
        assert.equal(v2provider.authorizationUrls.length, 0);
        assert.ok(!v2log.some(r => r.path === '/register' || r.path === '/token'), describeLog(v2log));
    });

    describe('SDK 1.x with clientMetadataUrl = the https document', () => {
        let provider;
        let sess;
        const log = []; // the SDK's requests, kept when the flow breaks off

        after(async () => {
            await sess?.client?.close().catch(() => {});
        });

        it('connects after the authorization flow', async () => {
            provider = new HeadlessOAuthProvider(s.accounts.alice, { clientMetadataUrl: cimdUrl });
            sess = await connectV1(s.url, provider, log);
            assert.equal(provider.authorizationUrls.length, 1);
        });

        it('the SDK uses the document URL as client_id: no /register call on the wire', () => {
            assert.ok(provider, 'the flow ran');
            assert.ok(log.some(r => r.path === '/.well-known/oauth-authorization-server' && r.status === 200), describeLog(log));
            assert.ok(!log.some(r => r.path === '/register'), `no registration:\n${describeLog(log)}`);
            assert.deepEqual(provider.savedClients.map(c => c.client_id), [cimdUrl]);
            const q = provider.authorizationUrls[0]?.searchParams;
            assert.ok(q, 'an authorization URL was built');
            assert.equal(q.get('client_id'), cimdUrl);
            assert.equal(q.get('code_challenge_method'), 'S256');
            assert.equal(q.get('resource'), s.url.href);
            assert.equal(q.get('scope'), 'notes:read notes:write');
        });

        it('the server fetched the document; the consent page shows its client_name', () => {
            assert.ok(
                httpsDoc.requests.some(r => r.method === 'GET' && r.url === '/oauth/client.json' && r.userAgent === 'teamnotes'),
                `document requests: ${JSON.stringify(httpsDoc.requests)}`
            );
            const b = provider?.browses[0];
            assert.ok(b, 'the browser ran');
            assert.deepEqual(b.trace, ['GET /authorize -> 200', 'POST /authorize/login -> 200', 'POST /authorize/consent -> 303']);
            const consent = b.pages.find(p => p.form?.action === '/authorize/consent');
            assert.ok(consent.text.includes(CLIENT_NAME), `the consent page names the client: ${consent.text}`);
            assert.ok(consent.text.includes(cimdUrl), `the consent page shows the document URL: ${consent.text}`);
        });

        it('consent: 303 to the redirect URI with a code and iss', () => {
            const b = provider?.browses[0];
            assert.ok(b?.callback, 'the browser came back to the redirect URI');
            assert.equal(
                b.callback.get('error'),
                null,
                `POST /authorize/consent (decision=allow) -> 303 Location: ${b.location}`
            );
            assert.match(b.callback.get('code') || '', /^[A-Za-z0-9_-]{43}$/);
            assert.equal(b.callback.get('iss'), s.issuer);
        });

        it('token endpoint: 200 for client_id = the document URL', () => {
            const ex = log.filter(r => r.method === 'POST' && r.path === '/token');
            assert.equal(ex.length, 1, `one code exchange:\n${describeLog(log)}`);
            assert.equal(ex[0].status, 200, JSON.stringify(ex[0].responseJson));
            const sent = formOf(ex[0]);
            assert.equal(sent.grant_type, 'authorization_code');
            assert.equal(sent.client_id, cimdUrl);
            assert.equal(jwtPayload(provider.tokens().access_token).client_id, cimdUrl);
        });

        it('whoami: alice, clientId = the document URL', async () => {
            assert.ok(sess, 'connected');
            const who = await whoami(sess.client);
            assertWhoami(who, s, s.accounts.alice, cimdUrl, provider.tokens().access_token);
        });
    });
});

// ---------------------------------------------------------------------------------------
// 4. refresh with rotation, reuse detection
// ---------------------------------------------------------------------------------------

describe('4. refresh: ACCESS_TOKEN_TTL_S=5, rotation, reuse of the rotated token revokes the family', { timeout: TEST_TIMEOUT }, () => {
    let s;
    let provider;
    let sess;
    let first;
    let rotated;

    before(async () => {
        s = await startTeamnotes('tn-refresh', {
            dir: TMP,
            users: { alice: USERS.alice },
            // AUTH_LEEWAY_S=0: the resource server otherwise accepts an expired token for the
            // default 30 s of clock-skew leeway. REFRESH_REUSE_GRACE_S=0: a rotated refresh token
            // presented again counts as a reuse at once, not as a concurrent refresh.
            env: { ACCESS_TOKEN_TTL_S: '5', AUTH_LEEWAY_S: '0', REFRESH_REUSE_GRACE_S: '0' }
        });
    });
    after(async () => {
        await sess?.client?.close().catch(() => {});
        await stopServer(s);
    });

    it('connects; the access token lives 5 s and comes with a refresh token', async () => {
        provider = new HeadlessOAuthProvider(s.accounts.alice);
        sess = await connectV1(s.url, provider);
        first = provider.tokens();
        assert.equal(first.expires_in, 5);
        assert.ok(first.refresh_token, 'a refresh token');
        const claims = jwtPayload(first.access_token);
        assert.equal(claims.exp - claims.iat, 5);
        const who = await whoami(sess.client);
        assert.equal(who.expiresAt, claims.exp);
    });

    it('after expiry the next call gets 401, the SDK refreshes (new refresh token) and the call succeeds', async () => {
        assert.ok(sess, 'connected');
        const exp = jwtPayload(first.access_token).exp;
        const wait = exp * 1000 + 1100 - Date.now();
        if (wait > 0) await sleep(wait);
        const logFrom = sess.log.length;
        const who = await whoami(sess.client);
        const wire = sess.log.slice(logFrom);
        console.log(`# after expiry:\n${describeLog(wire).replace(/^/gm, '#   ')}`);
        assert.equal(wire[0].url, s.url.href);
        assert.equal(wire[0].status, 401, describeLog(wire));
        assert.match(wire[0].wwwAuthenticate, /error="invalid_token"/);
        const refreshes = wire.filter(r => r.method === 'POST' && r.path === '/token');
        assert.equal(refreshes.length, 1, describeLog(wire));
        const sent = formOf(refreshes[0]);
        assert.equal(sent.grant_type, 'refresh_token');
        assert.equal(sent.refresh_token, first.refresh_token);
        assert.equal(sent.client_id, provider.savedClients[0].client_id);
        assert.equal(refreshes[0].status, 200, JSON.stringify(refreshes[0].responseJson));
        rotated = provider.tokens();
        assert.equal(provider.savedTokens.length, 2, 'the refreshed tokens were saved');
        assert.ok(rotated.refresh_token, 'a new refresh token was issued');
        assert.notEqual(rotated.refresh_token, first.refresh_token, 'rotated');
        assert.notEqual(rotated.access_token, first.access_token);
        assert.equal(rotated.scope, 'notes:read notes:write');
        assert.equal(provider.authorizationUrls.length, 1, 'no new authorization');
        assert.equal(wire[wire.length - 1].url, s.url.href);
        assert.equal(wire[wire.length - 1].status, 200, 'the retried call succeeded');
        assert.equal(who.userId, s.accounts.alice.id);
        assert.ok(who.expiresAt > jwtPayload(first.access_token).exp, 'a later expiry');
        assert.equal(who.expiresAt, jwtPayload(rotated.access_token).exp);
    });

    it('the old refresh token again: 400 invalid_grant; then the new one fails too (family revoked)', async () => {
        assert.ok(rotated?.refresh_token, 'rotated in the previous test');
        // The reuse grace is 0 s, counted in whole seconds: let the second of the rotation pass.
        await sleep(1500);
        const clientId = provider.savedClients[0].client_id;
        const reuse = await rawRefresh(s, clientId, first.refresh_token);
        assert.equal(reuse.status, 400, `${reuse.request} -> ${reuse.status} ${reuse.text}`);
        assert.equal(reuse.json?.error, 'invalid_grant', reuse.text);
        const next = await rawRefresh(s, clientId, rotated.refresh_token);
        assert.equal(next.status, 400, `${next.request} -> ${next.status} ${next.text}`);
        assert.equal(next.json?.error, 'invalid_grant', next.text);
        assert.match(s.output(), /refresh token reused; its family is revoked/);
    });
});

// ---------------------------------------------------------------------------------------
// 5. the v2 client, auto mode
// ---------------------------------------------------------------------------------------

describe('5. @modelcontextprotocol/client 2.x, auto mode (2026-07-28), DCR', { timeout: TEST_TIMEOUT }, () => {
    let provider;
    let s;

    before(mainServer);
    after(async () => {
        await s?.client?.close().catch(() => {});
    });

    it('connects after the full authorization flow, in the modern era', async () => {
        provider = new HeadlessOAuthProviderV2(main.s.accounts.alice, { clientName: 'tn-builtin-test v2 (alice)' });
        s = await connectV2(main.s.url, provider);
        assert.equal(s.client.getProtocolEra(), 'modern');
        assert.equal(s.client.getNegotiatedProtocolVersion(), MODERN_VERSION);
        assert.equal(provider.authorizationUrls.length, 1, 'one authorization');
    });

    it('discovery, DCR (201), S256 + resource + scope, sign-in, consent, token', () => {
        assert.ok(s, 'connected');
        const log = s.log;
        assert.equal(log[0].status, 401, describeLog(log));
        assert.equal(log[0].url, main.s.url.href);
        assert.ok(log[0].wwwAuthenticate.includes(`resource_metadata="${main.s.prm}"`), log[0].wwwAuthenticate);
        assert.ok(log.some(r => r.url === main.s.prm && r.status === 200), `PRM:\n${describeLog(log)}`);
        assert.ok(
            log.some(r => r.url === `${main.s.issuer}/.well-known/oauth-authorization-server` && r.status === 200),
            `AS metadata:\n${describeLog(log)}`
        );
        const reg = log.filter(r => r.method === 'POST' && r.url === `${main.s.issuer}/register`);
        assert.equal(reg.length, 1, describeLog(log));
        assert.equal(reg[0].status, 201);
        const clientId = reg[0].responseJson.client_id;
        assert.match(clientId, /^[A-Za-z0-9_-]{16,}$/);
        assert.equal(provider.clientInformation().client_id, clientId);
        assert.notEqual(clientId, main.sessions.alice?.provider?.savedClients[0]?.client_id, 'its own registration');
        const q = provider.authorizationUrls[0].searchParams;
        assert.equal(q.get('client_id'), clientId);
        assert.equal(q.get('code_challenge_method'), 'S256');
        assert.equal(q.get('resource'), main.s.url.href);
        assert.equal(q.get('scope'), 'notes:read notes:write');
        assert.deepEqual(provider.browses[0].trace, ['GET /authorize -> 200', 'POST /authorize/login -> 200', 'POST /authorize/consent -> 303']);
        assert.equal(provider.browses[0].callback.get('iss'), main.s.issuer);
        const ex = log.filter(r => r.method === 'POST' && r.url === `${main.s.issuer}/token`);
        assert.equal(ex.length, 1, describeLog(log));
        assert.equal(ex[0].status, 200);
        assert.equal(formOf(ex[0]).grant_type, 'authorization_code');
    });

    it('whoami: alice, through the v2 client', async () => {
        assert.ok(s, 'connected');
        const who = await whoami(s.client);
        assertWhoami(who, main.s, main.s.accounts.alice, provider.clientInformation().client_id, provider.tokens().access_token);
    });
});

// ---------------------------------------------------------------------------------------
// 6. disabling an account
// ---------------------------------------------------------------------------------------

describe('6. `teamnotes user disable` while the server runs', { timeout: TEST_TIMEOUT }, () => {
    before(mainServer);

    it("bob's next call fails with 401 within 6 s; alice is unaffected", async () => {
        // bob's session of test 2, or a new one when test 2 did not run
        if (!main.sessions.bob) {
            const provider = new HeadlessOAuthProvider(main.s.accounts.bob);
            main.sessions.bob = { ...(await connectV1(main.s.url, provider)), provider };
        }
        const bob = main.sessions.bob;
        const token = bob.provider.tokens().access_token;
        const before = await rawWhoami(main.s, token);
        assert.equal(before.status, 200, `bob's token works before: ${before.body}`);
        await whoami(bob.client);

        await cli(['user', 'disable', USERS.bob.email, '--data-dir', main.s.dataDir]);
        const t0 = Date.now();
        let res;
        do {
            res = await rawWhoami(main.s, token);
            if (res.status === 401) break;
            assert.equal(res.status, 200, `HTTP ${res.status} ${res.body}`);
            await sleep(200);
        } while (Date.now() - t0 < 10_000);
        const elapsed = Date.now() - t0;
        console.log(`# bob's access token refused ${elapsed} ms after \`user disable\``);
        assert.equal(res.status, 401, `bob's token still accepted ${elapsed} ms after user disable: ${res.body}`);
        assert.ok(elapsed <= 6000, `refused only after ${elapsed} ms`);
        assert.match(res.wwwAuthenticate || '', /^Bearer /);
        assert.match(res.wwwAuthenticate, /error="invalid_token"/);
        assert.ok(res.wwwAuthenticate.includes(`resource_metadata="${main.s.prm}"`), res.wwwAuthenticate);

        // Bob's SDK client: the call meets 401, the refresh is refused, and a new sign-in
        // says the account is disabled.
        const logFrom = bob.log.length;
        await assert.rejects(bob.client.callTool({ name: 'whoami', arguments: {} }), err => {
            assert.match(String(err?.message), /disabled/i, `${err?.constructor?.name}: ${err?.message}`);
            return true;
        });
        const wire = bob.log.slice(logFrom);
        const first = wire[0];
        assert.equal(first?.url, main.s.url.href, describeLog(wire));
        assert.equal(first.status, 401, describeLog(wire));
        const refresh = wire.find(r => r.url === `${main.s.issuer}/token` && formOf(r).grant_type === 'refresh_token');
        assert.ok(refresh, `the SDK tried its refresh token:\n${describeLog(wire)}`);
        assert.equal(refresh.status, 400);
        assert.equal(refresh.responseJson?.error, 'invalid_grant');
        const stopped = bob.provider.lastBrowse.stopped;
        assert.ok(stopped, 'the new authorization did not complete');
        assert.equal(stopped.status, 401);
        assert.match(stopped.text, /This account is disabled/);

        const alice = main.sessions.alice;
        if (alice?.client) {
            const who = await whoami(alice.client);
            assert.equal(who.userId, main.s.accounts.alice.id, 'alice still works');
        }
    });
});
