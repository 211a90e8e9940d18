// Writes tests/fuzz/corpus/fuzz_redirect/ from tests/unit/test_redirect.c's tables (run
// once, commit the output; re-running rewrites the same files):
//   r-NN  a requested URI of the match table (tried against the target's fixed set)
//   g-NN  a URI of the registration table, NUL, itself with another loopback port
//   p-NN  a registered URI of the match table, NUL, the requested one
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const src = readFileSync(new URL('../unit/test_redirect.c', import.meta.url), 'utf8');
const dir = new URL('./corpus/fuzz_redirect/', import.meta.url);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const STR = String.raw`"(?:[^"\\]|\\.)*"`;
const section = (n) => src.match(new RegExp(`oracle-table-begin ${n} \\*/([\\s\\S]*?)/\\* oracle-table-end ${n}`))[1];
const names = {};
for (const m of section('registered').matchAll(new RegExp(String.raw`#define (R_\w+) (${STR})`, 'g')))
  names[m[1]] = JSON.parse(m[2]);
const put = (name, s) => writeFileSync(new URL(name, dir), Buffer.from(s, 'utf8'));
const pad = (i) => String(i).padStart(3, '0');
let i = 0;
for (const m of section('match').matchAll(new RegExp(String.raw`\{\s*(R_\w+|${STR})\s*,\s*(${STR})\s*,`, 'g'))) {
  const reg = m[1].startsWith('"') ? JSON.parse(m[1]) : names[m[1]], req = JSON.parse(m[2]);
  put(`r-${pad(i)}`, req);
  if (i % 3 === 0) put(`p-${pad(i)}`, `${reg}\0${req}`);
  i++;
}
i = 0;
for (const m of section('register').matchAll(new RegExp(String.raw`\{\s*(${STR})\s*,`, 'g'))) {
  const uri = JSON.parse(m[1]);
  put(`g-${pad(i++)}`, `${uri}\0${uri.replace(/^(http:\/\/(?:127\.0\.0\.1|\[::1\]|localhost))(:\d+)?/, '$1:4242')}`);
}
