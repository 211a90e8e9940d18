// Screenshots of the SSO sign-in states in Debian's Chromium (playwright-core): the page
// with "Continue with SSO", the neutral answer for a domain without a connection, the
// require_sso refusal of a password, and an organization whose provider cannot be reached,
// at 390 and 1280 px, into tests/out/screens/sso-*.png. No provider is needed: none of
// these pages leaves teamnotes. Ends with "N passed, M failed".
//   node tests/auth/sso-screens.mjs [BUILD_DIR]
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
const freePort = () => new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const port = await freePort();
const dead = await freePort(); // nothing listens here: an unreachable provider
const work = mkdtempSync(join(tmpdir(), 'tn-sso-shots-'));
const data = join(work, 'data');
const base = `http://127.0.0.1:${port}`;
const env = { ...process.env, SSO_ALLOW_LOOPBACK: '1', SIGNIN_METHODS: 'password,email,sso' };
const tn = (args, input) => spawnSync(join(build, 'teamnotes'), [...args, '--data-dir', data], { input, env });
tn(['org', 'add', 'Acme']);
tn(['org', 'sso', 'set', 'Acme', '--issuer', `http://127.0.0.1:${dead}`, '--client-id', 'teamnotes',
  '--secret-stdin', '--require-sso'], 'secret\n');
tn(['org', 'domain', 'add', 'Acme', 'acme.example']);
tn(['user', 'add', 'dana@acme.example', '--org', 'Acme', '--password-stdin'], 'dana-password-1\n');
const server = spawn(join(build, 'teamnotes'), ['serve', '--port', String(port), '--data-dir', data],
  { env, stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise((res) => { let t = ''; const on = (d) => { t += d; if (t.includes('ready')) res(); }; server.stderr.on('data', on); server.stdout.on('data', on); });
const reg = await (await fetch(`${base}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ client_name: 'Screens', redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) })).json();
const ch = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
const authz = `${base}/authorize?response_type=code&client_id=${encodeURIComponent(reg.client_id)}` +
  `&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/cb')}&state=s&code_challenge=${ch}&code_challenge_method=S256`;
mkdirSync(shots, { recursive: true });
const browser = await playwright.chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
try {
  const page = await (await browser.newContext()).newPage();
  const snap = async (name) => {
    for (const [label, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(size);
      await page.screenshot({ path: join(shots, `sso-${name}-${label}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  await page.goto(authz);
  ok('the page offers SSO', await page.locator('form[action="/authorize/sso"]').count() === 1);
  await snap('choose');
  await page.fill('#sso-email', 'someone@unknown.example');
  await page.click('text=Continue with SSO');
  await page.waitForSelector('.note.error');
  ok('neutral answer', (await page.textContent('.note.error')).includes('Single sign-on is not available for that address'));
  await snap('no-connection');
  await page.goto(authz);
  await page.fill('#email', 'dana@acme.example');
  await page.fill('#password', 'dana-password-1');
  await page.click('form[action="/authorize/login"] button');
  await page.waitForSelector('.note.error');
  ok('require_sso refuses the password', (await page.textContent('.note.error')).includes('Your organization signs in with SSO'));
  await snap('required');
  await page.fill('#sso-email', 'dana@acme.example');
  await page.click('text=Continue with SSO');
  await page.waitForSelector('.note.error');
  ok('provider unreachable', (await page.textContent('.note.error')).includes('cannot be reached'));
  await snap('unreachable');
} finally {
  await browser.close();
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
