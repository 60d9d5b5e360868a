//! The call table and its state machine (see the crate docs for the flow).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dialplan::DialPlan;
use sip_dialog::Dialog;
use sip_message::{HeaderName, Message, MessageBuilder, Method, Peer, Transport};
use sip_transaction::{ClientKey, ServerKey};

use crate::push::{parse_replaces, Device, DeviceState, Park};
use crate::route::{decide, Decision, GatewayTarget, Target};
use crate::{
    B2buaConfig, CallEvent, Caller, Cdr, Directory, HangupBy, MediaMode, MediaRelay, NoMedia,
    Outbox, PushDevice, PushKind, PushRequest, Side,
};

/// CANCEL of a branch because another device answered (RFC 3326): phones show no missed call.
const ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";
/// CANCEL of a branch because the caller gave up or nobody answered in time.
const TERMINATED: &str = "SIP;cause=487;text=\"Request Terminated\"";

/// A pushed device that registers after its call ended (within the push timeout) still gets
/// an INVITE, at once CANCELled with this reason (Apple requires every VoIP push to show a
/// call; the app closes its screen on the CANCEL).
#[derive(Debug)]
struct Ghost {
    reason: &'static str,
    until: Instant,
    a_invite: Message,
    caller: Caller,
    a_key: ServerKey,
}

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, REFER, NOTIFY, MESSAGE, OPTIONS";

type CallId = u64;

/// How often answered calls are checked against the longest allowed duration.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// No answer in time.
    NoAnswer,
    /// Next ring group member.
    RingStep,
    /// Send our 2xx again (until the ACK comes).
    Resend2xx,
    /// A finished call waits for its branches' last responses, then goes.
    Linger,
    /// Gateway branch `n` has not answered at all (not even 100) in time: next gateway.
    GatewaySilent(usize),
    /// Look for answered calls past the longest allowed duration (one timer for all calls:
    /// a 12 h timer per call would pile up in the heap under load).
    DurationSweep,
    /// A registered device stayed silent for the push delay: push it.
    PushDue,
    /// Forget ghosts (ended parked calls) older than the push timeout.
    GhostSweep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Branches ringing, no final answer to A yet.
    Ringing,
    /// A got a 2xx: the call is up.
    Answered,
    /// A got its final answer (or BYE crossed): waiting for loose ends, then removed.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BranchState {
    Calling,
    Proceeding,
    Answered,
    Done(u16),
}

#[derive(Debug)]
struct Branch {
    invite: Message,
    peer: Peer,
    state: BranchState,
    /// CANCEL asked before any provisional response: sent when one comes (§9.1).
    cancel_wanted: bool,
    /// The `Reason` of our CANCEL ([`ELSEWHERE`] or [`TERMINATED`]).
    cancel_reason: &'static str,
    gateway: Option<String>,
    /// The device's `+sip.instance`, when known (push bookkeeping).
    instance: Option<String>,
}

impl Branch {
    /// Still ringing (no final answer yet).
    fn live(&self) -> bool {
        matches!(self.state, BranchState::Calling | BranchState::Proceeding)
    }
}

/// A request relayed to the other leg, waiting for its answer.
#[derive(Debug)]
enum Pending {
    /// The initial INVITE of branch `n`.
    Branch(usize),
    /// An in-dialog request, relayed to the other leg; its answer goes back to the origin.
    Relay(Box<OriginRequest>),
    /// A BYE or CANCEL we originated: its answer changes nothing.
    Own,
}

/// A 2xx we sent and resend until the ACK.
#[derive(Debug)]
struct Resend {
    bytes: Bytes,
    peer: Peer,
    cseq: u32,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

#[derive(Debug)]
struct Call {
    id: CallId,
    state: CallState,
    caller: Caller,
    dialed: String,
    routed: String,
    callee: String,
    route: &'static str,
    mode: MediaMode,

    // A-leg
    a_key: ServerKey,
    a_invite: Message,
    a_peer: Peer,
    a_tag: String,
    a_dialog: Option<Dialog>,
    /// The (relayed) offer sent to every branch, with its content type.
    offer: Option<(String, Bytes)>,
    max_forwards: u8,

    // B-legs
    branches: Vec<Branch>,
    winner: Option<usize>,
    b_dialog: Option<Dialog>,
    /// More ring group members, with the time the next one joins.
    steps: VecDeque<(String, Vec<Target>)>,
    step_delay: Duration,
    /// Gateways not tried yet, with the number to send them.
    gateways: VecDeque<GatewayTarget>,
    gateway_number: String,
    voicemail: Option<(String, Peer)>,

    /// The ACK we owe a side once the other side's ACK arrives (late offer), by INVITE CSeq.
    ack_owed: Option<(Side, u32)>,
    /// The last ACK sent to each side, resent when its 2xx is.
    last_ack: [Option<(u32, Bytes)>; 2],
    /// Our 2xx resent to each side (A, B) until its ACK.
    resend: [Option<Resend>; 2],
    /// An INVITE transaction is open across the legs (glare → 491).
    reinvite_open: bool,

    no_answer_at: Option<Instant>,
    step_at: Option<Instant>,
    linger_until: Option<Instant>,

    start: Instant,
    ringing: Option<Instant>,
    answer: Option<Instant>,
    final_code: u16,
    hangup_by: HangupBy,
    cdr_written: bool,
    /// Devices of the callee woken by push (a parked call), when it has any with a token.
    park: Option<Park>,
    /// The woken app's INVITE with Replaces that picked the call up (we are its UAS).
    pickup: Option<(ServerKey, Message, Peer)>,
    /// Picked up with one offer: the side whose 200 waits for the other side's ACK (answer).
    pickup_owed: Option<Side>,
}

impl Call {
    fn dialog_mut(&mut self, side: Side) -> Option<&mut Dialog> {
        match side {
            Side::A => self.a_dialog.as_mut(),
            Side::B => self.b_dialog.as_mut(),
        }
    }

    fn live_branches(&self) -> usize {
        self.branches.iter().filter(|b| b.live()).count()
    }
}

/// Every call of the server, with the indexes that route messages to them.
pub struct Calls {
    cfg: B2buaConfig,
    plan: DialPlan,
    media: Box<dyn MediaRelay + Send>,
    calls: HashMap<CallId, Call>,
    /// Call-ID (A's, or one of our B-leg Call-IDs) → call and side.
    by_call_id: HashMap<String, (CallId, Side)>,
    by_server: HashMap<ServerKey, CallId>,
    by_client: HashMap<ClientKey, (CallId, Pending)>,
    /// How many entries of `by_client` each call has (a call goes once it has none).
    pending_per_call: HashMap<CallId, u32>,
    timers: BinaryHeap<Reverse<(Instant, CallId, TimerKind)>>,
    events: VecDeque<CallEvent>,
    next_id: CallId,
    /// A duration sweep is in the timer heap.
    sweep_armed: bool,
    /// Parked dialog Call-ID (given to the app for `Replaces`) → call.
    by_park: HashMap<String, CallId>,
    /// Callee login → its calls with a park, for late forking on REGISTER.
    parked_by_login: HashMap<String, Vec<CallId>>,
    /// (login, instance) of pushed devices whose call ended, for the ghost INVITE+CANCEL.
    ghosts: HashMap<(String, String), Ghost>,
    ghost_sweep_armed: bool,
    rng: u64,
    /// Wall clock at `epoch.0`, for CDR times.
    epoch: (Instant, u64),
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("calls", &self.calls.len())
            .field("pending", &self.by_client.len())
            .finish()
    }
}

fn user_part(uri: &str) -> Option<String> {
    sip_message::Uri::parse(uri)
        .ok()
        .and_then(|u| u.user_unescaped())
        .map(|u| String::from_utf8_lossy(&u).into_owned())
}

fn transport_param(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
        Transport::Tls => ";transport=tls",
    }
}

fn is_sdp(msg: &Message) -> bool {
    !msg.body().is_empty()
}

/// RFC 3261 §16.7-style choice among the branches' final answers, with the multi-device
/// rules: a decline anywhere wins, then busy, then the rest.
fn best_final(codes: &[u16]) -> u16 {
    if codes.iter().any(|&c| c == 603 || c == 600) {
        return 603;
    }
    if codes.contains(&486) {
        return 486;
    }
    let mut others: Vec<u16> = codes
        .iter()
        .copied()
        .filter(|&c| c != 408 && c != 487 && c != 480)
        .collect();
    others.sort_unstable();
    if let Some(&c) = others.first() {
        return c;
    }
    if codes.contains(&480) {
        480
    } else if codes.contains(&408) {
        408
    } else {
        480
    }
}

impl Calls {
    /// `seed` makes tags and Call-IDs unpredictable; `epoch` pairs an `Instant` with the unix
    /// time in ms at that instant, for CDR times.
    pub fn new(cfg: B2buaConfig, seed: u64, epoch: (Instant, u64)) -> Self {
        Self {
            cfg,
            plan: DialPlan::default(),
            media: Box::new(NoMedia),
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            by_server: HashMap::new(),
            by_client: HashMap::new(),
            pending_per_call: HashMap::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            next_id: 1,
            sweep_armed: false,
            by_park: HashMap::new(),
            parked_by_login: HashMap::new(),
            ghosts: HashMap::new(),
            ghost_sweep_armed: false,
            rng: seed | 1,
            epoch,
        }
    }

