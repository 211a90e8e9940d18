#!/usr/bin/env bash
# Where a request's time goes, three ways, for the figures of docs/PERFORMANCE.md.
# Usage: bench/profile.sh MODE [SCENARIO] [ENV=VALUE...]
#   MODE      perf       sampled CPU of the server (user and kernel), flat by symbol and
#                        by library, 64 connections (perf record -F 4999)
#             callgrind  instructions per request in user space (valgrind), 1 connection;
#                        the top functions by their own instructions, per request
#             syscalls   system calls (perf stat tracepoints) and minor page faults per
#                        request, 64 connections
#             split      user and system CPU and context switches per request, against
#                        nginx returning the same answer's bytes (as bench/run does),
#                        three alternating pairs of 5 s at 64 connections (/proc)
#   SCENARIO  list (list_my_notes, 20 of 25 notes; default) | discover | save | list2025
#             (the list on the 2025-11-25 revision, as most clients speak it today)
#   ENV       passed to the server (THREADS=4, CONN_MEMORY_BYTES=16384, ...)
# Uses the release build (BUILD=build, or the binary in TN_BIN) and the bench's issuer,
# tokens and seeding (bench/lib.sh). Writes bench/out/profile-<mode>-<scenario>-<time>.txt
# (and, for callgrind, the raw profile beside it as .callgrind).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}; scenario=${2:-list}; shift 2 2>/dev/null || shift $#
case $mode in perf | callgrind | syscalls | split) ;; *) sed -n '2,14p' "$0" >&2; exit 2 ;; esac
case $scenario in
  list) wenv=() ;;
  discover) wenv=(BENCH_METHOD=server/discover) ;;
  save) wenv=(BENCH_TOOL=save_note) ;;
  list2025) wenv=(BENCH_ERA=2025-11-25) ;;
  *) echo "profile: unknown scenario $scenario (list, discover, save, list2025)" >&2; exit 2 ;;
esac
source bench/lib.sh
trap stop_all EXIT
BIN=${TN_BIN:-$BUILD/teamnotes}
[[ -x $BIN ]] || { echo "profile: no release binary at $BIN (scripts/build)" >&2; exit 1; }
LUA=$BENCH_ROOT/bench/lua/mcp.lua
mkdir -p bench/out
out=bench/out/profile-$mode-$scenario-$(date -u +%Y-%m-%dT%H%M%SZ).txt
bench_init >/dev/null || exit 1
echo '{}' >"$BENCH_WORK/body.json"
start_nginx "$BENCH_WORK/body.json" >/dev/null || exit 1 # serves the issuer's documents
P=$(free_port)
URL=http://127.0.0.1:$P
if [[ $mode == callgrind ]]; then
  command -v valgrind >/dev/null || { echo "profile: valgrind is not installed" >&2; exit 1; }
  env MAX_CONNECTIONS_PER_IP=0 "$@" AUTH_ISSUER="$ISSUER" LOG_LEVEL=warn valgrind --tool=callgrind \
    --instr-atstart=no --callgrind-out-file="$BENCH_WORK/cg.out" "$BIN" serve --port "$P" \
    --data-dir "$BENCH_WORK/data" >"$BENCH_WORK/server.log" 2>&1 &
  TN_PID=$!; bench_pids+=($TN_PID)
  for _ in $(seq 300); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
else
  mkdir -p "$BENCH_WORK/bin" && cp "$BIN" "$BENCH_WORK/bin/teamnotes"
  BUILD=$BENCH_WORK/bin start_teamnotes "$P" "$BENCH_WORK/data" "$@" || exit 1
fi
mint ES256 64 64 "$URL/mcp" >"$BENCH_WORK/tokens.txt"
# every user gets 25 notes, as bench/run seeds them
seed "$URL/mcp" "$BENCH_WORK/tokens.txt" 25 || exit 1
load() { # conns secs [url] -> the wrk result line
  env BENCH_TOKENS="$BENCH_WORK/tokens.txt" BENCH_ERA=2026-07-28 "${wenv[@]}" \
    wrk -t$(($1 > 1 ? 2 : 1)) -c"$1" -d"$2"s --timeout 10s -s "$LUA" "${3:-$URL}" | grep '^result:'
}
field() { sed "s/.*$1=\([0-9]*\).*/\1/" <<<"$2"; }
{
  echo "# bench/profile.sh $mode $scenario $*"
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)'), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out"
case $mode in
perf)
  load 64 2 >/dev/null
  load 64 9 >"$BENCH_WORK/res" &
  wp=$!
  sleep 1
  perf record -F 4999 -p "$TN_PID" -o "$BENCH_WORK/perf.data" -- sleep 6 >/dev/null 2>&1
  wait $wp
  {
    echo "load: $(cat "$BENCH_WORK/res")"
    echo; echo "## by library (share of the server's samples)"
    perf report -i "$BENCH_WORK/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
    echo; echo "## by symbol"
    perf report -i "$BENCH_WORK/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
  } >>"$out"
  ;;
