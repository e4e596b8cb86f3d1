#!/usr/bin/env bash
# The Debian package as an operator meets it: built with cargo-deb, installed with `dpkg -i`, its
# files where the unit expects them, the unit verified by systemd-analyze, the unit's own command
# line (read from the installed unit, not retyped) started as an unprivileged user with a fresh
# state directory and a clean environment as systemd would, /readyz and the web UI answered,
# SIGTERM drained within the unit's TimeoutStopSec; then `dpkg -r` and `dpkg --purge`.
#
#   .ci/package.sh                      as root (dpkg); .ci/run calls it after `cargo test`
#
#   PACKAGE_PROFILE=dev (default)  packages target/debug/confab, which `cargo test` built: no second
#                                  build (cargo-deb warns that it is meant for release profiles)
#   PACKAGE_PROFILE=release        builds and packages the release binary, as a release would
#
# Systemd itself is not running here: the sandbox options (ProtectSystem, SystemCallFilter, …) are
# checked by `systemd-analyze verify` and scored by `systemd-analyze security --offline`, not
# enforced. The state directory is bind-mounted over /var/lib/confab in a mount namespace of the
# process's own (as StateDirectory= provides it), so the command line runs unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
profile=${PACKAGE_PROFILE:-dev}
started=$SECONDS

fail() {
    echo "package: FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" = 0 ] || fail "run as root (dpkg -i)"
for tool in dpkg curl setpriv unshare; do
    command -v "$tool" >/dev/null || fail "$tool is missing"
done

# cargo-deb from crates.io, pinned (the first install compiles it: about 3 minutes on 2 cores).
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "== installing cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" --quiet
fi

echo "== building the package ($profile profile)"
rm -rf target/debian
case $profile in
dev)
    # The binary `cargo test --workspace` built, as it is (a `cargo build -p confab` would relink
    # it with that package's own feature set); built here only when missing or older than a source.
    if [ ! -x target/debug/confab ] || [ -n "$(find Cargo.lock crates web -newer target/debug/confab \
        \( -name '*.rs' -o -name '*.toml' -o -name '*.sql' -o -name Cargo.lock -o -path 'web/*' \) \
        -not -path '*/node_modules/*' -not -path 'web/tests/*' -print -quit)" ]; then
        cargo build -p confab --bin confab --quiet
    fi
    cargo deb -p confab --profile dev --no-build --fast --quiet
    ;;
release) cargo deb -p confab --locked --quiet ;;
*) fail "PACKAGE_PROFILE is dev or release (got $profile)" ;;
esac
deb=$(ls target/debian/confab_*.deb)
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Installed-Size\):/  \1:/p'

echo "== dpkg -i"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null

# Remove what this script installed, also when a check fails.
state=
pid=
mountpoint=
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    if [ -n "$state" ]; then rm -rf "$state" "$state.log"; fi
    if [ -n "$mountpoint" ]; then rmdir "$mountpoint" 2>/dev/null || true; fi
    if dpkg-query -W confab >/dev/null 2>&1; then dpkg --purge confab >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# The files, where the unit says they are.
unit=$(dpkg -L confab | grep -E '^(/usr)?/lib/systemd/system/confab\.service$') ||
    fail "no confab.service under /lib/systemd/system"
[ -x /usr/bin/confab ] || fail "/usr/bin/confab is missing"
[ -f /etc/confab/confab.toml ] || fail "/etc/confab/confab.toml is missing"
dpkg-query -W -f='${Conffiles}\n' confab | grep -q '^ /etc/confab/confab.toml ' ||
    fail "/etc/confab/confab.toml is not a conffile"
/usr/bin/confab --version
echo "  unit: $unit"

# The unit's settings, as systemd reads them (the last assignment of a key wins).
setting() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
exec_start=$(setting ExecStart)
state_name=$(setting StateDirectory)
working_dir=$(setting WorkingDirectory)
timeout_stop=$(setting TimeoutStopSec)
[ -n "$exec_start" ] || fail "the unit has no ExecStart"
[ "$state_name" = confab ] || fail "StateDirectory is '$state_name', not confab"
for key in DynamicUser ProtectSystem ProtectHome PrivateTmp NoNewPrivileges CapabilityBoundingSet \
    RestrictAddressFamilies SystemCallFilter LimitNOFILE KillSignal TimeoutStopSec Restart; do
    grep -q "^$key=" "$unit" || fail "the unit does not set $key"
