// The official MCP clients through a TLS-terminating reverse proxy in front of two
// teamnotes instances (run by tests/deploy/proxy.sh, which starts everything and passes):
//   TN_PUBLIC   the proxy's public origin (both instances' BASE_URL), load-balanced
//   TN_VIA_A    the same proxy configuration, passing to instance A only
//   TN_VIA_B    ... to instance B only
//   TN_LOG_A, TN_LOG_B   the instances' JSON logs (LOG_LEVEL=debug: one line a request)
//   TN_EMAIL, TN_PASSWORD
//   NODE_EXTRA_CA_CERTS  the proxy's certificate or CA; TN_ROOT the source tree
// Prints "ok - ..." / "not ok - ..." lines; proxy.sh counts them.
//
//   1. SDK 1.x signs in through the proxy over https (401, PRM, AS metadata, DCR, the
//      sign-in and consent forms, token), every URL on the proxy's origin;
//   2. a note saved through A (A's log grows by one /mcp request, B's not) is found through
//      B (the other way round);
//   3. a subscriptions/listen stream (client 2.x, 2026-07-28) opened through the proxy to B
//      receives notifications/resources/list_changed for a save made through A.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2HttpTransport } from '@modelcontextprotocol/client';

// proxy.sh runs a copy of this file from its work directory, next to a node_modules link
// to tests/interop/node_modules; the harness comes from the source tree (TN_ROOT).
const { BuiltinOAuthProvider, connectV1, jwtPayload, recordingFetch } = await import(
    pathToFileURL(join(process.env.TN_ROOT || '.', 'tests/interop/lib/harness.mjs')).href
);

const env = name => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
};
const PUBLIC = env('TN_PUBLIC');
const VIA_A = env('TN_VIA_A');
const VIA_B = env('TN_VIA_B');
const LOG_A = env('TN_LOG_A');
const LOG_B = env('TN_LOG_B');
const user = { email: env('TN_EMAIL'), password: env('TN_PASSWORD') };

let failed = 0;
function check(name, expected, actual) {
    const e = JSON.stringify(expected);
    const a = JSON.stringify(actual);
    if (e === a) console.log(`ok - ${name}`);
    else {
        failed++;
        console.log(`not ok - ${name}: expected ${e}, got ${a}`);
    }
}

/** POST /mcp requests an instance has logged so far. */
function mcpPosts(log) {
    return readFileSync(log, 'utf8')
        .split('\n')
        .filter(l => l.includes('"msg":"request"') && l.includes('"method":"POST"') && l.includes('"path":"/mcp"')).length;
}
/** Waits until the counts of both logs stop changing (a request is logged as it ends). */
async function settledCounts() {
    let last = '';
    for (let i = 0; i < 40; i++) {
        const now = `${mcpPosts(LOG_A)}/${mcpPosts(LOG_B)}`;
        if (now === last) return now.split('/').map(Number);
        last = now;
        await sleep(100);
    }
    return last.split('/').map(Number);
}

class Provider extends BuiltinOAuthProvider {
    static clientPrefix = 'tn-deploy-test';
    saveDiscoveryState(state) {
        this._discovery = state;
    }
    discoveryState() {
        return this._discovery;
    }
}

function within(ms, promise, what) {
    let timer;
    return Promise.race([
        promise.finally(() => clearTimeout(timer)),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)))
    ]);
}

