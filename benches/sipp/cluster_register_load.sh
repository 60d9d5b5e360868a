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
command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server" >&2; exit 1; }
. benches/sipp/common.sh
load_setup ferro-cluster-load

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 1 50); do redis-cli -p "$RPORT" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
rcli() { redis-cli -p "$RPORT" "$@"; }

PORTS=()
for i in $(seq 0 $((NODES - 1))); do PORTS+=("$(free_port)"); done
NODE_PIDS=()
ADDRS=()
for i in $(seq 0 $((NODES - 1))); do
  d="$WORK/node$i"; mkdir -p "$d"
  others=""
  for j in $(seq 0 $((NODES - 1))); do
    [ "$j" = "$i" ] && continue
    others="$others${others:+, }\"127.0.0.1:${PORTS[$j]}\""
  done
  cat > "$d/ferroswitch.toml" <<CFG
node_id = "node$i"
[[listener]]
transport = "udp"
address = "127.0.0.1:${PORTS[$i]}"
[registrar]
realm = "load.test"
algorithms = ["MD5"]
[database]
data_dir = "data"
[log]
level = "${LOG_LEVEL:-warn,ferroswitch::server=info}"
[cluster]
redis = "redis://127.0.0.1:$RPORT/0"
internal = "127.0.0.1:${PORTS[$i]}"
nodes = [$others]
secret = "load-test-secret-0123456789"
CFG
  { echo "SEQUENTIAL"; for a in $(seq "$i" "$NODES" "$ACCOUNTS"); do echo "load$a;pw$a"; done; } > "$d/inf.csv"
  tail -n +2 "$d/inf.csv" | tr ';' ',' > "$d/accounts.csv"
  "$BIN" -c "$d/ferroswitch.toml" account import "$d/accounts.csv" | tail -1
  "$BIN" -c "$d/ferroswitch.toml" run 2> "$d/server.log" &
  NODE_PIDS+=("$!"); PIDS+=("$!")
  for _ in $(seq 1 100); do grep -q "location snapshot read" "$d/server.log" && break; sleep 0.1; done
  ADDRS+=("127.0.0.1:${PORTS[$i]}")
done
echo "==> $NODES nodes (${ADDRS[*]}), Redis on $RPORT; SIPp per node: $CALLS cycles at $RATE/s"

cpu_all() { local t=0; for p in "${NODE_PIDS[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
redis_calls() { rcli INFO commandstats | awk -F'[:=,]' '/^cmdstat_/ { c += $3 } END { print c }'; }
redis_usec() { rcli INFO commandstats | awk -F'[:=,]' '/^cmdstat_/ { u += $5 } END { print u }'; }
rcli CONFIG RESETSTAT >/dev/null
CPU0=$(cpu_all)
RCPU0=$(awk '{print $14 + $15}' "/proc/$REDIS_PID/stat")
T0=$(date +%s.%N)
SPIDS=()
for i in $(seq 0 $((NODES - 1))); do
  d="$WORK/node$i"
  ( cd "$d" && timeout 300 sipp "${ADDRS[$i]}" -sf "$OLDPWD/benches/sipp/register_load.xml" -inf inf.csv \
      -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * 4)) -max_socket 1 \
      -timeout 290 -buff_size 4194304 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$d/sipp.err" ) &
  SPIDS+=("$!")
done
set +e
for p in "${SPIDS[@]}"; do wait "$p"; done
set -e
T1=$(date +%s.%N)
CPU1=$(cpu_all)
RCPU1=$(awk '{print $14 + $15}' "/proc/$REDIS_PID/stat")
OK=0; FAIL=0
for i in $(seq 0 $((NODES - 1))); do
  s="$WORK/node$i/stats.csv"
  col() { head -1 "$s" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
  OK=$((OK + $(tail -1 "$s" | cut -d';' -f"$(col "SuccessfulCall(C)")")))
  FAIL=$((FAIL + $(tail -1 "$s" | cut -d';' -f"$(col "FailedCall(C)")")))
done
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
echo "Redis logins           $(rcli DBSIZE)"
echo "Redis memory           $(rcli INFO memory | awk -F: '/^used_memory:/ {printf "%.1f MiB", $2 / 1048576}'), MEMORY USAGE of one login: $(rcli MEMORY USAGE ferroswitch:loc:load1) bytes"
[ "$FAIL" = "0" ] || exit 1
