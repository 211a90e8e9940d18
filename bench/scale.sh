#!/usr/bin/env bash
# Scale benchmarks of the release build, printed as a Markdown section:
#
#  1. Data scale: a SQLite store with 1,000,000 notes of 10,000 users (100 each) against
#     an almost empty one (one user, 25 notes): list_my_notes latency with wrk at 1 and 16
#     connections, and search_notes latency on the large store for a rare, a selective
#     and a common word. The stores are filled directly (bench/scale_fill.py writes the
#     rows the server writes for save_note); filling through HTTP would take an hour.
#  2. 10,000 concurrent subscriptions/listen streams over 100 users (bench/scale_listen.py):
#     the server's RSS per stream, a note change reaching exactly its owner's streams, and
#     the latency of an ordinary tools/call while they are open.
#
# Usage: bench/scale.sh   (needs scripts/build, wrk, nginx, python3; about 5 minutes)
# Environment: DURATION (seconds per wrk run, default 10), ROUNDS (of the list runs,
#              default 3), STREAMS (default 10000),
#              BENCH_KEEP=1 keeps the work dir.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'stop_all 2>/dev/null' EXIT   # (quiet: stop_all may race nginx removing its pid file)

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
STREAMS=${STREAMS:-10000}
BIG_USERS=10000 BIG_PER_USER=100
SMALL_NOTES=25
LIST_USERS_EVERY=10   # list runs spread over every 10th user of the large store: 1,000 users
LISTEN_USERS=100

die() { echo "scale.sh: $*" >&2; exit 1; }
[[ -x $BUILD/teamnotes && -x $MINT ]] || die "no release build in $BUILD (run scripts/build)"
command -v wrk >/dev/null && command -v nginx >/dev/null || die "needs wrk and nginx"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
(( $(ulimit -n) >= STREAMS + 200 )) || die "open files limit $(ulimit -n) is below $STREAMS streams"

bench_init || die "bench_init failed"
echo '{}' >"$BENCH_WORK/body"
start_nginx "$BENCH_WORK/body" || die "nginx did not start"
LUA=$BENCH_ROOT/bench/lua
odd=()

# wrk_run OUT CONNECTIONS SCRIPT URL: "req/s p50_ms p99_ms requests problems" (the
# environment passes on to the Lua script).
wrk_run() {
  local out=$1 c=$2 script=$3 url=$4 t=2
  (( c == 1 )) && t=1
  wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 5s --latency -s "$script" "$url" >"$out" 2>&1
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                        if (v ~ /s$/) return v * 1000; return v * 60000 }
       /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
       / requests in / { n = $1 }
       /Non-2xx/ { bad = bad "non-2xx:" $NF " " } /Socket errors/ { bad = bad "socket-errors " }
       END { printf "%.0f %.2f %.2f %d %s\n", rps, p50, p99, n, bad == "" ? "-" : bad }' "$out"
}

# check_run NAME CONNECTIONS SCRIPT URL: a short BENCH_CHECK=1 run; records a problem
# unless every answer was correct.
check_run() {
  local line
  line=$(BENCH_CHECK=1 wrk -t2 -c"$2" -d2s --timeout 5s -s "$3" "$4" 2>&1 | grep '^check:\|^bad response')
  echo "$line" >>"$BENCH_WORK/checks"
  if [[ $line =~ ^check:\ ([0-9]+)\ correct,\ 0\ wrong,\ 0\ socket ]] && (( BASH_REMATCH[1] > 0 )); then
    echo "- check $1: ${line#check: }"
  else
    echo "- check $1: **FAILED**: $line"
    odd+=("check $1 failed: $line")
  fi
}

stop_server() { kill "$TN_PID" 2>/dev/null; wait "$TN_PID" 2>/dev/null; }

