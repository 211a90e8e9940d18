// Test-only external OIDC provider for teamnotes' external-AS mode (docs: interop-testing §6).
// oidc-provider 9.13.3 as a real issuer on loopback: RFC 8707 resource indicators giving RS256
// RFC 9068 JWT access tokens (typ at+jwt, aud = the MCP URL) with `permissions` and `org_id`
// claims, fixed users and clients, open DCR, mandatory PKCE, curl-friendly login/consent forms.
//
//   node idp.mjs            prints "idp ready http://127.0.0.1:PORT" once listening
// Environment:
//   IDP_PORT=9400           listener and issuer port (issuer http://127.0.0.1:PORT)
//   IDP_KEYS=FILE           JWKS file holding the RSA-2048 signing key, created on first start
//                           (default: idp-keys.json next to this script); delete it to rotate
//   IDP_RESOURCES=URL[=TTL],...  resource indicators and access-token TTLs in seconds; the first
//                           one is the default resource (default
//                           http://127.0.0.1:8080/mcp=3600,http://127.0.0.1:8081/mcp=600)
//   IDP_SHORT_TTL_RESOURCE=URL IDP_SHORT_TTL=5   TTL override for one resource (added if unlisted)
//   IDP_SCOPE="notes:read notes:write"           scope of every resource
//   IDP_CONFIG=FILE         optional JSON {"users":[...],"clients":[...]} replacing the defaults;
//                           a user may carry email, email_verified and groups (ID token claims
//                           with the scopes email and groups) and, for relying-party tests,
//                           id_token_tamper: "forge" (the ID token signed by another key under
//                           the real kid) or "nonce" (its nonce changed, re-signed with the real
//                           key) (tests/auth/sso.sh)
//   IDP_DCR_TOKEN=STRING    require this initial access token for DCR (default: open DCR)
//   IDP_DEBUG=1             log every request and provider error to stderr
// A user in IDP_CONFIG may carry "forge": the token endpoint then hands out a forged ID token
// for that user (tests of a relying party's checks, tests/auth/social.sh): "alg_none" (unsigned,
// alg none), "wrong_key" (RS256 with a key not in the JWKS, the real kid), "nonce" (validly
// signed, another nonce).
import { createServer } from 'node:http';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider, { errors } from 'oidc-provider';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const port = Number(env.IDP_PORT || 9400);
const issuer = `http://127.0.0.1:${port}`;
const keysFile = env.IDP_KEYS ? resolve(env.IDP_KEYS) : resolve(here, 'idp-keys.json');
const scope = env.IDP_SCOPE || 'notes:read notes:write';
const debug = !!env.IDP_DEBUG;
const die = (msg) => { console.error(`idp: ${msg}`); process.exit(1); };

