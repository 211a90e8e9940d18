// Shared harness of the Node end-to-end tests (auth, builtin, notes .test.mjs): paths, server
// processes, the teamnotes CLI, a headless browser for the built-in sign-in and consent
// forms, OAuth client providers for SDK 1.x, a recording fetch and small decoders.
// Env: TN_BUILD = meson build dir (default ROOT/build); TN_SERVER_LOG=1 echoes server logs.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..', '..');
export const TN_BUILD = process.env.TN_BUILD || join(ROOT, 'build');
export const TEAMNOTES_BIN = join(TN_BUILD, 'teamnotes');
// Where the clients say they receive the code. Nothing listens there: the headless browser
// stops at the redirect and reads the parameters off the Location header.
export const REDIRECT_URI = 'http://127.0.0.1:9/oauth/callback';
export const LOG = !!process.env.TN_SERVER_LOG;

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/** A TCP port that was free a moment ago (bound to 127.0.0.1:0, then released). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/** Distinct free ports. */
export async function freePorts(n) {
    const ports = new Set();
    while (ports.size < n) ports.add(await freePort());
    return [...ports];
}

/**
 * Spawns `cmd args` and resolves once a line of its output matches `readyRe`; rejects (with
 * the output so far) if it exits first or is not ready in time.
 */
export function spawnReady(label, cmd, args, env, readyRe, readyTimeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
        const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        const exited = new Promise(res => proc.once('exit', (code, signal) => res({ code, signal })));
        let output = '';
        let settled = false;
        const finish = (err, value) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (err) reject(err);
            else resolve(value);
        };
        const onData = chunk => {
            output += chunk.toString('utf8');
            if (LOG) process.stderr.write(`[${label}] ${chunk}`);
            const line = output.split('\n').find(l => readyRe.test(l));
            if (line) finish(null, { label, proc, exited, readyLine: line, output: () => output });
        };
        proc.stdout.on('data', onData);
        proc.stderr.on('data', onData);
        proc.once('error', err => finish(err));
        exited.then(({ code, signal }) =>
            finish(new Error(`${label} exited before ready (code=${code}, signal=${signal}):\n${output}`))
        );
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            finish(new Error(`${label} not ready within ${readyTimeoutMs} ms:\n${output}`));
        }, readyTimeoutMs);
    });
}

/** SIGTERM, then wait for the exit (SIGKILL after `graceMs`). Returns {code, signal}. */
export async function stopProcess(p, graceMs = 10_000) {
    if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGTERM');
    let timer;
    const res = await Promise.race([p.exited, new Promise(r => (timer = setTimeout(() => r(null), graceMs)))]);
    clearTimeout(timer);
    if (res === null) {
        p.proc.kill('SIGKILL');
        await p.exited;
        assert.fail(`${p.label} did not exit within ${graceMs} ms of SIGTERM:\n${p.output()}`);
    }
    return res;
}

/** Stops a server and asserts the clean exit (code 0) that SIGTERM must give. */
export async function stopServer(s) {
    if (!s) return;
    const { code, signal } = await stopProcess(s);
    assert.equal(signal, null, `${s.label} was killed by ${signal}:\n${s.output()}`);
    assert.equal(code, 0, `${s.label} exit code after SIGTERM:\n${s.output()}`);
}

