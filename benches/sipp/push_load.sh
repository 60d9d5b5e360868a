#!/usr/bin/env bash
# Push wake-up load: a SIPp caller calls sleeping logins (a push token each, no binding)
# through a release build of ferroswitch on loopback. Every call is parked and posted to the
# push hook; benches/sipp/push_wakeup.py plays the operator's push API and the woken phones:
# DELAY_MS after each incoming_call it sends the INVITE with Replaces from the payload
# (authenticated as the callee), which picks the call up; the caller holds, then BYE crosses.
# Prints the call rate, failed calls, pick-ups, the parked calls left afterwards, the server's
# CPU per call and its memory before, during and after.
#
#   benches/sipp/push_load.sh [RATE] [CALLS]      (defaults: 500 calls/s, 15000 calls, 1 s hold)
#   LOGINS=100 DELAY_MS=200 HOLD_MS=1000
#   ROUNDS=2: the same load again on the same server, to tell memory kept for reuse (the
#   second round's "after" is no higher) from a leak (it would grow with every round)
#
# Bounded: SIPp stops after CALLS calls (or 300 s); the phones after 330 s; all are stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-500}
CALLS=${2:-15000}
HOLD_MS=${HOLD_MS:-1000}
DELAY_MS=${DELAY_MS:-200}
LOGINS=${LOGINS:-100}
ROUNDS=${ROUNDS:-1}
. benches/sipp/common.sh
load_setup ferro-push
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HOOK_PORT=$(free_port)
cat >> "$WORK/ferroswitch.toml" <<CFG
[admin]
listen = "127.0.0.1:0"
[push_service]
ipaddr = "127.0.0.1"
port = $HOOK_PORT
service = "emc.ashx"
max_in_flight = 256
CFG
"$BIN" -c "$WORK/ferroswitch.toml" account add caller --password cpw >/dev/null
printf 'SEQUENTIAL\n' > "$WORK/uac.csv"
echo "==> $LOGINS sleeping logins with push tokens"
for i in $(seq 0 $((LOGINS - 1))); do
  "$BIN" -c "$WORK/ferroswitch.toml" account add "sleeper$i" --password spw >/dev/null
  "$BIN" -c "$WORK/ferroswitch.toml" push add "sleeper$i" "<urn:uuid:00000000-0000-1000-8000-$(printf '%012d' "$i")>" "token-$i" --platform apns-voip >/dev/null
  echo "caller;cpw;sleeper$i" >> "$WORK/uac.csv"
done

start_server
HTTP=$(grep -o "listening on http [0-9.:]*" "$WORK/server.log" | awk '{print $4}')
python3 benches/sipp/push_wakeup.py "$ADDR" "$HOOK_PORT" spw load.test "$DELAY_MS" 330 "$WORK/phones.json" &
PHONES_PID=$!
PIDS+=("$PHONES_PID")
sleep 0.5
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
BASE_RSS=$(rss)
CPU0=$(server_cpu_ticks)
echo "==> server on $ADDR (pid $SERVER_PID); $CALLS calls at $RATE/s, wake-up after ${DELAY_MS} ms, hold ${HOLD_MS} ms"

set +e
T0=$(date +%s.%N)
( cd "$WORK" && timeout 300 sipp "$ADDR" -sf "$OLDPWD/benches/sipp/call_load_uac.xml" -inf uac.csv \
    -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * (HOLD_MS / 1000 + 5))) -d "$HOLD_MS" \
    -timeout 290 -buff_size 4194304 -max_socket 1 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$WORK/uac.err" ) &
