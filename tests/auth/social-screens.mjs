// Screenshots of "Continue with NAME" (#18) in Debian's Chromium (playwright-core): the sign-in
// page with the provider's button, the consent page after the provider, and the refusal pages
// (no account, unverified email, a replayed callback) at 390 and 1280 px, into
// tests/out/screens/social-<name>-{phone,laptop}.png. A real provider on loopback
// (tests/idp/idp.mjs). Ends with "N passed, M failed".
//   node tests/auth/social-screens.mjs [BUILD_DIR]
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const idpPort = await freePort();
const work = mkdtempSync(join(tmpdir(), 'tn-social-shots-'));
const data = join(work, 'data');
const base = `http://127.0.0.1:${port}`;
const ready = (proc, word) => new Promise((res) => { let t = ''; const on = (d) => { t += d; if (t.includes(word)) res(); }; proc.stderr.on('data', on); proc.stdout.on('data', on); });

writeFileSync(join(work, 'idp.json'), JSON.stringify({ users: [
  { username: 'dana', password: 'dana-pass', sub: 'up_dana', email: 'dana@example.com', email_verified: true },
  { username: 'erik', password: 'erik-pass', sub: 'up_erik', email: 'erik@example.com', email_verified: true },
  { username: 'fay', password: 'fay-pass', sub: 'up_fay', email: 'dana@example.com', email_verified: false },
] }));
const idp = spawn(process.execPath, [join(root, 'tests/idp/idp.mjs')], { env: { ...process.env, IDP_PORT: String(idpPort),
  IDP_KEYS: join(work, 'keys.json'), IDP_CONFIG: join(work, 'idp.json'), IDP_RP_REDIRECT_URIS: `${base}/signin/oidc/callback` },
  stdio: ['ignore', 'pipe', 'pipe'] });
await ready(idp, 'idp ready');
spawnSync(join(build, 'teamnotes'), ['user', 'add', 'dana@example.com', '--role', 'editor', '--password-stdin', '--data-dir', data],
  { input: 'dana-password-1\n' });
const server = spawn(join(build, 'teamnotes'), ['serve', '--port', String(port), '--data-dir', data], { env: { ...process.env,
  SIGNIN_METHODS: 'password,oidc', OIDC_PROVIDERS: 'acme', OIDC_ACME_ISSUER: `http://127.0.0.1:${idpPort}`,
  OIDC_ACME_CLIENT_ID: 'teamnotes-rp', OIDC_ACME_CLIENT_SECRET: 'rp secret:with/special+chars%&=', OIDC_ACME_NAME: 'Acme SSO' },
  stdio: ['ignore', 'pipe', 'pipe'] });
await ready(server, 'ready');
const reg = await (await fetch(`${base}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ client_name: 'Screens', redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) })).json();
const ch = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
const authz = `${base}/authorize?response_type=code&client_id=${encodeURIComponent(reg.client_id)}` +
  `&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/cb')}&state=s&code_challenge=${ch}&code_challenge_method=S256`;
mkdirSync(shots, { recursive: true });
const browser = await playwright.chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
const snap = async (p, name) => {
  for (const [label, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    await p.setViewportSize(size);
    await p.screenshot({ path: join(shots, `social-${name}-${label}.png`), fullPage: true });
  }
  await p.setViewportSize({ width: 1280, height: 800 });
};
// the button, the provider's forms; resolves once back at teamnotes
const viaProvider = async (page, user) => {
  await page.goto(authz);
  await page.click('text=Continue with Acme SSO');
  await page.waitForURL(/\/interaction\//);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', `${user}-pass`);
  await page.click('button:has-text("Sign in")');
  // the provider asks for consent the first time its client meets this person
  const allow = await page.waitForSelector('button:has-text("Allow")', { timeout: 5000 }).catch(() => null);
  if (allow) await allow.click();
  await page.waitForURL(new RegExp(`^${base}/`));
};
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(authz);
  ok('sign-in page: the provider button', await page.locator('form[action="/authorize/oidc"]').count() === 1);
  ok('sign-in page: the password form', await page.locator('form[action="/authorize/login"]').count() === 1);
  await snap(page, 'choose');
  await viaProvider(page, 'dana');
  ok('back from the provider: consent for dana', (await page.content()).includes('dana@example.com'));
  await snap(page, 'consent');
  const callback = page.url(); // the consent page is the callback's answer
  await page.goto(callback);
  ok('the callback again: Sign-in expired', (await page.locator('h1').textContent()).includes('Sign-in expired'));
  await snap(page, 'replayed');
  const p2 = await (await browser.newContext()).newPage();
  await viaProvider(p2, 'erik');
  ok('no account page', (await p2.content()).includes('No teamnotes account for erik@example.com'));
  await snap(p2, 'no-account');
  const p3 = await (await browser.newContext()).newPage();
  await viaProvider(p3, 'fay');
  ok('unverified email page', (await p3.locator('h1').textContent()).includes('Email not verified'));
  await snap(p3, 'unverified');
} catch (e) {
  fail++; console.log(`not ok - ${e.message}`);
} finally {
  await browser.close();
  server.kill();
  idp.kill();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
