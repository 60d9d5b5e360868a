# Shared by the cluster load scripts (sourced after common.sh and load_setup): a redis-server of
# its own on a free loopback port and NODES ferroswitch nodes with [cluster] (SQLite each).
# cluster_start calls `node_accounts I DIR BIN` (defined by the script) before node I runs, to
# put its accounts in; sets RPORT, REDIS_PID, NODE_PIDS, ADDRS; everything is stopped at exit.

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rcli() { redis-cli -p "$RPORT" "$@"; }
# cpu_all: the nodes' user+system CPU so far, in clock ticks, summed
cpu_all() { local t=0; for p in "${NODE_PIDS[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
redis_cpu() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
redis_calls() { rcli INFO commandstats | awk -F'[:=,]' '/^cmdstat_/ { c += $3 } END { print c }'; }
redis_usec() { rcli INFO commandstats | awk -F'[:=,]' '/^cmdstat_/ { u += $5 } END { print u }'; }

cluster_start() {
  command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server" >&2; exit 1; }
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 1 50); do rcli PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  local ports=() i j d others
  for i in $(seq 0 $((NODES - 1))); do ports+=("$(free_port)"); done
  NODE_PIDS=()
  ADDRS=()
  for i in $(seq 0 $((NODES - 1))); do
    d="$WORK/node$i"; mkdir -p "$d"
    others=""
    for j in $(seq 0 $((NODES - 1))); do
      [ "$j" = "$i" ] && continue
      others="$others${others:+, }\"127.0.0.1:${ports[$j]}\""
    done
    cat > "$d/ferroswitch.toml" <<CFG
node_id = "node$i"
[[listener]]
transport = "udp"
address = "127.0.0.1:${ports[$i]}"
[registrar]
realm = "load.test"
algorithms = ["MD5"]
[database]
data_dir = "data"
[log]
level = "${LOG_LEVEL:-warn,ferroswitch::server=info}"
[cluster]
redis = "redis://127.0.0.1:$RPORT/0"
internal = "127.0.0.1:${ports[$i]}"
nodes = [$others]
secret = "load-test-secret-0123456789"
CFG
    node_accounts "$i" "$d" "$BIN"
    "$BIN" -c "$d/ferroswitch.toml" run 2> "$d/server.log" &
    NODE_PIDS+=("$!"); PIDS+=("$!")
    for _ in $(seq 1 100); do grep -q "location snapshot read" "$d/server.log" && break; sleep 0.1; done
    ADDRS+=("127.0.0.1:${ports[$i]}")
  done
}

# sipp_totals FIRST LAST: waits for the SIPp runs in SPIDS, then sets T1, CPU1, RCPU1 and the
# successful / failed totals OK, FAIL of the stats.csv of nodes FIRST..LAST
sipp_totals() {
  local p i s
  set +e
  for p in "${SPIDS[@]}"; do wait "$p"; done
  set -e
  T1=$(date +%s.%N)
  CPU1=$(cpu_all)
  RCPU1=$(redis_cpu)
  OK=0; FAIL=0
  for i in $(seq "$1" "$2"); do
    s="$WORK/node$i/stats.csv"
    [ -s "$s" ] || { cat "$WORK/node$i/"*.err; echo "no SIPp statistics" >&2; exit 1; }
    col() { head -1 "$s" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
    OK=$((OK + $(tail -1 "$s" | cut -d';' -f"$(col "SuccessfulCall(C)")")))
    FAIL=$((FAIL + $(tail -1 "$s" | cut -d';' -f"$(col "FailedCall(C)")")))
  done
}
