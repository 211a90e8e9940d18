#!/usr/bin/env bash
# A/B of two teamnotes binaries on PostgreSQL, in alternating pairs (docs/PERFORMANCE.md,
# "PostgreSQL lists, second part"). Usage: bench/pg-ab.sh PAIRS SECS BIN_A BIN_B [ENV=VALUE...]
# One durable cluster (pg-test-server + fsync/sync commit/fpw on), pgbench db (scale 10),
# databases tn_a / tn_b, one teamnotes each, 64 users x 25 notes each.
# Each pair: pgbench -S -M prepared -c ${PGC:-4}, A list 64, B list 64 (CPU of teamnotes,
# of the cluster's processes and of wrk per request). Environment: PERF=1 counts system
# calls per list (perf stat); PGCONF=setting=value adds to postgresql.conf (e.g.
# shared_preload_libraries=pg_stat_statements); SWEEP=1 runs pgbench -S at 1/4/8/16
# clients first; PGC=N pgbench's clients per pair (4); HOLD=SECS keeps everything running
# afterwards (the ports in $BENCH_WORK/env); TOOL=save_note measures saves instead.
set -uo pipefail
PAIRS=$1 SECS=$2 A=$3 B=$4; shift 4
cd "$(dirname "$0")/.."
source bench/lib.sh
PGBIN=/usr/lib/postgresql/15/bin
cleanup() { stop_all; [[ -n ${TN_PG_DIR:-} ]] && scripts/pg-test-server stop "$TN_PG_DIR" >/dev/null 2>&1; }
trap cleanup EXIT
LUA=$BENCH_ROOT/bench/lua/mcp.lua
bench_init || exit 1
echo '{}' >"$BENCH_WORK/body.json"
start_nginx "$BENCH_WORK/body.json" >/dev/null || exit 1
eval "$(scripts/pg-test-server)" || exit 1
PGP=$(cat $TN_PG_DIR/port)
PSQL=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PGP" -U postgres)
"${PSQL[@]}" -d postgres -c 'CREATE DATABASE pgbench' -c 'CREATE DATABASE tn_a OWNER teamnotes' -c 'CREATE DATABASE tn_b OWNER teamnotes' >/dev/null || exit 1
"$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p "$PGP" -U postgres pgbench >/dev/null 2>&1 || exit 1
pgcpu() { local t=0 p; for p in $PMPID $(pgrep -P $PMPID); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $t; }
PA=$(free_port); PB=$(free_port)
BSAVE=$BUILD
BUILD=$BENCH_WORK/bina; mkdir -p $BUILD; cp $A $BUILD/teamnotes
start_teamnotes $PA $BENCH_WORK/da DATABASE_URL=postgres://teamnotes@127.0.0.1:$PGP/tn_a SECRET_KEY=bench-secret-key-0123456789abcdef-0123 "$@" || exit 1; PIDA=$TN_PID
BUILD=$BENCH_WORK/binb; mkdir -p $BUILD; cp $B $BUILD/teamnotes
start_teamnotes $PB $BENCH_WORK/db DATABASE_URL=postgres://teamnotes@127.0.0.1:$PGP/tn_b SECRET_KEY=bench-secret-key-0123456789abcdef-0123 "$@" || exit 1; PIDB=$TN_PID
BUILD=$BSAVE
for p in $PA $PB; do mint ES256 64 64 "http://127.0.0.1:$p/mcp" >$BENCH_WORK/tok-$p.txt; done
for p in $PA $PB; do
  seed "http://127.0.0.1:$p/mcp" "$BENCH_WORK/tok-$p.txt" 25 || exit 1
