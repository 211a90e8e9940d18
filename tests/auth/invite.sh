#!/usr/bin/env bash
# Invitations (#18) against the real binary, driven with curl and cookie jars:
# `teamnotes user invite` with mail to the outbox (the link printed) and through a real
# SMTP server on loopback (Debian's python3-aiosmtpd, STARTTLS + AUTH, as
# tests/mail/smtp.sh starts it); the link taken from the mail; accepted by setting a
# password (then a sign-in with it) and by an email code; GET never consumes; replay,
# expiry, revocation and wrong tokens get one page; CSRF and Origin checks on the forms;
# an invited address signing in with an email code from the sign-in page gets its account;
# the exact refusals of the command line; the audit log.
# Usage: tests/auth/invite.sh BUILD_DIR. Ends with "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
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

"$py" -c 'import aiosmtpd' 2>/dev/null || { echo "not ok - python3-aiosmtpd is not installed"; fail=1; finish; }
command -v sqlite3 >/dev/null || { echo "not ok - sqlite3 is not installed"; fail=1; finish; }
cd "$work"
export -n SMTP_URL SMTP_TLS SMTP_USERNAME SMTP_PASSWORD SMTP_FROM SMTP_FROM_NAME SMTP_CA_FILE DATABASE_URL SIGNIN_METHODS BASE_URL INVITE_TTL_S 2>/dev/null
unset SMTP_URL SMTP_TLS SMTP_USERNAME SMTP_PASSWORD SMTP_FROM SMTP_FROM_NAME SMTP_CA_FILE DATABASE_URL SIGNIN_METHODS BASE_URL INVITE_TTL_S

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
# the text part of an .eml file, decoded
eml_text() { "$py" -c 'import email,sys
m=email.message_from_binary_file(open(sys.argv[1],"rb"))
for p in m.walk():
    if p.get_content_type()=="text/plain": sys.stdout.write(p.get_payload(decode=True).decode())' "$1"; }
eml_html() { "$py" -c 'import email,sys
m=email.message_from_binary_file(open(sys.argv[1],"rb"))
for p in m.walk():
    if p.get_content_type()=="text/html": sys.stdout.write(p.get_payload(decode=True).decode())' "$1"; }
link_in() { eml_text "$1" | grep -oE 'http://[^ ]*/invite\?t=[A-Za-z0-9_-]+' | head -1; }
code_in() { eml_text "$1" | grep -oE '^    [0-9]{6}$' | tr -d ' '; }
nmail() { find "$work/mail" -name '*.eml' | wc -l; }

# ---------- teamnotes: one data directory, mail to the outbox or through SMTP
data="$work/data"
port=$(free_port); base="http://127.0.0.1:$port"
D=(--data-dir "$data")
echo 'admin-password-1' | "$tn" user add admin@example.com --name "Ada Admin" --role admin --password-stdin "${D[@]}" >/dev/null 2>&1
"$tn" org add Acme "${D[@]}" >/dev/null 2>&1
inv() { env BASE_URL="$base" "$@"; }

# ---------- 1. the command line: exact refusals, nothing stored for them
err() { "$tn" user invite "$@" "${D[@]}" 2>&1 >/dev/null; echo "rc=$?"; }
check "no role" $'teamnotes: user invite needs --role viewer|editor|admin\nrc=2' "$(err bob@example.com)"
check "not an address" $'teamnotes: \'bob@\' is not a plain email address such as alice@example.com\nrc=2' "$(err bob@ --role editor)"
check "header injection refused" $'teamnotes: \'bob@example.com\r\nBcc: eve@evil.example\' is not a plain email address such as alice@example.com\nrc=2' \
  "$(err $'bob@example.com\r\nBcc: eve@evil.example' --role editor)"
check "unknown role" $'teamnotes: unknown role \'owner\' (one of viewer, editor, admin)\nrc=2' "$(err bob@example.com --role owner)"
check "unknown organization" $'teamnotes: no organization \'Nope\' (see `teamnotes org list`)\nrc=2' "$(err bob@example.com --role editor --org Nope)"
check "unknown inviter" $'teamnotes: no active account for the inviter eve@example.com\nrc=2' "$(err bob@example.com --role editor --by eve@example.com)"
check "existing account" $'teamnotes: admin@example.com already has an account: they can sign in with it\nrc=1' "$(err Admin@Example.com --role viewer)"
check "nothing pending after refusals" "no pending invitations" "$("$tn" user invites "${D[@]}" 2>/dev/null)"

# ---------- 2. invite through the outbox: the link printed and in the mail
out=$(inv "$tn" user invite Bob@Example.com --role editor --org Acme --by admin@example.com "${D[@]}" 2>/dev/null); rc=$?
check "invite (outbox) exit" 0 "$rc"
contains "what it did" "invited bob@example.com as editor (organization Acme), valid once until" "$out"
printed=$(grep -oE 'http://[^ ]*/invite\?t=[A-Za-z0-9_-]+' <<<"$out")
file=$(sed -n 's/^the mail is in \(.*\) (no SMTP_URL)$/\1/p' <<<"$out")
check "the mail is in the outbox" 1 "$([[ -f $file ]] && echo 1)"
l_bob=$(link_in "$file")
check "the mail's link is the printed one" "$printed" "$l_bob"
contains "link on BASE_URL" "$base/invite?t=" "$l_bob"
contains "mail: who invited, the role, the organization" "Ada Admin (admin@example.com) invited you to teamnotes as editor in the organization Acme." "$(eml_text "$file")"
contains "mail: expiry" "The link works once, until" "$(eml_text "$file")"
contains "html part: the button" "Accept the invitation</a>" "$(eml_html "$file")"
listed=$("$tn" user invites "${D[@]}" 2>/dev/null)
contains "listed as pending" "bob@example.com                  editor   Acme                 admin@example.com" "$listed"
tok=${l_bob#*t=}
check "the token is not in the database" 0 "$(sqlite3 "$data/teamnotes.db" "SELECT COUNT(*) FROM invitations WHERE CAST(hash AS TEXT) LIKE '%$tok%' OR email LIKE '%$tok%'")"
check "its SHA-256 is" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT COUNT(*) FROM invitations WHERE hex(hash) = upper('$(printf '%s' "$tok" | sha256sum | cut -c1-64)')")"

# ---------- the server (outbox: no SMTP)
start_tn() { # log env...
  local log=$1; shift
  env "$@" "$tn" serve --port "$port" --data-dir "$data" >"$log" 2>&1 &
  pids+=($!); srv=$!
  wait_line "$log" "ready"
}
stop_tn() { kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; }
start_tn "$work/tn1.log" SIGNIN_METHODS=password,email || { fail=1; finish; }
code() { curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' "$@"; }
body() { cat "$work/body"; }
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$work/body" | head -1 | sed 's/.*value="//;s/"$//'; }
hdr() { grep -i "^$1:" "$work/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# ---------- 3. GET shows the invitation and never consumes it
check "invite page" 200 "$(code -c "$work/jb" "$l_bob")"
contains "title" "<h1>You are invited to teamnotes</h1>" "$(body)"
contains "role and organization" "as <strong>editor</strong> (<bdi>Acme</bdi>) for <strong>bob@example.com</strong>" "$(body)"
contains "inviter" "Invited by <bdi>Ada Admin</bdi>" "$(body)"
contains "password form" 'action="/invite"' "$(body)"
contains "email-code form" 'action="/invite/email"' "$(body)"
contains "CSP" "default-src 'none'" "$(hdr Content-Security-Policy)"
check "opened again (a mail scanner first)" 200 "$(code -b "$work/jb" -c "$work/jb" "$l_bob")"
csrf=$(field csrf)
check "still pending after two GETs" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT COUNT(*) FROM invitations WHERE email='bob@example.com' AND used_at=0")"
accept() { # jar password password2 [origin]
  local jar=$1 p1=$2 p2=$3 origin=${4:-$base}
  code -b "$jar" -c "$jar" -H "Origin: $origin" "$base/invite" --data-urlencode "t=$tok" \
    --data-urlencode "csrf=$csrf" --data-urlencode "name=Bob Builder" \
    --data-urlencode "password=$p1" --data-urlencode "password2=$p2"
}

# ---------- 4. the form's checks: CSRF, Origin, password rules
check "no CSRF token" 403 "$(code -b "$work/jb" -H "Origin: $base" "$base/invite" --data-urlencode "t=$tok" \
  --data-urlencode "password=bob-password-1" --data-urlencode "password2=bob-password-1")"
contains "session expired page" "Session expired" "$(body)"
check "CSRF token without its cookie" 403 "$(code -H "Origin: $base" "$base/invite" --data-urlencode "t=$tok" \
  --data-urlencode "csrf=$csrf" --data-urlencode "password=bob-password-1" --data-urlencode "password2=bob-password-1")"
check "foreign Origin" 403 "$(accept "$work/jb" bob-password-1 bob-password-1 https://evil.example)"
contains "refused by the Origin check" "Invalid Origin" "$(body)"
check "short password" 400 "$(accept "$work/jb" short short)"
contains "password rule" "The password needs at least 10 characters." "$(body)"
check "passwords differ" 400 "$(accept "$work/jb" bob-password-1 bob-password-2)"
contains "differ message" "The two passwords differ." "$(body)"
contains "name kept" 'value="Bob Builder"' "$(body)"
check "no account yet" 1 "$("$tn" user show bob@example.com "${D[@]}" >/dev/null 2>&1; echo $?)"

# ---------- 5. accepted by setting a password: account, session, "You're in"
check "accept with a password" 200 "$(accept "$work/jb" bob-password-1 bob-password-1)"
contains "you're in" "<h1>You’re in</h1>" "$(body)"
contains "the MCP URL" "<code>$base/mcp</code>" "$(body)"
contains "session cookie" "tn_session=" "$(grep -i '^set-cookie' "$work/hdr")"
show=$("$tn" user show bob@example.com "${D[@]}" 2>/dev/null)
contains "account: role" "role         editor" "$show"
contains "account: name" "name         Bob Builder" "$show"
acme=$("$tn" org list "${D[@]}" 2>/dev/null | awk '$1=="Acme"{print $2}')
contains "account: organization" "organization $acme" "$show"
check "replayed form" 400 "$(accept "$work/jb" bob-password-9 bob-password-9)"
contains "replay: the one page" "This invitation does not work" "$(body)"
used_page=$(body)
check "link after use" 400 "$(code "$l_bob")"
check "used link: the same page" "$used_page" "$(body)"
check "no longer pending" "no pending invitations" "$("$tn" user invites "${D[@]}" 2>/dev/null)"

# ---------- 6. Bob signs in with that password (an OAuth client, PKCE)
verifier() { openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n'; }
challenge() { printf '%s' "$1" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\n'; }
ru="http://127.0.0.1:9/cb"
code -X POST "$base/register" -H 'Content-Type: application/json' \
  -d "{\"client_name\":\"Invite test\",\"redirect_uris\":[\"$ru\"],\"token_endpoint_auth_method\":\"none\"}" >/dev/null
cid=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/body")
start() { # jar: GET /authorize; sets req, csrf
  ver=$(verifier)
  code -b "$1" -c "$1" -G "$base/authorize" -d response_type=code --data-urlencode "client_id=$cid" \
    --data-urlencode "redirect_uri=$ru" -d state=s-1 --data-urlencode "code_challenge=$(challenge "$ver")" \
    -d code_challenge_method=S256 >"$work/st"
  req=$(field req); csrf=$(field csrf)
}
start "$work/jb2"
check "sign in with the chosen password: consent" 200 "$(code -b "$work/jb2" -c "$work/jb2" -H "Origin: $base" "$base/authorize/login" \
  --data-urlencode "req=$req" --data-urlencode "csrf=$csrf" --data-urlencode "email=bob@example.com" --data-urlencode "password=bob-password-1")"
contains "signed in as bob" "Signed in as <strong>bob@example.com</strong>" "$(body)"
check "consent allowed" 303 "$(code -b "$work/jb2" -c "$work/jb2" -H "Origin: $base" "$base/authorize/consent" \
  --data-urlencode "req=$(field req)" --data-urlencode "csrf=$(field csrf)" -d decision=allow)"
authcode=$("$py" -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query).get("code",[""])[0])' "$(hdr Location)")
code -X POST "$base/token" -d grant_type=authorization_code --data-urlencode "code=$authcode" \
  --data-urlencode "redirect_uri=$ru" --data-urlencode "client_id=$cid" --data-urlencode "code_verifier=$ver" >"$work/st"
check "token for bob" 200 "$(cat "$work/st")"
contains "editor's scopes" '"scope":"notes:read notes:write"' "$(body)"

# ---------- 7. unknown, malformed, expired and revoked tokens: the same page
check "unknown token" 400 "$(code "$base/invite?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")"
check "unknown: the same page" "$used_page" "$(body)"
check "malformed token" 400 "$(code "$base/invite?t=%3Cscript%3E")"
check "malformed: the same page" "$used_page" "$(body)"
check "no token" 400 "$(code "$base/invite")"
out=$(inv "$tn" user invite carol@example.com --role viewer "${D[@]}" 2>/dev/null)
l_carol=$(grep -oE 'http://[^ ]*/invite\?t=[A-Za-z0-9_-]+' <<<"$out")
check "carol's invitation works" 200 "$(code -c "$work/jc" "$l_carol")"
csrf=$(field csrf)
sqlite3 "$data/teamnotes.db" "UPDATE invitations SET expires_at = strftime('%s','now') - 1 WHERE email = 'carol@example.com'"
check "expired link" 400 "$(code "$l_carol")"
check "expired: the same page" "$used_page" "$(body)"
tok=${l_carol#*t=}
check "expired: accepting refused" 400 "$(accept "$work/jc" carol-password-1 carol-password-1)"
check "expired: no account" 1 "$("$tn" user show carol@example.com "${D[@]}" >/dev/null 2>&1; echo $?)"
out=$(inv "$tn" user invite frank@example.com --role viewer "${D[@]}" 2>/dev/null)
l_frank=$(grep -oE 'http://[^ ]*/invite\?t=[A-Za-z0-9_-]+' <<<"$out")
check "revoke" "revoked the invitation of frank@example.com; its link no longer works" "$("$tn" user invite-revoke frank@example.com "${D[@]}" 2>/dev/null)"
check "revoked link" 400 "$(code "$l_frank")"
check "revoke again" $'teamnotes: no pending invitation for frank@example.com\nrc=1' "$("$tn" user invite-revoke frank@example.com "${D[@]}" 2>&1 >/dev/null; echo "rc=$?")"
# an invitation dies with its inviter's account: an administrator disabled after
# inviting (say, on the way out, an address of their own as admin) leaves a dead link
echo 'admin2-password-1' | "$tn" user add admin2@example.com --role admin --password-stdin "${D[@]}" >/dev/null 2>&1
out=$(inv "$tn" user invite gina@example.com --role admin --by admin2@example.com "${D[@]}" 2>/dev/null)
l_gina=$(grep -oE 'http://[^ ]*/invite\?t=[A-Za-z0-9_-]+' <<<"$out")
check "gina's invitation works" 200 "$(code -c "$work/jg" "$l_gina")"
csrf=$(field csrf); tok=${l_gina#*t=}
"$tn" user disable admin2@example.com "${D[@]}" >/dev/null 2>&1
check "its inviter disabled: the link no longer works, the same page" "400 1" "$(code "$l_gina") $([[ $(body) == "$used_page" ]] && echo 1)"
check "its inviter disabled: accepting refused, no account" "400 1" "$(accept "$work/jg" gina-password-1 gina-password-1) $("$tn" user show gina@example.com "${D[@]}" >/dev/null 2>&1; echo $?)"
lacks "no token in the server log" "$tok" "$(cat "$work/tn1.log")"
stop_tn

# ---------- 8. through SMTP, accepted with an email code
start_tn "$work/tn2.log" "${smtp[@]}" SIGNIN_METHODS=password,email || { fail=1; finish; }
out=$(inv env "${smtp[@]}" "$tn" user invite dave@example.com --role viewer --org Acme "${D[@]}" 2>/dev/null); rc=$?
check "invite (SMTP) exit" 0 "$rc"
contains "mailed through SMTP" "mailed through smtp://127.0.0.1:$smtp_port" "$out"
lacks "no link printed with SMTP" "/invite?t=" "$out"
check "one message" 1 "$(nmail)"
rec=$("$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["rcpt_tos"][0], r["starttls"], r["auth"]["login"])' "$work/mail/1.json")
check "to dave over STARTTLS with AUTH" "dave@example.com True mailer" "$rec"
l_dave=$(link_in "$work/mail/1.eml")
contains "the link from the mail" "$base/invite?t=" "$l_dave"
check "dave's page" 200 "$(code -c "$work/jd" "$l_dave")"
contains "email-code button" "Email me a sign-in code" "$(body)"
tok=${l_dave#*t=}; csrf=$(field csrf)
check "email form without CSRF" 403 "$(code -b "$work/jd" -H "Origin: $base" "$base/invite/email" --data-urlencode "t=$tok")"
check "email form, foreign Origin" 403 "$(code -b "$work/jd" -H "Origin: https://evil.example" "$base/invite/email" --data-urlencode "t=$tok" --data-urlencode "csrf=$csrf")"
check "no code sent for refused forms" 1 "$(nmail)"
check "ask for a code" 200 "$(code -b "$work/jd" -c "$work/jd" -H "Origin: $base" "$base/invite/email" --data-urlencode "t=$tok" --data-urlencode "csrf=$csrf")"
contains "check your email" "<h1>Check your email</h1>" "$(body)"
check "the code's message" 2 "$(nmail)"
c_dave=$(code_in "$work/mail/2.eml")
check "a 6-digit code" 6 "${#c_dave}"
check "still pending while the code travels" 1 "$(sqlite3 "$data/teamnotes.db" "SELECT COUNT(*) FROM invitations WHERE email='dave@example.com' AND used_at=0")"
check "the code accepts" 200 "$(code -b "$work/jd" -c "$work/jd" -H "Origin: $base" "$base/authorize/email/code" \
  --data-urlencode "req=$(field req)" --data-urlencode "csrf=$(field csrf)" --data-urlencode "code=$c_dave")"
contains "you're in (email)" "<h1>You’re in</h1>" "$(body)"
contains "session (email)" "tn_session=" "$(grep -i '^set-cookie' "$work/hdr")"
show=$("$tn" user show dave@example.com "${D[@]}" 2>/dev/null)
contains "dave: viewer" "role         viewer" "$show"
contains "dave: Acme" "organization $acme" "$show"
check "dave's link is used" 400 "$(code "$l_dave")"

# ---------- 9. an invited address signs in with an email code from the sign-in page
out=$(inv env "${smtp[@]}" "$tn" user invite erin@example.com --role editor "${D[@]}" 2>/dev/null)
check "erin invited" 3 "$(nmail)"
start "$work/je"
check "erin asks for a code" 200 "$(code -b "$work/je" -c "$work/je" -H "Origin: $base" "$base/authorize/email" \
  --data-urlencode "req=$req" --data-urlencode "csrf=$csrf" --data-urlencode "email=erin@example.com")"
check "a code for the invited address" 4 "$(nmail)"
c_erin=$(code_in "$work/mail/4.eml")
check "erin's code: consent" 200 "$(code -b "$work/je" -c "$work/je" -H "Origin: $base" "$base/authorize/email/code" \
  --data-urlencode "req=$req" --data-urlencode "csrf=$csrf" --data-urlencode "code=$c_erin")"
contains "signed in as erin" "Signed in as <strong>erin@example.com</strong>" "$(body)"
contains "erin: editor" "role         editor" "$("$tn" user show erin@example.com "${D[@]}" 2>/dev/null)"
# an address without an account or invitation still gets no mail (and the same page)
start "$work/jx"
check "unknown address: the same page" 200 "$(code -b "$work/jx" -c "$work/jx" -H "Origin: $base" "$base/authorize/email" \
  --data-urlencode "req=$req" --data-urlencode "csrf=$csrf" --data-urlencode "email=nobody@example.com")"
check "no mail to it" 4 "$(nmail)"
check "no account for it" 1 "$("$tn" user show nobody@example.com "${D[@]}" >/dev/null 2>&1; echo $?)"
stop_tn

# ---------- 10. the audit log: who invited, how each accepted, the revocation; no token
audit=$("$tn" audit --limit 50 "${D[@]}" 2>/dev/null)
contains "audit: created by the admin" "invite_created   -                        $("$tn" user show admin@example.com "${D[@]}" 2>/dev/null | awk '/^id/{print $2}')  client=invitee:bob@example.com" "$audit"
contains "audit: accepted by password" "client=method:password" "$audit"
contains "audit: accepted by email" "client=method:email" "$audit"
contains "audit: revoked" "invite_revoked   -                        cli  client=invitee:frank@example.com" "$audit"
lacks "audit: no token" "$tok" "$audit"

# ---------- 11. the methods on the page follow SIGNIN_METHODS
out=$(inv "$tn" user invite gil@example.com --role viewer "${D[@]}" 2>/dev/null)
l_gil=$(grep -oE 'http://[^ ]*/invite\?t=[A-Za-z0-9_-]+' <<<"$out")
start_tn "$work/tn3.log" SIGNIN_METHODS=password || { fail=1; finish; }
check "password only: page" 200 "$(code -c "$work/jg" "$l_gil")"
lacks "password only: no email-code form" 'action="/invite/email"' "$(body)"
tok=${l_gil#*t=}; csrf=$(field csrf)
check "password only: /invite/email refused" 404 "$(code -b "$work/jg" -H "Origin: $base" "$base/invite/email" --data-urlencode "t=$tok" --data-urlencode "csrf=$csrf")"
stop_tn
start_tn "$work/tn4.log" SIGNIN_METHODS=email || { fail=1; finish; }
check "email only: page" 200 "$(code -c "$work/jg" "$l_gil")"
lacks "email only: no password form" 'action="/invite"' "$(body)"
csrf=$(field csrf)
check "email only: password accept refused" 404 "$(code -b "$work/jg" -H "Origin: $base" "$base/invite" --data-urlencode "t=$tok" \
  --data-urlencode "csrf=$csrf" --data-urlencode "password=gil-password-1" --data-urlencode "password2=gil-password-1")"
stop_tn

finish