/** Runs `teamnotes ARGS` (the CLI), with `input` on stdin; resolves to its stdout. */
export function cli(args, input) {
    return new Promise((resolve, reject) => {
        const proc = spawn(TEAMNOTES_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        proc.stdout.on('data', c => (out += c));
        proc.stderr.on('data', c => (err += c));
        proc.once('error', reject);
        proc.once('exit', code =>
            code === 0 ? resolve(out) : reject(new Error(`teamnotes ${args.join(' ')} exited with ${code}:\n${out}${err}`))
        );
        proc.stdin.end(input ?? '');
    });
}

/** Creates the account with `teamnotes user add` and returns its id and organization id. */
export async function addUser(dataDir, u) {
    const out = await cli(
        ['user', 'add', u.email, '--name', u.name, '--role', u.role, '--org', u.org, '--password-stdin', '--data-dir', dataDir],
        `${u.password}\n`
    );
    assert.match(out, new RegExp(`created ${u.email} \\(${u.role}, organization ${u.org}\\)`));
    const show = await cli(['user', 'show', u.email, '--data-dir', dataDir]);
    const field = name => new RegExp(`^${name}\\s+(\\S+)`, 'm').exec(show)?.[1];
    const info = { ...u, id: field('id'), orgId: field('organization') };
    assert.match(info.id || '', /^usr_/, `user show: ${show}`);
    assert.match(info.orgId || '', /^org_/, `user show: ${show}`);
    return info;
}

/**
 * Starts `teamnotes serve` on a free port with a new data dir holding `users` (created before

/**
 * Starts `teamnotes serve` on a free port with a new data dir under `dir` holding `users`
 * (created before the start). `wrap(cmd, args)` may put the process in another command
 * (unshare). With `restartOf` (a stopped or killed server) it starts again on that server's
 * data dir and port instead, so that the issuer and the tokens' audience stay the same.
 */
export async function startTeamnotes(label, { dir, users = {}, env = {}, wrap, restartOf } = {}) {
    const dataDir = restartOf ? restartOf.dataDir : mkdtempSync(join(dir, `${label}-`));
    const accounts = restartOf ? restartOf.accounts : {};
    if (!restartOf) for (const [key, u] of Object.entries(users)) accounts[key] = await addUser(dataDir, u);
    let lastErr;
    for (let attempt = 0; attempt < (restartOf ? 10 : 3); attempt++) {
        const port = restartOf ? restartOf.port : await freePort();
        const args = ['serve', '--port', String(port), '--data-dir', dataDir];
        const [cmd, argv] = wrap ? wrap(TEAMNOTES_BIN, args) : [TEAMNOTES_BIN, args];
        try {
            const s = await spawnReady(label, cmd, argv, env, /\bready\b.*\bport=\d+/);
            assert.equal(Number(/\bport=(\d+)/.exec(s.readyLine)[1]), port, `${label} reports its port: ${s.readyLine}`);
            const issuer = `http://127.0.0.1:${port}`;
            return {
                ...s,
                port,
                dataDir,
                accounts,
                issuer,
                url: new URL(`${issuer}/mcp`),
                prm: `${issuer}/.well-known/oauth-protected-resource/mcp`
            };
        } catch (err) {
            lastErr = err; // most likely a port taken in between (or, on a restart, not yet free again)
            if (restartOf) await sleep(500);
        }
    }
    throw lastErr;
}

// ---------------------------------------------------------------------------------------
// The headless browser
// ---------------------------------------------------------------------------------------

/** A cookie jar for one origin: name + path -> value, with expiry. */
export class CookieJar {
    constructor() {
        this.cookies = new Map();
    }
    store(url, res) {
        for (const line of res.headers.getSetCookie()) {
            const [pair, ...attrs] = line.split(';').map(s => s.trim());
            const eq = pair.indexOf('=');
            const name = pair.slice(0, eq);
            const value = pair.slice(eq + 1);
            let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
            let expired = value === '';
            for (const a of attrs) {
                const [k, v = ''] = a.split('=');
                const key = k.toLowerCase();
                if (key === 'path' && v.startsWith('/')) path = v;
                else if (key === 'max-age' && Number(v) <= 0) expired = true;
                else if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
            }
            const id = `${name}\t${path}`;
            if (expired) this.cookies.delete(id);
            else this.cookies.set(id, { name, value, path });
        }
    }
    header(url) {
        const p = url.pathname;
        const match = [...this.cookies.values()].filter(
            c => p === c.path || p.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)
        );
        match.sort((a, b) => b.path.length - a.path.length); // RFC 6265 §5.4: longer paths first
        return match.map(c => `${c.name}=${c.value}`).join('; ');
    }
    names() {
        return [...this.cookies.values()].map(c => c.name).sort();
    }
}

function decodeHtml(s) {
    return s
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&#x27;/g, "'")
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
}

/** The page's text without markup (style and tags removed, whitespace collapsed). */
export function pageText(html) {
    return decodeHtml(
        html
            .replace(/<style[\s\S]*?<\/style>/g, ' ')
            .replace(/<[^>]+>/g, ' ')
            .replace(/\s+/g, ' ')
    ).trim();
}

/** The first POST form of a page: its action, hidden fields, other field names, buttons. */
export function parseForm(html) {
    const m = /<form\b[^>]*\bmethod="post"[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!m) return null;
    const hidden = {};
    const fields = [];
    for (const [tag] of m[2].matchAll(/<input\b[^>]*>/g)) {
        const name = /\bname="([^"]*)"/.exec(tag)?.[1];
        if (!name) continue;
        if (/\btype="hidden"/.test(tag)) hidden[decodeHtml(name)] = decodeHtml(/\bvalue="([^"]*)"/.exec(tag)?.[1] ?? '');
        else fields.push(decodeHtml(name));
    }
    const buttons = [...m[2].matchAll(/<button\b[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"/g)].map(b => ({
        name: decodeHtml(b[1]),
        value: decodeHtml(b[2])
    }));
    return { action: decodeHtml(m[1]), hidden, fields, buttons };
}

