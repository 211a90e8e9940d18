// Writes the seed corpora of tests/fuzz/corpus/. Run once (node tests/fuzz/gen-seeds.mjs)
// and commit the output; re-running replaces the files it owns and changes the JWTs and
// keys (they are made with fresh keys each time), nothing else.
//
// The formats are the targets' own (see the comment at the top of each fuzz_*.c):
//   fuzz_jwt     '0' token | '1' JWKS JSON | '2' <signer byte> <header> NUL <payload>
//   fuzz_mcp     "Name: value" header lines, a blank line, the body
//   fuzz_schema  <schema> NUL <instance>
//   fuzz_header  the raw header value
import { createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const b64u = (b) => Buffer.from(b).toString('base64url');
const put = (target, name, data) => {
  const dir = join(here, 'corpus', target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), data);
};
for (const t of ['fuzz_jwt', 'fuzz_mcp', 'fuzz_schema', 'fuzz_header'])
  rmSync(join(here, 'corpus', t), { recursive: true, force: true });

// ---------------------------------------------------------------- fuzz_jwt
const NOW = 1750000000; // fuzz_jwt.c's fixed clock
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

const jws = (header, payload, alg, key) => {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  let sig = Buffer.alloc(0);
  if (alg === 'RS256') sig = cryptoSign('sha256', Buffer.from(input), key);
  if (alg === 'PS256')
    sig = cryptoSign('sha256', Buffer.from(input), { key, padding: 6, saltLength: 32 });
  if (alg === 'ES256')
    sig = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA') sig = cryptoSign(null, Buffer.from(input), key);
  if (alg === 'HS256') sig = createHmac('sha256', 'secret').update(input).digest();
  return `${input}.${b64u(sig)}`;
};
const claims = {
  iss: 'https://i', aud: 'https://a', sub: 'user-1', iat: NOW - 60, nbf: NOW - 60,
  exp: NOW + 3600, scope: 'notes:read notes:write', client_id: 'c1',
};
const tokens = {
  rs256: jws({ alg: 'RS256', kid: 'r', typ: 'at+jwt' }, claims, 'RS256', rsa.privateKey),
  es256: jws({ alg: 'ES256', kid: 'e', typ: 'JWT' }, claims, 'ES256', ec.privateKey),
  eddsa: jws({ alg: 'EdDSA', kid: 'o' }, { ...claims, aud: ['x', 'https://a'] }, 'EdDSA', ed.privateKey),
  ps256: jws({ alg: 'PS256', kid: 'r' }, claims, 'PS256', rsa.privateKey),
  nokid: jws({ alg: 'ES256' }, claims, 'ES256', ec.privateKey),
  hs256: jws({ alg: 'HS256', kid: 'r' }, claims, 'HS256'),
  none: `${b64u('{"alg":"none"}')}.${b64u(JSON.stringify(claims))}.`,
  jwk: jws({ alg: 'ES256', jwk: ec.publicKey.export({ format: 'jwk' }) }, claims, 'ES256', ec.privateKey),
  crit: jws({ alg: 'EdDSA', kid: 'o', crit: ['exp'] }, claims, 'EdDSA', ed.privateKey),
  badtyp: jws({ alg: 'EdDSA', kid: 'o', typ: 'JOSE' }, claims, 'EdDSA', ed.privateKey),
  unknownkid: jws({ alg: 'RS256', kid: 'zz' }, claims, 'RS256', rsa.privateKey),
};
for (const [name, t] of Object.entries(tokens)) put('fuzz_jwt', `verify-${name}`, `0${t}`);

const pub = (k, extra) => ({ ...k.publicKey.export({ format: 'jwk' }), ...extra });
const jwks = {
  three: { keys: [pub(rsa, { kid: 'r', alg: 'RS256', use: 'sig' }), pub(ec, { kid: 'e', alg: 'ES256' }),
                  pub(ed, { kid: 'o', alg: 'EdDSA', key_ops: ['verify'] })] },
  mixed: { keys: [pub(rsa, { kid: 'r', alg: 'PS256' }), pub(rsa, { kid: 'r' }), pub(ec, { use: 'enc' }),
                  { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'priv' },
                  { kty: 'oct', k: 'c2VjcmV0', kid: 'h' }, pub(ec, { crv: 'P-384', kid: 'p384' }),
                  pub(ed, { alg: 'ES256', kid: 'wrong' }), { kty: 'RSA', n: 'AQAB', e: 'AQAB' }] },
  empty: { keys: [] },
};
for (const [name, j] of Object.entries(jwks)) put('fuzz_jwt', `jwks-${name}`, `1${JSON.stringify(j)}`);

