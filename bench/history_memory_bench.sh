#!/usr/bin/env bash
# Reproduces "History memory (local tiered store)" in docs/performance.md, in one run:
#   * a real redis-server (persistence off) gets KEYS distinct counters through
#     `redis-cli --pipe` (INCRBY mem:<i> 1); its INFO used_memory is the reference;
#   * counterd twice, each on a fresh data dir: (A) --history-local off, (B) the default local
#     tiered store. Each gets the same KEYS counters through `redis-cli --pipe` to its RESP port,
#     then ZIPF_SECS of `counterctl bench` (HTTP batches of 1000, Zipf(1.1)) over the same keys;
#     VmRSS is sampled every 5 s (max and last reported) and VmHWM read at the end;
#   * (B) exactness: once counterd_history_lag_records is 0, GET /v1/history:top with
#     prefix=mem: gives the total of every key's history in the range, which must equal
#     KEYS + the increments counterctl saw acknowledged (no request errors allowed).
# From the repository root after ./scripts/setup.sh and a build of counterd and counterctl:
#   ./bench/history_memory_bench.sh
# The issue's figure is KEYS=10000000 ZIPF_SECS=600 (~30 min); smaller values check the script.
# Env: BUILD_DIR (build), KEYS (10000000), ZIPF_SECS (600), CONNECTIONS (4), RATE (0 = closed
# loop; else requests/s of 1000 increments), COUNTERD_ARGS (extra flags for both runs),
# DRAIN_TIMEOUT (3600 s: how long (B) may take to catch up before the exactness check).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}/bin
KEYS=${KEYS:-10000000}
ZIPF_SECS=${ZIPF_SECS:-600}
CONNECTIONS=${CONNECTIONS:-4}
RATE=${RATE:-0}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-3600}
WORK=$(mktemp -d /tmp/counterd-memory-bench-XXXXXX)
RPID=
CPID=
cleanup() {
  local p
  for p in "$CPID" "$RPID"; do if [[ -n "$p" ]]; then kill "$p" 2>/dev/null || true; fi; done
  for p in "$CPID" "$RPID"; do if [[ -n "$p" ]]; then wait "$p" 2>/dev/null || true; fi; done
  rm -rf "$WORK"
}
trap cleanup EXIT
die() {
  echo "history_memory_bench: $*" >&2
  [[ -f "$WORK/counterd.log" ]] && { echo "--- tail of counterd.log" >&2; tail -20 "$WORK/counterd.log" >&2; }
  exit 1
}

USED=" "
free_port() {
  local lo hi p
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
  hi=$((lo - 1)); lo=$((lo > 20000 ? lo - 12000 : 10000))
  for _ in $(seq 200); do
    p=$((lo + RANDOM % (hi - lo)))
    [[ "$USED" == *" $p "* ]] && continue
    ss -ltnH "sport = :$p" | grep -q . && continue
    USED+="$p "; echo "$p"; return
  done
  die "no free port"
}

# KEYS INCRBY commands in the Redis protocol, for redis-cli --pipe.
commands() {
  awk -v n="$KEYS" 'BEGIN { for (i = 0; i < n; i++) { k = "mem:" i;
    printf "*3\r\n$6\r\nINCRBY\r\n$%d\r\n%s\r\n$1\r\n1\r\n", length(k), k } }'
}

pipe_into() {  # port
  local out
  out=$(commands | redis-cli -h 127.0.0.1 -p "$1" --pipe 2>&1) || die "redis-cli --pipe: $out"
  grep -q "errors: 0, replies: $KEYS" <<<"$out" || die "redis-cli --pipe: $out"
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }

echo "## machine"
echo "nproc $(nproc); $(lscpu | sed -n 's/^Model name: *//p'); $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'); KEYS=$KEYS ZIPF_SECS=$ZIPF_SECS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- Redis reference
RPORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" \
  >"$WORK/redis.log" 2>&1 &
