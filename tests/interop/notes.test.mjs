// End-to-end tests of teamnotes' notes tools (save_note, list_my_notes, get_note, update_note,
// delete_note, search_notes, list_team_notes) and note:// resources, driven by the official
// MCP TypeScript SDK 1.x client through the built-in authorization server (DCR, a headless
// sign-in and consent), as each user.
//
//   1. the reference system's four checks: alice and bob (editors, acme) on the same URL each
//      sign in, save and list, and see only their own notes; carol (viewer, acme) lists an
//      empty list, her save_note is refused (isError naming notes:write), nothing is stored,
//      and `teamnotes audit` has a `denied` save_note record for her
//   2. sharing: alice's org note is visible to bob (list_team_notes, get_note), not changeable
//      by him; dave (globex) sees nothing of acme's
//   3. concurrency: 40 parallel save_note by one client, all listed (paging) and intact; 10
//      parallel update_note of one version: one wins, nine get "Conflict:"
//   4. durability: a second server gets 30 concurrent save_note calls and is killed with
//      SIGKILL after about half were acknowledged; after a restart on the same data dir
//      (same port, so the same token) every acknowledged note is there with its content
//   5. hostile inputs: SQL metacharacters, FTS syntax, oversized content, too many tags, out
//      of range limits, a forged cursor, a lone-surrogate escape and invalid UTF-8 bytes
//   6. resources: resources/list holds note://<id> of the caller's notes only; reading
//      another user's note URI is an error
//   7. readable notes (erin): lists and searches carry the text, a note over 2,000
//      characters comes truncated and whole through get_note, titles derived from the
//      first line (a given title wins, update_note moves a derived one), resources named
//      by them, dates RFC 3339; the tools' descriptions and annotations
//   8. moving in from the reference template: a .data/notes.json written the way the
//      template writes it, imported twice with `teamnotes import --from-xmcp --map`, then
//      listed by its owners (frank, gina); a malformed file refused with line and reason
//
// Tests 1, 2, 3, 5, 6, 7 and 8 share one server; test 4 has its own.
//
// Run: tests/interop/run-notes.sh   (env TN_BUILD = meson build dir, default
//      /work/main/build; TN_SERVER_LOG=1 echoes the servers' logs to stderr)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
    BuiltinOAuthProvider,
    ROOT,
    TEAMNOTES_BIN,
    cli,
    connectV1,
    startTeamnotes,
    stopServer,
    textOf
} from './lib/harness.mjs';

const TEST_TIMEOUT = 120_000;

const USERS = {
    alice: { email: 'alice@acme.test', name: 'Alice', role: 'editor', org: 'acme', password: 'alice-password-1' },
    bob: { email: 'bob@acme.test', name: 'Bob', role: 'editor', org: 'acme', password: 'bob-password-12' },
    carol: { email: 'carol@acme.test', name: 'Carol', role: 'viewer', org: 'acme', password: 'carol-password-1' },
    dave: { email: 'dave@globex.test', name: 'Dave', role: 'editor', org: 'globex', password: 'dave-password-12' },
    erin: { email: 'erin@acme.test', name: 'Erin', role: 'editor', org: 'acme', password: 'erin-password-12' },
    frank: { email: 'frank@acme.test', name: 'Frank', role: 'editor', org: 'acme', password: 'frank-password-1' },
    gina: { email: 'gina@globex.test', name: 'Gina', role: 'editor', org: 'globex', password: 'gina-password-12' }
};

let TMP; // one throw-away directory for every data dir of this run

// The shared server of tests 1, 2, 3, 5, 6: main.s the server, main.sessions SDK sessions.
const main = { sessions: {} };
let mainStarting;

function mainServer() {
    mainStarting ??= startTeamnotes('tn-notes', { dir: TMP, users: USERS }).then(s => (main.s = s));
    return mainStarting;
}

/** The SDK 1.x session of `key` on the shared server (signs in on first use). */
async function session(key) {
    await mainServer();
    if (!main.sessions[key]) {
        const provider = new HeadlessOAuthProvider(main.s.accounts[key]);
        main.sessions[key] = connectV1(main.s.url, provider).then(s => ({ ...s, provider }));
    }
    return main.sessions[key];
}

before(() => {
    assert.ok(existsSync(TEAMNOTES_BIN), `${TEAMNOTES_BIN} not found: build with \`cd ${ROOT} && ninja -C build\`, or set TN_BUILD`);
    TMP = mkdtempSync(join(tmpdir(), 'tn-notes-'));
});

after(async () => {
    for (const p of Object.values(main.sessions)) {
        const s = await p.catch(() => undefined);
        await s?.client?.close().catch(() => {});
    }
    if (mainStarting) await mainStarting.catch(() => {});
    try {
        if (main.s) await stopServer(main.s);
    } finally {
        if (TMP) rmSync(TMP, { recursive: true, force: true });
    }
});

// ---------------------------------------------------------------------------------------
// The OAuth client provider
// ---------------------------------------------------------------------------------------

/** The harness's provider, named `tn-notes-test (email)` by default. */
class HeadlessOAuthProvider extends BuiltinOAuthProvider {
    static clientPrefix = 'tn-notes-test';
}

// ---------------------------------------------------------------------------------------
// Tool calls
// ---------------------------------------------------------------------------------------

/** tools/call through the SDK; returns the whole result (isError or not). */
function call(sess, name, args = {}) {
    return sess.client.callTool({ name, arguments: args });
}

/** tools/call that must succeed; returns structuredContent. */
async function ok(sess, name, args = {}) {
    const r = await call(sess, name, args);
    assert.notEqual(r.isError, true, `${name} ${JSON.stringify(args).slice(0, 200)} failed: ${textOf(r)}`);
    assert.ok(r.structuredContent, `${name}: structuredContent in ${JSON.stringify(r).slice(0, 500)}`);
    // the spec's rule for structured results: a text block carries the same JSON
    assert.equal(r.content.length, 1);
    assert.equal(r.content[0].type, 'text');
    assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent, `${name}: text block = structuredContent`);
    return r.structuredContent;
}