const closers = [];
try {
    // ---- 1. sign-in through the proxy ----
    const provider = new Provider(user);
    const log = [];
    const { client } = await connectV1(new URL(`${PUBLIC}/mcp`), provider, log);
    closers.push(() => client.close());
    check('sign-in: the first answer is 401 at the public URL', [401, `${PUBLIC}/mcp`], [log[0].status, log[0].url]);
    check(
        'sign-in: the challenge names the PRM at the public https URL',
        `Bearer resource_metadata="${PUBLIC}/.well-known/oauth-protected-resource/mcp", scope="notes:read notes:write"`,
        log[0].wwwAuthenticate
    );
    const foreign = log.filter(r => new URL(r.url).origin !== PUBLIC).map(r => r.url);
    check('sign-in: every request of the flow went to the proxy origin', [], foreign);
    check(
        'sign-in: PRM, AS metadata, register, token answered through the proxy',
        [200, 200, 201, 200],
        [
            log.find(r => r.path === '/.well-known/oauth-protected-resource/mcp')?.status,
            log.find(r => r.path === '/.well-known/oauth-authorization-server')?.status,
            log.find(r => r.path === '/register')?.status,
            log.find(r => r.path === '/token')?.status
        ]
    );
    const authz = provider.authorizationUrls[0];
    check('sign-in: the authorization request asks for the public resource', [PUBLIC, `${PUBLIC}/mcp`], [authz.origin, authz.searchParams.get('resource')]);
    check('sign-in: the browser saw sign-in, consent, redirect', ['GET /authorize -> 200', 'POST /authorize/login -> 200', 'POST /authorize/consent -> 303'], provider.lastBrowse.trace);
    const claims = jwtPayload(provider.tokens().access_token);
    check('sign-in: the token names the public issuer and audience', [PUBLIC, `${PUBLIC}/mcp`], [claims.iss, claims.aud]);
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    check('whoami through the proxy: the public issuer, write permission', [PUBLIC, true], [
        who.structuredContent?.issuer,
        (who.structuredContent?.permissions || []).includes('notes:write')
    ]);

    // ---- 2. save through A, find through B ----
    const viaA = new Client({ name: 'tn-deploy-a', version: '1.0.0' }, { capabilities: {} });
    await viaA.connect(new StreamableHTTPClientTransport(new URL(`${VIA_A}/mcp`), { authProvider: provider }));
    closers.push(() => viaA.close());
    const viaB = new Client({ name: 'tn-deploy-b', version: '1.0.0' }, { capabilities: {} });
    await viaB.connect(new StreamableHTTPClientTransport(new URL(`${VIA_B}/mcp`), { authProvider: provider }));
    closers.push(() => viaB.close());
    const marker = `deploy-${process.pid}-${Date.now()}`;
    let [a0, b0] = await settledCounts();
    const saved = await viaA.callTool({ name: 'save_note', arguments: { content: `saved through A ${marker}`, tags: ['deploy'] } });
    const id = saved.structuredContent?.id;
    check('save_note through the proxy to A', true, typeof id === 'string' && id.startsWith('n_'));
    let [a1, b1] = await settledCounts();
    check('the save was answered by A (A +1 POST /mcp, B +0)', [1, 0], [a1 - a0, b1 - b0]);
    const found = await viaB.callTool({ name: 'search_notes', arguments: { query: marker } });
    check('search_notes through the proxy to B finds it', [id], (found.structuredContent?.results || []).map(r => r.id));
    const got = await viaB.callTool({ name: 'get_note', arguments: { id } });
    check('get_note through B', `saved through A ${marker}`, got.structuredContent?.content);
    const [a2, b2] = await settledCounts();
    check('the search and get were answered by B (A +0, B +2)', [0, 2], [a2 - a1, b2 - b1]);

    // ---- 3. a listen stream through the proxy to B sees a save through A ----
    const v2 = new V2Client({ name: 'tn-deploy-listen', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await v2.connect(new V2HttpTransport(new URL(`${VIA_B}/mcp`), { authProvider: provider, fetch: recordingFetch([]) }));
    closers.push(() => v2.close());
    check('client 2.x through the proxy speaks 2026-07-28', 'modern', v2.getProtocolEra());
    let notify;
    const arrived = new Promise(r => (notify = r));
    const notes = [];
    v2.setNotificationHandler('notifications/resources/list_changed', n => {
        notes.push(n);
        notify(n);
    });
    const sub = await v2.listen({ resourcesListChanged: true });
    closers.push(() => sub.close());
    check('listen through the proxy is acknowledged', { resourcesListChanged: true }, sub.honoredFilter);
    await sleep(300); // the stream is open on B; nothing arrives for nothing
    check('no notification before the save', 0, notes.length);
    const t0 = Date.now();
    await viaA.callTool({ name: 'save_note', arguments: { content: `seen across instances ${marker}` } });
    const n = await within(5000, arrived, 'notifications/resources/list_changed').catch(e => e);
    const ms = Date.now() - t0;
    check('the listen stream on B receives the save made through A', 'notifications/resources/list_changed', n?.method ?? String(n));
    check('it arrives within 5 s', true, ms < 5000);
    console.log(`# notification after ${ms} ms`);
    await sleep(300);
    check('exactly one notification for one save', 1, notes.length);
    await sub.close();
} catch (err) {
    failed++;
    console.log(`not ok - client run: ${err?.stack || err}`);
} finally {
    for (const c of closers.reverse()) await Promise.resolve().then(c).catch(() => {});
}
process.exitCode = failed ? 1 : 0;
