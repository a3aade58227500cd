#!/usr/bin/env bash
# Instructions per request with auth + TLS off vs on, counted by callgrind (repeatable on a
# noisy machine), with redis-server plain vs TLS counted the same way as the reference.
# Each server runs under callgrind twice, with a short and a long load over the same number of
# keep-alive connections; (Ir_long - Ir_short) / (requests_long - requests_short) is the cost of
# one request without start-up, shutdown or connection set-up (TLS handshakes included there).
# Loads: RESP INCR without pipelining (redis-benchmark -c 4 -P 1), HTTP single increments
# (counterctl bench -c 4; the token is sent in every request's header).
#   ./bench/security_callgrind.sh [short requests, default 4000] [long requests, default 12000]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
SHORT=${1:-4000}
LONG=${2:-12000}
WORK=$(mktemp -d /tmp/counterd-security-cg-XXXXXX)
PID=
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=bench/security_setup.sh
source bench/security_setup.sh

wait_port() { for _ in $(seq 1200); do (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }
ir_of() { callgrind_annotate "$1" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,; }

# run NAME REQUESTS LOAD SERVER_ARGV... : the server's instruction count for REQUESTS requests.
run() {
  local name=$1 requests=$2 load=$3
  shift 3
  local out="$WORK/$name.$requests.cg"
  rm -rf "$WORK/data" "$WORK/redis"
  mkdir -p "$WORK/redis"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  wait_port "$PORT"
  sleep 1  # the other listeners come up right after the first
  $load "$requests" >>"$WORK/$name.load.log" 2>&1
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  ir_of "$out"
}

TLS_CLI=(--tls --cacert "$WORK/ca.pem")
resp_off() { redis-benchmark -p 16690 -t incr -c 4 -P 1 -r 10000 -n "$1" -q >/dev/null; }
resp_on() { redis-benchmark -p 16690 "${TLS_CLI[@]}" -a "$TOKEN" -t incr -c 4 -P 1 -r 10000 -n "$1" -q >/dev/null; }
redis_off() { redis-benchmark -p 16691 -t incr -c 4 -P 1 -r 10000 -n "$1" -q >/dev/null; }
redis_on() { redis-benchmark -p 16691 "${TLS_CLI[@]}" -t incr -c 4 -P 1 -r 10000 -n "$1" -q >/dev/null; }
# counterctl bench runs for a time, not a count: the count it did is read from its report.
http_load() {  # requests extra-flags...
  local requests=$1
  shift
  "$BIN/counterctl" "$@" bench --addr 127.0.0.1:18380 --rate $((requests / 8)) -d 8 -c 4 \
    --keys 10000 --no-verify 2>&1 | sed -n 's/^[0-9.]* s: \([0-9]*\) requests.*/\1/p' | tail -1 \
    >"$WORK/http.count"
}
http_off() { http_load "$1"; }
http_on() { http_load "$1" --tls-ca "$WORK/ca.pem" --token "$TOKEN"; }

COUNTERD_OFF=("$BIN/counterd" --data-dir "$WORK/data" --http-addr 127.0.0.1:18380
  --resp-addr 127.0.0.1:16690)
COUNTERD_ON=("${COUNTERD_OFF[@]}" --auth-jwt-secret-file "$WORK/secret" --tls-cert-file
  "$WORK/node.pem" --tls-key-file "$WORK/node.key")
REDIS_OFF=(redis-server --port 16691 --bind 127.0.0.1 --dir "$WORK/redis" --save ''
  --appendonly no)
REDIS_ON=(redis-server --port 0 --tls-port 16691 --bind 127.0.0.1 --dir "$WORK/redis" --save ''
  --appendonly no --tls-cert-file "$WORK/node.pem" --tls-key-file "$WORK/node.key"
  --tls-ca-cert-file "$WORK/ca.pem" --tls-auth-clients no)

per_request() {  # name load server-argv-var
  local name=$1 load=$2
  local -n argv=$3
  local a b
  a=$(run "$name" "$SHORT" "$load" "${argv[@]}")
  b=$(run "$name" "$LONG" "$load" "${argv[@]}")
  echo $(((b - a) / (LONG - SHORT)))
}
per_http_request() {  # name load server-argv-var
  local name=$1 load=$2
  local -n argv=$3
  local a b na nb
  a=$(run "$name" "$SHORT" "$load" "${argv[@]}")
  na=$(cat "$WORK/http.count")
  b=$(run "$name" "$LONG" "$load" "${argv[@]}")
  nb=$(cat "$WORK/http.count")
  echo $(((b - a) / (nb - na)))
}

echo "## machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "| server | load | instructions/request off | on (auth + TLS) | on / off |"
echo "|---|---|---|---|---|"
PORT=18380
off=$(per_request counterd-resp-off resp_off COUNTERD_OFF)
on=$(per_request counterd-resp-on resp_on COUNTERD_ON)
echo "| counterd | RESP INCR -P 1 | $off | $on | $(echo "scale=2; $on / $off" | bc) |"
off=$(per_http_request counterd-http-off http_off COUNTERD_OFF)
on=$(per_http_request counterd-http-on http_on COUNTERD_ON)
echo "| counterd | HTTP single increment | $off | $on | $(echo "scale=2; $on / $off" | bc) |"
PORT=16691
off=$(per_request redis-off redis_off REDIS_OFF)
on=$(per_request redis-on redis_on REDIS_ON)
echo "| redis-server | RESP INCR -P 1 (TLS only) | $off | $on | $(echo "scale=2; $on / $off" | bc) |"