/** An RFC 3339 UTC date as results write it ("2026-12-06T10:31:02Z"), as milliseconds. */
function rfc3339(s) {
    assert.match(s, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, `an RFC 3339 UTC date: ${s}`);
    const ms = Date.parse(s);
    assert.ok(Number.isFinite(ms), `Date.parse(${s})`);
    assert.equal(new Date(ms).toISOString().replace('.000Z', 'Z'), s, 'round trip');
    return ms;
}

/** tools/call that must come back as an isError result; returns its text. */
async function refused(sess, name, args = {}) {
    let r;
    try {
        r = await call(sess, name, args);
    } catch (err) {
        assert.fail(`${name}: expected an isError result, the call threw ${err?.constructor?.name}: ${err?.message}`);
    }
    assert.equal(r.isError, true, `${name} ${JSON.stringify(args).slice(0, 200)} should be refused: ${JSON.stringify(r).slice(0, 500)}`);
    return textOf(r);
}

/** Every note of list_my_notes / list_team_notes, following nextCursor. */
async function listAll(sess, tool = 'list_my_notes', limit = 100) {
    const notes = [];
    let cursor;
    for (let page = 0; page < 100; page++) {
        const r = await ok(sess, tool, cursor ? { limit, cursor } : { limit });
        assert.equal(r.count, r.notes.length);
        notes.push(...r.notes);
        if (!r.nextCursor) return notes;
        cursor = r.nextCursor;
    }
    assert.fail(`${tool}: more than 100 pages`);
}

const ids = notes => notes.map(n => n.id);

/** `teamnotes audit` of a data dir, as records. */
async function auditRecords(dataDir) {
    const out = await cli(['audit', '--limit', '1000', '--data-dir', dataDir]);
    return out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(line => {
            const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+client=(\S+)/.exec(line);
            assert.ok(m, `an audit line: ${line}`);
            return { line, at: m[1], outcome: m[2], tool: m[3], noteId: m[4], user: m[5], client: m[6] };
        });
}

/** A raw POST to the MCP endpoint (stateless, 2025-11-25) with a bearer token and `body`. */
async function rawPost(server, accessToken, body, contentType = 'application/json') {
    const res = await fetch(server.url, {
        method: 'POST',
        headers: {
            authorization: `Bearer ${accessToken}`,
            'content-type': contentType,
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-11-25'
        },
        body
    });
    const text = await res.text();
    let json;
    const ct = res.headers.get('content-type') || '';
    try {
        if (ct.includes('text/event-stream')) {
            const data = text
                .split('\n')
                .filter(l => l.startsWith('data:'))
                .map(l => l.slice(5).trim());
            json = JSON.parse(data[data.length - 1]);
        } else {
            json = JSON.parse(text);
        }
    } catch {
        json = undefined;
    }
    return { status: res.status, contentType: ct, text, json };
}

function rawTool(server, accessToken, name, args, id = 1) {
    return rawPost(server, accessToken, JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }));
}

// ---------------------------------------------------------------------------------------
// 1. the reference system's four checks
// ---------------------------------------------------------------------------------------

describe('1. alice and bob (editors, acme) see only their own notes; carol (viewer) cannot write', { timeout: TEST_TIMEOUT }, () => {
    const saved = {}; // key -> [{id, content}]
    const lists = {}; // key -> ids listed after the saves

    for (const key of ['alice', 'bob']) {
        it(`${key} signs in at the same URL and saves two notes`, async () => {
            const sess = await session(key);
            const acct = main.s.accounts[key];
            assert.equal(sess.provider.authorizationUrls.length, 1, 'one authorization');
            assert.equal(`${sess.provider.authorizationUrls[0].origin}`, main.s.issuer);
            saved[key] = [];
            for (const i of [1, 2]) {
                const content = `${key}'s note ${i}: ${randomBytes(6).toString('hex')}`;
                const n = await ok(sess, 'save_note', { content, title: `${key} ${i}`, tags: [key, `n${i}`] });
                assert.match(n.id, /^n_[A-Za-z0-9_-]+$/);
                assert.equal(n.title, `${key} ${i}`);
                assert.deepEqual(n.tags, [key, `n${i}`]);
                assert.equal(n.visibility, 'private');
                assert.equal(n.version, 1);
                assert.equal(n.mine, true);
                assert.equal(n.userId, acct.id);
                assert.ok(Math.abs(rfc3339(n.createdAt) - Date.now()) < 60_000, `createdAt is now-ish: ${n.createdAt}`);
                assert.equal(n.updatedAt, n.createdAt);
                saved[key].push({ id: n.id, content });
            }
        });
    }

    for (const key of ['alice', 'bob']) {
        it(`${key}'s list_my_notes holds exactly ${key}'s notes, newest first, with ${key}'s contents`, async () => {
            assert.ok(saved[key], 'saved');
            const sess = await session(key);
            const r = await ok(sess, 'list_my_notes');
            assert.equal(r.userId, main.s.accounts[key].id);
            assert.equal(r.count, 2);
            assert.equal(r.nextCursor, undefined);
            assert.deepEqual(ids(r.notes), [saved[key][1].id, saved[key][0].id]);
            for (const n of r.notes) assert.equal(n.mine, true);
            for (const { id, content } of saved[key]) {
                const g = await ok(sess, 'get_note', { id });
                assert.equal(g.content, content);
                assert.equal(g.mine, true);
            }
            lists[key] = ids(r.notes);
        });
    }

    it("neither can read the other's notes (get_note -> not found)", async () => {
        assert.ok(saved.alice && saved.bob, 'saved');
        const alice = await session('alice');
        const bob = await session('bob');
        for (const { id } of saved.bob) assert.match(await refused(alice, 'get_note', { id }), new RegExp(`No note with id ${id} is visible to you`));
        for (const { id } of saved.alice) assert.match(await refused(bob, 'get_note', { id }), new RegExp(`No note with id ${id} is visible to you`));
    });

    it('carol (viewer) lists an empty list', async () => {
        const carol = await session('carol');
        const r = await ok(carol, 'list_my_notes');
        assert.deepEqual(r, { userId: main.s.accounts.carol.id, count: 0, notes: [] });
    });

    it('carol: save_note -> isError naming notes:write; nothing was stored; audited as denied', async () => {
        assert.ok(lists.alice && lists.bob, 'lists taken');
        const carol = await session('carol');
        const marker = `carol-${randomBytes(6).toString('hex')}`;
        const text = await refused(carol, 'save_note', { content: `${marker} should not be stored` });
        assert.match(text, /notes:write/);
        assert.deepEqual((await ok(carol, 'list_my_notes')).notes, []);
        assert.equal((await ok(carol, 'search_notes', { query: marker })).count, 0);
        assert.deepEqual(ids((await ok(await session('alice'), 'list_my_notes')).notes), lists.alice);
        assert.deepEqual(ids((await ok(await session('bob'), 'list_my_notes')).notes), lists.bob);
        const recs = await auditRecords(main.s.dataDir);
        const carolKey = `${main.s.issuer}|${main.s.accounts.carol.id}`;
        const denied = recs.filter(r => r.tool === 'save_note' && r.outcome === 'denied');
        assert.equal(denied.length, 1, `one denied save_note:\n${recs.map(r => r.line).join('\n')}`);
        assert.equal(denied[0].user, carolKey, denied[0].line);
        assert.equal(denied[0].noteId, '-');
        assert.equal(denied[0].client, carol.provider.savedClients[0].client_id);
        const carolSaves = recs.filter(r => r.user === carolKey && r.tool === 'save_note');
        assert.deepEqual(carolSaves.map(r => r.outcome), ['denied'], 'no other save_note record of carol');
        // the ok saves of alice and bob are there too, with their note ids
        for (const key of ['alice', 'bob']) {
            const k = `${main.s.issuer}|${main.s.accounts[key].id}`;
            const okSaves = recs.filter(r => r.user === k && r.tool === 'save_note' && r.outcome === 'ok').map(r => r.noteId);
            assert.deepEqual(okSaves.sort(), saved[key].map(n => n.id).sort(), `${key}'s save records`);
        }
    });
});

