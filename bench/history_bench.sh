#!/usr/bin/env bash
# Reproduces the "History export (ClickHouse)" table in docs/performance.md, in one run:
#   * starts a real clickhouse-server 18.16 on free 127.0.0.1 ports in a temp dir (the config
#     the test harness writes, tests/support/clickhouse_server.cc);
#   * starts one counterd (embedded store, durable ack) with --clickhouse-url pointing at it;
#   * (a) export throughput: counterctl bench, HTTP batches of 1000 over many uniform keys, closed
#     loop at full speed; rows/s into ClickHouse from counterd_history_rows_exported_total deltas
#     (one row = one (key, minute) per INSERT), INSERTs/s, increments/s; then the same while the
#     exporter drains its backlog with no load (export alone);
#   * (b) lag under a steady 100k increments/s: open loop, --rate 100 requests/s x --batch 1000
#     (= 100,000 increments/s), Zipf(1.1) over 100k keys; counterd_history_lag_records and
#     counterd_history_lag_seconds sampled once a second, max and p50;
#   * exactness: after the lag is 0, SELECT sum(value) FROM <db>.counter_minutes WHERE key != ''
#     (ClickHouse HTTP interface, curl) must equal the increments counterctl saw acknowledged,
#     per phase (keys carry a per-phase prefix) and in total; plus the marker audit
#     (covered == exported: no batch twice) and counterctl's own per-key read-back.
# From the repository root after ./scripts/setup.sh, under the build lock:
#   flock /tmp/counterd-build.lock ./bench/history_bench.sh
# ~2 min (more when the exporter falls far behind in (a) and has to drain). Env: BUILD_DIR,
# THROUGHPUT_SECS (8), THROUGHPUT_KEYS (1000000), LAG_SECS (20), LAG_RATE (100 requests/s),
# LAG_BATCH (1000), LAG_KEYS (100000), LAG_DIST (zipf, s = 1.1; or uniform), COUNTERD_ARGS
# (extra counterd flags, e.g. "--history-batch-rows 100000"), DRAIN_TIMEOUT (180 s).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}/bin
TP_SECS=${THROUGHPUT_SECS:-8}
TP_KEYS=${THROUGHPUT_KEYS:-1000000}
LAG_SECS=${LAG_SECS:-20}
LAG_RATE=${LAG_RATE:-100}
LAG_BATCH=${LAG_BATCH:-1000}
LAG_KEYS=${LAG_KEYS:-100000}
LAG_DIST=${LAG_DIST:-zipf}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-180}
DB=counterd_bench
WORK=$(mktemp -d /tmp/counterd-history-bench-XXXXXX)
CHPID=
CPID=
LPID=
cleanup() {
  local p
  for p in "$LPID" "$CPID" "$CHPID"; do if [[ -n "$p" ]]; then kill "$p" 2>/dev/null || true; fi; done
  for p in "$LPID" "$CPID" "$CHPID"; do if [[ -n "$p" ]]; then wait "$p" 2>/dev/null || true; fi; done
  rm -rf "$WORK"
}
trap cleanup EXIT
die() {
  echo "history_bench: $*" >&2
  for f in "$WORK/counterd.log" "$WORK/clickhouse.log"; do
    [[ -f "$f" ]] && { echo "--- tail of $f" >&2; tail -20 "$f" >&2; }
  done
  exit 1
}

# A free port below the kernel's ephemeral range (so no client connection can hold it), not in
# use and not handed out before in this run.
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
CH_HTTP=$(free_port); CH_TCP=$(free_port); HTTP_PORT=$(free_port)

