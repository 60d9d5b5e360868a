//! The dispatcher: the one task that calls the sans-IO cores. It owns the transaction layer,
//! the registrar, the call engine and the drivers of presence and messaging, feeds them inbound
//! messages, time and the answers of spawned work, and carries their outputs to the transports
//! and the storage writer.
//!
//! Request pipeline (Kamailio's order): sanity (done by the transport) → transaction layer
//! (retransmissions, CANCEL, ACK) → SUBSCRIBE and PUBLISH (new or in-dialog) → proxy auth →
//! presence ([`crate::presence_io`]) → other in-dialog requests (To tag) → the B2BUA's
//! dialogs → method dispatch: REGISTER → auth → registrar (then stored messages for a device
//! that registered); INVITE → proxy auth (trusted peers by IP skip it) → B2BUA; MESSAGE →
//! proxy auth (trusted peers skip it) → messaging ([`crate::messaging_io`]); OPTIONS → 200;
//! anything else → 405 with Allow.
//!
//! Responses, timeouts and transport errors of client transactions go to the TU that started
//! them — presence (NOTIFYs), messaging (forwarded MESSAGEs) or the B2BUA — found with one
//! lookup in the key → TU map the requests were recorded in when they were sent
//! ([`crate::tu`]); a key in no entry is dropped.

mod auth;
mod cluster;
mod domain;
mod edge;
mod flows;
mod guard;
mod lifecycle;
mod messages;
mod misses;
mod operator;
mod shard;
mod voicemail;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use b2bua::{CallEvent, Caller, Calls};
use messaging::SystemCommands;
use registrar::{AuthKind, AuthRejection, Presented, Register, RegisterError, Registrar};
use sip_message::{Message, MessageBuilder, Method, Peer};
use sip_transaction::{ClientKey, Event, ServerKey, TransactionLayer};
use store::{InstanceSeen, Store};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::account_cache::{AccountCache, CachedAccount};
use crate::calls::{Dir, Routing, TxOut};
use crate::messaging_io::{self, MessagingIo, Reach};
use crate::persist::Write;
use crate::presence_io::{self, PresenceIo};
use crate::push_io::{self, PushPoster, PushTokens};
use crate::transport::{Inbound, Transports};
use crate::tu::{Transactions, Tu};

const ALLOW: &str =
    "REGISTER, OPTIONS, INVITE, ACK, CANCEL, BYE, UPDATE, INFO, REFER, NOTIFY, SUBSCRIBE, PUBLISH, MESSAGE";
/// How long a cached account is trusted before it is read again from the database.
const ACCOUNT_TTL: Duration = Duration::from_secs(60);
/// A failed authentication against a cache entry older than this re-reads the account
/// (the operator may just have changed the password).
const ACCOUNT_RECHECK: Duration = Duration::from_secs(2);
/// How long a REGISTER waits for its account to be read before it is answered 503.
const ACCOUNT_FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Inputs of the dispatcher besides network messages and the drivers' completions (those come
/// on each driver's own channel: see [`Inboxes`]).
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "inputs are rare (account reads, relay events) and moved once; boxing buys nothing"
)]
pub(crate) enum Input {
    /// An account read from storage for a request that waits on it.
    /// `Err` carries the storage error's text: the request is answered 503, nothing cached.
    AccountFetched {
        login: String,
        account: Result<Option<store::Account>, String>,
        waiting: Waiting,
    },
    /// The media relay saw nothing of this call (B2BUA call id) for its inactivity timeout.
    MediaInactive(u64),
    /// The routing tables changed in storage: the new plan, gateways and ring groups.
    Routing(Box<(dialplan::DialPlan, Routing)>),
    /// The config was reloaded: the settings that apply live.
    Reload(Box<crate::reload::LiveSettings>),
    /// SIGTERM/SIGINT: end the calls, refuse new work, return from `run` once drained.
    Shutdown,
    /// Accounts changed in storage ([`crate::account_sync`]); `done` are told once applied.
    Accounts {
        changed: crate::account_sync::Reloaded,
        done: Vec<tokio::sync::oneshot::Sender<()>>,
    },
    /// Another core shard's presence publication changed (`shards.rs`): kept here as a remote
    /// publication, this shard's watchers notified.
    Publication(store::PublicationChange),
    /// `login` registered `binding` on its own shard, and a call parked on this shard waits
    /// for it ([`crate::shards::Awaited`]).
    Registered {
        login: String,
        binding: Box<registrar::Binding>,
    },
    /// A device at `ip` registered on another shard until `until`: its address gets the
    /// registered devices' source rate here too (`flood.rs`).
    SourceRegistered { ip: IpAddr, until: Instant },
    /// Another shard throttled `ip` for failed authentications until `until`: dropped here too
    /// (`security.rs`), whichever shard its requests reach.
    SourceThrottled { ip: IpAddr, until: Instant },
    /// The credit of this shard's call ran out: found by another shard's turn of the shared
    /// credit core's timer (an account's calls may be on several shards).
    CreditCut(u64),
}

