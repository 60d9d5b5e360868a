//! A virtual network around the call engine: a real `TransactionLayer` as the outbox, a
//! driver loop like the server's, test UAs that build their messages with `sip_message`
//! only, and a virtual clock.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use b2bua::dialplan::{Action, DialPlan, Entry, TechPrefix};
use b2bua::{
    B2buaConfig, CallEvent, Caller, Calls, Cdr, Directory, GatewayTarget, Outbox, PushDevice,
    PushPolicy, PushRequest, RingGroupDef, Target,
};
use bytes::Bytes;
use sip_message::{HeaderName, Message, MessageBuilder, Method, Peer, Transport};
use sip_transaction::{ClientKey, Event, ServerKey, TimerConfig, TransactionLayer};

pub(crate) const SERVER: &str = "192.0.2.1:5060";
pub(crate) const ALICE: &str = "198.51.100.1:5060";
pub(crate) const BOB1: &str = "198.51.100.2:5060";
pub(crate) const BOB2: &str = "198.51.100.2:5062";
pub(crate) const CAROL: &str = "198.51.100.3:5060";
pub(crate) const DAVE: &str = "198.51.100.4:5060";
pub(crate) const GW1: &str = "203.0.113.1:5060";
pub(crate) const GW2: &str = "203.0.113.2:5060";
pub(crate) const VM: &str = "203.0.113.50:5080";

pub(crate) const SDP: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

pub(crate) fn peer(remote: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        remote: addr(remote),
        local: addr(SERVER),
        conn: None,
    }
}

#[derive(Default)]
pub(crate) struct TestDir {
    pub(crate) contacts: HashMap<String, Vec<Target>>,
    pub(crate) accounts: HashSet<String>,
    pub(crate) gateways: HashMap<String, GatewayTarget>,
    pub(crate) groups: HashMap<String, RingGroupDef>,
    pub(crate) voicemail: HashMap<String, String>,
    pub(crate) push: HashMap<String, Vec<PushDevice>>,
}

impl TestDir {
    pub(crate) fn register(&mut self, login: &str, remote: &str) {
        self.accounts.insert(login.to_owned());
        self.contacts
            .entry(login.to_owned())
            .or_default()
            .push(target(login, remote, None));
    }

    /// `login`'s device `instance` has a push token.
    pub(crate) fn token(&mut self, login: &str, instance: &str) {
        self.accounts.insert(login.to_owned());
        self.push
            .entry(login.to_owned())
            .or_default()
            .push(PushDevice {
                instance: instance.to_owned(),
                token: format!("tok-{instance}"),
                platform: "apns".into(),
                param: String::new(),
            });
    }

    pub(crate) fn gateway(&mut self, name: &str, remote: &str, caller_id: Option<&str>) {
        self.gateways.insert(
            name.to_owned(),
            GatewayTarget {
                name: name.to_owned(),
                host: remote.to_owned(),
                peer: peer(remote),
                caller_id: caller_id.map(str::to_owned),
                auth: None,
            },
        );
    }

    /// Gives gateway `name` trunk credentials.
    pub(crate) fn gateway_auth(&mut self, name: &str, username: &str, password: &str) {
        if let Some(g) = self.gateways.get_mut(name) {
            g.auth = Some(b2bua::GatewayAuth {
                username: username.to_owned(),
                password: password.to_owned(),
            });
        }
    }
}

impl Directory for TestDir {
    fn contacts(&self, login: &str) -> Vec<Target> {
        self.contacts.get(login).cloned().unwrap_or_default()
    }
    fn account_exists(&self, login: &str) -> bool {
        self.accounts.contains(login)
    }
    fn gateway(&self, name: &str) -> Option<GatewayTarget> {
        self.gateways.get(name).cloned()
    }
    fn ring_group(&self, login: &str) -> Option<RingGroupDef> {
        self.groups.get(login).cloned()
    }
    fn service(&self, uri: &str) -> Option<Peer> {
        uri.contains(VM).then(|| peer(VM))
    }
    fn voicemail(&self, login: &str) -> Option<String> {
        self.voicemail.get(login).cloned()
    }
    fn push_devices(&self, login: &str) -> Vec<PushDevice> {
        self.push.get(login).cloned().unwrap_or_default()
    }
}

