// Screenshots of the invitation pages in Debian's Chromium (playwright-core): the
// invitation with both ways to accept, a password error, "You're in", the one page of an
// unknown/used/expired link, and the email-code path ("Check your email", then "You're
// in"), at phone (390 px) and laptop (1280 px) width, into tests/out/screens/invite-*.
// Mail goes to the outbox; each step is checked, not only pictured.
// Ends with "N passed, M failed".
//   node tests/auth/invite-screens.mjs [BUILD_DIR]
import { spawn, spawnSync } from 'node:child_process';
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
const ok = (name, cond) => { if (cond) { pass++; console.log(`ok - ${name}`); } else { fail++; console.log(`not ok - ${name}`); } };
const playwright = createRequire(join(root, 'tests/browser/package.json'))('playwright-core');
const port = await new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const work = mkdtempSync(join(tmpdir(), 'tn-invite-shots-'));
const data = join(work, 'data');
const base = `http://127.0.0.1:${port}`;
const tn = join(build, 'teamnotes');
const env = { ...process.env, BASE_URL: base };
delete env.SMTP_URL; delete env.DATABASE_URL;
spawnSync(tn, ['user', 'add', 'ada@example.com', '--name', 'Ada Lovelace', '--role', 'admin', '--password-stdin', '--data-dir', data],
  { input: 'ada-password-1\n', env });
spawnSync(tn, ['org', 'add', 'Acme Research', '--data-dir', data], { env });
const invite = (email, role) => {
  const r = spawnSync(tn, ['user', 'invite', email, '--role', role, '--org', 'Acme Research', '--by', 'ada@example.com', '--data-dir', data],
    { env, encoding: 'utf8' });
  const m = r.stdout.match(/http:\/\/\S+\/invite\?t=[A-Za-z0-9_-]+/);
  return m ? m[0] : '';
};
const server = spawn(tn, ['serve', '--port', String(port), '--data-dir', data],
  { env: { ...env, SIGNIN_METHODS: 'password,email' }, stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise((res) => { let t = ''; const on = (d) => { t += d; if (t.includes('ready')) res(); }; server.stderr.on('data', on); server.stdout.on('data', on); });
mkdirSync(shots, { recursive: true });
const browser = await playwright.chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
try {
  const snap = async (p, name) => {
    for (const [label, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await p.setViewportSize(size);
      await p.screenshot({ path: join(shots, `invite-${name}-${label}.png`), fullPage: true });
    }
    await p.setViewportSize({ width: 1280, height: 800 });
  };
  const bob = invite('bob@example.com', 'editor');
  ok('bob invited', bob !== '');
  const page = await (await browser.newContext()).newPage();
  await page.goto(bob);
  ok('invitation page', (await page.textContent('h1')) === 'You are invited to teamnotes');
  ok('both ways to accept', await page.locator('form[action="/invite"]').count() === 1 &&
    await page.locator('form[action="/invite/email"]').count() === 1);
  await snap(page, 'page');
  await page.fill('#name', 'Bob Builder');
  await page.fill('#password', 'bob-password-1');
  await page.fill('#password2', 'bob-password-2');
  await page.click('text=Create account');
  await page.waitForSelector('.note.error');
  ok('passwords differ', (await page.textContent('.note.error')) === 'The two passwords differ.');
  await snap(page, 'error');
  await page.fill('#password', 'bob-password-1');
  await page.fill('#password2', 'bob-password-1');
  await page.click('text=Create account');
  await page.waitForSelector('h1:has-text("in")');
  ok("you're in", (await page.textContent('h1')) === 'You’re in' && (await page.textContent('code')) === `${base}/mcp`);
  await snap(page, 'done');
  await page.goto(bob);
  ok('used link: the one page', (await page.textContent('h1')) === 'This invitation does not work');
  await snap(page, 'invalid');

  const cat = invite('cat@example.com', 'viewer');
  const p2 = await (await browser.newContext()).newPage();
  await p2.goto(cat);
  await p2.click('text=Email me a sign-in code');
  await p2.waitForSelector('h1:has-text("Check your email")');
  ok('check your email', true);
  await snap(p2, 'code-sent');
  const out = spawnSync('sh', ['-c', `ls -t "${join(data, 'outbox')}"/*.eml | head -1`], { encoding: 'utf8' }).stdout.trim();
  const raw = readFileSync(out, 'latin1');
  const code = raw.match(/\n {4}(\d{6})\r?\n/)[1];
  await p2.fill('#code', code);
  await p2.click('button[type=submit]');
  await p2.waitForSelector('h1:has-text("in")');
  ok("you're in by email code", (await p2.textContent('h1')) === 'You’re in' && (await p2.content()).includes('cat@example.com'));
  await snap(p2, 'done-email');
} catch (e) {
  fail++; console.log(`not ok - ${e.message}`);
} finally {
  await browser.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
