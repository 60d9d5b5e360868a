//! Session timers (RFC 4028, `timer`), per leg.
//!
//! Each leg of an answered call has its own interval and refresher:
//!
//! * **A-leg (ours as UAS).** The caller's `Session-Expires` is taken when it is at least our
//!   `Min-SE` (a smaller one was answered 422 with our `Min-SE` before routing:
//!   [`too_small`]); without one we use [`B2buaConfig::session_expires`] (raised to the
//!   caller's `Min-SE`). The refresher is the caller's `refresher` parameter; without one the
//!   caller when it said `Supported: timer` (§9), else us. Our 200 says `Session-Expires:
//!   N;refresher=uac|uas`, with `Require: timer` when the caller supports it.
//! * **B-leg (ours as UAC).** Every B-leg INVITE says `Supported: timer`, `Session-Expires`
//!   (the A-leg's interval) and `Min-SE`. The callee's 2xx decides: its `Session-Expires`
//!   and `refresher` (`uac` is us); a 2xx without one means the callee does not do session
//!   timers, and we refresh it ourselves (§7.2).
//!
//! Where we are the refresher, the leg is refreshed at half the interval: UPDATE when the
//! peer allows it (its `Allow`), else a re-INVITE with the SDP it last got from us. Where
//! the peer is, its refresh (any re-INVITE or UPDATE that succeeds on that leg, including the
//! one we cross to the other leg) restarts the leg's clock. A leg whose refresh does not
//! come by `interval - min(32, interval/3)` (§10), or whose refresh by us fails (408, 481,
//! timeout), ends the call: BYE to both legs, CDR `hangup_by = session-timer`.
//!
//! [`B2buaConfig::session_expires`]: crate::B2buaConfig::session_expires

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::{HeaderName, Message, MessageBuilder, Method};

use super::prack::other_header;
use super::{contact, slot, After, Call, CallState};
use crate::shared::{Pending, Shared, TimerKind};
use crate::{B2buaConfig, HangupBy, Outbox, Side};

/// `Session-Expires` (compact `x`): seconds and the `refresher` parameter.
pub(crate) fn session_expires(msg: &Message) -> Option<(u32, Option<String>)> {
    let v = other_header(msg, "Session-Expires").or_else(|| other_header(msg, "x"))?;
    let mut parts = v.split(';');
    let secs = parts.next()?.trim().parse().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| v.trim().to_ascii_lowercase())
    });
    Some((secs, refresher))
}

/// `Min-SE` in seconds.
fn min_se(msg: &Message) -> Option<u32> {
    other_header(msg, "Min-SE")?
        .split(';')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// A new INVITE whose `Session-Expires` is below our `Min-SE`: the `Min-SE` to answer 422
/// with (RFC 4028 §8.1).
pub(crate) fn too_small(req: &Message, cfg: &B2buaConfig) -> Option<u32> {
    let (se, _) = session_expires(req)?;
    let floor = secs(cfg.min_se);
    (se < floor).then_some(floor)
}

/// Who refreshes a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    Us,
    Them,
}

impl Refresher {
    /// From a `refresher` parameter of a message of a transaction in which we are the UAC
    /// (`we_are_uac`) or the UAS.
    fn from_param(p: &str, we_are_uac: bool) -> Option<Self> {
        match (p, we_are_uac) {
            ("uac", true) | ("uas", false) => Some(Self::Us),
            ("uac", false) | ("uas", true) => Some(Self::Them),
            _ => None,
        }
    }

    /// The `refresher` parameter saying this, in a transaction in which we are the UAC or the
    /// UAS.
    fn param(self, we_are_uac: bool) -> &'static str {
        match (self, we_are_uac) {
            (Self::Us, true) | (Self::Them, false) => "uac",
            _ => "uas",
        }
    }
}

/// One leg's session timer.
#[derive(Debug)]
pub(crate) struct LegTimer {
    interval: u32,
    refresher: Refresher,
    /// The peer allows UPDATE: our refreshes use it.
    update: bool,
    /// The SDP the peer last got from us, for a re-INVITE refresh.
    sdp: Option<(String, Bytes)>,
    /// When we refresh (we are the refresher and no refresh is out).
    refresh_at: Option<Instant>,
    /// When the leg is dead without a refresh.
    expire_at: Instant,
}