// ---------------------------------------------------------------------------------------
// 2. sharing with the organization
// ---------------------------------------------------------------------------------------

describe('2. sharing: an org note is readable by acme, changeable only by its author, invisible to globex', { timeout: TEST_TIMEOUT }, () => {
    let shared;
    const content = `Shared runbook ${randomBytes(4).toString('hex')}: restart the frobnicator`;

    it('alice saves a note with visibility org', async () => {
        const alice = await session('alice');
        shared = await ok(alice, 'save_note', { content, title: 'Runbook', visibility: 'org' });
        assert.equal(shared.visibility, 'org');
        assert.equal(shared.version, 1);
    });

    it('bob sees it in list_team_notes (mine: false) and reads it with get_note; not in his own list', async () => {
        assert.ok(shared, 'saved');
        const bob = await session('bob');
        const team = await listAll(bob, 'list_team_notes');
        const n = team.find(x => x.id === shared.id);
        assert.ok(n, `in bob's team list: ${JSON.stringify(team)}`);
        assert.equal(n.mine, false);
        assert.equal(n.title, 'Runbook');
        assert.equal(n.visibility, 'org');
        for (const x of team) assert.equal(x.visibility, 'org', `only org notes: ${JSON.stringify(x)}`);
        const g = await ok(bob, 'get_note', { id: shared.id });
        assert.equal(g.content, content);
        assert.equal(g.mine, false);
        assert.equal(g.version, 1);
        assert.ok(!ids(await listAll(bob)).includes(shared.id), "not in bob's list_my_notes");
        const found = await ok(bob, 'search_notes', { query: 'frobnicator' });
        assert.deepEqual(found.results.map(r => r.id), [shared.id]);
    });

    it('alice sees her own org note in list_team_notes with mine: true', async () => {
        assert.ok(shared, 'saved');
        const team = await listAll(await session('alice'), 'list_team_notes');
        assert.equal(team.find(x => x.id === shared.id)?.mine, true);
    });

    it('bob: update_note and delete_note -> isError not found; the note is unchanged', async () => {
        assert.ok(shared, 'saved');
        const bob = await session('bob');
        const re = new RegExp(`No note with id ${shared.id} is visible to you`);
        assert.match(await refused(bob, 'update_note', { id: shared.id, version: 1, content: 'bob was here' }), re);
        assert.match(await refused(bob, 'update_note', { id: shared.id, version: 1, visibility: 'private' }), re);
        assert.match(await refused(bob, 'delete_note', { id: shared.id }), re);
        assert.match(await refused(bob, 'delete_note', { id: shared.id, version: 1 }), re);
        const g = await ok(await session('alice'), 'get_note', { id: shared.id });
        assert.equal(g.content, content);
        assert.equal(g.version, 1);
        assert.equal(g.visibility, 'org');
        assert.equal(g.updatedAt, shared.updatedAt);
    });

    it("carol (viewer, acme) reads it too; dave (globex) sees nothing of acme's", async () => {
        assert.ok(shared, 'saved');
        const carol = await session('carol');
        assert.equal((await ok(carol, 'get_note', { id: shared.id })).content, content);
        const dave = await session('dave');
        const team = await ok(dave, 'list_team_notes');
        assert.deepEqual(team, { userId: main.s.accounts.dave.id, count: 0, notes: [] });
        assert.match(await refused(dave, 'get_note', { id: shared.id }), new RegExp(`No note with id ${shared.id} is visible to you`));
        assert.equal((await ok(dave, 'search_notes', { query: 'frobnicator' })).count, 0);
        assert.deepEqual((await ok(dave, 'list_my_notes')).notes, []);
        assert.match(await refused(dave, 'update_note', { id: shared.id, version: 1, content: 'x' }), /No note with id/);
        assert.match(await refused(dave, 'delete_note', { id: shared.id }), /No note with id/);
        const still = await ok(await session('alice'), 'get_note', { id: shared.id });
        assert.equal(still.version, 1);
    });

    it("dave's own org note stays in globex", async () => {
        const dave = await session('dave');
        const d = await ok(dave, 'save_note', { content: 'globex secret plan', visibility: 'org' });
        const bobTeam = await listAll(await session('bob'), 'list_team_notes');
        assert.ok(!ids(bobTeam).includes(d.id), 'not in acme');
        assert.deepEqual(ids((await ok(dave, 'list_team_notes')).notes), [d.id]);
    });
});

