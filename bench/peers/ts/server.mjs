// Benchmark peer: teamnotes' save_note and list_my_notes on the official TypeScript MCP SDK.
//
// bench/ runs this side by side with the C server to compare the two on the same requests.
// It is written the way the SDK documents a stateless server (a new McpServer and
// StreamableHTTPServerTransport with sessionIdGenerator: undefined for every POST /mcp, on
// createMcpExpressApp), with bearer tokens checked by the SDK's requireBearerAuth middleware
// and a jose verifier. A fair peer, not a strawman and not an optimised rewrite: the tools
// are registered with zod schemas through server.registerTool, and notes live in memory (a
// Map from user id to that user's notes, kept in the C store's order), so it measures the
// SDK and Node, not a database.
//
// bench/ starts it with the Node of tests/interop and waits for the line "peer ready":
//   PORT=8123 ISSUER=https://as.example AUDIENCE=https://rs.example/mcp \
//   JWKS_URI=http://127.0.0.1:8124/jwks.json PEER_JSON=1 node bench/peers/ts/server.mjs
// Env: PORT       port on 127.0.0.1 (required)
//      ISSUER     required `iss` of access tokens
//      AUDIENCE   required `aud` of access tokens
//      JWKS_URI   where the issuer's signing keys are fetched from (ES256 or RS256)
//      PEER_JSON  1 (default): answer application/json when the client accepts it;
//                 0: answer every request as a text/event-stream

import { randomUUID } from 'node:crypto';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import * as z from 'zod/v4';

function requiredEnv(name) {
    const v = process.env[name];
    if (!v) {
        console.error(`peer: ${name} must be set`);
        process.exit(2);
    }
    return v;
}

const PORT = Number(requiredEnv('PORT'));
const ISSUER = requiredEnv('ISSUER');
const AUDIENCE = requiredEnv('AUDIENCE');
const JWKS_URI = requiredEnv('JWKS_URI');
const JSON_RESPONSES = (process.env.PEER_JSON ?? '1') !== '0';

const DEFAULT_PAGE = 20;

// ---------- tokens ----------

// One key set for the process: jose caches the keys and re-fetches on an unknown kid.
const jwks = createRemoteJWKSet(new URL(JWKS_URI));

/** The SDK's OAuthTokenVerifier: a verified JWT as the SDK's AuthInfo (req.auth). */
const verifier = {
    async verifyAccessToken(token) {
        let payload;
        try {
            ({ payload } = await jwtVerify(token, jwks, {
                issuer: ISSUER,
                audience: AUDIENCE,
                algorithms: ['ES256', 'RS256']
            }));
        } catch (e) {
            if (e instanceof joseErrors.JWTExpired) throw new InvalidTokenError('Token has expired');
            // Keys that cannot be fetched are our failure, not a bad token.
            if (e instanceof joseErrors.JOSEError && !(e instanceof joseErrors.JWKSTimeout))
                throw new InvalidTokenError('Token verification failed');
            throw new ServerError('Signing keys unavailable');
        }
        if (typeof payload.sub !== 'string' || payload.sub === '')
            throw new InvalidTokenError('Token verification failed');
        const scope = typeof payload.scope === 'string' ? payload.scope : '';
        const permissions = Array.isArray(payload.permissions)
            ? payload.permissions.filter(p => typeof p === 'string')
            : [];
        const org = typeof payload.org_id === 'string' ? payload.org_id : '';
        return {
            token,
            clientId: String(payload.client_id ?? payload.azp ?? ''),
            scopes: scope.split(' ').filter(Boolean),
            expiresAt: payload.exp, // requireBearerAuth refuses a token without one
            extra: { userId: payload.sub, org, permissions }
        };
    }
};

/**
 * Why this caller may not use `tool`, or null if they may: the scope the client was granted
 * and the permission the user's roles give must both name the operation.
 */
function refusal(auth, tool, needed) {
    if (!auth.scopes.includes(needed)) return `Insufficient scope: this tool needs ${needed}`;
    if (!auth.extra.permissions.includes(needed))
        return `Permission denied: ${tool} needs the ${needed} permission, which your account does not have.`;
    return null;
}

function errorResult(text) {
    return { content: [{ type: 'text', text }], isError: true };
}

