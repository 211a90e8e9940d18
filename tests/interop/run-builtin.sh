#!/bin/sh
exec "$(dirname "$0")/run-node-test.sh" builtin.test.mjs "$@"
