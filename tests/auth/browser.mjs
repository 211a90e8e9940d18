// The built-in authorization server in a real browser: Debian's Chromium, driven by
// playwright-core (tests/browser), signs in on /authorize, allows on the consent page and
// lands on the client's redirect URI with code, state and iss; the code is exchanged with
// fetch and the token calls whoami on /mcp. Screenshots of both pages at phone and laptop
// sizes go to tests/out/screenshots/. Ends with "N passed, M failed".
//   node tests/auth/browser.mjs [BUILD_DIR]      (Node >= 20; run-as.sh uses the pinned 22)
//   CHROMIUM=/path/to/chromium                   (default /usr/bin/chromium)
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const build = resolve(root, process.argv[2] || 'build');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = join(root, 'tests/out/screenshots');

let pass = 0, fail = 0;
const check = (name, expected, actual) => {
  const e = JSON.stringify(expected), a = JSON.stringify(actual);
  if (e === a) { pass++; console.log(`ok - ${name}`); }
  else { fail++; console.log(`not ok - ${name}: expected ${e}, got ${a}`); }
};
const ok = (name, cond, detail = '') => {
  if (cond) { pass++; console.log(`ok - ${name}`); }
  else { fail++; console.log(`not ok - ${name}${detail ? `: ${detail}` : ''}`); }
};
const finish = (code) => { console.log(`${pass} passed, ${fail} failed`); process.exit(code ?? (fail ? 1 : 0)); };

const freePort = () => new Promise((res, rej) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  s.on('error', rej);
});

let playwright;
try {
  playwright = createRequire(join(root, 'tests/browser/package.json'))('playwright-core');
} catch (e) {
  console.log(`not ok - playwright-core not installed (cd tests/browser && npm ci): ${e.message}`);
  fail++; finish(2);
}
if (!existsSync(chromiumPath)) {
  console.log(`not ok - ${chromiumPath} missing (apt-get install -y chromium)`);
  fail++; finish(2);
}

const work = mkdtempSync(join(tmpdir(), 'tn-browser-'));
const data = join(work, 'data');
const email = 'carol@example.com', password = 'carol-password-1';
let server, context;
const cleanup = async () => {
  try { await context?.close(); } catch { /* already gone */ }
  server?.kill();
  rmSync(work, { recursive: true, force: true });
};