RPID=$!
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
pipe_into "$RPORT"
REDIS_USED=$(redis-cli -p "$RPORT" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
REDIS_RSS=$(rss_kb "$RPID")
echo "## redis: $KEYS keys, used_memory $(mib $((REDIS_USED / 1024))) MiB, RSS $(mib "$REDIS_RSS") MiB"
kill "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=

# ---------------------------------------------------------------- counterd runs
run() {  # name, extra flags...
  local name=$1; shift
  local http resp data t0 max=0 last=0 rss bench errors acked
  http=$(free_port); resp=$(free_port); data="$WORK/data-$name"
  # shellcheck disable=SC2086
  "$BIN/counterd" --data-dir "$data" --http-addr "127.0.0.1:$http" --resp-addr "127.0.0.1:$resp" \
    "$@" ${COUNTERD_ARGS:-} >"$WORK/counterd.log" 2>&1 &
  CPID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done
  t0=$(date +%s)
  pipe_into "$resp"
  local loaded_rss; loaded_rss=$(rss_kb "$CPID")
  local rate_flag=(); [[ "$RATE" != 0 ]] && rate_flag=(--rate "$RATE")
  "$BIN/counterctl" bench --addr "127.0.0.1:$http" --protocol http -c "$CONNECTIONS" --batch 1000 \
    --keys "$KEYS" --dist zipf --zipf-s 1.1 --key-prefix mem -d "$ZIPF_SECS" --no-verify --json \
    "${rate_flag[@]}" >"$WORK/bench-$name.json" &
  local bpid=$!
  while kill -0 "$bpid" 2>/dev/null; do
    rss=$(rss_kb "$CPID"); last=$rss; ((rss > max)) && max=$rss
    sleep 5
  done
  wait "$bpid" || die "counterctl bench failed"
  bench=$(cat "$WORK/bench-$name.json")
  errors=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$bench")
  acked=$(sed -n 's/.*"acknowledged":\([0-9]*\).*/\1/p' <<<"$bench")
  [[ "$errors" == 0 ]] || die "$name: $errors request errors"
  rss=$(rss_kb "$CPID"); ((rss > max)) && max=$rss
  echo "## $name: after the load $(mib "$loaded_rss") MiB; during ${ZIPF_SECS} s of Zipf: max $(mib "$max") MiB, last $(mib "$rss") MiB, VmHWM $(mib "$(hwm_kb "$CPID")") MiB"
  echo "   bench: $bench"
  if [[ "$name" == tiered ]]; then
    local drain_start; drain_start=$(date +%s)
    echo "   history lag at the end of the load: $(metric "$http" counterd_history_lag_records) records"
    for _ in $(seq "$DRAIN_TIMEOUT"); do [[ "$(metric "$http" counterd_history_lag_records)" == 0 ]] && break; sleep 1; done
    [[ "$(metric "$http" counterd_history_lag_records)" == 0 ]] ||
      die "history did not catch up within $DRAIN_TIMEOUT s (lag $(metric "$http" counterd_history_lag_records) records)"
    echo "   caught up $(($(date +%s) - drain_start)) s after the load stopped"
    local top total
    top=$(curl -sf --max-time 600 "http://127.0.0.1:$http/v1/history:top?from=$((t0 - 3600))&to=$(($(date +%s) + 3600))&prefix=mem:&limit=1")
    total=$(sed -n 's/.*"total":\([0-9-]*\).*/\1/p' <<<"$top")
    echo "   history total $total, ledger $((KEYS + acked)) ($KEYS loaded + $acked acknowledged): $([[ "$total" == $((KEYS + acked)) ]] && echo EQUAL || echo DIFFER)"
    echo "   store on disk: $(du -sm "$data/history" | cut -f1) MiB; $(curl -sf "http://127.0.0.1:$http/metrics" | grep -E '^counterd_history_(rows_exported_total|lag_seconds) ' | tr '\n' ' ')"
    SUMMARY_TIERED=$max
  else
    SUMMARY_OFF=$max
  fi
  kill "$CPID"; wait "$CPID" 2>/dev/null || true; CPID=
}
run off --history-local off
run tiered
echo "## ratio (max RSS tiered / history off): $(awk -v a="$SUMMARY_TIERED" -v b="$SUMMARY_OFF" 'BEGIN { printf "%.3f", a / b }')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