// ---- configuration: users, clients, resources -------------------------------------------------
let config = {
  users: [
    { username: 'alice', password: 'alice-pass', sub: 'user_alice', org_id: 'org_acme',
      permissions: ['notes:read', 'notes:write'], name: 'Alice',
      email: 'alice@acme.example', email_verified: true, groups: ['notes-admins', 'staff'] },
    { username: 'bob', password: 'bob-pass', sub: 'user_bob', org_id: 'org_acme',
      permissions: [], name: 'Bob', email: 'bob@acme.example', email_verified: false },
    // email_verified as the string "true": a relying party must not read it as verified
    { username: 'carol', password: 'carol-pass', sub: 'user_carol', org_id: 'org_globex',
      permissions: ['notes:read'], name: 'Carol', email: 'carol@globex.example',
      email_verified: 'true' },
  ],
  clients: [
    { client_id: 'mcp-test-public', token_endpoint_auth_method: 'none', application_type: 'native',
      redirect_uris: ['http://127.0.0.1:9999/callback'],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
    // A pre-registered public client without refresh tokens: on a 403 the MCP SDK then
    // re-authorizes with the challenge's scope (step-up) rather than refreshing.
    { client_id: 'mcp-test-stepup', token_endpoint_auth_method: 'none', application_type: 'native',
      redirect_uris: ['http://127.0.0.1:9999/callback'],
      grant_types: ['authorization_code'], response_types: ['code'] },
    { client_id: 'mcp-test-confidential', client_secret: 'confidential-secret',
      token_endpoint_auth_method: 'client_secret_basic', application_type: 'web',
      redirect_uris: ['http://127.0.0.1:9999/callback'],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
    { client_id: 'mcp-test-m2m', client_secret: 'm2m-secret',
      token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'],
      response_types: [], redirect_uris: [],
      claims: { permissions: ['notes:read'], org_id: 'org_acme' } },
    // teamnotes as a relying party (tests/auth/upstream.sh): a confidential web client whose
    // id and secret need form-urlencoding in client_secret_basic (RFC 6749 §2.3.1)
    { client_id: 'teamnotes-rp', client_secret: 'rp secret:with/special+chars%&=',
      token_endpoint_auth_method: 'client_secret_basic', application_type: 'web',
      redirect_uris: ['http://127.0.0.1:9999/oidc/callback'],
      grant_types: ['authorization_code'], response_types: ['code'] },
  ],
};
if (env.IDP_CONFIG) {
  try { config = { ...config, ...JSON.parse(readFileSync(env.IDP_CONFIG, 'utf8')) }; }
  catch (e) { die(`cannot read IDP_CONFIG ${env.IDP_CONFIG}: ${e.message}`); }
}
// IDP_RP_REDIRECT_URIS: extra redirect URIs (comma-separated) for the confidential client
// teamnotes-rp, e.g. a teamnotes under test's BASE_URL/signin/oidc/callback (tests/auth/social.sh).
if (env.IDP_RP_REDIRECT_URIS) {
  const rp = config.clients.find((c) => c.client_id === 'teamnotes-rp');
  if (rp) rp.redirect_uris = [...rp.redirect_uris, ...env.IDP_RP_REDIRECT_URIS.split(',').filter(Boolean)];
}
const usersByName = new Map(config.users.map((u) => [u.username, u]));
const usersBySub = new Map(config.users.map((u) => [u.sub, u]));
// Token claims per client (client_credentials tokens), kept out of the registered metadata.
const clientClaims = new Map(config.clients.map((c) => [c.client_id, c.claims || {}]));
const clients = config.clients.map(({ claims, ...metadata }) => metadata);

const resources = new Map(); // indicator -> access-token TTL (s); insertion order, first = default
for (const entry of (env.IDP_RESOURCES
  || 'http://127.0.0.1:8080/mcp=3600,http://127.0.0.1:8081/mcp=600').split(',')) {
  const item = entry.trim();
  if (!item) continue;
  const m = /^(.*)=(\d+)$/.exec(item);
  resources.set(m ? m[1] : item, m ? Number(m[2]) : 3600);
}
if (env.IDP_SHORT_TTL_RESOURCE) resources.set(env.IDP_SHORT_TTL_RESOURCE, Number(env.IDP_SHORT_TTL || 5));
if (!resources.size) die('IDP_RESOURCES lists no resource');
const defaultResourceUrl = resources.keys().next().value;

// ---- signing key: RSA-2048 in a JWKS file, kid = RFC 7638 thumbprint ---------------------------
function loadOrCreateKeys() {
  try {
    const jwks = JSON.parse(readFileSync(keysFile, 'utf8'));
    if (!Array.isArray(jwks.keys) || !jwks.keys.length) throw new Error('no "keys" array');
    return jwks;
  } catch (e) {
    if (e.code !== 'ENOENT') die(`bad key file ${keysFile}: ${e.message}`);
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const thumbprintInput = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }); // RFC 7638 order
  const kid = createHash('sha256').update(thumbprintInput).digest('base64url');
  const jwks = { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] };
  const tmp = `${keysFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, keysFile);
  console.error(`idp: new signing key ${kid} written to ${keysFile}`);
  return jwks;
}

// ---- forged ID tokens (the "forge" of a user) -------------------------------------------------
const signingJwks = loadOrCreateKeys();
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function forge(idToken, mode) {
  const [h, p] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  if (mode === 'alg_none') return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
  let key;
  if (mode === 'wrong_key') {
    key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  } else if (mode === 'nonce') {
    payload.nonce = randomBytes(32).toString('base64url');
    key = createPrivateKey({ key: signingJwks.keys[0], format: 'jwk' });
  } else {
    return idToken;
  }
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

// ---- provider ---------------------------------------------------------------------------------
const accessTokenTTL = (ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600;
const jwks = signingJwks;
const provider = new Provider(issuer, {
  clients,
  jwks: signingJwks,
  cookies: { keys: [randomBytes(32).toString('base64url')] }, // sessions are in memory anyway
  // The resource scopes too: clients (the MCP SDK among them) send them in DCR requests.
  scopes: ['openid', 'offline_access', ...scope.split(' ')],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'], groups: ['groups'] },
  responseTypes: ['code'], // OAuth 2.1: no implicit/hybrid
  pkce: { required: () => true }, // S256 is the only method allowed by default
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: env.IDP_DCR_TOKEN || false },
    registrationManagement: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf || defaultResourceUrl,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (!resources.has(indicator)) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return { scope, audience: indicator, accessTokenTTL: resources.get(indicator),
          accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  // A numeric TTL would override the per-resource ones (pitfall 4): keep these functions.
  ttl: {
    AccessToken: accessTokenTTL, ClientCredentials: accessTokenTTL, AuthorizationCode: 60,
    IdToken: 3600, RefreshToken: 14 * 86400, Interaction: 3600, Session: 14 * 86400,
    Grant: 14 * 86400,
  },
  // Refresh tokens whenever the client may use the grant, offline_access or not (pitfall 6).
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  findAccount: (ctx, sub) => {
    const user = usersBySub.get(sub);
    return user && {
      accountId: sub,
      claims: () => ({ sub, name: user.name, preferred_username: user.username,
        org_id: user.org_id, permissions: user.permissions, email: user.email,
        email_verified: user.email_verified, groups: user.groups }),
    };
  },
  extraTokenClaims: (ctx, token) => {
    if (token.kind === 'ClientCredentials') return { ...clientClaims.get(token.clientId) };
    const user = usersBySub.get(token.accountId);
    if (!user) return undefined;
    return { permissions: user.permissions, org_id: user.org_id,
      ...(user.roles ? { roles: user.roles } : {}), ...(user.extraClaims || {}) };
  },
  renderError: (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<p class="error">error: ${esc(out.error)}</p>
<p class="error_description">error_description: ${esc(out.error_description || '')}</p>`);
  },
});
if (debug) provider.on('server_error', (ctx, e) => console.error('idp: server_error', e));

