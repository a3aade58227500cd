#!/usr/bin/env bash
# Reproduces the RESP table in docs/performance.md: redis-benchmark INCR against counterd's RESP
# port (durable ack) and against redis-server with no persistence, appendfsync everysec and
# appendfsync always, all in one run on one machine. From the repository root after
# ./scripts/setup.sh:   ./bench/resp_bench.sh [requests per run, default 200000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
BIN=${BUILD_DIR:-build}/bin
WORK=$(mktemp -d /tmp/counterd-resp-bench-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done; }
bench() {  # name port
  for P in 1 16 64; do
    rps=$(redis-benchmark -p "$2" -t incr -c 50 -P $P -n "$N" -q 2>/dev/null | tr '\r' '\n' | grep -E '^INCR: [0-9.]+ requests' | awk '{print $2}')
    echo "| $1 | -P $P | $rps |"
  done
}
echo "| server | pipeline | INCR/s |"
echo "|---|---|---|"
"$BIN/counterd" --data-dir "$WORK/cd" --http-addr 127.0.0.1:0 --resp-addr 127.0.0.1:16390 >"$WORK/cd.log" 2>&1 &
PIDS+=($!); wait_port 16390
bench "counterd (durable: reply after fdatasync)" 16390
kill "${PIDS[-1]}"
i=0
for mode in "no persistence:--appendonly no" "appendfsync everysec:--appendonly yes --appendfsync everysec" "appendfsync always:--appendonly yes --appendfsync always"; do
  name=${mode%%:*}; flags=${mode#*:}; port=$((16391 + i)); i=$((i + 1))
  mkdir -p "$WORK/r$port"
  # shellcheck disable=SC2086
  redis-server --port $port --bind 127.0.0.1 --dir "$WORK/r$port" --save '' $flags --daemonize no >"$WORK/r$port.log" 2>&1 &
  PIDS+=($!); wait_port $port
  bench "redis-server 7.0, $name" $port
  kill "${PIDS[-1]}"
done
