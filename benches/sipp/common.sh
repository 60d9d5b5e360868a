# Shared by the SIPp load scripts (sourced from the repository root): a release build, a
# scratch directory removed at exit, a UDP-only config on loopback, the server started and
# its address read from its stable "listening on" line. Everything started is stopped at exit.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ferroswitch-target}"
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
# SIP_TRANSPORT=tcp: the server listens on TCP only and SIPp talks over one connection
# (`-t t1`): the stream path (register_load.sh; the call scripts stay on UDP). Default udp.
SIP_TRANSPORT=${SIP_TRANSPORT:-udp}
case "$SIP_TRANSPORT" in
  udp) SIPP_T=u1 ;;
  tcp) SIPP_T=t1 ;;
  *) echo "SIP_TRANSPORT must be udp or tcp, not $SIP_TRANSPORT" >&2; exit 2 ;;
esac

SERVER_PID=""
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}

# load_setup NAME: builds, makes $WORK (/tmp/NAME.XXXXXX), writes $WORK/ferroswitch.toml; sets BIN.
# FERRO_BIN=path runs that binary instead (e.g. an older build, for a before/after figure).
# LOG_LEVEL=info logs as a production server does (one line per REGISTER, call and MESSAGE);
# the default logs only warnings and the start lines.
# UDP_STEERING=false runs the shards without the kernel steering program (the 4-tuple hash alone,
# as before it); unset, the key is not written (builds from before it refuse it).
load_setup() {
  if [ -n "${FERRO_BIN:-}" ]; then
    BIN="$FERRO_BIN"
  else
    echo "==> building release binary"
    cargo build --release -q -p ferroswitch
    BIN="$CARGO_TARGET_DIR/release/ferroswitch"
  fi
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  trap cleanup EXIT
  cat > "$WORK/ferroswitch.toml" <<CFG
${UDP_STEERING:+udp_steering = $UDP_STEERING}
[[listener]]
transport = "$SIP_TRANSPORT"
address = "127.0.0.1:0"
[registrar]
realm = "load.test"
algorithms = ["MD5"]
[database]
data_dir = "data"
[log]
level = "${LOG_LEVEL:-warn,ferroswitch::server=info}"
CFG
  # SOURCE_RATE=0 turns the per-source flood limit off (every SIPp runs from 127.0.0.1, and at
  # 2,000 REGISTER cycles/s one source is over the default 200/s x 10 for registered devices).
  # Unset, the section is not written: builds from before the limit refuse [security].
  if [ -n "${SOURCE_RATE:-}" ]; then
    printf '[security]\nsource_rate = %s\n' "$SOURCE_RATE" >> "$WORK/ferroswitch.toml"
  fi
}

# server_cpu_ticks: the server's user+system CPU so far, in clock ticks (/proc/PID/stat).
server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# thread_cpu: the server's threads busiest first, as "name ticks" (since start), so a figure
# can say how much of the CPU per operation the SIP task's thread spent and what ran beside it.
thread_cpu() {
  for t in /proc/"$SERVER_PID"/task/*; do
    awk '{ name = $2; sub(/^\(/, "", name); sub(/\)$/, "", name); print name, $14 + $15 }' "$t/stat"
  done | sort -k2 -n -r | head -5 | awk '{ printf "  thread %-18s %d ticks\n", $1, $2 }'
}

# cpu_per_op TICKS0 TICKS1 OPS: microseconds of server CPU per operation.
cpu_per_op() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }'; }

# start_server: runs the server on $WORK/ferroswitch.toml; sets SERVER_PID and ADDR.
# CALLGRIND=FILE runs it under `valgrind --tool=callgrind` instead: instruction counts do not
# depend on what else loads the machine. Use a low rate (valgrind runs it ~50x slower); only the
# load window is counted (cg_zero / cg_dump around it), and FILE gets that window's profile.
# CALLGRIND_OPTS adds valgrind options, e.g. "--cache-sim=yes --branch-sim=yes" for simulated
# cache misses and mispredicted branches per operation (the VMs have no hardware counters).
start_server() {
  local wait=100
  if [ -n "${CALLGRIND:-}" ]; then
    command -v valgrind >/dev/null || { echo "valgrind missing" >&2; exit 1; }
    # shellcheck disable=SC2086 # CALLGRIND_OPTS is a list of options
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" ${CALLGRIND_OPTS:-} \
      "$BIN" -c "$WORK/ferroswitch.toml" run 2> "$WORK/server.log" &
    wait=1200
  else
    "$BIN" -c "$WORK/ferroswitch.toml" run 2> "$WORK/server.log" &
  fi
  SERVER_PID=$!
  for _ in $(seq 1 "$wait"); do grep -q "ferroswitch ready" "$WORK/server.log" && break; sleep 0.1; done
  ADDR=$(grep -o "listening on $SIP_TRANSPORT [0-9.:]*" "$WORK/server.log" | awk '{print $4}')
  [ -n "$ADDR" ] || { cat "$WORK/server.log"; echo "server did not start" >&2; exit 1; }
}

# cg_zero / cg_dump OPS: with CALLGRIND, zero the counters before the load and, after it, dump
# them to $CALLGRIND and print the instructions per operation (Ir of the load window / OPS).
cg_zero() { [ -z "${CALLGRIND:-}" ] || callgrind_control -z "$SERVER_PID" >/dev/null 2>&1; }
cg_dump() {
  [ -n "${CALLGRIND:-}" ] || return 0
  rm -f "$WORK"/callgrind.out.*
  callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
  local f; f=$(ls "$WORK"/callgrind.out.* 2>/dev/null | tail -1)
  [ -n "$f" ] || { echo "no callgrind dump" >&2; return 1; }
  cp "$f" "$CALLGRIND"
  local ir; ir=$(callgrind_annotate "$CALLGRIND" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  awk -v ir="$ir" -v n="$1" 'BEGIN { printf "server instructions    %.0f per operation (callgrind, %d operations)\n", ir / n, n }'
}