// ---------------------------------------------------------------------------------------
// 3. concurrency through the server
// ---------------------------------------------------------------------------------------

describe('3. concurrency: 40 parallel saves, 10 parallel updates of one version', { timeout: TEST_TIMEOUT }, () => {
    it('40 parallel save_note (one client): 40 distinct ids, all listed through the cursor, contents intact', async () => {
        const alice = await session('alice');
        const before = await listAll(alice);
        const contents = Array.from({ length: 40 }, (_, i) => `parallel #${i} ${randomBytes(8).toString('hex')}`);
        const results = await Promise.all(contents.map((content, i) => ok(alice, 'save_note', { content, tags: ['par'], title: `p${i}` })));
        const newIds = results.map(r => r.id);
        assert.equal(new Set(newIds).size, 40, 'distinct ids');
        // pages of 7: the 40 (and the earlier notes) through several cursors, no repeats
        const all = await listAll(alice, 'list_my_notes', 7);
        const listed = ids(all);
        assert.equal(new Set(listed).size, listed.length, 'no note on two pages');
        assert.equal(listed.length, before.length + 40);
        for (const id of newIds) assert.ok(listed.includes(id), `${id} listed`);
        for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].updatedAt >= all[i].updatedAt, 'newest first');
        const tagged = [];
        let cursor;
        do {
            const r = await ok(alice, 'list_my_notes', cursor ? { tag: 'par', limit: 9, cursor } : { tag: 'par', limit: 9 });
            tagged.push(...ids(r.notes));
            cursor = r.nextCursor;
        } while (cursor);
        assert.deepEqual([...tagged].sort(), [...newIds].sort(), 'tag filter + paging');
        const got = await Promise.all(newIds.map(id => ok(alice, 'get_note', { id })));
        got.forEach((g, i) => {
            assert.equal(g.content, contents[i]);
            assert.equal(g.title, `p${i}`);
            assert.equal(g.version, 1);
        });
    });

    it('10 parallel update_note with version 1: one success, nine "Conflict:", final version 2', async () => {
        const alice = await session('alice');
        const n = await ok(alice, 'save_note', { content: 'contended v1' });
        const results = await Promise.all(
            Array.from({ length: 10 }, (_, i) => call(alice, 'update_note', { id: n.id, version: 1, content: `writer ${i}` }))
        );
        const wins = results.map((r, i) => ({ r, i })).filter(x => x.r.isError !== true);
        const conflicts = results.filter(r => r.isError === true);
        assert.equal(wins.length, 1, `one success: ${JSON.stringify(results.map(textOf))}`);
        assert.equal(conflicts.length, 9);
        for (const c of conflicts) {
            assert.match(textOf(c), new RegExp(`^Conflict: note ${n.id} was changed since version 1 \\(it is now at version 2\\)`));
        }
        assert.equal(wins[0].r.structuredContent.version, 2);
        const g = await ok(alice, 'get_note', { id: n.id });
        assert.equal(g.version, 2);
        assert.equal(g.content, `writer ${wins[0].i}`);
        // a stale delete is a conflict too; the current version deletes
        assert.match(await refused(alice, 'delete_note', { id: n.id, version: 1 }), /^Conflict:/);
        assert.deepEqual(await ok(alice, 'delete_note', { id: n.id, version: 2 }), { id: n.id, deleted: true });
        assert.match(await refused(alice, 'get_note', { id: n.id }), /No note with id/);
    });
});

// ---------------------------------------------------------------------------------------
// 4. durability across SIGKILL
// ---------------------------------------------------------------------------------------

