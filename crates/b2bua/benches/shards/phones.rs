//! The simulated phones and the "kernel" between them and the shards: each shard's inbox (its
//! socket's receive queue and its hand-off channel in one), the prepared messages, and the
//! phones' answers to what the shards send them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use bytes::Bytes;
use registrar::{Account, Register, Registrar};
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, HeaderName, Message, MessageBuilder, Method, Peer, Transport};

pub(crate) const SERVER: ([u8; 4], u16) = ([192, 0, 2, 1], 5060);
pub(crate) const REG_IP: [u8; 4] = [198, 51, 100, 3];
pub(crate) const CALLER_IP: [u8; 4] = [198, 51, 100, 1];
pub(crate) const CALLEE_IP: [u8; 4] = [198, 51, 100, 2];
pub(crate) const PORT_BASE: u16 = 10_000;
pub(crate) const DOMAIN: &str = "example.com";
pub(crate) const REALM: &str = "ferroswitch";
/// Counts per nonce (the keeper records `nc` in a byte).
const NC_PER_NONCE: usize = 250;
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

pub(crate) fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// A datagram from `remote` as the server's socket sees it.
pub(crate) fn peer(remote: SocketAddr) -> Peer {
    Peer {
        transport: Transport::Udp,
        remote,
        local: addr(SERVER.0, SERVER.1),
        conn: None,
    }
}

/// Whether the kernel runs the server's steering program (`sip_message::steer`) on the
/// listener's socket group of `count` shards: not with one shard, nor with `STEER=0` (the
/// kernel's hash alone, as before the program).
pub(crate) fn steering(count: usize) -> bool {
    count > 1 && !std::env::var("STEER").is_ok_and(|v| v == "0")
}

/// The shard whose socket the kernel gives `data` from `remote`: the one the steering program
/// names (computed by its plain-code twin `steer::native`, as the kernel runs it compiled;
/// the interpreter would cost the shard threads ~1 µs a datagram that the kernel does not
/// spend), else a hash of the 4-tuple (unrelated to the message's owner).
pub(crate) fn kernel_shard(steer: bool, remote: SocketAddr, data: &[u8], count: usize) -> usize {
    if let Some(s) = steer
        .then(|| sip_message::steer::native(data, count))
        .flatten()
    {
        return s;
    }
    let SocketAddr::V4(a) = remote else { return 0 };
    let mut x = (u64::from(u32::from(*a.ip())) << 16) | u64::from(a.port());
    // splitmix64's finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((x ^ (x >> 31)) % count as u64) as usize
}

/// What a shard's inbox carries: a datagram as the socket gave it, a datagram another shard
/// read and handed over unparsed (its owner known from the raw bytes), or a message another
/// shard parsed and handed over (the raw scan was not sure of its owner).
pub(crate) enum Item {
    Datagram(Bytes, Peer),
    HandedRaw(Bytes, Peer),
    Handed(Message, Peer),
    Stop,
}

/// A shard's inbox: a queue under a lock, and a wake-up only when the shard sleeps on it (a
/// socket's receive queue and epoll, or the server's hand-off channel and its task's waker).
/// The shard takes everything queued at once, as a `recvmmsg` would.
///
/// Two cache lines of its own: the shards' inboxes sit side by side in a `Vec`, and each is
/// locked by its shard at every turn.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Inbox {
    state: Mutex<Queued>,
    ready: Condvar,
}

#[derive(Default)]
struct Queued {
    items: VecDeque<Item>,
    sleeping: bool,
}

impl Inbox {
    pub(crate) fn push(&self, item: Item) {
        self.push_all(&mut vec![item]);
    }

    /// Queues `items` (left empty) at once, as one `sendmmsg`.
    pub(crate) fn push_all(&self, items: &mut Vec<Item>) {
        let mut q = self.state.lock().expect("inbox");
        q.items.extend(items.drain(..));
        if q.sleeping {
            q.sleeping = false;
            drop(q);
            self.ready.notify_one();
        }
    }

    /// Moves what is queued into `into` (empty), sleeping while there is nothing. Returns
    /// whether it slept.
    pub(crate) fn take(&self, into: &mut VecDeque<Item>) -> bool {
        let mut q = self.state.lock().expect("inbox");
        let mut slept = false;
        while q.items.is_empty() {
            q.sleeping = true;
            slept = true;
            q = self.ready.wait(q).expect("inbox");
        }
        std::mem::swap(&mut q.items, into);
        slept
    }
}