echo "## machine"
echo "nproc $(nproc); $(lscpu | sed -n 's/^Model name: *//p'); $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "clickhouse-server $(dpkg-query -W -f '${Version}' clickhouse-server 2>/dev/null || echo '?')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- clickhouse-server
mkdir -p "$WORK/ch/data" "$WORK/ch/tmp" "$WORK/ch/user_files"
cat >"$WORK/ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <console>1</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CH_HTTP</http_port>
  <tcp_port>$CH_TCP</tcp_port>
  <path>$WORK/ch/data/</path>
  <tmp_path>$WORK/ch/tmp/</tmp_path>
  <user_files_path>$WORK/ch/user_files/</user_files_path>
  <users_config>$WORK/ch/users.xml</users_config>
  <mark_cache_size>5368709120</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>3</keep_alive_timeout>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>
EOF
cat >"$WORK/ch/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
EOF
clickhouse-server --config-file="$WORK/ch/config.xml" >"$WORK/clickhouse.log" 2>&1 &
CHPID=$!
for _ in $(seq 600); do
  [[ "$(curl -s "http://127.0.0.1:$CH_HTTP/ping" 2>/dev/null)" == Ok.* ]] && break
  kill -0 "$CHPID" 2>/dev/null || die "clickhouse-server exited at start"
  sleep 0.1
done
[[ "$(curl -s "http://127.0.0.1:$CH_HTTP/ping")" == Ok.* ]] || die "clickhouse-server did not answer /ping"
chq() { curl -sf "http://127.0.0.1:$CH_HTTP/" --data-binary "$1" || die "ClickHouse query failed: $1"; }
echo "clickhouse-server $(chq 'SELECT version()') pid $CHPID on 127.0.0.1:$CH_HTTP (http) / $CH_TCP (tcp)"

# ---------------------------------------------------------------- counterd
# shellcheck disable=SC2086
"$BIN/counterd" --data-dir "$WORK/data" --http-addr "127.0.0.1:$HTTP_PORT" \
  --clickhouse-url "http://127.0.0.1:$CH_HTTP" --clickhouse-database "$DB" \
  ${COUNTERD_ARGS:-} >"$WORK/counterd.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "127.0.0.1:$HTTP_PORT/healthz" >/dev/null || die "counterd did not start"
echo "counterd pid $CPID on 127.0.0.1:$HTTP_PORT: --clickhouse-url http://127.0.0.1:$CH_HTTP --clickhouse-database $DB ${COUNTERD_ARGS:-}(defaults: --history-batch-rows 10000 --history-batch-ms 1000, durable ack)"
# The exporter creates the schema in Start(); wait for the table.
for _ in $(seq 100); do
  [[ "$(chq "EXISTS TABLE $DB.counter_minutes")" == 1 ]] && break; sleep 0.1
done
[[ "$(chq "EXISTS TABLE $DB.counter_minutes")" == 1 ]] || die "counterd did not create $DB.counter_minutes"

METRICS="counterd_history_rows_exported_total counterd_history_inserts_total counterd_history_failures_total counterd_history_lag_records counterd_history_lag_seconds counterd_history_exported_lsn counterd_wal_durable_lsn counterd_wal_bytes_on_disk"
# One line: unix time, then the metrics above in that order.
sample() {
  local now m
  now=$(date +%s.%N)
  m=$(curl -sf "127.0.0.1:$HTTP_PORT/metrics") || die "GET /metrics failed"
  awk -v t="$now" -v names="$METRICS" 'BEGIN { n = split(names, want, " ") }
    { v[$1] = $2 } END { printf "%s", t; for (i = 1; i <= n; i++) printf " %s", (want[i] in v) ? v[want[i]] : 0; printf "\n" }' <<<"$m"
}
col() { awk -v c="$2" '{ print $c }' <<<"$1"; }  # sample line, column (1 = time)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
pct() { awk -v a="$1" -v b="$2" -v w="$3" -v hz="$HZ" 'BEGIN { printf "%.0f", (b - a) / hz / w * 100 }'; }
# Waits until counterd_history_lag_records is 0; prints the sample taken then.
wait_exported() {
  local t=$SECONDS s
  while :; do
    s=$(sample)
    [[ "$(col "$s" 5)" == 0 ]] && { echo "$s"; return; }
    ((SECONDS - t < DRAIN_TIMEOUT)) || die "history lag still $(col "$s" 5) records after $DRAIN_TIMEOUT s"
    sleep 0.2
  done
}

# Runs counterctl bench in the background, sampling the metrics once a second into $WORK/$1.tsv
# while it runs. Args: phase name, seconds, counterctl bench args...
load() {
  local name=$1 secs=$2; shift 2
  local out="$WORK/$name.json"
  echo
  echo "### $name: counterctl --json bench --addr 127.0.0.1:$HTTP_PORT -d $secs --key-prefix $name $*"
  "$BIN/counterctl" --json bench --addr "127.0.0.1:$HTTP_PORT" -d "$secs" --key-prefix "$name" "$@" \
    >"$out" 2>"$WORK/$name.err" &
  LPID=$!
  sleep 0.3  # past counterctl's start-up (key table) before the first sample
  local t0 c0 h0 g0 s
  t0=$(date +%s.%N); c0=$(cpu "$CPID"); h0=$(cpu "$CHPID"); g0=$(cpu "$LPID")
  : >"$WORK/$name.tsv"
  # Samples during the load phase only (it ends ~0.3 s after counterctl's own end; counterctl
  # then reads its keys back).
  while awk -v a="$t0" -v b="$(date +%s.%N)" -v s="$secs" 'BEGIN { exit !(b - a < s - 1.05) }'; do
    sleep 1
    sample >>"$WORK/$name.tsv"
  done
  local t1 c1 h1 g1 w
  t1=$(date +%s.%N); c1=$(cpu "$CPID"); h1=$(cpu "$CHPID"); g1=$(cpu "$LPID")
  END_SAMPLE=$(sample); END_CPU="$c1 $h1"
  w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  CPU_LINE="$(pct "$c0" "$c1" "$w") / $(pct "$h0" "$h1" "$w") / $(pct "$g0" "$g1" "$w")"
  echo "CPU over the ${w%.*} s load window, % of one core (2 cores = 200 %): counterd / clickhouse-server / counterctl = $CPU_LINE"
  wait "$LPID" || echo "warning: counterctl bench exited non-zero (see below)"
  LPID=
  cat "$out"
  [[ -s "$out" ]] || { cat "$WORK/$name.err"; die "counterctl bench printed nothing"; }
}
# a / b with printf format $3 (default %.0f); 0 when b is 0.
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.0f}" 'BEGIN { printf f, (b > 0) ? a / b : 0 }'; }
# Prints "p50 max" of column $2 over the sample file $1 (printf format $3; p50 = the lower
# median).
p50max() {
  awk -v c="$2" '{ print $c }' "$1" | sort -g | awk -v f="${3:-%.0f}" '{ v[NR] = $1 } END {
    if (NR == 0) { print "0 0"; exit } printf f " " f "\n", v[int((NR + 1) / 2)], v[NR] }'
}
# Rate of column $2 between the first and last line of sample file $1 (printf format $3).
rate() {
  awk -v c="$2" -v f="${3:-%.0f}" 'NR == 1 { t0 = $1; v0 = $c } { t1 = $1; v1 = $c }
    END { printf f, (t1 > t0) ? (v1 - v0) / (t1 - t0) : 0 }' "$1"
}
ch_sum() { chq "SELECT sum(value) FROM $DB.counter_minutes WHERE key LIKE '$1%'"; }

# ---------------------------------------------------------------- (a) export throughput
TP_ARGS=(-c 8 --batch 1000 --keys "$TP_KEYS" --dist uniform)
load tput "$TP_SECS" "${TP_ARGS[@]}"
TP_CPU=$CPU_LINE
TP_ACK=$(jq -r .acknowledged "$WORK/tput.json"); TP_IPS=$(jq -r .increments_per_s "$WORK/tput.json")
TP_VER="$(jq -r '"\(.verified) \(.mismatched_keys)"' "$WORK/tput.json")"
TP_ROWS=$(rate "$WORK/tput.tsv" 2); TP_INS=$(rate "$WORK/tput.tsv" 3 %.1f)
read -r TP_LAGR_P50 TP_LAGR_MAX < <(p50max "$WORK/tput.tsv" 5)
read -r TP_LAGS_P50 TP_LAGS_MAX < <(p50max "$WORK/tput.tsv" 6 %.2f)
echo "during the load: $TP_ROWS rows/s, $TP_INS INSERTs/s into ClickHouse ($(div "$TP_ROWS" "$TP_INS" %.0f) rows/INSERT); lag records p50 $TP_LAGR_P50 max $TP_LAGR_MAX, lag seconds p50 $TP_LAGS_P50 max $TP_LAGS_MAX"
# Drain: from the end of the load until the lag is 0, export without increments coming in
# (counterctl's read-back of its keys overlaps the first seconds).
D0=$END_SAMPLE; read -r dc0 dh0 <<<"$END_CPU"
D1=$(wait_exported); dc1=$(cpu "$CPID"); dh1=$(cpu "$CHPID")
DW=$(awk -v a="$(col "$D0" 1)" -v b="$(col "$D1" 1)" 'BEGIN { printf "%.1f", b - a }')
DROWS=$(awk -v a="$(col "$D0" 2)" -v b="$(col "$D1" 2)" 'BEGIN { printf "%.0f", b - a }')
DINS=$(awk -v a="$(col "$D0" 3)" -v b="$(col "$D1" 3)" 'BEGIN { printf "%.0f", b - a }')
DR_RATE=$(div "$DROWS" "$DW" %.0f)
DI_RATE=$(div "$DINS" "$DW" %.1f)
DR_CPU="n/a"
awk -v w="$DW" 'BEGIN { exit !(w >= 1) }' && DR_CPU="$(pct "$dc0" "$dc1" "$DW") / $(pct "$dh0" "$dh1" "$DW") / 0"
echo "drain after the load: $DROWS rows in $DINS INSERTs over $DW s = $DR_RATE rows/s, $DI_RATE INSERTs/s (CPU counterd / clickhouse-server: $DR_CPU); lag was $(col "$D0" 5) records / $(col "$D0" 6) s when the load ended"
TP_CH=$(ch_sum "tput:")
echo "exactness (a): ClickHouse sum(value) over tput:* = $TP_CH, acknowledged = $TP_ACK; counterctl read-back verified/mismatched = $TP_VER"

# ---------------------------------------------------------------- (b) lag at 100k/s
LAG_ARGS=(--async -c 16 --rate "$LAG_RATE" --batch "$LAG_BATCH" --keys "$LAG_KEYS" --dist "$LAG_DIST")
[[ "$LAG_DIST" == zipf ]] && LAG_ARGS+=(--zipf-s 1.1)
load lag "$LAG_SECS" "${LAG_ARGS[@]}"
LAG_CPU=$CPU_LINE
LAG_ACK=$(jq -r .acknowledged "$WORK/lag.json"); LAG_IPS=$(jq -r .increments_per_s "$WORK/lag.json")
LAG_P99=$(jq -r .latency_us.p99 "$WORK/lag.json")
LAG_VER="$(jq -r '"\(.verified) \(.mismatched_keys)"' "$WORK/lag.json")"
LAG_ROWS=$(rate "$WORK/lag.tsv" 2); LAG_INS=$(rate "$WORK/lag.tsv" 3 %.1f)
read -r LR_P50 LR_MAX < <(p50max "$WORK/lag.tsv" 5)
read -r LS_P50 LS_MAX < <(p50max "$WORK/lag.tsv" 6 %.2f)
echo "per-second samples (time, rows_exported, inserts, failures, lag_records, lag_seconds, exported_lsn, durable_lsn, wal_bytes):"
cat "$WORK/lag.tsv"
echo "lag records p50 $LR_P50 max $LR_MAX; lag seconds p50 $LS_P50 max $LS_MAX ($(wc -l <"$WORK/lag.tsv") samples); $LAG_ROWS rows/s, $LAG_INS INSERTs/s"
E1=$(wait_exported)
LAG_CH=$(ch_sum "lag:")
echo "exactness (b): ClickHouse sum(value) over lag:* = $LAG_CH, acknowledged = $LAG_ACK; counterctl read-back verified/mismatched = $LAG_VER"

# ---------------------------------------------------------------- exactness, audit
ALL_CH=$(chq "SELECT sum(value) FROM $DB.counter_minutes WHERE key != ''")
ALL_ACK=$((TP_ACK + LAG_ACK))
AUDIT=$(chq "SELECT sum(value), max(lsn), count() FROM $DB.counter_minutes WHERE key = ''")
read -r COVERED EXPORTED MARKERS <<<"$AUDIT"
FAILS=$(col "$E1" 4)
echo
echo "## exactness"
echo "SELECT sum(value) FROM $DB.counter_minutes WHERE key != ''  ->  $ALL_CH; acknowledged (a) + (b) = $ALL_ACK: $([[ "$ALL_CH" == "$ALL_ACK" ]] && echo EQUAL || echo '**DIFFERENT**')"
echo "marker audit: covered $COVERED, max(lsn) $EXPORTED, $MARKERS INSERTs: $([[ "$COVERED" == "$EXPORTED" ]] && echo 'covered == exported (no batch twice)' || echo '**covered != exported**'); counterd_history_failures_total $FAILS"
echo "counterd log warnings/errors: $(grep -ciE 'warn|error' "$WORK/counterd.log" || true)"
grep -iE 'warn|error' "$WORK/counterd.log" | head -5 || true
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

ok() { [[ "$1" == "$2" ]] && echo "= acked" || echo "**$1 != acked $2**"; }
echo
echo "## table"
echo
echo "| phase (counterctl bench, HTTP) | increments/s acked | rows/s into ClickHouse | INSERTs/s | rows / INSERT | history lag records p50 / max | lag seconds p50 / max | CPU % counterd / clickhouse / counterctl | ClickHouse Σ vs acked |"
echo "|---|---|---|---|---|---|---|---|---|"
echo "| (a) \`${TP_ARGS[*]}\`, closed loop, ${TP_SECS} s | $TP_IPS | $TP_ROWS | $TP_INS | $(div "$TP_ROWS" "$TP_INS" %.0f) | $TP_LAGR_P50 / $TP_LAGR_MAX | $TP_LAGS_P50 / $TP_LAGS_MAX | $TP_CPU | $(ok "$TP_CH" "$TP_ACK") |"
echo "| (a') drain after (a), no load, ${DW} s | 0 | $DR_RATE | $DI_RATE | $(div "$DROWS" "$DINS" %.0f) | $(col "$D0" 5) → 0 | $(div "$(col "$D0" 6)" 1 %.2f) → 0 | $DR_CPU | |"
echo "| (b) \`${LAG_ARGS[*]}\` (= $((LAG_RATE * LAG_BATCH)) incr/s), ${LAG_SECS} s | $LAG_IPS (p99 ${LAG_P99} µs) | $LAG_ROWS | $LAG_INS | $(div "$LAG_ROWS" "$LAG_INS" %.0f) | $LR_P50 / $LR_MAX | $LS_P50 / $LS_MAX | $LAG_CPU | $(ok "$LAG_CH" "$LAG_ACK") |"
echo
echo "total: ClickHouse Σ $ALL_CH, acked $ALL_ACK; markers covered $COVERED == exported $EXPORTED; failures $FAILS"
[[ "$ALL_CH" == "$ALL_ACK" && "$COVERED" == "$EXPORTED" ]] || exit 1
