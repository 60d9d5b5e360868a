//! One call: the caller's leg (A), the legs we place (B) and the state machine between them.
//!
//! A [`Call`] is borrowed in place from the table ([`Calls`](crate::Calls)) for one input and
//! handed the [`Shared`] pieces of the table alongside: the configuration, the media relay,
//! the id generator, the timer heap, the client transaction and Call-ID indexes and the event
//! queue. Its `handle_*` methods take the inputs; those that may end the call return
//! [`After`], and the table then decides whether to remove it (a call never removes itself).
//!
//! By concern:
//!
//! * this module: the state, building a call, answering the caller with a final non-2xx,
//!   ending a call (CDR, linger), timers;
//! * [`fork`]: the B-leg branches, ring group steps, gateway failover, the best final answer;
//! * [`answer`]: the winning 2xx, resending it until the ACK, ACKs and late offers;
//! * [`relay`]: in-dialog requests crossing the call, their answers, glare, BYE, dead legs;
//! * [`park`]: push wake-up of the callee's sleeping devices (parking, pushes, late forking on
//!   REGISTER, pick-up with INVITE/Replaces, the ghost INVITE of a late device).

mod answer;
mod credit;
mod fallback;
mod fork;
mod gateway_auth;
mod park;
mod prack;
mod refusal;
mod relay;
mod session_timer;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_dialog::Dialog;
use sip_message::{Message, MessageBuilder, Peer, Transport};
use sip_transaction::ServerKey;

use crate::push::Park;
use crate::route::{GatewayTarget, Target};
use crate::shared::{Shared, TimerKind};
use crate::{CallEvent, Caller, HangupBy, MediaMode, Outbox, Side};

pub(crate) use credit::authorize;
pub use gateway_auth::GatewayAuth;
pub(crate) use refusal::{PickUpRefusal, Refusal};
pub(crate) use relay::OriginRequest;
pub(crate) use session_timer::too_small as session_too_small;

/// The engine's id of a call: stable for the call's life, given to the media relay.
pub(crate) type CallId = u64;

const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, REFER, NOTIFY, MESSAGE, OPTIONS";

/// CANCEL of a branch because another device answered (RFC 3326): phones show no missed call.
const ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";
/// CANCEL of a branch because the caller gave up or nobody answered in time.
const TERMINATED: &str = "SIP;cause=487;text=\"Request Terminated\"";

/// What the table does once a [`Call`] handler returned.
#[must_use = "a call that may be over is removed by the table only when it is told to look"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Nothing: the call goes on (or waits for its linger timer).
    Nothing,
    /// The call may be over: the table removes it if nothing of it is pending any more.
    MaybeRemove,
}

/// Where a call is, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// Branches ringing, no final answer to A yet.
    Ringing,
    /// A got a 2xx: the call is up.
    Answered,
    /// A got its final answer (or BYE crossed): waiting for loose ends, then removed.
    Ended,
}

/// Where one B-leg INVITE is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchState {
    Calling,
    Proceeding,
    Answered,
    Done(u16),
}

/// One B-leg INVITE (a device, a gateway, a service).
#[derive(Debug)]
pub(crate) struct Branch {
    pub(crate) invite: Message,
    pub(crate) peer: Peer,
    pub(crate) state: BranchState,
    /// CANCEL asked before any provisional response: sent when one comes (§9.1).
    pub(crate) cancel_wanted: bool,
    /// The `Reason` of our CANCEL ([`ELSEWHERE`] or [`TERMINATED`]).
    pub(crate) cancel_reason: &'static str,
    pub(crate) gateway: Option<String>,
    /// The device's `+sip.instance`, when known (push bookkeeping).
    pub(crate) instance: Option<String>,
    /// The trunk's credentials for a gateway that challenges (see `gateway_auth.rs`).
    pub(crate) auth: Option<GatewayAuth>,
    /// The INVITE was sent again with credentials: a second challenge is final.
    pub(crate) auth_sent: bool,
    /// The device takes WebRTC media (a browser, an API WebRTC endpoint): what kind of offer
    /// it got ([`crate::MediaRelay::branch_offer`]) and keeps if it wins.
    pub(crate) webrtc: bool,
}

impl Branch {
    /// Still ringing (no final answer yet).
    pub(crate) fn live(&self) -> bool {
        matches!(self.state, BranchState::Calling | BranchState::Proceeding)
    }
}

