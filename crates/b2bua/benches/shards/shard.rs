//! One core shard on its own thread: the dispatcher's loop over its transaction layer,
//! registrar core and call table, fed from its inbox.

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use b2bua::{CallEvent, Caller, Calls, Directory, GatewayTarget, Outbox, RingGroupDef, Target};
use bytes::Bytes;
use registrar::{Account, Location, Register, Registrar};
use sip_message::{Message, MessageBuilder, Method, Peer};
use sip_transaction::{ClientKey, Event, ServerKey, TransactionLayer};

use crate::phones::{Item, Sends, World};

/// Inputs handled at one `now` before the timers get their turn (the dispatcher's UDP burst).
const BURST: usize = 64;

/// This thread's CPU time in ns.
fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| Duration::from(t).as_nanos() as u64)
        .expect("the thread's CPU clock")
}

/// The routing view of one shard: the shared location table and the accounts.
struct Dir<'a> {
    location: &'a Location,
    now: Instant,
    accounts: &'a HashMap<String, Account>,
}

impl Directory for Dir<'_> {
    fn contacts(&self, login: &str) -> Vec<Target> {
        self.location
            .lookup(login, self.now)
            .iter()
            .map(|b| Target {
                login: login.to_owned(),
                uri: b.contact.clone(),
                peer: b.source,
                instance: b.instance.clone(),
            })
            .collect()
    }
    fn account_exists(&self, login: &str) -> bool {
        self.accounts.contains_key(login)
    }
    fn gateway(&self, _: &str) -> Option<GatewayTarget> {
        None
    }
    fn ring_group(&self, _: &str) -> Option<RingGroupDef> {
        None
    }
    fn service(&self, _: &str) -> Option<Peer> {
        None
    }
    fn voicemail(&self, _: &str) -> Option<String> {
        None
    }
}

/// The call table's outbox over the shard's transaction layer (the server's `TxOut`).
struct TxOut<'a> {
    tx: &'a mut TransactionLayer,
    now: Instant,
}

impl Outbox for TxOut<'_> {
    fn respond(&mut self, key: &ServerKey, response: Bytes) {
        let _ = self.tx.respond(self.now, key, response);
    }
    fn send_request(&mut self, request: Message, to: Peer) -> Option<ClientKey> {
        self.tx.send_request(self.now, request, to).ok()
    }
    fn send_stateless(&mut self, payload: Bytes, to: Peer) {
        self.tx.send_stateless(payload, to);
    }
}

/// One core shard: its cores and its links.
pub(crate) struct Shard {
    pub(crate) index: usize,
    pub(crate) count: usize,
    pub(crate) tx: TransactionLayer,
    pub(crate) registrar: Registrar,
    pub(crate) calls: Calls,
    pub(crate) accounts: Arc<HashMap<String, Account>>,
    pub(crate) world: Arc<World>,
    pub(crate) report: ShardReport,
    /// What this shard sent to the phones in this round (a `sendmmsg` at its end).
    pub(crate) transmits: Vec<(SocketAddr, Bytes)>,
}

/// What a shard thread measured.
#[derive(Default)]
pub(crate) struct ShardReport {
    pub(crate) cpu_ns: u64,
    /// Messages handed to their owner.
    pub(crate) handoffs: u64,
    /// CPU time of the phones' code (and the kernel's: queueing their datagrams).
    pub(crate) phone_ns: u64,
    pub(crate) cdrs: u64,
    /// Times the shard found its inbox empty and slept.
    pub(crate) sleeps: u64,
}

impl ShardReport {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &ShardReport) {
        self.cpu_ns += other.cpu_ns;
        self.handoffs += other.handoffs;
        self.phone_ns += other.phone_ns;
        self.cdrs += other.cdrs;
        self.sleeps += other.sleeps;
    }
}

impl Shard {
    pub(crate) fn run(mut self, inbox: usize, start: &Barrier) -> ShardReport {
        self.registrar.handle_timeout(Instant::now());
        let world = self.world.clone();
        let mut batch = VecDeque::new();
        let mut sends = Sends::new(self.count);
        start.wait();
        let cpu = thread_cpu_ns();
        let mut stop = false;
        while !stop {
            if world.inboxes[inbox].take(&mut batch) {
                self.report.sleeps += 1;
            }
            while !batch.is_empty() {
                let now = Instant::now();
                for it in batch.drain(..BURST.min(batch.len())) {
                    match it {
                        Item::Datagram(data, from) => self.datagram(now, data, from),
                        Item::HandedRaw(data, from) => self.parsed(now, data, from),
                        Item::Handed(msg, from) => self.message(now, msg, from),
                        Item::Stop => stop = true,
                    }
                }
                self.timers(now);
                self.phones(&mut sends);
            }
        }
        self.report.cpu_ns = thread_cpu_ns() - cpu;
        sends.tally(&world);
        // the tables are dropped after the clock stopped
        std::mem::take(&mut self.report)
    }

    /// The phones read what this shard sent them in this round and send their next datagrams;
    /// the thread's CPU clock is read around them.
    fn phones(&mut self, sends: &mut Sends) {
        if self.transmits.is_empty() {
            return;
        }
        let cpu = thread_cpu_ns();
        for (to, payload) in self.transmits.drain(..) {
            self.world.deliver(to, payload, sends);
        }
        sends.flush(&self.world);
        self.report.phone_ns += thread_cpu_ns() - cpu;
    }

