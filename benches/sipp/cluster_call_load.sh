#!/usr/bin/env bash
# Cluster call load: a redis-server of its own and NODES ferroswitch nodes with [cluster]
# (SQLite each). The callee (SIPp) registers on node 0; one SIPp caller per other node calls it
# there, so every call crosses nodes (the caller's node runs the B2BUA and sends the B-leg to
# node 0, which relays it onto the callee's flow; BYE and ACK take the same way). Prints the
# calls/s over all callers, failed calls, and the nodes' CPU per call (summed over the nodes);
# compare with benches/sipp/call_load.sh at the same total rate (one node, no Redis).
#
#   benches/sipp/cluster_call_load.sh [RATE_PER_CALLER] [CALLS_PER_CALLER]   (defaults 200, 4000)
#   NODES=3 benches/sipp/cluster_call_load.sh 200 4000
#   HOLD_MS=1000 (default) how long each call stays up
#
# Bounded: each SIPp stops after its calls (or 300 s); everything is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-200}
CALLS=${2:-4000}
NODES=${NODES:-2}
HOLD_MS=${HOLD_MS:-1000}
[ "$NODES" -ge 2 ] || { echo "NODES must be 2 or more" >&2; exit 1; }
. benches/sipp/common.sh
load_setup ferro-cluster-calls
. benches/sipp/cluster_common.sh
node_accounts() {
  "$3" -c "$2/ferroswitch.toml" account add caller --password cpw >/dev/null
  "$3" -c "$2/ferroswitch.toml" account add callee --password epw >/dev/null
}
cluster_start

PORT=$(free_port)
printf 'SEQUENTIAL\ncallee;epw\n' > "$WORK/reg.csv"
( cd "$WORK" && sipp "${ADDRS[0]}" -sf "$OLDPWD/tests/sipp/register.xml" -inf reg.csv -t u1 -i 127.0.0.1 -p "$PORT" \
    -m 1 -timeout 10 -timeout_error -nostdin >/dev/null 2>&1 ) || { echo "callee registration failed" >&2; exit 1; }
TOTAL=$((CALLS * (NODES - 1)))
( cd "$WORK" && timeout 320 sipp -sf "$OLDPWD/benches/sipp/call_load_uas.xml" -t u1 -i 127.0.0.1 -p "$PORT" \
    -m "$TOTAL" -timeout 310 -buff_size 4194304 -nostdin >/dev/null 2>"$WORK/uas.err" ) &
PIDS+=($!)
# the other nodes learn the callee's binding from Redis
for _ in $(seq 1 50); do [ "$(rcli HLEN ferroswitch:loc:callee)" = "1" ] && break; sleep 0.1; done
sleep 0.5
echo "==> $NODES nodes (${ADDRS[*]}), Redis on $RPORT; callee on node 0; $((NODES - 1)) callers x $CALLS calls at $RATE/s, hold ${HOLD_MS} ms"

printf 'SEQUENTIAL\ncaller;cpw;callee\n' > "$WORK/uac.csv"
rcli CONFIG RESETSTAT >/dev/null
CPU0=$(cpu_all)
RCPU0=$(redis_cpu)
T0=$(date +%s.%N)
SPIDS=()
for i in $(seq 1 $((NODES - 1))); do
  d="$WORK/node$i"
  cp "$WORK/uac.csv" "$d/uac.csv"
  ( cd "$d" && timeout 300 sipp "${ADDRS[$i]}" -sf "$OLDPWD/benches/sipp/call_load_uac.xml" -inf uac.csv \
      -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * (HOLD_MS / 1000 + 4))) -d "$HOLD_MS" \
      -timeout 290 -buff_size 4194304 -max_socket 1 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$d/uac.err" ) &
  SPIDS+=("$!")
done
sipp_totals 1 "$((NODES - 1))"
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN {print b - a}')
echo "==> results"
awk -v ok="$OK" -v fail="$FAIL" -v s="$SECS" -v n="$NODES" -v hold="$HOLD_MS" 'BEGIN {
  printf "nodes                  %d\n", n;
  printf "successful calls       %d in %.2f s (all callers)\n", ok, s;
  printf "sustained (setup only) %.0f calls/s\n", ok / (s - hold / 1000);
  printf "failed calls           %d\n", fail; }'
echo "server CPU per call     $(cpu_per_op "$CPU0" "$CPU1" "$((OK + FAIL))") us (user+sys, summed over the nodes)"
echo "redis-server CPU/call   $(cpu_per_op "$RCPU0" "$RCPU1" "$((OK + FAIL))") us"
awk -v c="$(redis_calls)" -v ok="$OK" 'BEGIN { printf "Redis commands/call    %.2f (heartbeats included)\n", c / ok }'
[ "$FAIL" = "0" ] || { tail -5 "$WORK/node1/uac.err"; exit 1; }