impl LegTimer {
    /// The leg was (re)freshed at `now`: its deadlines from now, armed.
    fn restart(&mut self, now: Instant, id: super::CallId, ctx: &mut Shared) {
        let full = Duration::from_secs(self.interval.into());
        match self.refresher {
            Refresher::Us => {
                let at = now + full / 2;
                self.refresh_at = Some(at);
                ctx.timers.arm(at, id, TimerKind::SessionTimer);
                self.expire_at = now + full;
            }
            Refresher::Them => {
                // §10: the refresher's refresh may take up to 32 s (or a third) to arrive
                self.refresh_at = None;
                let slack = Duration::from_secs(u64::from((self.interval / 3).min(32)));
                self.expire_at = now + full - slack;
            }
        }
        ctx.timers.arm(self.expire_at, id, TimerKind::SessionTimer);
    }
}

fn allows_update(msg: &Message) -> bool {
    msg.header_list(&HeaderName::Allow)
        .any(|m| m.eq_ignore_ascii_case("UPDATE"))
}

fn supports_timer(msg: &Message) -> bool {
    msg.has_option_tag(&HeaderName::Supported, "timer")
        || msg.has_option_tag(&HeaderName::Require, "timer")
}

impl Call {
    /// The interval the caller gets (and the callee is offered): the caller's
    /// `Session-Expires`, or ours, never below either `Min-SE`.
    fn session_interval(&self, cfg: &B2buaConfig) -> u32 {
        let floor = secs(cfg.min_se).max(min_se(&self.a_invite).unwrap_or(0));
        session_expires(&self.a_invite)
            .map_or(secs(cfg.session_expires), |(s, _)| s)
            .max(floor)
    }

    /// The session timer headers of a B-leg INVITE.
    pub(super) fn session_invite_headers(&self, cfg: &B2buaConfig, b: &mut MessageBuilder) {
        b.header("Supported", "100rel, timer")
            .header("Session-Expires", self.session_interval(cfg))
            .header("Min-SE", secs(cfg.min_se));
    }

    /// The call was answered by `resp` (the callee's 2xx); `a_sdp` is the body of our 200 to
    /// the caller, built in `rb`: both legs' timers start, and `rb` gets the A-leg's headers.
    pub(super) fn session_answered(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        resp: &Message,
        a_sdp: Option<(&str, &Bytes)>,
        rb: &mut MessageBuilder,
    ) {
        let interval = self.session_interval(&ctx.cfg);
        // the A-leg: we are the UAS of its INVITE
        let a_supports = supports_timer(&self.a_invite);
        let asked = session_expires(&self.a_invite)
            .and_then(|(_, r)| r)
            .and_then(|r| Refresher::from_param(&r, false));
        let a_refresher = match (a_supports, asked) {
            (false, _) => Refresher::Us,
            (true, Some(r)) => r,
            (true, None) => Refresher::Them,
        };
        rb.header(
            "Session-Expires",
            format_args!("{interval};refresher={}", a_refresher.param(false)),
        );
        if a_supports {
            rb.header("Require", "timer");
        }
        let mut a = LegTimer {
            interval,
            refresher: a_refresher,
            update: allows_update(&self.a_invite),
            sdp: a_sdp.map(|(ct, b)| (ct.to_owned(), b.clone())),
            refresh_at: None,
            expire_at: now,
        };
        a.restart(now, self.id, ctx);
        // the B-leg: we are the UAC of its INVITE; no Session-Expires: we refresh it
        let (b_interval, b_refresher) = match session_expires(resp) {
            Some((s, r)) => (
                s.max(1),
                r.and_then(|r| Refresher::from_param(&r, true))
                    .unwrap_or(Refresher::Us),
            ),
            None => (interval, Refresher::Us),
        };
        let mut b = LegTimer {
            interval: b_interval,
            refresher: b_refresher,
            update: allows_update(resp),
            sdp: self.offer.clone(),
            refresh_at: None,
            expire_at: now,
        };
        b.restart(now, self.id, ctx);
        tracing::debug!(
            call = self.id,
            a_interval = interval,
            a_refresher = ?a_refresher,
            b_interval,
            b_refresher = ?b_refresher,
            "session timers"
        );
        self.session = [Some(a), Some(b)];
    }

    /// A re-INVITE or UPDATE on `side`'s leg succeeded: a refresh. `msg` is the message of
    /// that transaction carrying the peer's `Session-Expires` (its request when it sent it,
    /// `we_are_uac` false; its 2xx to ours, `we_are_uac` true).
    pub(super) fn session_refreshed(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        side: Side,
        msg: &Message,
        we_are_uac: bool,
    ) {
        let id = self.id;
        let Some(leg) = self.session[slot(side)].as_mut() else {
            return;
        };
        if let Some((s, r)) = session_expires(msg) {
            leg.interval = s.max(1);
            if let Some(r) = r.and_then(|r| Refresher::from_param(&r, we_are_uac)) {
                leg.refresher = r;
            }
        } else if we_are_uac && leg.refresher == Refresher::Them {
            // the peer stopped doing session timers: we keep the leg alive ourselves
            leg.refresher = Refresher::Us;
        }
        leg.restart(now, id, ctx);
    }