/// A 2xx we sent and resend until the ACK.
#[derive(Debug)]
pub(crate) struct Resend {
    pub(crate) bytes: Bytes,
    pub(crate) peer: Peer,
    pub(crate) cseq: u32,
    pub(crate) interval: Duration,
    pub(crate) next: Instant,
    pub(crate) give_up: Instant,
}

/// A new call as the table accepted and routed it (see [`Call::new`]).
#[derive(Debug)]
pub(crate) struct Setup {
    /// The caller's INVITE server transaction, the INVITE and where it came from.
    pub(crate) key: ServerKey,
    pub(crate) invite: Message,
    pub(crate) from: Peer,
    /// Our To tag towards the caller.
    pub(crate) a_tag: String,
    /// Max-Forwards of the B-legs (the caller's, less one).
    pub(crate) max_forwards: u8,
    pub(crate) caller: Caller,
    pub(crate) dialed: String,
    pub(crate) routed: String,
    pub(crate) callee: String,
    pub(crate) route: &'static str,
    pub(crate) mode: MediaMode,
    /// The core shard that owns the call, `None` without shards (our Contacts name it).
    pub(crate) shard: Option<usize>,
    /// What the answering rules do on busy, no answer, unreachable.
    pub(crate) fallbacks: crate::answering::Fallbacks,
    /// An `always ring:N` rule: the no-answer time of this call.
    pub(crate) ring_for: Option<Duration>,
}

/// One call, from the caller's INVITE until its last loose end.
///
/// Fields by section: who and where (also what the CDR records), the A-leg, the B-legs and
/// what is left of the routing, the ACK/2xx bookkeeping between the legs, the deadlines
/// (each timer in the heap only acts when it still equals the call's deadline), the record,
/// and push wake-up. A new concern gets its own section here, its `handle_*` methods in
/// its own file under `call/`, and its timers as a [`TimerKind`].
#[derive(Debug)]
pub(crate) struct Call {
    // ----- who and where ---------------------------------------------------------------
    pub(crate) id: CallId,
    pub(crate) state: CallState,
    pub(crate) caller: Caller,
    /// The Request-URI user part as dialed.
    pub(crate) dialed: String,
    /// The number after the tech-prefix rule (and strip/prepend for gateways).
    pub(crate) routed: String,
    /// Login/group/number the call is for.
    pub(crate) callee: String,
    /// Route label for the CDR.
    pub(crate) route: &'static str,
    pub(crate) mode: MediaMode,
    /// The core shard that owns the call, `None` without shards (our Contacts name it).
    pub(crate) shard: Option<usize>,

    // ----- A-leg (ours as UAS) -----------------------------------------------------------
    pub(crate) a_key: ServerKey,
    pub(crate) a_invite: Message,
    pub(crate) a_peer: Peer,
    pub(crate) a_tag: String,
    /// Set when the call is answered.
    pub(crate) a_dialog: Option<Dialog>,
    /// The (relayed) offer sent to every branch, with its content type.
    pub(crate) offer: Option<(String, Bytes)>,
    pub(crate) max_forwards: u8,

    // ----- B-legs (ours as UAC) and the routing still to do ------------------------------
    pub(crate) branches: Vec<Branch>,
    /// The branch that answered.
    pub(crate) winner: Option<usize>,
    /// The winner's dialog.
    pub(crate) b_dialog: Option<Dialog>,
    /// More ring group members (login, devices), one more every `step_delay`.
    pub(crate) steps: VecDeque<(String, Vec<Target>)>,
    pub(crate) step_delay: Duration,
    /// Gateways not tried yet, with the number to send them.
    pub(crate) gateways: VecDeque<GatewayTarget>,
    pub(crate) gateway_number: String,
    /// Where a busy, unanswered or unreachable call goes instead of a final error (the
    /// answering rules: voicemail, forward, reject).
    pub(crate) fallbacks: crate::answering::Fallbacks,
    /// The no-answer time when an `always ring:N` rule set it.
    pub(crate) ring_for: Option<Duration>,

