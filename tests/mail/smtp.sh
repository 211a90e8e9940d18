#!/usr/bin/env bash
# Mail delivery against a real SMTP server on loopback (Debian's python3-aiosmtpd), driven
# through `teamnotes mail test`: STARTTLS with AUTH required, implicit TLS, refusals,
# timeouts, and the outbox. Usage: tests/mail/smtp.sh BUILD_DIR
# Ends with "N passed, M failed"; exits non-zero when anything failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
here="$root/tests/mail"
py=/usr/bin/python3  # Debian's, where python3-aiosmtpd lives (not a pyenv shim)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
pass=0; fail=0
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; exit $?; }

if ! "$py" -c 'import aiosmtpd' 2>/dev/null; then
  echo "not ok - python3-aiosmtpd is not installed (scripts/setup --test)"; fail=1; finish
fi

# A self-signed certificate for 127.0.0.1 and localhost: the client trusts it only
# through SMTP_CA_FILE. A second one names another host (name checks).
mkcert() { # prefix subjectAltName
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=$2" -keyout "$work/$1.key" -out "$work/$1.pem" 2>/dev/null
}
mkcert cert "DNS:localhost,IP:127.0.0.1" && mkcert other "DNS:mail.other.example" ||
  { echo "not ok - openssl could not make a certificate"; fail=1; finish; }

servers=(starttls smtps plain blackhole othername)
start() { # name mode cert -> sets port_<name>, messages in $work/<name>/
  mkdir -p "$work/$1"
  "$py" "$here/smtpd.py" "$2" "$work/$3.pem" "$work/$3.key" "$work/$1" "$work/$1.port" \
    >"$work/$1.log" 2>&1 &
  pids+=($!)
}
start starttls starttls cert; start smtps smtps cert; start plain plain cert
start blackhole blackhole cert; start othername starttls other
for _ in $(seq 100); do
  ready=1; for m in "${servers[@]}"; do [[ -f $work/$m.port ]] || ready=0; done
  [[ $ready = 1 ]] && break
  sleep 0.1
done
for m in "${servers[@]}"; do
  [[ -f $work/$m.port ]] || { echo "not ok - the $m server did not start"; cat "$work/$m.log"; fail=1; finish; }
  printf -v "port_$m" '%s' "$(cat "$work/$m.port")"
done
# a port nobody listens on
closed=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# The test runs in its own directory so no .env of the repository is read.
cd "$work"
export -n SMTP_URL SMTP_TLS SMTP_USERNAME SMTP_PASSWORD SMTP_FROM SMTP_FROM_NAME SMTP_CA_FILE DATABASE_URL 2>/dev/null
PASSWORD='s3cret-pass'
base=(--data-dir "$work/data" --smtp-from notes@example.com --smtp-username mailer --smtp-ca-file "$work/cert.pem")
count() { find "$work/$1" -name '*.json' | wc -l; }

# Content that exercises the encodings: non-ASCII, lines far past 76 characters, leading
# dots and "From ", trailing spaces, '=' signs, tabs, a blank last line.
long=$(printf 'Grüße aus Köln — %.0s' $(seq 12))
subject="Your sign-in code for Team Notes ✓ — Grüße aus Köln, 日本語のテスト, long enough to be folded"
{ printf 'Hello Bob,\n\n'; printf '%s\n' "$long"; printf '.a line with a leading dot\n.\nFrom the team\n'
  printf 'a=b==c =3D\ntrailing spaces   \ntab\tin the middle\t\n\n'; } >"$work/body.txt"
{ printf '<!doctype html>\n<html><body><p style="color:#333">Hello <b>Bob</b>,</p>\n'
  printf '<p>%s</p>\n' "$long"; printf '<p>Your code: <code>123456</code> — 日本語</p></body></html>\n'; } >"$work/body.html"