    /// A datagram read from this shard's socket: handed unparsed to its owner when the raw
    /// scan names another shard (the server's UDP loop), else parsed here.
    fn datagram(&mut self, now: Instant, data: Bytes, from: Peer) {
        // the server copies each datagram out of its receive buffer (`accept_datagram`); here
        // the copy also takes the phone's bytes out of the cache of the core that wrote them,
        // as the kernel's copy into the receive buffer would
        let data = Bytes::copy_from_slice(&data);
        if let Some(owner) = sip_message::shard::peek_owner(&data, self.count) {
            if owner != self.index {
                self.report.handoffs += 1;
                self.world.inboxes[owner].push(Item::HandedRaw(data, from));
                return;
            }
        }
        self.parsed(now, data, from);
    }

    /// Parses and checks a datagram; one the raw scan could not place goes to its owner now,
    /// parsed.
    fn parsed(&mut self, now: Instant, data: Bytes, from: Peer) {
        let Ok(msg) = Message::parse(data) else {
            self.world.failed.fetch_add(1, Relaxed);
            return;
        };
        if msg.sanity_check().is_err() {
            self.world.failed.fetch_add(1, Relaxed);
            return;
        }
        let owner = sip_message::shard::owner(&msg, self.count);
        if owner != self.index {
            self.report.handoffs += 1;
            self.world.inboxes[owner].push(Item::Handed(msg, from));
            return;
        }
        self.message(now, msg, from);
    }

    fn message(&mut self, now: Instant, msg: Message, from: Peer) {
        self.tx.handle_message(now, msg, from);
        self.drain(now);
    }

    fn timers(&mut self, now: Instant) {
        if self.tx.poll_timeout().is_some_and(|t| t <= now) {
            self.tx.handle_timeout(now);
        }
        if self.registrar.poll_timeout().is_some_and(|t| t <= now) {
            self.registrar.handle_timeout(now);
            while self.registrar.poll_event().is_some() {}
        }
        if self.calls.poll_timeout().is_some_and(|t| t <= now) {
            let mut out = TxOut {
                tx: &mut self.tx,
                now,
            };
            self.calls.handle_timeout(now, &mut out);
        }
        self.drain(now);
    }

    /// The dispatcher's `drain`: events to the cores, transmits to the phones.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.tx.poll_event() {
                progressed = true;
                self.event(now, ev);
            }
            while let Some(t) = self.tx.poll_transmit() {
                progressed = true;
                self.transmits.push((t.to.remote, t.payload));
            }
            while let Some(ev) = self.calls.poll_event() {
                progressed = true;
                if let CallEvent::Cdr(c) = ev {
                    self.report.cdrs += 1;
                    black_box(c);
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn event(&mut self, now: Instant, ev: Event) {
        let mut out = TxOut {
            tx: &mut self.tx,
            now,
        };
        match ev {
            Event::Request { key, request, from } => self.request(now, key, request, from),
            Event::Ack { request, .. } => {
                self.calls.ack(now, request, &mut out);
            }
            Event::Cancelled { invite, .. } => {
                self.calls.cancelled(now, invite, &mut out);
            }
            Event::Response { key, response, .. } => {
                self.calls.response(now, key, response, &mut out);
            }
            Event::Timeout { key } => {
                self.calls.timeout(now, key, &mut out);
            }
            Event::AckTimeout { key } => self.calls.ack_timeout(key),
            Event::TransportError { key } => {
                self.calls.transport_error(now, key, &mut out);
            }
        }
    }

    fn request(&mut self, now: Instant, key: ServerKey, msg: Message, from: Peer) {
        let in_dialog = msg.to_tag().is_some();
        match msg.method() {
            Some(Method::Register) => self.register(now, key, &msg, from),
            _ if in_dialog => {
                let mut out = TxOut {
                    tx: &mut self.tx,
                    now,
                };
                if !self.calls.in_dialog(now, key, &msg, from, &mut out) {
                    let b = MessageBuilder::response_to(&msg, 481, None, Some(from.remote));
                    out.respond(&key, b.finish());
                }
            }
            Some(Method::Invite) => {
                // a trusted peer: the From user is the caller
                let caller = Caller {
                    login: msg.from_user().map(|u| u.into_owned()).unwrap_or_default(),
                    display_name: None,
                    tech_prefix: Default::default(),
                    trusted: true,
                };
                let dir = Dir {
                    location: self.registrar.location(),
                    now,
                    accounts: &self.accounts,
                };
                let mut out = TxOut {
                    tx: &mut self.tx,
                    now,
                };
                self.calls
                    .invite(now, key, msg, from, caller, &dir, &mut out);
            }
            _ => {
                let b = MessageBuilder::response_to(&msg, 405, None, Some(from.remote));
                let _ = self.tx.respond(now, &key, b.finish());
            }
        }
    }

    /// The dispatcher's REGISTER path: the account named by the credentials, the registrar,
    /// its events (to storage in the server), the answer.
    fn register(&mut self, now: Instant, key: ServerKey, msg: &Message, from: Peer) {
        let reg = Register::new(msg);
        let account = reg
            .credentials
            .username()
            .filter(|_| {
                self.registrar
                    .credentials_worth_judging(now, &reg.credentials)
            })
            .and_then(|login| self.accounts.get(login));
        let outcome = self.registrar.handle_register(now, &reg, from, account);
        while let Some(ev) = self.registrar.poll_event() {
            black_box(ev);
        }
        let _ = if outcome.result.is_err() {
            self.tx.respond_and_forget(&key, outcome.response)
        } else {
            self.tx.respond(now, &key, outcome.response)
        };
    }
}
