#!/usr/bin/env bash
# Flood test (issue 12 item 2): from 127.0.0.2 a blind sender floods unauthenticated INVITE
# and REGISTER requests as fast as one Python socket sends, for FLOOD_SECS; meanwhile SIPp
# registers 500 accounts from 127.0.0.1 at RATE cycles/s (CALLS cycles). Prints the flood's
# rate, SIPp's failed registrations, the server's RSS before and after, and the server's
# "source flooding" lines. Works against an older build too (FERRO_BIN=..., before/after).
#
#   benches/sipp/flood_load.sh [RATE] [CALLS]      (defaults: 500 cycles/s, 5000 cycles)
#
# Bounded: the flood stops after FLOOD_SECS (default 15 s), SIPp after CALLS cycles (or 120 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-500}
CALLS=${2:-5000}
FLOOD_SECS=${FLOOD_SECS:-15}
ACCOUNTS=500
. benches/sipp/common.sh
LOG_LEVEL=${LOG_LEVEL:-warn,ferroswitch::server=info}
load_setup ferro-flood

{ echo "SEQUENTIAL"; for i in $(seq 1 "$ACCOUNTS"); do echo "load$i;pw$i"; done; } > "$WORK/inf.csv"
tail -n +2 "$WORK/inf.csv" | tr ';' ',' > "$WORK/accounts.csv"
"$BIN" -c "$WORK/ferroswitch.toml" account import "$WORK/accounts.csv" | tail -1

start_server
sleep 1
RSS0=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
echo "==> server on $ADDR (pid $SERVER_PID), RSS $((RSS0 / 1024)) MiB; flood from 127.0.0.2 for $FLOOD_SECS s"
python3 - "$ADDR" "$FLOOD_SECS" > "$WORK/flood.out" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
secs = float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 0))
s.connect((host, int(port)))
local = "%s:%d" % s.getsockname()
msgs = []
for i in range(512):
    m = "INVITE" if i % 2 == 0 else "REGISTER"
    msgs.append((f"{m} sip:victim@{host} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfl{i}x{time.time_ns()};rport\r\n"
                 f"From: <sip:scan@{host}>;tag=f{i}\r\nTo: <sip:victim@{host}>\r\nCall-ID: fl{i}x{time.time_ns()}\r\n"
                 f"CSeq: 1 {m}\r\nMax-Forwards: 70\r\nContact: <sip:scan@{local}>\r\nContent-Length: 0\r\n\r\n").encode())
sent, t0 = 0, time.time()
while time.time() - t0 < secs:
    for m in msgs:
        try:
            s.send(m)
            sent += 1
        except OSError:
            pass
print(sent, time.time() - t0)
PY
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
sleep 1
set +e
( cd "$WORK" && timeout 120 sipp "$ADDR" -sf "$OLDPWD/benches/sipp/register_load.xml" -inf inf.csv \
    -t u1 -i 127.0.0.1 -r "$RATE" -m "$CALLS" -l $((RATE * 4)) -max_socket 1 \
    -timeout 110 -buff_size 4194304 -nostdin -trace_stat -stf stats.csv -fd 1 >/dev/null 2>"$WORK/sipp.err" )
SIPP_RC=$?
wait "$FLOOD_PID"
set -e
RSS1=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
STATS="$WORK/stats.csv"
col() { head -1 "$STATS" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
last() { tail -1 "$STATS" | cut -d';' -f"$(col "$1")"; }
read -r SENT SECS < "$WORK/flood.out"
echo "==> results"
awk -v n="$SENT" -v s="$SECS" 'BEGIN { printf "flood                  %d requests in %.1f s (%.0f/s) from 127.0.0.2\n", n, s, n / s }'
echo "SIPp registrations     $(last "SuccessfulCall(C)") ok, $(last "FailedCall(C)") failed (rate $RATE/s)"
echo "server RSS             $((RSS0 / 1024)) -> $((RSS1 / 1024)) MiB"
echo "source flooding lines  $(grep -c "source flooding" "$WORK/server.log" || true)"
grep "source flooding" "$WORK/server.log" | head -3 || true
echo "sipp exit code         $SIPP_RC"