// Mode SIGN: '2', a signer ('0' RS256, '1' PS256, '2' ES256, '3' EdDSA), header NUL payload.
const signSeed = (signer, header, payload) =>
  Buffer.concat([Buffer.from(`2${signer}`), Buffer.from(JSON.stringify(header)), Buffer.from([0]),
                 Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload))]);
const signs = {
  'rs256-ok': ['0', { alg: 'RS256', kid: 'r', typ: 'at+jwt' }, claims],
  'es256-ok': ['2', { alg: 'ES256', kid: 'e' }, { ...claims, aud: ['https://a', 'b'] }],
  'eddsa-nokid': ['3', { alg: 'EdDSA', typ: 'application/at+jwt' }, { ...claims, exp: NOW + 0.5 }],
  'ps256-mismatch': ['1', { alg: 'PS256', kid: 'r' }, claims],
  'kid-of-another-key': ['3', { alg: 'EdDSA', kid: 'e' }, claims],
  'expired': ['0', { alg: 'RS256', kid: 'r' }, { ...claims, exp: NOW - 31 }],
  'future': ['2', { alg: 'ES256', kid: 'e' }, { ...claims, nbf: NOW + 3600, iat: NOW + 3600.5 }],
  'bad-iss': ['3', { alg: 'EdDSA', kid: 'o' }, { ...claims, iss: 'https://i/' }],
  'aud-types': ['3', { alg: 'EdDSA', kid: 'o' }, { ...claims, aud: ['https://a', 7] }],
  'no-sub': ['3', { alg: 'EdDSA', kid: 'o' }, { ...claims, sub: '' }],
  'not-object': ['3', { alg: 'EdDSA', kid: 'o' }, '[1,2,3]'],
};
for (const [name, [s, h, p]] of Object.entries(signs)) put('fuzz_jwt', `sign-${name}`, signSeed(s, h, p));

// ---------------------------------------------------------------- fuzz_mcp
// fuzz_mcp.c's server secret: the 31 characters and their NUL.
const SECRET = Buffer.concat([Buffer.from('fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-!'), Buffer.from([0])]);
const hmac = (key, msg) => createHmac('sha256', key).update(msg).digest();
// server.c derives one key per use from the secret.
const CURSOR_KEY = hmac(SECRET, 'mcp list cursor');
const STATE_KEY = hmac(SECRET, 'mcp request state');
const cursor = (kind, a, b, inner = '') => {
  const raw = Buffer.alloc(9);
  raw[0] = kind.charCodeAt(0);
  raw.writeUInt32LE(a, 1);
  raw.writeUInt32LE(b, 5);
  const body = Buffer.concat([raw, Buffer.from(inner)]);
  const mac = hmac(CURSOR_KEY, body).subarray(0, 12);
  return b64u(Buffer.concat([body, mac]));
};
// requestState as state.c seals it, expiring in 2100 so the seed stays valid. It is bound
// to "<kind>:<name>:" + base64url(HMAC-SHA-256("args", arguments as compact JSON with
// sorted keys)), as mrtr.c's tn_mcp_state_binding makes it.
const sealState = (sub, kind, name, args, state) => {
  const bound = `${kind}:${name}:${b64u(hmac('args', JSON.stringify(args)))}`;
  const payload = JSON.stringify({ sub, name: bound, exp: 4102444800000, state });
  return `${b64u(payload)}.${b64u(hmac(STATE_KEY, payload))}`;
};

const JSON_HDRS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
const req = (name, headers, body) => {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  put('fuzz_mcp', name, `${lines.join('\r\n')}\r\n\r\n${typeof body === 'string' ? body : JSON.stringify(body)}`);
};
const rpc = (id, method, params) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const legacy = (v = '2025-06-18') => ({ ...JSON_HDRS, 'MCP-Protocol-Version': v });

