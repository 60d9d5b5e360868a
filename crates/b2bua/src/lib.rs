//! `b2bua`: calls, sans-IO.
//!
//! Sits above `sip-message`, `sip-transaction` (only its handle types and the [`Outbox`]),
//! `sip-dialog` and `dialplan`, below the server binary. [`Calls`] owns every call: the A-leg
//! (the caller's dialog, ours as UAS) and the B-legs (one per forked branch, ours as UAC, each
//! with its own Call-ID, tags and Via: topology hidden). It never touches a socket or a clock:
//!
//! * inputs: [`Calls::invite`] (a new, authenticated INVITE with the caller's account),
//!   [`Calls::in_dialog`] (a request with a To tag), [`Calls::ack`], [`Calls::cancelled`],
//!   [`Calls::response`] / [`Calls::timeout`] (client transactions), [`Calls::registered`]
//!   and [`Calls::push_failed`] (push wake-up), [`Calls::media_inactive`], and
//!   [`Calls::handle_timeout`] at [`Calls::poll_timeout`];
//! * outputs: through the [`Outbox`] the driver passes in (respond on a server transaction,
//!   start a client transaction, send an ACK or a 2xx again), and [`CallEvent`]s
//!   ([`Calls::poll_event`]): a [`Cdr`] for every attempt, a [`PushRequest`] for the push
//!   hook.
//!
//! Routing reads the caller's tech-prefix rule and the [`DialPlan`](dialplan::DialPlan), then
//! asks the [`Directory`] (the driver's view of bindings, gateways, ring groups, accounts and
//! push devices). Media goes through the [`MediaRelay`] trait (anchor on the relay, or add a
//! relay candidate).
//!
//! # Layout
//!
//! The table and the calls are apart, the way an endpoint is apart from its connections:
//!
//! * [`Calls`] (`calls.rs`) is the table: the calls by id, the indexes that route a message to
//!   its call (Call-ID → call and side, the caller's INVITE server transaction → call, our
//!   client transactions → call and what they wait for), the timer heap, and the dispatch. It
//!   hands each input to the owning call's `handle_*` method, the call borrowed in place in
//!   the map, and removes a finished call afterwards (once nothing of it is pending, or when
//!   its linger timer fires). `calls/parking.rs` is the table's side of push wake-up: parked
//!   calls by the Call-ID the app names in `Replaces` and by callee login, the ghosts (pushed
//!   devices whose call ended), REGISTER (late forking), INVITE/Replaces, failed pushes.
//! * `Call` (`call/`) is one call's state machine: the A-leg, the B-legs and the state between
//!   them, with a `handle_*` method per input. By concern: `call/mod.rs` (the state, final
//!   answers to the caller, the end of a call, timers), `call/fork.rs` (branches, ring group
//!   steps, gateway failover, the best final answer), `call/answer.rs` (the winning 2xx, its
//!   resend until the ACK, ACKs, late offer), `call/relay.rs` (in-dialog requests crossing
//!   the call, glare, BYE, dead legs), `call/park.rs` (parking for push, pushes, the end of
//!   the parked phase, late forks, the pick-up with INVITE/Replaces, ghost calls).
//! * `Shared` (`shared.rs`) is what a call uses of the table while it is borrowed: the
//!   config, the media relay, the id generator (`ids.rs`), the timers, the client
//!   transaction and Call-ID indexes and the event queue. It sits beside the call map, so the
//!   table can lend both at once.
//! * `push.rs` is a parked call's push bookkeeping (devices, their states, times); `cdr.rs`
//!   builds a call's [`Cdr`] and turns `Instant`s into wall-clock times; `route.rs` is the
//!   routing decision.
//!
//! # A call
//!
//! ```text
//!  A --INVITE--> [route] --INVITE--> B1, B2 ... (fork; ring group steps; gateway failover)
//!  A <--18x----- relayed from any branch (own To tag towards A, SDP through the relay)
//!  A <--2xx----- first 2xx wins: ACK to it, CANCEL to the others; 2xx resent until A's ACK
//!  A --ACK-----> (late offer: the ACK's SDP goes to B in B's ACK)
//!  in-dialog requests cross to the other leg (re-INVITE, UPDATE, INFO, REFER, ...);
//!  BYE from either side ends both; a dead leg (408/481/timeout) ends the call.
//! ```
//!
//! Unanswered: the best final answer once every branch ended (603 if any declined, else
//! 486, else the callee's own code, else 480/408), or the callee's voicemail when it has one;
//! no answer within [`B2buaConfig::call_timeout`]: CANCEL everything, 480 (or voicemail).
//!
//! A callee with push devices ([`B2buaConfig::push`]): the call is parked while they wake
//! (`incoming_call`; the caller hears ringing), forks to a device that registers, or is
//! picked up by the woken app with INVITE/Replaces; then `call_ended` or `missed_call`.

