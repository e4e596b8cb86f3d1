#!/usr/bin/env bash
# Starts a local Confab cluster: three nodes on the machine's PostgreSQL and NATS, behind HAProxy.
#
#   deploy/cluster.sh            start (foreground)
#
# It prints "Confab cluster: …" only once every node answers /readyz and HAProxy serves; a node that
# does not come up is named with the end of its log, everything is stopped, and the exit code is 1.
# Ctrl-C (or SIGTERM) drains: the nodes get SIGTERM and close their clients with 4003 over the drain
# window while HAProxy still carries them, and HAProxy is stopped only once the nodes have exited.
# A node that exits on its own while the cluster runs stops the rest the same way (exit code 1).
# Exit codes: 130 after Ctrl-C, 143 after SIGTERM, 1 when something failed.
#
# Settings (environment):
#   CONFAB_BIN           the confab binary    [built by `cargo build --release`, wherever cargo puts it]
#   CONFAB_STORE         PostgreSQL URL       [postgres://postgres@127.0.0.1:5432/test]
#   CONFAB_STORE_SCHEMA  PostgreSQL schema    [the connection's search path]
#   CONFAB_BUS           NATS URL             [nats://127.0.0.1:4222]
#   CONFAB_DRAIN_WINDOW  the nodes' drain window on Ctrl-C [5s]
#   LB_PORT              HAProxy's port       [8080]
#   NODE_PORTS           the nodes' ports     [LB_PORT+1 LB_PORT+2 LB_PORT+3], e.g. "9001 9002 9003"
#   LB_STATS_PORT        HAProxy's stats page [8404]
#   START_TIMEOUT        seconds the nodes and HAProxy get to become ready [60]
#   LOG_DIR              where node1.log … node3.log and haproxy.log go [a new directory in /tmp]
# Every other CONFAB_* setting (README's configuration table) reaches the nodes as it is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

store=${CONFAB_STORE:-postgres://postgres@127.0.0.1:5432/test}
bus=${CONFAB_BUS:-nats://127.0.0.1:4222}
drain_window=${CONFAB_DRAIN_WINDOW:-5s}
lb_port=${LB_PORT:-8080}
stats_port=${LB_STATS_PORT:-8404}
read -r -a node_ports <<<"${NODE_PORTS:-$((lb_port + 1)) $((lb_port + 2)) $((lb_port + 3))}"
start_timeout=${START_TIMEOUT:-60}
[ ${#node_ports[@]} -eq 3 ] || die "NODE_PORTS needs three ports (got '${NODE_PORTS:-}')"

command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install haproxy)"
command -v setsid >/dev/null || die "setsid is missing (Debian's util-linux has it)"

# The binary: CONFAB_BIN (a path, or a name on PATH), else a release build, found where cargo
# reports it wrote it (CARGO_TARGET_DIR, a build target, … are cargo's business).
if [ -n "${CONFAB_BIN:-}" ]; then
    bin=$(command -v "$CONFAB_BIN") || die "CONFAB_BIN=$CONFAB_BIN is not an executable"
else
    echo "Building confab (cargo build --release)…" >&2
    bin=$(cargo build --release --manifest-path "$root/Cargo.toml" -p confab --bin confab \
        --message-format=json-render-diagnostics |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1) || die "cargo build failed"
    [ -n "$bin" ] || die "cargo build did not report where it put the confab binary"
fi
[ -x "$bin" ] || die "$bin is not an executable file"

# The HTTP status of GET http://127.0.0.1:PORT/PATH, or nothing (no curl needed).
http_status() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
        read -r _ code _ <&3 && echo "$code"' _ "$1" "$2" 2>/dev/null || true
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port something already listens on would answer /readyz for a node that failed: refuse it.
for port in "$lb_port" "${node_ports[@]}" "$stats_port"; do
    if listening "$port"; then
        die "port $port is in use (a cluster already running?); choose others with LB_PORT, NODE_PORTS, LB_STATS_PORT"
    fi
done

log_dir=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/confab-cluster.XXXXXX")}
mkdir -p "$log_dir"

# Seconds to wait for drained nodes to exit: the drain window (s, m or ms) plus the node's 5 s of
# grace and some slack; past that they are killed.
case $drain_window in
*ms) drain_secs=1 ;;
*s) drain_secs=${drain_window%s} ;;
*m) drain_secs=$((${drain_window%m} * 60)) ;;
*) drain_secs=60 ;;
esac
[[ $drain_secs =~ ^[0-9]+$ ]] || drain_secs=60
exit_limit=$((drain_secs + 15))