done
printf '%s\n' "fsync = on" "synchronous_commit = on" "full_page_writes = on" ${PGCONF:-} >>"$TN_PG_DIR/data/postgresql.conf"
scripts/pg-test-server restart "$TN_PG_DIR" >/dev/null || exit 1
echo "durable: $("${PSQL[@]}" -d pgbench -c "SELECT current_setting('fsync') || current_setting('synchronous_commit') || current_setting('full_page_writes')")"
for p in $PA $PB; do curl -s -o /dev/null -H "Authorization: Bearer $(head -1 $BENCH_WORK/tok-$p.txt)" -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" -H "MCP-Protocol-Version: 2025-11-25" -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_my_notes","arguments":{}}}' http://127.0.0.1:$p/mcp; done
PMPID=$(head -1 $TN_PG_DIR/data/postmaster.pid)
for p in $PA $PB; do
  chk=$(env BENCH_TOKENS=$BENCH_WORK/tok-$p.txt BENCH_ERA=2026-07-28 BENCH_CHECK=1 wrk -t1 -c2 -d1s -s "$LUA" http://127.0.0.1:$p 2>&1 | grep '^check')
  echo "check $p: $chk"
done
[[ -n ${SWEEP:-} ]] && for c in 1 4 8 16; do echo "pgbench -S c=$c: $("$PGBIN/pgbench" -h 127.0.0.1 -p $PGP -U postgres -M prepared -S -c $c -j $((c>1?2:1)) -T 5 pgbench 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')"; done
run() { # label pid url
  local label=$1 pid=$2 url=$3 t0 t1 g0 g1 w res
  t0=$(cpu_ticks $pid); g0=$(pgcpu)
  if [[ -n ${PERF:-} ]]; then
    ev=raw_syscalls:sys_enter; for s in recvfrom read sendto sendmsg write poll ppoll epoll_wait futex; do ev+=",syscalls:sys_enter_$s"; done
    (sleep 1; perf stat -e "$ev,context-switches" -p $pid -o $BENCH_WORK/stat -- sleep $((SECS-2)) >/dev/null 2>&1) &
  fi
  res=$( { env BENCH_TOKENS=$BENCH_WORK/tok-${url##*:}.txt BENCH_ERA=2026-07-28 ${TOOL:+BENCH_TOOL=$TOOL} bash -c 'wrk -t2 -c64 -d'$SECS's --timeout 10s -s '$LUA' '$url'; times' ; } 2>&1)
  [[ -n ${PERF:-} ]] && wait $!
  t1=$(cpu_ticks $pid); g1=$(pgcpu)
  local line; line=$(grep '^result:' <<<"$res")
  w=$(tail -1 <<<"$res" | awk '{split($1,a,"m"); split($2,b,"m"); print (a[1]*60+a[2]) + (b[1]*60+b[2])}')
  eval "$(sed 's/^result: //; s/\([a-z0-9_]*\)=/l_\1=/g' <<<"$line")"
  awk -v L="$label" -v r=$l_requests -v d=$l_duration_us -v p=$l_p99_us -v t=$((t1-t0)) -v g=$((g1-g0)) -v w=${w:-0} -v hz=$CLK_TCK -v e=$((l_non2xx+l_socket_errors)) \
    'BEGIN{printf "%-8s %7.0f req/s  p99 %7.2f ms  tn %6.1f  pg %6.1f  wrk %5.1f us/req  err %d\n", L, r/(d/1e6), p/1000, t*1e6/hz/r, g*1e6/hz/r, w*1e6/r, e}'
  if [[ -n ${PERF:-} ]]; then
    awk -v n=$(awk -v r=$l_requests -v d=$l_duration_us -v s=$((SECS-2)) 'BEGIN{print r/(d/1e6)*s}') '/sys_enter|context-sw/ {gsub(",","",$1); if ($1>0) printf "    %7.3f %s\n", $1/n, $2}' $BENCH_WORK/stat
  fi
}
for i in $(seq $PAIRS); do
  echo "pgbench -S c=${PGC:-4}: $("$PGBIN/pgbench" -h 127.0.0.1 -p $PGP -U postgres -M prepared -S -c ${PGC:-4} -j 2 -T 5 pgbench 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')"
  if ((i % 2)); then run "A list" $PIDA http://127.0.0.1:$PA; run "B list" $PIDB http://127.0.0.1:$PB
  else run "B list" $PIDB http://127.0.0.1:$PB; run "A list" $PIDA http://127.0.0.1:$PA; fi
done
[[ -n ${HOLD:-} ]] && { declare -p PGP PA PB PIDA PIDB BENCH_WORK PMPID TN_PG_DIR ISSUER LUA >"$BENCH_WORK/env"; echo holding; sleep $HOLD; }
