#!/usr/bin/env bash
# The cost of auth + TLS per request, on vs off in one run, with redis-server plain vs TLS in the
# same rounds as the reference. Per round:
#   counterd off: no auth, plaintext        counterd on: JWT (HS256) auth + TLS on every listener
#   redis off:    redis-server plaintext    redis on:    redis-server --tls-port (no client certs)
# Loads: redis-benchmark INCR -c 50 without pipelining (-P 1: one request per round trip, the
# per-request cost shows) and with -P 16; HTTP single increments (counterctl bench -c 16, the
# token in every request's header). Redis has no HTTP, so the HTTP column has no reference.
#   ./bench/security_bench.sh [rounds, default 3] [seconds, default 6]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
ROUNDS=${1:-3}
SECS=${2:-6}
N=$((SECS * 20000))
WORK=$(mktemp -d /tmp/counterd-security-XXXXXX)
PID=
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# shellcheck source=bench/security_setup.sh
source bench/security_setup.sh
TLS_CLI=(--tls --cacert "$WORK/ca.pem")

wait_port() { for _ in $(seq 200); do (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }
resp_rate() {  # port pipeline [extra redis-benchmark flags...]
  local port=$1 pipeline=$2
  shift 2
  redis-benchmark -p "$port" "$@" -t incr -c 50 -P "$pipeline" -r 100000 -n "$N" -q 2>/dev/null |
    tr '\r' '\n' | grep -E '^INCR: [0-9.]+ requests' | awk '{print $2}'
}
http_rate() {  # port [extra counterctl flags...]
  local port=$1
  shift
  "$BIN/counterctl" "$@" bench --addr "127.0.0.1:$port" -d "$SECS" -c 16 --keys 100000 \
    2>/dev/null | sed -n 's/.* \([0-9.]*\) increments\/s.*/\1/p' | tail -1
}

echo "## machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "| round | server | RESP INCR -P 1 (req/s) | RESP INCR -P 16 (req/s) | HTTP single (req/s) |"
echo "|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  for mode in off on; do
    rm -rf "$WORK/data"
    flags=()
    extra=()
    ctl=()
    if [[ $mode == on ]]; then
      flags=(--auth-jwt-secret-file "$WORK/secret" --tls-cert-file "$WORK/node.pem"
        --tls-key-file "$WORK/node.key")
      extra=("${TLS_CLI[@]}" -a "$TOKEN")
      ctl=(--tls-ca "$WORK/ca.pem" --token "$TOKEN")
    fi
    "$BIN/counterd" --data-dir "$WORK/data" --http-addr 127.0.0.1:18280 \
      --resp-addr 127.0.0.1:16590 "${flags[@]}" >"$WORK/counterd.log" 2>&1 &
    PID=$!
    wait_port 18280
    wait_port 16590
    p1=$(resp_rate 16590 1 "${extra[@]}")
    p16=$(resp_rate 16590 16 "${extra[@]}")
    http=$(http_rate 18280 "${ctl[@]}")
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    echo "| $round | counterd $mode | $p1 | $p16 | $http |"
  done
  for mode in off on; do
    mkdir -p "$WORK/redis"
    if [[ $mode == on ]]; then
      listen=(--port 0 --tls-port 16591 --tls-cert-file "$WORK/node.pem" --tls-key-file
        "$WORK/node.key" --tls-ca-cert-file "$WORK/ca.pem" --tls-auth-clients no)
      extra=("${TLS_CLI[@]}")
    else
      listen=(--port 16591)
      extra=()
    fi
    redis-server "${listen[@]}" --bind 127.0.0.1 --dir "$WORK/redis" --save '' \
      --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
    PID=$!
    wait_port 16591
    p1=$(resp_rate 16591 1 "${extra[@]}")
    p16=$(resp_rate 16591 16 "${extra[@]}")
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    echo "| $round | redis-server $mode | $p1 | $p16 | – |"
  done
done