    pub fn set_dial_plan(&mut self, plan: DialPlan) {
        self.plan = plan;
    }

    pub fn dial_plan(&self) -> &DialPlan {
        &self.plan
    }

    pub fn set_media(&mut self, media: Box<dyn MediaRelay + Send>) {
        self.media = media;
    }

    /// Calls in the table (ringing, up, or finishing).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    fn token(&mut self) -> String {
        // xorshift64*: unpredictable enough for tags given a random seed, and cheap
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        format!("{:016x}", self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }

    fn branch_id(&mut self) -> String {
        format!("z9hG4bK{}", self.token())
    }

    fn wall(&self, t: Instant) -> u64 {
        let (i, ms) = self.epoch;
        if t >= i {
            ms + t.duration_since(i).as_millis() as u64
        } else {
            ms.saturating_sub(i.duration_since(t).as_millis() as u64)
        }
    }

    fn arm(&mut self, at: Instant, id: CallId, kind: TimerKind) {
        self.timers.push(Reverse((at, id, kind)));
    }

    fn contact(&self, login: &str, peer: &Peer) -> String {
        format!(
            "<sip:{login}@{}{}>",
            peer.local,
            transport_param(peer.transport)
        )
    }

    fn track(&mut self, key: ClientKey, entry: (CallId, Pending)) {
        *self.pending_per_call.entry(entry.0).or_insert(0) += 1;
        self.by_client.insert(key, entry);
    }

    fn untrack(&mut self, key: &ClientKey) -> Option<(CallId, Pending)> {
        let entry = self.by_client.remove(key)?;
        if let std::collections::hash_map::Entry::Occupied(mut n) =
            self.pending_per_call.entry(entry.0)
        {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
        Some(entry)
    }

    // ----- new calls -------------------------------------------------------------------

    /// A new INVITE (no To tag) from an authenticated caller (or a trusted peer). The layer
    /// has sent 100 Trying. Routes it and starts the branches, or answers it.
    #[allow(clippy::too_many_arguments)]
    pub fn invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: Message,
        from: Peer,
        caller: Caller,
        dir: &dyn Directory,
        out: &mut dyn Outbox,
    ) {
        let reject = |out: &mut dyn Outbox, code: u16, reason: &str| {
            let mut b =
                MessageBuilder::response_to(&req, code, Some(&req.stable_tag()), Some(from.remote));
            b.header("Warning", format_args!("399 ferroswitch \"{reason}\""));
            out.respond(&key, b.finish());
        };
        let max_forwards = match req.max_forwards() {
            Ok(Some(0)) => return reject(out, 483, "Max-Forwards exhausted"),
            Ok(Some(n)) => n - 1,
            Ok(None) => 69,
            Err(_) => return reject(out, 400, "bad Max-Forwards"),
        };
        if req.has_option_tag(&HeaderName::Require, "100rel") {
            let mut b =
                MessageBuilder::response_to(&req, 420, Some(&req.stable_tag()), Some(from.remote));
            b.header("Unsupported", "100rel");
            out.respond(&key, b.finish());
            return;
        }
        let Some(call_id) = req.call_id().map(str::to_owned) else {
            return reject(out, 400, "no Call-ID");
        };
        if self.by_call_id.contains_key(&call_id) {
            // a new INVITE reusing a live call's Call-ID without its tags
            return reject(out, 482, "Call-ID in use");
        }
        if let Some(v) = req
            .headers()
            .iter()
            .find(|h| h.name.matches("Replaces"))
            .map(|h| h.value().to_owned())
        {
            return self.pick_up(now, key, &req, from, &caller, &v, out);
        }
        let dialed = req
            .request_uri_str()
            .and_then(user_part)
            .unwrap_or_default();
        let routed = decide(&self.plan, &caller, &dialed, dir, self.cfg.push.is_some());
        let id = self.next_id;
        self.next_id += 1;
        let mode = match routed.decision {
            Decision::Gateways { .. } | Decision::Service { .. } => MediaMode::Anchor,
            _ => MediaMode::CandidateOnly,
        };
        let a_tag = self.token();
        let voicemail = match &routed.decision {
            Decision::Fork { login, .. } => dir
                .voicemail(login)
                .and_then(|u| dir.service(&u).map(|p| (u, p))),
            _ => None,
        };
        tracing::debug!(call = id, %call_id, caller = %caller.login, %dialed, routed = %routed.routed, route = routed.route, "new call");
        let mut call = Call {
            id,
            state: CallState::Ringing,
            caller,
            dialed,
            routed: routed.routed,
            callee: routed.callee,
            route: routed.route,
            mode,
            a_key: key,
            a_invite: req,
            a_peer: from,
            a_tag,
            a_dialog: None,
            offer: None,
            max_forwards,
            branches: Vec::new(),
            winner: None,
            b_dialog: None,
            steps: VecDeque::new(),
            step_delay: Duration::ZERO,
            gateways: VecDeque::new(),
            gateway_number: String::new(),
            voicemail,
            ack_owed: None,
            last_ack: [None, None],
            resend: [None, None],
            reinvite_open: false,
            no_answer_at: None,
            step_at: None,
            linger_until: None,
            start: now,
            ringing: None,
            answer: None,
            final_code: 0,
            hangup_by: HangupBy::System,
            cdr_written: false,
            park: None,
            pickup: None,
            pickup_owed: None,
        };
        if is_sdp(&call.a_invite) {
            let body = call.a_invite.body().clone();
            let ct = call
                .a_invite
                .content_type()
                .unwrap_or("application/sdp")
                .to_owned();
            let body = self.media.offer(id, Side::A, &body, mode).unwrap_or(body);
            call.offer = Some((ct, body));
        }
        self.by_call_id.insert(call_id, (id, Side::A));
        self.by_server.insert(key, id);
        match routed.decision {
            Decision::Reject { code, reason } => {
                self.calls.insert(id, call);
                self.answer_a(now, id, code, Some(reason), out);
                self.finish(now, id, HangupBy::System);
                return;
            }
            Decision::Fork {
                login,
                targets,
                push,
            } => {
                for t in &targets {
                    if self.start_branch(&mut call, &t.uri, t.peer, &t.login, None, None, out) {
                        if let Some(b) = call.branches.last_mut() {
                            b.instance.clone_from(&t.instance);
                        }
                    }
                }
                if !push.is_empty() {
                    self.park(now, &mut call, login, push, out);
                }
            }
            Decision::Gateways { number, gateways } => {
                call.gateways = gateways.into();
                call.gateway_number = number;
                self.next_gateway(now, &mut call, out);
            }
            Decision::Service { uri, peer } => {
                let user = user_part(&uri).unwrap_or_default();
                self.start_branch(&mut call, &uri, peer, &user, None, None, out);
            }
            Decision::RingGroup {
                members,
                step_delay,
                ..
            } => {
                call.steps = members.into();
                call.step_delay = step_delay;
                if step_delay.is_zero() {
                    while let Some((login, targets)) = call.steps.pop_front() {
                        for t in targets {
                            self.start_branch(&mut call, &t.uri, t.peer, &login, None, None, out);
                        }
                    }
                } else {
                    self.ring_step(now, &mut call, out);
                }
            }
        }
        let mut at = now + self.cfg.call_timeout;
        if let Some(d) = call.park.as_ref().and_then(|p| p.deadline) {
            // a parked call rings until the push timeout (its own timer) at least
            at = at.max(d);
        }
        call.no_answer_at = Some(at);
        self.arm(at, id, TimerKind::NoAnswer);
        self.calls.insert(id, call);
        self.after_branch_change(now, id, out);
    }

    /// Starts the next ring group member that has devices; arms the step timer if members
    /// remain.
    fn ring_step(&mut self, now: Instant, call: &mut Call, out: &mut dyn Outbox) {
        while let Some((login, targets)) = call.steps.pop_front() {
            if targets.is_empty() {
                continue;
            }
            for t in targets {
                self.start_branch(call, &t.uri, t.peer, &login, None, None, out);
            }
            break;
        }
        if call.steps.is_empty() {
            call.step_at = None;
        } else {
            let at = now + call.step_delay;
            call.step_at = Some(at);
            self.arm(at, call.id, TimerKind::RingStep);
        }
    }

    fn next_gateway(&mut self, now: Instant, call: &mut Call, out: &mut dyn Outbox) -> bool {
        while let Some(gw) = call.gateways.pop_front() {
            let uri = format!("sip:{}@{}", call.gateway_number, gw.host);
            let number = call.gateway_number.clone();
            if self.start_branch(
                call,
                &uri,
                gw.peer,
                &number,
                Some(&gw.name),
                gw.caller_id.as_deref(),
                out,
            ) {
                let n = call.branches.len() - 1;
                self.arm(
                    now + self.cfg.gateway_timeout,
                    call.id,
                    TimerKind::GatewaySilent(n),
                );
                return true;
            }
        }
        false
    }

