#!/usr/bin/env bash
# teamnotes user | role | org | client against a real store. Usage: tests/cli/admin.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# the schema version this binary reaches: one per migration file
latest=$(ls "$root"/src/store/migrations/sqlite/*.sql | wc -l)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0; fail=0
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
D=(--data-dir "$work/data")

out=$(echo 'alice-password-1' | "$tn" user add Alice@Example.com --name Alice --role editor --org acme --password-stdin "${D[@]}")
check "user add" "created alice@example.com (editor, organization acme)" "$out"
"$tn" user add alice@example.com "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "duplicate email refused" "1|teamnotes: alice@example.com already has an account" "$rc|$(cat "$work/err")"
out=$("$tn" user add bob@example.com --role viewer "${D[@]}")
check "generated password shown once" 2 "$(grep -c . <<<"$out")"
check "generated password line" yes "$(grep -qE '^initial password \(shown once\): [A-Za-z0-9_-]{20}$' <<<"$out" && echo yes)"
echo 'short' | "$tn" user add carol@example.com --password-stdin "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "short password refused" "2|teamnotes: the password needs 10 to 1024 characters" "$rc|$(cat "$work/err")"
"$tn" user add dave@example.com --role boss "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "unknown role refused" "2|teamnotes: unknown role 'boss' (see \`teamnotes role list\`)" "$rc|$(cat "$work/err")"
check "user list" "alice@example.com editor|bob@example.com viewer" \
  "$("$tn" user list "${D[@]}" | awk '{print $1, $2}' | sort | paste -sd'|')"
check "role list" "viewer   notes:read|editor   notes:read notes:write|admin    notes:read notes:write teamnotes:admin" \
  "$("$tn" role list | paste -sd'|')"
out=$("$tn" user set-role bob@example.com editor "${D[@]}")
check "set-role" "bob@example.com is now editor (permissions it lacks stop working within seconds; added ones come with their next token)" "$out"
check "show after set-role" "role         editor (notes:read notes:write)" "$("$tn" user show bob@example.com "${D[@]}" | grep '^role')"
check "disable" "bob@example.com is disabled; their refresh tokens are revoked" "$("$tn" user disable bob@example.com "${D[@]}")"
check "show disabled" "status       disabled" "$("$tn" user show bob@example.com "${D[@]}" | grep '^status')"
check "enable" "bob@example.com is enabled" "$("$tn" user enable bob@example.com "${D[@]}")"
"$tn" user show nobody@example.com "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "unknown user" "1|teamnotes: no account for nobody@example.com" "$rc|$(cat "$work/err")"
check "org add" yes "$("$tn" org add globex "${D[@]}" | grep -qE '^created organization globex \(org_' && echo yes)"
"$tn" org add globex "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "duplicate org refused" "1|teamnotes: that organization exists" "$rc|$(cat "$work/err")"
check "org list" "acme|default|globex" "$("$tn" org list "${D[@]}" | awk '{print $1}' | sort | paste -sd'|')"
check "client list empty" "" "$("$tn" client list "${D[@]}")"
"$tn" client revoke nope "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "client revoke unknown" "1|teamnotes: no such client" "$rc|$(cat "$work/err")"
"$tn" user frobnicate "${D[@]}" >/dev/null 2>&1; check "unknown subcommand exits 2" 2 $?
check "migrate reports the schema" "sqlite store at schema version $latest" "$("$tn" migrate "${D[@]}" 2>/dev/null)"
check "db is private" 600 "$(stat -c %a "$work/data/teamnotes.db")"

# import --from-xmcp: the reference template's .data/notes.json (JSON.stringify(v, null, 2))
mkdir -p "$work/xmcp/.data"
X="$work/xmcp/.data/notes.json"
cat >"$X" <<'JSON'
{
  "usr_111": [
    {
      "id": "0b7e6f9e-6b1e-4a53-9d38-2f0f7cf0a001",
      "content": "Buy milk and call the plumber",
      "createdAt": "2026-11-30T08:15:00.123Z"
    },
    {
      "id": "0b7e6f9e-6b1e-4a53-9d38-2f0f7cf0a002",
      "content": "# Trip\nPack the tent \"and\" the stove",
      "createdAt": "2026-12-01T19:02:03.000Z"
    }
  ],
  "usr_222": [
    {
      "id": "0b7e6f9e-6b1e-4a53-9d38-2f0f7cf0a003",
      "content": "bob's only note",
      "createdAt": "2026-12-02T00:00:00.000Z"
    }
  ]
}
JSON
aid=$("$tn" user show alice@example.com "${D[@]}" | awk '$1 == "id" {print $2}')
aorg=$("$tn" user show alice@example.com "${D[@]}" | awk '$1 == "organization" {print $2}')
bid=$("$tn" user show bob@example.com "${D[@]}" | awk '$1 == "id" {print $2}')
borg=$("$tn" user show bob@example.com "${D[@]}" | awk '$1 == "organization" {print $2}')
notes() { sqlite3 "$work/data/teamnotes.db" "SELECT count(*) FROM notes"; }
"$tn" import --from-xmcp "$X" --map usr_111=alice@example.com "${D[@]}" >"$work/out" 2>"$work/err"; rc=$?
check "import: an unmapped sub is refused, listed" "2|teamnotes import: with the built-in issuer every user of the file needs --map SUB=EMAIL; 1 has none:|  usr_222 (notes: 1)|0" \
  "$rc|$(grep -v migration "$work/err" | paste -sd'|')|$(notes)"
"$tn" import --from-xmcp "$X" --map usr_111=alice@example.com --map usr_222=nobody@example.com "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "import: a map to no account is refused" "2|teamnotes import: --map usr_222=nobody@example.com: no account has this email (create it with \`teamnotes user add EMAIL\`)|0" \
  "$rc|$(grep -v migration "$work/err")|$(notes)"
out=$("$tn" import --from-xmcp "$X" --map usr_111=alice@example.com --map usr_222=bob@example.com "${D[@]}" 2>/dev/null); rc=$?
check "import: each sub's owner is BASE_URL|account id in the account's organization" \
  "0|usr_111: 2 notes -> owner http://127.0.0.1:8080|$aid, organization $aorg|usr_222: 1 notes -> owner http://127.0.0.1:8080|$bid, organization $borg|imported 3 of 3 notes (0 were there already)" \
  "$rc|$(paste -sd'|' <<<"$out")"
check "import: the notes as the template had them, dates kept, private, no stored title" \
  "http://127.0.0.1:8080|$aid|$aorg|1796026500123|1796026500123|Buy milk and call the plumber||private|[]|1
http://127.0.0.1:8080|$aid|$aorg|1796151723000|1796151723000|# Trip
Pack the tent \"and\" the stove||private|[]|1
http://127.0.0.1:8080|$bid|$borg|1796169600000|1796169600000|bob's only note||private|[]|1" \
  "$(sqlite3 "$work/data/teamnotes.db" "SELECT owner, org, created_at, updated_at, content, title, visibility, tags, version FROM notes ORDER BY created_at")"
check "import: ids in our format, the creation time first" "3" \
  "$(sqlite3 "$work/data/teamnotes.db" "SELECT id FROM notes" | grep -cE '^n_[A-Za-z0-9_-]{22}$')"
check "import: audited per owner, without the text" \
  "$(printf '%s\n' "ok import - http://127.0.0.1:8080|$aid client=teamnotes import org=$aorg" \
                   "ok import - http://127.0.0.1:8080|$bid client=teamnotes import org=$borg" | sort | paste -sd'|')" \
  "$("$tn" audit --limit 2 "${D[@]}" 2>/dev/null | awk '{$1=""; sub(/^ +/, ""); gsub(/ +/, " "); print}' | sort | paste -sd'|')"
out=$("$tn" import --from-xmcp "$X" --map usr_111=alice@example.com --map usr_222=bob@example.com "${D[@]}" 2>/dev/null); rc=$?
check "import again: nothing added twice" "0|imported 0 of 3 notes (3 were there already)|3" "$rc|$(tail -1 <<<"$out")|$(notes)"
out=$("$tn" import --from-xmcp "$X" --map usr_111=alice@example.com --map usr_222=bob@example.com --dry-run "${D[@]}" 2>/dev/null)
check "import --dry-run writes nothing" "dry run: 3 notes checked, nothing written" "$(tail -1 <<<"$out")"
# malformed files: the line (and column for syntax errors) and the reason; nothing imported
bad() { # NAME EXPECTED-STDERR; the file is on stdin
  cat >"$work/bad.json"
  "$tn" import --from-xmcp "$work/bad.json" --map usr_111=alice@example.com --map usr_222=bob@example.com "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
  check "import refuses $1" "2|$2|3" "$rc|$(grep -v migration "$work/err" | sed "s|$work/bad.json|F|")|$(notes)"
}
bad "a syntax error" "F:18:17: not JSON as the template writes it: '}' expected near '\"createdAt\"'" < <(sed 's/"content": "bob.s only note",/"content": "bob only note"/' "$X")
bad "a date in milliseconds" \
  "F:11: note 2 of \"usr_111\" (id 0b7e6f9e-6b1e-4a53-9d38-2f0f7cf0a002): createdAt must be an ISO-8601 date and time such as 2026-12-06T10:31:02.123Z" \
  < <(sed 's/"createdAt": "2026-12-01T19:02:03.000Z"/"createdAt": 1796151723000/' "$X")
bad "an empty note" \
  "F:17: note 1 of \"usr_222\" (id 0b7e6f9e-6b1e-4a53-9d38-2f0f7cf0a003): content must be a string of 1 to 65536 bytes without NUL characters" \
  < <(sed 's/"content": "bob.s only note",/"content": "",/' "$X")
bad "a NUL in a note" \
  "F:17:36: not JSON as the template writes it: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"nul \\u0000 inside\"'" \
  < <(sed 's/"content": "bob.s only note",/"content": "nul \\u0000 inside",/' "$X")
bad "a numeric id" \
  "F:9: note 2 of \"usr_111\": id must be a string of 1 to 256 characters" \
  < <(sed 's/"id": "0b7e6f9e-6b1e-4a53-9d38-2f0f7cf0a002",/"id": 2,/' "$X")
bad "notes not in an array" \
  "F:2: the notes of \"usr_111\" must be an array of {id, content, createdAt}" \
  < <(printf '{\n  "usr_111": {\n    "id": "x"\n  }\n}\n')
bad "a note that is not an object" \
  "F:3: note 1 of \"usr_111\" must be an object {id, content, createdAt}" \
  < <(printf '{\n  "usr_111": [\n    "just text"\n  ]\n}\n')
bad "a top level that is not an object" \
  "F:1: the file must be a JSON object {\"<sub>\": [notes]}, as the template writes .data/notes.json" \
  < <(printf '[\n  {}\n]\n')
bad "a sub given twice" \
  "F:1:25: not JSON as the template writes it: duplicate object key near '\"usr_111\"'" \
  < <(printf '{"usr_111": [], "usr_111": []}')
"$tn" import --from-xmcp "$work/none.json" "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "import of a missing file" "2|teamnotes import: cannot read $work/none.json: No such file or directory" "$rc|$(cat "$work/err")"
"$tn" import --map usr_111=alice@example.com "${D[@]}" >/dev/null 2>&1; check "import without --from-xmcp exits 2" 2 $?
"$tn" import --from-xmcp "$X" --org acme --map usr_111=alice@example.com "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "import: --org with the built-in issuer is refused" "2|teamnotes import: --org and --issuer are for an external issuer; with the built-in one the notes go to each mapped account's organization" \
  "$rc|$(cat "$work/err")"
# an external issuer: the subs are the users, AUTH_ISSUER byte for byte (as the token's iss)
out=$(AUTH_ISSUER=https://issuer.example/ "$tn" import --from-xmcp "$X" --org org_9 --only usr_222 "${D[@]}" 2>/dev/null); rc=$?
check "import, external issuer: owner ISSUER|sub, --org, --only" \
  "0|usr_222: 1 notes -> owner https://issuer.example/|usr_222, organization org_9|imported 1 of 1 notes (0 were there already)" \
  "$rc|$(paste -sd'|' <<<"$out")"
AUTH_ISSUER=https://issuer.example/ "$tn" import --from-xmcp "$X" --map usr_111=alice@example.com "${D[@]}" >/dev/null 2>"$work/err"; rc=$?
check "import, external issuer: --map is refused" "2|teamnotes import: --map is for the built-in issuer; with an external issuer the subs in the file are the users" "$rc|$(cat "$work/err")"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