mod answering;
mod call;
mod calls;
mod cdr;
mod deadlines;
mod ids;
mod push;
mod route;
mod shared;
pub mod third_party;
mod voicemail;
pub mod webrtc;

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::Peer;
pub use sip_transaction::{ClientKey, Outbox, ServerKey};

pub use call::GatewayAuth;
pub use calls::{shard_of_call, Calls};
pub use dialplan;
/// Which leg a message belongs to (A faces the caller, B the callee), and the relay's
/// counters of one call for its CDR: the media relay's own types.
pub use media::{CallStats, Side};
pub use route::{Decision, GatewayTarget, RingGroupDef, Target};
pub use voicemail::{access_number, with_target};

/// One call as the operator sees it ([`Calls::summaries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSummary {
    /// What [`Calls::hang_up`] takes.
    pub id: u64,
    /// `ringing`, `answered` (or `ended`, never listed).
    pub state: &'static str,
    /// Ringing while a pushed device wakes up.
    pub parked: bool,
    /// The caller's login (or the trusted peer's From user).
    pub caller: String,
    /// The number as dialed.
    pub dialed: String,
    /// The login, group or number the call is for.
    pub callee: String,
    /// The route label (as in the CDR).
    pub route: &'static str,
    /// Since the INVITE.
    pub age: Duration,
    /// Since the answer, once answered.
    pub answered_for: Option<Duration>,
}

/// Call policy, from the server config.
#[derive(Debug, Clone)]
pub struct B2buaConfig {
    /// No answer within this time: CANCEL every branch, answer 480 or go to voicemail.
    pub call_timeout: Duration,
    /// A gateway that sends nothing (not even 100 Trying) for this long is taken as dead and
    /// the next one is tried.
    pub gateway_timeout: Duration,
    /// An answered call is hung up after this long (both legs get BYE): calls whose two ends
    /// vanished without a BYE do not stay forever.
    pub max_duration: Duration,
    /// RFC 3261 T1/T2 for resending a 2xx until its ACK (§13.3.1.4).
    pub t1: Duration,
    pub t2: Duration,
    /// Session timers (RFC 4028): the `Session-Expires` we ask for when the caller gives
    /// none, and our `Min-SE` (a smaller `Session-Expires` gets 422).
    pub session_expires: Duration,
    pub min_se: Duration,
    /// Push wake-up of sleeping devices; `None` when no push hook is configured.
    pub push: Option<PushPolicy>,
    /// The host of From/To in INVITEs to devices (`[registrar] domain`); `None`: the hosts
    /// of the caller's From and To.
    pub domain: Option<String>,
}

/// When devices are pushed and how long a parked call waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushPolicy {
    /// How long a parked call waits for a pushed device (answer, late fork or Replaces).
    pub timeout: Duration,
    /// A registered device with a token that sent nothing for this long is pushed too.
    pub delay: Duration,
}

impl Default for PushPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            delay: Duration::from_secs(3),
        }
    }
}

/// A device that can be woken by push: a `+sip.instance` of a login with its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDevice {
    pub instance: String,
    pub token: String,
    pub platform: String,
    pub param: String,
}

/// What a push event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// Wake the devices: a call is parked for them.
    IncomingCall,
    /// The caller hung up before anyone answered.
    MissedCancelled,
    /// Nobody picked the parked call up within the push timeout.
    MissedTimeout,
    /// Another device answered: the pushed devices' call screens can go.
    AnsweredElsewhere,
}

/// A push event for the driver to post to the operator's push hook. For
/// [`PushKind::IncomingCall`], report a failed post with [`Calls::push_failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The engine's call id.
    pub call: u64,
    pub kind: PushKind,
    pub caller: String,
    pub caller_display: Option<String>,
    pub callee: String,
    /// The parked dialog the woken app names in `Replaces`: Call-ID, our tag (`to-tag`) and
    /// the tag the app is to use (`from-tag`).
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    pub devices: Vec<PushDevice>,
}

impl Default for B2buaConfig {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            gateway_timeout: Duration::from_secs(5),
            max_duration: Duration::from_secs(12 * 3600),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
            push: None,
            domain: None,
        }
    }
}

