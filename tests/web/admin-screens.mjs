// The admin console in Debian's Chromium (playwright-core): an admin signs in through
// /signin, each page (members, a search, apps with an app's people, audit, keys) and
// each action (change a role, disable, revoke an app, rotate the keys) done by clicking,
// at 390 and 1280 px into tests/out/screens/admin-<page>-{phone,laptop}.png; every page
// checked with axe-core in the browser (no serious or critical violation), the page
// wider than the screen nowhere at 390 px but inside its scrolling tables; a non-admin
// sees the 403 page. Ends with "N passed, M failed".
//   node tests/web/admin-screens.mjs [BUILD_DIR]
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
const ok = (name, cond, extra = '') => { if (cond) { pass++; console.log(`ok - ${name}`); } else { fail++; console.log(`not ok - ${name} ${extra}`); } };
const playwright = createRequire(join(root, 'tests/browser/package.json'))('playwright-core');
const axe = readFileSync(join(root, 'tests/browser/node_modules/axe-core/axe.min.js'), 'utf8');
const port = await new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const work = mkdtempSync(join(tmpdir(), 'tn-admin-shots-'));
const data = join(work, 'data');
const base = `http://127.0.0.1:${port}`;
const tn = join(build, 'teamnotes');
for (const [who, role] of [['ada', 'admin'], ['bo', 'editor'], ['cy', 'viewer']])
  spawnSync(tn, ['user', 'add', `${who}@example.com`, '--name', who === 'cy' ? '<b>Cy</b> "=1+1"' : `${who[0].toUpperCase()}${who.slice(1)} Example`,
    '--role', role, '--password-stdin', '--data-dir', data], { input: `${who}-password-1\n` });