describe('4. durability: SIGKILL during 30 concurrent saves, restart, every acknowledged note is there', { timeout: TEST_TIMEOUT }, () => {
    let s;
    let s2;
    let sess;
    let token;
    const acked = new Map(); // id -> content
    const contents = Array.from({ length: 30 }, (_, i) => `durable #${i} ${randomBytes(24).toString('hex')}`.repeat(20));

    before(async () => {
        s = await startTeamnotes('tn-durable', { dir: TMP, users: { alice: USERS.alice } });
    });
    after(async () => {
        await sess?.client?.close().catch(() => {});
        if (s && s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
        await stopServer(s2);
    });

    it('alice signs in; 30 concurrent save_note, SIGKILL after about half were acknowledged', async () => {
        const provider = new HeadlessOAuthProvider(s.accounts.alice);
        sess = await connectV1(s.url, provider);
        token = provider.tokens().access_token;
        await sess.client.close();
        sess = undefined;
        let killedAt;
        const calls = contents.map((content, i) =>
            rawTool(s, token, 'save_note', { content }, i + 1).then(r => {
                const res = r.json?.result;
                if (r.status === 200 && res && !res.isError) {
                    acked.set(res.structuredContent.id, content);
                    if (acked.size >= 15 && killedAt === undefined) {
                        killedAt = acked.size;
                        s.proc.kill('SIGKILL');
                    }
                }
                return r;
            })
        );
        const settled = await Promise.allSettled(calls);
        const { signal } = await s.exited;
        assert.equal(signal, 'SIGKILL');
        const failed = settled.filter(x => x.status === 'rejected').length;
        console.log(`# ${acked.size} acknowledged (kill sent at ${killedAt}), ${failed} failed by the kill, ${30 - acked.size - failed} other`);
        assert.ok(acked.size >= 15, `at least 15 acknowledged: ${acked.size}`);
        for (const x of settled) {
            if (x.status === 'fulfilled' && !(x.value.json?.result && !x.value.json.result.isError))
                assert.fail(`an answer that is not an acknowledgement: ${x.value.status} ${x.value.text.slice(0, 300)}`);
        }
    });

    it('restarted on the same data dir and port: the same token works, every acknowledged note is there', async () => {
        assert.ok(acked.size > 0, 'acknowledged notes');
        s2 = await startTeamnotes('tn-durable-2', { restartOf: s });
        const who = await rawTool(s2, token, 'whoami', {});
        assert.equal(who.status, 200, who.text);
        assert.equal(who.json.result.structuredContent.userId, s.accounts.alice.id);
        for (const [id, content] of acked) {
            const r = await rawTool(s2, token, 'get_note', { id });
            assert.equal(r.status, 200, r.text);
            assert.notEqual(r.json.result.isError, true, `acknowledged note ${id} lost: ${r.text}`);
            assert.equal(r.json.result.structuredContent.content, content, `content of ${id}`);
        }
        const list = await rawTool(s2, token, 'list_my_notes', { limit: 100 });
        const listed = list.json.result.structuredContent.notes.map(n => n.id);
        for (const id of acked.keys()) assert.ok(listed.includes(id), `${id} listed`);
        assert.ok(listed.length <= 30);
        console.log(`# after restart: ${listed.length} notes (${acked.size} acknowledged)`);
        // every listed note is whole (one of the contents sent)
        for (const id of listed) {
            const r = await rawTool(s2, token, 'get_note', { id });
            assert.ok(contents.includes(r.json.result.structuredContent.content), `note ${id} intact`);
        }
    });
});

// ---------------------------------------------------------------------------------------
// 5. hostile inputs
// ---------------------------------------------------------------------------------------

describe('5. hostile inputs', { timeout: TEST_TIMEOUT }, () => {
    const SQL = "Robert'); DROP TABLE notes;-- and \"quotes\" %_ \\ backslash";

    it('SQL metacharacters are stored verbatim and found by search_notes', async () => {
        const alice = await session('alice');
        const n = await ok(alice, 'save_note', { content: SQL, title: "x'); DELETE FROM notes;--", tags: ["t'--"] });
        const g = await ok(alice, 'get_note', { id: n.id });
        assert.equal(g.content, SQL);
        assert.equal(g.title, "x'); DELETE FROM notes;--");
        assert.deepEqual(g.tags, ["t'--"]);
        const found = await ok(alice, 'search_notes', { query: 'DROP TABLE' });
        assert.ok(found.results.some(r => r.id === n.id), JSON.stringify(found));
        const r = found.results.find(x => x.id === n.id);
        assert.equal(typeof r.snippet, 'string');
        assert.ok(r.snippet.length > 0);
        assert.equal(typeof r.rank, 'number');
        assert.equal(found.query, 'DROP TABLE');
        const q2 = await ok(alice, 'search_notes', { query: "Robert'); DROP TABLE notes;--" });
        assert.ok(q2.results.some(x => x.id === n.id), `the raw SQL text as a query finds it: ${JSON.stringify(q2)}`);
        // the store still works
        assert.ok((await listAll(alice)).length > 40);
    });

    it('FTS syntax in the query is a normal search, no error; its operators are plain words', async () => {
        const alice = await session('alice');
        for (const query of ['NEAR(a b) OR "x` * AND', 'AND', 'content:foo', '^x', 'a OR', 'NOT NOT', 'x*', '"unterminated']) {
            const r = await ok(alice, 'search_notes', { query });
            assert.equal(r.query, query);
            assert.equal(r.count, r.results.length);
        }
        const n = await ok(alice, 'save_note', { content: 'zebulon OR quixotic' });
        const hit = await ok(alice, 'search_notes', { query: 'zebulon OR' });
        assert.deepEqual(hit.results.map(r => r.id), [n.id], 'OR is a word to find, not an operator');
        const miss = await ok(alice, 'search_notes', { query: 'zebulon OR nonexistentword' });
        assert.equal(miss.count, 0, 'not an OR: both words are needed');
        const near = await ok(alice, 'search_notes', { query: 'NEAR(zebulon quixotic)' });
        assert.equal(near.count, 0, 'NEAR( is not an operator either (the word "near" is not in the note)');
    });

    it('a query of punctuation only (", *, (((, ^): isError, and the server goes on', async () => {
        const alice = await session('alice');
        for (const query of ['"', '*', '(((', '^', '" * "']) {
            await refused(alice, 'search_notes', { query });
        }
        assert.equal((await ok(alice, 'search_notes', { query: 'zebulon' })).count, 1);
    });

    it('the refusal of a punctuation-only query speaks of the query, not of a note', async () => {
        const alice = await session('alice');
        const r = await rawTool(main.s, alice.provider.tokens().access_token, 'search_notes', { query: '"' }, 41);
        console.log(`# search_notes {"query":"\\""} -> HTTP ${r.status} ${r.text}`);
        const text = r.json?.result?.content?.[0]?.text || '';
        assert.equal(r.json?.result?.isError, true);
        assert.doesNotMatch(text, /note was refused|content must be/, text);
        assert.match(text, /query|search/i, text);
    });

    it('70 KiB content: isError naming the 65536 limit; nothing stored', async () => {
        const alice = await session('alice');
        const before = (await listAll(alice)).length;
        const text = await refused(alice, 'save_note', { content: 'x'.repeat(70 * 1024) });
        console.log(`# 70 KiB content: ${text}`);
        assert.match(text, /content: at most 65536 characters/);
        assert.equal((await listAll(alice)).length, before);
    });

    it('17 tags: isError; 16 are fine', async () => {
        const alice = await session('alice');
        const tags = Array.from({ length: 17 }, (_, i) => `t${i}`);
        const text = await refused(alice, 'save_note', { content: 'many tags', tags });
        console.log(`# 17 tags: ${text}`);
        assert.match(text, /tags: at most 16 items/);
        const n = await ok(alice, 'save_note', { content: 'sixteen tags', tags: tags.slice(0, 16) });
        assert.equal(n.tags.length, 16);
    });

    for (const limit of [0, -1, 1000]) {
        it(`limit ${limit}: isError (list_my_notes, list_team_notes, search_notes)`, async () => {
            const alice = await session('alice');
            const text = await refused(alice, 'list_my_notes', { limit });
            console.log(`# list_my_notes limit ${limit}: ${text}`);
            const want = limit < 1 ? /limit: must be >= 1/ : /limit: must be <= 100/;
            assert.match(text, want);
            assert.match(await refused(alice, 'list_team_notes', { limit }), want);
            assert.match(await refused(alice, 'search_notes', { query: 'x', limit }), want);
        });
    }

    it('a forged cursor: isError naming the cursor', async () => {
        const alice = await session('alice');
        const forged = [
            'not-a-cursor',
            Buffer.from('hello').toString('base64url'),
            Buffer.from('1.x_abc').toString('base64url'),
            Buffer.from("1.n_'; DROP TABLE notes;--").toString('base64url'),
            Buffer.from('-5.n_abcdef').toString('base64url')
        ];
        for (const cursor of forged) {
            assert.match(await refused(alice, 'list_my_notes', { cursor }), /cursor/, cursor);
            assert.match(await refused(alice, 'list_team_notes', { cursor }), /cursor/, cursor);
        }
    });

    it('a lone surrogate escape (\\ud800) in the raw JSON body: refused, nothing stored', async () => {
        const alice = await session('alice');
        const token = alice.provider.tokens().access_token;
        const before = ids(await listAll(alice));
        const marker = `surrogate${randomBytes(4).toString('hex')}`;
        const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"save_note","arguments":{"content":"${marker} \\ud800 end"}}}`;
        assert.ok(body.includes('\\ud800'), 'the escape is in the body as text');
        const r = await rawPost(main.s, token, body);
        console.log(`# lone surrogate: HTTP ${r.status} ${r.text.slice(0, 300)}`);
        const rpcError = r.json?.error;
        const toolError = r.json?.result?.isError === true;
        assert.ok(rpcError || toolError || r.status === 400, `refused: HTTP ${r.status} ${r.text}`);
        assert.equal(r.json?.result?.structuredContent?.id, undefined, `no note created: ${r.text}`);
        assert.deepEqual(ids(await listAll(alice)), before);
        assert.equal((await ok(alice, 'search_notes', { query: marker })).count, 0);
    });

    it('invalid UTF-8 bytes in the raw body: refused, nothing stored', async () => {
        const alice = await session('alice');
        const token = alice.provider.tokens().access_token;
        const before = ids(await listAll(alice));
        const marker = `badutf${randomBytes(4).toString('hex')}`;
        const head = Buffer.from(`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"save_note","arguments":{"content":"${marker} `);
        const tail = Buffer.from(` end"}}}`);
        const body = Buffer.concat([head, Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]), tail]);
        const r = await rawPost(main.s, token, body);
        console.log(`# invalid UTF-8: HTTP ${r.status} ${r.text.slice(0, 300)}`);
        assert.ok(r.json?.error || r.json?.result?.isError === true || r.status === 400, `refused: HTTP ${r.status} ${r.text}`);
        assert.equal(r.json?.result?.structuredContent?.id, undefined, `no note created: ${r.text}`);
        assert.deepEqual(ids(await listAll(alice)), before);
    });
});

