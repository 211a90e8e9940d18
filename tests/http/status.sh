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

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
