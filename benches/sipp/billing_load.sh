#!/usr/bin/env bash
# Authorized OFFNET calls per second with the credit checks on, against the same calls without
# billing: a SIPp caller (INVITE with proxy auth, 180, 200, ACK, hold, BYE) calls `00 44...`
# through a release build of ferroswitch to a SIPp gateway on loopback (UDP, SQLite, a CDR per
# call). With BILLING=1 the caller is a billed prepaid account: every call is authorized
# against its balance (a reservation row), cut-off timers run, and its charge is written with
# its CDR and a ledger line in one transaction. Prints the sustained rate, failed calls and the
# server's CPU per call (/proc/PID/stat, user+sys).
#
#   BILLING=1 benches/sipp/billing_load.sh [RATE] [CALLS]   (defaults: 500 calls/s, 10000 calls, 1 s hold)
#   BILLING=0 benches/sipp/billing_load.sh 500 10000        # the same OFFNET calls, not rated
#
# Bounded: SIPp stops after CALLS calls (or 300 s); the server and the gateway are stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-500}
CALLS=${2:-10000}
HOLD_MS=${HOLD_MS:-1000}
BILLING=${BILLING:-1}
. benches/sipp/common.sh
load_setup ferro-billing
GW=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
F="$BIN -c $WORK/ferroswitch.toml"
# the gateway is not a registered device: SIPp's caller and gateway share 127.0.0.1, whose
# requests and answers would pass the per-source flood limit (200/s); off in both runs
printf '[security]\nsource_rate = 0\n' >> "$WORK/ferroswitch.toml"
$F account add caller --password cpw >/dev/null
$F gateway add gw "127.0.0.1:$GW" >/dev/null
$F route add 00 "gateway:gw strip=2" >/dev/null
if [ "$BILLING" = "1" ]; then
  printf '[calls]\nbilling = true\n' >> "$WORK/ferroswitch.toml"
  printf 'prefix;description;voice_rate;minimal_time;resolution;iso\n44;United Kingdom;0.06;1;1;GB\n' > "$WORK/rates.csv"
  $F billing import retail "$WORK/rates.csv" >/dev/null
  $F billing account caller --tariff retail >/dev/null
  $F billing credit caller 1000000 --reason "load test" >/dev/null
fi

start_server
( cd "$WORK" && timeout 320 sipp -sf "$OLDPWD/benches/sipp/call_load_uas.xml" -t u1 -i 127.0.0.1 -p "$GW" \
    -m "$CALLS" -timeout 310 -buff_size 4194304 -nostdin >/dev/null 2>"$WORK/uas.err" ) &
PIDS+=($!)
sleep 0.5
echo "==> server on $ADDR (pid $SERVER_PID), gateway on 127.0.0.1:$GW; billing=$BILLING; $CALLS calls at $RATE/s, hold ${HOLD_MS} ms"

printf 'SEQUENTIAL\ncaller;cpw;004420794600\n' > "$WORK/uac.csv"
set +e
CPU0=$(server_cpu_ticks)
T0=$(date +%s.%N)
( cd "$WORK" && timeout 300 sipp "$ADDR" -sf "$OLDPWD/benches/sipp/call_load_uac.xml" -inf uac.csv \
    -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * (HOLD_MS / 1000 + 4))) -d "$HOLD_MS" \
    -timeout 290 -buff_size 4194304 -max_socket 1 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$WORK/uac.err" )
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
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN {print b - a}')
echo "==> results (billing=$BILLING)"
awk -v ok="$OK" -v fail="$FAIL" -v s="$SECS" -v rate="$RATE" -v hold="$HOLD_MS" 'BEGIN {
  printf "offered rate           %d calls/s (hold %d ms)\n", rate, hold;
  printf "successful calls       %d in %.2f s\n", ok, s;
  printf "sustained (setup only) %.0f calls/s\n", ok / (s - hold / 1000);
  printf "failed calls           %d\n", fail;
}'
echo "server CPU per call     $(cpu_per_op "$CPU0" "$CPU1" "$((OK + FAIL))") us (user+sys)"
if [ "$BILLING" = "1" ]; then
  # every call rated and charged once: the ledger has one `call` line per successful call
  sleep 2
  CHARGED=$($F billing ledger caller | awk -F'\t' '$3 == "call"' | wc -l)
  echo "charged calls          $CHARGED (ledger lines of kind call)"
  echo "balance after          $($F billing balance caller)"
fi
echo "sipp exit code         $SIPP_RC"
[ "$FAIL" = "0" ] || { tail -5 "$WORK/uac.err"; exit 1; }
