# Shared pieces of the benchmark scripts (sourced, not run). Needs: the release build
# (scripts/build), nginx and wrk (scripts/setup --bench installs them).
#
#   bench_init                      work dir, ports, keys, JWKS; sets BENCH_WORK, ISSUER
#   start_nginx BODY_FILE           the issuer's documents on $ISSUER_PORT and a fixed
#                                   `return 200` of BODY_FILE's bytes on $NGINX_PORT
#   start_teamnotes PORT DATA_DIR [ENV=VALUE...]   the release binary against $ISSUER
#   mint ALG USERS COUNT AUD        tokens on stdout (ES256 key es1 or RS256 key rs1)
#   cpu_ticks PID / rss_kib PID / peak_rss_kib PID  from /proc
#   stop_all                        every process started here
set -uo pipefail
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$BENCH_ROOT/build}
MINT=$BUILD/bench/tn-mint
CLK_TCK=$(getconf CLK_TCK)
bench_pids=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

bench_init() {
  BENCH_WORK=$(mktemp -d /tmp/tn-bench.XXXXXX)
  chmod 755 "$BENCH_WORK" # nginx's workers (www-data) read www/ (the keys stay 0600)
  ISSUER_PORT=$(free_port); NGINX_PORT=$(free_port)
  ISSUER="http://127.0.0.1:$ISSUER_PORT"
  mkdir -p "$BENCH_WORK/www/.well-known"
  "$MINT" key ES256 "$BENCH_WORK/es.pem" && "$MINT" key RS256 "$BENCH_WORK/rs.pem" || return 1
  "$MINT" jwks "es1:ES256:$BENCH_WORK/es.pem" "rs1:RS256:$BENCH_WORK/rs.pem" >"$BENCH_WORK/www/jwks.json" || return 1
  local meta
  meta="{\"issuer\":\"$ISSUER\",\"jwks_uri\":\"$ISSUER/jwks.json\",\"authorization_endpoint\":\"$ISSUER/authorize\",\"token_endpoint\":\"$ISSUER/token\",\"response_types_supported\":[\"code\"],\"code_challenge_methods_supported\":[\"S256\"]}"
  echo "$meta" >"$BENCH_WORK/www/.well-known/openid-configuration"
  echo "$meta" >"$BENCH_WORK/www/.well-known/oauth-authorization-server"
}

# nginx's `return` takes one configuration token of at most a few KiB, so the body is
# split over variables and joined again.
start_nginx() { # body_file
  python3 - "$1" "$BENCH_WORK" "$ISSUER_PORT" "$NGINX_PORT" <<'PY' || return 1
import sys
body, work, iport, nport = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], sys.argv[4]
if "$" in body:
    sys.exit("start_nginx: a body with '$' cannot be an nginx string")
chunks = [body[i:i + 3000] for i in range(0, len(body), 3000)] or [""]
sets = "".join("      set $c%d '%s';\n" % (i, c.replace("\\", "\\\\").replace("'", "\\'"))
               for i, c in enumerate(chunks))
ret = '"' + "".join("$c%d" % i for i in range(len(chunks))) + '"'
open(work + "/nginx.conf", "w").write(f"""worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  default_type application/json;
  server {{ listen 127.0.0.1:{iport}; root {work}/www; }}
  server {{ listen 127.0.0.1:{nport};
    location / {{
{sets}      return 200 {ret};
    }}
  }}
}}
""")
PY
  if [[ -f $BENCH_WORK/nginx.pid ]]; then # running: load the new body
    local old=${NGINX_WORKER:-}
    nginx -s reload -c "$BENCH_WORK/nginx.conf" -p "$BENCH_WORK" 2>/dev/null
    for _ in $(seq 100); do
      NGINX_WORKER=$(pgrep -P "$(cat "$BENCH_WORK/nginx.pid")" | grep -vx "${old:-0}" | head -1)
      [[ -n $NGINX_WORKER ]] && kill -0 "$old" 2>/dev/null || break
      sleep 0.05
    done
  else
    nginx -c "$BENCH_WORK/nginx.conf" -p "$BENCH_WORK" >/dev/null 2>&1 &
    bench_pids+=($!)
    for _ in $(seq 100); do curl -sf "$ISSUER/jwks.json" >/dev/null && [[ -f $BENCH_WORK/nginx.pid ]] && break; sleep 0.05; done
  fi
  NGINX_WORKER=$(pgrep -P "$(cat "$BENCH_WORK/nginx.pid")" | head -1)
  # what it sends is the body, byte for byte (or the figures would be of something else)
  curl -s "http://127.0.0.1:$NGINX_PORT/" | cmp -s - "$1" ||
    { echo "start_nginx: nginx does not return $1" >&2; return 1; }
}

start_teamnotes() { # port data_dir [env...]
  local port=$1 dir=$2; shift 2
  # every load generator connects from 127.0.0.1: the per-address cap is not what is measured
  env MAX_CONNECTIONS_PER_IP=0 "$@" AUTH_ISSUER="$ISSUER" LOG_LEVEL=warn "$BUILD/teamnotes" serve --port "$port" \
    --data-dir "$dir" >"$BENCH_WORK/teamnotes-$port.log" 2>&1 &
  TN_PID=$!
  bench_pids+=($TN_PID)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0; sleep 0.02; done
  echo "teamnotes did not start:" >&2; cat "$BENCH_WORK/teamnotes-$port.log" >&2; return 1
}

mint() { # alg users count aud
  local kid=es1 key=$BENCH_WORK/es.pem
  [[ $1 == RS256 ]] && { kid=rs1; key=$BENCH_WORK/rs.pem; }
  "$MINT" tokens "$key" "$1" "$kid" "$ISSUER" "$4" user "$2" "$3" 7200
}

# Gives every token's user n notes through save_note (2025 era); fails on the first refusal.
seed() { # url tokens n
  python3 - "$1" "$2" "$3" <<'PY'
import http.client, json, sys, urllib.parse
url, toks, n = urllib.parse.urlparse(sys.argv[1]), open(sys.argv[2]).read().split(), int(sys.argv[3])
c = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
for t in toks:
    for i in range(n):
        body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "save_note",
            "arguments": {"title": f"Note {i}", "content": f"Seeded note {i}: a short paragraph of ordinary text.",
                          "tags": ["seed"]}}})
        c.request("POST", "/mcp", body, {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                  "MCP-Protocol-Version": "2025-11-25", "Authorization": "Bearer " + t})
        r = c.getresponse(); data = r.read()
        if r.status != 200 or b'"isError":true' in data:
            sys.exit(f"seeding failed: {r.status} {data[:200]!r}")
PY
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
peak_rss_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

stop_all() {
  for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null; done
  local pid
  pid=$(cat "${BENCH_WORK:-/nonexistent}/nginx.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
  wait 2>/dev/null
  [[ -n ${BENCH_WORK:-} && -z ${BENCH_KEEP:-} ]] && rm -rf "$BENCH_WORK"
}