    // ----- between the legs --------------------------------------------------------------
    /// The ACK we owe a side once the other side's ACK arrives (late offer), by INVITE CSeq.
    pub(crate) ack_owed: Option<(Side, u32)>,
    /// The last ACK sent to each side (see [`slot`]), resent when its 2xx is.
    pub(crate) last_ack: [Option<(u32, Bytes)>; 2],
    /// Our 2xx resent to each side (see [`slot`]) until its ACK (both legs may be ours as
    /// UAS: a call picked up with INVITE/Replaces).
    pub(crate) resend: [Option<Resend>; 2],
    /// An INVITE transaction is open across the legs (glare → 491).
    pub(crate) reinvite_open: bool,

    // ----- deadlines (see `TimerKind`) ---------------------------------------------------
    pub(crate) no_answer_at: Option<Instant>,
    pub(crate) step_at: Option<Instant>,
    pub(crate) linger_until: Option<Instant>,

    // ----- the record --------------------------------------------------------------------
    pub(crate) start: Instant,
    pub(crate) ringing: Option<Instant>,
    pub(crate) answer: Option<Instant>,
    /// Final response code sent to the caller (200 once answered).
    pub(crate) final_code: u16,
    pub(crate) hangup_by: HangupBy,
    pub(crate) cdr_written: bool,
    /// A ghost call (see `Ghost`): its A-leg (INVITE, server key) is the ended call's, which
    /// it does not own, so it never indexes nor un-indexes it.
    pub(crate) ghost: bool,

    // ----- push wake-up (see `park.rs`) --------------------------------------------------
    /// Devices of the callee woken by push (a parked call), when it has any with a token.
    pub(crate) park: Option<Park>,
    /// The woken app's INVITE with Replaces that picked the call up (we are its UAS).
    pub(crate) pickup: Option<(ServerKey, Message, Peer)>,
    /// Picked up with one offer: the side whose 200 waits for the other side's ACK (answer).
    pub(crate) pickup_owed: Option<Side>,

    // ----- extensions (see `prack.rs`, `session_timer.rs`) -------------------------------
    /// Reliable provisionals (RFC 3262) on both legs.
    pub(crate) rel: prack::Reliable,
    /// Each leg's session timer (RFC 4028, see [`slot`]), once answered.
    pub(crate) session: [Option<session_timer::LegTimer>; 2],
}

impl Call {
    pub(crate) fn new(id: CallId, now: Instant, s: Setup) -> Self {
        Self {
            id,
            state: CallState::Ringing,
            caller: s.caller,
            dialed: s.dialed,
            routed: s.routed,
            callee: s.callee,
            route: s.route,
            mode: s.mode,
            shard: s.shard,
            a_key: s.key,
            a_invite: s.invite,
            a_peer: s.from,
            a_tag: s.a_tag,
            a_dialog: None,
            offer: None,
            max_forwards: s.max_forwards,
            branches: Vec::new(),
            winner: None,
            b_dialog: None,
            steps: VecDeque::new(),
            step_delay: Duration::ZERO,
            gateways: VecDeque::new(),
            gateway_number: String::new(),
            fallbacks: s.fallbacks,
            ring_for: s.ring_for,
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
            ghost: false,
            park: None,
            pickup: None,
            pickup_owed: None,
            rel: prack::Reliable::default(),
            session: [None, None],
        }
    }

    // ----- what the table asks -----------------------------------------------------------

    /// A timer of this call fired (`at` is its deadline). The table handles `Linger`,
    /// `DurationSweep` and `GhostSweep` itself.
    pub(crate) fn handle_timer(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        at: Instant,
        kind: TimerKind,
        out: &mut dyn Outbox,
    ) -> After {
        match kind {
            TimerKind::NoAnswer if self.no_answer_at == Some(at) => {
                self.handle_no_answer(ctx, now, out)
            }
            TimerKind::RingStep if self.step_at == Some(at) && self.state == CallState::Ringing => {
                self.ring_step(ctx, now, out);
                After::Nothing
            }
            TimerKind::PushDue if self.state == CallState::Ringing => {
                self.push_due(ctx, now, None, out);
                After::Nothing
            }
            TimerKind::Resend2xx => self.handle_resend(ctx, now, at, out),
            TimerKind::Reliable1xx => self.handle_reliable_resend(ctx, now, at, out),
            TimerKind::SessionTimer => self.handle_session_timer(ctx, now, at, out),
            TimerKind::GatewaySilent(n)
                if self.state == CallState::Ringing
                    && self
                        .branches
                        .get(n)
                        .is_some_and(|b| b.state == BranchState::Calling) =>
            {
                self.handle_gateway_silent(ctx, now, n, out)
            }
            _ => After::Nothing,
        }
    }