/// The account placing a call (authenticated by the driver, or a trusted peer).
#[derive(Debug, Clone)]
pub struct Caller {
    pub login: String,
    /// From display name of the B-legs.
    pub display_name: Option<String>,
    /// The account's tech-prefix rule (`DP:` part rewrites the dialed number).
    pub tech_prefix: dialplan::TechPrefix,
    /// A trusted peer by IP (no digest): routed the same way.
    pub trusted: bool,
}

/// How a call's media is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaMode {
    /// OFFNET and services: c=/m= rewritten onto the relay.
    Anchor,
    /// ONNET: media stays peer to peer; the relay is offered as an ICE relay candidate.
    CandidateOnly,
}

/// The media relay as the call engine sees it. Every method is synchronous and cheap.
/// `call` is the engine's call id, stable for the call's life.
pub trait MediaRelay {
    /// An SDP offer coming from `from`: the body to forward to the other side, or `None` to
    /// forward it unchanged.
    fn offer(&mut self, call: u64, from: Side, sdp: &Bytes, mode: MediaMode) -> Option<Bytes>;
    /// An SDP answer coming from `from` (same contract).
    fn answer(&mut self, call: u64, from: Side, sdp: &Bytes, mode: MediaMode) -> Option<Bytes>;
    /// The call ended: release its ports; its counters if it had a session.
    fn end(&mut self, call: u64) -> Option<CallStats>;
    /// `side` of `call` signals over IPv6 (`true`) or IPv4: the SDP the relay writes for that
    /// side names the relay in the same IP version. Told before the first offer.
    fn peer_family(&mut self, _call: u64, _side: Side, _ipv6: bool) {}
    /// The offer for one B-leg branch of `call` to a device that takes WebRTC media (`webrtc`:
    /// a browser over WebSocket or an API WebRTC endpoint) or plain RTP: a different body, or
    /// `None` to send `sdp` — what [`Self::offer`] made of the caller's offer `caller` — as
    /// is. The WebRTC gateway's seam (see [`crate::webrtc`]): when a call forks to browsers
    /// and plain phones at once, a browser branch needs DTLS-SRTP and a plain one RTP/AVP.
    /// Without a gateway nothing changes; a mismatch is only logged.
    fn branch_offer(
        &mut self,
        _call: u64,
        _webrtc: bool,
        _caller: &Bytes,
        _sdp: &Bytes,
        _mode: MediaMode,
    ) -> Option<Bytes> {
        None
    }

    /// The B-leg branch of `call` (a WebRTC device or not) answered with the 2xx that wins the
    /// call; told before that 2xx's [`Self::answer`] (or late [`Self::offer`]). A relay that
    /// gave the branches different offers ([`Self::branch_offer`]) keeps the winner's media
    /// path and releases the others.
    fn branch_won(&mut self, _call: u64, _webrtc: bool) {}

    /// `side` of `call` is a WebRTC endpoint (`true`: a browser, SDP `UDP/TLS/RTP/SAVPF`) or
    /// not. A WebRTC offer going to a side not known to be WebRTC is bridged to plain RTP by the
    /// relay's gateway; going to a WebRTC side it is relayed as is. Told before the first offer.
    fn peer_webrtc(&mut self, _call: u64, _side: Side, _webrtc: bool) {}
}

/// No relay: SDP passes through untouched.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMedia;

impl MediaRelay for NoMedia {
    fn offer(&mut self, _: u64, _: Side, _: &Bytes, _: MediaMode) -> Option<Bytes> {
        None
    }
    fn answer(&mut self, _: u64, _: Side, _: &Bytes, _: MediaMode) -> Option<Bytes> {
        None
    }
    fn end(&mut self, _: u64) -> Option<CallStats> {
        None
    }
}

