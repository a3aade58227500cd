#!/usr/bin/env bash
# Counts what one HTTP request costs the server: system calls and context switches of counterd's
# threads per request, from the kernel's tracepoints (`perf stat -p`: counting only, so unlike
# strace it does not slow the server down or change how requests group into commits).
# Run from the repository root:
#   ./bench/http_syscalls.sh [counterctl bench arguments, default: --async -c 64 --rate 5000 -d 5]
# COUNTERD_ARGS adds counterd flags (e.g. COUNTERD_ARGS="--http-threads 2"); COUNTERD_BIN picks
# another counterd binary (to compare builds).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}/bin
WORK=$(mktemp -d /tmp/counterd-sys-XXXXXX)
PORT=18081
ARGS=("$@")
[[ ${#ARGS[@]} -eq 0 ]] && ARGS=(--async -c 64 --rate 5000 -d 5)
cleanup() {
  [[ -n "${PPID_PERF:-}" ]] && kill "$PPID_PERF" 2>/dev/null || true
  [[ -n "${CPID:-}" ]] && kill "$CPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck disable=SC2086
"${COUNTERD_BIN:-$BIN/counterd}" --data-dir "$WORK/data" --http-addr 127.0.0.1:$PORT --grpc-addr 127.0.0.1:19092 \
  ${COUNTERD_ARGS:-} >"$WORK/counterd.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do curl -sf localhost:$PORT/healthz >/dev/null && break; sleep 0.1; done
echo "counterd threads: $(ls /proc/$CPID/task | wc -l) ${COUNTERD_ARGS:-}"
SYSCALLS=(futex epoll_wait recvmsg sendmsg fdatasync pwrite64 timerfd_settime epoll_ctl write read)
EVENTS=context-switches,cpu-migrations,raw_syscalls:sys_enter
for s in "${SYSCALLS[@]}"; do EVENTS+=",syscalls:sys_enter_$s"; done
perf stat -x, -e "$EVENTS" -e syscalls:sys_exit_recvmsg --filter 'ret == -11' \
  -p "$CPID" -o "$WORK/perf.csv" &
PPID_PERF=$!
sleep 0.3
syncs() { curl -s localhost:$PORT/metrics | sed -n 's/^counterd_wal_syncs_total \([0-9]*\)/\1/p'; }
s0=$(syncs)
out=$("$BIN/counterctl" bench --addr 127.0.0.1:$PORT --no-verify "${ARGS[@]}" 2>/dev/null)
s1=$(syncs)
kill -INT "$PPID_PERF"; wait "$PPID_PERF" 2>/dev/null || true; PPID_PERF=
echo "$out"
n=$(echo "$out" | sed -n 's/^.* s: \([0-9]*\) requests.*/\1/p')
echo "per request ($n requests, $((s1 - s0)) fdatasync group commits):"
awk -F, -v n="$n" '$1 ~ /^[0-9]+$/ {
  name = $3; sub(/^syscalls:sys_enter_/, "", name); sub(/^raw_syscalls:sys_enter/, "all system calls", name)
  sub(/^syscalls:sys_exit_recvmsg/, "recvmsg EAGAIN", name)
  printf "  %-18s %6.2f\n", name, $1 / n }' "$WORK/perf.csv"