done
case $exec_start in
*[\"\'\$%\\]* | [-@+:!]*) fail "ExecStart needs systemd's quoting or prefixes; this script splits on spaces only" ;;
esac
read -r -a command <<<"$exec_start"
[ "${command[0]}" = /usr/bin/confab ] || fail "ExecStart runs ${command[0]}, not /usr/bin/confab"
for arg in "${command[@]}"; do
    case $arg in /*) [ -e "$arg" ] || [ "$arg" = "/var/lib/$state_name" ] ||
        fail "ExecStart names $arg, which the package did not install" ;;
    esac
done

if command -v systemd-analyze >/dev/null; then
    echo "== systemd-analyze verify"
    systemd-analyze verify "$unit"
    # An exposure score from 0 (locked down) to 10; systemd calls under 2 "OK".
    exposure=$(systemd-analyze security --offline=true "$unit" 2>/dev/null |
        sed -n 's/.*Overall exposure level for confab.service: \([0-9.]*\).*/\1/p')
    echo "  systemd-analyze security: exposure $exposure"
    awk -v e="${exposure:-10}" 'BEGIN { exit !(e < 2.0) }' || fail "exposure ${exposure:-unknown} is not under 2.0"
else
    echo "  (systemd-analyze is not installed: unit not verified)"
fi

echo "== the unit's command line, as the unit runs it"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
uid=61999 # in systemd's DynamicUser range (61184-65519), with no passwd entry, as a dynamic user has
state=$(mktemp -d /tmp/confab-state.XXXXXX)
chown "$uid:$uid" "$state"
chmod 0700 "$state"
log=$state.log
echo "  $exec_start"
echo "  as uid $uid, /var/lib/$state_name = $state, CONFAB_LISTEN=127.0.0.1:$port (the file says 127.0.0.1:8080)"
# A mount namespace of its own: the fresh state directory appears at /var/lib/confab for this
# process only; then the user's ids, no capabilities, no new privileges, systemd's environment.
# (/var/lib/confab itself is created if missing, as the mount point, and removed afterwards.)
mountpoint=
[ -e "/var/lib/$state_name" ] || { mkdir "/var/lib/$state_name" && mountpoint="/var/lib/$state_name"; }
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private -- sh -c '
    mount --bind "$2" "$1" || exit 99
    cd "$3" || exit 98
    shift 3
    exec "$@"' sh "/var/lib/$state_name" "$state" "${working_dir:-/}" \
    setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
    env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 STATE_DIRECTORY="/var/lib/$state_name" \
    CONFAB_LISTEN="127.0.0.1:$port" "${command[@]}" >"$log" 2>&1 &
pid=$!

ready=
for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
done
if [ -z "$ready" ]; then
    cat "$log" >&2
    fail "the unit's command did not answer /readyz on 127.0.0.1:$port"
fi
curl -fsS "http://127.0.0.1:$port/readyz" && echo
page=$(curl -fsS "http://127.0.0.1:$port/") || fail "GET / failed"
[[ $page == *'<title>Confab</title>'* ]] || fail "no web UI at /"
[ -f "$state/confab.db" ] || fail "the store is not in the state directory"
[ "$(stat -c %u "$state/confab.db")" = "$uid" ] || fail "the store is not owned by uid $uid"
grep -q "INFO" "$log" || fail "nothing logged"
! grep -q $'\e\[' "$log" || fail "escape codes in the log"

# Stop as systemd does: KillSignal (SIGTERM), then wait up to TimeoutStopSec for a drained exit 0.
limit=${timeout_stop%s}
[[ $limit =~ ^[0-9]+$ ]] || fail "TimeoutStopSec=$timeout_stop is not in seconds"
kill -TERM "$pid"
stop_started=$SECONDS
rc=0
timeout "$limit" tail --pid="$pid" -f /dev/null || fail "not stopped within TimeoutStopSec=$timeout_stop"
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || {
    cat "$log" >&2
    fail "exit code $rc after SIGTERM"
}
echo "  SIGTERM: drained and exited 0 in $((SECONDS - stop_started)) s (TimeoutStopSec=$timeout_stop)"

echo "== dpkg -r, dpkg --purge"
dpkg -r confab >/dev/null
[ ! -e /usr/bin/confab ] || fail "/usr/bin/confab is still there after dpkg -r"
[ ! -e "$unit" ] || fail "$unit is still there after dpkg -r"
[ -f /etc/confab/confab.toml ] || fail "dpkg -r removed the conffile (only --purge should)"
dpkg --purge confab >/dev/null
[ ! -e /etc/confab/confab.toml ] || fail "/etc/confab/confab.toml is still there after dpkg --purge"

echo "package: OK in $((SECONDS - started)) s ($deb)"