/// The receiving ends of the channels that feed the dispatcher besides the network: its own
/// [`Input`]s and each driver's completions. Each channel is FIFO; the dispatcher reads them
/// in no fixed order between channels, and nothing depends on one: a driver's completions
/// only touch that driver's state (or, for push, the call engine's parked call).
pub(crate) struct Inboxes {
    /// Datagrams another shard read and handed over unparsed (never one with one shard).
    pub(crate) handed: mpsc::Receiver<crate::shards::Datagram>,
    pub(crate) inputs: mpsc::UnboundedReceiver<Input>,
    /// Buddy lists and voicemail counts the presence core asked for.
    pub(crate) presence: mpsc::UnboundedReceiver<presence_io::Fetched>,
    /// The messaging core's database and hook operations that finished.
    pub(crate) messaging: mpsc::UnboundedReceiver<messaging_io::Done>,
    /// Failed push posts and push tokens changed outside SIP.
    pub(crate) push: mpsc::UnboundedReceiver<push_io::Report>,
    /// The operator's questions and commands (admin API).
    pub(crate) operator: mpsc::UnboundedReceiver<crate::operator::CoreRequest>,
    /// The other nodes' binding changes (`[cluster]`; never a message without it).
    pub(crate) cluster: mpsc::UnboundedReceiver<crate::cluster::Update>,
}

/// A request (REGISTER, INVITE, SUBSCRIBE, PUBLISH, MESSAGE) waiting for its account to be
/// read.
#[derive(Debug)]
pub(crate) struct Waiting {
    key: ServerKey,
    msg: Message,
    from: Peer,
    /// Second attempt after a fresh read: never fetch again.
    refetched: bool,
}

pub(crate) struct Dispatcher {
    /// The transaction layer, with the TU of each client transaction (`tu.rs`).
    tx: Transactions,
    registrar: Registrar,
    transports: Transports,
    store: Store,
    writes: mpsc::UnboundedSender<Write>,
    inputs: mpsc::UnboundedSender<Input>,
    /// The account cache, shared by every shard (`account_cache.rs`).
    accounts: AccountCache,
    /// The registrar's realm: stored HA1 values are for one realm.
    realm: String,
    calls: Calls,
    routing: Routing,
    presence: PresenceIo,
    messaging: MessagingIo,
    trusted: Vec<IpAddr>,
    /// The call-control API's agent (`api/agent.rs`): trusted like a peer, by exact address.
    api_agent: Option<SocketAddr>,
    udp_locals: Vec<SocketAddr>,
    /// How a trusted peer's MESSAGE is known to be a system command (never pushed).
    system_commands: SystemCommands,
    push_tokens: PushTokens,
    push: Option<PushPoster>,
    /// The built-in voicemail service, when it runs (`voicemail_service.rs`).
    voicemail: Option<crate::voicemail_service::Builtin>,
    /// Shutting down: calls ended, new requests refused (`lifecycle.rs`).
    draining: bool,
    /// Account reads in flight (requests waiting on them).
    fetching: usize,
    /// The monotonic clock paired with the wall clock: conversions for rows, the cluster's
    /// records and push-token times (`clock.rs`).
    epoch: sip_message::Epoch,
    /// Sources throttled for failed authentications (`guard.rs`).
    auth_throttle: crate::security::AuthThrottle,
    /// The logins cached as unknown, bounded (`misses.rs`).
    misses: misses::Misses,
    /// Requests per source per second (`edge.rs`).
    flood: crate::flood::SourceLimiter,
    /// The host of relayed URIs (`domain.rs`).
    domain: domain::Domain,
    /// Prepaid billing, when on (`billing_io.rs`): its cut-off deadline and the charges.
    credit: Option<crate::billing_io::CreditHandle>,
    /// `[cluster]`: the other nodes' bindings and the relay to ours (`dispatcher/cluster.rs`).
    cluster: Option<crate::cluster::Node>,
    /// The other core shards, when there are several (`shards.rs`, `dispatcher/shard.rs`).
    siblings: Option<crate::shards::Siblings>,
}