/// A binding of `login` at `remote`.
pub(crate) fn target(login: &str, remote: &str, instance: Option<&str>) -> Target {
    Target {
        login: login.to_owned(),
        uri: format!("sip:{login}@{remote}"),
        peer: peer(remote),
        instance: instance.map(str::to_owned),
    }
}

struct Out<'a> {
    tx: &'a mut TransactionLayer,
    now: Instant,
}

impl Outbox for Out<'_> {
    fn respond(&mut self, key: &ServerKey, response: Bytes) {
        self.tx.respond(self.now, key, response).expect("respond");
    }
    fn send_request(&mut self, request: Message, to: Peer) -> Option<ClientKey> {
        Some(
            self.tx
                .send_request(self.now, request, to)
                .expect("send_request"),
        )
    }
    fn send_stateless(&mut self, payload: Bytes, to: Peer) {
        self.tx.send_stateless(payload, to);
    }
}

pub(crate) struct Net {
    pub(crate) tx: TransactionLayer,
    pub(crate) calls: Calls,
    pub(crate) dir: TestDir,
    pub(crate) now: Instant,
    /// Everything the server sent, not yet taken by a test UA.
    pub(crate) sent: Vec<(SocketAddr, Message)>,
    pub(crate) cdrs: Vec<Cdr>,
    pub(crate) pushes: Vec<PushRequest>,
    pub(crate) caller_login: String,
    /// Devices whose flow is gone: what is sent to them fails at once, as a driver reports.
    pub(crate) dead: HashSet<SocketAddr>,
    /// The caller's tech-prefix rules.
    pub(crate) caller_tech_prefix: TechPrefix,
}

impl Net {
    pub(crate) fn new(plan: Vec<Entry>) -> Self {
        Self::with_config(plan, B2buaConfig::default())
    }

    /// Every number a login, and push wake-up on (30 s timeout, 3 s delay).
    pub(crate) fn onnet_push() -> Self {
        let cfg = B2buaConfig {
            push: Some(PushPolicy::default()),
            ..B2buaConfig::default()
        };
        Self::with_config(vec![Entry::new("", 0, Action::UserLookup)], cfg)
    }

    pub(crate) fn with_config(plan: Vec<Entry>, cfg: B2buaConfig) -> Self {
        let now = Instant::now();
        let mut calls = Calls::new(cfg, 42, (now, 1_700_000_000_000));
        calls.set_dial_plan(DialPlan::new(plan));
        let mut dir = TestDir::default();
        dir.accounts.insert("alice".into());
        Self {
            tx: TransactionLayer::with_seed(TimerConfig::default(), 7),
            calls,
            dir,
            now,
            sent: Vec::new(),
            cdrs: Vec::new(),
            pushes: Vec::new(),
            caller_login: "alice".into(),
            dead: HashSet::new(),
            caller_tech_prefix: TechPrefix::default(),
        }
    }

    /// A plan where every number is a login.
    pub(crate) fn onnet() -> Self {
        Self::new(vec![Entry::new("", 0, Action::UserLookup)])
    }

    pub(crate) fn deliver(&mut self, text: &str, from: &str) {
        let msg = Message::parse(Bytes::from(text.to_owned())).expect("test UA message parses");
        self.tx.handle_message(self.now, msg, peer(from));
        self.pump();
    }