callgrind)
  load 1 2 >/dev/null
  callgrind_control -i on "$TN_PID" >/dev/null 2>&1
  res=$(load 1 8)
  callgrind_control -i off "$TN_PID" >/dev/null 2>&1
  callgrind_control -d "$TN_PID" >/dev/null 2>&1
  sleep 1
  n=$(field requests "$res")
  f=$(ls -S "$BENCH_WORK"/cg.out* | head -1)
  total=$(callgrind_annotate "$f" 2>/dev/null | grep 'PROGRAM TOTALS' | tr -d ', ' | cut -d'(' -f1)
  cp "$f" "${out%.txt}.callgrind" # for call trees: callgrind_annotate --tree=caller FILE
  {
    echo "requests measured: $n; user-space instructions per request: $((total / n))"
    echo "(rep-prefixed string instructions, such as libmicrohttpd's memset of its pool, count once per byte)"
    echo; echo "## own instructions per request, by function"
    callgrind_annotate "$f" 2>/dev/null | sed -n '26,$p' | awk -v n="$n" 'NF >= 2 {x = $1; gsub(",", "", x); fn = $0; sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", fn); printf "%8d  %s\n", x / n, fn}' | head -40
    echo; echo "## inclusive instructions per request (the request path)"
    callgrind_annotate --inclusive=yes "$f" 2>/dev/null | sed -n '26,$p' | awk -v n="$n" 'NF >= 2 {x = $1; gsub(",", "", x); fn = $0; sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", fn); printf "%8d  %s\n", x / n, fn}' | grep -v '???:0x' | head -40
  } >>"$out"
  ;;
syscalls)
  ev=raw_syscalls:sys_enter
  for s in recvfrom read sendmsg writev write epoll_wait fcntl futex pwrite64 pread64 fdatasync sched_yield getsockopt brk madvise; do
    ev+=",syscalls:sys_enter_$s"
  done
  load 64 2 >/dev/null
  load 64 8 >"$BENCH_WORK/res" &
  wp=$!
  sleep 1
  flt0=$(awk '{print $10}' "/proc/$TN_PID/stat")
  perf stat -e "$ev" -p "$TN_PID" -o "$BENCH_WORK/stat" -- sleep 5 >/dev/null 2>&1
  flt1=$(awk '{print $10}' "/proc/$TN_PID/stat")
  wait $wp
  res=$(cat "$BENCH_WORK/res")
  rate=$(awk -v r="$(field requests "$res")" -v d="$(field duration_us "$res")" 'BEGIN{print r / (d / 1e6)}')
  {
    echo "load: $res"
    echo "## system calls per request (counted over 5 s, divided by 5 s of the run's mean rate, $(printf %.0f "$rate")/s)"
    awk -v rate="$rate" '$2 ~ /sys_enter/ {gsub(",", "", $1); if ($1 > 0) printf "%8.3f  %s\n", $1 / (rate * 5), $2}' "$BENCH_WORK/stat" | sort -rn
    awk -v rate="$rate" -v f="$((flt1 - flt0))" 'BEGIN {printf "%8.3f  page faults (minor, /proc/PID/stat, the same 5 s)\n", f / (rate * 5)}'
  } >>"$out"
  ;;
split)
  # the scenario's answer, for nginx to return byte for byte
  case $scenario in
    list) method=tools/call params='"name":"list_my_notes","arguments":{},' name=(-H 'Mcp-Name: list_my_notes') ;;
    discover) method=server/discover params= name=() ;;
    *) echo "profile: split measures list or discover" >&2; exit 2 ;;
  esac
  curl -s -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2026-07-28' -H "Mcp-Method: $method" "${name[@]}" \
    -H "Authorization: Bearer $(head -1 "$BENCH_WORK/tokens.txt")" "$URL/mcp" \
    -d '{"jsonrpc":"2.0","id":1,"method":"'$method'","params":{'"$params"'"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' \
    >"$BENCH_WORK/answer.json"
  grep -q '"result"' "$BENCH_WORK/answer.json" || { echo "profile: no answer to return: $(head -c 300 "$BENCH_WORK/answer.json")" >&2; exit 1; }
  ctx() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v + 0, n + 0}'; }
  one() { # name pid url -> a line of figures per request
    local u0 s0 v0 n0 u1 s1 v1 n1 res
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$2/stat"); read -r v0 n0 < <(ctx "$2")
    res=$(load 64 5 "$3")
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$2/stat"); read -r v1 n1 < <(ctx "$2")
    awk -v name="$1" -v n="$(field requests "$res")" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v v=$((v1 - v0)) \
      -v c=$((n1 - n0)) -v t="$CLK_TCK" 'BEGIN {printf "| %s | %.0f | %.1f | %.1f | %.1f | %.3f | %.3f |\n",
        name, n / 5, u / t * 1e6 / n, s / t * 1e6 / n, (u + s) / t * 1e6 / n, v / n, c / n}'
  }
  load 64 2 >/dev/null
  {
    start_nginx "$BENCH_WORK/answer.json" >/dev/null || exit 1
    echo "nginx returns the $(stat -c %s "$BENCH_WORK/answer.json") bytes of the answer; CPU from /proc/PID/stat (the server's threads, nginx's worker), context switches summed over its threads"
    echo
    echo "| server | requests/s | user µs | system µs | CPU µs | voluntary switches | involuntary switches |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for _ in 1 2 3; do
      one teamnotes "$TN_PID" "$URL"
      one nginx "$NGINX_WORKER" "http://127.0.0.1:$NGINX_PORT"
    done
  } >>"$out"
  ;;
esac
cat "$out"
echo "profile: written to $out" >&2
