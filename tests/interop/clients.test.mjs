// End-to-end interop tests: the official MCP TypeScript clients against tn-testserver.
//
//   * @modelcontextprotocol/sdk 1.x    (2025-era client: initialize handshake)
//   * @modelcontextprotocol/client 2.x (dual-era client: server/discover probe, 2026-07-28
//                                       stateless wire, subscriptions/listen)
//
// Each run spawns its own tn-testserver on a free port with a throw-away data dir and
// stops it with SIGTERM at the end, asserting a clean exit (code 0).
//
// Run: tests/interop/run-clients.sh   (env TN_BUILD = meson build dir, default /work/main/build)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnReady } from './lib/harness.mjs';

import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as SdkHttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode as SdkErrorCodes, McpError } from '@modelcontextprotocol/sdk/types.js';
import {
    Client as V2Client,
    ProtocolError,
    SdkError,
    SdkErrorCode,
    StreamableHTTPClientTransport as V2HttpTransport
} from '@modelcontextprotocol/client';

const TN_BUILD = process.env.TN_BUILD || '/work/main/build';
const SERVER_BIN = join(TN_BUILD, 'tests', 'tn-testserver');

const SERVER_NAME = 'tn-testserver';
const LEGACY_VERSION = '2025-11-25';
const MODERN_VERSION = '2026-07-28';
const SIMPLE_TEXT = 'This is a simple text response for testing.';
const UNKNOWN_TOOL = 'no_such_tool_xyz';
const TRIGGER_TOOL = 'test_trigger_tool_change';
const INVALID_PARAMS = -32602;
const UNSUPPORTED_PROTOCOL_VERSION = -32022;
const TEST_TIMEOUT = 30_000;

// ---------------------------------------------------------------------------------------
// Server lifecycle
// ---------------------------------------------------------------------------------------

/** A TCP port that was free a moment ago (bound to 127.0.0.1:0, then released). */
function freePort() {
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

/** Spawns tn-testserver; resolves once it logs its "ready" line (see harness spawnReady). */
function spawnServer(port, dataDir, readyTimeoutMs = 10_000) {
    return spawnReady('tn-testserver', SERVER_BIN, ['--port', String(port), '--data-dir', dataDir], {}, /\bready\b/, readyTimeoutMs);
}

/** Starts a server on a free port, retrying if a port race makes it exit before ready. */
async function startServer() {
    assert.ok(
        existsSync(SERVER_BIN),
        `${SERVER_BIN} not found: build it with \`cd /work/main && (meson setup build || true) && ninja -C build\` ` +
            `or point TN_BUILD at the meson build directory`
    );
    const dataDir = mkdtempSync(join(tmpdir(), 'tn-interop-'));
    let lastErr;
    for (let attempt = 0; attempt < 3; attempt++) {
        const port = await freePort();
        try {
            const s = await spawnServer(port, dataDir);
            const m = /\bport=(\d+)/.exec(s.readyLine);
            assert.ok(m, `ready line has no port=: ${s.readyLine}`);
            assert.equal(Number(m[1]), port, 'server reports the port it was given');
            return { ...s, port, dataDir, url: new URL(`http://127.0.0.1:${port}/mcp`) };
        } catch (err) {
            lastErr = err;
        }
    }
    rmSync(dataDir, { recursive: true, force: true });
    throw lastErr;
}

/** SIGTERM, then wait for the exit (SIGKILL after `graceMs`). Returns {code, signal}. */
async function stopServer(server, graceMs = 10_000) {
    if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGTERM');
    let timer;
    const res = await Promise.race([
        server.exited,
        new Promise(r => {
            timer = setTimeout(() => r(null), graceMs);
        })
    ]);
    clearTimeout(timer);
    if (res === null) {
        server.proc.kill('SIGKILL');
        await server.exited;
        rmSync(server.dataDir, { recursive: true, force: true });
        assert.fail(`tn-testserver did not exit within ${graceMs} ms of SIGTERM:\n${server.output()}`);
    }
    rmSync(server.dataDir, { recursive: true, force: true });
    return res;
}

/** Resolves with `promise`'s value, or rejects after `ms` with `what` in the message. */
function within(ms, promise, what) {
    let timer;
    return Promise.race([
        promise,
        new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
        })
    ]).finally(() => clearTimeout(timer));
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

let server;

before(async () => {
    server = await startServer();
});

after(async () => {
    if (!server) return;
    const { code, signal } = await stopServer(server);
    assert.equal(signal, null, `tn-testserver was killed by ${signal}:\n${server.output()}`);
    assert.equal(code, 0, `tn-testserver exit code after SIGTERM:\n${server.output()}`);
});

// ---------------------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------------------

function textOf(result) {
    assert.ok(Array.isArray(result.content), 'result.content is an array');
    assert.equal(result.content.length, 1, 'exactly one content block');
    assert.equal(result.content[0].type, 'text');
    return result.content[0].text;
}