    /// The relay saw no media on this call. An anchored call is ended (BYE to both legs, or
    /// while ringing CANCEL and 480); `None` when it is left alone (a relay candidate only:
    /// it may be talking peer to peer; or it already ended).
    pub(crate) fn handle_media_inactive(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> Option<After> {
        if self.mode != MediaMode::Anchor || self.state == CallState::Ended {
            return None;
        }
        tracing::info!(
            call = self.id,
            "no media through the relay: ending the call"
        );
        match self.state {
            CallState::Answered => Some(self.hang_up(ctx, now, out)),
            _ => {
                self.stop_ringing(ctx, TERMINATED, out);
                self.answer_a(Refusal::NoMedia, out);
                Some(self.finish(ctx, now, HangupBy::System))
            }
        }
    }

    /// The server shuts down: an answered call is hung up (BYE to both legs); a ringing or
    /// parked one has its branches CANCELled and the caller gets 503 with `Retry-After`
    /// (`retry_after` seconds). Either way its CDR is queued now. A call already ended only
    /// has its still-ringing branches (a ghost's INVITE) CANCELled. `None`: nothing to end.
    pub(crate) fn handle_shutdown(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        retry_after: u32,
        out: &mut dyn Outbox,
    ) -> Option<After> {
        match self.state {
            CallState::Answered => {
                tracing::info!(call = self.id, "shutdown: hanging up");
                Some(self.hang_up(ctx, now, out))
            }
            CallState::Ringing => {
                tracing::info!(call = self.id, "shutdown: cancelling the ringing call");
                self.stop_ringing(ctx, TERMINATED, out);
                self.end_park(ctx, now, crate::PushKind::MissedCancelled, TERMINATED, None);
                self.answer_a(Refusal::ShuttingDown { retry_after }, out);
                Some(self.finish(ctx, now, HangupBy::System))
            }
            CallState::Ended if self.live_branches() > 0 => {
                self.stop_ringing(ctx, TERMINATED, out);
                Some(After::MaybeRemove)
            }
            CallState::Ended => None,
        }
    }

    /// The operator hangs the call up: an answered call gets BYE on both legs; a ringing one
    /// CANCELs its branches (a parked call ends its park as a missed call) and the caller gets
    /// 480. `None` when it already ended.
    pub(crate) fn handle_hang_up(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> Option<After> {
        tracing::info!(call = self.id, "hung up by the operator");
        match self.state {
            CallState::Ended => None,
            CallState::Answered => Some(self.hang_up(ctx, now, out)),
            CallState::Ringing => {
                self.stop_ringing(ctx, TERMINATED, out);
                self.end_park(ctx, now, crate::PushKind::MissedCancelled, TERMINATED, None);
                self.answer_a(Refusal::HungUpByOperator, out);
                Some(self.finish(ctx, now, HangupBy::System))
            }
        }
    }

    /// What the operator sees of the call.
    pub(crate) fn summary(&self, now: Instant) -> crate::CallSummary {
        crate::CallSummary {
            id: self.id,
            state: match self.state {
                CallState::Ringing => "ringing",
                CallState::Answered => "answered",
                CallState::Ended => "ended",
            },
            parked: self.is_parked(),
            caller: self.caller.login.clone(),
            dialed: self.dialed.clone(),
            callee: self.callee.clone(),
            route: self.route,
            age: now.saturating_duration_since(self.start),
            answered_for: self.answer.map(|a| now.saturating_duration_since(a)),
        }
    }

    /// The call is older than the longest allowed duration: hung up.
    pub(crate) fn handle_max_duration(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        tracing::info!(call = self.id, "longest call duration reached: hanging up");
        self.hang_up(ctx, now, out)
    }

    /// Ended, nothing ringing, no 2xx waiting for its ACK. (The table also waits for the
    /// call's client transactions.)
    pub(crate) fn is_over(&self) -> bool {
        self.state == CallState::Ended
            && self.live_branches() == 0
            && self.resend.iter().all(Option::is_none)
    }

    /// Answered longer than `max` ago.
    pub(crate) fn past_max_duration(&self, now: Instant, max: Duration) -> bool {
        self.state == CallState::Answered
            && self.answer.is_some_and(|a| now.duration_since(a) >= max)
    }

    /// The linger timer armed at the end is this one.
    pub(crate) fn lingers_until(&self, at: Instant) -> bool {
        self.linger_until == Some(at)
    }

    /// The Call-IDs this call is indexed by: the caller's, every B-leg's, and the one of the
    /// INVITE/Replaces that picked it up.
    pub(crate) fn call_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.a_invite)
            .filter(|_| !self.ghost)
            .chain(self.branches.iter().map(|b| &b.invite))
            .chain(self.pickup.as_ref().map(|(_, inv, _)| inv))
            .filter_map(Message::call_id)
    }