    pub(crate) fn deliver_msg(&mut self, bytes: Bytes, from: &str) {
        let msg = Message::parse(bytes).expect("test UA message parses");
        self.tx.handle_message(self.now, msg, peer(from));
        self.pump();
    }

    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        // step through every deadline on the way, like the driver's sleep loop
        loop {
            let next = [self.tx.poll_timeout(), self.calls.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.tx.handle_timeout(self.now);
                    let now = self.now;
                    self.calls.handle_timeout(
                        now,
                        &mut Out {
                            tx: &mut self.tx,
                            now,
                        },
                    );
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn pump(&mut self) {
        let now = self.now;
        loop {
            let mut progressed = false;
            while let Some(ev) = self.tx.poll_event() {
                progressed = true;
                let mut out = Out {
                    tx: &mut self.tx,
                    now,
                };
                match ev {
                    Event::Request { key, request, from } => {
                        let tagged = request.to_header().is_ok_and(|t| t.tag().is_some());
                        if tagged {
                            if !self.calls.in_dialog(now, key, &request, from, &mut out) {
                                let b = MessageBuilder::response_to(&request, 481, None, None);
                                out.respond(&key, b.finish());
                            }
                        } else {
                            assert_eq!(
                                request.method(),
                                Some(&Method::Invite),
                                "only INVITEs start calls"
                            );
                            let caller = Caller {
                                login: self.caller_login.clone(),
                                display_name: Some("Alice A".into()),
                                tech_prefix: self.caller_tech_prefix.clone(),
                                trusted: false,
                            };
                            self.calls
                                .invite(now, key, request, from, caller, &self.dir, &mut out);
                        }
                    }
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
            while let Some(t) = self.tx.poll_transmit() {
                progressed = true;
                if self.dead.contains(&t.to.remote) {
                    self.tx.handle_send_error(&t);
                    continue;
                }
                let m = Message::parse(t.payload).expect("the server sends parseable messages");
                self.sent.push((t.to.remote, m));
            }
            while let Some(ev) = self.calls.poll_event() {
                progressed = true;
                match ev {
                    CallEvent::Cdr(c) => self.cdrs.push(c),
                    CallEvent::Push(p) => self.pushes.push(p),
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// `login` registered a binding at `remote` (the driver tells the engine).
    pub(crate) fn registered(&mut self, login: &str, remote: &str, instance: Option<&str>) {
        let now = self.now;
        self.calls.registered(
            now,
            login,
            target(login, remote, instance),
            &mut Out {
                tx: &mut self.tx,
                now,
            },
        );
        self.pump();
    }

    /// The push hook failed for `instances` of call `id`.
    pub(crate) fn push_failed(&mut self, id: u64, instances: &[String]) {
        let now = self.now;
        self.calls.push_failed(
            now,
            id,
            instances,
            &mut Out {
                tx: &mut self.tx,
                now,
            },
        );
        self.pump();
    }

    /// The operator hangs call `id` up.
    pub(crate) fn hang_up(&mut self, id: u64) -> bool {
        let now = self.now;
        let ended = self.calls.hang_up(
            now,
            id,
            &mut Out {
                tx: &mut self.tx,
                now,
            },
        );
        self.pump();
        ended
    }

    /// The credit control cuts call `id`.
    pub(crate) fn credit_cut(&mut self, id: u64) -> bool {
        let now = self.now;
        let ended = self.calls.hang_up_for_credit(
            now,
            id,
            &mut Out {
                tx: &mut self.tx,
                now,
            },
        );
        self.pump();
        ended
    }

    /// The relay reports call `id` silent.
    pub(crate) fn media_inactive(&mut self, id: u64) -> bool {
        let now = self.now;
        let ended = self.calls.media_inactive(
            now,
            id,
            &mut Out {
                tx: &mut self.tx,
                now,
            },
        );
        self.pump();
        ended
    }

    /// Takes every message sent to `to` so far.
    pub(crate) fn take(&mut self, to: &str) -> Vec<Message> {
        let to = addr(to);
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(a, _)| *a == to);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// Takes the one request with `method` sent to `to` (panics if none).
    pub(crate) fn request(&mut self, to: &str, method: Method) -> Message {
        let all = self.take(to);
        let mut found = None;
        let mut others = Vec::new();
        for m in all {
            if found.is_none() && m.method() == Some(&method) {
                found = Some(m);
            } else {
                others.push((addr(to), m));
            }
        }
        self.sent.extend(others);
        found.unwrap_or_else(|| panic!("no {method:?} sent to {to}; sent: {:?}", self.summary()))
    }

    /// Takes the responses sent to `to` and returns their status codes in order.
    pub(crate) fn statuses(&mut self, to: &str) -> Vec<u16> {
        self.take(to).iter().filter_map(Message::status).collect()
    }

    pub(crate) fn summary(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|(a, m)| match m.status() {
                Some(s) => format!("{a} <- {s}"),
                None => format!("{a} <- {:?}", m.method().unwrap()),
            })
            .collect()
    }
}

/// The caller's INVITE to `user` (with an SDP offer unless `sdp` is false).
pub(crate) fn invite(call_id: &str, user: &str, sdp: bool) -> String {
    let body = if sdp { SDP } else { "" };
    let ct = if sdp {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "INVITE sip:{user}@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bK{call_id}i;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=at{call_id}\r\nTo: <sip:{user}@192.0.2.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{ALICE}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A UA's response to a request it received.
pub(crate) fn reply(req: &Message, code: u16, to_tag: &str, contact: &str, sdp: bool) -> Bytes {
    let mut b = MessageBuilder::response_to(req, code, Some(to_tag), None);
    if code < 300 || (101..200).contains(&code) {
        b.header("Contact", format_args!("<{contact}>"));
    }
    if sdp {
        b.finish_with_body("application/sdp", SDP.as_bytes())
    } else {
        b.finish()
    }
}

/// The caller's ACK for the 2xx it got.
pub(crate) fn ack_for(ok: &Message, sdp: bool) -> Bytes {
    let contact = contact_of(ok);
    let mut b = MessageBuilder::request(&Method::Ack, &contact);
    b.header(
        "Via",
        format_args!(
            "SIP/2.0/UDP {ALICE};branch=z9hG4bKack{}",
            ok.call_id().unwrap()
        ),
    )
    .header("Max-Forwards", 70)
    .header("From", ok.header(&HeaderName::From).unwrap())
    .header("To", ok.header(&HeaderName::To).unwrap())
    .header("Call-ID", ok.call_id().unwrap())
    .header("CSeq", format_args!("{} ACK", ok.cseq().unwrap().seq));
    if sdp {
        b.finish_with_body("application/sdp", SDP.as_bytes())
    } else {
        b.finish()
    }
}

pub(crate) fn contact_of(m: &Message) -> String {
    match m.contacts() {
        Ok(Some(sip_message::ContactList::Contacts(c))) => c[0].0.uri.as_str().to_owned(),
        _ => panic!("no Contact in {m:?}"),
    }
}

/// An in-dialog request from a UA. `from_side` and `to_side` are the header values as the
/// UA knows them (its own From with tag, the peer's To with tag).
#[allow(
    clippy::too_many_arguments,
    reason = "a test UA spells out every header it sends"
)]
pub(crate) fn in_dialog(
    method: Method,
    target: &str,
    via: &str,
    branch: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    sdp: bool,
) -> Bytes {
    let mut b = MessageBuilder::request(&method, target);
    b.header(
        "Via",
        format_args!("SIP/2.0/UDP {via};branch=z9hG4bK{branch}"),
    )
    .header("Max-Forwards", 70)
    .header("From", from)
    .header("To", to)
    .header("Call-ID", call_id)
    .header("CSeq", format_args!("{cseq} {}", method.as_str()))
    .header("Contact", format_args!("<sip:ua@{via}>"));
    if sdp {
        b.finish_with_body("application/sdp", SDP.as_bytes())
    } else {
        b.finish()
    }
}

impl Net {
    /// The server shuts down (the driver tells the engine); returns how many calls it ended.
    pub(crate) fn shutdown(&mut self, retry_after: u32) -> usize {
        let now = self.now;
        let ended = self.calls.shutdown(
            now,
            retry_after,
            &mut Out {
                tx: &mut self.tx,
                now,
            },
        );
        self.pump();
        ended
    }
}