function assertSimpleTextListed(tools) {
    const names = tools.map(t => t.name);
    const tool = tools.find(t => t.name === 'test_simple_text');
    assert.ok(tool, `test_simple_text in tools/list (got ${JSON.stringify(names)})`);
    assert.equal(typeof tool.description, 'string');
    assert.ok(tool.description.length > 0, 'test_simple_text has a non-empty description');
    assert.equal(tool.inputSchema?.type, 'object');
    assert.ok(names.includes('test_tool_with_progress'), 'test_tool_with_progress in tools/list');
    assert.equal(names[0], 'test_simple_text', 'test_simple_text is listed first');
    assert.equal(new Set(names).size, names.length, 'tool names are unique');
}

function assertProgress(updates) {
    assert.deepEqual(
        updates.map(p => p.progress),
        [0, 50, 100],
        `progress values (got ${JSON.stringify(updates)})`
    );
    for (const p of updates) assert.equal(p.total, 100, 'progress total');
}

async function connectV2(mode, name = 'tn-interop-v2') {
    const client = new V2Client({ name, version: '1.0.0' }, { versionNegotiation: { mode } });
    const transport = new V2HttpTransport(server.url);
    await client.connect(transport);
    return { client, transport };
}

function assertProtocolError(code) {
    return err => {
        assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.code, code);
        return true;
    };
}

// ---------------------------------------------------------------------------------------
// 1. SDK 1.x (2025-era initialize handshake)
// ---------------------------------------------------------------------------------------

describe('1. @modelcontextprotocol/sdk 1.x (2025-11-25, initialize)', { timeout: TEST_TIMEOUT }, () => {
    let client;
    let transport;

    before(async () => {
        client = new SdkClient({ name: 'tn-interop-sdk1', version: '1.0.0' }, { capabilities: {} });
        transport = new SdkHttpTransport(server.url);
        await client.connect(transport);
    });

    after(async () => {
        await client?.close();
    });

    it('negotiates protocol version 2025-11-25', () => {
        assert.equal(transport.protocolVersion, LEGACY_VERSION);
    });

    it('reports server info name tn-testserver', () => {
        const info = client.getServerVersion();
        assert.equal(info?.name, SERVER_NAME);
        assert.equal(typeof info?.version, 'string');
        assert.ok(client.getServerCapabilities()?.tools, 'server advertises the tools capability');
    });

    it('is stateless: no session id', () => {
        assert.equal(transport.sessionId, undefined);
    });

    it('tools/list contains test_simple_text with description and object inputSchema', async () => {
        const { tools, nextCursor } = await client.listTools();
        assertSimpleTextListed(tools);
        assert.equal(nextCursor, undefined, 'single page');
    });

    it('tools/call test_simple_text returns the exact text', async () => {
        const result = await client.callTool({ name: 'test_simple_text', arguments: {} });
        assert.equal(textOf(result), SIMPLE_TEXT);
        assert.notEqual(result.isError, true);
    });

    it('tools/call test_tool_with_progress delivers progress 0/50/100 of 100', async () => {
        const updates = [];
        const result = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
            onprogress: p => updates.push(p)
        });
        assertProgress(updates);
        assert.notEqual(result.isError, true);
        assert.ok(textOf(result).length > 0);
    });

    it('negative: tools/call of an unknown tool rejects with McpError -32602', async () => {
        await assert.rejects(client.callTool({ name: UNKNOWN_TOOL, arguments: {} }), err => {
            assert.ok(err instanceof McpError, `expected McpError, got ${err?.constructor?.name}: ${err?.message}`);
            assert.equal(err.code, SdkErrorCodes.InvalidParams);
            assert.equal(err.code, INVALID_PARAMS);
            return true;
        });
    });
});

// ---------------------------------------------------------------------------------------
// 2. v2 client, versionNegotiation 'auto' (server/discover probe -> 2026-07-28)
// ---------------------------------------------------------------------------------------