    /// Sends a B-leg INVITE. Returns false if the transaction layer refused it (the branch
    /// is then recorded as a 503).
    #[allow(clippy::too_many_arguments)]
    fn start_branch(
        &mut self,
        call: &mut Call,
        uri: &str,
        peer: Peer,
        to_user: &str,
        gateway: Option<&str>,
        caller_id: Option<&str>,
        out: &mut dyn Outbox,
    ) -> bool {
        let call_id = format!("{}@ferroswitch", self.token());
        let from_tag = self.token();
        let branch = self.branch_id();
        let a_from = call.a_invite.from_header().ok();
        let a_to = call.a_invite.to_header().ok();
        let from_host = a_from
            .as_ref()
            .map(|f| f.uri.host.to_string())
            .unwrap_or_else(|| peer.local.ip().to_string());
        let to_host = a_to
            .as_ref()
            .map(|t| t.uri.host.to_string())
            .unwrap_or_else(|| peer.local.ip().to_string());
        let (from_user, display) = match (gateway, caller_id) {
            // gateways ignore display names; the caller ID may replace the user part
            (Some(_), Some(cli)) => (cli.to_owned(), None),
            (Some(_), None) => (call.caller.login.clone(), None),
            _ => (call.caller.login.clone(), call.caller.display_name.clone()),
        };
        let to_uri = if gateway.is_some() {
            uri.to_owned()
        } else {
            format!("sip:{to_user}@{to_host}")
        };
        let mut b = MessageBuilder::request(&Method::Invite, uri);
        b.header(
            "Via",
            format_args!(
                "SIP/2.0/{} {};branch={branch};rport",
                peer.transport.via_name(),
                peer.local
            ),
        )
        .header("Max-Forwards", call.max_forwards);
        match display {
            Some(d) => b.header(
                "From",
                format_args!(
                    "\"{}\" <sip:{from_user}@{from_host}>;tag={from_tag}",
                    d.replace('"', "")
                ),
            ),
            None => b.header(
                "From",
                format_args!("<sip:{from_user}@{from_host}>;tag={from_tag}"),
            ),
        };
        b.header("To", format_args!("<{to_uri}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", self.contact(&from_user, &peer))
            .header("Allow", ALLOW)
            .header("User-Agent", &self.cfg.server);
        let bytes = match &call.offer {
            Some((ct, body)) => b.finish_with_body(ct, body),
            None => b.finish(),
        };
        let invite = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(call = call.id, "B-leg INVITE does not parse: {e}");
                return false;
            }
        };
        let idx = call.branches.len();
        let client = out.send_request(invite.clone(), peer);
        let state = if client.is_some() {
            BranchState::Calling
        } else {
            BranchState::Done(503)
        };
        call.branches.push(Branch {
            invite,
            peer,
            state,
            cancel_wanted: false,
            cancel_reason: TERMINATED,
            gateway: gateway.map(str::to_owned),
            instance: None,
        });
        if let Some(k) = client {
            self.track(k, (call.id, Pending::Branch(idx)));
            self.by_call_id.insert(call_id, (call.id, Side::B));
        }
        client.is_some()
    }

    // ----- responses to our requests ---------------------------------------------------

    /// A response to one of our client transactions. Returns false if it is not ours.
    pub fn response(
        &mut self,
        now: Instant,
        key: ClientKey,
        resp: Message,
        out: &mut dyn Outbox,
    ) -> bool {
        let Some(status) = resp.status() else {
            return false;
        };
        let Some((id, pending)) = self.by_client.get(&key) else {
            // a 2xx retransmission after its transaction's record is gone: ACK it again
            return self.stray_2xx(&resp, out);
        };
        let id = *id;
        match pending {
            Pending::Branch(n) => {
                let n = *n;
                if status >= 200 {
                    // 2xx retransmissions that come up later are matched by Call-ID
                    // (`stray_2xx`), so the branch's entry can go with its first final answer
                    self.untrack(&key);
                }
                self.branch_response(now, id, n, status, resp, out);
            }
            Pending::Relay { .. } => {
                if status < 200 {
                    return true;
                }
                let Some((_, Pending::Relay(origin))) = self.untrack(&key) else {
                    return true;
                };
                self.relayed_final(now, id, *origin, status, resp, out);
            }
            Pending::Own => {
                if status >= 200 {
                    self.untrack(&key);
                    self.maybe_remove(id);
                }
            }
        }
        true
    }

    /// A client transaction ended without an answer: as a 408.
    pub fn timeout(&mut self, now: Instant, key: ClientKey, out: &mut dyn Outbox) -> bool {
        let Some((id, pending)) = self.untrack(&key) else {
            return false;
        };
        match pending {
            Pending::Branch(n) => {
                if let Some(mut call) = self.calls.remove(&id) {
                    let mut silent = None;
                    if let Some(b) = call.branches.get_mut(n) {
                        if b.live() {
                            b.state = BranchState::Done(408);
                            silent.clone_from(&b.instance);
                        }
                    }
                    if let (Some(i), CallState::Ringing) = (silent, call.state) {
                        // not even a provisional from it: a suspended app, push it now
                        self.push_due(now, &mut call, Some(&i), out);
                    }
                    self.calls.insert(id, call);
                }
                self.branch_final(now, id, n, 408, out);
            }
            Pending::Relay(origin) => self.dead_leg(now, id, &origin, 408, out),
            Pending::Own => self.maybe_remove(id),
        }
        true
    }

    fn stray_2xx(&mut self, resp: &Message, out: &mut dyn Outbox) -> bool {
        let (Some(status), Some(call_id), Ok(cseq)) = (resp.status(), resp.call_id(), resp.cseq())
        else {
            return false;
        };
        if !(200..300).contains(&status) || cseq.method != Method::Invite {
            return false;
        }
        let Some(&(id, side)) = self.by_call_id.get(call_id) else {
            return false;
        };
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let slot = match side {
            Side::A => 0,
            Side::B => 1,
        };
        if let (Some((seq, ack)), Some(d)) = (&call.last_ack[slot], side_dialog(call, side)) {
            if *seq == cseq.seq {
                out.send_stateless(ack.clone(), d.peer);
            }
        }
        true
    }

    fn branch_response(
        &mut self,
        now: Instant,
        id: CallId,
        n: usize,
        status: u16,
        resp: Message,
        out: &mut dyn Outbox,
    ) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if let (Some(park), Some(i)) = (call.park.as_mut(), &call.branches[n].instance) {
            // it answered something: awake, no push for it
            park.spoke(i);
        }
        match status {
            100..=199 => {
                let b = &mut call.branches[n];
                if b.state == BranchState::Calling {
                    b.state = BranchState::Proceeding;
                }
                if b.cancel_wanted {
                    b.cancel_wanted = false;
                    self.send_cancel(&mut call, n, out);
                } else if status > 100 && call.state == CallState::Ringing && b.live() {
                    call.ringing.get_or_insert(now);
                    let body = if is_sdp(&resp) {
                        let raw = resp.body().clone();
                        Some(
                            self.media
                                .answer(id, Side::B, &raw, call.mode)
                                .unwrap_or(raw),
                        )
                    } else {
                        None
                    };
                    let mut rb = MessageBuilder::response_to(
                        &call.a_invite,
                        status,
                        Some(&call.a_tag),
                        Some(call.a_peer.remote),
                    );
                    rb.header("Contact", self.contact(&call.callee_user(), &call.a_peer));
                    rb.header("Allow", ALLOW);
                    let bytes = match body {
                        Some(body) => rb.finish_with_body(
                            resp.content_type().unwrap_or("application/sdp"),
                            &body,
                        ),
                        None => rb.finish(),
                    };
                    out.respond(&call.a_key, bytes);
                }
            }
            200..=299 => self.branch_2xx(now, &mut call, n, resp, out),
            _ => {
                let b = &mut call.branches[n];
                if b.live() {
                    b.state = BranchState::Done(status);
                }
                self.calls.insert(id, call);
                self.branch_final(now, id, n, status, out);
                return;
            }
        }
        self.calls.insert(id, call);
    }

    fn branch_2xx(
        &mut self,
        now: Instant,
        call: &mut Call,
        n: usize,
        resp: Message,
        out: &mut dyn Outbox,
    ) {
        let cseq = resp.cseq().map(|c| c.seq).unwrap_or(1);
        if call.winner == Some(n) {
            // the 2xx again: our ACK was lost
            if let Some((seq, ack)) = &call.last_ack[1] {
                if *seq == cseq {
                    out.send_stateless(ack.clone(), call.branches[n].peer);
                }
            }
            return;
        }
        let peer = call.branches[n].peer;
        let dialog = match Dialog::from_response(&call.branches[n].invite, &resp, peer) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(call = call.id, "2xx without a usable dialog: {e}");
                return;
            }
        };
        if call.state != CallState::Ringing || call.winner.is_some() {
            // another device answered first, or the caller gave up: ACK and BYE this one
            let branch = self.branch_id();
            let ack = dialog.ack(cseq, &branch).finish();
            out.send_stateless(ack, peer);
            let mut d = dialog;
            let branch = self.branch_id();
            let bye = d.request(&Method::Bye, &branch, None);
            if let Ok(m) = Message::parse(bye.finish()) {
                if let Some(k) = out.send_request(m, peer) {
                    self.track(k, (call.id, Pending::Own));
                }
            }
            call.branches[n].state = BranchState::Done(200);
            return;
        }
        // the winner
        call.winner = Some(n);
        call.branches[n].state = BranchState::Answered;
        call.answer = Some(now);
        call.ringing.get_or_insert(now);
        call.state = CallState::Answered;
        call.final_code = 200;
        call.no_answer_at = None;
        call.step_at = None;
        call.steps.clear();
        call.gateways.clear();
        if !self.sweep_armed {
            self.sweep_armed = true;
            self.arm(now + SWEEP_EVERY, 0, TimerKind::DurationSweep);
        }
        let a_dialog = match Dialog::from_request(&call.a_invite, &call.a_tag, call.a_peer) {
            Ok(d) => d,
            Err(e) => {
                // the caller's INVITE had no Contact: we cannot reach it in the dialog
                tracing::debug!(call = call.id, "A-leg dialog: {e}");
                let mut d = dialog;
                let branch = self.branch_id();
                out.send_stateless(d.ack(cseq, &branch).finish(), peer);
                let branch = self.branch_id();
                if let Ok(m) = Message::parse(d.request(&Method::Bye, &branch, None).finish()) {
                    if let Some(k) = out.send_request(m, peer) {
                        self.track(k, (call.id, Pending::Own));
                    }
                }
                return;
            }
        };
        call.b_dialog = Some(dialog);
        call.a_dialog = Some(a_dialog);
        // the others stop ringing
        for i in 0..call.branches.len() {
            if i != n && call.branches[i].live() {
                self.cancel_branch(call, i, ELSEWHERE, out);
            }
        }
        let winner = call.branches[n].instance.clone();
        if let (Some(p), Some(i)) = (call.park.as_mut(), &winner) {
            if p.was_pushed(i) {
                p.wake(now);
            }
        }
        self.end_park(
            now,
            call,
            PushKind::AnsweredElsewhere,
            ELSEWHERE,
            winner.as_deref(),
        );
        // B's ACK now, or when A's ACK brings the answer (late offer)
        if call.offer.is_some() {
            self.send_ack(call, Side::B, cseq, None, out);
        } else {
            call.ack_owed = Some((Side::B, cseq));
        }
        let body = if is_sdp(&resp) {
            let raw = resp.body().clone();
            let b = if call.offer.is_some() {
                self.media.answer(call.id, Side::B, &raw, call.mode)
            } else {
                self.media.offer(call.id, Side::B, &raw, call.mode)
            };
            Some(b.unwrap_or(raw))
        } else {
            None
        };
        let mut rb = MessageBuilder::response_to(
            &call.a_invite,
            200,
            Some(&call.a_tag),
            Some(call.a_peer.remote),
        );
        rb.header("Contact", self.contact(&call.callee_user(), &call.a_peer))
            .header("Allow", ALLOW)
            .header("Server", &self.cfg.server);
        let bytes = match body {
            Some(b) => rb.finish_with_body(resp.content_type().unwrap_or("application/sdp"), &b),
            None => rb.finish(),
        };
        out.respond(&call.a_key, bytes.clone());
        let a_cseq = call.a_invite.cseq().map(|c| c.seq).unwrap_or(1);
        self.start_resend(now, call, Side::A, bytes, a_cseq);
        tracing::debug!(call = call.id, branch = n, "answered");
    }

    fn start_resend(&mut self, now: Instant, call: &mut Call, to: Side, bytes: Bytes, cseq: u32) {
        let peer = match to {
            Side::A => call.a_peer,
            Side::B => match &call.b_dialog {
                Some(d) => d.peer,
                None => return,
            },
        };
        if peer.transport.is_reliable() {
            // reliable transports carry the 2xx once; still wait for the ACK (64·T1)
            call.resend[slot(to)] = Some(Resend {
                bytes,
                peer,
                cseq,
                interval: Duration::MAX,
                next: now + 64 * self.cfg.t1,
                give_up: now + 64 * self.cfg.t1,
            });
        } else {
            call.resend[slot(to)] = Some(Resend {
                bytes,
                peer,
                cseq,
                interval: self.cfg.t1,
                next: now + self.cfg.t1,
                give_up: now + 64 * self.cfg.t1,
            });
        }
        let at = call.resend[slot(to)].as_ref().map_or(now, |r| r.next);
        self.arm(at, call.id, TimerKind::Resend2xx);
    }

    /// ACKs `side`'s 2xx to our INVITE with CSeq `cseq`, with an SDP body when given.
    fn send_ack(
        &mut self,
        call: &mut Call,
        side: Side,
        cseq: u32,
        body: Option<(&str, &[u8])>,
        out: &mut dyn Outbox,
    ) {
        let branch = self.branch_id();
        let Some(d) = call.dialog_mut(side) else {
            return;
        };
        let b = d.ack(cseq, &branch);
        let bytes = match body {
            Some((ct, body)) => b.finish_with_body(ct, body),
            None => b.finish(),
        };
        let peer = d.peer;
        out.send_stateless(bytes.clone(), peer);
        let slot = match side {
            Side::A => 0,
            Side::B => 1,
        };
        call.last_ack[slot] = Some((cseq, bytes));
    }

    /// A branch ended with a final non-2xx `status` (or 408 on timeout).
    fn branch_final(
        &mut self,
        now: Instant,
        id: CallId,
        n: usize,
        status: u16,
        out: &mut dyn Outbox,
    ) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if call.state == CallState::Ringing && call.winner.is_none() {
            let is_gw = call.branches.get(n).is_some_and(|b| b.gateway.is_some());
            // OFFNET failover: the next gateway on timeout or a server failure
            if is_gw && (status == 408 || (500..600).contains(&status)) && !call.gateways.is_empty()
            {
                tracing::debug!(call = id, status, "gateway failed, trying the next");
                self.next_gateway(now, &mut call, out);
            }
        }
        self.calls.insert(id, call);
        self.after_branch_change(now, id, out);
    }

    /// Once no branch is live: the next ring group member, the voicemail, or the final
    /// answer to the caller.
    fn after_branch_change(&mut self, now: Instant, id: CallId, out: &mut dyn Outbox) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if call.state == CallState::Ringing && call.live_branches() == 0 {
            if !call.steps.is_empty() {
                self.ring_step(now, &mut call, out);
            }
            if call.live_branches() == 0 && call.park.as_ref().is_some_and(|p| p.outstanding(now)) {
                // pushed devices may still wake up: the caller keeps hearing ringing
                self.calls.insert(id, call);
                return;
            }
            if call.live_branches() == 0 {
                let codes: Vec<u16> = call
                    .branches
                    .iter()
                    .filter_map(|b| match b.state {
                        BranchState::Done(c) => Some(c),
                        _ => None,
                    })
                    .collect();
                let code = if codes.is_empty() {
                    480
                } else {
                    best_final(&codes)
                };
                if let Some((uri, peer)) = call.voicemail.take() {
                    // the answering rule: unanswered, busy or declined goes to voicemail
                    let user = user_part(&uri).unwrap_or_default();
                    call.mode = MediaMode::Anchor;
                    self.start_branch(&mut call, &uri, peer, &user, None, None, out);
                }
                if call.live_branches() == 0 {
                    self.calls.insert(id, call);
                    self.answer_a(now, id, code, None, out);
                    self.finish(now, id, HangupBy::Callee);
                    return;
                }
            }
        }
        self.calls.insert(id, call);
        self.maybe_remove(id);
    }

    /// The final non-2xx answer to the caller's INVITE.
    fn answer_a(
        &mut self,
        _now: Instant,
        id: CallId,
        code: u16,
        reason: Option<&str>,
        out: &mut dyn Outbox,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let mut b = MessageBuilder::response_to(
            &call.a_invite,
            code,
            Some(&call.a_tag),
            Some(call.a_peer.remote),
        );
        if let Some(r) = reason {
            b.header("Warning", format_args!("399 ferroswitch \"{r}\""));
        }
        b.header("Server", &self.cfg.server);
        out.respond(&call.a_key, b.finish());
        call.final_code = code;
        call.state = CallState::Ended;
    }

    fn cancel_branch(
        &mut self,
        call: &mut Call,
        n: usize,
        reason: &'static str,
        out: &mut dyn Outbox,
    ) {
        let b = &mut call.branches[n];
        b.cancel_reason = reason;
        match b.state {
            BranchState::Calling => b.cancel_wanted = true,
            BranchState::Proceeding => self.send_cancel(call, n, out),
            _ => {}
        }
    }

    /// CANCEL for branch `n` (§9.1): same Request-URI, Call-ID, From, To, CSeq number and
    /// top Via branch as its INVITE.
    fn send_cancel(&mut self, call: &mut Call, n: usize, out: &mut dyn Outbox) {
        let b = &call.branches[n];
        let inv = &b.invite;
        let Some(uri) = inv.request_uri_str() else {
            return;
        };
        let mut m = MessageBuilder::request(&Method::Cancel, uri);
        if let Some(v) = inv.header(&HeaderName::Via) {
            m.header("Via", v);
        }
        m.header("Max-Forwards", 70);
        for h in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = inv.header(&h) {
                m.header(h.as_str(), v);
            }
        }
        let seq = inv.cseq().map(|c| c.seq).unwrap_or(1);
        m.header("CSeq", format_args!("{seq} CANCEL"));
        m.header("Reason", b.cancel_reason);
        if let Ok(msg) = Message::parse(m.finish()) {
            if let Some(k) = out.send_request(msg, b.peer) {
                self.track(k, (call.id, Pending::Own));
            }
        }
    }

    // ----- requests from the caller's side -----------------------------------------------

    /// The caller CANCELled its INVITE (the layer answered the CANCEL).
    pub fn cancelled(&mut self, now: Instant, invite: ServerKey, out: &mut dyn Outbox) -> bool {
        let Some(&id) = self.by_server.get(&invite) else {
            return false;
        };
        let Some(mut call) = self.calls.remove(&id) else {
            return false;
        };
        if call.state == CallState::Ringing {
            for i in 0..call.branches.len() {
                if call.branches[i].live() {
                    self.cancel_branch(&mut call, i, TERMINATED, out);
                }
            }
            self.end_park(now, &mut call, PushKind::MissedCancelled, TERMINATED, None);
            call.voicemail = None;
            call.steps.clear();
            call.gateways.clear();
            self.calls.insert(id, call);
            self.answer_a(now, id, 487, None, out);
            self.finish(now, id, HangupBy::Caller);
        } else {
            self.calls.insert(id, call);
        }
        true
    }

    /// The caller never ACKed our non-2xx final answer: nothing more to do.
    pub fn ack_timeout(&mut self, invite: ServerKey) {
        self.by_server.remove(&invite);
    }

    /// An ACK that no INVITE server transaction absorbed (the ACK for our 2xx).
    pub fn ack(&mut self, _now: Instant, req: Message, out: &mut dyn Outbox) -> bool {
        let Some(call_id) = req.call_id() else {
            return false;
        };
        let Some(&(id, side)) = self.by_call_id.get(call_id) else {
            return false;
        };
        let Some(mut call) = self.calls.remove(&id) else {
            return false;
        };
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        if call.resend[slot(side)]
            .as_ref()
            .is_some_and(|r| r.cseq == cseq)
        {
            call.resend[slot(side)] = None;
        }
        if call.pickup_owed == Some(side.other()) && is_sdp(&req) {
            call.pickup_owed = None;
            let raw = req.body().clone();
            let body = self.media.answer(id, side, &raw, call.mode).unwrap_or(raw);
            let ct = req.content_type().unwrap_or("application/sdp").to_owned();
            self.pickup_ok(_now, &mut call, side.other(), Some((&ct, &body)), out);
        }
        if let Some((owed, seq)) = call.ack_owed {
            if owed == side.other() {
                call.ack_owed = None;
                let body = if is_sdp(&req) {
                    let raw = req.body().clone();
                    Some(self.media.answer(id, side, &raw, call.mode).unwrap_or(raw))
                } else {
                    None
                };
                let ct = req.content_type().unwrap_or("application/sdp").to_owned();
                self.send_ack(
                    &mut call,
                    owed,
                    seq,
                    body.as_deref().map(|b| (ct.as_str(), b)),
                    out,
                );
            }
        }
        self.calls.insert(id, call);
        true
    }

    /// A request with a To tag. Returns false if it belongs to no call (the driver answers
    /// 481).
    pub fn in_dialog(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: &Message,
        from: Peer,
        out: &mut dyn Outbox,
    ) -> bool {
        let Some(call_id) = req.call_id() else {
            return false;
        };
        let Some(&(id, side)) = self.by_call_id.get(call_id) else {
            return false;
        };
        let Some(mut call) = self.calls.remove(&id) else {
            return false;
        };
        let reply = |out: &mut dyn Outbox, code: u16| {
            let b = MessageBuilder::response_to(req, code, None, Some(from.remote));
            out.respond(&key, b.finish());
        };
        let to_tag = req
            .to_header()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned));
        let from_tag = req
            .from_header()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned));
        let Some(method) = req.method().cloned() else {
            self.calls.insert(id, call);
            return false;
        };
        let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let ok_dialog = match call.dialog_mut(side) {
            Some(d) if d.matches(call_id, to_tag.as_deref(), from_tag.as_deref()) => {
                if !d.accept_remote_cseq(seq) {
                    self.calls.insert(id, call);
                    reply(out, 500);
                    return true;
                }
                // requests go back over the flow the peer uses now
                d.peer = from;
                true
            }
            _ => false,
        };
        if !ok_dialog || call.state != CallState::Answered {
            self.calls.insert(id, call);
            reply(out, 481);
            return true;
        }
        match method {
            Method::Bye => {
                let b = MessageBuilder::response_to(req, 200, None, Some(from.remote));
                out.respond(&key, b.finish());
                self.send_bye(&mut call, side.other(), out);
                call.resend = [None, None];
                self.calls.insert(id, call);
                let by = match side {
                    Side::A => HangupBy::Caller,
                    Side::B => HangupBy::Callee,
                };
                self.finish(now, id, by);
            }
            Method::Invite if call.reinvite_open => {
                // glare: an INVITE is already crossing this call
                self.calls.insert(id, call);
                let mut b = MessageBuilder::response_to(req, 491, None, Some(from.remote));
                b.header("Retry-After", 1);
                out.respond(&key, b.finish());
            }
            m => {
                if m == Method::Invite || m == Method::Update {
                    if let Some(d) = call.dialog_mut(side) {
                        d.refresh_target(req);
                    }
                }
                let offer = is_sdp(req);
                let body = if offer {
                    let raw = req.body().clone();
                    let rewritten = if matches!(m, Method::Invite | Method::Update) {
                        self.media.offer(id, side, &raw, call.mode)
                    } else {
                        None
                    };
                    Some(rewritten.unwrap_or(raw))
                } else {
                    None
                };
                let branch = self.branch_id();
                let other = side.other();
                let contact_user = match other {
                    Side::A => call.callee_user(),
                    Side::B => call.caller.login.clone(),
                };
                let Some(d) = call.dialog_mut(other) else {
                    self.calls.insert(id, call);
                    reply(out, 481);
                    return true;
                };
                let peer = d.peer;
                let contact = format!(
                    "<sip:{contact_user}@{}{}>",
                    peer.local,
                    transport_param(peer.transport)
                );
                let mut b = d.request(&m, &branch, Some(&contact));
                // the headers that carry the request's meaning cross with it
                for h in [
                    HeaderName::Event,
                    HeaderName::SubscriptionState,
                    HeaderName::ReferTo,
                    HeaderName::ReferredBy,
                    HeaderName::Supported,
                    HeaderName::Require,
                ] {
                    for v in req.header_values(&h) {
                        b.header(h.as_str(), v);
                    }
                }
                for h in req.headers() {
                    if ["RAck", "Info-Package", "Replaces"]
                        .iter()
                        .any(|n| h.name.matches(n))
                    {
                        b.header(h.name.as_str(), h.value());
                    }
                }
                let bytes = match (&body, req.content_type()) {
                    (Some(body), ct) => b.finish_with_body(ct.unwrap_or("application/sdp"), body),
                    (None, _) => b.finish(),
                };
                match Message::parse(bytes)
                    .ok()
                    .and_then(|msg| out.send_request(msg, peer))
                {
                    Some(k) => {
                        if m == Method::Invite {
                            call.reinvite_open = true;
                        }
                        self.track(
                            k,
                            (
                                id,
                                Pending::Relay(Box::new(OriginRequest {
                                    side,
                                    key,
                                    method: m,
                                    offer,
                                    request: req.clone(),
                                    from,
                                })),
                            ),
                        );
                        self.calls.insert(id, call);
                    }
                    None => {
                        self.calls.insert(id, call);
                        reply(out, 503);
                    }
                }
            }
        }
        true
    }

    /// The far side's final answer to a request we relayed from `o.side`.
    fn relayed_final(
        &mut self,
        now: Instant,
        id: CallId,
        o: OriginRequest,
        status: u16,
        resp: Message,
        out: &mut dyn Outbox,
    ) {
        if matches!(status, 408 | 481) {
            return self.dead_leg(now, id, &o, status, out);
        }
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let far = o.side.other();
        if o.method == Method::Invite {
            call.reinvite_open = false;
        }
        let cseq = resp.cseq().map(|c| c.seq).unwrap_or(0);
        let body = if is_sdp(&resp) {
            let raw = resp.body().clone();
            let rewritten = match (&o.method, o.offer) {
                (Method::Invite | Method::Update, true) => {
                    self.media.answer(id, far, &raw, call.mode)
                }
                (Method::Invite, false) => self.media.offer(id, far, &raw, call.mode),
                _ => None,
            };
            Some(rewritten.unwrap_or(raw))
        } else {
            None
        };
        let ok = (200..300).contains(&status);
        if ok {
            if let Some(d) = call.dialog_mut(far) {
                if matches!(o.method, Method::Invite | Method::Update) {
                    d.refresh_target(&resp);
                }
            }
            if o.method == Method::Invite {
                if o.offer {
                    self.send_ack(&mut call, far, cseq, None, out);
                } else {
                    call.ack_owed = Some((far, cseq));
                }
            }
        }
        let contact_user = match o.side {
            Side::A => call.callee_user(),
            Side::B => call.caller.login.clone(),
        };
        let mut b = MessageBuilder::response_to(&o.request, status, None, Some(o.from.remote));
        if matches!(
            o.method,
            Method::Invite | Method::Update | Method::Subscribe
        ) && ok
        {
            b.header(
                "Contact",
                format_args!(
                    "<sip:{contact_user}@{}{}>",
                    o.from.local,
                    transport_param(o.from.transport)
                ),
            );
        }
        for h in [
            HeaderName::Event,
            HeaderName::Expires,
            HeaderName::Supported,
            HeaderName::Require,
        ] {
            for v in resp.header_values(&h) {
                b.header(h.as_str(), v);
            }
        }
        if status == 491 {
            if let Some(v) = resp.header(&HeaderName::RetryAfter) {
                b.header("Retry-After", v);
            }
        }
        let bytes = match body {
            Some(body) => {
                b.finish_with_body(resp.content_type().unwrap_or("application/sdp"), &body)
            }
            None => b.finish(),
        };
        out.respond(&o.key, bytes.clone());
        if o.method == Method::Invite && ok {
            let o_cseq = o.request.cseq().map(|c| c.seq).unwrap_or(0);
            self.start_resend(now, &mut call, o.side, bytes, o_cseq);
        }
        self.calls.insert(id, call);
    }

    /// The far leg of a relayed request is gone (408, 481, timeout): answer the origin and
    /// end the call.
    fn dead_leg(
        &mut self,
        now: Instant,
        id: CallId,
        o: &OriginRequest,
        status: u16,
        out: &mut dyn Outbox,
    ) {
        let b = MessageBuilder::response_to(&o.request, status, None, Some(o.from.remote));
        out.respond(&o.key, b.finish());
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if o.method == Method::Invite {
            call.reinvite_open = false;
        }
        tracing::debug!(call = id, status, "the other leg is gone: ending the call");
        if o.method != Method::Bye {
            self.send_bye(&mut call, o.side, out);
        }
        call.resend = [None, None];
        self.calls.insert(id, call);
        self.finish(now, id, HangupBy::System);
    }

    fn send_bye(&mut self, call: &mut Call, side: Side, out: &mut dyn Outbox) {
        let branch = self.branch_id();
        let id = call.id;
        let Some(d) = call.dialog_mut(side) else {
            return;
        };
        let peer = d.peer;
        let b = d.request(&Method::Bye, &branch, None);
        if let Ok(m) = Message::parse(b.finish()) {
            if let Some(k) = out.send_request(m, peer) {
                self.track(k, (id, Pending::Own));
            }
        }
    }

    /// The relay saw no media on call `id` for its inactivity timeout. A call whose media must
    /// flow through the relay (anchored) is dead: BYE to both legs (or, still ringing, CANCEL
    /// and 480). A call that only got a relay candidate may be talking peer to peer: left
    /// alone. Returns whether the call was ended.
    pub fn media_inactive(&mut self, now: Instant, id: u64, out: &mut dyn Outbox) -> bool {
        let Some(mut call) = self.calls.remove(&id) else {
            return false;
        };
        if call.mode != MediaMode::Anchor || call.state == CallState::Ended {
            self.calls.insert(id, call);
            return false;
        }
        tracing::info!(call = id, "no media through the relay: ending the call");
        match call.state {
            CallState::Answered => {
                self.send_bye(&mut call, Side::A, out);
                self.send_bye(&mut call, Side::B, out);
                call.resend = [None, None];
                self.calls.insert(id, call);
            }
            _ => {
                for i in 0..call.branches.len() {
                    if call.branches[i].live() {
                        self.cancel_branch(&mut call, i, TERMINATED, out);
                    }
                }
                call.voicemail = None;
                call.steps.clear();
                call.gateways.clear();
                self.calls.insert(id, call);
                self.answer_a(now, id, 480, Some("no media"), out);
            }
        }
        self.finish(now, id, HangupBy::System);
        true
    }

    // ----- time --------------------------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Instant, out: &mut dyn Outbox) {
        while let Some(Reverse((at, id, kind))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if kind == TimerKind::DurationSweep {
                self.sweep_durations(now, out);
                continue;
            }
            if kind == TimerKind::GhostSweep {
                self.ghosts.retain(|_, g| g.until > now);
                self.ghost_sweep_armed = false;
                if let Some(next) = self.ghosts.values().map(|g| g.until).min() {
                    self.ghost_sweep_armed = true;
                    self.arm(next, 0, TimerKind::GhostSweep);
                }
                continue;
            }
            let Some(mut call) = self.calls.remove(&id) else {
                continue;
            };
            match kind {
                TimerKind::NoAnswer if call.no_answer_at == Some(at) => {
                    call.no_answer_at = None;
                    if call.state == CallState::Ringing {
                        tracing::debug!(call = id, "no answer in time");
                        for i in 0..call.branches.len() {
                            if call.branches[i].live() {
                                self.cancel_branch(&mut call, i, TERMINATED, out);
                                // the CANCELled branch ends with 487; count it as no answer
                                call.branches[i].state = BranchState::Done(480);
                            }
                        }
                        self.end_park(now, &mut call, PushKind::MissedTimeout, TERMINATED, None);
                        call.steps.clear();
                        call.gateways.clear();
                        if let Some((uri, peer)) = call.voicemail.take() {
                            let user = user_part(&uri).unwrap_or_default();
                            call.mode = MediaMode::Anchor;
                            self.start_branch(&mut call, &uri, peer, &user, None, None, out);
                            let at = now + self.cfg.call_timeout;
                            call.no_answer_at = Some(at);
                            self.arm(at, id, TimerKind::NoAnswer);
                            self.calls.insert(id, call);
                            continue;
                        }
                        self.calls.insert(id, call);
                        self.answer_a(now, id, 480, Some("no answer"), out);
                        self.finish(now, id, HangupBy::System);
                        continue;
                    }
                }
                TimerKind::RingStep
                    if call.step_at == Some(at) && call.state == CallState::Ringing =>
                {
                    self.ring_step(now, &mut call, out);
                }
                TimerKind::PushDue if call.state == CallState::Ringing => {
                    self.push_due(now, &mut call, None, out);
                }
                TimerKind::Resend2xx => {
                    let mut dead = false;
                    for r in call.resend.iter_mut().flatten() {
                        if r.next != at {
                            continue;
                        }
                        if now >= r.give_up {
                            dead = true;
                            break;
                        }
                        out.send_stateless(r.bytes.clone(), r.peer);
                        r.interval = (r.interval * 2).min(self.cfg.t2);
                        r.next = (now + r.interval).min(r.give_up);
                        let next = r.next;
                        self.arm(next, id, TimerKind::Resend2xx);
                    }
                    if dead {
                        // the ACK never came: the call cannot go on (§13.3.1.4)
                        tracing::debug!(call = id, "no ACK for our 2xx: ending the call");
                        call.resend = [None, None];
                        self.send_bye(&mut call, Side::A, out);
                        self.send_bye(&mut call, Side::B, out);
                        self.calls.insert(id, call);
                        self.finish(now, id, HangupBy::System);
                        continue;
                    }
                }
                TimerKind::GatewaySilent(n)
                    if call.state == CallState::Ringing
                        && call
                            .branches
                            .get(n)
                            .is_some_and(|b| b.state == BranchState::Calling) =>
                {
                    tracing::debug!(call = id, branch = n, "gateway silent: failing over");
                    // nothing to CANCEL before a provisional: the branch is abandoned and
                    // its transaction times out on its own; a late 2xx gets ACK + BYE
                    call.branches[n].state = BranchState::Done(408);
                    self.calls.insert(id, call);
                    self.branch_final(now, id, n, 408, out);
                    continue;
                }
                TimerKind::Linger if call.linger_until == Some(at) => {
                    self.calls.insert(id, call);
                    self.remove(id);
                    continue;
                }
                _ => {}
            }
            self.calls.insert(id, call);
        }
    }

    /// Hangs up the answered calls older than the longest allowed duration; re-arms itself
    /// while calls remain.
    fn sweep_durations(&mut self, now: Instant, out: &mut dyn Outbox) {
        let max = self.cfg.max_duration;
        let expired: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| {
                c.state == CallState::Answered
                    && c.answer.is_some_and(|a| now.duration_since(a) >= max)
            })
            .map(|c| c.id)
            .collect();
        for id in expired {
            let Some(mut call) = self.calls.remove(&id) else {
                continue;
            };
            tracing::info!(call = id, "longest call duration reached: hanging up");
            self.send_bye(&mut call, Side::A, out);
            self.send_bye(&mut call, Side::B, out);
            call.resend = [None, None];
            self.calls.insert(id, call);
            self.finish(now, id, HangupBy::System);
        }
        if self.calls.is_empty() {
            self.sweep_armed = false;
        } else {
            self.arm(now + SWEEP_EVERY, 0, TimerKind::DurationSweep);
        }
    }

    // ----- the end -----------------------------------------------------------------------

    /// The call is over for the caller: write its CDR; it stays in the table while branches
    /// or our BYEs wait for answers (at most 64·T1), then goes.
    fn finish(&mut self, now: Instant, id: CallId, by: HangupBy) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.state = CallState::Ended;
        if !call.cdr_written {
            call.cdr_written = true;
            call.hangup_by = by;
            let media = self.media.end(id);
            let call = &self.calls[&id];
            let gateway = call
                .winner
                .and_then(|w| call.branches[w].gateway.clone())
                .or_else(|| call.branches.iter().rev().find_map(|b| b.gateway.clone()));
            let cdr = Cdr {
                call_id: call.a_invite.call_id().unwrap_or_default().to_owned(),
                caller: call.caller.login.clone(),
                callee: call.callee.clone(),
                dialed: call.dialed.clone(),
                routed: call.routed.clone(),
                route: call.route.to_owned(),
                gateway,
                start_ms: self.wall(call.start),
                ringing_ms: call.ringing.map(|t| self.wall(t)),
                answer_ms: call.answer.map(|t| self.wall(t)),
                end_ms: self.wall(now),
                final_code: call.final_code,
                hangup_by: by,
                media,
                wakeup_ms: call
                    .park
                    .as_ref()
                    .and_then(|p| Some(p.woke?.duration_since(p.first_push?).as_millis() as u64)),
            };
            self.events.push_back(CallEvent::Cdr(cdr));
        }
        let at = now + 64 * self.cfg.t1;
        if let Some(call) = self.calls.get_mut(&id) {
            call.linger_until = Some(at);
        }
        self.arm(at, id, TimerKind::Linger);
        self.maybe_remove(id);
    }

    /// Removes an ended call once nothing of it is pending.
    fn maybe_remove(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state != CallState::Ended
            || call.live_branches() > 0
            || call.resend.iter().any(Option::is_some)
        {
            return;
        }
        if self.pending_per_call.contains_key(&id) {
            return;
        }
        self.remove(id);
    }

    fn remove(&mut self, id: CallId) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Some(cid) = call.a_invite.call_id() {
            self.by_call_id.remove(cid);
        }
        for b in &call.branches {
            if let Some(cid) = b.invite.call_id() {
                self.by_call_id.remove(cid);
            }
        }
        self.by_server.remove(&call.a_key);
        if let Some((_, inv, _)) = &call.pickup {
            if let Some(cid) = inv.call_id() {
                self.by_call_id.remove(cid);
            }
        }
        if let Some(p) = &call.park {
            self.by_park.remove(&p.call_id);
            if let Some(v) = self.parked_by_login.get_mut(&p.login) {
                v.retain(|c| *c != id);
                if v.is_empty() {
                    self.parked_by_login.remove(&p.login);
                }
            }
        }
        if self.pending_per_call.remove(&id).is_some() {
            // only after the linger time: drop what never got an answer
            self.by_client.retain(|_, (c, _)| *c != id);
        }
    }
}

