#!/usr/bin/env bash
# No event loop waits: with one HTTP worker (THREADS=1, as one core gets by default), a
# request that waits for a commit runs on the blocking pool, and the worker goes on
# serving every other connection. SQLite's write lock is held by another process for
# 3 s; a client registration (the authorization server) and a save_note (MCP) wait for
# it, /healthz and the metadata document must not. On the old code the registration ran
# on the worker and /healthz waited ~3 s behind it. Usage: tests/http/loops.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
work=$(mktemp -d)
pass=0; fail=0; pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null; [[ -n ${KEEP:-} ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start NAME [ENV=VALUE...]: one HTTP worker, its own data directory; sets base
start() {
  local name=$1; shift
  local port; port=$(free_port)
  env THREADS=1 LOG_FORMAT=json "$@" "$build/teamnotes" serve --port "$port" \
    --data-dir "$work/$name" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do grep -q '"msg":"ready"' "$work/$name.log" && break; sleep 0.05; done
  base="http://127.0.0.1:$port"
  grep -q '"http_workers":"1"' "$work/$name.log"
}
# hold NAME SECONDS: another process holds the store's write lock; returns once it does
hold() {
  rm -f "$work/held"
  python3 - "$work/$1/teamnotes.db" "$work/held" "$2" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
c.execute("COMMIT")
PY
  pids+=($!)
  for _ in $(seq 200); do [[ -f $work/held ]] && return 0; sleep 0.05; done
  return 1
}
# quick URL: "STATUS yes" when answered within a second
quick() {
  local r; r=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 "$1")
  echo "${r%% *} $(awk -v t="${r#* }" 'BEGIN{print (t < 1.0) ? "yes" : "no (" t " s)"}')"
}

# ---------- the authorization server: a registration waits for the lock ----------
start as || { echo "not ok - the server did not start with one worker"; cat "$work/as.log"; echo "0 passed, 1 failed"; exit 1; }
reg='{"client_name":"Loop test","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}'
check "a registration without the lock held" 201 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$reg" "$base/register")"
hold as 3 || { fail=$((fail+1)); echo "not ok - the write lock could not be taken"; }
curl -s -o "$work/reg.json" -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
  -d "$reg" "$base/register" >"$work/reg.code" &
rp=$!
sleep 0.3
check "/healthz while a registration waits for the store: at once" "200 yes" "$(quick "$base/healthz")"
check "the metadata document meanwhile: at once" "200 yes" \
  "$(quick "$base/.well-known/oauth-authorization-server")"
wait "$rp"
check "the registration, once the lock is gone: 201, nothing lost" "201 yes" \
  "$(cat "$work/reg.code") $(jq -e '.client_id | length > 0' "$work/reg.json" >/dev/null && echo yes)"

# ---------- MCP: a save waits for the lock (an external issuer: a token from tn-mint) ----------
mint="$build/bench/tn-mint"
iport=$(free_port); issuer="http://127.0.0.1:$iport"
mkdir -p "$work/www/.well-known"
"$mint" key ES256 "$work/es.pem" >/dev/null && "$mint" jwks "es1:ES256:$work/es.pem" >"$work/www/jwks.json" \
  || { echo "not ok - tn-mint"; echo "$pass passed, $((fail+1)) failed"; exit 1; }
echo "{\"issuer\":\"$issuer\",\"jwks_uri\":\"$issuer/jwks.json\",\"authorization_endpoint\":\"$issuer/authorize\",\"token_endpoint\":\"$issuer/token\",\"response_types_supported\":[\"code\"],\"code_challenge_methods_supported\":[\"S256\"]}" \
  >"$work/www/.well-known/oauth-authorization-server"
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$iport" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$issuer/jwks.json" >/dev/null && break; sleep 0.05; done
start mcp AUTH_ISSUER="$issuer" || { fail=$((fail+1)); echo "not ok - the MCP server did not start"; cat "$work/mcp.log"; }
tok=$("$mint" tokens "$work/es.pem" ES256 es1 "$issuer" "$base/mcp" user 1 1 7200)
mcp() { # body -> the answer in $work/mcp.json, the status on stdout
  curl -s -o "$work/mcp.json" -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-11-25' \
    -H "Authorization: Bearer $tok" -d "$1" "$base/mcp"
}
save='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"save_note","arguments":{"title":"Held","content":"Saved while another process held the write lock."}}}'
check "a save without the lock held" "200 false" "$(mcp "$save") $(jq -r '.result.isError // false' "$work/mcp.json")"
hold mcp 3 || { fail=$((fail+1)); echo "not ok - the write lock could not be taken"; }
mcp "$save" >"$work/save.code" &
sp=$!
sleep 0.3
check "/healthz while a save waits for the store: at once" "200 yes" "$(quick "$base/healthz")"
wait "$sp"
check "the save, once the lock is gone: 200, saved" "200 false" \
  "$(cat "$work/save.code") $(jq -r '.result.isError // false' "$work/mcp.json")"
check "both notes are there" 2 \
  "$(mcp '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_my_notes","arguments":{}}}' >/dev/null; jq -r '.result.structuredContent.count' "$work/mcp.json")"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