/** One request of the browser: cookies out and in, no redirect following. */
export async function browserFetch(url, init, jar, trace) {
    const headers = { ...(init.headers || {}) };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    jar.store(url, res);
    trace?.push(`${init.method || 'GET'} ${url.pathname} -> ${res.status}`);
    return res;
}

export function postForm(fields) {
    return {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString()
    };
}

/**
 * Plays the user agent for one authorization request at the issuer: follows its redirects,
 * signs in as `email` on the sign-in form, answers the consent form with `decision`, and
 * returns { callback: URLSearchParams } once redirected to `redirectUri`, or { stopped } at a
 * page it has no answer for (an error page). `trace` collects "METHOD path -> status",
 * `pages` every HTML page seen.
 */
export async function headlessAuthorize(authorizationUrl, { email, password, redirectUri, jar, trace, pages, decision = 'allow' }) {
    const origin = new URL(authorizationUrl).origin;
    let url = new URL(authorizationUrl);
    let init = { method: 'GET' };
    for (let step = 0; step < 10; step++) {
        assert.equal(url.origin, origin, `the browser stays at the issuer (now at ${url})`);
        const res = await browserFetch(url, init, jar, trace);
        if (res.status >= 300 && res.status < 400) {
            await res.body?.cancel();
            const location = new URL(res.headers.get('location'), url);
            if (`${location.origin}${location.pathname}` === redirectUri) {
                return { callback: location.searchParams, location: location.href };
            }
            url = location;
            init = { method: 'GET' };
            continue;
        }
        const html = await res.text();
        const page = { path: url.pathname, status: res.status, html, text: pageText(html), form: parseForm(html) };
        pages.push(page);
        const form = page.form;
        if (res.status === 200 && form?.action === '/authorize/login') {
            url = new URL(form.action, url);
            init = postForm({ ...form.hidden, email, password });
        } else if (res.status === 200 && form?.action === '/authorize/consent') {
            url = new URL(form.action, url);
            init = postForm({ ...form.hidden, decision });
        } else {
            return { stopped: page };
        }
    }
    assert.fail(`no redirect to ${redirectUri} after 10 requests: ${trace.join(', ')}`);
}

// ---------------------------------------------------------------------------------------
// OAuth client providers (the interface of SDK 1.x; the v2 client takes the same shape)
// ---------------------------------------------------------------------------------------

/**
 * The storage half of an OAuthClientProvider: keeps in memory what the SDK hands over (client
 * information, tokens, code verifier, state) and records every client and token saved.
 */
export class OAuthClientStore {
    constructor() {
        this.savedClients = [];
        this.savedTokens = [];
        this._state = undefined;
    }
    state() {
        this._state = randomBytes(16).toString('base64url');
        return this._state;
    }
    clientInformation() {
        return this._client;
    }
    saveClientInformation(info) {
        this._client = info;
        this.savedClients.push(info);
    }
    tokens() {
        return this._tokens;
    }
    saveTokens(tokens) {
        this._tokens = tokens;
        this.savedTokens.push(tokens);
    }
    saveCodeVerifier(v) {
        this._verifier = v;
    }
    codeVerifier() {
        assert.ok(this._verifier, 'a code verifier was saved before the code exchange');
        return this._verifier;
    }
    invalidateCredentials(scope) {
        if (scope === 'all' || scope === 'client') this._client = undefined;
        if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
        if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    }
}

/**
 * OAuthClientProvider for one user of teamnotes' built-in authorization server: the storage
 * above, a record of every authorization URL, and the headless browser in place of a real
 * one. After redirectToAuthorization the callback parameters wait in `pendingCallback` for
 * finishAuth. A subclass sets `clientPrefix`, the default client_name's "PREFIX (email)".
 */