// ---- curl-friendly interaction pages ----------------------------------------------------------
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>
`;
const loginForm = (uid, client, error) => page('Sign in', `${error ? `<p class="error">${esc(error)}</p>\n` : ''}\
<p>Client: ${esc(client)}</p>
<form method="post" action="/interaction/${uid}/login">
<input name="username" autofocus> <input name="password" type="password">
<button type="submit">Sign in</button>
</form>
<p><a href="/interaction/${uid}/abort">Cancel</a></p>`);
const consentForm = (uid, client, details) => page('Authorize', `<p>Client: ${esc(client)}</p>
<pre>${esc(JSON.stringify(details))}</pre>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`);

async function readForm(req) {
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 65536) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(raw));
}

async function finish(ctx, result, merge = true) {
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
  ctx.redirect(to);
  ctx.status = 303;
}

async function interaction(ctx, uid, action) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) throw new errors.InvalidRequest('interaction mismatch');
  const { prompt, params } = details;
  if (action === 'abort') {
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  }
  if (!action) {
    ctx.type = 'html';
    ctx.body = prompt.name === 'login'
      ? loginForm(uid, params.client_id) : consentForm(uid, params.client_id, prompt.details);
    return undefined;
  }
  if (ctx.method !== 'POST') throw new errors.InvalidRequest('use POST');
  if (action === 'login') {
    if (prompt.name !== 'login') throw new errors.InvalidRequest('login not expected here');
    const form = await readForm(ctx.req);
    const user = usersByName.get(form.username || '');
    if (!user || user.password !== form.password) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginForm(uid, params.client_id, 'invalid username or password');
      return undefined;
    }
    return finish(ctx, { login: { accountId: user.sub } });
  }
  if (action === 'confirm') {
    if (prompt.name !== 'consent') throw new errors.InvalidRequest('consent not expected here');
    const { accountId } = details.session;
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return finish(ctx, { consent: details.grantId ? {} : { grantId } });
  }
  throw new errors.InvalidRequest(`unknown interaction action ${action}`);
}

// ---- ID tokens tampered with on purpose (id_token_tamper), for relying-party refusal tests ----
let forgeKey; // an attacker's key, made on first use
function tamper(idToken) {
  const [h, p] = idToken.split('.');
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const how = usersBySub.get(payload.sub)?.id_token_tamper;
  if (!how) return idToken;
  let key = createPrivateKey({ key: jwks.keys[0], format: 'jwk' });
  if (how === 'nonce') payload.nonce = `${payload.nonce || ''}-not-yours`;
  else if (how === 'forge') {
    forgeKey ||= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    key = forgeKey;
  } else die(`unknown id_token_tamper ${how}`);
  const np = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const sig = sign('sha256', Buffer.from(`${h}.${np}`), key).toString('base64url');
  return `${h}.${np}.${sig}`;
}

provider.use(async (ctx, next) => {
  const started = Date.now();
  const m = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?\/?$/.exec(ctx.path);
  try {
    if (m) {
      await interaction(ctx, m[1], m[2]);
    } else if (ctx.path === '/.well-known/oauth-authorization-server') {
      ctx.path = '/.well-known/openid-configuration'; // RFC 8414 alias of the OIDC document
      await next();
      ctx.path = '/.well-known/oauth-authorization-server';
    } else {
      await next();
    }
  } catch (e) {
    ctx.status = e.statusCode || e.status || 500;
    ctx.type = 'html';
    ctx.body = page('Error', `<p class="error">error: ${esc(e.error || 'server_error')}</p>
<p class="error_description">error_description: ${esc(e.error_description || e.message)}</p>`);
    if (debug || ctx.status >= 500) console.error('idp: interaction error', e);
  }
  if (ctx.path === '/token' && typeof ctx.body?.id_token === 'string') {
    const sub = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[1], 'base64url').toString()).sub;
    const mode = usersBySub.get(sub)?.forge;
    ctx.body = { ...ctx.body, id_token: mode ? forge(ctx.body.id_token, mode) : tamper(ctx.body.id_token) };
  }
  if (ctx.body?.issuer === issuer && Array.isArray(ctx.body.scopes_supported)) { // discovery
    ctx.body.scopes_supported = [...new Set([...ctx.body.scopes_supported, ...scope.split(' ')])];
  }
  if (debug) console.error(`idp: ${ctx.method} ${ctx.url} -> ${ctx.status} ${Date.now() - started}ms`);
});

// ---- listener ---------------------------------------------------------------------------------
const server = createServer(provider.callback());
server.on('error', (e) => die(`cannot listen on 127.0.0.1:${port}: ${e.message}`));
server.listen(port, '127.0.0.1', () => {
  console.log(`idp ready ${issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
