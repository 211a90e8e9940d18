// Checks tests/unit/test_redirect.c's tables against a browser-grade URL parser: Node's
// `new URL()` implements the WHATWG URL Standard, as browsers do.
//   - match table: each row's browser-host column is the hostname new URL() gives the
//     requested URI ("!" when it throws), and every row expected to match sends the
//     browser to the registered URI's hostname, with no user name or password;
//   - registration table: every accepted URI parses, carries no userinfo, and its
//     hostname is the host column (what redirect.c extracts).
// Prints one line per failure and "N passed, M failed"; exits 1 on any failure.
//   node tests/unit/redirect-oracle.mjs
import { readFileSync } from 'node:fs';

const src = readFileSync(new URL('./test_redirect.c', import.meta.url), 'utf8');
const section = (name) => {
  const m = src.match(new RegExp(`/\\* oracle-table-begin ${name} \\*/([\\s\\S]*?)/\\* oracle-table-end ${name} \\*/`));
  if (!m) throw new Error(`table ${name} not found`);
  return m[1];
};
const STR = String.raw`"(?:[^"\\]|\\.)*"`;
const lit = (s) => JSON.parse(s); // the table keeps to escapes C and JSON share

const names = {};
for (const m of section('registered').matchAll(new RegExp(String.raw`#define (R_\w+) (${STR})`, 'g')))
  names[m[1]] = lit(m[2]);
const value = (tok) => (tok.startsWith('"') ? lit(tok) : names[tok]);

let pass = 0, fail = 0;
const check = (ok, what) => { if (ok) pass++; else { fail++; console.log(`not ok - ${what}`); } };
const read = (u) => { try { return new URL(u); } catch { return null; } };

const matchRows = [...section('match').matchAll(
  new RegExp(String.raw`\{\s*(R_\w+|${STR})\s*,\s*(${STR})\s*,\s*(MATCH|NO)\s*,\s*(${STR})\s*\}`, 'g'))];
for (const [, regTok, reqTok, verdict, hostTok] of matchRows) {
  const reg = value(regTok), req = lit(reqTok), want = lit(hostTok);
  const u = read(req);
  const got = u ? u.hostname : '!';
  check(got === want, `${JSON.stringify(req)}: new URL() hostname ${JSON.stringify(got)}, table says ${JSON.stringify(want)}`);
  if (verdict === 'MATCH') {
    const r = read(reg);
    check(!!u && !!r && u.hostname === r.hostname && u.protocol === r.protocol && !u.username && !u.password,
      `${JSON.stringify(req)} matches ${reg} but a browser visits ${u ? u.protocol + '//' + u.hostname : 'nothing'}`);
  }
}

const regRows = [...section('register').matchAll(
  new RegExp(String.raw`\{\s*(${STR}(?:\s*${STR})*)\s*,\s*(NULL|${STR})\s*,\s*(NULL|${STR})\s*\}`, 'g'))];
for (const [, uriTok, reasonTok, hostTok] of regRows) {
  if (reasonTok !== 'NULL') continue;
  const uri = lit(uriTok), host = lit(hostTok);
  const u = read(uri);
  check(!!u && u.hostname === host && !u.username && !u.password,
    `accepted ${JSON.stringify(uri)}: new URL() reads ${u ? JSON.stringify(u.hostname) : 'a failure'}, redirect.c ${JSON.stringify(host)}`);
}

// the tables were read at all
check(matchRows.length >= 60, `only ${matchRows.length} match rows read`);
check(matchRows.filter((m) => m[3] === 'NO').length >= 30, 'fewer than 30 hostile rows');
check(regRows.length >= 40, `only ${regRows.length} registration rows read`);
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
