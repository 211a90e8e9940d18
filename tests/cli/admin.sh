#!/usr/bin/env bash
# teamnotes user | role | org | client against a real store. Usage: tests/cli/admin.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
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
check "migrate reports the schema" "sqlite store at schema version 4" "$("$tn" migrate "${D[@]}" 2>/dev/null)"
check "db is private" 600 "$(stat -c %a "$work/data/teamnotes.db")"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