// The 2025 revisions.
req('legacy-initialize', JSON_HDRS, rpc(1, 'initialize', {
  protocolVersion: '2025-06-18', capabilities: { elicitation: {}, roots: { listChanged: true } },
  clientInfo: { name: 'fuzz', version: '1' } }));
req('legacy-initialized', legacy(), { jsonrpc: '2.0', method: 'notifications/initialized' });
req('legacy-ping', legacy('2025-11-25'), rpc('p1', 'ping'));
req('legacy-tools-list', legacy(), rpc(2, 'tools/list'));
req('legacy-tools-list-page2', legacy(), rpc(3, 'tools/list', { cursor: cursor('T', 2, 0) }));
req('legacy-search', legacy(), rpc(4, 'tools/call', { name: 'search', arguments: {
  query: 'meeting notes', limit: 10, region: 'eu', exact: true, owner: { id: 'u1', team: 'x' },
  tags: ['work', 'q3'], range: [1, 2.5], score: 1.5, sort: { field: 'date' }, meta: { 'x-src': 'a' } } }));
req('legacy-search-invalid', legacy(), rpc(5, 'tools/call', { name: 'search', arguments: {
  query: '<b>', tags: ['A', 'A'], range: [1, 2, 3], score: 0.3, sort: 'title', exact: true } }));
req('legacy-count-stream', legacy(), rpc(6, 'tools/call', {
  name: 'count', arguments: { to: 2, ask: true }, _meta: { progressToken: 'pt-1' } }));
req('legacy-count-broken', legacy(), rpc(7, 'tools/call', { name: 'count', arguments: { broken: true } }));
req('legacy-confirm', legacy(), rpc(8, 'tools/call', { name: 'confirm', arguments: {} }));
req('legacy-admin', legacy(), rpc(9, 'tools/call', { name: 'admin_reset' }));
req('legacy-resources', legacy(), rpc(10, 'resources/list', { cursor: cursor('R', 1, 0, '2') }));
req('legacy-templates', legacy(), rpc(11, 'resources/templates/list'));
req('legacy-read-template', legacy(), rpc(12, 'resources/read', { uri: 'notes://alice/n-42.md' }));
req('legacy-read-mine', legacy(), rpc(13, 'resources/read', { uri: 'notes://mine/3' }));
req('legacy-prompts', legacy(), rpc(14, 'prompts/list', { cursor: cursor('P', 1, 0) }));
req('legacy-prompt-get', legacy(), rpc(15, 'prompts/get', { name: 'summarize', arguments: { topic: 'q3', style: 'short' } }));
req('legacy-complete', legacy(), rpc(16, 'completion/complete', {
  ref: { type: 'ref/prompt', name: 'summarize' }, argument: { name: 'topic', value: '*' },
  context: { arguments: { style: 'x' } } }));
req('legacy-set-level', legacy(), rpc(17, 'logging/setLevel', { level: 'warning' }));
req('legacy-batch', legacy('2025-03-26'), [rpc(1, 'ping'), { jsonrpc: '2.0', method: 'notifications/x' },
  rpc(2, 'tools/call', { name: 'search', arguments: { query: 'q' } }), rpc(3, 'nope'), 5]);
req('legacy-client-response', legacy(), { jsonrpc: '2.0', id: 'tn-1', result: { roots: [] } });
req('legacy-sse-only', { 'Content-Type': 'application/json', Accept: 'text/event-stream',
  'MCP-Protocol-Version': '2024-11-05' }, rpc(18, 'tools/list'));
req('legacy-get', { ':method': 'GET', Accept: 'text/event-stream' }, '');

