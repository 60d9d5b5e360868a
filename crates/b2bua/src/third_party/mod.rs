//! The call-control API's calls (docs/api.md): a sans-IO user agent that places calls
//! *through* the switch on behalf of a login, as an application asks over HTTP.
//!
//! It sits beside [`crate::Calls`], not inside it: its requests go to the switch's own SIP
//! socket from a loopback address the dispatcher trusts as the login named in From (like a
//! trusted peer), so routing, forking to the login's devices, gateways, the relay, billing and
//! CDRs are the switch's usual ones. The driver (`ferroswitch/src/api/ua.rs`) owns the UDP
//! socket and the clock.
//!
//! Inputs: [`ApiCalls::handle_datagram`], [`ApiCalls::handle_timeout`] and the commands
//! ([`ApiCalls::click_to_call`], [`ApiCalls::call_from_endpoint`], [`ApiCalls::hold`],
//! [`ApiCalls::resume`], [`ApiCalls::dtmf`], [`ApiCalls::transfer`], [`ApiCalls::hang_up`]).
//! Outputs, polled in this order after each input: [`ApiCalls::poll_transmit`] (datagrams for
//! the switch), [`ApiCalls::poll_event`] (status changes for the API's channels), then
//! [`ApiCalls::poll_timeout`].
//!
//! Click-to-call is third-party call control, RFC 3725 flow I:
//!
//! ```text
//!  us ── INVITE (no SDP) ──▶ switch ──▶ the login's own devices
//!  us ◀── 200 (offer A) ───  one device answers
//!  us ── INVITE (offer A) ─▶ switch ──▶ destination            status: progressing
//!  us ◀── 180 / 183 / 182 ──                                   ringing / session_progress / queued
//!  us ◀── 200 (answer B) ──                                    connected
//!  us ── ACK ─▶ B;  us ── ACK (answer B) ─▶ A
//! ```
//!
//! The destination must answer within [`RING_LIMIT`] (the user's 200 waits for its ACK
//! that long); a failure on either leg ends the other with CANCEL or BYE. A call from the
//! API endpoint ([`ApiCalls::call_from_endpoint`]) is the B leg alone, with the endpoint's
//! offer; the answer comes back in the `connected` event.

mod leg;
pub mod sdp;
mod status;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::{Message, MessageBuilder, Method, Peer, Transport};
use sip_transaction::{ClientKey, Event, ServerKey, TimerConfig, TransactionLayer, Transmit};

use crate::deadlines::Deadlines;

pub use status::{CallStatus, StatusRow, STATUS_TABLE};

use leg::{Leg, LegState};

/// How long the destination may ring in a click-to-call before it counts as no answer.
pub const RING_LIMIT: Duration = Duration::from_secs(30);
/// How long an ended call stays readable (`GET`).
const LINGER: Duration = Duration::from_secs(60);

/// Where the agent lives and whom it talks to.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The agent's own UDP socket (loopback).
    pub local: SocketAddr,
    /// The switch's SIP UDP socket.
    pub switch: SocketAddr,
    /// The domain of the From/To/Request-URIs (the registrar's domain or the switch address).
    pub domain: String,
    /// `User-Agent` of our requests.
    pub user_agent: String,
}

/// How a call was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Third-party call control: the user's own devices, then the destination.
    ClickToCall,
    /// From the API endpoint, with its SDP offer.
    Endpoint,
    /// An incoming call to the login, forked to the API endpoint by the switch.
    Incoming,
}

/// A status change for the API's notification channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEvent {
    pub call: u64,
    pub login: String,
    pub status: CallStatus,
    /// The SIP response code behind the status, when one.
    pub code: Option<u16>,
    /// Why the call is terminating (`local_hangup`, `remote_hangup`, `transferred`, ...), or
    /// which leg failed.
    pub reason: Option<String>,
    /// The destination's SDP answer, in the `connected` event of an endpoint call; the
    /// caller's offer in the `initial` event of an incoming call.
    pub sdp: Option<String>,
    /// Who calls, in the `initial` event of an incoming call.
    pub caller: Option<String>,
}

/// A call as `GET` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCallInfo {
    pub id: u64,
    pub login: String,
    pub destination: String,
    pub kind: CallKind,
    pub status: CallStatus,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("no such call")]
    NoSuchCall,
    #[error("the call is not connected")]
    NotConnected,
    #[error("the call is already over")]
    Over,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The user's own devices (click-to-call only).
    A,
    /// The destination.
    B,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Invite,
    Hold,
    Resume,
    /// A re-INVITE of the user's own leg (click-to-call hold or resume, after the
    /// destination's 2xx); its final answer reports the call's `hold` or `resumed`.
    OwnLeg {
        hold: bool,
    },
    Info,
    Refer,
    Bye,
    Cancel,
}