// ---------------------------------------------------------------------------------------
// 6. MCP resources
// ---------------------------------------------------------------------------------------

describe('6. resources: note://<id> of the caller only', { timeout: TEST_TIMEOUT }, () => {
    async function allResources(sess) {
        const out = [];
        let cursor;
        for (let i = 0; i < 100; i++) {
            const r = await sess.client.listResources(cursor ? { cursor } : {});
            out.push(...r.resources);
            if (!r.nextCursor) return out;
            cursor = r.nextCursor;
        }
        assert.fail('more than 100 pages of resources');
    }

    it("resources/list shows exactly alice's notes as note://<id>", async () => {
        const alice = await session('alice');
        const bob = await session('bob');
        const mine = ids(await listAll(alice));
        const bobs = ids(await listAll(bob));
        assert.ok(bobs.length >= 2, 'bob has notes');
        const res = await allResources(alice);
        const uris = res.map(r => r.uri);
        assert.equal(new Set(uris).size, uris.length, 'no repeats');
        assert.deepEqual([...uris].sort(), mine.map(id => `note://${id}`).sort());
        for (const id of bobs) assert.ok(!uris.includes(`note://${id}`), `bob's ${id} not listed for alice`);
        for (const r of res) assert.equal(r.mimeType, 'text/plain');
    });

    it("resources/read: alice's own note gives its text; bob's note URI is an error", async () => {
        const alice = await session('alice');
        const bob = await session('bob');
        const own = await ok(alice, 'save_note', { content: 'readable as a resource' });
        const r = await alice.client.readResource({ uri: `note://${own.id}` });
        assert.deepEqual(r.contents, [{ uri: `note://${own.id}`, mimeType: 'text/plain', text: 'readable as a resource' }]);
        const bobNote = (await ok(bob, 'list_my_notes')).notes[0];
        assert.ok(bobNote, 'bob has a note');
        await assert.rejects(alice.client.readResource({ uri: `note://${bobNote.id}` }), err => {
            console.log(`# resources/read of bob's note by alice: ${err?.constructor?.name} ${err?.message}`);
            assert.equal(err?.code, -32002, `${err?.constructor?.name}: ${err?.message}`);
            assert.match(String(err?.message), new RegExp(`Resource not found: note://${bobNote.id}`));
            return true;
        });
        // bob reads his own
        const rb = await bob.client.readResource({ uri: `note://${bobNote.id}` });
        assert.equal(rb.contents[0].uri, `note://${bobNote.id}`);
        // dave cannot read alice's org note as a resource either
        const dave = await session('dave');
        await assert.rejects(dave.client.readResource({ uri: `note://${own.id}` }));
    });
});

// ---------------------------------------------------------------------------------------
// 7. Notes an assistant can read in one call
// ---------------------------------------------------------------------------------------