/// What the phones send while a shard runs them, by the shard the kernel gives it to; flushed
/// into the inboxes at once after each round. Also what the phones saw, counted per thread and
/// added to the [`World`]'s totals at each flush (`done`) or when the thread ends (the rest):
/// counters shared by the threads per op would cost the shards a cache line passed between
/// the cores for every call, which is the bench's own cost, not the server's.
pub(crate) struct Sends {
    steer: bool,
    queued: Vec<Vec<Item>>,
    done: u64,
    register_ok: u64,
    invite_ok: u64,
    bye_ok: u64,
    resent_2xx: u64,
}

impl Sends {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            steer: steering(count),
            queued: (0..count).map(|_| Vec::new()).collect(),
            done: 0,
            register_ok: 0,
            invite_ok: 0,
            bye_ok: 0,
            resent_2xx: 0,
        }
    }

    fn send(&mut self, remote: SocketAddr, data: Bytes) {
        let to = kernel_shard(self.steer, remote, &data, self.queued.len());
        self.queued[to].push(Item::Datagram(data, peer(remote)));
    }

    pub(crate) fn flush(&mut self, world: &World) {
        for (to, items) in self.queued.iter_mut().enumerate() {
            if !items.is_empty() {
                world.inboxes[to].push_all(items);
            }
        }
        if self.done > 0 {
            world.ops_done(std::mem::take(&mut self.done));
        }
    }

    /// Adds this thread's counts to the world's (when its shard stops).
    pub(crate) fn tally(&mut self, world: &World) {
        world.register_ok.fetch_add(self.register_ok, Relaxed);
        world.invite_ok.fetch_add(self.invite_ok, Relaxed);
        world.bye_ok.fetch_add(self.bye_ok, Relaxed);
        world.resent_2xx.fetch_add(self.resent_2xx, Relaxed);
    }
}

/// A REGISTER phone: its prepared requests, sent one after another. A cache line of its own,
/// as each phone's state moves between the threads.
#[repr(align(64))]
pub(crate) struct RegPhone {
    pub(crate) requests: Vec<Bytes>,
    pub(crate) next: AtomicUsize,
}

/// A caller: its prepared INVITEs, one call after another (a cache line of its own).
#[repr(align(64))]
pub(crate) struct CallerPhone {
    pub(crate) invites: Vec<Bytes>,
    pub(crate) next: AtomicUsize,
    /// Calls answered so far (the first 2xx of a call is answered, a resent one only ACKed).
    pub(crate) answered: AtomicUsize,
}

/// What every shard thread shares: the inboxes and the phones.
pub(crate) struct World {
    pub(crate) inboxes: Vec<Inbox>,
    pub(crate) reg_phones: Vec<RegPhone>,
    pub(crate) callers: Vec<CallerPhone>,
    /// Ops to do in all, and done so far; `finished` is told when all are done.
    pub(crate) total: u64,
    pub(crate) done: AtomicU64,
    pub(crate) finished: Mutex<Option<std::sync::mpsc::Sender<Instant>>>,
    /// Final responses the phones saw: REGISTER 200, INVITE 200, BYE 200, anything else.
    pub(crate) register_ok: AtomicU64,
    pub(crate) invite_ok: AtomicU64,
    pub(crate) bye_ok: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// 2xx to an INVITE the server sent again (the ACK came after T1).
    pub(crate) resent_2xx: AtomicU64,
    /// `TRACE=1`: print what the shards send (for a small run).
    trace: bool,
}

impl World {
    pub(crate) fn new(
        count: usize,
        reg_phones: Vec<RegPhone>,
        callers: Vec<CallerPhone>,
        total: u64,
        finished: std::sync::mpsc::Sender<Instant>,
    ) -> Self {
        Self {
            inboxes: (0..count).map(|_| Inbox::default()).collect(),
            reg_phones,
            callers,
            total,
            done: AtomicU64::new(0),
            finished: Mutex::new(Some(finished)),
            register_ok: AtomicU64::new(0),
            invite_ok: AtomicU64::new(0),
            bye_ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            resent_2xx: AtomicU64::new(0),
            trace: std::env::var_os("TRACE").is_some(),
        }
    }

    /// A phone at `remote` sends `data` now: into the inbox of the shard the kernel picks.
    pub(crate) fn send_now(&self, remote: SocketAddr, data: Bytes) {
        // a first REGISTER or INVITE: nothing of ours in it to steer by
        let to = kernel_shard(false, remote, &data, self.inboxes.len());
        self.inboxes[to].push(Item::Datagram(data, peer(remote)));
    }

    fn ops_done(&self, n: u64) {
        if self.done.fetch_add(n, Relaxed) + n == self.total {
            if let Some(tx) = self.finished.lock().expect("lock").take() {
                let _ = tx.send(Instant::now());
            }
        }
    }

