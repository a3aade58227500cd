#!/usr/bin/env bash
# Reproduces the HTTP and gRPC numbers in docs/performance.md, with redis-server measured in the same run
# as the reference. COUNTERD_ARGS adds counterd flags (e.g. "--http-threads 2"). Run from the
# repository root after ./scripts/setup.sh:
#   ./bench/http_bench.sh [seconds per run, default 10] [all | single]
# `single` runs only the single-increment lines (and the Redis reference): about a minute at 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
WHICH=${2:-all}
BIN=${BUILD_DIR:-build}/bin
WORK=$(mktemp -d /tmp/counterd-bench-XXXXXX)
PORT=18080
REDIS_PORT=16379
cleanup() {
  [[ -n "${CPID:-}" ]] && kill "$CPID" 2>/dev/null || true
  [[ -n "${RPID:-}" ]] && kill "$RPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "## machine"; nproc; grep -m1 'model name' /proc/cpuinfo || true; free -g | head -2
echo "## counterd (durable ack: reply after fdatasync)"
# shellcheck disable=SC2086
"$BIN/counterd" --data-dir "$WORK/data" --http-addr 127.0.0.1:$PORT --grpc-addr 127.0.0.1:19091 \
  ${COUNTERD_ARGS:-} >"$WORK/counterd.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do curl -sf localhost:$PORT/healthz >/dev/null && break; sleep 0.1; done
# Server CPU seconds (user+sys) so far, from /proc: the client shares this machine, so the
# server's CPU per increment says what a node does when the load comes from elsewhere.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$CPID/stat"; }
report_cpu() {  # before after increments
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0) printf "server CPU: %.2f us per increment (%.1f s)\n", (b - a) * 1e6 / n, b - a }'
}
# The WAL's fdatasync histogram (cumulative "le count" lines): a disk stall of tens of ms holds up
# every request behind it, so each run says how many syncs took longer than 10 ms.
fsyncs() { curl -s localhost:$PORT/metrics | sed -n 's/^counterd_wal_fsync_duration_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)/\1 \2/p'; }
report_fsyncs() {  # before-file after-file
  paste "$1" "$2" | awk '{ d = $4 - $2; if ($1 == "0.01") fast = d; if ($1 == "+Inf") all = d
    if (d > prev) { slowest = $1 } prev = d }
    END { printf "fdatasync: %d in the run, %d over 10 ms (slowest <= %s s)\n", all, all - fast, slowest }'
}
# Other work on the machine, as the kernel saw it over the last 10 s (share of time some task
# waited for the CPU or the disk): the tail latencies are only comparable when these are low.
pressure() {
  echo "pressure avg10: cpu $(sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null)%," \
    "io $(sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/io 2>/dev/null)%"
}
run() {
  echo "### counterctl bench $*"
  local before out
  before=$(cpu)
  fsyncs >"$WORK/fsync.before"
  out=$("$BIN/counterctl" bench --addr 127.0.0.1:$PORT -d "$SECS" "$@" 2>/dev/null)
  echo "$out"
  report_cpu "$before" "$(cpu)" "$(echo "$out" | sed -n 's/^exactness: \([0-9]*\) acknowledged.*/\1/p')"
  fsyncs >"$WORK/fsync.after"
  report_fsyncs "$WORK/fsync.before" "$WORK/fsync.after"
  pressure
}
run -c 32 --batch 1 --keys 100000
# Open loop at 10k single increments/s: one async client thread over 64 connections (latency from
# each request's due time), then the same schedule from 64 blocking client threads.
run --async -c 64 --rate 10000 --batch 1 --keys 100000
run -c 64 --rate 10000 --batch 1 --keys 100000
if [[ "$WHICH" == all ]]; then
  run -c 4 --batch 1000 --keys 100000
  run -c 16 --batch 1000 --keys 100000
  run -c 8 --batch 1000 --keys 100000 --dist zipf
  run -c 32 --batch 1 --dist single
  echo "### counterctl bench --protocol grpc (bidirectional stream, one batch in flight per stream)"
  before=$(cpu)
  out=$("$BIN/counterctl" bench --protocol grpc --addr 127.0.0.1:19091 -d "$SECS" -c 4 --batch 1000 --keys 100000 2>/dev/null)
  echo "$out"
  report_cpu "$before" "$(cpu)" "$(echo "$out" | sed -n 's/^exactness: \([0-9]*\) acknowledged.*/\1/p')"
fi
curl -s localhost:$PORT/metrics | grep -E '^counterd_wal_(records|syncs)_total' || true
kill "$CPID"; wait "$CPID" || true; CPID=

echo "## reference: redis-server 7.0 on the same machine, appendfsync always, redis-benchmark INCR"
redis-server --port $REDIS_PORT --bind 127.0.0.1 --dir "$WORK" --save '' --appendonly yes \
  --appendfsync always --daemonize no >"$WORK/redis.log" 2>&1 &
RPID=$!
for _ in $(seq 100); do redis-cli -p $REDIS_PORT ping >/dev/null 2>&1 && break; sleep 0.1; done
for P in 1 16; do
  echo "### redis-benchmark -t incr -c 32 -P $P"
  redis-benchmark -p $REDIS_PORT -t incr -c 32 -P $P -n $((SECS * 20000)) -q
done