impl Dispatcher {
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one module or channel the dispatcher owns; a parameter struct would only rename them"
    )]
    pub(crate) fn new(
        tx: TransactionLayer,
        registrar: Registrar,
        transports: Transports,
        store: Store,
        writes: mpsc::UnboundedSender<Write>,
        inputs: mpsc::UnboundedSender<Input>,
        accounts: AccountCache,
        calls: Calls,
        routing: Routing,
        presence: PresenceIo,
        messaging: MessagingIo,
        trusted: Vec<IpAddr>,
    ) -> Self {
        let realm = registrar.config().realm.clone();
        Self {
            tx: Transactions::new(tx),
            registrar,
            transports,
            store,
            writes,
            inputs,
            accounts,
            realm,
            calls,
            routing,
            presence,
            messaging,
            trusted,
            api_agent: None,
            udp_locals: Vec::new(),
            system_commands: SystemCommands::default(),
            push_tokens: PushTokens::default(),
            push: None,
            voicemail: None,
            draining: false,
            fetching: 0,
            epoch: crate::clock::epoch(),
            auth_throttle: crate::security::AuthThrottle::new(
                (&ferroswitch_config::SecuritySettings::default()).into(),
            ),
            misses: misses::Misses::default(),
            flood: edge::default_limiter(),
            domain: domain::Domain::default(),
            credit: None,
            cluster: None,
            siblings: None,
        }
    }

    /// One of several core shards: its links to the others.
    pub(crate) fn with_siblings(mut self, siblings: crate::shards::Siblings) -> Self {
        self.siblings = Some(siblings);
        self
    }

    /// The server's one [`sip_message::Epoch`] (`server.rs`), shared with the storage writer.
    pub(crate) fn with_epoch(mut self, epoch: sip_message::Epoch) -> Self {
        self.epoch = epoch;
        self
    }

    /// Prepaid billing: the same handle the call engine holds as its `CreditControl`.
    pub(crate) fn with_credit(mut self, credit: crate::billing_io::CreditHandle) -> Self {
        self.credit = Some(credit);
        self
    }

    /// Push wake-up: the stored tokens and the hook poster.
    pub(crate) fn with_push(mut self, tokens: PushTokens, poster: PushPoster) -> Self {
        self.push_tokens = tokens;
        self.push = Some(poster);
        self
    }

    /// The call-control API's agent socket: its INVITEs act for the login in From, like a
    /// trusted peer's (docs/api.md).
    pub(crate) fn with_api_agent(mut self, agent: Option<SocketAddr>) -> Self {
        self.api_agent = agent;
        self
    }

    /// Whether requests from `from` skip authentication: a trusted peer by IP, or the API agent.
    pub(super) fn trusted_source(&self, from: &Peer) -> bool {
        self.trusted_address(from.remote)
    }

    /// [`Self::trusted_source`] by the peer's address alone.
    pub(super) fn trusted_address(&self, remote: SocketAddr) -> bool {
        self.trusted.contains(&remote.ip()) || self.api_agent == Some(remote)
    }

    /// How system commands from trusted peers are recognised.
    pub(crate) fn with_system_commands(mut self, s: SystemCommands) -> Self {
        self.system_commands = s;
        self
    }

    /// Runs until aborted at shutdown. UDP sockets (with their local addresses) are read
    /// here, in the dispatcher task itself, so a datagram reaches the transaction layer without a
    /// channel hop or a task wake-up; TCP/TLS connections feed `net`.
    pub(crate) async fn run(
        mut self,
        udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
        mut net: mpsc::Receiver<Inbound>,
        inboxes: Inboxes,
    ) {
        let Inboxes {
            mut handed,
            mut inputs,
            presence: mut fetched,
            messaging: mut done,
            push: mut reports,
            mut operator,
            cluster: mut cluster_updates,
        } = inboxes;
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // arms the registrar's purge
        self.registrar.handle_timeout(Instant::now());
        let mut batch = Vec::with_capacity(256);
        let mut datagrams = Vec::with_capacity(256);
        let mut handed_open = true;
        let mut buf = vec![0u8; 65_536];
        let mut net_open = true;
        let (udp, locals): (Vec<_>, Vec<_>) = udp.into_iter().unzip();
        self.udp_locals = locals.clone();
        self.cluster_first_snapshot(&mut cluster_updates).await;
        // One timer for the cores' deadline, moved only when the deadline moves: a fresh
        // `sleep_until` per loop turn would enter and leave tokio's timer wheel per message.
        let timer = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(timer);
        let all_drained = self.siblings.as_ref().map(|s| s.drained.clone());
        let mut counted = false;
        let mut armed: Option<tokio::time::Instant> = None;
        loop {
            let deadline = [
                self.tx.poll_timeout(),
                self.registrar.poll_timeout(),
                self.calls.poll_timeout(),
                self.presence.poll_timeout(),
                self.messaging.poll_timeout(),
                self.credit.as_ref().and_then(|c| c.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min()
            .map(tokio::time::Instant::from_std);
            if let Some(d) = deadline {
                // an earlier deadline moves the timer at once; a later one only by more than a
                // millisecond (presence converts its wall-clock deadline anew at every turn)
                if armed.is_none_or(|a| d < a || d - a > Duration::from_millis(1)) {
                    timer.as_mut().reset(d);
                    armed = Some(d);
                }
            }
            tokio::select! {
                i = udp_readable(&udp) => {
                    let now = Instant::now();
                    // drain what is queued, bounded so timers and other inputs get their turn
                    for _ in 0..UDP_BURST {
                        match udp[i].try_recv_from(&mut buf) {
                            Ok((n, remote)) => {
                                if !self.datagram_admitted(now, &buf[..n], remote.ip()) { continue; }
                                // a datagram of another shard's transaction or dialog goes there
                                // unparsed, once
                                self.datagram_read(now, i, &udp[i], locals[i], &buf[..n], remote);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            // ICMP errors from earlier sends surface here; keep serving
                            Err(e) => tracing::debug!(local = %locals[i], "UDP receive error: {e}"),
                        }
                    }
                }
                n = net.recv_many(&mut batch, 256), if net_open => {
                    if n == 0 {
                        // no TCP/TLS listener (or all gone): UDP alone keeps the dispatcher alive
                        net_open = false;
                        if udp.is_empty() { break; }
                        continue;
                    }
                    let now = Instant::now();
                    for inbound in batch.drain(..) {
                        // a datagram here was handed over by the shard that read it, and counted there
                        if inbound.msg.is_request() && inbound.from.transport != sip_message::Transport::Udp
                            && !self.source_admitted(now, inbound.from.remote.ip()) { continue; }
                        self.owned_message(now, inbound);
                    }
                }
                n = handed.recv_many(&mut datagrams, 256), if handed_open => {
                    handed_open = n > 0;
                    self.handed_datagrams(Instant::now(), &udp, &locals, &mut datagrams);
                }
                Some(input) = inputs.recv() => {
                    let now = Instant::now();
                    self.handle_input(now, input);
                    self.drain(now);
                }
                Some(f) = fetched.recv() => {
                    let now = Instant::now();
                    self.voicemail_push(&f);
                    self.presence.fetched(&mut self.tx, now, f);
                    self.drain(now);
                }
                Some(d) = done.recv() => {
                    let now = Instant::now();
                    self.messaging_done(now, d);
                    self.drain(now);
                }
                Some(r) = reports.recv() => {
                    let now = Instant::now();
                    self.push_report(now, r);
                    self.drain(now);
                }
                Some(u) = cluster_updates.recv() => {
                    let now = Instant::now();
                    self.cluster_update(now, u);
                    self.drain(now);
                }
                Some(r) = operator.recv() => {
                    let now = Instant::now();
                    self.operator_request(now, r);
                    self.drain(now);
                }
                () = timer.as_mut(), if deadline.is_some() => {
                    armed = None;
                    let now = Instant::now();
                    self.tx.handle_timeout(now);
                    self.registrar_timeout(now);
                    self.calls.handle_timeout(now, &mut TxOut { tx: &mut self.tx, tu: Tu::Calls, now });
                    self.presence.handle_timeout(&mut self.tx, now);
                    self.messaging_timeout(now);
                    if let Some(credit) = self.credit.clone() {
                        for id in credit.handle_timeout(now) {
                            self.credit_cut(now, id);
                        }
                    }
                    self.drain(now);
                }
                // (only once this shard has drained: a `Notify` polled every turn cost ~230
                // instructions a turn)
                () = crate::shards::Drained::changed(all_drained.as_deref()), if counted => {}
                _ = gauges.tick() => crate::metrics::dispatcher_gauges(
                    self.siblings.as_ref().map_or(0, |s| s.index),
                    self.registrar.location(), &self.calls, self.tx.len(), Instant::now()),
            }
            if self.drained() {
                // with shards, every shard keeps reading its socket until all have drained
                let all = match &all_drained {
                    None => true,
                    Some(d) => {
                        let first_time = !counted;
                        counted = true;
                        d.done(first_time, self.shard_count())
                    }
                };
                if all {
                    tracing::info!("dispatcher drained");
                    break;
                }
            }
        }
    }

    /// Carries events and transmits out of the transaction layer.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.tx.poll_event() {
                progressed = true;
                self.handle_event(now, ev);
            }
            while let Some(t) = self.tx.poll_transmit() {
                progressed = true;
                self.transmit(t);
            }
            while let Some(ev) = self.calls.poll_event() {
                match ev {
                    CallEvent::Cdr(cdr) => {
                        tracing::info!(call_id = %cdr.call_id, caller = %cdr.caller, callee = %cdr.callee, status = cdr.final_code, route = %cdr.route, duration_ms = cdr.duration_ms(), hangup_by = cdr.hangup_by.as_str(), wakeup_ms = cdr.wakeup_ms, "call ended");
                        crate::metrics::call_ended(&cdr);
                        let charge = self
                            .credit
                            .as_ref()
                            .and_then(|c| c.take_charge(&cdr.call_id));
                        let _ = self.writes.send(match charge {
                            Some(charge) => Write::RatedCdr(Box::new((cdr, charge))),
                            None => Write::Cdr(Box::new(cdr)),
                        });
                    }
                    CallEvent::Push(p) => {
                        self.awaits_elsewhere(&p.callee);
                        if let Some(node) = &self.cluster {
                            // the other nodes relay a pick-up of a call parked here to us
                            node.announce_park(&p.call_id, p.kind == b2bua::PushKind::IncomingCall);
                        }
                        match &self.push {
                            Some(poster) => poster.post(p),
                            None => {
                                tracing::debug!(call = p.call, "push event without a push hook")
                            }
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn handle_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::Request { key, request, from } => self.handle_request(now, key, request, from),
            Event::Ack { request, .. } => {
                let mut out = TxOut {
                    tx: &mut self.tx,
                    tu: Tu::Calls,
                    now,
                };
                if !self.calls.ack(now, request, &mut out) {
                    tracing::debug!("ACK outside any call");
                }
            }
            Event::Cancelled { invite, .. } => {
                let mut out = TxOut {
                    tx: &mut self.tx,
                    tu: Tu::Calls,
                    now,
                };
                if !self.calls.cancelled(now, invite, &mut out) {
                    tracing::debug!(?invite, "CANCEL for an INVITE already answered");
                }
            }
            Event::Response { key, response, .. } => {
                self.client_answer(now, key, Answer::Response(response));
            }
            // no final response: as a 408 (RFC 3261 §8.1.3.1)
            Event::Timeout { key } => self.client_answer(now, key, Answer::Timeout),
            Event::AckTimeout { key } => self.calls.ack_timeout(key),
            ev @ Event::TransportError { .. } => self.transport_error(now, ev),
        }
    }

    /// An answer of a client transaction, to the TU that started it (one lookup in the key
    /// → TU map; the answer that ends the transaction removes its key).
    fn client_answer(&mut self, now: Instant, key: ClientKey, answer: Answer) {
        let status = match &answer {
            Answer::Response(r) => r.status().unwrap_or(0),
            Answer::Timeout => 408,
            Answer::TransportError => 503,
        };
        let Some(tu) = self.tx.owner(now, key, status) else {
            tracing::debug!(
                ?key,
                status,
                "answer of a client transaction no TU started: dropped"
            );
            return;
        };
        match tu {
            Tu::Presence => {
                if !self.presence.response(&mut self.tx, now, key, status) {
                    tracing::debug!(?key, status, "answer for no NOTIFY");
                }
            }
            Tu::Messaging => self.messaging_response(now, key, status),
            Tu::Calls => {
                let mut out = TxOut {
                    tx: &mut self.tx,
                    tu: Tu::Calls,
                    now,
                };
                let known = match answer {
                    Answer::Response(r) => self.calls.response(now, key, r, &mut out),
                    Answer::Timeout => self.calls.timeout(now, key, &mut out),
                    Answer::TransportError => self.calls.transport_error(now, key, &mut out),
                };
                if !known {
                    tracing::debug!(?key, status, "answer for no call");
                }
            }
        }
    }

    fn handle_request(&mut self, now: Instant, key: ServerKey, msg: Message, from: Peer) {
        let waiting = |msg| Waiting {
            key,
            msg,
            from,
            refetched: false,
        };
        let in_dialog = msg.to_tag().is_some();
        if !in_dialog && self.refuse_while_draining(now, &key, &msg, from) {
            return;
        }
        if !in_dialog && self.refuse_bad_extension(now, &key, &msg, from) {
            return;
        }
        // presence owns its dialogs: SUBSCRIBE refreshes and PUBLISH never reach the B2BUA
        if matches!(msg.method(), Some(Method::Subscribe | Method::Publish)) {
            return self.authenticated(now, waiting(msg));
        }
        if in_dialog && !matches!(msg.method(), Some(Method::Register | Method::Options)) {
            let mut out = TxOut {
                tx: &mut self.tx,
                tu: Tu::Calls,
                now,
            };
            if !self.calls.in_dialog(now, key, &msg, from, &mut out) {
                let b = MessageBuilder::response_to(&msg, 481, None, Some(from.remote));
                self.respond(now, &key, b.finish());
            }
            return;
        }
        match msg.method() {
            Some(Method::Invite | Method::Message) => self.authenticated(now, waiting(msg)),
            Some(Method::Register) => self.register(now, waiting(msg)),
            Some(Method::Options) => {
                let mut b = MessageBuilder::response_to(
                    &msg,
                    200,
                    Some(&self.answer_tag(&msg)),
                    Some(from.remote),
                );
                b.header("Allow", ALLOW)
                    .header("Accept", "application/sdp")
                    .header("Allow-Events", "presence, message-summary")
                    .header("Supported", guard::SUPPORTED)
                    .server();
                self.respond(now, &key, b.finish());
            }
            _ => {
                let mut b = MessageBuilder::response_to(
                    &msg,
                    405,
                    Some(&self.answer_tag(&msg)),
                    Some(from.remote),
                );
                b.header("Allow", ALLOW).server();
                self.respond(now, &key, b.finish());
            }
        }
    }

    fn respond(&mut self, now: Instant, key: &ServerKey, response: bytes::Bytes) {
        if let Err(e) = self.tx.respond(now, key, response) {
            tracing::debug!("response not sent: {e}");
        }
    }

    /// An authenticated (or trusted) INVITE: the B2BUA.
    fn invite(&mut self, now: Instant, w: Waiting, caller: Caller) {
        tracing::info!(
            call_id = w.msg.call_id().unwrap_or(""),
            caller = %caller.login,
            dialed = w.msg.request_uri().ok().and_then(|u| u.user).unwrap_or(""),
            transport = w.from.transport.as_str(),
            source = %w.from.remote,
            "call setup"
        );
        let dir = Dir {
            location: self.registrar.location(),
            now,
            wall_ms: self.epoch.wall(now),
            accounts: &self.accounts,
            routing: &self.routing,
            udp_locals: &self.udp_locals,
            push: &self.push_tokens,
            voicemail: self.voicemail.as_ref(),
            cluster: self.cluster.as_ref(),
        };
        let mut out = TxOut {
            tx: &mut self.tx,
            tu: Tu::Calls,
            now,
        };
        self.calls
            .invite(now, w.key, w.msg, w.from, caller, &dir, &mut out);
    }

    fn push_report(&mut self, now: Instant, report: push_io::Report) {
        match report {
            push_io::Report::Failed { call, instances } => {
                let mut out = TxOut {
                    tx: &mut self.tx,
                    tu: Tu::Calls,
                    now,
                };
                self.calls.push_failed(now, call, &instances, &mut out);
            }
            push_io::Report::Token(t) => self.push_tokens.apply(t),
        }
    }

    fn handle_input(&mut self, now: Instant, input: Input) {
        if matches!(input, Input::AccountFetched { .. }) {
            self.fetching = self.fetching.saturating_sub(1);
        }
        match input {
            Input::Reload(live) => self.apply_live(*live),
            Input::Shutdown => self.begin_shutdown(now),
            Input::Routing(tables) => {
                let (plan, routing) = *tables;
                self.calls.set_dial_plan(plan);
                self.routing = routing;
                tracing::debug!("routing tables swapped in");
            }
            Input::Accounts { changed, done } => {
                self.accounts_changed(now, changed);
                for d in done {
                    let _ = d.send(());
                }
            }
            Input::Publication(change) => self.sibling_publication(now, change),
            Input::SourceRegistered { ip, until } => {
                self.flood.registered(now, ip, until);
            }
            Input::SourceThrottled { ip, until } => self.auth_throttle.ban(now, ip, until),
            Input::Registered { login, binding } => self.sibling_registered(now, &login, *binding),
            Input::CreditCut(call) => self.credit_cut(now, call),
            Input::MediaInactive(call) => {
                let mut out = TxOut {
                    tx: &mut self.tx,
                    tu: Tu::Calls,
                    now,
                };
                self.calls.media_inactive(now, call, &mut out);
            }
            Input::AccountFetched {
                login,
                account: Ok(account),
                waiting,
            } => {
                self.cache_account(now, login, account);
                if waiting.msg.method() == Some(&Method::Register) {
                    self.register(now, waiting);
                } else {
                    self.authenticated(now, waiting);
                }
            }
            Input::AccountFetched {
                login,
                account: Err(e),
                waiting,
            } => {
                // The database is unreachable: say so and let the device retry later; keep
                // any cached entry rather than forgetting the account.
                tracing::error!(%login, "reading account failed, answering 503: {e}");
                let msg = &waiting.msg;
                let mut b = MessageBuilder::response_to(
                    msg,
                    503,
                    Some(&self.answer_tag(msg)),
                    Some(waiting.from.remote),
                );
                b.header("Retry-After", 5).server();
                self.respond(now, &waiting.key, b.finish());
            }
        }
    }
}

/// What ended (or continued) a client transaction, for [`Dispatcher::client_answer`].
#[allow(
    clippy::large_enum_variant,
    reason = "built and taken apart at once, never stored: the response stays inline"
)]
enum Answer {
    Response(Message),
    /// Timer B or F: as a 408.
    Timeout,
    /// The request could not be sent: as a 503.
    TransportError,
}

/// Most datagrams read from one socket before the loop looks at its other inputs.
const UDP_BURST: usize = 256;

/// Resolves with the index of a UDP socket that has a datagram queued; never, without sockets.
async fn udp_readable(socks: &[Arc<UdpSocket>]) -> usize {
    std::future::poll_fn(|cx| {
        for (i, s) in socks.iter().enumerate() {
            if s.poll_recv_ready(cx).is_ready() {
                return Poll::Ready(i);
            }
        }
        Poll::Pending
    })
    .await
}
