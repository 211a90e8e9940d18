#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a while on a copy of its seed corpus.
#
#   tests/fuzz/run.sh [SECONDS]        SECONDS per target, default 15
#
# Environment:
#   FUZZ_OUT=dir        build and work directory (default tests/out/fuzz, git-ignored)
#   FUZZ_TARGETS="a b"  run only these targets (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_JOBS=n         targets fuzzed at once (default: the number of cores)
#   CC=clang-14         compiler (default clang-14, else clang)
#
# Prints "ok - <target>" or "not ok - <target>" per target (a target passes when
# libFuzzer exits 0; a failure shows the log's error lines and, up to 4 KiB, the input in
# base64), then "N passed, M failed"; exits 1 when any failed. Each run's
# log is kept in $FUZZ_OUT/<target>.log, crashing inputs in $FUZZ_OUT/artifacts/, new
# corpus entries in $FUZZ_OUT/corpus/<target>/. The committed corpus is only read.
set -u

secs=${1:-15}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=$root/src
out=${FUZZ_OUT:-$root/tests/out/fuzz}
cc=${CC:-$(command -v clang-14 || command -v clang)}

# (0 would mean "no limit" to libFuzzer)
case $secs in '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS >= 1]" >&2; exit 2 ;; esac
[ -n "$cc" ] || { echo "clang not found" >&2; exit 2; }

flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -D_GNU_SOURCE -std=c11 -fno-strict-aliasing
       -Wall -Wextra -Wno-unused-parameter -I"$src"
       -DTN_CHECK_RESULTS=1) # the debug builds' checks of hand-written answers (meson.build)

# The sources each target links, and its libraries.
srcs_header="core/err.c core/buf.c core/arena.c core/util.c mcp/headers.c"
libs_header="-lsodium"
srcs_schema="core/err.c core/buf.c core/arena.c mcp/schema.c mcp/schema_validate.c"
libs_schema="-ljansson -lm"
srcs_json="core/err.c core/buf.c core/arena.c core/arena_json.c core/json.c core/jsonparse.c"
libs_json="-ljansson -lsodium -lm"
srcs_form="core/err.c core/buf.c core/arena.c core/form.c"
libs_form=""
srcs_jwt="core/err.c core/buf.c core/arena.c core/util.c auth/rs/jose.c auth/rs/jose_verify.c auth/rs/jose_sign.c"
libs_jwt="-ljansson -lcrypto -lsodium"
srcs_forwarded="core/err.c core/buf.c core/arena.c core/proxy.c"
libs_forwarded=""
srcs_mcp="core/err.c core/buf.c core/arena.c core/arena_json.c core/json.c core/jsonparse.c core/util.c core/log.c mcp/rpc.c mcp/headers.c mcp/state.c
          mcp/schema.c mcp/schema_validate.c mcp/registry.c mcp/server.c mcp/context.c mcp/modern.c mcp/jobs.c mcp/listen.c
          mcp/tools.c mcp/mrtr.c mcp/resources.c mcp/prompts.c ops/metrics.c ops/prom.c"
libs_mcp="-ljansson -lsodium -lpthread -lm -Wl,--wrap=pthread_create"
srcs_redirect="core/err.c core/buf.c core/arena.c auth/as/redirect.c"
libs_redirect=""
srcs_cimd="core/err.c auth/as/cimd.c"
libs_cimd="-lpthread"
srcs_mail="core/err.c core/buf.c core/arena.c core/util.c mail/msg.c"
libs_mail="-lsodium"
srcs_oidc_discovery="core/err.c core/buf.c core/arena.c core/config.c core/proxy.c auth/upstream/discovery.c"
libs_oidc_discovery="-ljansson"
# (store/postgres.c needs libpq's headers; notetext links the store for tn_note_title_derive)
flags+=($(pkg-config --cflags-only-I libpq 2>/dev/null))
srcs_notetext="core/err.c core/buf.c core/arena.c core/util.c core/log.c store/store.c
               store/notes.c store/sqlite.c store/sqlite_auth.c store/sqlite_notes.c store/sqlite_commit.c
               store/postgres.c store/postgres_auth.c store/postgres_notes.c store/postgres_listen.c store/postgres_migrate.c
               store/identity.c store/sqlite_identity.c store/postgres_identity.c
               store/sqlite_signin.c store/postgres_signin.c
               store/grants.c store/sqlite_grants.c store/postgres_grants.c
               store/invitation.c store/sqlite_invitation.c store/postgres_invitation.c
               store/org_sso.c store/sqlite_org_sso.c store/postgres_org_sso.c store/admin.c
               ops/metrics.c ops/prom.c"
