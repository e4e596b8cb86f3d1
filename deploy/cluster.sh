#!/usr/bin/env bash
# Starts a local Confab cluster: three nodes on the machine's PostgreSQL and NATS, behind HAProxy.
#
#   deploy/cluster.sh            start (foreground; Ctrl-C stops everything)
#
# Settings (environment):
#   CONFAB_STORE   PostgreSQL URL   [postgres://postgres@127.0.0.1:5432/test]
#   CONFAB_BUS     NATS URL         [nats://127.0.0.1:4222]
#   LB_PORT        HAProxy's port   [8080]; nodes listen on LB_PORT+1..3, stats on 8404
set -euo pipefail
cd "$(dirname "$0")/.."

store=${CONFAB_STORE:-postgres://postgres@127.0.0.1:5432/test}
bus=${CONFAB_BUS:-nats://127.0.0.1:4222}
lb_port=${LB_PORT:-8080}

command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/confab

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for i in 1 2 3; do
    port=$((lb_port + i))
    "$bin" serve --listen "127.0.0.1:$port" --node-id "$i" --store "$store" --bus "$bus" \
        --drain-window 5s &
    pids+=($!)
    export "CONFAB_NODE$i=127.0.0.1:$port"
done
export CONFAB_LB_ADDR="127.0.0.1:$lb_port" CONFAB_LB_STATS="127.0.0.1:8404"
haproxy -f deploy/haproxy.cfg -db &
pids+=($!)
echo "Confab cluster: http://127.0.0.1:$lb_port (nodes on $((lb_port + 1))-$((lb_port + 3)), HAProxy stats on http://127.0.0.1:8404)"
wait
