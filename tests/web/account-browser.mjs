// /account in Debian's Chromium (playwright-core): the page's sign-in, two connected
// apps (one on this computer with a hostile name, one on the web), revoking one, a
// refused password change and signing out everywhere, each at 390 and 1280 px into
// tests/out/screens/account-*-{phone,laptop}.png, and axe-core run in every state: no
// violation at the serious or critical level. Ends with "N passed, M failed".
//   node tests/web/account-browser.mjs [BUILD_DIR]
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const build = resolve(root, process.argv[2] || 'build');
const shots = join(root, 'tests/out/screens');
let pass = 0, fail = 0;
const ok = (name, cond, more = '') => {
  if (cond) { pass++; console.log(`ok - ${name}`); } else { fail++; console.log(`not ok - ${name} ${more}`); }
};
const req = createRequire(join(root, 'tests/browser/package.json'));
const playwright = req('playwright-core');
const axeSource = readFileSync(req.resolve('axe-core/axe.min.js'), 'utf8');
const port = await new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const work = mkdtempSync(join(tmpdir(), 'tn-account-shots-'));
const data = join(work, 'data');
const base = `http://127.0.0.1:${port}`;
spawnSync(join(build, 'teamnotes'), ['user', 'add', 'ann@example.com', '--name', 'Ann Example', '--role', 'editor',
  '--password-stdin', '--data-dir', data], { input: 'ann-password-123\n' });
const server = spawn(join(build, 'teamnotes'), ['serve', '--port', String(port), '--data-dir', data],
  { env: { ...process.env, BASE_URL: base, SIGNIN_METHODS: 'password' }, stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise((res) => { let t = ''; const on = (d) => { t += d; if (t.includes('ready')) res(); }; server.stderr.on('data', on); server.stdout.on('data', on); });

const register = async (name, redirect) => (await (await fetch(`${base}/register`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ client_name: name, redirect_uris: [redirect], token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'] }) })).json()).client_id;
const apps = [
  { name: 'Claude Code <img src=x onerror=alert(1)>', redirect: 'http://127.0.0.1:9/cb' },
  { name: 'Notes Web', redirect: 'https://notes-app.example/cb' },
];
for (const a of apps) a.id = await register(a.name, a.redirect);

mkdirSync(shots, { recursive: true });
const browser = await playwright.chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
try {
  // bypassCSP lets the test inject axe-core; the server's CSP is checked by account.sh
  const ctx = await browser.newContext({ bypassCSP: true });
  // the apps' redirect URIs answer here, so a consent ends on a page, not an error
  const codes = [];
  await ctx.route(/^(http:\/\/127\.0\.0\.1:9|https:\/\/notes-app\.example)\/cb/, (route) => {
    codes.push(new URL(route.request().url()).searchParams.get('code'));
    route.fulfill({ status: 200, contentType: 'text/plain', body: 'back in the app' });
  });
  const page = await ctx.newPage();
  const snap = async (name) => {
    for (const [label, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(size);
      await page.screenshot({ path: join(shots, `account-${name}-${label}.png`), fullPage: true });
      // nothing wider than the screen: usable at 390 px without sideways scrolling
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      ok(`${name} at ${size.width} px: no horizontal scrolling`, wide <= size.width, `(${wide})`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  const axe = async (name) => {
    await page.addScriptTag({ content: axeSource });
    const r = await page.evaluate(async () => {
      const res = await window.axe.run(document, { resultTypes: ['violations'] });
      return res.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length }));
    });
    const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    ok(`${name}: axe-core, no serious or critical violations`, bad.length === 0, JSON.stringify(bad));
    if (r.length) console.log(`# ${name}: minor axe findings ${JSON.stringify(r)}`);
  };

  // the page's own sign-in
  const resp = await page.goto(`${base}/account`);
  ok('no session: /account shows the sign-in page', page.url() === `${base}/account/signin` && resp.status() === 200);
  await axe('sign-in');
  await snap('signin');
  await page.fill('#email', 'ann@example.com');
  await page.fill('#password', 'ann-password-123');
  await page.click('button:has-text("Sign in")');
  await page.waitForURL(`${base}/account`);
  ok('signed in: back on /account', (await page.locator('h1').textContent()) === 'Your account');

  // two apps allowed in this browser (already signed in: consent only)
  for (const a of apps) {
    const ch = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    await page.goto(`${base}/authorize?response_type=code&client_id=${encodeURIComponent(a.id)}` +
      `&redirect_uri=${encodeURIComponent(a.redirect)}&state=s&code_challenge=${ch}&code_challenge_method=S256`);
    await page.click('button[value=allow]');
    await page.waitForSelector('text=back in the app');
  }
  ok('both apps got a code', codes.length === 2 && codes.every(Boolean));
  await page.goto(`${base}/account`);
  ok('both apps listed', await page.locator('ul.apps > li').count() === 2);
  ok('the hostile name is text, not markup', await page.locator('img').count() === 0 &&
    await page.locator('ul.apps strong', { hasText: '<img src=x onerror=alert(1)>' }).count() === 1);
  ok('where each runs', await page.locator('text=Runs on your computer').count() === 1 &&
    await page.locator('text=notes-app.example').count() === 1);
  await axe('account');
  await snap('page');

  // revoke the web app
  await page.click('li:has-text("Notes Web") button:has-text("Revoke")');
  await page.waitForURL(`${base}/account?done=revoked`);
  ok('revoked: the notice, one app left', await page.locator('.note.ok').count() === 1 &&
    await page.locator('ul.apps > li').count() === 1);
  await axe('revoked');
  await snap('revoked');

  // a refused password change
  await page.fill('#current', 'not-my-password');
  await page.fill('#password', 'a-new-password-1');
  await page.fill('#password2', 'a-new-password-1');
  await page.click('button:has-text("Change password")');
  await page.waitForSelector('#pw ~ .note.error, section .note.error');
  ok('wrong current password: the message', (await page.locator('.note.error').textContent()) === 'Your current password is not right.');
  await axe('password-error');
  await snap('password-error');

  // sign out everywhere
  await page.goto(`${base}/account`);
  await page.click('button:has-text("Sign out everywhere")');
  await page.waitForSelector('h1:has-text("Signed out everywhere")');
  await axe('signed-out');
  await snap('signed-out');
  await page.goto(`${base}/account`);
  ok('signed out: /account asks to sign in again', page.url() === `${base}/account/signin`);
} finally {
  await browser.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
