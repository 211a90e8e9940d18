#!/usr/bin/env bash
# /metrics, /healthz, /readyz and request ids against the real binary (external issuer:
# tokens from bench/tn-mint, its JWKS served by Python). Counters are asserted exactly
# after known traffic; every scrape is read by a strict parser (tests/http/promcheck.py)
# and by promtool when installed (Debian package prometheus). The PostgreSQL part (readyz
# 503 while the database is stopped, 200 after) runs when scripts/pg-test-server can start
# one. Usage: tests/http/metrics.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
mint="$build/bench/tn-mint"
work=$(mktemp -d)
pass=0; fail=0
pids=(); pg_dir=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null
  [[ -n $pg_dir ]] && "$root/scripts/pg-test-server" stop "$pg_dir" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
contains() { if [[ "$3" == *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: '$2' not in: ${3:0:600}"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# the issuer
iport=$(free_port); issuer="http://127.0.0.1:$iport"
mkdir -p "$work/www/.well-known"
"$mint" key ES256 "$work/es.pem" || exit 1
"$mint" jwks "es1:ES256:$work/es.pem" >"$work/www/jwks.json" || exit 1
echo "{\"issuer\":\"$issuer\",\"jwks_uri\":\"$issuer/jwks.json\",\"authorization_endpoint\":\"$issuer/authorize\",\"token_endpoint\":\"$issuer/token\",\"response_types_supported\":[\"code\"],\"code_challenge_methods_supported\":[\"S256\"]}" \
  | tee "$work/www/.well-known/openid-configuration" >"$work/www/.well-known/oauth-authorization-server"
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$iport" >/dev/null 2>"$work/issuer.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "$issuer/jwks.json" >/dev/null && break; sleep 0.05; done

# start NAME [ENV=VALUE...]: a server on a free port, logs in $work/NAME.log; sets port,
# mport (METRICS_LISTEN's, when set), tn_pid. Returns 1 when it did not become ready.
start() {
  local name=$1; shift
  port=$(free_port)
  env AUTH_ISSUER="$issuer" MAX_CONNECTIONS_PER_IP=0 "$@" \
    "$build/teamnotes" serve --port "$port" --data-dir "$work/data-$name" >"$work/$name.log" 2>&1 &
  tn_pid=$!; pids+=($tn_pid)
  for _ in $(seq 300); do
    grep -q '"msg":"ready"\| info  ready ' "$work/$name.log" 2>/dev/null && break
    kill -0 "$tn_pid" 2>/dev/null || return 1
    sleep 0.05
  done
  mport=$(grep -o '"metrics_port":"[0-9]*"\|metrics_port=[0-9]*' "$work/$name.log" | grep -o '[0-9]*$' | head -1)
  grep -q 'ready' "$work/$name.log"
}
stop() { kill "$tn_pid" 2>/dev/null; wait "$tn_pid" 2>/dev/null; }
code() { curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "$@"; }
hdr() { grep -i "^$1:" "$work/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
tok_for() { "$mint" tokens "$work/es.pem" ES256 es1 "$issuer" "http://127.0.0.1:$1/mcp" user 1 1 7200; }

# a scrape: checked by the strict parser (and promtool), the canonical lines in $work/series
scrape() { # url [curl args...]
  local url=$1; shift
  curl -s "$@" "$url" >"$work/scrape.txt"
  if python3 "$root/tests/http/promcheck.py" "$work/scrape.txt" >"$work/series" 2>"$work/promcheck.err"; then
    pass=$((pass+1)); echo "ok - the scrape passes the strict format check"
  else
    fail=$((fail+1)); echo "not ok - the scrape fails the strict format check: $(cat "$work/promcheck.err")"
  fi
  if command -v promtool >/dev/null; then
    # promtool lints names and help too; any finding is a failure
    if promtool check metrics <"$work/scrape.txt" >"$work/promtool.out" 2>&1; then
      pass=$((pass+1)); echo "ok - promtool check metrics: clean"
    else
      fail=$((fail+1)); echo "not ok - promtool check metrics: $(head -5 "$work/promtool.out")"
    fi
  fi
}
val() { # series (canonical): its value, or "absent"
  local v; v=$(grep -F -x -e "$1 $(grep -F "$1 " "$work/series" | head -1 | sed 's/.* //')" "$work/series" | head -1 | sed 's/.* //')
  echo "${v:-absent}"
}

# ---------- default: no /metrics; healthz and readyz ----------
start plain LOG_LEVEL=info || { echo "not ok - server did not start"; cat "$work/plain.log"; exit 1; }
base="http://127.0.0.1:$port"
check "no METRICS_TOKEN, no METRICS_LISTEN: /metrics is not served" 404 "$(code "$base/metrics")"
check "healthz 200" 200 "$(code "$base/healthz")"
check "healthz body" '{"status":"ok"}' "$(cat "$work/body")"
check "readyz 200" 200 "$(code "$base/readyz")"
check "readyz body (external issuer: store and token keys)" \
  '{"checks":{"store":"ok","token_keys":"ok"},"failed":[],"status":"ready"}' "$(cat "$work/body")"
check "readyz not cached" "no-store" "$(hdr Cache-Control)"
workers() { grep -o '"http_workers":"[0-9]*"\|http_workers=[0-9]*' "$work/$1.log" | grep -o '[0-9]*$' | head -1; }
check "SQLite: one HTTP worker per core (the ready line)" "$(getconf _NPROCESSORS_ONLN)" "$(workers plain)"
stop
start threads THREADS=3 || { echo "not ok - THREADS=3 server did not start"; cat "$work/threads.log"; }
check "THREADS=3: three HTTP workers" 3 "$(workers threads)"
stop

# the issuer's keys are fetched again before they expire, by the server itself (no request
# meets expired keys and waits for the fetch on its HTTP worker): keys living 3 s are
# due after 2.25 s (looked at every second), so 8 s without a request see two or three more
jwks_gets() { grep -c 'GET /jwks.json' "$work/issuer.log"; }
start ahead AUTH_JWKS_MAX_STALE_S=3 AUTH_REFETCH_COOLDOWN_S=1 || { echo "not ok - ahead server did not start"; cat "$work/ahead.log"; }
n0=$(jwks_gets); sleep 8; n1=$(jwks_gets)
check "keys fetched ahead of their expiry, no request needed" yes \
  "$( (( n1 - n0 >= 2 && n1 - n0 <= 4 )) && echo yes || echo "no: $((n1 - n0)) fetches")"
stop

# an issuer whose JWKS is gone: not ready, and it says which check
start nokeys AUTH_JWKS_URI="http://127.0.0.1:$(free_port)/none.json" AUTH_FETCH_TIMEOUT_MS=500 || { echo "not ok - nokeys server did not start"; cat "$work/nokeys.log"; }
check "readyz 503 without the issuer's keys" 503 "$(code "http://127.0.0.1:$port/readyz")"
check "readyz names the failed check" '["token_keys"]' "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["failed"],separators=(",",":")))' "$work/body")"
check "readyz 503 has Retry-After" 5 "$(hdr Retry-After)"
stop

# ---------- METRICS_TOKEN on the main listener; exact counts after known traffic ----------
mtok=metrics-0123456789abcdef
start tok METRICS_TOKEN="$mtok" TRUSTED_PROXIES=127.0.0.5/32 LOG_FORMAT=json LOG_LEVEL=info \
  || { echo "not ok - server did not start"; cat "$work/tok.log"; exit 1; }
base="http://127.0.0.1:$port"; t=$(tok_for "$port")
check "/metrics without a token: 401" 401 "$(code "$base/metrics")"
check "the 401 says how" 'Bearer realm="metrics"' "$(hdr WWW-Authenticate)"
check "/metrics with a wrong token: 401" 401 "$(code -H "Authorization: Bearer ${mtok}x" "$base/metrics")"
check "/metrics with a prefix of the token: 401" 401 "$(code -H "Authorization: Bearer ${mtok:0:20}" "$base/metrics")"
check "/metrics with the MCP token instead: 401" 401 "$(code -H "Authorization: Bearer $t" "$base/metrics")"
check "/metrics with the token: 200" 200 "$(code -H "Authorization: Bearer $mtok" "$base/metrics")"
check "content type of the text format" "text/plain; version=0.0.4; charset=utf-8" "$(hdr Content-Type)"

# traffic: 3 save_note, 1 unknown tool, 1 list_my_notes, 1 unknown method (2026-07-28)
python3 - "$port" "$t" >"$work/traffic" <<'PY' || { echo "not ok - traffic: $(cat "$work/traffic")"; fail=$((fail+1)); }
import http.client, json, sys
port, token = int(sys.argv[1]), sys.argv[2]
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
c = http.client.HTTPConnection("127.0.0.1", port)
statuses = {}
def call(method, params, name=None):
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method, "Authorization": "Bearer " + token}
    if name: h["Mcp-Name"] = name
    c.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
              "params": dict(params, _meta=meta)}), h)
    r = c.getresponse(); body = r.read()
    statuses[r.status // 100] = statuses.get(r.status // 100, 0) + 1
    return r.status, json.loads(body)
for i in range(3):
    s, b = call("tools/call", {"name": "save_note", "arguments": {"title": f"n{i}", "content": "text"}}, "save_note")
    assert s == 200 and "result" in b and not b["result"].get("isError"), b
s, b = call("tools/call", {"name": "no_such_tool\"{}", "arguments": {}}, "no_such_tool\"{}")
assert "error" in b, b
s, b = call("tools/call", {"name": "list_my_notes", "arguments": {}}, "list_my_notes")
assert s == 200 and "result" in b, b
s, b = call("made/up", {})
assert "error" in b, b
print(" ".join(f"{k}xx={v}" for k, v in sorted(statuses.items())))
PY
echo "# traffic: $(cat "$work/traffic")"
scrape "$base/metrics" -H "Authorization: Bearer $mtok"
check "save_note ok: exactly 3" 3 "$(val 'teamnotes_mcp_tool_calls_total{tool="save_note",outcome="ok"}')"
check "save_note rejected: 0" 0 "$(val 'teamnotes_mcp_tool_calls_total{tool="save_note",outcome="rejected"}')"
check "list_my_notes ok: exactly 1" 1 "$(val 'teamnotes_mcp_tool_calls_total{tool="list_my_notes",outcome="ok"}')"
check "an unknown tool is counted as other, rejected" 1 "$(val 'teamnotes_mcp_tool_calls_total{tool="other",outcome="rejected"}')"
check "a client's tool name never becomes a label" "" "$(grep -F 'no_such_tool' "$work/scrape.txt")"
check "tools/call ok: exactly 4" 4 "$(val 'teamnotes_mcp_requests_total{method="tools/call",outcome="ok"}')"
check "tools/call error: exactly 1" 1 "$(val 'teamnotes_mcp_requests_total{method="tools/call",outcome="error"}')"
check "an unknown method is other" 1 "$(val 'teamnotes_mcp_requests_total{method="other",outcome="error"}')"
check "a client's method name never becomes a label" "" "$(grep -F 'made/up' "$work/scrape.txt")"
h2=$(sed -n 's/.*2xx=\([0-9]*\).*/\1/p' "$work/traffic"); h4=$(sed -n 's/.*4xx=\([0-9]*\).*/\1/p' "$work/traffic")
check "/mcp 2xx: as the client saw" "${h2:-0}" "$(val 'teamnotes_http_requests_total{route="/mcp",code="2xx"}')"
check "/mcp 4xx: as the client saw" "${h4:-absent}" "$(val 'teamnotes_http_requests_total{route="/mcp",code="4xx"}')"
check "/metrics 4xx: the four refused scrapes" 4 "$(val 'teamnotes_http_requests_total{route="/metrics",code="4xx"}')"
check "/mcp latency count = its requests" 6 "$(val 'teamnotes_http_request_duration_seconds_count{route="/mcp"}')"
check "token cache: one miss (the first use of the token)" 1 "$(val 'teamnotes_token_cache_misses_total')"
check "token cache: five hits" 5 "$(val 'teamnotes_token_cache_hits_total')"
check "store: three note inserts timed" 3 "$(val 'teamnotes_store_call_duration_seconds_count{op="note_insert"}')"
check "store: one list timed" 1 "$(val 'teamnotes_store_call_duration_seconds_count{op="note_list"}')"
check "build info" 1 "$(val 'teamnotes_build_info{version="'"$("$build/teamnotes" --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)"'",backend="sqlite"}')"
check "no open streams" 0 "$(val 'teamnotes_sse_streams_open')"

# ---------- request ids ----------
rid() { curl -s -o /dev/null -D - "$@" | grep -i '^x-request-id:' | cut -d' ' -f2 | tr -d '\r'; }
made='^[A-Za-z0-9_-]{22}$'
id=$(rid "$base/healthz"); [[ $id =~ $made ]] && r=made || r="$id"
check "an id is made for a request without one" made "$r"
check "made ids differ" different "$([[ $(rid "$base/healthz") != "$(rid "$base/healthz")" ]] && echo different)"
id=$(rid -H 'X-Request-Id: client-chosen-1' "$base/healthz"); [[ $id =~ $made ]] && r=made || r="$id"
check "X-Request-Id from a peer that is not a trusted proxy: replaced" made "$r"
check "X-Request-Id from the trusted proxy: kept" "proxy-1.2:3_x" "$(rid --interface 127.0.0.5 -H 'X-Request-Id: proxy-1.2:3_x' "$base/healthz")"
long128=$(printf 'a%.0s' $(seq 128)); long129=$(printf 'a%.0s' $(seq 129))
check "128 characters from the proxy: kept" "$long128" "$(rid --interface 127.0.0.5 -H "X-Request-Id: $long128" "$base/healthz")"
for bad in "$long129" 'a b' 'a"b' 'a/b' 'caf%C3%A9' 'x;y'; do
  id=$(rid --interface 127.0.0.5 -H "X-Request-Id: $bad" "$base/healthz"); [[ $id =~ $made ]] && r=made || r="$id"
  check "an invalid id from the proxy (${bad:0:12}...): replaced" made "$r"
done
check "browsers may read it (CORS)" yes "$(curl -s -o /dev/null -D - -H "Origin: http://127.0.0.1:$port" "$base/healthz" | grep -i '^access-control-expose-headers:' | grep -q 'X-Request-Id' && echo yes)"
check "the id is on refusals too (401 on /mcp)" "rid-401" "$(rid --interface 127.0.0.5 -H 'X-Request-Id: rid-401' -X POST "$base/mcp" -d '{}')"
# every log line of a request carries its id: an invalid token is logged ("token refused")
curl -s -o /dev/null --interface 127.0.0.5 -H 'X-Request-Id: log-check-7' -H 'Authorization: Bearer not.a.token' \
  -H 'Content-Type: application/json' -X POST "$base/mcp" -d '{}'
sleep 0.2
line=$(grep -F '"request_id":"log-check-7"' "$work/tok.log")
check "the request's log line carries request_id" 1 "$(grep -c . <<<"$line")"
check "and it is the token refusal, valid JSON" "token refused" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["msg"])' "$line" 2>&1)"
check "lines outside a request have no request_id" 0 "$(grep '"msg":"ready"' "$work/tok.log" | grep -c request_id)"