describe("2. @modelcontextprotocol/client 2.x, mode 'auto'", { timeout: TEST_TIMEOUT }, () => {
    let client;
    let transport;

    before(async () => {
        ({ client, transport } = await connectV2('auto', 'tn-interop-v2-auto'));
    });

    after(async () => {
        await client?.close();
    });

    it('ends in the modern era at 2026-07-28', () => {
        assert.equal(client.getProtocolEra(), 'modern');
        assert.equal(client.getNegotiatedProtocolVersion(), MODERN_VERSION);
        const discover = client.getDiscoverResult();
        assert.ok(discover, 'a DiscoverResult was recorded');
        assert.ok(
            discover.supportedVersions.includes(MODERN_VERSION),
            `discover.supportedVersions includes ${MODERN_VERSION} (got ${JSON.stringify(discover.supportedVersions)})`
        );
        assert.equal(client.getServerVersion()?.name, SERVER_NAME);
        assert.equal(transport.sessionId, undefined, 'stateless: no session id');
    });

    it('tools/list contains test_simple_text with description and object inputSchema', async () => {
        const { tools } = await client.listTools(undefined, { cacheMode: 'bypass' });
        assertSimpleTextListed(tools);
    });

    it('tools/call test_simple_text returns the exact text', async () => {
        const result = await client.callTool({ name: 'test_simple_text', arguments: {} });
        assert.equal(textOf(result), SIMPLE_TEXT);
        assert.notEqual(result.isError, true);
    });

    it('tools/call test_tool_with_progress delivers progress 0/50/100 of 100', async () => {
        const updates = [];
        const result = await client.callTool(
            { name: 'test_tool_with_progress', arguments: {} },
            { onprogress: p => updates.push(p) }
        );
        assertProgress(updates);
        assert.notEqual(result.isError, true);
        assert.ok(textOf(result).length > 0);
    });

    it('negative: tools/call of an unknown tool rejects with ProtocolError -32602', async () => {
        await assert.rejects(client.callTool({ name: UNKNOWN_TOOL, arguments: {} }), assertProtocolError(INVALID_PARAMS));
    });
});

// ---------------------------------------------------------------------------------------
// 3. v2 client, versionNegotiation 'legacy' (plain initialize)
// ---------------------------------------------------------------------------------------

describe("3. @modelcontextprotocol/client 2.x, mode 'legacy'", { timeout: TEST_TIMEOUT }, () => {
    let client;
    let transport;

    before(async () => {
        ({ client, transport } = await connectV2('legacy', 'tn-interop-v2-legacy'));
    });

    after(async () => {
        await client?.close();
    });

    it('negotiates 2025-11-25 in the legacy era', () => {
        assert.equal(client.getProtocolEra(), 'legacy');
        assert.equal(client.getNegotiatedProtocolVersion(), LEGACY_VERSION);
        assert.equal(client.getDiscoverResult(), undefined, 'no server/discover on the legacy path');
        assert.equal(client.getServerVersion()?.name, SERVER_NAME);
        assert.equal(transport.sessionId, undefined, 'stateless: no session id');
    });

    it('tools/call test_simple_text returns the exact text', async () => {
        const result = await client.callTool({ name: 'test_simple_text', arguments: {} });
        assert.equal(textOf(result), SIMPLE_TEXT);
        assert.notEqual(result.isError, true);
    });

    it('negative: tools/call of an unknown tool rejects with ProtocolError -32602', async () => {
        await assert.rejects(client.callTool({ name: UNKNOWN_TOOL, arguments: {} }), assertProtocolError(INVALID_PARAMS));
    });

    it('negative: subscriptions/listen is refused on a 2025-era connection', async () => {
        await assert.rejects(client.listen({ toolsListChanged: true }), err => {
            assert.ok(err instanceof SdkError, `expected SdkError, got ${err?.constructor?.name}: ${err?.message}`);
            assert.equal(err.code, SdkErrorCode.MethodNotSupportedByProtocolVersion);
            return true;
        });
    });
});

// ---------------------------------------------------------------------------------------
// 4. v2 client pinned to 2026-07-28: subscriptions/listen and tools/list_changed
// ---------------------------------------------------------------------------------------

