#!/usr/bin/env bash
# A refusal made before the body is read (401 on an unauthenticated POST) through real
# nginx: the server reads and drops the body, then answers on a connection that stays
# open, so nginx delivers the 401 intact and logs no upstream error. Before, the server
# answered and closed while nginx was still sending the body: nginx logged "upstream
# prematurely closed connection" / "writev() failed (104: Connection reset by peer)" and
# counted the instance as failed (with max_fails=1 here, the next requests got 502 "no
# live upstreams"). Usage: tests/http/drain.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
work=$(mktemp -d); chmod 755 "$work"
pass=0; fail=0; pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
command -v nginx >/dev/null || { echo "not ok - nginx is missing (scripts/setup --test)"; echo "0 passed, 1 failed"; exit 1; }

tport=$(free_port); nport=$(free_port)
BASE_URL="http://127.0.0.1:$nport" TRUSTED_PROXIES=127.0.0.1 LOG_FORMAT=json \
  "$build/teamnotes" serve --port "$tport" --data-dir "$work/data" >"$work/tn.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q '"msg":"ready"' "$work/tn.log" && break; sleep 0.05; done

mkdir -p "$work/tmp"; chmod 777 "$work/tmp"
cat >"$work/nginx.conf" <<NGX
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/error.log info;
events { worker_connections 256; }
http {
  access_log $work/access.log;
  client_body_temp_path $work/tmp/body; proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fcgi; uwsgi_temp_path $work/tmp/uwsgi; scgi_temp_path $work/tmp/scgi;
  client_max_body_size 4m;
  upstream tn { server 127.0.0.1:$tport max_fails=1 fail_timeout=30s; keepalive 8; }
  server {
    listen 127.0.0.1:$nport;
    location / {
      proxy_pass http://tn;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_request_buffering off;   # stream the body: the upstream sees it arrive
      proxy_buffering off;
    }
  }
}
NGX
nginx -t -c "$work/nginx.conf" >"$work/nginx-t.log" 2>&1 || { cat "$work/nginx-t.log"; echo "0 passed, 1 failed"; exit 1; }
nginx -c "$work/nginx.conf"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport/healthz" >/dev/null && break; sleep 0.05; done

head -c 102400 /dev/zero | tr '\0' 'x' >"$work/body"
direct=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$work/body" "http://127.0.0.1:$tport/mcp")
for i in 1 2 3 4 5; do
  code=$(curl -s -o "$work/out$i" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'Expect:' \
    --data-binary @"$work/body" "http://127.0.0.1:$nport/mcp")
  check "POST $i with a 100 KiB body through nginx: 401" 401 "$code"
  check "POST $i: the 401's body arrives intact" "$direct" "$(cat "$work/out$i")"
done
check "the 401 body is the JSON refusal" unauthorized "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$work/out1" 2>&1)"
# the instance was not marked failed: every next request reaches it
ok=0; for _ in $(seq 10); do [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nport/healthz") == 200 ]] && ok=$((ok+1)); done
check "the next 10 requests through nginx: 200" 10 "$ok"
sleep 0.3
check "nginx logged no upstream error" "" "$(grep -E '\[(error|warn|crit)\]' "$work/error.log" | head -3)"
check "nginx reused its upstream connections (keepalive)" yes \
  "$([[ $(grep -c 'close http upstream connection\|upstream prematurely closed' "$work/error.log") -eq 0 ]] && echo yes)"
# a chunked body (no Content-Length) is drained the same way
code=$(curl -s -o "$work/outc" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' -H 'Expect:' \
  --data-binary @"$work/body" "http://127.0.0.1:$nport/mcp")
check "a chunked 100 KiB body through nginx: 401" 401 "$code"
check "its body intact" "$direct" "$(cat "$work/outc")"
check "still no upstream error" "" "$(grep -E '\[(error|warn|crit)\]' "$work/error.log" | head -3)"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