try {
  // ---- the server, with one user
  const add = spawnSync(join(build, 'teamnotes'),
    ['user', 'add', email, '--role', 'editor', '--password-stdin', '--data-dir', data],
    { input: `${password}\n`, encoding: 'utf8' });
  check('user added', 0, add.status);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  server = spawn(join(build, 'teamnotes'), ['serve', '--port', String(port), '--data-dir', data],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`server not ready:\n${log}`)), 10000);
    const on = (b) => { log += b; if (/\bready\b/.test(log)) { clearTimeout(t); res(); } };
    server.stdout.on('data', on); server.stderr.on('data', on);
    server.on('exit', (c) => { clearTimeout(t); rej(new Error(`server exited ${c}:\n${log}`)); });
  });

  // ---- a client registered by DCR; nothing listens on its redirect port
  const cbPort = await freePort();
  const redirectUri = `http://127.0.0.1:${cbPort}/oauth/callback`;
  let r = await fetch(`${base}/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Browser Test Client', redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] }),
  });
  const reg = await r.json();
  check('DCR: 201', 201, r.status);
  const clientId = reg.client_id;

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = `st-${randomBytes(9).toString('base64url')}`;
  const mcp = `${base}/mcp`;
  const authorizeUrl = `${base}/authorize?` + new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state,
    code_challenge: challenge, code_challenge_method: 'S256', scope: 'notes:read notes:write', resource: mcp,
  });

  // ---- the browser
  const profile = join(work, 'profile');
  context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  const page = context.pages()[0] || await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.setDefaultTimeout(10000);
  // The redirect back to the client is the browser following the server's 303: nothing
  // listens on that port (the page becomes Chromium's error page), so the navigation
  // request itself is what is asserted. page.route would not see it: Playwright does not
  // route requests that a redirect started.
  const callbackHits = [];
  page.on('request', (q) => { if (q.url().startsWith(redirectUri)) callbackHits.push(q.url()); });
  // A form POST answered by something other than a page of ours ends the flow here.
  const formAnswered = async (res, what) => {
    const ct = res.headers()['content-type'] || '';
    if (!ct.startsWith('text/html')) {
      const sent = await res.request().allHeaders();
      throw new Error(`${what}: the server answered ${res.status()} ${ct} to the browser's POST ` +
        `(Origin: ${sent.origin}, Referer: ${sent.referer ?? '(none)'}): ${(await res.text()).slice(0, 300)}`);
    }
  };

  mkdirSync(shots, { recursive: true });
  const snap = async (name) => {
    for (const [label, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(size);
      await page.screenshot({ path: join(shots, `${name}-${label}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  // styled = the page's inline style sheet applied (the CSP allows it by hash)
  const styled = () => page.evaluate(() => {
    const b = document.querySelector('button[type=submit]:not(.secondary)') || document.querySelector('button');
    const cs = b && getComputedStyle(b);
    return { sheets: document.styleSheets.length, rules: document.styleSheets[0]?.cssRules.length ?? 0,
      button: cs ? cs.backgroundColor : null, bodyFont: getComputedStyle(document.body).fontFamily };
  });

  const resp = await page.goto(authorizeUrl);
  check('sign-in page: 200', 200, resp.status());
  check('sign-in page: title', 'Sign in — teamnotes', await page.title());
  const h = resp.headers();
  ok('sign-in page: CSP frame-ancestors none', (h['content-security-policy'] || '').includes("frame-ancestors 'none'"), h['content-security-policy']);
  let st = await styled();
  check('sign-in page: styled (inline sheet applied, accent button)', { sheets: 1, button: 'rgb(15, 118, 110)' },
    { sheets: st.sheets, button: st.button });
  ok('sign-in page: the style sheet has rules', st.rules > 10, `rules=${st.rules}`);
  ok('sign-in page: shows the client name', (await page.textContent('body')).includes('Browser Test Client'));
  await snap('signin');

  // a wrong password first: the form comes back with the message
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', 'not-the-password');
  let nav = page.waitForNavigation();
  await page.click('button[type=submit]');
  const wrong = await nav;
  check('wrong password: 401 page', 401, wrong.status());
  await formAnswered(wrong, 'sign-in form');
  ok('wrong password: message shown', (await page.textContent('body')).includes('Wrong email or password.'));
  check('wrong password: email kept in the form', email, await page.inputValue('input[name=email]'));
  await snap('signin-error');

  await page.fill('input[name=password]', password);
  nav = page.waitForNavigation();
  await page.click('button[type=submit]');
  const consentResp = await nav;
  check('consent page: 200', 200, consentResp.status());
  await formAnswered(consentResp, 'sign-in form');
  check('consent page: title', 'Allow access — teamnotes', await page.title());
  ok('consent page: names the client', (await page.textContent('h1')).includes('Browser Test Client'));
  ok('consent page: signed in as', (await page.textContent('body')).includes(`Signed in as ${email}`));
  st = await styled();
  check('consent page: styled (Allow is the accent button)', { sheets: 1, button: 'rgb(15, 118, 110)' },
    { sheets: st.sheets, button: st.button });
  await snap('consent');
  const cookies = await context.cookies(base);
  const byName = Object.fromEntries(cookies.map((c) => [c.name, c]));
  check('cookies: tn_csrf and tn_session, HttpOnly', [true, true],
    [byName.tn_csrf?.httpOnly === true, byName.tn_session?.httpOnly === true]);
  check('cookies: SameSite', ['Strict', 'Lax'], [byName.tn_csrf?.sameSite, byName.tn_session?.sameSite]);

  const reqWait = page.waitForRequest((q) => q.url().startsWith(redirectUri), { timeout: 10000 });
  await page.click('button[value=allow]');
  const cbReq = await reqWait;
  await page.waitForLoadState('load').catch(() => {});
  const landed = new URL(cbReq.url());
  check('lands on the redirect URI', redirectUri, `${landed.origin}${landed.pathname}`);
  check('with state and iss', [state, base], [landed.searchParams.get('state'), landed.searchParams.get('iss')]);
  const code = landed.searchParams.get('code');
  ok('with a code', /^[A-Za-z0-9_-]{32,}$/.test(code || ''), code);
  check('no error', null, landed.searchParams.get('error'));
  check('the callback is the main frame navigation, redirected from the consent POST', [true, `${base}/authorize/consent`],
    [cbReq.isNavigationRequest() && cbReq.frame() === page.mainFrame(), cbReq.redirectedFrom()?.url()]);
  check('the callback was requested once', 1, callbackHits.length);
  const csp = consoleErrors.filter((m) => /Content Security Policy|Refused/.test(m));
  check('no CSP violations in the console', [], csp);

  // ---- exchange the code, call whoami
  r = await fetch(`${base}/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier,
      redirect_uri: redirectUri, client_id: clientId, resource: mcp }),
  });
  const tok = await r.json();
  check('token: 200', 200, r.status);
  check('token: no-store', 'no-store', r.headers.get('cache-control'));
  check('token: Bearer with a refresh token', ['Bearer', true], [tok.token_type, typeof tok.refresh_token === 'string']);
  r = await fetch(mcp, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      authorization: `Bearer ${tok.access_token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
  });
  const who = await r.json();
  check('whoami: 200', 200, r.status);
  const sc = who.result?.structuredContent || {};
  check('whoami: the client, the issuer, editor permissions', [clientId, base, ['notes:read', 'notes:write']],
    [sc.clientId, sc.issuer, sc.permissions]);

  // ---- a second authorization in the same browser: session and consent remembered
  callbackHits.length = 0;
  const again = page.waitForRequest((q) => q.url().startsWith(redirectUri), { timeout: 10000 });
  await page.goto(authorizeUrl.replace(state, `${state}-2`)).catch(() => {});
  const second = new URL((await again).url());
  check('again: straight back with a code (no forms)', [`${state}-2`, true],
    [second.searchParams.get('state'), !!second.searchParams.get('code')]);
} catch (e) {
  fail++;
  console.log(`not ok - browser flow: ${e.stack || e}`);
} finally {
  await cleanup();
}
finish();