describe('7. readable notes: text in lists, derived titles, RFC 3339 dates, descriptions', { timeout: TEST_TIMEOUT }, () => {
    // 1,999 é, then € (character 2,000), then 500 x: 2,500 characters, 4,501 bytes
    const LONG = 'é'.repeat(1999) + '€' + 'x'.repeat(500);
    const saved = {};

    it('save_note without a title gets its first line as the title; a given title wins', async () => {
        const erin = await session('erin');
        saved.plain = await ok(erin, 'save_note', { content: 'Buy milk and call the plumber' });
        assert.equal(saved.plain.title, 'Buy milk and call the plumber');
        saved.heading = await ok(erin, 'save_note', { content: '\n  # Trip plan  \n\nPack the tent' });
        assert.equal(saved.heading.title, 'Trip plan');
        saved.given = await ok(erin, 'save_note', { content: 'first line\nsecond line', title: 'Given title' });
        assert.equal(saved.given.title, 'Given title');
        saved.long = await ok(erin, 'save_note', { content: LONG });
        assert.equal(saved.long.title, 'é'.repeat(80) + '…');
        for (const n of Object.values(saved)) {
            assert.equal(n.content, undefined, 'save_note does not echo the text');
            assert.ok(Math.abs(rfc3339(n.createdAt) - Date.now()) < 60_000);
        }
    });

    it('list_my_notes: every note with its text and title; the long one truncated at 2,000 characters', async () => {
        const erin = await session('erin');
        const r = await ok(erin, 'list_my_notes');
        assert.equal(r.count, 4);
        const by = Object.fromEntries(r.notes.map(n => [n.id, n]));
        const want = [
            [saved.plain, 'Buy milk and call the plumber', 'Buy milk and call the plumber'],
            [saved.heading, 'Trip plan', '\n  # Trip plan  \n\nPack the tent'],
            [saved.given, 'Given title', 'first line\nsecond line']
        ];
        for (const [s, title, content] of want) {
            const n = by[s.id];
            assert.equal(n.title, title);
            assert.equal(n.content, content);
            assert.equal(n.truncated, false);
            assert.equal(n.contentLength, [...content].length);
        }
        const l = by[saved.long.id];
        assert.equal(l.truncated, true);
        assert.equal(l.contentLength, 2500);
        assert.equal(l.content, 'é'.repeat(1999) + '€', 'the first 2,000 characters, none split');
        for (const n of r.notes) {
            const c = rfc3339(n.createdAt), u = rfc3339(n.updatedAt);
            assert.ok(c <= u);
            assert.equal(n.mine, true);
        }
        // newest first by updatedAt, the strings compare as the dates do
        for (let i = 1; i < r.notes.length; i++) assert.ok(r.notes[i - 1].updatedAt >= r.notes[i].updatedAt);
    });

    it('get_note reads the long note whole', async () => {
        const erin = await session('erin');
        const g = await ok(erin, 'get_note', { id: saved.long.id });
        assert.equal(g.content, LONG);
        assert.equal(g.truncated, false);
        assert.equal(g.contentLength, 2500);
        assert.equal(g.title, 'é'.repeat(80) + '…');
    });

    it('search_notes results carry the text and the title too', async () => {
        const erin = await session('erin');
        const r = await ok(erin, 'search_notes', { query: 'plumber' });
        assert.equal(r.count, 1);
        const n = r.results[0];
        assert.equal(n.id, saved.plain.id);
        assert.equal(n.title, 'Buy milk and call the plumber');
        assert.equal(n.content, 'Buy milk and call the plumber');
        assert.equal(n.truncated, false);
        assert.match(n.snippet, /plumber/);
        rfc3339(n.updatedAt);
        const x = await ok(erin, 'search_notes', { query: 'xxxxx' }).catch(() => null); // words are whole tokens
        assert.ok(x === null || x.results.every(e => e.id !== saved.plain.id));
    });

    it('update_note keeps a derived title in step with the text; a given one wins; "" derives again', async () => {
        const erin = await session('erin');
        let u = await ok(erin, 'update_note', { id: saved.plain.id, version: 1, content: 'Call the electrician\nand the plumber' });
        assert.equal(u.title, 'Call the electrician');
        assert.equal(u.version, 2);
        const listed = (await ok(erin, 'list_my_notes')).notes.find(n => n.id === saved.plain.id);
        assert.equal(listed.title, 'Call the electrician');
        assert.equal(listed.content, 'Call the electrician\nand the plumber');
        u = await ok(erin, 'update_note', { id: saved.plain.id, version: 2, title: 'Chores' });
        assert.equal(u.title, 'Chores');
        u = await ok(erin, 'update_note', { id: saved.plain.id, version: 3, content: 'Only the plumber now' });
        assert.equal(u.title, 'Chores', 'a given title stays when the text changes');
        // a version that never existed is told apart from a stale one
        assert.match(await refused(erin, 'update_note', { id: saved.plain.id, version: 9, title: 'x' }),
            new RegExp(`^Conflict: note ${saved.plain.id} is at version 4; there is no version 9\\.`));
        u = await ok(erin, 'update_note', { id: saved.plain.id, version: 4, title: '' });
        assert.equal(u.title, 'Only the plumber now');
        saved.plain = u;
    });

    it('resources/list names each note by its title', async () => {
        const erin = await session('erin');
        const r = await erin.client.listResources();
        const names = Object.fromEntries(r.resources.map(x => [x.uri, x.name]));
        assert.equal(names[`note://${saved.plain.id}`], 'Only the plumber now');
        assert.equal(names[`note://${saved.heading.id}`], 'Trip plan');
        assert.equal(names[`note://${saved.given.id}`], 'Given title');
        assert.equal(names[`note://${saved.long.id}`], 'é'.repeat(80) + '…');
        assert.ok(!Object.values(names).includes('Untitled note'));
    });

    it('tools/list: descriptions state what comes back, the limits and paging; annotations right', async () => {
        const erin = await session('erin');
        const { tools } = await erin.client.listTools();
        const t = Object.fromEntries(tools.map(x => [x.name, x]));
        for (const name of ['list_my_notes', 'list_team_notes', 'search_notes']) {
            assert.match(t[name].description, /2,000 characters/, name);
            assert.match(t[name].description, /truncated/, name);
            assert.match(t[name].description, /get_note/, name);
        }
        assert.match(t.list_my_notes.description, /nextCursor/);
        assert.match(t.list_my_notes.description, /cursor/);
        assert.match(t.list_my_notes.description, /search_notes/);
        assert.match(t.search_notes.description, /list_my_notes/);
        assert.match(t.update_note.description, /version/);
        assert.match(t.save_note.description, /update_note/);
        const hints = Object.fromEntries(tools.map(x => [x.name, x.annotations]));
        for (const name of ['list_my_notes', 'list_team_notes', 'search_notes', 'get_note', 'whoami']) {
            assert.equal(hints[name].readOnlyHint, true, name);
            assert.equal(hints[name].openWorldHint, false, name);
        }
        assert.deepEqual(hints.save_note, { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false });
        assert.deepEqual(hints.update_note, { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false });
        assert.deepEqual(hints.delete_note, { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false });
        const item = t.list_my_notes.outputSchema.properties.notes.items;
        assert.equal(item.properties.createdAt.format, 'date-time');
        assert.ok(item.required.includes('content') && item.required.includes('truncated'));
    });
});