# Server logs (LOG_LEVEL=warn) should stay empty; anything in them is worth a look.
log_lines() { local f=$BENCH_WORK/teamnotes-$1.log; [[ -s $f ]] && odd+=("server log on port $1 ($2): $(wc -l <"$f") lines, first: $(head -c 300 "$f")"); }

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
rev=$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null)
[[ -n $(git -C "$BENCH_ROOT" status --porcelain -uno 2>/dev/null) ]] && rev="$rev (with uncommitted changes)"
cat <<EOF
## Scale: 1,000,000 notes and $STREAMS listen streams

- Command: \`bench/scale.sh\` (DURATION=$DURATION s per wrk run, ROUNDS=$ROUNDS, STREAMS=$STREAMS)
- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); build: release, commit $rev
- Machine: $(nproc) × $cpu_model, Linux $(uname -r); SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1) (CLI)
- Server: \`build/teamnotes serve\`, external issuer (ES256 JWKS served by nginx), SQLite store, default threads; wrk and the clients on the same machine

### 1. Data scale: list and search with 1,000,000 notes

EOF

# --- the two stores: schema by the server itself, rows by scale_fill.py ---
PORT_BIG=$(free_port); PORT_SMALL=$(free_port)
for d in big small; do
  port=PORT_${d^^}
  start_teamnotes "${!port}" "$BENCH_WORK/$d" || die "server did not start"
  stop_server
done
t0=$(date +%s.%N)
python3 "$BENCH_ROOT/bench/scale_fill.py" "$BENCH_WORK/big/teamnotes.db" "$ISSUER" "$BIG_USERS" "$BIG_PER_USER" \
  >"$BENCH_WORK/words" || die "filling the large store failed"
t1=$(date +%s.%N)
python3 "$BENCH_ROOT/bench/scale_fill.py" "$BENCH_WORK/small/teamnotes.db" "$ISSUER" 1 "$SMALL_NOTES" \
  >/dev/null || die "filling the small store failed"
big_mib=$(( $(stat -c %s "$BENCH_WORK/big/teamnotes.db") / 1048576 ))
read -r big_notes big_owners big_tags < <(sqlite3 -separator ' ' "$BENCH_WORK/big/teamnotes.db" \
  "SELECT (SELECT count(*) FROM notes), (SELECT count(DISTINCT owner) FROM notes), (SELECT count(*) FROM note_tags)")
small_notes=$(sqlite3 "$BENCH_WORK/small/teamnotes.db" "SELECT count(*) FROM notes")
# The fill leaves ~600 MiB of dirty pages; written back during the runs, they would stall
# the server's fsyncs (synchronous = FULL) and show up as latency.
sync
printf -- '- Large store: %s notes of %s owners (%s tag rows, FTS5 index), %s MiB, filled in %.0f s\n' \
  "$big_notes" "$big_owners" "$big_tags" "$big_mib" "$(echo "$t1 - $t0" | bc)"
echo "- Small store: $small_notes notes of one user"
echo "- Notes: titles of 2–6 and texts of 12–40 words drawn with Zipf weights from 4,000 pseudo-words; 0–3 tags of 20"

# Tokens: the large store's list runs cycle through 1,000 users (every 10th); the small
# store's through the same number of tokens of its one user, so both keep the same number
# of verified tokens cached. The check runs verify each token once before measuring.
AUD_BIG="http://127.0.0.1:$PORT_BIG/mcp" AUD_SMALL="http://127.0.0.1:$PORT_SMALL/mcp"
mint ES256 "$BIG_USERS" "$BIG_USERS" "$AUD_BIG" | awk -v k="$LIST_USERS_EVERY" 'NR % k == 1' >"$BENCH_WORK/tok-big"
n_tok=$(wc -l <"$BENCH_WORK/tok-big")
mint ES256 1 "$n_tok" "$AUD_SMALL" >"$BENCH_WORK/tok-small"
echo "- Tokens: $n_tok per store, one per request in turn (BENCH_COLD=1; all cached after the check run); large store: users 0, $LIST_USERS_EVERY, $(( 2 * LIST_USERS_EVERY )), …"
echo

declare -A RPS P50 P99 REQS ISSUES WORD WCOUNT PID
for r in 3000 300 5; do read -r _ _ WCOUNT[$r] WORD[$r] < <(grep "^word $r " "$BENCH_WORK/words"); done
for d in small big; do
  port=PORT_${d^^}
  start_teamnotes "${!port}" "$BENCH_WORK/$d" || die "server did not start on the $d store"
  PID[$d]=$TN_PID
done
url_of() { local port=PORT_${1^^}; echo "http://127.0.0.1:${!port}/mcp"; }

# Checks first (they also put every token in the verified-token cache).
for d in small big; do
  BENCH_TOKENS=$BENCH_WORK/tok-$d BENCH_COLD=1 BENCH_TOOL=list_my_notes \
    check_run "list_my_notes, $d store (20 notes per page)" 16 "$LUA/mcp.lua" "$(url_of $d)"
done
# One page read by hand: the caller's own notes, newest first, with a cursor.
u=$LIST_USERS_EVERY
page=$(curl -s "$(url_of big)" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: list_my_notes' \
  -H "Authorization: Bearer $(sed -n 2p "$BENCH_WORK/tok-big")" \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_my_notes","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}')
want=$(sqlite3 "$BENCH_WORK/big/teamnotes.db" "SELECT group_concat(id, ' ') FROM (SELECT id FROM notes WHERE owner = '$ISSUER|user$u' AND org = '' ORDER BY updated_at DESC, id DESC LIMIT 20)")
got=$(jq -r '.result.structuredContent | select(.userId == "user'"$u"'" and .count == 20 and (.nextCursor | length) > 0 and all(.notes[]; .mine)) | [.notes[].id] | join(" ")' <<<"$page" 2>/dev/null)
if [[ -n $got && $got == "$want" ]]; then
  echo "- check list_my_notes, big store, user$u by hand: the 20 newest of its 100 notes, in the database's order, all its own, with a cursor"
else
  echo "- check list_my_notes, big store, user$u by hand: **FAILED** (the page differs from the database)"
  odd+=("list page of user$u differs from the database: ${page:0:300}")
fi
for r in 3000 300 5; do
  min=0; (( r == 5 )) && min=1
  BENCH_TOKENS=$BENCH_WORK/tok-big BENCH_QUERY=${WORD[$r]} BENCH_MIN_COUNT=$min \
    check_run "search_notes \"${WORD[$r]}\", big store" 4 "$LUA/search.lua" "$(url_of big)"
done

# list_my_notes: both servers are up; the stores take turns, ROUNDS times, so that the
# machine's noise falls on both alike. Reported: the median round (and the p99 range).
for ((round = 1; round <= ROUNDS; round++)); do
  for c in 1 16; do
    for d in small big; do
      read -r RPS[$d,$c,$round] P50[$d,$c,$round] P99[$d,$c,$round] REQS[$d,$c,$round] ISSUES[$d,$c,$round] \
        < <(BENCH_TOKENS=$BENCH_WORK/tok-$d BENCH_COLD=1 BENCH_TOOL=list_my_notes \
              wrk_run "$BENCH_WORK/wrk-list-$d-$c-$round" "$c" "$LUA/mcp.lua" "$(url_of $d)")
    done
  done
done
# search_notes, one run each: the big store for three words, and the small one for reference.
search_runs=("big 3000 1" "big 300 1" "big 300 16" "big 5 1" "small 5 1")
for run in "${search_runs[@]}"; do
  read -r d r c <<<"$run"
  read -r RPS[s$d$r,$c] P50[s$d$r,$c] P99[s$d$r,$c] REQS[s$d$r,$c] ISSUES[s$d$r,$c] \
    < <(BENCH_TOKENS=$BENCH_WORK/tok-$d BENCH_QUERY=${WORD[$r]} \
          wrk_run "$BENCH_WORK/wrk-search-$d-$r-$c" "$c" "$LUA/search.lua" "$(url_of $d)")
done
for d in small big; do
  kill "${PID[$d]}" 2>/dev/null; wait "${PID[$d]}" 2>/dev/null
  port=PORT_${d^^}; log_lines "${!port}" "$d store"
done

med() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
echo
echo "list_my_notes: $ROUNDS rounds of ${DURATION} s per store and connection count, the stores taking turns; the median round's figures, and the p99 of every round."
echo
echo "| store | connections | req/s | p50 ms | p99 ms | p99 ms of each round | errors |"
echo "|---|---:|---:|---:|---:|---|---|"
declare -A MP50 MP99
for d in small big; do
  name="empty (25 notes, 1 user)"; [[ $d == big ]] && name="1M notes (10,000 users)"
  for c in 1 16; do
    rps=() p50=() p99=() issues=""
    for ((round = 1; round <= ROUNDS; round++)); do
      rps+=("${RPS[$d,$c,$round]}"); p50+=("${P50[$d,$c,$round]}"); p99+=("${P99[$d,$c,$round]}")
      [[ ${ISSUES[$d,$c,$round]} != - ]] && issues+="round $round: ${ISSUES[$d,$c,$round]} "
    done
    MP50[$d,$c]=$(med "${p50[@]}"); MP99[$d,$c]=$(med "${p99[@]}")
    echo "| $name | $c | $(med "${rps[@]}") | ${MP50[$d,$c]} | ${MP99[$d,$c]} | ${p99[*]} | ${issues:--} |"
  done
done
echo
for c in 1 16; do
  ratio=$(echo "${MP99[big,$c]} / ${MP99[small,$c]}" | bc -l)
  r50=$(echo "${MP50[big,$c]} / ${MP50[small,$c]}" | bc -l)
  verdict=met; (( $(echo "$ratio > 1.5" | bc) )) && verdict="**missed**"
  printf -- '- list_my_notes, 1M / empty store, %s connection%s: p99 %.2f× (target ≤ 1.5×: %s); p50 %.2f×\n' \
    "$c" "$([[ $c == 1 ]] || echo s)" "$ratio" "$verdict" "$r50"
done
echo
echo "search_notes: one run of ${DURATION} s each; each request the next of the store's tokens."
echo
echo "| store | query | notes with the word | connections | requests | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
for run in "${search_runs[@]}"; do
  read -r d r c <<<"$run"
  kind=rare; (( r == 300 )) && kind=selective; (( r == 5 )) && kind=common
  if [[ $d == big ]]; then
    name="1M notes"; where=$(printf '%s (%.1f per user)' "${WCOUNT[$r]}" "$(echo "${WCOUNT[$r]} / $BIG_USERS" | bc -l)")
  else
    name="empty"; where=$(sqlite3 "$BENCH_WORK/small/teamnotes.db" "SELECT count(*) FROM notes_fts WHERE notes_fts MATCH '\"${WORD[$r]}\"'")
  fi
  echo "| $name | \"${WORD[$r]}\" ($kind) | $where | $c | ${REQS[s$d$r,$c]} | ${RPS[s$d$r,$c]} | ${P50[s$d$r,$c]} | ${P99[s$d$r,$c]} | ${ISSUES[s$d$r,$c]} |"
done
echo
for run in "${search_runs[@]}"; do
  read -r d r c <<<"$run"
  [[ $d == big ]] || continue
  verdict=met; (( $(echo "${P99[s$d$r,$c]} >= 10" | bc) )) && verdict="**missed**"
  printf -- '- search_notes p99 on 1M notes, "%s", %s connection%s: %s ms (target < 10 ms: %s)\n' "${WORD[$r]}" "$c" \
    "$([[ $c == 1 ]] || echo s)" "${P99[s$d$r,$c]}" "$verdict"
done

# --- 2. listen streams ---
echo
echo "### 2. $STREAMS concurrent subscriptions/listen streams"
echo
PORT_LISTEN=$(free_port)
mint ES256 "$LISTEN_USERS" "$STREAMS" "http://127.0.0.1:$PORT_LISTEN/mcp" >"$BENCH_WORK/tok-listen"
start_teamnotes "$PORT_LISTEN" "$BENCH_WORK/listen" MAX_LISTEN_STREAMS="$STREAMS" \
  MAX_STREAMS_PER_USER=$(( (STREAMS + LISTEN_USERS - 1) / LISTEN_USERS )) \
  MAX_CONNECTIONS=$(( STREAMS + 2000 )) || die "server did not start for the listen streams"
python3 "$BENCH_ROOT/bench/scale_listen.py" 127.0.0.1 "$PORT_LISTEN" /mcp "$BENCH_WORK/tok-listen" \
  "$STREAMS" "$LISTEN_USERS" "$TN_PID" >"$BENCH_WORK/listen.out" 2>"$BENCH_WORK/listen.err"
rc=$?
declare -A L
while read -r k v; do L[$k]=$v; done <"$BENCH_WORK/listen.out"
stop_server
log_lines "$PORT_LISTEN" "listen streams"
if (( rc != 0 )) || [[ -z ${L[kib_per_stream]:-} ]]; then
  echo "**The listen client failed** (exit $rc):"; echo; sed 's/^/    /' "$BENCH_WORK/listen.err" | tail -20
  odd+=("listen client failed")
else
  per=${L[kib_per_stream]}
  verdict=met; (( $(echo "$per > 64" | bc) )) && verdict="**missed**"
  echo "Server: MAX_LISTEN_STREAMS=$STREAMS, MAX_CONNECTIONS=$(( STREAMS + 2000 )), open files $(ulimit -n). Client: \`bench/scale_listen.py\` (asyncio, one connection per stream, at most 256 unacknowledged at a time); $STREAMS streams over $LISTEN_USERS users, each with its own token, asking for toolsListChanged and resourcesListChanged."
  echo
  echo "| measure | value |"
  echo "|---|---:|"
  echo "| streams opened and acknowledged (resourcesListChanged granted) | ${L[acknowledged]} of ${L[streams]} (${L[failed]} failed) in ${L[open_s]} s |"
  echo "| server RSS before | ${L[rss_before_kib]} KiB |"
  echo "| server RSS with all streams open | ${L[rss_open_kib]} KiB |"
  echo "| **RSS per stream** (target ≤ 64 KiB: $verdict) | **$per KiB** |"
  echo "| tools/call list_my_notes before the streams, p50 / max of 50 (new connection each) | ${L[call_before_p50_ms]} / ${L[call_before_max_ms]} ms |"
  echo "| tools/call list_my_notes with the streams open, p50 / max of 50 | ${L[call_open_p50_ms]} / ${L[call_open_max_ms]} ms |"
  echo "| save_note as user0 with the streams open | ${L[save_ms]} ms |"
  echo "| user0's streams notified (resources/list_changed) within 1 s | ${L[user_streams_notified]} of ${L[user_streams]}, the last ${L[last_notified_ms]:-–} ms after the save was sent |"
  echo "| other users' streams notified | ${L[other_streams_notified]} (expected 0) |"
  echo "| streams still open at the end | ${L[still_open]} |"
  [[ -n ${L[first_error]:-} ]] && odd+=("first listen stream error: ${L[first_error]}")
  (( ${L[acknowledged]} == STREAMS )) || odd+=("only ${L[acknowledged]} of $STREAMS streams acknowledged")
  (( ${L[user_streams_notified]} == ${L[user_streams]} && ${L[other_streams_notified]} == 0 )) ||
    odd+=("notification fan-out wrong: ${L[user_streams_notified]}/${L[user_streams]} of user0's, ${L[other_streams_notified]} others")
fi

echo
if (( ${#odd[@]} )); then
  echo "Problems seen:"; echo
  for o in "${odd[@]}"; do echo "- $o"; done
else
  echo "No problems seen: every check passed and the server logs are empty."
fi
