# Shared by tests/deploy/*.sh (sourced): checks, ports, a curl sign-in, MCP calls.
# Needs: $work (a temp dir), $tn (the teamnotes binary), $node.

pass=0; fail=0
check() { # name expected actual
  if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"
  else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi
}
contains() { # name needle haystack
  if [[ "$3" == *"$2"* ]]; then pass=$((pass+1)); echo "ok - $1"
  else fail=$((fail+1)); echo "not ok - $1: '$2' not in '${3:0:400}'"; fi
}
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Waits until FILE has a line matching RE (up to N tenths of a second, default 150).
wait_for() { # file re [n]
  for _ in $(seq "${3:-150}"); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# The built-in sign-in with curl only: DCR, authorize, the sign-in and consent forms, the
# code exchange (PKCE S256). Prints the access token. CURL_OPTS (array) is added to
# every request (e.g. --cacert).
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -1 | sed 's/.*value="//;s/"$//'; }
curl_token() { # base_url email password tag
  local A=$1 d="$work/oauth-$4" cid ver ch code
  mkdir -p "$d"
  cid=$(curl -s "${CURL_OPTS[@]}" -X POST -H 'Content-Type: application/json' "$A/register" \
    -d '{"client_name":"deploy-test","redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}' | jq -r .client_id)
  ver=verifier-0123456789012345678901234567890123456789-${4//[^A-Za-z0-9]/-}
  ch=$(printf %s "$ver" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
  curl -s "${CURL_OPTS[@]}" -c "$d/jar" -b "$d/jar" -o "$d/p1" "$A/authorize?response_type=code&client_id=$cid&redirect_uri=http://127.0.0.1:9999/cb&code_challenge=$ch&code_challenge_method=S256&state=s"
  curl -s "${CURL_OPTS[@]}" -c "$d/jar" -b "$d/jar" -o "$d/p2" "$A/authorize/login" --data-urlencode "req=$(field req "$d/p1")" \
    --data-urlencode "csrf=$(field csrf "$d/p1")" --data-urlencode "email=$2" --data-urlencode "password=$3"
  curl -s "${CURL_OPTS[@]}" -c "$d/jar" -b "$d/jar" -D "$d/h3" -o /dev/null "$A/authorize/consent" \
    --data-urlencode "req=$(field req "$d/p2")" --data-urlencode "csrf=$(field csrf "$d/p2")" -d decision=allow
  code=$(grep -i '^location' "$d/h3" | sed 's/.*code=\([^&]*\).*/\1/' | tr -d '\r')
  curl -s "${CURL_OPTS[@]}" "$A/token" -d grant_type=authorization_code -d code="$code" -d code_verifier="$ver" \
    -d client_id="$cid" --data-urlencode redirect_uri=http://127.0.0.1:9999/cb | jq -r '.access_token // empty'
}

# tools/call on the 2025-era stateless wire; prints the JSON answer.
mcp_call() { # base_url token tool args_json
  curl -s "${CURL_OPTS[@]}" -H 'Content-Type: application/json' -H 'Accept: application/json' \
    -H "Authorization: Bearer $2" "$1/mcp" \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$3\",\"arguments\":$4}}"
}

# Opens a 2026-07-28 subscriptions/listen stream for resource list changes in the
# background, writing it to FILE, for SECONDS; sets $listen_pid.
mcp_listen() { # base_url token file seconds
  local meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
  timeout "$4" curl -s -N "${CURL_OPTS[@]}" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: subscriptions/listen' -H "Authorization: Bearer $2" \
    "$1/mcp" -d "{\"jsonrpc\":\"2.0\",\"id\":\"sub-1\",\"method\":\"subscriptions/listen\",\"params\":{$meta,\"notifications\":{\"resourcesListChanged\":true}}}" >"$3" &
  listen_pid=$!
}
