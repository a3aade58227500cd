#!/usr/bin/env bash
# Reproduces the "Redis Cluster backend" table in docs/performance.md, in one run on one machine:
#   * starts a real 6-node Redis Cluster (redis-server 7.0, 3 masters + 3 replicas, no
#     persistence) on 127.0.0.1 and waits until every one of the 16384 slots takes a write;
#   * reference: redis-benchmark --cluster INCR straight into the cluster (-P 1 and -P 16);
#   * one counterd with --redis-cluster on a fresh data dir, loaded by counterctl bench over
#     HTTP: batches of 1000 (Zipf, uniform, one key), single increments closed loop (one key,
#     Zipf) and single Zipf increments open loop at ~80 % of the closed-loop rate.
# For every counterd run it waits until counterd_redis_backlog_records is 0 (every acknowledged
# increment is in Redis), then reports from /metrics deltas: FCALLs, round trips, INCRBYs run
# inside Redis and WAITs per acknowledged increment; counterctl's exactness check (per key,
# read through the node), and the sum of counter:<prefix>:* read straight from the masters
# (must equal the acknowledged total); and who used the two cores (from /proc).
# From the repository root after ./scripts/setup.sh, under the build lock:
#   flock /tmp/counterd-build.lock ./bench/redis_cluster_bench.sh [seconds per load, default 8]
# Six loads plus start-up, reference and read-backs: ~2-2.5 min at 8 s, ~3.5 min at 10 s (keep a
# lock hold under ~4 min). Env: BUILD_DIR, REDIS_BASE_PORT (17301; 6 ports from there, +10000 for
# the cluster bus), HTTP_PORT (18301), REF_N (redis-benchmark -P 1 requests, default 20000 x
# seconds; -P 16 runs 5 x that), COUNTERD_ARGS (extra counterd flags).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
BIN=${BUILD_DIR:-build}/bin
BASE=${REDIS_BASE_PORT:-17301}
HTTP_PORT=${HTTP_PORT:-18301}
REF_N=${REF_N:-$((SECS * 20000))}
WORK=$(mktemp -d /tmp/counterd-redis-cluster-bench-XXXXXX)
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE + i))); done
RPIDS=()
CPID=
cleanup() {
  [[ -n "$CPID" ]] && kill "$CPID" 2>/dev/null || true
  for p in "${RPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "$CPID" ]] && wait "$CPID" 2>/dev/null || true
  for p in "${RPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
die() { echo "redis_cluster_bench: $*" >&2; exit 1; }
for p in "${PORTS[@]}" $((BASE + 10000)) "$HTTP_PORT"; do
  ss -ltnH "sport = :$p" | grep -q . && die "port $p is in use (set REDIS_BASE_PORT / HTTP_PORT)"
done

echo "## machine"
echo "nproc $(nproc); $(lscpu | sed -n 's/^Model name: *//p'); $(redis-server --version | cut -d' ' -f1-3)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- the cluster
for p in "${PORTS[@]}"; do
  mkdir -p "$WORK/r$p"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$WORK/r$p" --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout 2000 --repl-diskless-sync-delay 0 \
    --save '' --appendonly no --daemonize no >"$WORK/r$p.log" 2>&1 &
  RPIDS+=($!)
done
for p in "${PORTS[@]}"; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$p" ping >/dev/null || die "redis-server on $p did not start"
done
# shellcheck disable=SC2046
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") --cluster-replicas 1 \
  --cluster-yes >"$WORK/create.log" 2>&1 || { cat "$WORK/create.log"; die "cluster create failed"; }
masters() { for p in "${PORTS[@]}"; do
  [[ "$(redis-cli -p "$p" role 2>/dev/null | head -1)" == master ]] && echo "$p"; done; }
# One key per slot (names found with CLUSTER KEYSLOT), then SET each on every master without
# redirection: the slot is served when its master answers OK. cluster_state:ok is not proof.
seq 0 250000 | sed 's/^/CLUSTER KEYSLOT probe/' | redis-cli -p "${PORTS[0]}" |
  awk '!seen[$1]++ { print "SET probe" NR - 1 " 1" }' >"$WORK/probe.txt"
[[ $(wc -l <"$WORK/probe.txt") -eq 16384 ]] || die "could not find a key for every slot"
t0=$SECONDS
while :; do
  ok=0
  for m in $(masters); do
    ok=$((ok + $(redis-cli -p "$m" <"$WORK/probe.txt" 2>/dev/null | grep -c '^OK$' || true)))
  done
  [[ $ok -eq 16384 ]] && break
  ((SECONDS - t0 < 60)) || die "only $ok of 16384 slots take a write after 60 s"
  sleep 0.2
done
# Replicas attached (WAIT 1 needs them).
for m in $(masters); do
  for _ in $(seq 100); do
    redis-cli -p "$m" info replication | grep -q '^slave0:.*state=online' && break; sleep 0.1
  done
done
echo "cluster: 6 redis-server (3 masters $(masters | tr '\n' ' ')+ 3 replicas), every slot took a write $((SECONDS - t0)) s after create"
redis_pids_cpu() { local s=0 p; for p in "${RPIDS[@]}"; do
  s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }  # all cores, jiffies

# ---------------------------------------------------------------- reference
echo
echo "## reference: redis-benchmark --cluster -t incr -c 50 straight into the cluster"
REF=()
for P in 1 16; do
  n=$REF_N; [[ $P -gt 1 ]] && n=$((REF_N * 5))
  rps=$(redis-benchmark --cluster -h 127.0.0.1 -p "${PORTS[0]}" -t incr -c 50 -P $P -n "$n" -q 2>/dev/null |
    tr '\r' '\n' | grep -E '^INCR: [0-9.]+ requests' | tail -1 | awk '{print $2}')
  echo "-P $P, -n $n: ${rps:-?} INCR/s"
  REF+=("| reference: \`redis-benchmark --cluster -t incr -c 50 -P $P -n $n\` (no counterd) | ${rps:-?} | | | | | | | | |")
done

# ---------------------------------------------------------------- counterd
SEEDS=$(printf '127.0.0.1:%s,' "${PORTS[@]}"); SEEDS=${SEEDS%,}
# shellcheck disable=SC2086
"$BIN/counterd" --data-dir "$WORK/data" --http-addr 127.0.0.1:$HTTP_PORT --redis-cluster "$SEEDS" \
  ${COUNTERD_ARGS:-} >"$WORK/counterd.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do curl -sf "localhost:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "localhost:$HTTP_PORT/healthz" >/dev/null || { cat "$WORK/counterd.log"; die "counterd did not start"; }
echo
echo "## counterd $(curl -s "localhost:$HTTP_PORT/metrics" | grep '^counterd_node_info' | sed 's/ 1$//')"
echo "flags: --redis-cluster <6 nodes> ${COUNTERD_ARGS:-} (defaults: --redis-flush-ms 5 --redis-min-replicas 1 --redis-read-cache-ms 50)"

metric() {  # file name (exact, with labels)
  awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}
scrape() { curl -sf "localhost:$HTTP_PORT/metrics" >"$1"; }
wait_drained() {
  local t=$SECONDS b
  while :; do
    b=$(curl -sf "localhost:$HTTP_PORT/metrics" | awk '$1 == "counterd_redis_backlog_records" {print $2}')
    [[ "$b" == 0 ]] && { date +%s.%N; return; }
    ((SECONDS - t < 120)) || die "backlog still $b records after 120 s"
    sleep 0.05
  done
}
# Sum of counter:<prefix>:* straight from the masters (keys in a master's slots only live there).
redis_sum() {
  local m
  for m in $(masters); do
    redis-cli -p "$m" --scan --pattern "counter:$1:*" | sed 's/^/GET /' | redis-cli -p "$m"
  done | awk '{ s += $1; n++ } END { printf "%d %d\n", s, n }'
}
ROWS=()
RUN=0
ZIPF_RPS=0
run() {  # label, counterctl bench args...
  local label=$1; shift
  RUN=$((RUN + 1))
  local prefix="rcb$$r$RUN" before="$WORK/m$RUN.before" after="$WORK/m$RUN.after" out="$WORK/out$RUN"
  local w0 w1 b0 c0 r0 g0 b1 c1 r1 g1 ctl drain m="0 0" maxb=0 maxage=0 endb endage
  echo
  echo "### $label: counterctl bench --addr 127.0.0.1:$HTTP_PORT -d $SECS --key-prefix $prefix $*"
  scrape "$before"
  "$BIN/counterctl" --json bench --addr "127.0.0.1:$HTTP_PORT" -d "$SECS" --key-prefix "$prefix" \
    "$@" >"$out" 2>"$out.err" &
  ctl=$!
  ctlcpu() { awk '{print $14 + $15}' "/proc/$ctl/stat" 2>/dev/null || echo 0; }
  sleep 0.2  # past counterctl's start-up (the Zipf table) before the CPU window opens
  w0=$(date +%s.%N); b0=$(busy); c0=$(awk '{print $14 + $15}' "/proc/$CPID/stat"); r0=$(redis_pids_cpu); g0=$(ctlcpu)
  # During the load phase: the largest backlog and oldest-pending age, 4 samples a second. The
  # window ends 0.5 s early: counterctl must still be running when its CPU time is read.
  while awk -v a="$w0" -v b="$(date +%s.%N)" -v s="$SECS" 'BEGIN { exit !(b - a < s - 0.75) }'; do
    sleep 0.25
    m=$(curl -sf "localhost:$HTTP_PORT/metrics" | awk '$1 == "counterd_redis_backlog_records" { b = $2 }
      $1 == "counterd_redis_oldest_pending_seconds" { a = $2 } END { print b + 0, a + 0 }')
    maxb=$(awk -v x="${m% *}" -v y="$maxb" 'BEGIN { print (x > y) ? x : y }')
    maxage=$(awk -v x="${m#* }" -v y="$maxage" 'BEGIN { print (x > y) ? x : y }')
  done
  w1=$(date +%s.%N); b1=$(busy); c1=$(awk '{print $14 + $15}' "/proc/$CPID/stat"); r1=$(redis_pids_cpu); g1=$(ctlcpu)
  [[ -e /proc/$ctl/stat ]] || echo "warning: counterctl ended before the CPU sample (its CPU reads as 0)"
  endb=${m% *}; endage=${m#* }
  # Backlog 0, counted from the end of counterctl's load (counterctl is reading back meanwhile).
  drain=$(awk -v a="$w0" -v b="$(wait_drained)" -v s="$SECS" 'BEGIN { d = b - a - s + 0.2; printf "%.1f", (d > 0) ? d : 0 }')
  wait "$ctl" || true
  local readback
  readback=$(awk -v a="$w0" -v b="$(date +%s.%N)" -v s="$SECS" 'BEGIN { printf "%.1f", b - a - s + 0.2 }')
  scrape "$after"
  cat "$out"
  [[ -s "$out" ]] || { cat "$out.err"; die "counterctl bench printed nothing"; }
  local acked ips rps verified mism errors
  acked=$(jq -r .acknowledged "$out"); ips=$(jq -r .increments_per_s "$out")
  rps=$(jq -r .requests_per_s "$out"); verified=$(jq -r .verified "$out")
  mism=$(jq -r .mismatched_keys "$out"); errors=$(jq -r .errors "$out")
  [[ "$(jq -r .dist "$out")" == zipf && "$(jq -r .batch "$out")" == 1 && "$(jq -r .mode "$out")" == closed ]] &&
    ZIPF_RPS=$rps
  d() { awk -v a="$(metric "$before" "$1")" -v b="$(metric "$after" "$1")" 'BEGIN { printf "%.0f", b - a }'; }
  local src fc wt ib rt ep fl
  src=$(d counterd_redis_source_ops_total); rt=$(d counterd_redis_round_trips_total)
  fc=$(d 'counterd_redis_commands_total{command="fcall"}'); wt=$(d 'counterd_redis_commands_total{command="wait"}')
  ib=$(d 'counterd_redis_commands_total{command="incrby"}'); ep=$(d counterd_redis_epochs_total)
  fl=$(d counterd_redis_epoch_failures_total)
  read -r rsum rkeys < <(redis_sum "$prefix")
  local exact
  exact="node reads: $([[ $verified == true && $mism == 0 ]] && echo "all equal" || echo "**$mism keys differ**")"
  exact+="; Redis Σ $([[ $rsum == "$acked" ]] && echo "= acked" || echo "**$rsum != acked $acked**")"
  echo "metrics delta: source_ops $src, epochs $ep (failed $fl), round_trips $rt, fcall $fc, wait $wt, incrby $ib"
  echo "exactness: $exact (Redis sum $rsum over $rkeys keys, acked $acked); errors $errors"
  # CPU time over the load phase as % of one core; the machine has $(nproc) cores.
  local cpu
  cpu=$(awk -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" -v b="$((b1 - b0))" -v c="$((c1 - c0))" \
    -v r="$((r1 - r0))" -v g="$((g1 - g0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { t = w * hz / 100; o = b - c - r - g;
      if (o < 0) o = 0; printf "%.0f / %.0f / %.0f / %.0f", c / t, r / t, g / t, o / t }')
  echo "CPU over the $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.1f", b - a }') s load phase, % of one core ($(nproc) cores = $(($(nproc) * 100)) %): counterd / 6 redis-server / counterctl / rest = $cpu"
  echo "backlog during the load: max $maxb records, oldest pending max ${maxage} s; at the end $endb records (oldest ${endage} s); all applied (backlog 0) ${drain} s after the load ended; counterctl's read-back of the keys took ~$readback s"
  ROWS+=("$(awk -v l="$label" -v ips="$ips" -v a="$acked" -v src="$src" -v fc="$fc" -v rt="$rt" -v ib="$ib" -v wt="$wt" \
    -v ep="$ep" -v x="$exact" -v cpu="$cpu" -v lag="$maxage" 'BEGIN { pa = (a > 0) ? a : 1;
      printf "| %s | %d | %.4f | %.4f | %.4f | %.5f | %d | %.2f | %s | %s |", l, ips, fc / pa, rt / pa, ib / pa, wt / pa,
        (ep > 0) ? src / ep : 0, lag, cpu, x }')")
  [[ "$src" == "$acked" ]] || echo "note: source_ops delta $src != acknowledged increments $acked"
}

run "HTTP batch 1000, Zipf(1.1), 100k keys, -c 8" -c 8 --batch 1000 --keys 100000 --dist zipf --zipf-s 1.1
run "HTTP batch 1000, uniform, 100k keys, -c 8" -c 8 --batch 1000 --keys 100000
run "HTTP batch 1000, one key, -c 8" -c 8 --batch 1000 --dist single
run "HTTP batch 1, one key, -c 32, closed loop" -c 32 --batch 1 --dist single
run "HTTP batch 1, Zipf(1.1), 100k keys, -c 32, closed loop" -c 32 --batch 1 --keys 100000 --dist zipf --zipf-s 1.1
RATE=$(awk -v r="$ZIPF_RPS" 'BEGIN { printf "%d", r * 0.8 / 100 + 0.5; }')00
run "HTTP batch 1, Zipf(1.1), 100k keys, open loop --async -c 64 --rate $RATE (~80 % of closed loop)" \
  --async -c 64 --rate "$RATE" --batch 1 --keys 100000 --dist zipf --zipf-s 1.1
echo
echo "counterd log warnings/errors: $(grep -ciE 'warn|error' "$WORK/counterd.log" || true)"
grep -iE 'warn|error' "$WORK/counterd.log" | head -5 || true

echo
echo "## table (per acknowledged increment; Redis totals checked after counterd_redis_backlog_records reached 0)"
echo
echo "| load (counterctl bench, HTTP, ${SECS} s) | increments/s | FCALL / incr | round trips / incr | INCRBY in Redis / incr | WAIT / incr | increments per epoch | max oldest pending (s) | CPU % counterd / redis×6 / generator / rest | exactness |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}" "${REF[@]}"
