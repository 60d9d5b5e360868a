#!/usr/bin/env bash
# Call load test through the B2BUA: a SIPp caller (INVITE with proxy auth, 180, 200, ACK,
# hold, BYE) calls a SIPp callee registered on this machine, through a release build of
# ferroswitch on loopback (UDP, SQLite, CDRs written). Prints the sustained call rate, failed
# calls, and the server's memory per active call.
#
#   benches/sipp/call_load.sh [RATE] [CALLS]        (defaults: 1500 calls/s, 60000 calls, 1 s hold)
#   HOLD_MS=10000 benches/sipp/call_load.sh 1000 20000   # ~10,000 calls up: memory per call
#
# Bounded: SIPp stops after CALLS calls (or 300 s); the server and the callee are stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-1500}
CALLS=${2:-60000}
HOLD_MS=${HOLD_MS:-1000}
. benches/sipp/common.sh
load_setup ferro-calls
"$BIN" -c "$WORK/ferroswitch.toml" account add caller --password cpw >/dev/null
"$BIN" -c "$WORK/ferroswitch.toml" account add callee --password epw >/dev/null

start_server

# the callee registers from the port its SIPp then answers on
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'SEQUENTIAL\ncallee;epw\n' > "$WORK/reg.csv"
( cd "$WORK" && sipp "$ADDR" -sf "$OLDPWD/tests/sipp/register.xml" -inf reg.csv -t u1 -i 127.0.0.1 -p "$PORT" \
    -m 1 -timeout 10 -timeout_error -nostdin >/dev/null 2>&1 ) || { echo "callee registration failed" >&2; exit 1; }
( cd "$WORK" && timeout 320 sipp -sf "$OLDPWD/benches/sipp/call_load_uas.xml" -t u1 -i 127.0.0.1 -p "$PORT" \
    -m "$CALLS" -timeout 310 -buff_size 4194304 -nostdin >/dev/null 2>"$WORK/uas.err" ) &
PIDS+=($!)
sleep 0.5
BASE_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
echo "==> server on $ADDR (pid $SERVER_PID), callee on 127.0.0.1:$PORT; $CALLS calls at $RATE/s, hold ${HOLD_MS} ms"

printf 'SEQUENTIAL\ncaller;cpw;callee\n' > "$WORK/uac.csv"
set +e
CPU0=$(server_cpu_ticks)
cg_zero
T0=$(date +%s.%N)
( cd "$WORK" && timeout 300 sipp "$ADDR" -sf "$OLDPWD/benches/sipp/call_load_uac.xml" -inf uac.csv \
    -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * (HOLD_MS / 1000 + 4))) -d "$HOLD_MS" \
    -timeout 290 -buff_size 4194304 -max_socket 1 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$WORK/uac.err" ) &
UAC_PID=$!
# memory with calls up: sample once the number of calls up has plateaued (hold + 3 s)
sleep $(( HOLD_MS / 1000 + 3 ))
PEAK_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
STATS="$WORK/stats.csv"
col() { head -1 "$STATS" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
UP=$(tail -1 "$STATS" | cut -d';' -f"$(col "CurrentCall")")
wait $UAC_PID
SIPP_RC=$?
T1=$(date +%s.%N)
CPU1=$(server_cpu_ticks)
set -e
[ -s "$STATS" ] || { cat "$WORK/uac.err"; echo "no SIPp statistics" >&2; exit 1; }
last() { tail -1 "$STATS" | cut -d';' -f"$(col "$1")"; }
OK=$(last "SuccessfulCall(C)")
FAIL=$(last "FailedCall(C)")
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN {print b - a}')
echo "==> results"
awk -v ok="$OK" -v fail="$FAIL" -v s="$SECS" -v rate="$RATE" -v hold="$HOLD_MS" -v base="$BASE_RSS" -v peak="$PEAK_RSS" -v up="$UP" 'BEGIN {
  printf "offered rate           %d calls/s (hold %d ms)\n", rate, hold;
  printf "successful calls       %d in %.2f s\n", ok, s;
  printf "sustained              %.0f calls/s (wall time includes the last call hold)\n", ok / s;
  printf "sustained (setup only) %.0f calls/s\n", ok / (s - hold / 1000);
  printf "failed calls           %d\n", fail;
  printf "calls up at sample     %d\n", up;
  printf "server RSS             %.1f MiB idle, %.1f MiB with %d calls up\n", base / 1024, peak / 1024, up;
  if (up > 0) printf "memory per active call %.1f KiB (RSS delta / calls up; includes transaction state)\n", (peak - base) / up;
}'
echo "server CPU per call     $(cpu_per_op "$CPU0" "$CPU1" "$((OK + FAIL))") us (user+sys)"
cg_dump "$((OK + FAIL))"
echo "sipp exit code         $SIPP_RC"
[ "$FAIL" = "0" ] || { tail -5 "$WORK/uac.err"; exit 1; }