/// The driver's view of the world, read while routing a new call.
pub trait Directory {
    /// The live bindings of a login, each with the flow to reach it.
    fn contacts(&self, login: &str) -> Vec<Target>;
    /// Whether an account with this login exists (404 vs 480 when it has no binding).
    fn account_exists(&self, login: &str) -> bool;
    /// A gateway by name (enabled ones only).
    fn gateway(&self, name: &str) -> Option<GatewayTarget>;
    /// Every server of a gateway in the order to try them for this call (RFC 3263: one per
    /// SRV target and address); by default the one [`Self::gateway`] gives.
    fn gateway_targets(&self, name: &str) -> Vec<GatewayTarget> {
        self.gateway(name).into_iter().collect()
    }
    /// A ring group by its login.
    fn ring_group(&self, login: &str) -> Option<RingGroupDef>;
    /// The flow to reach a service URI (voicemail, media server).
    fn service(&self, uri: &str) -> Option<Peer>;
    /// The account's voicemail URI, when its answering rule sends unanswered calls there.
    fn voicemail(&self, login: &str) -> Option<String>;
    /// The account's own answering rules (cached with the account: no lookup per call);
    /// `None`: the default (voicemail after busy/decline, no answer or unreachable, when the
    /// account has a voicemail URI).
    fn answering_rules(
        &self,
        _login: &str,
    ) -> Option<std::sync::Arc<::voicemail::rules::AnsweringRules>> {
        None
    }
    /// The login's devices that have a push token (registered or not).
    fn push_devices(&self, _login: &str) -> Vec<PushDevice> {
        Vec::new()
    }
    /// The built-in voicemail service's URI and flow for a number (after the caller's
    /// tech-prefix rule) that is one of its access numbers ([`access_number`]); `None` when
    /// it is not, or there is no built-in service.
    fn voicemail_number(&self, _number: &str) -> Option<(String, Peer)> {
        None
    }
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupBy {
    Caller,
    Callee,
    /// Timeouts, dead legs, routing failures.
    System,
    /// A leg's session timer (RFC 4028) expired without a refresh.
    SessionTimer,
    /// The caller's credit ran out ([`Calls::hang_up_for_credit`]).
    Credit,
}

impl HangupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Callee => "callee",
            Self::System => "system",
            Self::SessionTimer => "session-timer",
            Self::Credit => "credit",
        }
    }
}

/// Credit control of calls (the billing core behind the driver): asked when a call is routed,
/// told when it is answered and when it ends. Every method is synchronous and cheap; the
/// cut-off itself comes back as [`Calls::hang_up_for_credit`]. Without one
/// ([`Calls::set_credit`] never called) calls are not rated and these are never called.
pub trait CreditControl {
    /// Call `call` (the engine id; `call_id` its A-leg Call-ID) from `caller` to `number` (as
    /// routed) goes OFFNET (`onnet` false: a gateway) or to a user, group or service of this
    /// server. `Err`: the caller is answered with it, no leg is started.
    fn authorize(
        &mut self,
        now: Instant,
        call: u64,
        call_id: &str,
        caller: &str,
        number: &str,
        onnet: bool,
    ) -> Result<(), CreditRefusal>;
    /// Call `call` was answered at `now`.
    fn answered(&mut self, now: Instant, call: u64);
    /// Call `call` ended (every end path: its CDR is `cdr`).
    fn ended(&mut self, now: Instant, call: u64, cdr: &Cdr);
}

/// A call refused by [`CreditControl::authorize`]: `402` uses `reason` as its reason phrase
/// (`402 Insufficient Balance`); any status carries it in a `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditRefusal {
    pub status: u16,
    pub reason: &'static str,
}

/// One call attempt, as written to the `cdr` table. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cdr {
    /// The A-leg Call-ID.
    pub call_id: String,
    /// The B-leg Call-ID: our INVITE to the branch that answered, else to the last branch
    /// tried; `None` when no branch was started.
    pub b_call_id: Option<String>,
    pub caller: String,
    /// The login, group or number the call was routed to.
    pub callee: String,
    /// The Request-URI user part as dialed.
    pub dialed: String,
    /// The number after the tech-prefix rule and the plan's strip/prepend.
    pub routed: String,
    /// `user-lookup`, `gateway`, `service`, `ring-group`, `reject`, `none`.
    pub route: String,
    /// The gateway that carried (or last tried) an OFFNET call.
    pub gateway: Option<String>,
    pub start_ms: u64,
    pub ringing_ms: Option<u64>,
    pub answer_ms: Option<u64>,
    pub end_ms: u64,
    /// Final response code sent to the caller (200 for answered calls).
    pub final_code: u16,
    pub hangup_by: HangupBy,
    pub media: Option<CallStats>,
    /// Push posted → the woken device answered or picked the call up, when it did.
    pub wakeup_ms: Option<u64>,
}

impl Cdr {
    /// Answer to end, 0 when unanswered.
    pub fn duration_ms(&self) -> u64 {
        self.answer_ms.map_or(0, |a| self.end_ms.saturating_sub(a))
    }
}

/// What the driver must know of the calls.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one CDR per call (with the relay's per m-line counters), moved once to the driver"
)]
pub enum CallEvent {
    /// A call attempt ended: write its record.
    Cdr(Cdr),
    /// Post this to the push hook.
    Push(PushRequest),
}