export class BuiltinOAuthProvider extends OAuthClientStore {
    static clientPrefix = 'tn-test';
    constructor(user, { clientMetadataUrl, clientName } = {}) {
        super();
        this.user = user;
        this.clientName = clientName || `${new.target.clientPrefix} (${user.email})`;
        if (clientMetadataUrl) this.clientMetadataUrl = clientMetadataUrl;
        this.jar = new CookieJar(); // the issuer's session survives between authorizations
        this.authorizationUrls = [];
        this.browses = []; // { trace, pages, callback?, stopped? } per authorization
        this.pendingCallback = undefined;
    }
    get redirectUrl() {
        return REDIRECT_URI;
    }
    get clientMetadata() {
        return {
            client_name: this.clientName,
            redirect_uris: [REDIRECT_URI],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none'
        };
    }
    /** A new browser: no session cookie at the issuer any more. */
    newBrowser() {
        this.jar = new CookieJar();
    }
    get lastBrowse() {
        return this.browses[this.browses.length - 1];
    }
    async redirectToAuthorization(authorizationUrl) {
        const url = new URL(authorizationUrl);
        this.authorizationUrls.push(url);
        const browse = { trace: [], pages: [] };
        this.browses.push(browse);
        const result = await headlessAuthorize(url, {
            email: this.user.email,
            password: this.user.password,
            redirectUri: REDIRECT_URI,
            jar: this.jar,
            trace: browse.trace,
            pages: browse.pages
        });
        Object.assign(browse, result);
        if (result.stopped) {
            throw new Error(
                `the authorization stopped at ${result.stopped.path} (HTTP ${result.stopped.status}): ${result.stopped.text}`
            );
        }
        const cb = result.callback;
        assert.equal(
            cb.get('error'),
            null,
            `authorization error: ${cb.get('error')}: ${cb.get('error_description')} (${browse.trace.join(', ')}; Location: ${result.location})`
        );
        assert.equal(cb.get('state'), this._state, 'state comes back unchanged');
        assert.ok(cb.get('code'), 'the redirect carries a code');
        this.pendingCallback = cb;
    }
    takeCallback() {
        const cb = this.pendingCallback;
        assert.ok(cb, 'an authorization response is waiting (redirectToAuthorization ran)');
        this.pendingCallback = undefined;
        return cb;
    }
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

function bodyText(body) {
    if (typeof body === 'string') return body;
    if (body instanceof URLSearchParams) return body.toString();
    return undefined;
}

/**
 * A fetch for the SDKs that records method, URL, status and WWW-Authenticate of each call,
 * the body of form posts, and the JSON answers of /register and /token.
 */
export function recordingFetch(log) {
    return async (input, init = {}) => {
        const req = input instanceof Request ? input : undefined;
        const url = req ? req.url : String(input);
        const method = (init.method || req?.method || 'GET').toUpperCase();
        const requestBody = bodyText(init.body);
        const res = await fetch(input, init);
        const entry = {
            method,
            url,
            path: new URL(url).pathname,
            status: res.status,
            wwwAuthenticate: res.headers.get('www-authenticate')
        };
        if (requestBody !== undefined && !url.endsWith('/mcp')) entry.requestBody = requestBody;
        if (method === 'POST' && (entry.path === '/register' || entry.path === '/token')) {
            entry.responseJson = await res.clone().json().catch(() => undefined);
        }
        log.push(entry);
        return res;
    };
}

export function describeLog(log) {
    return log.map(r => `${r.method} ${r.url} -> ${r.status}${r.wwwAuthenticate ? ` [${r.wwwAuthenticate}]` : ''}`).join('\n');
}

/** The form fields of a recorded form post. */
export function formOf(entry) {
    return Object.fromEntries(new URLSearchParams(entry?.requestBody || ''));
}

export function jwtPayload(token) {
    const parts = token.split('.');
    assert.equal(parts.length, 3, 'the access token is a JWS');
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

export function textOf(result) {
    return (result.content || []).filter(c => c.type === 'text').map(c => c.text).join('\n');
}

/**
 * Connects an SDK 1.x client to `url` with `provider`: the first attempt meets 401 and runs
 * the whole authorization (ending in redirectToAuthorization, so connect rejects with
 * UnauthorizedError); finishAuth exchanges the code; a fresh transport then connects.
 */
export async function connectV1(url, provider, log = []) {
    const fetchFn = recordingFetch(log);
    const first = new Client({ name: 'tn-builtin-test', version: '1.0.0' }, { capabilities: {} });
    const firstTransport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: fetchFn });
    await assert.rejects(first.connect(firstTransport), err => {
        assert.ok(err instanceof UnauthorizedError, `expected UnauthorizedError, got ${err?.constructor?.name}: ${err?.message}`);
        return true;
    });
    await firstTransport.finishAuth(provider.takeCallback().get('code'));
    await first.close().catch(() => {});
    const client = new Client({ name: 'tn-builtin-test', version: '1.0.0' }, { capabilities: {} });
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: fetchFn });
    await client.connect(transport);
    return { client, transport, log };
}
