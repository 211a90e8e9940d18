#!/usr/bin/env bash
# Gets an access token from the test IdP (idp.mjs) without a browser (docs: interop-testing §6.4):
# authorization code + PKCE S256 + RFC 8707 resource, following the login and consent forms with
# curl and a cookie jar, or client_credentials with --m2m. Prints the access token on stdout.
#   get-token.sh [--user alice] [--password alice-pass] [--resource URL] [--scope S]
#                [--client-id ID] [--client-secret S] [--redirect-uri URI] [--issuer URL]
#                [--m2m] [--json] [-v]
#   --user NAME          user to sign in as (default alice); --password defaults to NAME-pass
#   --resource URL       resource indicator (default http://127.0.0.1:8080/mcp; "" sends none,
#                        so the IdP uses its default resource)
#   --scope S            default "openid notes:read notes:write" ("notes:read" with --m2m)
#   --client-id ID       default mcp-test-public (mcp-test-m2m with --m2m)
#   --client-secret S    authenticate with client_secret_basic (default: public client;
#                        m2m-secret with --m2m)
#   --redirect-uri URI   default http://127.0.0.1:9999/callback (nothing needs to listen there)
#   --issuer URL         default $IDP_ISSUER, else http://127.0.0.1:${IDP_PORT:-9400}
#   --m2m                client_credentials grant (one request)
#   --json               print the whole token response (refresh_token, id_token, expires_in…)
#   -v                   trace every request (status, time, Location) on stderr
# Exit status: 0 ok, 1 any failure (message on stderr), 2 usage. Needs curl, openssl, jq.
set -u -o pipefail

issuer="${IDP_ISSUER:-http://127.0.0.1:${IDP_PORT:-9400}}"
user=alice password= resource=http://127.0.0.1:8080/mcp scope= client_id= client_secret=
redirect_uri=http://127.0.0.1:9999/callback m2m=0 json=0 verbose=0 secret_set=0

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2; }
fail() { echo "get-token: $*" >&2; exit 1; }
trace() { [ "$verbose" = 1 ] && echo "get-token: $*" >&2; return 0; }
need() { [ $# -ge 2 ] || { echo "get-token: $1 needs a value" >&2; exit 2; }; }

while [ $# -gt 0 ]; do
    case "$1" in
        --user) need "$@"; user=$2; shift ;;
        --password) need "$@"; password=$2; shift ;;
        --resource) need "$@"; resource=$2; shift ;;
        --scope) need "$@"; scope=$2; shift ;;
        --client-id) need "$@"; client_id=$2; shift ;;
        --client-secret) need "$@"; client_secret=$2; secret_set=1; shift ;;
        --redirect-uri) need "$@"; redirect_uri=$2; shift ;;
        --issuer) need "$@"; issuer=${2%/}; shift ;;
        --m2m) m2m=1 ;;
        --json) json=1 ;;
        -v|--verbose) verbose=1 ;;
        -h|--help) usage ;;
        *) echo "get-token: unknown argument $1" >&2; usage ;;
    esac
    shift
done
for tool in curl openssl jq; do
    command -v "$tool" >/dev/null || fail "$tool is required"
done
if [ "$m2m" = 1 ]; then
    : "${client_id:=mcp-test-m2m}" "${scope:=notes:read}"
    [ "$secret_set" = 1 ] || client_secret=m2m-secret
else
    : "${client_id:=mcp-test-public}" "${scope:=openid notes:read notes:write}"
    : "${password:=$user-pass}"
fi