    /// Headers of a re-INVITE or UPDATE we cross to `far`'s leg (we are its UAC).
    pub(super) fn session_cross_headers(&self, ctx: &Shared, far: Side, b: &mut MessageBuilder) {
        if let Some(leg) = &self.session[slot(far)] {
            b.header(
                "Session-Expires",
                format_args!("{};refresher={}", leg.interval, leg.refresher.param(true)),
            )
            .header("Min-SE", secs(ctx.cfg.min_se));
        }
    }

    /// Branch `n`'s callee answered 422 (RFC 4028 §7.4): its INVITE again, with the next CSeq,
    /// a new Via branch and `Session-Expires` (and `Min-SE`) raised to the callee's `Min-SE`.
    /// `false` (no retry) when the 422 names no larger `Min-SE` than we asked for.
    pub(super) fn retry_422(
        &mut self,
        ctx: &mut Shared,
        n: usize,
        resp: &Message,
        out: &mut dyn Outbox,
    ) -> bool {
        let b = &self.branches[n];
        let asked = session_expires(&b.invite).map_or(0, |(s, _)| s);
        let Some(floor) = min_se(resp).filter(|&m| m > asked) else {
            return false;
        };
        let (Some(uri), Ok(cseq)) = (b.invite.request_uri_str(), b.invite.cseq()) else {
            return false;
        };
        let mut m = MessageBuilder::request(&Method::Invite, uri);
        m.header(
            "Via",
            format_args!(
                "SIP/2.0/{} {};branch={};rport",
                b.peer.transport.via_name(),
                b.peer.local,
                ctx.ids.branch()
            ),
        );
        for h in b.invite.headers() {
            let skip = [
                "Via",
                "CSeq",
                "Session-Expires",
                "x",
                "Min-SE",
                "Content-Length",
                "Content-Type",
            ];
            if !skip.iter().any(|s| h.name.matches(s)) {
                m.header(h.name.as_str(), h.value());
            }
        }
        m.header("CSeq", format_args!("{} INVITE", cseq.seq + 1))
            .header("Session-Expires", floor)
            .header("Min-SE", floor);
        let invite = match b.invite.content_type() {
            Some(ct) => m.finish_request_with_body(ct, b.invite.body()),
            None => m.finish_request(),
        };
        let Ok(invite) = invite else {
            return false;
        };
        let peer = b.peer;
        let Some(k) = out.send_request(invite.clone(), peer) else {
            return false;
        };
        tracing::debug!(call = self.id, branch = n, floor, "422: INVITE again");
        ctx.track(k, self.id, Pending::Branch(n));
        let b = &mut self.branches[n];
        b.invite = invite;
        b.state = super::BranchState::Calling;
        true
    }

    /// `side`'s peer got this SDP from us (a crossing offer or answer): what a re-INVITE
    /// refresh of its leg sends.
    pub(super) fn session_sdp_sent(&mut self, side: Side, ct: Option<&str>, body: &Bytes) {
        if let Some(leg) = self.session[slot(side)].as_mut() {
            let ct = ct.unwrap_or("application/sdp").to_owned();
            leg.sdp = Some((ct, body.clone()));
        }
    }

    /// Headers of our 2xx to a re-INVITE or UPDATE from `side` (we are its UAS).
    pub(super) fn session_answer_headers(&self, side: Side, b: &mut MessageBuilder) {
        if let Some(leg) = &self.session[slot(side)] {
            b.header(
                "Session-Expires",
                format_args!("{};refresher={}", leg.interval, leg.refresher.param(false)),
            );
        }
    }

    /// The `SessionTimer` timer (`at`): a refresh of ours is due, or a leg expired.
    pub(super) fn handle_session_timer(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        at: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        if self.state != CallState::Answered {
            return After::Nothing;
        }
        for side in [Side::A, Side::B] {
            let Some(leg) = self.session[slot(side)].as_ref() else {
                continue;
            };
            if leg.expire_at == at && now >= leg.expire_at {
                return self.session_expired(ctx, now, side, out);
            }
            if leg.refresh_at == Some(at) {
                self.send_refresh(ctx, now, side, out);
            }
        }
        After::Nothing
    }