send() { # extra args...; sets rc, out, err, secs
  local t0 t1
  t0=$(date +%s%N)
  out=$("$tn" mail test bob@example.org --subject "$subject" --text-file "$work/body.txt" \
        --html-file "$work/body.html" "$@" 2>"$work/stderr"); rc=$?
  t1=$(date +%s%N)
  err=$(cat "$work/stderr")
  secs=$(( (t1 - t0) / 1000000 ))
}
inspect() { # dir n -> $work/insp.txt and decoded parts in $work/got.*
  "$py" "$here/readmsg.py" "$work/$1/$2.eml" "$work/got" "$3" >"$work/insp.txt" 2>&1
}
field() { sed -n "s/^$1=//p" "$work/insp.txt"; }
rec() { "$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); v=r
for k in sys.argv[2].split("."): v=v[k] if v is not None else None
print(json.dumps(v))' "$work/$1/$2.json" "$3"; }

# ---- 1. STARTTLS with AUTH: the message arrives exactly ----
SMTP_PASSWORD=$PASSWORD send "${base[@]}" --smtp-url "smtp://127.0.0.1:$port_starttls" --smtp-from-name "Équipe Notes"
check "STARTTLS: mail test succeeds" "0|sent a test message to bob@example.org through smtp://127.0.0.1:$port_starttls (STARTTLS required, AUTH)" "$rc|$out"
check "STARTTLS: one message received" 1 "$(count starttls)"
check "envelope from" '"notes@example.com"' "$(rec starttls 1 mail_from)"
check "envelope rcpt" '["bob@example.org"]' "$(rec starttls 1 rcpt_tos)"
check "STARTTLS was used" true "$(rec starttls 1 starttls)"
check "authenticated as mailer" '"mailer"' "$(rec starttls 1 auth.login)"
check "EHLO name: the machine's by default" "\"$(hostname)\"" "$(rec starttls 1 ehlo)"
check "AUTH mechanism" yes "$(grep -qE '"(PLAIN|LOGIN)"' <<<"$(rec starttls 1 auth.mechanism)" && echo yes)"
inspect starttls 1 example.com
check "message parses" "" "$(grep -E '^Traceback' "$work/insp.txt")"
check "CRLF line ends only" yes "$(field crlf)"
check "7-bit ASCII on the wire" yes "$(field ascii)"
check "header lines at most 78" 1 "$(( $(field header_lines_max) <= 78 ))"
check "body lines at most 76" 1 "$(( $(field body_lines_max) <= 76 ))"
check "exactly our header fields" "Date,From,To,Subject,Message-ID,MIME-Version,Auto-Submitted,Content-Type" "$(field header_names)"
check "From with display name" "Équipe Notes <notes@example.com>" "$(field from)"
check "To" "bob@example.org" "$(field to)"
check "Subject decoded back" "$subject" "$(field subject)"
check "Date in RFC 5322 form, UTC, now" yes "$(field date_ok)"
check "Message-ID random at the From domain" yes "$(field message_id_ok)"
check "MIME-Version" "1.0" "$(field mime)"
check "Auto-Submitted" "auto-generated" "$(field auto_submitted)"
check "multipart/alternative" "multipart/alternative" "$(field type)"
check "boundary delimits exactly two parts" yes "$(field boundary_ok)"
check "parts" "text/plain;utf-8;quoted-printable,text/html;utf-8;quoted-printable" "$(field parts)"
check "no defects seen by the parser" 0 "$(field defects)"
check "text part decoded back (email)" same "$(cmp -s "$work/body.txt" "$work/got.text" && echo same)"
check "html part decoded back (email)" same "$(cmp -s "$work/body.html" "$work/got.html" && echo same)"
check "text part decoded back (quopri)" same "$(cmp -s "$work/body.txt" "$work/got.text.quopri" && echo same)"
check "html part decoded back (quopri)" same "$(cmp -s "$work/body.html" "$work/got.html.quopri" && echo same)"
check "log line: to, subject, outcome" yes "$(grep -q "info  mail sent to=bob@example.org subject=$subject via=smtp://127.0.0.1:$port_starttls" <<<"$err" && echo yes)"
check "log holds neither password nor body" "" "$(grep -E "$PASSWORD|leading dot|123456" <<<"$err")"

# ---- 2. refusals ----
SMTP_PASSWORD=wrong-password send "${base[@]}" --smtp-url "smtp://127.0.0.1:$port_starttls"
check "wrong password: exit 1" 1 "$rc"
check "wrong password: clear error" yes "$(grep -q 'teamnotes: the test message to bob@example.org was not delivered: Login denied.*(last SMTP reply 535) (the server refused SMTP_USERNAME/SMTP_PASSWORD)' <<<"$err" && echo yes)"
check "wrong password: nothing delivered" 1 "$(count starttls)"
check "wrong password: not in the output" "" "$(grep -- wrong-password <<<"$err$out")"

SMTP_PASSWORD=$PASSWORD send "${base[@]}" --smtp-url "smtp://127.0.0.1:$port_plain"
check "server without STARTTLS: refused by us" 1 "$rc"
check "server without STARTTLS: says so" yes "$(grep -q 'STARTTLS not' <<<"$err" && echo yes)"
check "server without STARTTLS: nothing sent in plaintext" 0 "$(count plain)"
SMTP_PASSWORD=$PASSWORD send "${base[@]}" --smtp-url "smtp://127.0.0.1:$port_starttls" --smtp-tls none
check "plaintext to a server requiring STARTTLS: refused" 1 "$rc"
check "plaintext refused: the server's 530" yes "$(grep -q '(last SMTP reply 530)' <<<"$err" && echo yes)"
check "plaintext refused: nothing delivered" 1 "$(count starttls)"
SMTP_PASSWORD=$PASSWORD send --data-dir "$work/data" --smtp-from notes@example.com --smtp-username mailer \
  --smtp-url "smtp://127.0.0.1:$port_starttls"
check "certificate of an unknown CA: refused" 1 "$rc"
check "unknown CA: TLS error" yes "$(grep -qiE 'certificate|SSL' <<<"$err" && echo yes)"
check "unknown CA: nothing delivered" 1 "$(count starttls)"
SMTP_PASSWORD=$PASSWORD send --data-dir "$work/data" --smtp-from notes@example.com --smtp-username mailer \
  --smtp-ca-file "$work/other.pem" --smtp-url "smtp://127.0.0.1:$port_othername"
check "certificate for another name: refused" "1|0" "$rc|$(count othername)"
check "another name: says so" yes "$(grep -qiE "certificate|SSL" <<<"$err" && echo yes)"

# ---- 3. unreachable and silent servers, within the timeout ----
SMTP_PASSWORD=$PASSWORD send "${base[@]}" --smtp-url "smtp://127.0.0.1:$closed" --smtp-timeout-ms 2000
check "connection refused: exit 1" 1 "$rc"
check "connection refused: says so" yes "$(grep -q "Couldn't connect" <<<"$err" && echo yes)"
check "connection refused: fast" 1 "$(( secs < 2000 ))"
SMTP_PASSWORD=$PASSWORD send "${base[@]}" --smtp-url "smtp://127.0.0.1:$port_blackhole" --smtp-timeout-ms 2000
check "silent server: exit 1" 1 "$rc"
check "silent server: timeout" yes "$(grep -qi 'timeout' <<<"$err" && echo yes)"
check "silent server: gives up after 2 s, not much later ($secs ms)" 1 "$(( secs >= 1900 && secs < 5000 ))"

# ---- 4. implicit TLS ----
SMTP_PASSWORD=$PASSWORD send "${base[@]}" --smtp-url "smtps://127.0.0.1:$port_smtps/notes.test.example"
check "smtps: mail test succeeds" "0|sent a test message to bob@example.org through smtps://127.0.0.1:$port_smtps/notes.test.example (implicit TLS, AUTH)" "$rc|$out"
check "smtps: EHLO name from the URL path" '"notes.test.example"' "$(rec smtps 1 ehlo)"
check "smtps: received over implicit TLS" "true|false|\"mailer\"" "$(rec smtps 1 implicit_tls)|$(rec smtps 1 starttls)|$(rec smtps 1 auth.login)"
inspect smtps 1 example.com
check "smtps: text decoded back" same "$(cmp -s "$work/body.txt" "$work/got.text" && echo same)"
check "smtps: From default display name" "teamnotes <notes@example.com>" "$(field from)"
SMTP_PASSWORD=$PASSWORD send "${base[@]}" --smtp-url "smtps://127.0.0.1:$port_starttls" --smtp-timeout-ms 3000
check "smtps:// to a STARTTLS port: TLS fails, no plaintext fallback" "1|1" "$rc|$(count starttls)"

# ---- 5. the outbox without SMTP_URL ----
out=$("$tn" mail test carol@example.net --data-dir "$work/obx" 2>"$work/stderr"); rc=$?
err=$(cat "$work/stderr")
f=$(ls "$work"/obx/outbox/*.eml 2>/dev/null)
check "outbox: exit 0, path printed" "0|wrote a test message for carol@example.net to $f" "$rc|$out"
check "outbox: one file named <time>-<id>.eml" 1 "$(ls "$work/obx/outbox" | grep -cE '^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9_-]{12}\.eml$')"
check "outbox: file 0600, directory 0700" "600|700" "$(stat -c %a "$f")|$(stat -c %a "$work/obx/outbox")"
check "outbox: one log line says where" yes "$(grep -q "mail written to the outbox (no SMTP_URL configured) to=carol@example.net subject=teamnotes test message ✓ path=$f" <<<"$err" && echo yes)"
inspect obx/outbox "$(basename "$f" .eml)" localhost.invalid
check "outbox: the message parses, default sender" "teamnotes <teamnotes@localhost.invalid>|carol@example.net|yes" "$(field from)|$(field to)|$(field boundary_ok)"
check "outbox: default text with non-ASCII" yes "$(grep -q 'Grüße, ✓' "$work/got.text" && echo yes)"

# ---- 6. configuration and hostile input refused before anything is sent ----
"$tn" mail test bob@example.org --smtp-url "smtp://127.0.0.1:$port_starttls" >/dev/null 2>"$work/stderr"; rc=$?
check "SMTP_URL without SMTP_FROM" "2|teamnotes: SMTP_URL is set but SMTP_FROM is not: give the sender address mail goes out as (e.g. notes@example.com)" "$rc|$(cat "$work/stderr")"
"$tn" serve --data-dir "$work/srv" --port 0 --smtp-url "smtp://mail.example.com" --smtp-from notes@example.com --smtp-tls none >/dev/null 2>"$work/stderr"; rc=$?
check "serve refuses to start: SMTP_TLS=none off loopback" "2|teamnotes: SMTP_TLS=none sends mail (sign-in codes, and SMTP passwords) unencrypted: it is allowed only to a relay on a loopback SMTP_URL host (127.0.0.1, ::1, localhost)" "$rc|$(cat "$work/stderr")"
"$tn" serve --data-dir "$work/srv" --port 0 --smtp-url "smtps://mail.example.com" --smtp-from "Notes <n@example.com>" >/dev/null 2>"$work/stderr"; rc=$?
check "serve refuses to start: SMTP_FROM with a name" 2 "$rc"
SMTP_URL="smtp://u:pw@mail.example.com" SMTP_FROM=n@example.com "$tn" serve --data-dir "$work/srv" --port 0 >/dev/null 2>"$work/stderr"; rc=$?
check "serve refuses to start: credentials in SMTP_URL (env)" "2|teamnotes: SMTP_URL must not carry credentials: set SMTP_USERNAME and SMTP_PASSWORD (the password is kept secret there)" "$rc|$(cat "$work/stderr")"
SMTP_PASSWORD=$PASSWORD "$tn" serve --print-config --smtp-username mailer | grep '^SMTP_PASSWORD' >"$work/cfg"
check "print-config redacts SMTP_PASSWORD" "SMTP_PASSWORD=<redacted>    # env" "$(cat "$work/cfg")"
n0=$(count starttls)
for a in 'bob@example.org>,<evil@x.example' 'evil>,<bob@example.org' $'bob@example.org\r\nBcc: evil@x.example' '"bob"@example.org' 'bob@[127.0.0.1]'; do
  SMTP_PASSWORD=$PASSWORD "$tn" mail test "$a" "${base[@]}" --smtp-url "smtp://127.0.0.1:$port_starttls" >/dev/null 2>"$work/stderr"; rc=$?
  check "hostile recipient refused: $(printf %q "$a")" 2 "$rc"
done
SMTP_PASSWORD=$PASSWORD "$tn" mail test bob@example.org --subject $'hi\r\nBcc: evil@x.example' "${base[@]}" \
  --smtp-url "smtp://127.0.0.1:$port_starttls" >/dev/null 2>"$work/stderr"; rc=$?
check "subject with CRLF refused" "2|yes" "$rc|$(grep -q 'the address, subject or sender name was refused' "$work/stderr" && echo yes)"
check "nothing sent for hostile input" "$n0" "$(count starttls)"

finish