// 2026-07-28: every request carries its claims in _meta and mirrors them in headers.
const META = (caps = {}, extra = {}) => ({ _meta: {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': caps, ...extra } });
const modern = (method, name, more = {}) => ({
  ...JSON_HDRS, 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': method,
  ...(name ? { 'Mcp-Name': name } : {}), ...more });
req('modern-discover', modern('server/discover'), rpc(1, 'server/discover', META()));
req('modern-tools-list', modern('tools/list'), rpc(2, 'tools/list', { cursor: cursor('T', 2, 0), ...META() }));
req('modern-search', modern('tools/call', 'search', {
  'Mcp-Param-Limit': '10', 'Mcp-Param-Region': '=?base64?ZXU=?=', 'Mcp-Param-Exact': 'true',
  'Mcp-Param-Owner-Id': 'u1' }), rpc(3, 'tools/call', { name: 'search', arguments: {
  query: 'q', limit: 10, region: 'eu', exact: true, owner: { id: 'u1' } }, ...META({ sampling: {} }) }));
req('modern-search-mismatch', modern('tools/call', 'search', { 'Mcp-Param-Limit': '11' }),
  rpc(4, 'tools/call', { name: 'search', arguments: { query: 'q', limit: 10 }, ...META() }));
req('modern-confirm', modern('tools/call', 'confirm'), rpc(5, 'tools/call', {
  name: 'confirm', arguments: {}, ...META({ elicitation: { form: {} } }) }));
req('modern-confirm-deep', modern('tools/call', 'confirm'), rpc(5, 'tools/call', {
  name: 'confirm', arguments: { deep: true }, ...META({ elicitation: { form: {} }, sampling: {} }) }));
req('modern-confirm-round2', modern('tools/call', 'confirm'), rpc(6, 'tools/call', {
  name: 'confirm', arguments: {}, inputResponses: { confirm: { action: 'accept', content: {} } },
  requestState: sealState('user-1', 'tool', 'confirm', {}, { round: 1 }), ...META({ elicitation: {} }) }));
req('modern-interview-round2', modern('prompts/get', 'interview'), rpc(16, 'prompts/get', {
  name: 'interview', arguments: {}, inputResponses: { name: { action: 'accept', content: { who: 'a' } } },
  requestState: sealState('user-1', 'prompt', 'interview', {}, {}), ...META({ elicitation: { url: {} } }) }));
req('modern-count-anonymous', modern('tools/call', 'count', { ':anonymous': '1' }), rpc(17, 'tools/call', {
  name: 'count', arguments: { to: 1 }, ...META({}, { progressToken: 'a' }) }));
req('modern-count-stream', modern('tools/call', 'count'), rpc(7, 'tools/call', {
  name: 'count', arguments: { to: 3 },
  ...META({}, { progressToken: 7, 'io.modelcontextprotocol/logLevel': 'debug' }) }));
req('modern-count-disconnect', modern('tools/call', 'count', { ':disconnect': '1' }), rpc(8, 'tools/call', {
  name: 'count', arguments: { to: 5 }, ...META({}, { 'io.modelcontextprotocol/logLevel': 'info' }) }));
req('modern-count-nostream', modern('tools/call', 'count', { ':no-stream': '1' }), rpc(9, 'tools/call', {
  name: 'count', ...META({}, { progressToken: 'x' }) }));
req('modern-listen', modern('subscriptions/listen'), rpc(10, 'subscriptions/listen', {
  notifications: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true,
    resourceSubscriptions: ['notes://readme'] }, ...META() }));
req('modern-listen-notify', modern('subscriptions/listen', null, { ':notify': '1' }), rpc('sub-2', 'subscriptions/listen', {
  notifications: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true,
    resourceSubscriptions: ['notes://readme', 'notes://mine/1'] }, ...META() }));
req('modern-listen-shutdown', modern('subscriptions/listen', null, { ':shutdown': '1' }), rpc(19, 'subscriptions/listen', {
  notifications: { toolsListChanged: true }, ...META() }));
req('modern-read', modern('resources/read', 'notes://readme'), rpc(11, 'resources/read', {
  uri: 'notes://readme', ...META() }));
req('modern-interview', modern('prompts/get', 'interview'), rpc(12, 'prompts/get', {
  name: 'interview', ...META({ elicitation: { url: {} } }) }));
req('modern-purge', modern('tools/call', 'purge', { ':subject': 'admin' }), rpc(13, 'tools/call', {
  name: 'purge', ...META({ elicitation: {}, roots: {} }) }));
req('modern-admin', modern('tools/call', 'admin_reset'), rpc(14, 'tools/call', { name: 'admin_reset', ...META() }));
req('modern-bad-version', modern('tools/list', null, { 'MCP-Protocol-Version': '2099-01-01' }),
  rpc(15, 'tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01',
    'io.modelcontextprotocol/clientCapabilities': {} } }));
req('modern-notification', modern('notifications/cancelled'), {
  jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, ...META() } });