tmp=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
jar="$tmp/cookies" body="$tmp/body"
t0=$EPOCHREALTIME
nreq=0
# req METHOD URL [curl args…]: sets $status and $location, body in $body.
req() {
    local method=$1 url=$2 out
    shift 2
    nreq=$((nreq + 1))
    out=$(curl -sS --max-time 10 -o "$body" -b "$jar" -c "$jar" -X "$method" \
        -w '%{http_code} %{time_total} %{redirect_url}' "$@" "$url") \
        || fail "$method ${url%%\?*}: curl failed (is the IdP running at $issuer?)"
    status=${out%% *}; out=${out#* }
    location=${out#* }
    trace "$method ${url%%\?*} -> $status ${out%% *}s${location:+ Location: ${location%%\?*}}"
}
# error text out of a JSON error or one of the IdP's HTML pages
error_of() {
    jq -r 'select(.error) | "\(.error): \(.error_description // "")"' "$body" 2>/dev/null \
        || sed -n 's/.*class="error[a-z_]*">\([^<]*\)<.*/\1/p' "$body" | paste -sd' ' -
}
urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }
token_auth=()
[ -n "$client_secret" ] && token_auth=(-u "$client_id:$client_secret")
resource_arg=()
[ -n "$resource" ] && resource_arg=(--data-urlencode "resource=$resource")

req GET "$issuer/.well-known/openid-configuration"
[ "$status" = 200 ] || fail "discovery at $issuer answered HTTP $status"
{ read -r disc_issuer; read -r auth_endpoint; read -r token_endpoint; } < <(jq -r \
    '.issuer // "", .authorization_endpoint // "", .token_endpoint // ""' "$body" 2>/dev/null)
[ "${disc_issuer:-}" = "$issuer" ] || fail "discovery issuer is not $issuer"
[ -n "$token_endpoint" ] && [ -n "$auth_endpoint" ] || fail "discovery lacks endpoints"

if [ "$m2m" = 1 ]; then
    req POST "$token_endpoint" "${token_auth[@]}" -d grant_type=client_credentials \
        --data-urlencode "scope=$scope" "${resource_arg[@]}"
else
    b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
    verifier=$(openssl rand 32 | b64url)
    challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | b64url)
    state=$(openssl rand 16 | b64url)
    req GET "$auth_endpoint" -G -d response_type=code --data-urlencode "client_id=$client_id" \
        --data-urlencode "redirect_uri=$redirect_uri" --data-urlencode "scope=$scope" \
        "${resource_arg[@]}" -d "state=$state" -d "code_challenge=$challenge" \
        -d code_challenge_method=S256
    callback=
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
        case "$status" in
        30[1237])
            [ -n "$location" ] || fail "HTTP $status without Location"
            case "$location" in "$redirect_uri"\?*|"$redirect_uri") callback=$location; break ;; esac
            req GET "$location" ;;
        200|401)
            [[ $issuer =~ ^https?://[^/]+ ]] && origin=${BASH_REMATCH[0]}
            action=
            [[ $(<"$body") =~ action=\"([^\"]*/(login|confirm))\" ]] && action=${BASH_REMATCH[1]}
            case "$status:$action" in
            401:*) fail "login as '$user' failed: $(error_of)" ;;
            *:*/login) req POST "$origin$action" --data-urlencode "username=$user" \
                           --data-urlencode "password=$password" ;;
            *:*/confirm) req POST "$origin$action" ;;
            *) fail "unexpected page from the IdP (HTTP $status): $(error_of)" ;;
            esac ;;
        *) fail "authorization failed (HTTP $status): $(error_of)" ;;
        esac
    done
    [ -n "$callback" ] || fail "no redirect to $redirect_uri after $nreq requests"
    query=${callback#*\?}
    code= got_state= err= err_desc=
    IFS='&' read -ra pairs <<<"$query"
    for pair in "${pairs[@]}"; do
        value=$(urldecode "${pair#*=}")
        case "${pair%%=*}" in
            code) code=$value ;; state) got_state=$value ;;
            error) err=$value ;; error_description) err_desc=$value ;;
        esac
    done
    [ -z "$err" ] || fail "authorization error: $err: $err_desc"
    [ "$got_state" = "$state" ] || fail "state mismatch in callback"
    [ -n "$code" ] || fail "no code in callback"
    client_arg=()
    [ -n "$client_secret" ] || client_arg=(--data-urlencode "client_id=$client_id")
    req POST "$token_endpoint" "${token_auth[@]}" "${client_arg[@]}" -d grant_type=authorization_code \
        --data-urlencode "code=$code" --data-urlencode "code_verifier=$verifier" \
        --data-urlencode "redirect_uri=$redirect_uri" "${resource_arg[@]}"
fi

[ "$status" = 200 ] || fail "token request failed (HTTP $status): $(error_of)"
access_token=$(jq -r '.access_token // empty' "$body" 2>/dev/null)
[ -n "$access_token" ] || fail "token response without access_token"
trace "$nreq requests, $(( (${EPOCHREALTIME/[.,]/} - ${t0/[.,]/}) / 1000 )) ms"
if [ "$json" = 1 ]; then jq . "$body"; else printf '%s\n' "$access_token"; fi
