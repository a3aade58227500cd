#!/usr/bin/env bash
# Before/after in one run: two counterd builds, alternated round by round on the same machine,
# with redis-server (no persistence) measured in the same rounds as the reference. Per round and
# build: redis-benchmark INCR over RESP (-c 50 -P 16, keys uniform over 1M) and HTTP batches of
# 1,000 (counterctl bench -c 16, uniform over 100k keys, load generator from the NEW build).
#   ./bench/compare_bench.sh OLD_BIN_DIR NEW_BIN_DIR [rounds, default 3] [seconds, default 8]
# e.g. OLD = a worktree of the commit before the change, built with ./scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1
NEW=$2
ROUNDS=${3:-3}
SECS=${4:-8}
N=$((SECS * 100000))
WORK=$(mktemp -d /tmp/counterd-compare-XXXXXX)
PID=
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
wait_redis() { for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; }
wait_http() { for _ in $(seq 200); do curl -sf "localhost:$1/healthz" >/dev/null && return; sleep 0.05; done; }
resp_rate() {  # port
  redis-benchmark -p "$1" -t incr -c 50 -P 16 -r 1000000 -n "$N" -q 2>/dev/null |
    tr '\r' '\n' | grep -E '^INCR: [0-9.]+ requests' | awk '{print $2}'
}
http_rate() {  # port
  "$NEW/counterctl" bench --addr "127.0.0.1:$1" -d "$SECS" -c 16 --batch 1000 --keys 100000 \
    2>/dev/null | sed -n 's/.* \([0-9.]*\) increments\/s.*/\1/p' | tail -1
}

echo "## machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "| round | server | RESP INCR -P 16 (req/s) | HTTP batch 1,000 (incr/s) |"
echo "|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  for build in old new; do
    bin=$OLD; [[ $build == new ]] && bin=$NEW
    rm -rf "$WORK/data"
    "$bin/counterd" --data-dir "$WORK/data" --http-addr 127.0.0.1:18180 \
      --resp-addr 127.0.0.1:16490 >"$WORK/$build.log" 2>&1 &
    PID=$!
    wait_http 18180; wait_redis 16490
    resp=$(resp_rate 16490)
    http=$(http_rate 18180)
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    echo "| $round | counterd $build | $resp | $http |"
  done
  mkdir -p "$WORK/redis"
  redis-server --port 16491 --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
    --daemonize no >"$WORK/redis.log" 2>&1 &
  PID=$!
  wait_redis 16491
  echo "| $round | redis-server 7.0, no persistence | $(resp_rate 16491) | |"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
done
