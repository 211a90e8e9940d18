#!/usr/bin/env bash
# Heap allocations per request of the real binary, counted by an LD_PRELOAD shim
# (tests/http/alloccount.c) around a run of identical requests on one kept-alive
# connection, with a bearer token from an external issuer (its cache warm, as in the
# benchmark). Prints the figures per method; fails when server/discover needs more
# allocations than MAX_DISCOVER_ALLOCS (so that the per-request arena cannot regress
# silently). Needs a build without sanitizers. Usage: tests/http/allocs.sh [BUILD_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
shim="$build/tests/libtn-alloccount.so"
mint="$build/bench/tn-mint"
# measured after the arena and the single parse (docs/PERFORMANCE.md); lower it when
# allocations go away, never raise it without saying why. 6 -> 9 (issue #20): every
# answer carries X-Request-Id, and libmicrohttpd copies each response header it is given
# (its header struct, the name and the value: three mallocs; 0.9.75 has no way to add a
# header without copying). Measured: 6.0 before, 9.0 after, 0.0 blocks kept.
MAX_DISCOVER_ALLOCS=${MAX_DISCOVER_ALLOCS:-9}
N=${ALLOCS_N:-300}
work=$(mktemp -d)
pass=0; fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
[[ -f $shim ]] || { echo "not ok - $shim missing (a sanitizer build has none)"; echo "0 passed, 1 failed"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# the issuer: static documents and the JWKS, served by Python
iport=$(free_port); tport=$(free_port)
issuer="http://127.0.0.1:$iport"
mkdir -p "$work/www/.well-known"
"$mint" key ES256 "$work/es.pem" || exit 1
"$mint" jwks "es1:ES256:$work/es.pem" >"$work/www/jwks.json" || exit 1
echo "{\"issuer\":\"$issuer\",\"jwks_uri\":\"$issuer/jwks.json\",\"authorization_endpoint\":\"$issuer/authorize\",\"token_endpoint\":\"$issuer/token\",\"response_types_supported\":[\"code\"],\"code_challenge_methods_supported\":[\"S256\"]}" \
  | tee "$work/www/.well-known/openid-configuration" >"$work/www/.well-known/oauth-authorization-server"
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$iport" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$issuer/jwks.json" >/dev/null && break; sleep 0.05; done

TN_ALLOC_COUNTS="$work/counts" LD_PRELOAD="$shim" MAX_CONNECTIONS_PER_IP=0 LOG_LEVEL=warn \
  AUTH_ISSUER="$issuer" "$build/teamnotes" serve --port "$tport" --data-dir "$work/data" >"$work/tn.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$tport/healthz" >/dev/null && break; sleep 0.05; done
"$mint" tokens "$work/es.pem" ES256 es1 "$issuer" "http://127.0.0.1:$tport/mcp" user 1 1 7200 >"$work/token" || exit 1

# method, then per request: allocator calls (malloc, calloc, realloc, aligned) and the
# blocks left over (new blocks less frees: ~0 unless something grows per request)
python3 - "$tport" "$(cat "$work/token")" "$work/counts" "$N" >"$work/figures" <<'PY' || { cat "$work/tn.log"; exit 1; }
import http.client, json, struct, sys
port, token, counts, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
c = http.client.HTTPConnection("127.0.0.1", port)
def call(method, params, name=None):
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method, "Authorization": "Bearer " + token}
    if name: h["Mcp-Name"] = name
    c.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
              "params": dict(params, _meta=meta)}, separators=(",", ":")), h)
    r = c.getresponse(); body = r.read()
    if r.status != 200 or b'"error"' in body or b'"isError":true' in body:
        sys.exit(f"{method}: {r.status} {body[:300]!r}")
def read():
    with open(counts, "rb") as f:
        m, ca, re, fr, al = struct.unpack("<5Q", f.read(40))
    return m + ca + re + al, m + ca + al - fr
save = {"name": "save_note", "arguments": {"title": "A note", "content": "A short body of ordinary text.", "tags": ["t"]}}
for i in range(25):  # a page of list_my_notes is 20 notes, as in the benchmark
    call("tools/call", save, "save_note")
cases = [("server/discover", "server/discover", {}, None),
         ("tools/list", "tools/list", {}, None),
         ("list_my_notes", "tools/call", {"name": "list_my_notes", "arguments": {}}, "list_my_notes"),
         ("save_note", "tools/call", save, "save_note")]
for label, method, params, name in cases:
    for _ in range(50):
        call(method, params, name)
    best = None
    for _ in range(3):  # the least of three runs: what the server's other threads do
        a0, k0 = read()  # (heartbeats, the trim timer) lands in one run, not in all
        for _ in range(n):
            call(method, params, name)
        a1, k1 = read()
        if best is None or a1 - a0 < best[0]:
            best = (a1 - a0, k1 - k0)
    print(f"{label} {best[0] / n:.1f} {best[1] / n:.1f}")
PY
while read -r label allocs kept; do
  echo "# $label: $allocs allocations per request ($kept blocks kept)"
done <"$work/figures"
discover=$(awk '$1 == "server/discover" {print $2}' "$work/figures")
check "server/discover within $MAX_DISCOVER_ALLOCS allocations per request" yes \
  "$(awk -v a="$discover" -v m="$MAX_DISCOVER_ALLOCS" 'BEGIN{print (a != "" && a <= m) ? "yes" : "no (" a ")"}')"
check "every block of a request freed (nothing kept per request)" yes \
  "$(awk '{if ($3 > 2 || $3 < -2) bad = bad " " $1 " " $3} END{print bad ? "no:" bad : "yes"}' "$work/figures")"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
