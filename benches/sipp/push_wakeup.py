#!/usr/bin/env python3
"""The sleeping phones of benches/sipp/push_load.sh, and the operator's push API.

An HTTP server takes ferroswitch's push hook posts. For every `incoming_call` it waits
DELAY ms (the phone waking up), then sends, over UDP, the woken app's INVITE with the
`Replaces` value of the payload, authenticated as the callee (one 407 to learn a nonce, then
that nonce with a growing nonce count), with an SDP offer; ACKs the 200 and answers the
caller's BYE. Bounded: it stops after DURATION seconds or on SIGTERM, and writes its
counters as JSON to STATS.

    push_wakeup.py SERVER_HOST:PORT HOOK_PORT PASSWORD REALM DELAY_MS DURATION STATS
"""

import asyncio
import hashlib
import json
import os
import signal
import sys
import time

SERVER = sys.argv[1].rsplit(":", 1)
SERVER = (SERVER[0], int(SERVER[1]))
HOOK_PORT = int(sys.argv[2])
PASSWORD = sys.argv[3]
REALM = sys.argv[4]
DELAY = int(sys.argv[5]) / 1000.0
DURATION = float(sys.argv[6])
STATS_FILE = sys.argv[7]

stats = {
    "pushes": 0,
    "other_events": 0,
    "invites": 0,
    "challenges": 0,
    "picked_up": 0,
    "refused": 0,
    "byes": 0,
    "retransmits": 0,
}
SDP = (
    "v=0\r\no=woken 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def headers_of(text):
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    out = {}
    for line in head[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out.setdefault(k.strip().lower(), []).append(v.strip())
    return head[0], out


def tag_of(value):
    for p in value.split(";")[1:]:
        if p.strip().startswith("tag="):
            return p.strip()[4:]
    return None


class Phone(asyncio.DatagramProtocol):
    def __init__(self):
        self.transport = None
        self.local = None
        self.calls = {}  # Call-ID -> state
        self.nonce = None
        self.nc = 0
        self.seq = 0

    def connection_made(self, transport):
        self.transport = transport
        self.local = transport.get_extra_info("sockname")

    def send(self, text):
        self.transport.sendto(text.encode(), SERVER)

    def auth(self, login, uri):
        if self.nonce is None:
            return ""
        self.nc += 1
        nc = "%08x" % self.nc
        ha1 = md5(f"{login}:{REALM}:{PASSWORD}")
        ha2 = md5(f"INVITE:{uri}")
        resp = md5(f"{ha1}:{self.nonce}:{nc}:c0ffee:auth:{ha2}")
        return (
            f'Proxy-Authorization: Digest username="{login}", realm="{REALM}", '
            f'nonce="{self.nonce}", uri="{uri}", response="{resp}", algorithm=MD5, '
            f'qop=auth, nc={nc}, cnonce="c0ffee"\r\n'
        )

    def pick_up(self, login, replaces, instance):
        self.seq += 1
        cid = f"woken{self.seq}-{os.getpid()}@127.0.0.1"
        call = {
            "login": login,
            "replaces": replaces,
            "instance": instance,
            "cseq": 0,
            "tag": f"w{self.seq}",
            "done": False,
        }
        self.calls[cid] = call
        stats["invites"] += 1
        self.invite(cid)

    def invite(self, cid, retrans=0):
        call = self.calls[cid]
        if retrans == 0:
            call["cseq"] += 1
            call["branch"] = f"z9hG4bKw{call['cseq']}x{cid.split('@')[0]}"
            call["auth"] = self.auth(call["login"], f"sip:caller@{REALM}")
        uri = f"sip:caller@{REALM}"
        host, port = self.local
        self.send(
            f"INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch={call['branch']};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{call['login']}@{REALM}>;tag={call['tag']}\r\n"
            f"To: <{uri}>\r\nCall-ID: {cid}\r\nCSeq: {call['cseq']} INVITE\r\n"
            f"Contact: <sip:{call['login']}@{host}:{port}>;+sip.instance=\"{call['instance']}\"\r\n"
            f"Replaces: {call['replaces']}\r\n"
            f"{call['auth']}"
            f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n{SDP}"
        )
        call["answered"] = False
        seq = call["cseq"]
        if retrans < 4:
            asyncio.get_running_loop().call_later(
                0.5 * (2**retrans), self.maybe_retransmit, cid, seq, retrans + 1
            )

    def maybe_retransmit(self, cid, seq, n):
        call = self.calls.get(cid)
        if call and call["cseq"] == seq and not call["answered"]:
            stats["retransmits"] += 1
            self.invite(cid, n)

    def ack(self, cid, call, to, target, cseq, for_2xx=False):
        # a non-2xx is ACKed in its INVITE's transaction (same branch), a 2xx end to end
        branch = call["branch"] + ("a" if for_2xx else "")
        host, port = self.local
        self.send(
            f"ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{call['login']}@{REALM}>;tag={call['tag']}\r\n"
            f"To: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n"
        )

    def datagram_received(self, data, addr):
        text = data.decode(errors="replace")
        first, h = headers_of(text)
        cid = (h.get("call-id") or h.get("i") or [""])[0]
        if first.startswith("SIP/2.0"):
            code = int(first.split()[1])
            call = self.calls.get(cid)
            if call is None or code < 200:
                if call is not None:
                    call["answered"] = True
                return
            call["answered"] = True
            cseq = int(h["cseq"][0].split()[0])
            to = h.get("to", h.get("t", [""]))[0]
            if code == 407:
                stats["challenges"] += 1
                self.ack(cid, call, to, f"sip:caller@{REALM}", cseq)
                if cseq == call["cseq"] and cseq < 3:
                    ch = h["proxy-authenticate"][0]
                    self.nonce = ch.split('nonce="', 1)[1].split('"', 1)[0]
                    self.nc = 0
                    self.invite(cid)
                return
            if 200 <= code < 300:
                contact = h.get("contact", h.get("m", [f"<sip:caller@{REALM}>"]))[0]
                target = contact.split("<", 1)[1].split(">", 1)[0]
                self.ack(cid, call, to, target, cseq, for_2xx=True)
                if not call["done"]:
                    call["done"] = True
                    stats["picked_up"] += 1
                return
            self.ack(cid, call, to, f"sip:caller@{REALM}", cseq)
            if not call["done"]:
                call["done"] = True
                stats["refused"] += 1
            return
        # a request: BYE (or anything else) gets 200
        method = first.split()[0]
        if method == "ACK":
            return
        lines = [f"{k}: {v}" for k in ("via", "from", "to", "call-id", "cseq") for v in h.get(k, [])]
        self.transport.sendto(
            ("SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(),
            addr,
        )
        if method == "BYE":
            stats["byes"] += 1
            self.calls.pop(cid, None)


async def hook(reader, writer, phone):
    loop = asyncio.get_running_loop()
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.decode().split("\r\n"):
                if line.lower().startswith("content-length:"):
                    n = int(line.split(":", 1)[1])
            body = json.loads(await reader.readexactly(n)) if n else {}
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            if body.get("event") == "incoming_call":
                stats["pushes"] += 1
                instance = (body.get("instances") or [""])[0]
                loop.call_later(DELAY, phone.pick_up, body["callee"], body["replaces"], instance)
            else:
                stats["other_events"] += 1
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main():
    loop = asyncio.get_running_loop()
    _, phone = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
    server = await asyncio.start_server(lambda r, w: hook(r, w, phone), "127.0.0.1", HOOK_PORT)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(stop.wait(), DURATION)
    except asyncio.TimeoutError:
        pass
    server.close()
    stats["seconds"] = round(time.monotonic() - t0, 2)
    with open(STATS_FILE, "w") as f:
        json.dump(stats, f)


asyncio.run(main())