node_pids=()
haproxy_pid=
stopped=
# Nodes first, so that their clients are told to reconnect (4003) through the HAProxy that is still
# up; HAProxy last. Idempotent: runs on Ctrl-C, SIGTERM, a failure and at exit.
stop() {
    [ -z "$stopped" ] || return 0
    stopped=1
    local pid alive deadline=$((SECONDS + exit_limit))
    if [ ${#node_pids[@]} -gt 0 ]; then
        echo "Draining the nodes (SIGTERM; drain window $drain_window), then stopping HAProxy…" >&2
    fi
    for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    while :; do
        alive=()
        for pid in "${node_pids[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); fi
        done
        [ ${#alive[@]} -gt 0 ] || break
        if [ $SECONDS -ge $deadline ]; then
            echo "Nodes still running after ${exit_limit}s: killing ${alive[*]}" >&2
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    if [ -n "$haproxy_pid" ]; then
        kill -TERM "$haproxy_pid" 2>/dev/null || true
        wait "$haproxy_pid" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    echo "Stopped (logs in $log_dir)." >&2
}
# A second Ctrl-C while draining kills the nodes at once.
trap 'trap "kill -KILL \${node_pids[*]} 2>/dev/null || true" INT; stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# Prints the end of LOG, indented.
tail_log() {
    echo "--- last lines of $1:" >&2
    if [ -s "$1" ]; then tail -n 20 "$1" | sed 's/^/    /' >&2; else echo "    (empty)" >&2; fi
}

# Node N fails: name it, show its log, stop everything, exit 1.
node_failed() {
    local i=$1 why=$2
    echo "cluster.sh: node $i (127.0.0.1:${node_ports[$((i - 1))]}) $why" >&2
    tail_log "$log_dir/node$i.log"
    stop
    exit 1
}

for i in 1 2 3; do
    port=${node_ports[$((i - 1))]}
    "$bin" serve --listen "127.0.0.1:$port" --node-id "$i" --store "$store" --bus "$bus" \
        --drain-window "$drain_window" </dev/null >"$log_dir/node$i.log" 2>&1 &
    node_pids+=($!)
    export "CONFAB_NODE$i=127.0.0.1:$port"
done

deadline=$((SECONDS + start_timeout))
for i in 1 2 3; do
    pid=${node_pids[$((i - 1))]}
    port=${node_ports[$((i - 1))]}
    while [ "$(http_status "$port" /readyz)" != 200 ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rc=0
            wait "$pid" || rc=$?
            node_failed "$i" "exited with status $rc before it was ready"
        fi
        if [ $SECONDS -ge $deadline ]; then
            node_failed "$i" "did not answer /readyz with 200 within ${start_timeout}s"
        fi
        sleep 0.2
    done
done

# HAProxy goes last: stopped with the nodes, it would cut every client before the nodes could tell
# them to reconnect (4003). It runs in a session of its own, out of reach of the terminal's Ctrl-C
# (sent to the whole foreground process group, nodes included): only stop() ends it, after the
# nodes have exited. (A script's background job ignores SIGINT anyway; this does not rely on it.)
export CONFAB_LB_ADDR="127.0.0.1:$lb_port" CONFAB_LB_STATS="127.0.0.1:$stats_port"
setsid haproxy -f "$root/deploy/haproxy.cfg" -db </dev/null >"$log_dir/haproxy.log" 2>&1 &
haproxy_pid=$!
while [ "$(http_status "$lb_port" /readyz)" != 200 ]; do
    if ! kill -0 "$haproxy_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
        echo "cluster.sh: HAProxy did not come up on 127.0.0.1:$lb_port" >&2
        tail_log "$log_dir/haproxy.log"
        stop
        exit 1
    fi
    sleep 0.2
done

echo "Confab cluster: http://127.0.0.1:$lb_port (nodes on ${node_ports[*]}, HAProxy stats on http://127.0.0.1:$stats_port; logs in $log_dir; Ctrl-C drains and stops)"

# Until a signal, or until a process exits on its own: that is a failure. (The sleep runs in the
# background so that a signal's trap runs at once, not after it.)
alive() {
    local pid
    for pid in "${node_pids[@]}" "$haproxy_pid"; do kill -0 "$pid" 2>/dev/null || return 1; done
}
while alive; do
    sleep 0.5 &
    wait $! || true
done
for i in 1 2 3; do
    if ! kill -0 "${node_pids[$((i - 1))]}" 2>/dev/null; then
        rc=0
        wait "${node_pids[$((i - 1))]}" || rc=$?
        node_failed "$i" "exited with status $rc"
    fi
done
echo "cluster.sh: HAProxy exited" >&2
tail_log "$log_dir/haproxy.log"
stop
exit 1