# the migrations are embedded at build time (scripts/gen-migrations.py), compiled below
libs_notetext="$out/obj/migrations_sqlite.o $out/obj/migrations_postgres.o
               -ljansson -lsodium -lsqlite3 -lpq -lpthread -lm"

if [ -n "${FUZZ_TARGETS:-}" ]; then
    targets=$FUZZ_TARGETS
else
    targets=$(cd "$here" && ls fuzz_*.c | sed 's/\.c$//')
fi

mkdir -p "$out/obj" "$out/bin" "$out/artifacts" "$out/corpus"

# ---- the store's migrations as C, generated from the .sql files as meson does ----
for b in sqlite postgres; do
    python3 "$root/scripts/gen-migrations.py" --symbol "tn_store_${b}_migrations" \
        --dir "$src/store/migrations/$b" --output "$out/obj/migrations_$b.c" \
        "$src/store/migrations/$b"/*.sql &&
    "$cc" "${flags[@]}" -c "$out/obj/migrations_$b.c" -o "$out/obj/migrations_$b.o" ||
        { echo "the $b migrations did not build" >&2; exit 1; }
done

# ---- build: each source once (two at a time); the links happen per target below ----
objs_needed=$(for t in $targets; do v=srcs_${t#fuzz_}; echo "${!v}"; done | tr ' ' '\n' |
              sed '/^$/d' | sort -u)
build_failed=0
pids=()
for s in $objs_needed; do
    ( o=$out/obj/${s//\//_}.o
      # stale when its source, any header or this script is newer
      if [ ! -e "$o" ] || [ "$src/$s" -nt "$o" ] || [ "$here/run.sh" -nt "$o" ] ||
         [ -n "$(find "$src" -name '*.h' -newer "$o" | head -1)" ]; then
          "$cc" "${flags[@]}" -c "$src/$s" -o "$o.tmp" && mv "$o.tmp" "$o"
      fi ) &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || build_failed=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || build_failed=1; done
[ $build_failed = 0 ] || { echo "build of the sources failed" >&2; exit 1; }

# ---- one target: link, fresh corpus copy, fuzz; the verdict goes to $out/<t>.result ----
run_one() {
    local t=$1 name=${1#fuzz_} sv lv objs=() s work rc stats dict
    sv=srcs_$name lv=libs_$name
    for s in ${!sv}; do objs+=("$out/obj/${s//\//_}.o"); done
    # shellcheck disable=SC2086
    if ! "$cc" "${flags[@]}" "$here/$t.c" "${objs[@]}" ${!lv} -o "$out/bin/$t" \
            >"$out/$t.build.log" 2>&1; then
        { echo "not ok - $t # build failed"; sed 's/^/#   /' "$out/$t.build.log"; } >"$out/$t.result"
        return
    fi
    # A fresh copy of the seeds each time: the fuzzer writes new inputs into its first
    # corpus directory, never into the committed one.
    work=$out/corpus/$t
    rm -rf "$work" "$out/artifacts/$t"-*
    mkdir -p "$work"
    [ -d "$here/corpus/$t" ] && cp "$here/corpus/$t"/* "$work"/ 2>/dev/null
    dict=$here/mcp.dict
    [ -f "$here/$t.dict" ] && dict=$here/$t.dict
    "$out/bin/$t" "$work" -dict="$dict" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
        >"$out/$t.log" 2>&1
    rc=$?
    stats=$(grep -E '^#[0-9]+' "$out/$t.log" | tail -1 | grep -oE 'cov: [0-9]+|ft: [0-9]+|corp: [0-9]+' |
            tr '\n' ' ')
    stats="$stats$(grep -oE 'average_exec_per_sec: +[0-9]+' "$out/$t.log" | tr -s ' ')"
    if [ $rc -eq 0 ]; then
        echo "ok - $t # $stats" >"$out/$t.result"
    else
        { echo "not ok - $t # libFuzzer exit $rc, log $out/$t.log"
          grep -E 'ERROR|SUMMARY|check failed|Test unit written' "$out/$t.log" | head -5 |
              sed 's/^/#   /'
          # the input itself, to replay where the artifact is gone (a CI clone)
          for f in "$out/artifacts/$t"-*; do
              [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 4096 ] || continue
              echo "#   input $(basename "$f") (base64): $(base64 -w0 "$f")"
          done; } >"$out/$t.result"
    fi
}

# Targets run side by side, one per core (FUZZ_JOBS to change): the default 15 s for
# each keeps the whole script well under 90 s on two cores.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
running=0
for t in $targets; do
    rm -f "$out/$t.result"
    run_one "$t" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

pass=0 fail=0
for t in $targets; do
    if [ -f "$out/$t.result" ]; then cat "$out/$t.result"; else echo "not ok - $t # no result"; fi
    if grep -q '^ok - ' "$out/$t.result" 2>/dev/null; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