    /// Refreshes `side`'s leg: UPDATE when the peer allows it, else a re-INVITE with the SDP
    /// it last got from us (an INVITE already crossing: a little later).
    fn send_refresh(&mut self, ctx: &mut Shared, now: Instant, side: Side, out: &mut dyn Outbox) {
        let id = self.id;
        let Some(leg) = self.session[slot(side)].as_mut() else {
            return;
        };
        leg.refresh_at = None;
        let use_update = leg.update || leg.sdp.is_none();
        if !use_update && self.reinvite_open {
            let at = now + Duration::from_secs(1);
            leg.refresh_at = Some(at);
            ctx.timers.arm(at, id, TimerKind::SessionTimer);
            return;
        }
        let interval = leg.interval;
        let sdp = if use_update { None } else { leg.sdp.clone() };
        let method = if use_update {
            Method::Update
        } else {
            Method::Invite
        };
        let branch = ctx.ids.branch();
        let user = self.contact_user(side);
        let shard = self.shard;
        let Some(d) = self.dialog_mut(side) else {
            return;
        };
        let peer = d.peer;
        let mut b = d.request(&method, &branch, Some(&contact(&user, &peer, shard)));
        b.header("Session-Expires", format_args!("{interval};refresher=uac"))
            .header("Min-SE", secs(ctx.cfg.min_se))
            .header("Supported", "timer")
            .user_agent();
        let msg = match &sdp {
            Some((ct, body)) => b.finish_request_with_body(ct, body),
            None => b.finish_request(),
        };
        tracing::debug!(call = id, ?side, %method, "session refresh");
        match msg.ok().and_then(|m| out.send_request(m, peer)) {
            Some(k) => {
                ctx.track(k, id, Pending::Refresh(side));
                if method == Method::Invite {
                    self.reinvite_open = true;
                }
            }
            None => tracing::debug!(call = id, "session refresh not sent"),
        }
    }

    /// The final answer to our refresh of `side`'s leg (`None`: the transaction timed out).
    pub(crate) fn handle_refresh_answer(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        side: Side,
        resp: Option<Message>,
        out: &mut dyn Outbox,
    ) -> After {
        let status = resp.as_ref().and_then(Message::status).unwrap_or(408);
        let cseq = resp.as_ref().and_then(|r| r.cseq().ok());
        let was_invite = cseq.as_ref().is_some_and(|c| c.method == Method::Invite);
        if was_invite || resp.is_none() {
            self.reinvite_open = false;
        }
        if self.state != CallState::Answered {
            return After::MaybeRemove;
        }
        let id = self.id;
        match (status, resp) {
            (200..=299, Some(r)) => {
                if was_invite {
                    let seq = cseq.map_or(0, |c| c.seq);
                    self.send_ack(ctx, side, seq, None, out);
                }
                if let Some(d) = self.dialog_mut(side) {
                    d.refresh_target(&r);
                }
                self.session_refreshed(ctx, now, side, &r, true);
                After::Nothing
            }
            (408 | 481, _) => self.session_expired(ctx, now, side, out),
            (code, r) => {
                let Some(leg) = self.session[slot(side)].as_mut() else {
                    return After::Nothing;
                };
                match code {
                    422 => {
                        let floor = r.as_ref().and_then(min_se).unwrap_or(leg.interval);
                        leg.interval = leg.interval.max(floor);
                    }
                    405 | 501 if !was_invite => leg.update = false,
                    _ => {}
                }
                // again in a while; the leg expires if nothing succeeds in time
                let retry = if matches!(code, 422 | 405 | 501) {
                    0
                } else {
                    2
                };
                let at = (now + Duration::from_secs(retry)).min(leg.expire_at);
                leg.refresh_at = Some(at);
                ctx.timers.arm(at, id, TimerKind::SessionTimer);
                After::Nothing
            }
        }
    }

    /// `side`'s leg was not refreshed in time (or its refresh failed): BYE to both legs, CDR
    /// `hangup_by = session-timer`.
    fn session_expired(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        side: Side,
        out: &mut dyn Outbox,
    ) -> After {
        tracing::info!(call = self.id, ?side, "session timer expired: hanging up");
        self.session = [None, None];
        self.send_bye(ctx, Side::A, out);
        self.send_bye(ctx, Side::B, out);
        self.resend = [None, None];
        self.finish(ctx, now, HangupBy::SessionTimer)
    }
}