/// Index of a side in per-side arrays.
fn slot(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn side_dialog(call: &Call, side: Side) -> Option<&Dialog> {
    match side {
        Side::A => call.a_dialog.as_ref(),
        Side::B => call.b_dialog.as_ref(),
    }
}

impl Call {
    /// The user part we present to the caller in our Contact.
    fn callee_user(&self) -> String {
        if self.callee.is_empty() {
            "ferroswitch".into()
        } else {
            self.callee.replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-' && c != '_',
                "",
            )
        }
    }
}

/// A relayed request as the origin sent it.
#[derive(Debug)]
struct OriginRequest {
    side: Side,
    key: ServerKey,
    method: Method,
    offer: bool,
    request: Message,
    from: Peer,
}

/// The push event of kind `kind` for `devices` of a parked call.
fn push_request(call: &Call, kind: PushKind, devices: Vec<PushDevice>) -> Option<CallEvent> {
    let park = call.park.as_ref()?;
    Some(CallEvent::Push(PushRequest {
        call: call.id,
        kind,
        caller: call.caller.login.clone(),
        caller_display: call.caller.display_name.clone(),
        callee: park.login.clone(),
        call_id: park.call_id.clone(),
        to_tag: park.our_tag.clone(),
        from_tag: park.their_tag.clone(),
        devices,
    }))
}

