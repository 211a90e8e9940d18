#!/usr/bin/env bash
# Resting RSS over MILLIONS (default 4) million lists at 64 connections, and which mappings
# hold it (docs/PERFORMANCE.md, "No event loop waits for the issuer's keys"): after each
# million, 11 s at rest (the server trims freed memory every 10 s), then VmRSS, the RSS
# of each mapping from /proc/PID/smaps (the 14 largest) and the store's files.
# Usage: [MILLIONS=N] bench/rss.sh   (uses build/teamnotes, as bench/run builds it)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
trap stop_all EXIT
LUA=$BENCH_ROOT/bench/lua/mcp.lua
MILLIONS=${MILLIONS:-4}
bench_init || exit 1
TN_PORT=$(free_port); TN_URL=http://127.0.0.1:$TN_PORT
echo '{}' >"$BENCH_WORK/body.json"
start_nginx "$BENCH_WORK/body.json" || exit 1
start_teamnotes "$TN_PORT" "$BENCH_WORK/data" || exit 1
mint ES256 64 64 "$TN_URL/mcp" >"$BENCH_WORK/tn-es-warm.txt"
seed "$TN_URL/mcp" "$BENCH_WORK/tn-es-warm.txt" 25 || exit 1
W=(BENCH_TOKENS="$BENCH_WORK/tn-es-warm.txt")
snap() { # label
  python3 - "$TN_PID" "$1" <<'PY'
import sys, re, collections
pid, label = sys.argv[1], sys.argv[2]
agg = collections.Counter()
name = None
for line in open(f"/proc/{pid}/smaps"):
    if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
        parts = line.split()
        name = parts[5] if len(parts) > 5 else '[anon]'
        name = name.split('/')[-1]
    elif line.startswith('Rss:'):
        agg[name] += int(line.split()[1])
print(label, ' '.join(f"{k}={v}" for k, v in sorted(agg.items(), key=lambda x: -x[1])[:14]))
PY
}
done_req=0
for m in $(seq "$MILLIONS"); do
  while (( done_req < m * 1000000 )); do
    res=$(env "${W[@]}" BENCH_ERA=2026-07-28 wrk -t2 -c64 -d20s -s "$LUA" "$TN_URL" 2>&1 | grep '^result:')
    n=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$res"); done_req=$((done_req + n))
  done
  sleep 11
  echo "$done_req rest=$(rss_kib "$TN_PID")"
  snap "M$m"
  ls -la "$BENCH_WORK/data" | awk '{print $5, $9}' | grep -v '^ *$' | tr '\n' ' '; echo
done