    // ----- common helpers ----------------------------------------------------------------

    fn dialog(&self, side: Side) -> Option<&Dialog> {
        match side {
            Side::A => self.a_dialog.as_ref(),
            Side::B => self.b_dialog.as_ref(),
        }
    }

    fn dialog_mut(&mut self, side: Side) -> Option<&mut Dialog> {
        match side {
            Side::A => self.a_dialog.as_mut(),
            Side::B => self.b_dialog.as_mut(),
        }
    }

    fn live_branches(&self) -> usize {
        self.branches.iter().filter(|b| b.live()).count()
    }

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

    /// The user part we present in our Contact towards `side`.
    fn contact_user(&self, side: Side) -> String {
        match side {
            Side::A => self.callee_user(),
            Side::B => self.caller.login.clone(),
        }
    }

    /// The final non-2xx answer to the caller's INVITE, as [`Refusal`] maps it.
    fn answer_a(&mut self, why: Refusal, out: &mut dyn Outbox) {
        let code = why.status();
        let (to, tag, src) = (
            &self.a_invite,
            Some(self.a_tag.as_str()),
            Some(self.a_peer.remote),
        );
        let mut b = match why.phrase() {
            Some(phrase) => MessageBuilder::response_to_with_reason(to, code, phrase, tag, src),
            None => MessageBuilder::response_to(to, code, tag, src),
        };
        if why.warns() {
            b.warning(why);
        }
        if let Some(seconds) = why.retry_after() {
            b.header("Retry-After", seconds);
        }
        b.server();
        out.respond(&self.a_key, b.finish());
        self.final_code = code;
        self.state = CallState::Ended;
    }

    // ----- the end -----------------------------------------------------------------------

    /// The call is over for the caller: writes its CDR (once); it stays in the table while
    /// branches or our BYEs wait for answers (at most 64·T1, the linger timer), then goes.
    fn finish(&mut self, ctx: &mut Shared, now: Instant, by: HangupBy) -> After {
        self.state = CallState::Ended;
        if !self.cdr_written {
            self.cdr_written = true;
            self.hangup_by = by;
            let media = ctx.media.end(self.id);
            let cdr = self.cdr(now, by, media, &ctx.epoch);
            if let Some(credit) = ctx.credit.as_mut() {
                credit.ended(now, self.id, &cdr);
            }
            ctx.events.push_back(CallEvent::Cdr(cdr));
        }
        let at = now + 64 * ctx.cfg.t1;
        self.linger_until = Some(at);
        ctx.timers.arm(at, self.id, TimerKind::Linger);
        After::MaybeRemove
    }
}

/// Index of a side in per-side arrays (`last_ack`, `resend`).
fn slot(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

pub(crate) fn user_part(uri: &str) -> Option<String> {
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
        Transport::Ws => ";transport=ws",
        Transport::Wss => ";transport=wss",
    }
}

/// Our Contact as `user`, at the local address of `peer`'s flow; over UDP with several core
/// shards, with the `shard` parameter that steers the peer's requests in the dialog to the
/// shard that owns it (`sip_message::steer`).
fn contact(user: &str, peer: &Peer, shard: Option<usize>) -> String {
    format!(
        "<sip:{user}@{}{}{}>",
        peer.local,
        transport_param(peer.transport),
        ShardParam(shard, peer.transport)
    )
}

/// `;shard=N` of [`contact`], for UDP with several shards; nothing otherwise.
pub(crate) struct ShardParam(pub(crate) Option<usize>, pub(crate) Transport);

impl std::fmt::Display for ShardParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardParam(Some(n), Transport::Udp) => {
                write!(f, ";{}={n}", sip_message::steer::CONTACT_PARAM)
            }
            _ => Ok(()),
        }
    }
}

fn is_sdp(msg: &Message) -> bool {
    !msg.body().is_empty()
}
