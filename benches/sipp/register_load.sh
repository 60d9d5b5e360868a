#!/usr/bin/env bash
# REGISTER load test: SIPp registers ACCOUNTS distinct accounts with digest auth against a
# release build of ferroswitch on loopback (UDP, SQLite), then prints the sustained rate of
# full challenge+register cycles, failures, and the server's RSS.
#
#   benches/sipp/register_load.sh [RATE] [CALLS]      (defaults: 12000 cycles/s, 200000 cycles)
#   ACCOUNTS=100000 SETTLE=1 benches/sipp/register_load.sh 5000 100000   # RSS with 100k bindings
#   SIP_TRANSPORT=tcp benches/sipp/register_load.sh 2000 40000   # over one TCP connection
#
# Bounded: SIPp stops after CALLS cycles (or 300 s); the server is stopped at the end.
# SIPp gets a 4 MiB socket buffer (-buff_size): with its 64 KiB default it drops answers
# under load and its own retransmissions become the bottleneck.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-12000}
CALLS=${2:-200000}
ACCOUNTS=${ACCOUNTS:-20000}
. benches/sipp/common.sh
load_setup ferro-load

echo "==> creating $ACCOUNTS accounts"
{ echo "SEQUENTIAL"; for i in $(seq 1 "$ACCOUNTS"); do echo "load$i;pw$i"; done; } > "$WORK/inf.csv"
tail -n +2 "$WORK/inf.csv" | tr ';' ',' > "$WORK/accounts.csv"
"$BIN" -c "$WORK/ferroswitch.toml" account import "$WORK/accounts.csv" | tail -1

start_server
echo "==> server on $ADDR (pid $SERVER_PID); SIPp: $CALLS cycles at $RATE/s"

set +e
CPU0=$(server_cpu_ticks)
cg_zero
T0=$(date +%s.%N)
( cd "$WORK" && timeout 300 sipp "$ADDR" -sf "$OLDPWD/benches/sipp/register_load.xml" -inf inf.csv \
    -t "$SIPP_T" -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * 4)) -max_socket 1 \
    -timeout 290 -buff_size 4194304 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$WORK/sipp.err" )
SIPP_RC=$?
T1=$(date +%s.%N)
CPU1=$(server_cpu_ticks)
set -e
STATS="$WORK/stats.csv"
[ -s "$STATS" ] || { cat "$WORK/sipp.err"; echo "no SIPp statistics" >&2; exit 1; }
col() { head -1 "$STATS" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
last() { tail -1 "$STATS" | cut -d';' -f"$(col "$1")"; }
OK=$(last "SuccessfulCall(C)")
FAIL=$(last "FailedCall(C)")
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN {print b - a}')   # SIPp's wall time, start to last answer
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
echo "==> results"
awk -v ok="$OK" -v fail="$FAIL" -v s="$SECS" -v rate="$RATE" -v rss="$RSS" -v acc="$ACCOUNTS" 'BEGIN {
  printf "offered rate           %d cycles/s\n", rate;
  printf "successful cycles      %d in %.2f s\n", ok, s;
  printf "sustained              %.0f challenge+register cycles/s (%.0f REGISTER transactions/s)\n", ok / s, 2 * ok / s;
  printf "failed registrations   %d\n", fail;
  printf "server RSS             %.1f MiB with %d accounts registered\n", rss / 1024, acc;
}'
echo "server CPU per cycle    $(cpu_per_op "$CPU0" "$CPU1" "$((OK + FAIL))") us (user+sys, challenge + REGISTER)"
echo "server threads (CPU since start):"
thread_cpu
cg_dump "$((OK + FAIL))"
if [ -n "${SETTLE:-}" ]; then
  echo "==> idle 35 s so Timer J (32 s) releases the finished transactions"
  sleep 35
  RSS2=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
  awk -v rss="$RSS2" -v acc="$ACCOUNTS" 'BEGIN { printf "server RSS idle         %.1f MiB with %d bindings\n", rss / 1024, acc }'
fi
echo "sipp exit code        $SIPP_RC"
[ "$FAIL" = "0" ] || exit 1