const server = spawn(tn, ['serve', '--port', String(port), '--data-dir', data],
  { env: { ...process.env, KEY_PUBLISH_LEAD_S: '5', SSO_ALLOW_LOOPBACK: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise((res) => { let t = ''; const on = (d) => { t += d; if (t.includes('ready')) res(); }; server.stderr.on('data', on); server.stdout.on('data', on); });
for (const name of ['Claude Code', 'Notes sync <script>'])
  await fetch(`${base}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: name, redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) });
mkdirSync(shots, { recursive: true });

const browser = await playwright.chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
try {
  // bypassCSP lets axe's script run in the page; the server's CSP is unchanged
  const ctx = await browser.newContext({ bypassCSP: true });
  const page = await ctx.newPage();
  const check = async (name) => {
    for (const [label, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      await page.setViewportSize(size);
      await page.screenshot({ path: join(shots, `admin-${name}-${label}.png`), fullPage: true });
      if (label === 'phone') {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
        ok(`${name}: nothing wider than 390 px outside the tables`, !wide);
      }
      await page.addScriptTag({ content: axe });
      const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
      const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      ok(`${name} (${label}): axe finds no serious or critical violation`, bad.length === 0,
        JSON.stringify(bad.map((v) => [v.id, v.nodes.map((n) => n.target.join(' '))])));
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };

  await page.goto(`${base}/admin`);
  ok('a signed-out browser is sent to sign in', page.url().startsWith(`${base}/signin?next=`));
  await check('signin');
  await page.fill('#email', 'ada@example.com');
  await page.fill('#password', 'ada-password-1');
  await page.click('button[type=submit]');
  await page.waitForSelector('h1:has-text("Members")');
  ok('signed in, back on the console', page.url() === `${base}/admin`);
  await check('members');

  await page.fill('#q', 'example');
  await page.click('button:has-text("Search")');
  await page.waitForSelector('text=3 members match');
  await check('search');

  // change a role and disable someone by clicking
  const bo = page.locator('tr', { hasText: 'bo@example.com' });
  await bo.locator('select[name=role]').selectOption('viewer');
  await bo.locator('button:has-text("Save")').click();
  await page.waitForSelector('text=The role was changed');
  ok('role changed', await page.locator('tr', { hasText: 'bo@example.com' }).locator('select[name=role]').inputValue() === 'viewer');
  await check('role-changed');
  await page.locator('tr', { hasText: 'bo@example.com' }).locator('button:has-text("Disable")').click();
  await page.waitForSelector('text=The member was disabled');
  ok('bo disabled', await page.locator('tr', { hasText: 'bo@example.com' }).locator('button:has-text("Enable")').count() === 1);
  await check('disabled');
  await page.locator('tr', { hasText: 'bo@example.com' }).locator('button:has-text("Enable")').click();
  await page.waitForSelector('text=The member was enabled');

  // invite someone (no mail server: the page shows the link), then revoke it
  await page.fill('#inv-email', 'dee@example.com');
  await page.selectOption('#inv-role', 'editor');
  await page.click('button:has-text("Invite")');
  await page.waitForSelector('text=Give this link to dee@example.com only');
  const link = await page.locator('.note code').textContent();
  ok('the invitation link is shown', link.startsWith(`${base}/invite?t=`));
  ok('the invitation is pending', await page.locator('tr', { hasText: 'dee@example.com' }).count() === 1);
  await check('invited');
  await page.locator('tr', { hasText: 'dee@example.com' }).locator('button:has-text("Revoke")').click();
  await page.waitForSelector('text=The invitation was revoked');
  ok('no pending invitation left', await page.locator('text=No pending invitations.').count() === 1);

  // organizations: create one, add a domain, connect SSO, test it, refuse a bad domain
  await page.click('nav.tabs >> text=Organizations');
  await page.waitForSelector('h1:has-text("Organizations")');
  await check('orgs');
  await page.fill('#org-name', 'Acme <Corp>');
  await page.click('button:has-text("Create")');
  await page.waitForSelector('text=The organization was created');
  ok('on the new organization\'s page', (await page.textContent('h1')) === 'Acme <Corp>');
  await page.fill('#domain', 'acme.example');
  await page.click('button:has-text("Add")');
  await page.waitForSelector('text=The domain was added');
  await page.fill('#domain', 'not a domain');
  await page.click('button:has-text("Add")');
  await page.waitForSelector('.note.error');
  ok('a bad domain is refused with the reason', (await page.textContent('.note.error')).startsWith("'not a domain' is not a domain"));
  await check('org-domain-refused');
  await page.fill('#issuer', 'http://127.0.0.1:1');
  await page.fill('#client_id', 'acme-client');
  await page.fill('#client_secret', 'shh-very-secret-42');
  await page.fill('#groups_claim', 'groups');
  await page.fill('#role_map', 'eng=editor');
  await page.check('input[name=require_sso]');
  await page.click('button:has-text("Connect")');
  await page.waitForSelector('text=The SSO connection was saved');
  ok('the secret is never shown back', !(await page.content()).includes('shh-very-secret-42'));
  await check('org-sso');
  await page.click('button:has-text("Test connection")');
  await page.waitForSelector('text=Test failed');
  ok('the test says why', (await page.textContent('.note.error')).includes('could not be fetched'));
  await check('org-sso-test');

  await page.click('nav.tabs >> text=Apps');
  await page.waitForSelector('h1:has-text("Apps")');
  await check('apps');
  await page.locator('tr', { hasText: 'Claude Code' }).locator('a').first().click();
  await page.waitForSelector('h2:has-text("People using")');
  await check('app-people');
  await page.locator('tr', { hasText: 'Notes sync' }).locator('button:has-text("Revoke")').click();
  await page.waitForSelector('text=The app was revoked');
  ok('the revoked app is gone', await page.locator('tr', { hasText: 'Notes sync' }).count() === 0);
  await check('app-revoked');

  await page.click('nav.tabs >> text=Audit');
  await page.waitForSelector('h1:has-text("Audit")');
  await check('audit');
  await page.selectOption('#outcome', 'ok');
  await page.fill('#tool', 'admin.set_role');
  await page.click('button:has-text("Filter")');
  await page.waitForSelector('td:has-text("admin.set_role")');
  await check('audit-filtered');

  await page.click('nav.tabs >> text=Signing keys');
  await page.waitForSelector('h1:has-text("Signing keys")');
  await check('keys');
  await page.click('button:has-text("Rotate now")');
  await page.waitForSelector('text=A new signing key is published');
  ok('a next key after rotation', await page.locator('td:has-text("next")').count() === 1);
  await check('keys-rotated');

  // a non-admin, signed in, sees the 403 page
  const ctx2 = await browser.newContext({ bypassCSP: true });
  const p2 = await ctx2.newPage();
  await p2.goto(`${base}/admin/keys`);
  await p2.fill('#email', 'cy@example.com');
  await p2.fill('#password', 'cy-password-1');
  const [resp] = await Promise.all([p2.waitForResponse((r) => r.url().endsWith('/admin/keys')), p2.click('button[type=submit]')]);
  ok('a non-admin gets 403', resp.status() === 403);
  ok('the 403 page says why', (await p2.textContent('body')).includes('You need the admin permission'));
  for (const [label, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    await p2.setViewportSize(size);
    await p2.screenshot({ path: join(shots, `admin-forbidden-${label}.png`), fullPage: true });
  }
  await ctx2.close();
  await ctx.close();
} finally {
  await browser.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