UAC_PID=$!
sleep $(( HOLD_MS / 1000 + 3 ))
PEAK_RSS=$(rss)
wait $UAC_PID
SIPP_RC=$?
T1=$(date +%s.%N)
CPU1=$(server_cpu_ticks)
set -e
STATS="$WORK/stats.csv"
[ -s "$STATS" ] || { cat "$WORK/uac.err"; echo "no SIPp statistics" >&2; exit 1; }
col() { head -1 "$STATS" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
last() { tail -1 "$STATS" | cut -d';' -f"$(col "$1")"; }
OK=$(last "SuccessfulCall(C)")
FAIL=$(last "FailedCall(C)")
# every call record lingers 64*T1 (32 s) after it ended; then the table must be empty
echo "==> waiting 35 s for the ended calls to leave the table"
sleep 35
PARKED=$(curl -s "http://$HTTP/metrics" | awk '/^ferroswitch_parked_calls / {print $2}')
LEFT=$(curl -s "http://$HTTP/metrics" | awk '/^ferroswitch_calls / {print $2}')
PUSHED=$(curl -s "http://$HTTP/metrics" | awk -F' ' '/^ferroswitch_push_total\{event="incoming_call",result="ok"\}/ {print $2}')
WAKE=$(curl -s "http://$HTTP/metrics" | awk '/^ferroswitch_push_wakeup_seconds_(sum|count) / {print $2}' | paste -sd' ')
AFTER_RSS=$(rss)
MORE=""
for r in $(seq 2 "$ROUNDS"); do
  echo "==> round $r: the same load again"
  ( cd "$WORK" && timeout 300 sipp "$ADDR" -sf "$OLDPWD/benches/sipp/call_load_uac.xml" -inf uac.csv \
      -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * (HOLD_MS / 1000 + 5))) -d "$HOLD_MS" \
      -timeout 290 -buff_size 4194304 -max_socket 1 -nostdin -trace_stat -stf "stats$r.csv" -fd 1 >/dev/null 2>>"$WORK/uac.err" ) || true
  FAIL=$((FAIL + $(tail -1 "$WORK/stats$r.csv" | cut -d';' -f"$(col "FailedCall(C)")")))
  sleep 35
  MORE="$MORE, $(awk -v r="$(rss)" 'BEGIN {printf "%.1f", r / 1024}') MiB after round $r"
done
kill "$PHONES_PID"; wait "$PHONES_PID" 2>/dev/null || true
TICKS=$(getconf CLK_TCK)
echo "==> results"
awk -v ok="$OK" -v fail="$FAIL" -v a="$T0" -v b="$T1" -v rate="$RATE" -v hold="$HOLD_MS" \
    -v base="$BASE_RSS" -v peak="$PEAK_RSS" -v after="$AFTER_RSS" -v c0="$CPU0" -v c1="$CPU1" -v hz="$TICKS" \
    -v parked="$PARKED" -v left="$LEFT" -v pushed="$PUSHED" -v wake="$WAKE" 'BEGIN {
  s = b - a;
  split(wake, w, " ");
  printf "offered rate           %d calls/s (hold %d ms)\n", rate, hold;
  printf "successful calls       %d in %.2f s (%.0f calls/s)\n", ok, s, ok / s;
  printf "failed calls           %d\n", fail;
  printf "incoming_call posted   %s\n", pushed;
  if (w[2] > 0) printf "mean wake-up           %.0f ms (push posted -> picked up)\n", 1000 * w[1] / w[2];
  printf "parked calls after     %s (calls in the table: %s)\n", parked, left;
  printf "server CPU per call    %.1f us (user+sys)\n", (c1 - c0) / hz * 1e6 / (ok + fail);
  printf "server RSS             %.1f MiB before, %.1f MiB during, %.1f MiB after\n", base / 1024, peak / 1024, after / 1024;
}'
[ -n "$MORE" ] && echo "server RSS later        ${MORE#, }"
PARKED=$(curl -s "http://$HTTP/metrics" | awk '/^ferroswitch_parked_calls / {print $2}')
echo "phones                 $(cat "$WORK/phones.json")"
echo "sipp exit code         $SIPP_RC"
[ "$FAIL" = "0" ] && [ "$PARKED" = "0" ] || { tail -5 "$WORK/uac.err"; exit 1; }