// ----- push wake-up: parking, late forking, pick-up with Replaces, ghosts -----------------
impl Calls {
    /// Parks `call` for the callee's devices with push tokens: those without a binding are
    /// pushed at once, the ringing ones when they stay silent for the push delay.
    fn park(
        &mut self,
        now: Instant,
        call: &mut Call,
        login: String,
        push: Vec<PushDevice>,
        out: &mut dyn Outbox,
    ) {
        let policy = self.cfg.push.unwrap_or_default();
        let devices = push
            .into_iter()
            .map(|dev| {
                // a device whose flow could not even take the INVITE counts as asleep
                let ringing = call
                    .branches
                    .iter()
                    .any(|b| b.live() && b.instance.as_deref() == Some(dev.instance.as_str()));
                let at = if ringing { now + policy.delay } else { now };
                Device {
                    dev,
                    state: DeviceState::Waiting(at),
                }
            })
            .collect();
        let park = Park {
            login,
            call_id: format!("{}@ferroswitch", self.token()),
            our_tag: self.token(),
            their_tag: self.token(),
            devices,
            first_push: None,
            deadline: None,
            woke: None,
            ringing_sent: false,
        };
        self.by_park.insert(park.call_id.clone(), call.id);
        self.parked_by_login
            .entry(park.login.clone())
            .or_default()
            .push(call.id);
        call.park = Some(park);
        self.push_due(now, call, None, out);
    }

