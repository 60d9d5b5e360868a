#!/usr/bin/env bash
# Presence and messaging load: a release build of ferroswitch on loopback (UDP, SQLite),
# driven by SIPp; prints
#  1. NOTIFYs/s: WATCHERS watchers each follow FOLLOW of PRESENTITIES presentities
#     (WATCHERS x FOLLOW subscriptions), then every presentity PUBLISHes ROUNDS changes at
#     PUB_RATE PUBLISH/s; every change NOTIFYs its watchers (answered 200 by SIPp);
#  2. MESSAGE/s online: MSGS MESSAGEs (each with its 407 challenge) to RECEIVERS registered
#     devices (a SIPp UAS answering 200), at MSG_RATE offered;
#  3. MESSAGE/s offline: the same to RECEIVERS logins with no device (stored, 202);
# and for each phase the server's CPU per operation (/proc/PID/stat; a phase's window includes
# its waits for the last NOTIFY, so the idle server's ticks count too).
#
#   benches/sipp/presence_load.sh
#   WATCHERS=1000 PRESENTITIES=1000 FOLLOW=1 ROUNDS=5 PUB_RATE=2000 MSGS=20000 MSG_RATE=3000 \
#     benches/sipp/presence_load.sh
#
# Bounded: every SIPp run has -m and a timeout; the server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
WATCHERS=${WATCHERS:-1000}
PRESENTITIES=${PRESENTITIES:-1000}
FOLLOW=${FOLLOW:-10}
ROUNDS=${ROUNDS:-5}
PUB_RATE=${PUB_RATE:-2000}
SUB_RATE=${SUB_RATE:-2000}
RECEIVERS=${RECEIVERS:-1000}
MSGS=${MSGS:-20000}
MSG_RATE=${MSG_RATE:-3000}
. benches/sipp/common.sh
load_setup ferro-presence-load
ROOT=$PWD

echo "==> creating accounts"
{
  for i in $(seq 1 "$WATCHERS"); do echo "w$i,pw"; done
  for i in $(seq 1 "$PRESENTITIES"); do echo "p$i,pw"; done
  for i in $(seq 1 "$RECEIVERS"); do echo "on$i,pw"; echo "off$i,pw"; done
} > "$WORK/accounts.csv"
"$BIN" -c "$WORK/ferroswitch.toml" account import "$WORK/accounts.csv" | tail -1

start_server
echo "==> server on $ADDR (pid $SERVER_PID)"

# column number of the first header matching a regular expression
col() { head -1 "$1" | tr ';' '\n' | grep -n -E "$2" | head -1 | cut -d: -f1; }
# last value of that column
last() { local c; c=$(col "$1" "$2"); tail -1 "$1" | cut -d';' -f"$c"; }
now() { date +%s.%N; }
SIPP_COMMON=(-t u1 -i 127.0.0.1 -max_socket 1 -buff_size 8388608 -nostdin)

# ----- 1. NOTIFYs/s ------------------------------------------------------------------------
SUBS=$((WATCHERS * FOLLOW))
{ echo "SEQUENTIAL"
  for i in $(seq 1 "$WATCHERS"); do
    for k in $(seq 0 $((FOLLOW - 1))); do echo "w$i;pw;p$(( (i + k * 97) % PRESENTITIES + 1 ))"; done
  done; } > "$WORK/watch.csv"
echo "==> $WATCHERS watchers subscribe to $FOLLOW presentities each ($SUBS subscriptions)"
CPU_S0=$(server_cpu_ticks)
( cd "$WORK" && exec timeout 600 sipp "$ADDR" -sf "$ROOT/benches/sipp/presence_watch.xml" -inf watch.csv \
    "${SIPP_COMMON[@]}" -r "$SUB_RATE" -m "$SUBS" -l $((SUBS + 10)) -trace_counts -fd 1 \
    >/dev/null 2>"$WORK/watch.err" ) &