struct ApiCall {
    login: String,
    destination: String,
    kind: CallKind,
    status: CallStatus,
    a: Option<Leg>,
    b: Option<Leg>,
    /// The offer the destination got (A's, or the endpoint's).
    offer: Option<String>,
    /// The destination's answer.
    answer: Option<String>,
    dtmf: VecDeque<char>,
    dtmf_busy: bool,
    ring_deadline: Option<Instant>,
    ended_at: Option<Instant>,
    /// An incoming call not answered yet: its INVITE transaction and request.
    incoming: Option<(ServerKey, Message)>,
}

/// The agent: its transaction layer and calls.
pub struct ApiCalls {
    cfg: AgentConfig,
    tx: TransactionLayer,
    calls: HashMap<u64, ApiCall>,
    /// Our legs' Call-IDs → call and side (requests from the switch find their dialog here).
    by_call_id: HashMap<String, (u64, Side)>,
    by_client: HashMap<ClientKey, (u64, Side, Pending)>,
    events: VecDeque<ApiEvent>,
    next_id: u64,
    /// Ring limits and lingers of every call, earliest first (cancelled lazily: a timer
    /// acts only while the call's deadline still equals it).
    timers: Deadlines<(u64, Timer)>,
}

/// What a call's timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The destination's [`RING_LIMIT`] (`ring_deadline`).
    Ring,
    /// An ended call's [`LINGER`] (from `ended_at`).
    Linger,
}

impl ApiCalls {
    pub fn new(cfg: AgentConfig) -> Self {
        Self {
            cfg,
            tx: TransactionLayer::new(TimerConfig::default()),
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            by_client: HashMap::new(),
            events: VecDeque::new(),
            next_id: 1,
            timers: Deadlines::default(),
        }
    }

    fn peer(&self) -> Peer {
        Peer {
            transport: Transport::Udp,
            remote: self.cfg.switch,
            local: self.cfg.local,
            conn: None,
        }
    }

    /// Click-to-call: rings `login`'s own devices, then bridges the one that answers to
    /// `destination`. Returns the call's id.
    pub fn click_to_call(
        &mut self,
        now: Instant,
        login: &str,
        destination: &str,
    ) -> Result<u64, CommandError> {
        check_user(login)?;
        check_user(destination)?;
        let id = self.new_call(login, destination, CallKind::ClickToCall);
        let display = format!("Call {destination}");
        let leg = self.invite(now, id, Side::A, login, Some(&display), login, None);
        let call = self.calls.get_mut(&id).expect("just added");
        call.a = Some(leg);
        Ok(id)
    }

    /// A call from the API endpoint to `destination` with the endpoint's SDP `offer`.
    pub fn call_from_endpoint(
        &mut self,
        now: Instant,
        login: &str,
        destination: &str,
        offer: &str,
    ) -> Result<u64, CommandError> {
        check_user(login)?;
        check_user(destination)?;
        if !offer.trim_start().starts_with("v=0") {
            return Err(CommandError::Invalid(
                "the SDP offer must start with v=0".into(),
            ));
        }
        let id = self.new_call(login, destination, CallKind::Endpoint);
        self.call_destination(now, id, offer.to_owned());
        Ok(id)
    }