    /// Pushes the devices that are due (and `instance` at once); the caller hears ringing
    /// while the call is parked; arms the next push.
    fn push_due(
        &mut self,
        now: Instant,
        call: &mut Call,
        instance: Option<&str>,
        out: &mut dyn Outbox,
    ) {
        let policy = self.cfg.push.unwrap_or_default();
        let Some(park) = call.park.as_mut() else {
            return;
        };
        let due = park.take_due(now, instance);
        let next = park.next_due();
        if !due.is_empty() {
            if park.deadline.is_none() {
                let d = now + policy.timeout;
                park.deadline = Some(d);
                if call.no_answer_at.is_some_and(|a| a < d) {
                    call.no_answer_at = Some(d);
                    self.arm(d, call.id, TimerKind::NoAnswer);
                }
            }
            let ring = !park.ringing_sent;
            park.ringing_sent = true;
            tracing::info!(call = call.id, callee = %park.login, devices = due.len(), "call parked: pushing the callee's devices");
            if let Some(ev) = push_request(call, PushKind::IncomingCall, due) {
                self.events.push_back(ev);
            }
            if ring && call.state == CallState::Ringing {
                call.ringing.get_or_insert(now);
                let mut rb = MessageBuilder::response_to(
                    &call.a_invite,
                    180,
                    Some(&call.a_tag),
                    Some(call.a_peer.remote),
                );
                rb.header("Contact", self.contact(&call.callee_user(), &call.a_peer));
                rb.header("Allow", ALLOW);
                out.respond(&call.a_key, rb.finish());
            }
        }
        if let Some(at) = next {
            self.arm(at, call.id, TimerKind::PushDue);
        }
    }

