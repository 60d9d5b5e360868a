#!/usr/bin/env bash
# Cluster REGISTER load: a redis-server of its own on a free loopback port and NODES ferroswitch
# nodes with [cluster] (SQLite each), one SIPp per node registering its share of ACCOUNTS
# accounts with digest auth. Prints the cycles/s over all nodes, the servers' CPU per cycle
# (summed over the nodes), and what Redis did per REGISTER (INFO commandstats: calls, Redis
# CPU µs) and its memory per binding (MEMORY USAGE of one login's hash).
#
#   benches/sipp/cluster_register_load.sh [RATE_PER_NODE] [CALLS_PER_NODE]   (defaults 2000, 20000)
#   NODES=3 benches/sipp/cluster_register_load.sh 1500 15000
#   FERRO_BIN=/path/to/ferroswitch ...   (another build; the default builds release)
#
# Bounded: each SIPp stops after CALLS_PER_NODE cycles (or 300 s); everything is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-2000}
CALLS=${2:-20000}
NODES=${NODES:-2}
ACCOUNTS=${ACCOUNTS:-10000}
. benches/sipp/common.sh
load_setup ferro-cluster-load

. benches/sipp/cluster_common.sh
# node I registers accounts I, I+NODES, I+2*NODES, ...
node_accounts() {
  { echo "SEQUENTIAL"; for a in $(seq "$1" "$NODES" "$ACCOUNTS"); do echo "load$a;pw$a"; done; } > "$2/inf.csv"
  tail -n +2 "$2/inf.csv" | tr ';' ',' > "$2/accounts.csv"
  "$3" -c "$2/ferroswitch.toml" account import "$2/accounts.csv" | tail -1
}
cluster_start
echo "==> $NODES nodes (${ADDRS[*]}), Redis on $RPORT; SIPp per node: $CALLS cycles at $RATE/s"

rcli CONFIG RESETSTAT >/dev/null
CPU0=$(cpu_all)
RCPU0=$(redis_cpu)
T0=$(date +%s.%N)
SPIDS=()
for i in $(seq 0 $((NODES - 1))); do
  d="$WORK/node$i"
  ( cd "$d" && timeout 300 sipp "${ADDRS[$i]}" -sf "$OLDPWD/benches/sipp/register_load.xml" -inf inf.csv \
      -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * 4)) -max_socket 1 \
      -timeout 290 -buff_size 4194304 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$d/sipp.err" ) &
  SPIDS+=("$!")
done
sipp_totals 0 "$((NODES - 1))"
sleep 1
CALLS_R=$(redis_calls); USEC_R=$(redis_usec)
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN {print b - a}')
echo "==> results"
awk -v ok="$OK" -v fail="$FAIL" -v s="$SECS" -v n="$NODES" 'BEGIN {
  printf "nodes                  %d\n", n;
  printf "successful cycles      %d in %.2f s (all nodes)\n", ok, s;
  printf "sustained              %.0f challenge+register cycles/s\n", ok / s;
  printf "failed registrations   %d\n", fail; }'
echo "server CPU per cycle    $(cpu_per_op "$CPU0" "$CPU1" "$((OK + FAIL))") us (user+sys, summed over the nodes)"
echo "redis-server CPU/cycle  $(cpu_per_op "$RCPU0" "$RCPU1" "$((OK + FAIL))") us"
awk -v c="$CALLS_R" -v u="$USEC_R" -v ok="$OK" 'BEGIN { printf "Redis commands/cycle   %.2f (INFO commandstats: %d calls, %.1f us of command time per cycle)\n", c / ok, c, u / ok }'
rcli INFO commandstats | grep '^cmdstat_' | sed 's/^/  /'
echo "Redis logins           $(rcli --scan --pattern 'ferroswitch:loc:*' | wc -l)"
echo "Redis memory           $(rcli INFO memory | awk -F: '/^used_memory:/ {printf "%.1f MiB", $2 / 1048576}'), MEMORY USAGE of one login: $(rcli MEMORY USAGE ferroswitch:loc:load1) bytes"
[ "$FAIL" = "0" ] || exit 1