PIDS+=($!)
WATCH_PID=$!
sleep 2
COUNTS=$(ls "$WORK"/presence_watch_*_counts.csv 2>/dev/null | head -1)
[ -n "$COUNTS" ] || { cat "$WORK/watch.err"; echo "no watcher counts" >&2; exit 1; }
# wait until every subscription got its first NOTIFY (and a little more)
for _ in $(seq 1 300); do
  N=$(last "$COUNTS" "_NOTIFY_Recv$")
  [ "${N:-0}" -ge "$SUBS" ] && break
  sleep 1
done
sleep 2
BASE=$(last "$COUNTS" "_NOTIFY_Recv$")
CPU_S1=$(server_cpu_ticks)
echo "    initial NOTIFYs received: $BASE of $SUBS"

PUBS=$((PRESENTITIES * ROUNDS))
{ echo "SEQUENTIAL"
  for r in $(seq 1 "$ROUNDS"); do
    for i in $(seq 1 "$PRESENTITIES"); do echo "p$i;pw;round-$r"; done
  done; } > "$WORK/publish.csv"
EXPECT=$((PUBS * FOLLOW * WATCHERS / PRESENTITIES))
echo "==> $PRESENTITIES presentities PUBLISH $ROUNDS changes each ($PUBS PUBLISHes at $PUB_RATE/s offered; up to $EXPECT NOTIFYs)"
T0=$(now)
CPU_P0=$(server_cpu_ticks)
set +e
( cd "$WORK" && timeout 300 sipp "$ADDR" -sf "$ROOT/tests/sipp/publish.xml" -inf publish.csv \
    "${SIPP_COMMON[@]}" -r "$PUB_RATE" -m "$PUBS" -l $((PUB_RATE * 4)) -timeout 290 -trace_stat -stf pub_stats.csv \
    >/dev/null 2>"$WORK/publish.err" )
set -e
T_PUB=$(now)
# wait for the NOTIFY count to stop rising (3 s without change) or reach the expectation
PREV=-1; STILL=0
for _ in $(seq 1 300); do
  N=$(last "$COUNTS" "_NOTIFY_Recv$")
  if [ "$N" = "$PREV" ]; then STILL=$((STILL + 1)); else STILL=0; fi
  PREV=$N
  [ "$((N - BASE))" -ge "$EXPECT" ] && break
  [ "$STILL" -ge 3 ] && break
  sleep 1
done
CPU_P1=$(server_cpu_ticks)
# the time the last NOTIFY arrived: the first counts row holding the final value
FINAL=$(last "$COUNTS" "_NOTIFY_Recv$")
C=$(col "$COUNTS" "_NOTIFY_Recv$")
T_END=$(awk -F';' -v c="$C" -v f="$FINAL" 'NR > 1 && $c == f { split($1, a, "\t"); print a[3]; exit }' "$COUNTS")
PUB_OK=$(last "$WORK/pub_stats.csv" "^SuccessfulCall\\(C\\)$")
PUB_FAIL=$(last "$WORK/pub_stats.csv" "^FailedCall\\(C\\)$")
NOTIFY_RETRANS=$(last "$COUNTS" "_NOTIFY_Recv$" >/dev/null; C2=$(col "$COUNTS" "_NOTIFY_Retrans$"); tail -1 "$COUNTS" | cut -d';' -f"$C2")
kill "$WATCH_PID" 2>/dev/null || true

# ----- 2. MESSAGE/s online -----------------------------------------------------------------
DEV_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{ echo "SEQUENTIAL"; for i in $(seq 1 "$RECEIVERS"); do echo "on$i;pw"; done; } > "$WORK/reg.csv"
echo "==> registering $RECEIVERS online receivers (one SIPp device on port $DEV_PORT)"
( cd "$WORK" && timeout 120 sipp "$ADDR" -sf "$ROOT/tests/sipp/register.xml" -inf reg.csv \
    "${SIPP_COMMON[@]}" -p "$DEV_PORT" -r 2000 -m "$RECEIVERS" -timeout 110 >/dev/null 2>"$WORK/reg.err" ) \
  || { cat "$WORK/reg.err"; echo "registration failed" >&2; exit 1; }