    /// The parked phase is over (answered, cancelled, timed out): the pushed devices (but
    /// `except`) get `kind`, and a ghost INVITE+CANCEL with `reason` if they register late.
    fn end_park(
        &mut self,
        now: Instant,
        call: &mut Call,
        kind: PushKind,
        reason: &'static str,
        except: Option<&str>,
    ) {
        let Some(park) = call.park.as_mut() else {
            return;
        };
        for d in &mut park.devices {
            if matches!(d.state, DeviceState::Waiting(_)) {
                d.state = DeviceState::Spoke;
            }
        }
        let pushed: Vec<PushDevice> = park
            .pushed()
            .into_iter()
            .filter(|d| Some(d.instance.as_str()) != except)
            .collect();
        if pushed.is_empty() {
            return;
        }
        let until = park.deadline.unwrap_or(now).max(now);
        for d in &pushed {
            self.ghosts.insert(
                (park.login.clone(), d.instance.clone()),
                Ghost {
                    reason,
                    until,
                    a_invite: call.a_invite.clone(),
                    caller: call.caller.clone(),
                    a_key: call.a_key,
                },
            );
        }
        if !self.ghost_sweep_armed {
            self.ghost_sweep_armed = true;
            self.arm(until, 0, TimerKind::GhostSweep);
        }
        tracing::info!(
            call = call.id,
            ?kind,
            devices = pushed.len(),
            "parked call over"
        );
        if let Some(ev) = push_request(call, kind, pushed) {
            self.events.push_back(ev);
        }
    }

    /// The push hook failed for these devices of call `id`: when nothing else can answer,
    /// the answering rules apply at once.
    pub fn push_failed(
        &mut self,
        now: Instant,
        id: u64,
        instances: &[String],
        out: &mut dyn Outbox,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(p) = call.park.as_mut() {
            p.failed(instances);
        }
        self.after_branch_change(now, id, out);
    }

    /// Calls still ringing with at least one device pushed (parked calls).
    pub fn parked(&self) -> usize {
        self.calls
            .values()
            .filter(|c| {
                c.state == CallState::Ringing
                    && c.park.as_ref().is_some_and(|p| p.first_push.is_some())
            })
            .count()
    }

    /// `login` registered the binding `target` (a new or refreshed REGISTER): its parked
    /// calls fork to it (late forking) when it is a pushed device or a device they never
    /// rang; a pushed device whose call already ended gets the ghost INVITE + CANCEL.
    pub fn registered(&mut self, now: Instant, login: &str, target: Target, out: &mut dyn Outbox) {
        if let Some(inst) = &target.instance {
            if let Some(g) = self.ghosts.remove(&(login.to_owned(), inst.clone())) {
                if now < g.until {
                    self.ghost_call(now, g, &target, out);
                }
                return;
            }
        }
        let Some(ids) = self.parked_by_login.get(login).cloned() else {
            return;
        };
        for id in ids {
            let Some(mut call) = self.calls.remove(&id) else {
                continue;
            };
            if call.state == CallState::Ringing {
                let inst = target.instance.as_deref();
                let same = |b: &Branch| {
                    (inst.is_some() && b.instance.as_deref() == inst)
                        || b.invite.request_uri_str() == Some(target.uri.as_str())
                };
                let ringing_it = call.branches.iter().any(|b| b.live() && same(b));
                let ever = call.branches.iter().any(same);
                let pushed =
                    inst.is_some_and(|i| call.park.as_ref().is_some_and(|p| p.was_pushed(i)));
                if !ringing_it && (pushed || !ever) {
                    if pushed {
                        if let Some(p) = call.park.as_mut() {
                            p.wake(now);
                        }
                    }
                    tracing::info!(call = id, %login, pushed, "device registered: forking the parked call to it");
                    if self.start_branch(
                        &mut call,
                        &target.uri,
                        target.peer,
                        login,
                        None,
                        None,
                        out,
                    ) {
                        if let Some(b) = call.branches.last_mut() {
                            b.instance.clone_from(&target.instance);
                        }
                    }
                }
            }
            self.calls.insert(id, call);
        }
    }