    /// The server sent `payload` to `to`: the phone there reads it, and what it sends goes to
    /// `out`.
    pub(crate) fn deliver(&self, to: SocketAddr, payload: Bytes, out: &mut Sends) {
        if self.trace {
            eprintln!("-> {to}\n{}", String::from_utf8_lossy(&payload));
        }
        let SocketAddr::V4(a) = to else { return };
        let ip = a.ip().octets();
        let i = usize::from(a.port() - PORT_BASE);
        if ip == REG_IP {
            self.register_answer(i, to, &payload, out);
        } else if ip == CALLER_IP {
            self.caller_receives(i, to, payload, out);
        } else if ip == CALLEE_IP {
            self.callee_receives(to, payload, out);
        }
    }

    fn register_answer(&self, i: usize, to: SocketAddr, payload: &[u8], out: &mut Sends) {
        if !payload.starts_with(b"SIP/2.0 200 ") {
            self.failed.fetch_add(1, Relaxed);
            return;
        }
        out.register_ok += 1;
        out.done += 1;
        let phone = &self.reg_phones[i];
        if let Some(next) = phone.requests.get(phone.next.fetch_add(1, Relaxed)) {
            out.send(to, next.clone());
        }
    }

    fn next_call(&self, i: usize, to: SocketAddr, out: &mut Sends) {
        let phone = &self.callers[i];
        if let Some(next) = phone.invites.get(phone.next.fetch_add(1, Relaxed)) {
            out.send(to, next.clone());
        }
    }