describe('4. @modelcontextprotocol/client 2.x, pinned 2026-07-28 (subscriptions/listen)', { timeout: TEST_TIMEOUT }, () => {
    let client;
    const cleanups = [];

    before(async () => {
        ({ client } = await connectV2({ pin: MODERN_VERSION }, 'tn-interop-v2-modern'));
    });

    after(async () => {
        for (const fn of cleanups.reverse()) await fn().catch(() => {});
        await client?.close();
    });

    it('connects in the modern era and the server advertises tools.listChanged', () => {
        assert.equal(client.getProtocolEra(), 'modern');
        assert.equal(client.getNegotiatedProtocolVersion(), MODERN_VERSION);
        assert.equal(client.getServerCapabilities()?.tools?.listChanged, true);
    });

    it('negative: pinning an unsupported version fails with -32022 naming the supported versions', async () => {
        const other = new V2Client(
            { name: 'tn-interop-v2-badpin', version: '1.0.0' },
            { versionNegotiation: { mode: { pin: '2099-01-01' } } }
        );
        try {
            await assert.rejects(other.connect(new V2HttpTransport(server.url)), err => {
                assert.equal(err.code, UNSUPPORTED_PROTOCOL_VERSION, `${err?.constructor?.name}: ${err?.message}`);
                assert.equal(err.data?.requested, '2099-01-01');
                assert.ok(Array.isArray(err.data?.supported), 'data.supported is an array');
                assert.ok(err.data.supported.includes(MODERN_VERSION), `data.supported: ${JSON.stringify(err.data.supported)}`);
                return true;
            });
        } finally {
            await other.close().catch(() => {});
        }
    });

    it('negative: tools/call of an unknown tool rejects with ProtocolError -32602', async () => {
        await assert.rejects(client.callTool({ name: UNKNOWN_TOOL, arguments: {} }), assertProtocolError(INVALID_PARAMS));
    });

    it('subscriptions/listen is acknowledged with the requested filter and closes locally', async () => {
        const sub = await client.listen({ toolsListChanged: true });
        assert.deepEqual(sub.honoredFilter, { toolsListChanged: true });
        // The stream stays open while other requests are served on the same server.
        const result = await client.callTool({ name: 'test_simple_text', arguments: {} });
        assert.equal(textOf(result), SIMPLE_TEXT);
        await sub.close();
        assert.equal(await within(5_000, sub.closed, 'subscription close'), 'local');
    });

    it('tools/list_changed arrives on the listen stream after test_trigger_tool_change', async t => {
        const { tools: before } = await client.listTools(undefined, { cacheMode: 'bypass' });
        if (!before.some(tool => tool.name === TRIGGER_TOOL)) {
            t.skip(`${TRIGGER_TOOL} is not in tools/list of this tn-testserver build yet (fixture not implemented)`);
            return;
        }

        // Stream A (this client) opts in to tools list changes.
        const received = [];
        let notify;
        const arrived = new Promise(r => {
            notify = r;
        });
        client.setNotificationHandler('notifications/tools/list_changed', n => {
            received.push(n);
            notify(n);
        });
        const sub = await client.listen({ toolsListChanged: true });
        cleanups.push(() => sub.close());
        assert.deepEqual(sub.honoredFilter, { toolsListChanged: true });

        // Stream B (a second client) opts in to prompt list changes only: it must not get it.
        const { client: other } = await connectV2({ pin: MODERN_VERSION }, 'tn-interop-v2-prompts-only');
        cleanups.push(() => other.close());
        const wrongStream = [];
        other.setNotificationHandler('notifications/tools/list_changed', n => wrongStream.push(n));
        const promptsSub = await other.listen({ promptsListChanged: true });
        cleanups.push(() => promptsSub.close());
        assert.notEqual(promptsSub.honoredFilter.toolsListChanged, true, 'prompts-only stream was not widened');

        // The trigger goes through another request (a third, independent connection).
        const { client: trigger } = await connectV2({ pin: MODERN_VERSION }, 'tn-interop-v2-trigger');
        cleanups.push(() => trigger.close());
        const t0 = Date.now();
        const result = await trigger.callTool({ name: TRIGGER_TOOL, arguments: {} });
        assert.notEqual(result.isError, true, `trigger result: ${JSON.stringify(result)}`);

        const n = await within(5_000, arrived, 'notifications/tools/list_changed on the listen stream');
        assert.equal(n.method, 'notifications/tools/list_changed');
        assert.ok(Date.now() - t0 < 5_000);

        // Give a misrouted notification time to show up on the prompts-only stream.
        await sleep(500);
        assert.equal(wrongStream.length, 0, 'no tools/list_changed on a prompts-only stream');
        assert.equal(received.length, 1, 'exactly one tools/list_changed per trigger');

        // Both streams are still open (the broadcast did not end them).
        const still = await Promise.race([sub.closed, sleep(50).then(() => 'open')]);
        assert.equal(still, 'open');

        const { tools: afterTools } = await client.listTools(undefined, { cacheMode: 'refresh' });
        assert.equal(afterTools[0]?.name, 'test_simple_text', 'test_simple_text still listed first after the trigger');
    });
});

// ---------------------------------------------------------------------------------------
// 5. Shutdown with an open listen stream (own server instance)
// ---------------------------------------------------------------------------------------

describe('5. SIGTERM with an open subscriptions/listen stream', { timeout: TEST_TIMEOUT }, () => {
    it('ends the stream gracefully and exits with code 0', async () => {
        const own = await startServer();
        const client = new V2Client(
            { name: 'tn-interop-v2-shutdown', version: '1.0.0' },
            { versionNegotiation: { mode: { pin: MODERN_VERSION } } }
        );
        try {
            await client.connect(new V2HttpTransport(own.url));
            const sub = await client.listen({ toolsListChanged: true });
            const { code, signal } = await stopServer(own);
            assert.equal(signal, null);
            assert.equal(code, 0, `exit code after SIGTERM:\n${own.output()}`);
            assert.equal(await within(5_000, sub.closed, 'subscription end'), 'graceful');
        } finally {
            await client.close().catch(() => {});
            if (own.proc.exitCode === null && own.proc.signalCode === null) await stopServer(own).catch(() => {});
        }
    });
});