# ---------- the body of a refused POST is drained; the connection stays usable ----------
python3 - "$port" >"$work/drain" 2>&1 <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
body = b"x" * 102400
s.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
def response():
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk: return None, data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk: break
        rest += chunk
    return head.split(b"\r\n")[0].decode(), head
st, head = response()
print(st)
print("close" if b"connection: close" in head.lower() else "keep-alive")
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
try:
    st2, _ = response()
except OSError as e:
    st2 = f"error {e}"
print(st2)
PY
check "a POST of 100 KiB without a token: 401" "HTTP/1.1 401 Unauthorized" "$(sed -n 1p "$work/drain")"
check "its connection is kept alive" "keep-alive" "$(sed -n 2p "$work/drain")"
check "and answers the next request" "HTTP/1.1 200 OK" "$(sed -n 3p "$work/drain")"
# a body declared larger than MAX_BODY_BYTES is not read: 413 and the connection closes
check "a declared 5 MiB body: 413 at once" 413 "$(code -X POST -H "Authorization: Bearer $t" -H 'Content-Length: 5242880' -H 'Content-Type: application/json' "$base/mcp" --max-time 5 --data-binary @/dev/null)"
stop

# ---------- sign-ins and registrations (the built-in authorization server) ----------
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -1 | sed 's/.*value="//;s/"$//'; }
echo 'metrics-password-1' | "$build/teamnotes" user add alice@example.com --password-stdin --data-dir "$work/data-builtin" >/dev/null 2>&1
start builtin AUTH_ISSUER= METRICS_TOKEN="$mtok" || { echo "not ok - built-in server did not start"; cat "$work/builtin.log"; }
base="http://127.0.0.1:$port"
cid=$(curl -s -X POST -H 'Content-Type: application/json' "$base/register" \
  -d '{"client_name":"metrics-test","redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
check "a registration with bad metadata: 400" 400 "$(code -X POST -H 'Content-Type: application/json' "$base/register" -d '{"client_name":"x"}')"
j="$work/jar"
curl -s -c "$j" -b "$j" -o "$work/p1" "$base/authorize?response_type=code&client_id=$cid&redirect_uri=http://127.0.0.1:9999/cb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=s"
check "a wrong password: 401" 401 "$(code -c "$j" -b "$j" "$base/authorize/login" --data-urlencode "req=$(field req "$work/p1")" \
  --data-urlencode "csrf=$(field csrf "$work/p1")" --data-urlencode email=alice@example.com --data-urlencode password=wrong-password)"
cp "$work/body" "$work/p2"
check "the right one: the consent page" 200 "$(code -c "$j" -b "$j" "$base/authorize/login" --data-urlencode "req=$(field req "$work/p2")" \
  --data-urlencode "csrf=$(field csrf "$work/p2")" --data-urlencode email=alice@example.com --data-urlencode password=metrics-password-1)"
scrape "$base/metrics" -H "Authorization: Bearer $mtok"
check "password sign-in failed: exactly 1" 1 "$(val 'teamnotes_signins_total{method="password",outcome="failed"}')"
check "password sign-in ok: exactly 1" 1 "$(val 'teamnotes_signins_total{method="password",outcome="ok"}')"
check "dynamic registration ok: exactly 1" 1 "$(val 'teamnotes_client_registrations_total{kind="dcr",outcome="ok"}')"
check "dynamic registration refused: exactly 1" 1 "$(val 'teamnotes_client_registrations_total{kind="dcr",outcome="refused"}')"
check "readyz (built-in issuer): store, signing keys, token keys" '{"checks":{"store":"ok","signing_keys":"ok","token_keys":"ok"},"failed":[],"status":"ready"}' \
  "$(curl -s "$base/readyz")"
stop

# ---------- METRICS_LISTEN ----------
start listen METRICS_LISTEN=127.0.0.1:0 || { echo "not ok - METRICS_LISTEN server did not start"; cat "$work/listen.log"; }
check "the metrics listener's port is logged" yes "$([[ -n $mport ]] && echo yes)"
check "METRICS_LISTEN: /metrics not on the main listener" 404 "$(code "http://127.0.0.1:$port/metrics")"
check "METRICS_LISTEN (loopback, no token): /metrics 200" 200 "$(code "http://127.0.0.1:$mport/metrics")"
check "the metrics listener serves /readyz" 200 "$(code "http://127.0.0.1:$mport/readyz")"
check "and nothing else" 404 "$(code "http://127.0.0.1:$mport/mcp")"
scrape "http://127.0.0.1:$mport/metrics"
stop
start listentok METRICS_LISTEN=127.0.0.1:0 METRICS_TOKEN="$mtok" || echo "not ok - server did not start"
check "METRICS_LISTEN with METRICS_TOKEN: the token is required there" 401 "$(code "http://127.0.0.1:$mport/metrics")"
check "with it: 200" 200 "$(code -H "Authorization: Bearer $mtok" "http://127.0.0.1:$mport/metrics")"
check "not on the main listener even with the token" 404 "$(code -H "Authorization: Bearer $mtok" "http://127.0.0.1:$port/metrics")"
stop
refused() { # name expected-message env...
  local name=$1 msg=$2; shift 2
  env "$@" AUTH_ISSUER="$issuer" "$build/teamnotes" serve --port 0 --data-dir "$work/data-r" >"$work/r.log" 2>&1 &
  local p=$!; pids+=($p)
  local rc=0; for _ in $(seq 100); do kill -0 $p 2>/dev/null || break; sleep 0.05; done
  if kill -0 $p 2>/dev/null; then kill $p; check "$name: refused at start" refused running; return; fi
  wait $p; rc=$?
  check "$name: refused at start" refused "$([[ $rc -ne 0 ]] && echo refused || echo "exit $rc")"
  contains "$name: says why" "$msg" "$(cat "$work/r.log")"
}
refused "METRICS_LISTEN beyond loopback without a token" "set METRICS_TOKEN too" METRICS_LISTEN=0.0.0.0:0
refused "a short METRICS_TOKEN" "METRICS_TOKEN must be at least 16 characters" METRICS_TOKEN=short
refused "METRICS_LISTEN without a port" "METRICS_LISTEN must be ADDRESS:PORT" METRICS_LISTEN=127.0.0.1

# ---------- readyz with PostgreSQL stopped and started again ----------
if pg_env=$("$root/scripts/pg-test-server" 2>"$work/pg.log"); then
  eval "$pg_env"; pg_dir=$TN_PG_DIR
  start pg DATABASE_URL="$DATABASE_URL" SECRET_KEY=0123456789abcdef0123456789abcdef || { echo "not ok - pg server did not start"; cat "$work/pg.log"; }
  check "PostgreSQL: readyz 200" 200 "$(code "http://127.0.0.1:$port/readyz")"
  check "PostgreSQL: four HTTP workers per core (they wait for round trips)" "$((4 * $(getconf _NPROCESSORS_ONLN)))" "$(workers pg)"
  if [[ $(id -u) -eq 0 ]]; then own=(runuser -u postgres --); else own=(); fi
  "${own[@]}" /usr/lib/postgresql/15/bin/pg_ctl -D "$pg_dir/data" -m fast -w stop >/dev/null
  check "PostgreSQL stopped: readyz 503" 503 "$(code --max-time 20 "http://127.0.0.1:$port/readyz")"
  check "the store is the failed check" '["store"]' "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["failed"],separators=(",",":")))' "$work/body")"
  check "healthz stays 200 (alive)" 200 "$(code "http://127.0.0.1:$port/healthz")"
  "$root/scripts/pg-test-server" restart "$pg_dir" >/dev/null 2>&1
  ok=000; for _ in $(seq 50); do ok=$(code --max-time 20 "http://127.0.0.1:$port/readyz"); [[ $ok == 200 ]] && break; sleep 0.2; done
  check "PostgreSQL back: readyz 200" 200 "$ok"
  curl -s -H "Authorization: Bearer x" "http://127.0.0.1:$port/healthz" >/dev/null
  stop
else
  echo "# PostgreSQL unavailable: readyz against a stopped database not checked"; cat "$work/pg.log"
  fail=$((fail+1)); echo "not ok - scripts/pg-test-server did not start"
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
