#!/usr/bin/env bash
# The error table (src/core/err.h) is the only place a wire code lives:
#   (a) every TN_ERR_* row is used somewhere in src/ outside err.h and err.c (in code,
#       not only in a comment);
#   (b) no literal JSON-RPC error code (-32xxx) and no literal OAuth `error` value of the
#       registries (RFC 6749, 6750, 7591, 8707) appears in src/ outside src/core/err.h;
#       comments included for the codes, since a number in a comment goes stale the day
#       the table changes: name the TN_ERR_* instead.
#
#   tests/lint/err-table.sh
#
# Prints "not ok - <row> is not used" and "not ok - <file>:<line>: <what>" for every
# finding, then "N passed, M failed" (a pass per row used and per clean source file).
# Exits 1 when anything was found.
set -u
cd "$(dirname "$0")/../.." || exit 2
table=src/core/err.h
cc=${CC:-cc}

pass=0
fail=0

# (a) the rows, in table order
rows=$(sed -n 's/^[[:space:]]*X(\(TN_[A-Z0-9_]*\),.*/\1/p' "$table")
[ -n "$rows" ] || { echo "not ok - no rows found in $table"; echo "0 passed, 1 failed"; exit 1; }
# the sources without their comments (the compiler's preprocessor strips them without
# expanding anything)
code=$(find src -name '*.[ch]' ! -path src/core/err.h ! -path src/core/err.c -print0 | sort -z |
       xargs -0 cat | "$cc" -fpreprocessed -dD -E -P -w -x c - 2>/dev/null)
[ -n "$code" ] || { echo "not ok - could not read src/ through $cc"; echo "0 passed, 1 failed"; exit 1; }
for r in $rows; do
    if grep -qw -- "$r" <<<"$code"; then
        pass=$((pass + 1))
    else
        echo "not ok - $r is not used in src/ outside core/err.[ch]"
        fail=$((fail + 1))
    fi
done

# (b) literal wire codes
oauth='invalid_request|unauthorized_client|access_denied|unsupported_response_type'
oauth+='|invalid_scope|server_error|temporarily_unavailable|invalid_client|invalid_grant'
oauth+='|unsupported_grant_type|invalid_token|insufficient_scope|invalid_redirect_uri'
oauth+='|invalid_client_metadata|invalid_software_statement|unapproved_software_statement'
oauth+='|invalid_target|interaction_required|login_required|consent_required'
while IFS= read -r -d '' f; do
    [ "$f" = "$table" ] && continue
    # -32xxx not preceded by a digit, letter or '_' and not followed by a digit
    hits=$(grep -nE -- '(^|[^0-9A-Za-z_])-32[0-9]{3}([^0-9]|$)' "$f" |
           sed -E 's/^([0-9]+):.*$/\1/' | while read -r n; do
               code_=$(sed -n "${n}p" "$f" | grep -oE -- '-32[0-9]{3}' | sort -u | tr '\n' ' ')
               echo "not ok - $f:$n: literal JSON-RPC code ${code_% }"
           done)
    # an OAuth error value in a string literal: "x" or \"x\" (a header or a JSON text)
    hits2=$(grep -noE -- "\"($oauth)\\\\?\"" "$f" |
            sed -E 's/^([0-9]+):\\?"([a-z_]+)\\?"$/not ok - '"${f//\//\\/}"':\1: literal OAuth error "\2"/')
    if [ -z "$hits$hits2" ]; then
        pass=$((pass + 1))
    else
        [ -n "$hits" ] && echo "$hits" && fail=$((fail + $(wc -l <<<"$hits")))
        [ -n "$hits2" ] && echo "$hits2" && fail=$((fail + $(wc -l <<<"$hits2")))
    fi
done < <(find src -name '*.[ch]' -print0 | sort -z)

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