// ---------------------------------------------------------------- fuzz_schema
const schemaSeed = (schema, instance) =>
  Buffer.concat([Buffer.from(JSON.stringify(schema)), Buffer.from([0]), Buffer.from(JSON.stringify(instance))]);
const schemas = {
  'whoami': [{ type: 'object', properties: { userId: { type: 'string' }, organizationId: { type: ['string', 'null'] },
    scopes: { type: 'array', items: { type: 'string' } }, expiresAt: { type: 'integer' } },
    required: ['userId', 'organizationId', 'scopes', 'expiresAt'] },
    { userId: 'u', organizationId: null, scopes: ['a'], expiresAt: 1.0 }],
  'note-create': [{ type: 'object', additionalProperties: false, required: ['title', 'body'],
    properties: { title: { type: 'string', minLength: 1, maxLength: 200 }, body: { type: 'string', maxLength: 65536 },
      tags: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9-]+$' }, uniqueItems: true, maxItems: 16 },
      pinned: { type: 'boolean' } } },
    { title: 'Plan', body: 'x', tags: ['a', 'a'] }],
  'numbers': [{ type: 'number', minimum: 0, exclusiveMaximum: 100, multipleOf: 0.1 }, 0.3],
  'draft04': [{ type: 'integer', minimum: 1, exclusiveMinimum: true, maximum: 9007199254740993 }, 9007199254740992],
  'tuple-draft07': [{ type: 'array', items: [{ type: 'string' }, { type: 'integer' }], additionalItems: false,
    minItems: 1 }, ['a', 1, null]],
  'prefix-items': [{ prefixItems: [{ const: 1 }, { enum: ['a', null, { x: [1] }] }], items: { type: 'null' } }, [1, { x: [1] }, null]],
  'recursive-ref': [{ $defs: { node: { type: 'object', properties: { value: { type: 'integer' },
    children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['value'] } }, $ref: '#/$defs/node' },
    { value: 1, children: [{ value: 2, children: [{ value: 'x' }] }] }],
  'self-ref': [{ anyOf: [{ type: 'string' }, { type: 'array', items: { $ref: '#' } }] }, [[['a']], [[[[1]]]]]],
  'combinators': [{ allOf: [{ type: 'object' }], oneOf: [{ required: ['a'] }, { required: ['b'] }],
    not: { required: ['c'] }, if: { properties: { a: { const: 1 } } }, then: { minProperties: 2 },
    else: { maxProperties: 1 } }, { a: 1, b: 2 }],
  'pattern-props': [{ type: 'object', patternProperties: { '^x-': { type: 'string' }, '[0-9]{2,}': false },
    additionalProperties: { type: 'integer' }, propertyNames: { maxLength: 3 } }, { 'x-a': 's', n: 1, a12: 0, 'ctl\u0001': 2 }],
  'definitions-escapes': [{ definitions: { 'a/b': { type: 'string' }, 'c~d': { minLength: 2 }, 'e%25f': true },
    properties: { p: { $ref: '#/definitions/a~1b' }, q: { $ref: '#/definitions/c~0d' }, r: { $ref: '#/definitions/e%2525f' } } },
    { p: 1, q: 'x' }],
  'bool-schemas': [{ properties: { yes: true, no: false }, items: false }, { yes: 1, no: 2 }],
  'strings-utf8': [{ type: 'string', minLength: 2, maxLength: 3, pattern: '^(h|日)' }, 'h\u00e9\u00e9'],
};
for (const [name, [s, i]] of Object.entries(schemas)) put('fuzz_schema', name, schemaSeed(s, i));
put('fuzz_schema', 'schema-only', JSON.stringify({ type: 'object', properties: { type: { enum: ['object'] } } }));

// ---------------------------------------------------------------- fuzz_header
const headers = {
  plain: 'tools/call', spaced: '  2026-07-28\t', encoded: '=?base64?SGVsbG8sIOS4lueVjA==?=',
  'encoded-nul': '=?base64?YQBi?=', 'encoded-bad': '=?base64?SGVsbG8?=', ctl: 'a\u0001b',
  utf8: 'h\u00e9', b64url: 'eyJhbGciOiJFUzI1NiJ9', padded: 'YWJjZA==', empty: '',
};
for (const [name, v] of Object.entries(headers)) put('fuzz_header', name, v);
console.log('seeds written under', join(here, 'corpus'));