sleep 2   # each login's first REGISTER looks for stored messages (none)
( cd "$WORK" && exec timeout 300 sipp -sf "$ROOT/tests/sipp/uas_message.xml" \
    "${SIPP_COMMON[@]}" -p "$DEV_PORT" -m "$MSGS" >/dev/null 2>"$WORK/dev.err" ) &
PIDS+=($!)
sleep 0.5

run_messages() { # prefix, label
  { echo "SEQUENTIAL"; for i in $(seq 1 "$MSGS"); do echo "w$(( i % WATCHERS + 1 ));pw;$1$(( i % RECEIVERS + 1 ));load message $i"; done; } > "$WORK/msg-$1.csv"
  local t0 t1 c0 c1
  t0=$(now)
  c0=$(server_cpu_ticks)
  set +e
  ( cd "$WORK" && timeout 300 sipp "$ADDR" -sf "$ROOT/tests/sipp/uac_message.xml" -inf "msg-$1.csv" \
      "${SIPP_COMMON[@]}" -r "$MSG_RATE" -m "$MSGS" -l $((MSG_RATE * 4)) -timeout 290 \
      -trace_stat -stf "msg-$1.csv.stats" >/dev/null 2>"$WORK/msg-$1.err" )
  set -e
  t1=$(now)
  c1=$(server_cpu_ticks)
  local ok fail
  ok=$(last "$WORK/msg-$1.csv.stats" "^SuccessfulCall\\(C\\)$")
  fail=$(last "$WORK/msg-$1.csv.stats" "^FailedCall\\(C\\)$")
  awk -v ok="$ok" -v fail="$fail" -v a="$t0" -v b="$t1" -v what="$2" -v rate="$MSG_RATE" 'BEGIN {
    printf "MESSAGE %-8s        %.0f MESSAGE/s (%d answered, %d failed, in %.2f s at %d/s offered)\n", what, ok / (b - a), ok, fail, b - a, rate }' \
    >> "$WORK/results.txt"
  echo "server CPU per MESSAGE  $(cpu_per_op "$c0" "$c1" "$((ok + fail))") us ($2, 407 + MESSAGE, user+sys)" >> "$WORK/results.txt"
}
echo "==> $MSGS MESSAGEs to online receivers"
run_messages on online
echo "==> $MSGS MESSAGEs to offline receivers (stored)"
run_messages off offline
STORED=$(sqlite3 "$WORK/data/ferroswitch.db" "select status, count(*) from sms_inbox group by status" 2>/dev/null | tr '\n' ' ' || true)

echo "==> results"
awk -v base="$BASE" -v final="$FINAL" -v t0="$T0" -v tp="$T_PUB" -v te="$T_END" -v subs="$SUBS" \
    -v pubs="$PUBS" -v ok="$PUB_OK" -v fail="$PUB_FAIL" -v expect="$EXPECT" -v rt="$NOTIFY_RETRANS" 'BEGIN {
  n = final - base; if (te < tp) te = tp;
  printf "subscriptions          %d (initial NOTIFYs %d)\n", subs, base;
  printf "PUBLISH                %d ok, %d failed in %.2f s (%.0f PUBLISH/s)\n", ok, fail, tp - t0, ok / (tp - t0);
  printf "NOTIFY                 %d of %d expected in %.2f s: %.0f NOTIFY/s (watcher saw %d retransmissions)\n", n, expect, te - t0, n / (te - t0), rt;
}'
echo "server CPU per SUBSCRIBE $(cpu_per_op "$CPU_S0" "$CPU_S1" "$SUBS") us (with its 407 and first NOTIFY, user+sys)"
echo "server CPU per PUBLISH  $(cpu_per_op "$CPU_P0" "$CPU_P1" "$((PUB_OK + PUB_FAIL))") us (with its 407 and the NOTIFYs it caused, user+sys)"
cat "$WORK/results.txt"
[ -n "$STORED" ] && echo "sms_inbox by status     $STORED"
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
echo "server RSS             $((RSS / 1024)) MiB"