    fn new_call(&mut self, login: &str, destination: &str, kind: CallKind) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.calls.insert(
            id,
            ApiCall {
                login: login.to_owned(),
                destination: destination.to_owned(),
                kind,
                status: CallStatus::Initial,
                a: None,
                b: None,
                offer: None,
                answer: None,
                dtmf: VecDeque::new(),
                dtmf_busy: false,
                ring_deadline: None,
                ended_at: None,
                incoming: None,
            },
        );
        if kind != CallKind::Incoming {
            self.emit(id, CallStatus::Initial, None, None, None);
        }
        id
    }

    /// The B leg: INVITE the destination with `offer`.
    fn call_destination(&mut self, now: Instant, id: u64, offer: String) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (login, destination) = (call.login.clone(), call.destination.clone());
        let leg = self.invite(now, id, Side::B, &login, None, &destination, Some(&offer));
        let call = self.calls.get_mut(&id).expect("present");
        call.offer = Some(offer);
        call.b = Some(leg);
        call.ring_deadline = Some(now + RING_LIMIT);
        self.timers.arm(now + RING_LIMIT, (id, Timer::Ring));
        self.emit(id, CallStatus::Progressing, None, None, None);
    }

    /// Sends an INVITE from `from_user` to `to_user` through the switch.
    #[allow(clippy::too_many_arguments)]
    fn invite(
        &mut self,
        now: Instant,
        id: u64,
        side: Side,
        from_user: &str,
        display: Option<&str>,
        to_user: &str,
        offer: Option<&str>,
    ) -> Leg {
        let peer = self.peer();
        let branch = self.tx.new_branch();
        let tag = self.tx.new_tag();
        let call_id = format!("api-{id}-{}@{}", self.tx.new_tag(), self.cfg.local.ip());
        let domain = &self.cfg.domain;
        let uri = format!("sip:{to_user}@{domain}");
        let mut b = MessageBuilder::request(&Method::Invite, &uri);
        b.header(
            "Via",
            format_args!("SIP/2.0/UDP {};branch={branch};rport", peer.local),
        )
        .header("Max-Forwards", 70);
        match display {
            Some(d) => b.header(
                "From",
                format_args!(
                    "\"{}\" <sip:{from_user}@{domain}>;tag={tag}",
                    d.replace('"', "")
                ),
            ),
            None => b.header("From", format_args!("<sip:{from_user}@{domain}>;tag={tag}")),
        };
        b.header("To", format_args!("<{uri}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", format_args!("<sip:{from_user}@{}>", peer.local))
            .header(
                "Allow",
                "INVITE, ACK, CANCEL, BYE, INFO, REFER, NOTIFY, OPTIONS",
            )
            .header("User-Agent", &self.cfg.user_agent);
        let msg = match offer {
            Some(sdp) => b.finish_request_with_body("application/sdp", sdp.as_bytes()),
            None => b.finish_request(),
        }
        .expect("our INVITE parses");
        let key = self.tx.send_request(now, msg.clone(), peer).ok();
        if let Some(k) = key {
            self.by_client.insert(k, (id, side, Pending::Invite));
        }
        Leg::new(msg, key)
    }

    /// Hangs up: CANCEL what rings, BYE what is up (`cancelled` before an answer,
    /// `terminating` with reason `local_hangup` after).
    pub fn hang_up(&mut self, now: Instant, id: u64) -> Result<(), CommandError> {
        let call = self.calls.get(&id).ok_or(CommandError::NoSuchCall)?;
        if call.status.is_final() {
            return Err(CommandError::Over);
        }
        if call.incoming.is_some() {
            self.decline(now, id);
            return Ok(());
        }
        if call.status == CallStatus::Connected
            || call.status == CallStatus::Hold
            || call.status == CallStatus::Resumed
        {
            self.end(now, id, CallStatus::Terminating, None, Some("local_hangup"));
        } else {
            self.end(
                now,
                id,
                CallStatus::Cancelled,
                Some(487),
                Some("local_hangup"),
            );
        }
        Ok(())
    }

    fn connected(&mut self, id: u64) -> Result<&mut ApiCall, CommandError> {
        let call = self.calls.get_mut(&id).ok_or(CommandError::NoSuchCall)?;
        match call.status {
            CallStatus::Connected | CallStatus::Hold | CallStatus::Resumed => Ok(call),
            s if s.is_final() => Err(CommandError::Over),
            _ => Err(CommandError::NotConnected),
        }
    }

    /// One call, for `GET`.
    pub fn info(&self, id: u64) -> Option<ApiCallInfo> {
        self.calls.get(&id).map(|c| ApiCallInfo {
            id,
            login: c.login.clone(),
            destination: c.destination.clone(),
            kind: c.kind,
            status: c.status,
        })
    }

    /// Every call (ended ones linger for a minute), by id.
    pub fn list(&self) -> Vec<ApiCallInfo> {
        let mut ids: Vec<u64> = self.calls.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.info(id)).collect()
    }

    /// The number of calls held (ended ones included until they linger out).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// A datagram from the switch.
    pub fn handle_datagram(&mut self, now: Instant, bytes: Bytes, from: SocketAddr) {
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        if msg.sanity_check().is_err() {
            return;
        }
        let peer = Peer {
            remote: from,
            ..self.peer()
        };
        self.tx.handle_message(now, msg, peer);
        self.drain_tx(now);
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drain_tx(now);
        while let Some((at, (id, timer))) = self.timers.pop_due(now) {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            match timer {
                Timer::Ring if c.ring_deadline == Some(at) => {
                    c.ring_deadline = None;
                    self.end(now, id, CallStatus::NoAnswer, Some(408), Some("ring_limit"));
                }
                Timer::Linger if c.ended_at.is_some_and(|t| t + LINGER == at) => {
                    self.forget(id);
                }
                _ => {}
            }
        }
        self.drain_tx(now);
    }

    /// Removes an ended call and its legs' Call-IDs.
    fn forget(&mut self, id: u64) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        for leg in [call.a, call.b].into_iter().flatten() {
            if let Some(call_id) = leg.invite.call_id() {
                self.by_call_id.remove(call_id);
            }
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.poll_transmit()
    }

    /// The next status change.
    pub fn poll_event(&mut self) -> Option<ApiEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] is due next: a peek at the transaction layer's and
    /// the calls' timer heaps.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.tx.poll_timeout(), self.timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn drain_tx(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                Event::Request { key, request, .. } => self.request(now, key, &request),
                Event::Response { key, response, .. } => self.response(now, key, &response),
                Event::Timeout { key } => self.failed(now, key, 408),
                Event::TransportError { key } => self.failed(now, key, 503),
                Event::Cancelled { invite, .. } => self.cancelled(now, invite),
                Event::Ack { .. } | Event::AckTimeout { .. } => {}
            }
        }
    }

    fn emit(
        &mut self,
        id: u64,
        status: CallStatus,
        code: Option<u16>,
        reason: Option<&str>,
        sdp: Option<String>,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.status = status;
        let caller = (call.kind == CallKind::Incoming && status == CallStatus::Initial)
            .then(|| call.destination.clone());
        self.events.push_back(ApiEvent {
            call: id,
            login: call.login.clone(),
            status,
            code,
            reason: reason.map(str::to_owned),
            sdp,
            caller,
        });
    }

    fn send(&mut self, now: Instant, id: u64, side: Side, pending: Pending, msg: Message) {
        let peer = self.peer();
        if let Ok(k) = self.tx.send_request(now, msg, peer) {
            self.by_client.insert(k, (id, side, pending));
        }
    }

    fn send_ack(&mut self, id: u64, side: Side, body: Option<&str>) {
        let branch = self.tx.new_branch();
        let peer = self.peer();
        let Some(leg) = self.leg_mut(id, side) else {
            return;
        };
        if let Some(ack) = leg.ack(&branch, body) {
            self.tx.send_stateless(ack, peer);
        }
    }

    fn leg_mut(&mut self, id: u64, side: Side) -> Option<&mut Leg> {
        let call = self.calls.get_mut(&id)?;
        match side {
            Side::A => call.a.as_mut(),
            Side::B => call.b.as_mut(),
        }
    }

    /// Ends the call with `status`: CANCEL or BYE each leg still alive.
    fn end(
        &mut self,
        now: Instant,
        id: u64,
        status: CallStatus,
        code: Option<u16>,
        reason: Option<&str>,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.ended_at.is_some() {
            return;
        }
        call.ended_at = Some(now);
        call.ring_deadline = None;
        self.timers.arm(now + LINGER, (id, Timer::Linger));
        for side in [Side::A, Side::B] {
            self.close_leg(now, id, side);
        }
        self.emit(id, status, code, reason, None);
    }

    fn close_leg(&mut self, now: Instant, id: u64, side: Side) {
        let branch = self.tx.new_branch();
        let ua = self.cfg.user_agent.clone();
        let Some(leg) = self.leg_mut(id, side) else {
            return;
        };
        let msg = match leg.state {
            LegState::Calling | LegState::Early => {
                leg.state = LegState::Done;
                leg.cancel()
            }
            LegState::Answered => {
                // a 2xx not ACKed yet: ACK it, then BYE
                leg.state = LegState::Done;
                let ack_branch = format!("{branch}a");
                let ack = leg.ack(&ack_branch, None);
                let bye = leg.in_dialog(&Method::Bye, &branch, &ua, |b| b.finish_request());
                if let Some(ack) = ack {
                    let peer = self.peer();
                    self.tx.send_stateless(ack, peer);
                }
                bye
            }
            LegState::Up => {
                leg.state = LegState::Done;
                leg.in_dialog(&Method::Bye, &branch, &ua, |b| b.finish_request())
            }
            LegState::Done => None,
        };
        if let Some(msg) = msg {
            let pending = if msg.method() == Some(&Method::Cancel) {
                Pending::Cancel
            } else {
                Pending::Bye
            };
            self.send(now, id, side, pending, msg);
        }
    }
}

/// A user part we can put in a SIP URI: 1 to 64 of letters, digits, `+ - _ . *  #`.
fn check_user(user: &str) -> Result<(), CommandError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '.' | '*' | '#'));
    if ok {
        Ok(())
    } else {
        Err(CommandError::Invalid(format!(
            "{user:?} is not a number or login (1 to 64 of letters, digits, + - _ . * #)"
        )))
    }
}

mod controls;
mod flow;
mod incoming;

#[cfg(test)]
mod tests;