// ---------------------------------------------------------------------------------------
// 8. Moving in from the reference template
// ---------------------------------------------------------------------------------------

describe('8. teamnotes import --from-xmcp: the template\'s notes.json, twice, listed by its owners', { timeout: TEST_TIMEOUT }, () => {
    const day = 86_400_000;
    const t0 = Date.now() - 30 * day;
    // as the template's saveNote does: UUID ids, toISOString dates, appended in order
    const file = {
        usr_tmpl_frank: [
            { id: randomUUID(), content: 'Quarterly report: send by Friday', createdAt: new Date(t0).toISOString() },
            { id: randomUUID(), content: 'Ideas\n- a faster build\n- fewer meetings', createdAt: new Date(t0 + day + 123).toISOString() }
        ],
        usr_tmpl_gina: [{ id: randomUUID(), content: 'Gina\'s note from the template', createdAt: new Date(t0 + 2 * day).toISOString() }]
    };
    let path;
    const args = () => ['import', '--from-xmcp', path, '--map', 'usr_tmpl_frank=frank@acme.test', '--map', 'usr_tmpl_gina=gina@globex.test',
        '--data-dir', main.s.dataDir, '--port', String(main.s.port)];

    it('written the way the template writes it (pretty JSON, tmp file renamed), imported: all three notes', async () => {
        await mainServer();
        const dir = join(TMP, 'xmcp-app', '.data');
        mkdirSync(dir, { recursive: true });
        path = join(dir, 'notes.json');
        writeFileSync(`${path}.tmp`, JSON.stringify(file, null, 2));
        renameSync(`${path}.tmp`, path);
        const out = await cli(args());
        console.log(`# ${out.trim().split('\n').join('\n# ')}`);
        assert.match(out, /^imported 3 of 3 notes \(0 were there already\)$/m);
        assert.match(out, new RegExp(`^usr_tmpl_frank: 2 notes -> owner ${main.s.issuer}\\|${main.s.accounts.frank.id}, organization ${main.s.accounts.frank.orgId}$`, 'm'));
    });

    it('imported again: nothing added twice', async () => {
        const out = await cli(args());
        assert.match(out, /^imported 0 of 3 notes \(3 were there already\)$/m);
    });

    it('frank and gina list their notes through the official client: text, derived titles, dates kept', async () => {
        const frank = await session('frank');
        const r = await ok(frank, 'list_my_notes');
        assert.equal(r.count, 2);
        const [newer, older] = r.notes;
        assert.equal(older.content, file.usr_tmpl_frank[0].content);
        assert.equal(older.title, 'Quarterly report: send by Friday');
        assert.equal(rfc3339(older.createdAt), Math.floor(t0 / 1000) * 1000, 'the template\'s date, to the second');
        assert.equal(older.updatedAt, older.createdAt);
        assert.equal(newer.content, file.usr_tmpl_frank[1].content);
        assert.equal(newer.title, 'Ideas');
        assert.equal(rfc3339(newer.createdAt), Math.floor((t0 + day + 123) / 1000) * 1000);
        for (const n of r.notes) {
            assert.equal(n.visibility, 'private');
            assert.equal(n.version, 1);
            assert.equal(n.mine, true);
            assert.match(n.id, /^n_[A-Za-z0-9_-]{22}$/);
        }
        // searchable, readable, changeable like any note of his
        const s = await ok(frank, 'search_notes', { query: 'quarterly' });
        assert.deepEqual(s.results.map(x => x.id), [older.id]);
        const u = await ok(frank, 'update_note', { id: older.id, version: 1, tags: ['imported'] });
        assert.equal(u.version, 2);
        const gina = await session('gina');
        const g = await ok(gina, 'list_my_notes');
        assert.deepEqual(g.notes.map(n => n.content), [file.usr_tmpl_gina[0].content]);
        // nobody else sees them
        const erin = await session('erin');
        const e = await ok(erin, 'search_notes', { query: 'quarterly' });
        assert.equal(e.count, 0);
    });

    it('a malformed file is refused with the line and the reason; nothing is imported', async () => {
        const bad = JSON.stringify({ usr_tmpl_frank: [{ id: randomUUID(), content: 'late note', createdAt: 1796553057789 }] }, null, 2);
        writeFileSync(path, bad);
        await assert.rejects(cli(args()), err => {
            console.log(`# ${String(err.message).split('\n').filter(l => l.includes('createdAt')).join(' ')}`);
            assert.match(err.message, /exited with 2/);
            assert.match(err.message, /notes\.json:6: note 1 of "usr_tmpl_frank" \(id [0-9a-f-]{36}\): createdAt must be an ISO-8601 date and time/);
            return true;
        });
        writeFileSync(path, bad.replace('"late note",', '"late note"'));
        await assert.rejects(cli(args()), err => {
            assert.match(err.message, /notes\.json:6:\d+: not JSON as the template writes it: '}' expected/);
            return true;
        });
        const frank = await session('frank');
        assert.equal((await ok(frank, 'list_my_notes')).count, 2);
    });
});
