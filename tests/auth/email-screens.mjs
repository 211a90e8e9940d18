// Screenshots of the email sign-in pages in Debian's Chromium (playwright-core): the
// method choice, "Check your email", a wrong code, the link's confirm page and the link
// opened in another browser, at 390 and 1280 px, into tests/out/screens/. The mail goes
// to the outbox. Ends with "N passed, M failed".
//   node tests/auth/email-screens.mjs [BUILD_DIR]
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const build = resolve(root, process.argv[2] || 'build');
const shots = join(root, 'tests/out/screens');
let pass = 0, fail = 0;
const ok = (name, cond) => { if (cond) { pass++; console.log(`ok - ${name}`); } else { fail++; console.log(`not ok - ${name}`); } };
const playwright = createRequire(join(root, 'tests/browser/package.json'))('playwright-core');
const port = await new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const work = mkdtempSync(join(tmpdir(), 'tn-email-shots-'));
const data = join(work, 'data');
const base = `http://127.0.0.1:${port}`;
spawnSync(join(build, 'teamnotes'), ['user', 'add', 'dana@example.com', '--role', 'editor', '--password-stdin', '--data-dir', data],
  { input: 'dana-password-1\n' });
const server = spawn(join(build, 'teamnotes'), ['serve', '--port', String(port), '--data-dir', data],
  { env: { ...process.env, SIGNIN_METHODS: 'password,email' }, stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise((res) => { let t = ''; server.stderr.on('data', (d) => { t += d; if (t.includes('ready')) res(); }); server.stdout.on('data', (d) => { t += d; if (t.includes('ready')) res(); }); });
const reg = await (await fetch(`${base}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ client_name: 'Screens', redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) })).json();
const ch = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
const authz = `${base}/authorize?response_type=code&client_id=${encodeURIComponent(reg.client_id)}` +
  `&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/cb')}&state=s&code_challenge=${ch}&code_challenge_method=S256`;
mkdirSync(shots, { recursive: true });
const browser = await playwright.chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const snap = async (p, name) => {
    for (const [label, size] of [['1280', { width: 1280, height: 800 }], ['390', { width: 390, height: 844 }]]) {
      await p.setViewportSize(size);
      await p.screenshot({ path: join(shots, `email-${name}-${label}.png`), fullPage: true });
    }
    await p.setViewportSize({ width: 1280, height: 800 });
  };
  await page.goto(authz);
  ok('sign-in page has both methods', await page.locator('form[action="/authorize/email"]').count() === 1);
  await snap(page, 'choose');
  await page.fill('#signin-email', 'dana@example.com');
  await page.click('text=Email me a sign-in code');
  await page.waitForSelector('h1:has-text("Check your email")');
  ok('check your email', true);
  await snap(page, 'sent');
  await page.fill('#code', '000000');
  await page.click('button[type=submit]');
  await page.waitForSelector('.note.error');
  await snap(page, 'wrong-code');
  const eml = readdirSync(join(data, 'outbox')).filter((f) => f.endsWith('.eml'));
  ok('one message in the outbox', eml.length === 1);
  const raw = readFileSync(join(data, 'outbox', eml[0]), 'latin1').replace(/=\r\n/g, '').replace(/=3D/g, '=');
  const link = raw.match(/http:\/\/[^\s"<]*\/signin\/email\?id=[A-Za-z0-9_-]+&t=[A-Za-z0-9_-]+/)[0];
  await page.goto(link);
  ok('confirm page', await page.locator('form[action="/signin/email"]').count() === 1);
  await snap(page, 'link-confirm');
  const other = await (await browser.newContext()).newPage();
  await other.goto(link);
  ok('other browser: use the code', (await other.content()).includes('Enter the code from the email'));
  await snap(other, 'link-other-browser');
} catch (e) {
  fail++; console.log(`not ok - ${e.message}`);
} finally {
  await browser.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
