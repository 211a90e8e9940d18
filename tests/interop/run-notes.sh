#!/bin/sh
exec "$(dirname "$0")/run-node-test.sh" notes.test.mjs "$@"