    /// The INVITE at once CANCELled that a late pushed device gets (see [`Ghost`]).
    fn ghost_call(&mut self, now: Instant, g: Ghost, target: &Target, out: &mut dyn Outbox) {
        let id = self.next_id;
        self.next_id += 1;
        tracing::info!(call = id, login = %target.login, "pushed device registered after its call ended: INVITE + CANCEL");
        let mut call = Call {
            id,
            state: CallState::Ended,
            caller: g.caller,
            dialed: String::new(),
            routed: String::new(),
            callee: target.login.clone(),
            route: "none",
            mode: MediaMode::CandidateOnly,
            a_key: g.a_key,
            a_invite: g.a_invite,
            a_peer: target.peer,
            a_tag: self.token(),
            a_dialog: None,
            offer: None,
            max_forwards: 70,
            branches: Vec::new(),
            winner: None,
            b_dialog: None,
            steps: VecDeque::new(),
            step_delay: Duration::ZERO,
            gateways: VecDeque::new(),
            gateway_number: String::new(),
            voicemail: None,
            ack_owed: None,
            last_ack: [None, None],
            resend: [None, None],
            reinvite_open: false,
            no_answer_at: None,
            step_at: None,
            linger_until: None,
            start: now,
            ringing: None,
            answer: None,
            final_code: 0,
            hangup_by: HangupBy::System,
            cdr_written: true,
            park: None,
            pickup: None,
            pickup_owed: None,
        };
        if self.start_branch(
            &mut call,
            &target.uri,
            target.peer,
            &target.login,
            None,
            None,
            out,
        ) {
            if let Some(b) = call.branches.last_mut() {
                // CANCEL as soon as it rings (§9.1: not before a provisional)
                b.cancel_wanted = true;
                b.cancel_reason = g.reason;
            }
            self.calls.insert(id, call);
        }
    }

    /// An INVITE with `Replaces` naming a parked call: the woken app picks it up. Only the
    /// callee's own login may (403 otherwise); an unknown or finished parked call is 481.
    #[allow(clippy::too_many_arguments)]
    fn pick_up(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: &Message,
        from: Peer,
        caller: &Caller,
        replaces: &str,
        out: &mut dyn Outbox,
    ) {
        let reply = |out: &mut dyn Outbox, code: u16, reason: &str| {
            let mut b =
                MessageBuilder::response_to(req, code, Some(&req.stable_tag()), Some(from.remote));
            b.header("Warning", format_args!("399 ferroswitch \"{reason}\""));
            out.respond(&key, b.finish());
        };
        let Some(r) = parse_replaces(replaces) else {
            return reply(out, 400, "bad Replaces");
        };
        let Some(&id) = self.by_park.get(r.call_id) else {
            return reply(out, 481, "no such parked call");
        };
        let Some(mut call) = self.calls.remove(&id) else {
            return reply(out, 481, "no such parked call");
        };
        let check = match &call.park {
            None => Err((481, "no such parked call")),
            Some(p) if caller.trusted || caller.login != p.login => {
                Err((403, "only the callee may pick up its call"))
            }
            Some(p)
                if r.to_tag != Some(p.our_tag.as_str())
                    || r.from_tag.is_some_and(|t| t != p.their_tag) =>
            {
                Err((481, "no such parked call"))
            }
            Some(_) if call.state != CallState::Ringing => Err((481, "the call is over")),
            Some(_) => Ok(()),
        };
        if let Err((code, reason)) = check {
            tracing::info!(call = id, login = %caller.login, code, "INVITE/Replaces refused: {reason}");
            self.calls.insert(id, call);
            return reply(out, code, reason);
        }
        let app_offer = is_sdp(req).then(|| {
            (
                req.content_type().unwrap_or("application/sdp").to_owned(),
                req.body().clone(),
            )
        });
        if call.offer.is_none() && app_offer.is_none() {
            self.calls.insert(id, call);
            return reply(out, 488, "neither side made an SDP offer");
        }
        let b_tag = self.token();
        let dialogs = (
            Dialog::from_request(req, &b_tag, from),
            Dialog::from_request(&call.a_invite, &call.a_tag, call.a_peer),
        );
        let (Ok(b_dialog), Ok(a_dialog)) = dialogs else {
            self.calls.insert(id, call);
            return reply(out, 400, "no usable dialog (Contact?)");
        };
        // the app wins: every other device stops ringing
        for i in 0..call.branches.len() {
            if call.branches[i].live() {
                self.cancel_branch(&mut call, i, ELSEWHERE, out);
            }
        }
        call.steps.clear();
        call.gateways.clear();
        call.voicemail = None;
        if let Some(p) = call.park.as_mut() {
            p.wake(now);
        }
        let inst = req.contacts().ok().flatten().and_then(|c| match c {
            sip_message::ContactList::Contacts(l) => {
                l.first().and_then(|c| c.instance().map(|i| i.into_owned()))
            }
            sip_message::ContactList::Star => None,
        });
        self.end_park(
            now,
            &mut call,
            PushKind::AnsweredElsewhere,
            ELSEWHERE,
            inst.as_deref(),
        );
        call.state = CallState::Answered;
        call.answer = Some(now);
        call.ringing.get_or_insert(now);
        call.final_code = 200;
        call.no_answer_at = None;
        call.step_at = None;
        call.a_dialog = Some(a_dialog);
        call.b_dialog = Some(b_dialog);
        if let Some(cid) = req.call_id() {
            self.by_call_id.insert(cid.to_owned(), (id, Side::B));
        }
        call.pickup = Some((key, req.clone(), from));
        if !self.sweep_armed {
            self.sweep_armed = true;
            self.arm(now + SWEEP_EVERY, 0, TimerKind::DurationSweep);
        }
        tracing::info!(call = id, login = %caller.login, "parked call picked up with INVITE/Replaces");
        match (call.offer.clone(), app_offer) {
            (Some((ct, a_offer)), Some((b_ct, b_offer))) => {
                // both offered: each side's offer is the other's answer (one phone app
                // family on both ends; through the relay when it anchors)
                let for_a = self
                    .media
                    .answer(id, Side::B, &b_offer, call.mode)
                    .unwrap_or(b_offer);
                self.pickup_ok(now, &mut call, Side::B, Some((&ct, &a_offer)), out);
                self.pickup_ok(now, &mut call, Side::A, Some((&b_ct, &for_a)), out);
            }
            (Some((ct, a_offer)), None) => {
                // late offer from the app: A's offer to it, its answer comes in the ACK
                self.pickup_ok(now, &mut call, Side::B, Some((&ct, &a_offer)), out);
                call.pickup_owed = Some(Side::A);
            }
            (None, Some((b_ct, b_offer))) => {
                let for_a = self
                    .media
                    .offer(id, Side::B, &b_offer, call.mode)
                    .unwrap_or(b_offer);
                self.pickup_ok(now, &mut call, Side::A, Some((&b_ct, &for_a)), out);
                call.pickup_owed = Some(Side::B);
            }
            (None, None) => unreachable!("checked above"),
        }
        self.calls.insert(id, call);
    }

    /// The 200 for a picked-up call towards `side` (A: the caller's INVITE; B: the app's
    /// INVITE/Replaces), resent until its ACK.
    fn pickup_ok(
        &mut self,
        now: Instant,
        call: &mut Call,
        side: Side,
        body: Option<(&str, &[u8])>,
        out: &mut dyn Outbox,
    ) {
        let (key, mut rb, cseq) = match side {
            Side::A => (
                call.a_key,
                MessageBuilder::response_to(
                    &call.a_invite,
                    200,
                    Some(&call.a_tag),
                    Some(call.a_peer.remote),
                ),
                call.a_invite.cseq().map_or(1, |c| c.seq),
            ),
            Side::B => {
                let Some((key, inv, from)) = &call.pickup else {
                    return;
                };
                let tag = call.b_dialog.as_ref().map(|d| d.local_tag.clone());
                (
                    *key,
                    MessageBuilder::response_to(inv, 200, tag.as_deref(), Some(from.remote)),
                    inv.cseq().map_or(1, |c| c.seq),
                )
            }
        };
        let (user, peer) = match side {
            Side::A => (call.callee_user(), call.a_peer),
            Side::B => (
                call.caller.login.clone(),
                call.pickup.as_ref().map_or(call.a_peer, |p| p.2),
            ),
        };
        rb.header("Contact", self.contact(&user, &peer))
            .header("Allow", ALLOW)
            .header("Server", &self.cfg.server);
        let bytes = match body {
            Some((ct, b)) => rb.finish_with_body(ct, b),
            None => rb.finish(),
        };
        out.respond(&key, bytes.clone());
        self.start_resend(now, call, side, bytes, cseq);
    }
}