function structuredResult(value) {
    return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

// ---------- notes ----------

/** user id -> that user's notes in (updatedAt, id) order, oldest first. */
const notesByUser = new Map();

/** True if `a` comes before `b` in newest-first order (updatedAt, then id, descending). */
function newer(a, b) {
    return a.updatedAt > b.updatedAt || (a.updatedAt === b.updatedAt && a.id > b.id);
}

/** Adds a note to its owner's list, keeping the order (a new note lands at or near the end). */
function insert(list, note) {
    let i = list.length;
    while (i > 0 && newer(list[i - 1], note)) i--;
    list.splice(i, 0, note);
}

/** A note as the tools return it: every field but the text. */
function noteView(n) {
    return {
        id: n.id,
        title: n.title,
        tags: n.tags,
        visibility: n.visibility,
        version: n.version,
        createdAt: n.createdAt,
        updatedAt: n.updatedAt,
        mine: true
    };
}

// Cursors are base64url("<updatedAt>.<id>") of the last note of a page, as in the C server.
function cursorMake(n) {
    return Buffer.from(`${n.updatedAt}.${n.id}`).toString('base64url');
}

function cursorRead(c) {
    const raw = Buffer.from(c, 'base64url').toString('utf8');
    const m = /^(\d+)\.([0-9a-f-]{36})$/.exec(raw);
    return m ? { updatedAt: Number(m[1]), id: m[2] } : null;
}

// ---------- schemas ----------

const tagsIn = z
    .array(z.string().min(1).max(32))
    .max(16)
    .describe('Labels to find the note by');
const visibility = z.enum(['private', 'org']);
const noteOut = {
    id: z.string(),
    title: z.string(),
    tags: z.array(z.string()),
    visibility,
    version: z.number().int(),
    createdAt: z.number().int(),
    updatedAt: z.number().int(),
    mine: z.boolean()
};

// ---------- the MCP server of one request ----------

function getServer() {
    const server = new McpServer({ name: 'teamnotes-peer-ts', version: '1.0.0' });

    server.registerTool(
        'save_note',
        {
            title: 'Save a note',
            description:
                'Save a note for the signed-in user. Notes are private to their author unless ' +
                'visibility is "org", which shares them read-only with the author\'s organization.',
            // strictObject: unknown arguments are refused, as in the C server's schema
            inputSchema: z.strictObject({
                content: z.string().min(1).max(65536).describe('Note text to save for the current user'),
                title: z.string().max(200).optional(),
                tags: tagsIn.optional(),
                visibility: visibility.optional().describe('private (default) or org')
            }),
            outputSchema: { ...noteOut, userId: z.string() }
        },
        async (args, extra) => {
            const auth = extra.authInfo;
            const no = refusal(auth, 'save_note', 'notes:write');
            if (no) return errorResult(no);
            const { userId, org } = auth.extra;
            const vis = args.visibility ?? 'private';
            if (vis === 'org' && !org)
                return errorResult('visibility "org" needs an organization, and your account has none.');
            const now = Date.now();
            const note = {
                id: randomUUID(),
                title: args.title ?? '',
                content: args.content,
                tags: args.tags ?? [],
                visibility: vis,
                version: 1,
                createdAt: now,
                updatedAt: now
            };
            let mine = notesByUser.get(userId);
            if (!mine) notesByUser.set(userId, (mine = []));
            insert(mine, note);
            return structuredResult({ ...noteView(note), userId });
        }
    );

    server.registerTool(
        'list_my_notes',
        {
            title: 'List my notes',
            description:
                "List the signed-in user's notes, newest first, a page at a time (limit, cursor), " +
                'optionally only those with a tag. Each user only sees their own notes.',
            inputSchema: z.strictObject({
                limit: z.number().int().min(1).max(100).optional().describe('Page size (default 20)'),
                cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
                tag: z.string().max(32).optional()
            }),
            outputSchema: {
                userId: z.string(),
                count: z.number().int(),
                notes: z.array(z.object(noteOut)),
                nextCursor: z.string().optional()
            },
            annotations: { readOnlyHint: true, idempotentHint: true }
        },
        async (args, extra) => {
            const auth = extra.authInfo;
            const no = refusal(auth, 'list_my_notes', 'notes:read');
            if (no) return errorResult(no);
            const { userId } = auth.extra;
            const limit = args.limit ?? DEFAULT_PAGE;
            let cur = null;
            if (args.cursor !== undefined) {
                cur = cursorRead(args.cursor);
                if (!cur)
                    return errorResult('The cursor is not one this server gave out; start again without it.');
            }
            const mine = notesByUser.get(userId) ?? [];
            const page = [];
            // Newest first: walk the user's notes from the end.
            for (let i = mine.length - 1; i >= 0 && page.length < limit; i--) {
                const n = mine[i];
                if (cur && !newer(cur, n)) continue;
                if (args.tag !== undefined && !n.tags.includes(args.tag)) continue;
                page.push(n);
            }
            const out = { userId, count: page.length, notes: page.map(noteView) };
            if (page.length === limit) out.nextCursor = cursorMake(page[page.length - 1]);
            return structuredResult(out);
        }
    );

    return server;
}

// ---------- HTTP ----------

const app = createMcpExpressApp({ host: '127.0.0.1' });
const auth = requireBearerAuth({ verifier });

app.post('/mcp', auth, async (req, res) => {
    const server = getServer();
    try {
        const transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: undefined,
            enableJsonResponse: JSON_RESPONSES
        });
        await server.connect(transport);
        await transport.handleRequest(req, res, req.body);
        res.on('close', () => {
            transport.close();
            server.close();
        });
    } catch (error) {
        console.error('peer: error handling MCP request:', error);
        if (!res.headersSent) {
            res.status(500).json({
                jsonrpc: '2.0',
                error: { code: -32603, message: 'Internal server error' },
                id: null
            });
        }
    }
});

// Stateless: no standalone SSE stream to GET and no session to DELETE.
const notAllowed = (req, res) => {
    res.status(405)
        .set('Allow', 'POST')
        .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
};
app.get('/mcp', notAllowed);
app.delete('/mcp', notAllowed);

app.listen(PORT, '127.0.0.1', error => {
    if (error) {
        console.error('peer: cannot listen:', error);
        process.exit(1);
    }
    console.log('peer ready');
});