    fn caller_receives(&self, i: usize, me: SocketAddr, payload: Bytes, out: &mut Sends) {
        if payload.starts_with(b"SIP/2.0 1") {
            return;
        }
        let Ok(m) = Message::parse(payload) else {
            self.failed.fetch_add(1, Relaxed);
            return;
        };
        let method = m.cseq().map(|c| c.method).ok();
        match (m.status(), method) {
            (Some(200), Some(Method::Invite)) => {
                // every 2xx is ACKed; the first one also hung up at once. The server resends
                // its 2xx when the ACK takes longer than T1 (a loaded machine)
                out.send(me, in_dialog(&m, Method::Ack, me, 1, "a"));
                let k = m
                    .call_id()
                    .and_then(|c| c.split(['-', '@']).nth(1)?.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                if self.callers[i].answered.fetch_max(k + 1, Relaxed) <= k {
                    out.invite_ok += 1;
                    out.send(me, in_dialog(&m, Method::Bye, me, 2, "b"));
                } else {
                    out.resent_2xx += 1;
                }
            }
            (Some(200), Some(Method::Bye)) => {
                out.bye_ok += 1;
                out.done += 1;
                self.next_call(i, me, out);
            }
            _ => {
                self.failed.fetch_add(1, Relaxed);
                self.next_call(i, me, out);
            }
        }
    }

    fn callee_receives(&self, me: SocketAddr, payload: Bytes, out: &mut Sends) {
        let Ok(req) = Message::parse(payload) else {
            self.failed.fetch_add(1, Relaxed);
            return;
        };
        let tag = format!(
            "bt{:x}",
            sip_message::shard::hash(req.call_id().unwrap_or("").as_bytes())
        );
        let contact = format!("<sip:callee@{me}>");
        match req.method() {
            Some(Method::Invite) => {
                out.send(
                    me,
                    MessageBuilder::response_to(&req, 100, None, None).finish(),
                );
                let mut b = MessageBuilder::response_to(&req, 180, Some(&tag), None);
                b.header("Contact", &contact);
                out.send(me, b.finish());
                let mut b = MessageBuilder::response_to(&req, 200, Some(&tag), None);
                b.header("Contact", &contact);
                out.send(me, b.finish_with_body("application/sdp", SDP.as_bytes()));
            }
            Some(Method::Ack) => {}
            Some(Method::Bye) => {
                out.send(
                    me,
                    MessageBuilder::response_to(&req, 200, None, None).finish(),
                );
            }
            _ => {
                self.failed.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The caller's ACK or BYE in the dialog a 200 to its INVITE set up.
fn in_dialog(ok: &Message, method: Method, me: SocketAddr, cseq: u32, b: &str) -> Bytes {
    let target = match ok.contacts() {
        Ok(Some(sip_message::ContactList::Contacts(c))) => c[0].0.uri.as_str().to_owned(),
        _ => format!("sip:{}:{}", std::net::Ipv4Addr::from(SERVER.0), SERVER.1),
    };
    let call_id = ok.call_id().unwrap_or("");
    let branch = sip_message::shard::hash(call_id.as_bytes());
    let mut m = MessageBuilder::request(&method, &target);
    m.header(
        "Via",
        format_args!("SIP/2.0/UDP {me};branch=z9hG4bK{b}{branch:x};rport"),
    )
    .header("Max-Forwards", 70)
    .header("From", ok.header(&HeaderName::From).unwrap_or(""))
    .header("To", ok.header(&HeaderName::To).unwrap_or(""))
    .header("Call-ID", call_id)
    .header("CSeq", format_args!("{cseq} {}", method.as_str()));
    m.finish()
}

/// A REGISTER of `login` from `me`, with `auth` when given.
pub(crate) fn register_request(
    login: &str,
    me: SocketAddr,
    cseq: usize,
    auth: Option<&str>,
) -> Bytes {
    let mut b = MessageBuilder::request(&Method::Register, &format!("sip:{DOMAIN}"));
    b.header(
        "Via",
        format_args!("SIP/2.0/UDP {me};branch=z9hG4bK{login}x{cseq};rport"),
    )
    .header("Max-Forwards", 70)
    .header("From", format_args!("<sip:{login}@{DOMAIN}>;tag=r{cseq}"))
    .header("To", format_args!("<sip:{login}@{DOMAIN}>"))
    .header("Call-ID", format_args!("reg-{login}@bench"))
    .header("CSeq", format_args!("{cseq} REGISTER"))
    .header("Contact", format_args!("<sip:{login}@{me}>"))
    .header("Expires", 3600)
    .header("User-Agent", "bench/1");
    if let Some(a) = auth {
        b.header("Authorization", a);
    }
    b.finish()
}

/// A fresh MD5 nonce for `login`, from the registrar's challenge to a REGISTER without
/// credentials.
fn nonce(reg: &mut Registrar, login: &str, me: SocketAddr) -> String {
    let req = Message::parse(register_request(login, me, 1, None)).expect("parses");
    let out = reg.handle_register(Instant::now(), &Register::new(&req), peer(me), None);
    assert_eq!(out.status(), 401);
    let resp = Message::parse(out.response).expect("parses");
    let nonce = resp
        .header_values(&HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v).expect("challenge parses"))
        .find(|c| c.algorithm.as_deref() == Some("MD5"))
        .expect("an MD5 challenge")
        .nonce
        .into_owned();
    nonce
}

/// `count` authenticated REGISTERs of `account` from `me` (a new nonce every
/// [`NC_PER_NONCE`]).
pub(crate) fn prepared_registers(
    reg: &mut Registrar,
    account: &Account,
    me: SocketAddr,
    count: usize,
) -> Vec<Bytes> {
    let login = &account.login;
    let uri = format!("sip:{DOMAIN}");
    let mut out = Vec::with_capacity(count);
    let mut nonce_ = String::new();
    for k in 0..count {
        if k % NC_PER_NONCE == 0 {
            nonce_ = nonce(reg, login, me);
        }
        let nc = format!("{:08x}", k % NC_PER_NONCE + 1);
        let cnonce = format!("c{k:x}");
        let params = ResponseParams {
            method: "REGISTER",
            uri: &uri,
            nonce: &nonce_,
            qop_auth: Some((&nc, &cnonce)),
        };
        let response = digest::response(Algorithm::Md5, &account.ha1.md5, &params);
        let auth = format!(
            "Digest username=\"{login}\", realm=\"{REALM}\", nonce=\"{nonce_}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
        );
        out.push(register_request(login, me, k + 2, Some(&auth)));
    }
    out
}

/// The caller's `k`th INVITE to its callee: its Call-ID (a peer's: hashed by the shards) one
/// that shard `i % count` owns, unless `SPREAD_CALLERS=1`.
pub(crate) fn invite(i: usize, k: usize, count: usize) -> Bytes {
    let me = addr(CALLER_IP, PORT_BASE + i as u16);
    let mut call_id = format!("c{i}-{k}@bench");
    // each caller's calls owned by one shard (see the module doc of main.rs)
    if !std::env::var("SPREAD_CALLERS").is_ok_and(|v| v == "1") {
        let mut j = 0;
        while sip_message::shard::index(&call_id, count) != i % count {
            j += 1;
            call_id = format!("c{i}-{k}-{j}@bench");
        }
    }
    let mut b = MessageBuilder::request(&Method::Invite, &format!("sip:b{i}@{DOMAIN}"));
    b.header(
        "Via",
        format_args!("SIP/2.0/UDP {me};branch=z9hG4bKi{i}-{k};rport"),
    )
    .header("Max-Forwards", 70)
    .header("From", format_args!("<sip:a{i}@{DOMAIN}>;tag=at{i}-{k}"))
    .header("To", format_args!("<sip:b{i}@{DOMAIN}>"))
    .header("Call-ID", &call_id)
    .header("CSeq", "1 INVITE")
    .header("Contact", format_args!("<sip:a{i}@{me}>"));
    b.finish_with_body("application/sdp", SDP.as_bytes())
}
