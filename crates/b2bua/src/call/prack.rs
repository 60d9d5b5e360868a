//! Reliable provisional responses (RFC 3262, `100rel`), per leg.
//!
//! The two legs keep their own sequence spaces, as a B2BUA must:
//!
//! * **B-legs (ours as UAC).** Every B-leg INVITE says `Supported: 100rel`. A callee's 18x
//!   with `Require: 100rel` and `RSeq` is PRACKed by us, in its early dialog (one per branch
//!   and To tag), with `RAck: <rseq> <cseq> INVITE`. Only an `RSeq` one higher than the last
//!   one of that early dialog (or the first) is new (§4): a retransmission, or one out of
//!   order, is neither PRACKed again (our PRACK transaction retransmits itself) nor relayed.
//! * **A-leg (ours as UAS).** The caller gets reliable provisionals when it said `Require:
//!   100rel`, or when it said `Supported: 100rel` and the callee's 18x was reliable: a
//!   carrier B2BUA mirrors the callee's choice. They carry our own `RSeq` (starting at a
//!   random value, §3) and are sent again every T1, doubling, until the caller's PRACK
//!   (`RAck` matching) comes; after 64·T1 without one the INVITE is answered 504 (§3: "SHOULD
//!   reject the original request with a 5xx"). A second reliable provisional waits for the
//!   PRACK of the first (§3). A caller that supports neither gets the 18x unreliable, while
//!   we still PRACK the callee.
//!
//! Early media: the SDP of a 183 crosses like any provisional's (through the relay when the
//! call is anchored); only new provisionals do, so the relay sees each answer once.
//!
//! Inputs: [`Call::reliable_from_callee`] (a B-leg 18x), [`Call::send_provisional_a`] (an
//! 18x for the caller), [`Call::handle_prack`] (the caller's PRACK), the `Reliable1xx` timer
//! ([`Call::handle_reliable_resend`]); [`Call::prack_answered`] when the call is answered.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_dialog::Dialog;
use sip_message::{HeaderName, Message, MessageBuilder, Method, Peer};
use sip_transaction::ServerKey;

use super::{After, Call, CallState, Refusal, TERMINATED};
use crate::shared::{Pending, Shared, TimerKind};
use crate::{HangupBy, Outbox};

/// The value of the first header named `name` (full name as written, case-insensitive).
pub(crate) fn other_header<'m>(msg: &'m Message, name: &str) -> Option<&'m str> {
    msg.headers()
        .iter()
        .find(|h| h.name.matches(name))
        .map(|h| h.value().trim())
}

/// `RSeq` of a response.
fn rseq(msg: &Message) -> Option<u32> {
    other_header(msg, "RSeq")?.parse().ok()
}

/// `RAck` of a PRACK: response number, CSeq number, method.
fn rack(msg: &Message) -> Option<(u32, u32, &str)> {
    let mut it = other_header(msg, "RAck")?.split_ascii_whitespace();
    let r = it.next()?.parse().ok()?;
    let c = it.next()?.parse().ok()?;
    Some((r, c, it.next()?))
}

/// A reliable provisional response sent to the caller, resent until its PRACK.
#[derive(Debug)]
struct Unacked {
    rseq: u32,
    bytes: Bytes,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

/// One early dialog of a B-leg branch that sent reliable provisionals.
#[derive(Debug)]
struct EarlyLeg {
    branch: usize,
    dialog: Dialog,
    /// The last RSeq PRACKed.
    rseq: u32,
}

/// A call's RFC 3262 state (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Reliable {
    /// Our next RSeq towards the caller (0: not started).
    next_rseq: u32,
    /// The reliable provisional the caller has not PRACKed yet.
    unacked: Option<Unacked>,
    /// Reliable provisionals (RSeq, bytes) waiting for the PRACK of `unacked`.
    queued: VecDeque<(u32, Bytes)>,
    /// RSeqs no longer resent (the call was answered) whose late PRACK still gets 200.
    late: Vec<u32>,
    /// The B-legs' early dialogs with reliable provisionals.
    early: Vec<EarlyLeg>,
}

impl Reliable {
    /// The caller's PRACKs are no longer waited for (the call was answered or ended); a late
    /// one is still answered 200.
    fn stop(&mut self) {
        self.late.extend(self.unacked.take().map(|u| u.rseq));
        self.late.extend(self.queued.drain(..).map(|(r, _)| r));
    }
}

impl Call {
    /// Whether the caller takes reliable provisionals: `Require` always, `Supported` when the
    /// callee's 18x was reliable too.
    fn a_reliable(&self, callee_reliable: bool) -> bool {
        self.a_invite.has_option_tag(&HeaderName::Require, "100rel")
            || (callee_reliable
                && self
                    .a_invite
                    .has_option_tag(&HeaderName::Supported, "100rel"))
    }

    /// A provisional response on branch `n`. `Ok(reliable)`: relay it (it was reliable, and is
    /// PRACKed now); `Err(())`: a retransmission or one out of order, to drop.
    pub(super) fn reliable_from_callee(
        &mut self,
        ctx: &mut Shared,
        n: usize,
        resp: &Message,
        out: &mut dyn Outbox,
    ) -> Result<bool, ()> {
        let status = resp.status().unwrap_or(0);
        if status <= 100 || !resp.has_option_tag(&HeaderName::Require, "100rel") {
            return Ok(false);
        }
        let (Some(r), Ok(cseq)) = (rseq(resp), resp.cseq()) else {
            tracing::debug!(call = self.id, "reliable provisional without RSeq: dropped");
            return Err(());
        };
        let tag = resp.to_tag().unwrap_or_default();
        let pos = self
            .rel
            .early
            .iter()
            .position(|e| e.branch == n && e.dialog.remote_tag == tag);
        let pos = match pos {
            Some(p) => {
                if r != self.rel.early[p].rseq.wrapping_add(1) {
                    tracing::trace!(call = self.id, rseq = r, "reliable provisional again");
                    return Err(());
                }
                p
            }
            None => {
                let b = &self.branches[n];
                let Ok(d) = Dialog::from_response(&b.invite, resp, b.peer) else {
                    tracing::debug!(call = self.id, "reliable provisional without To tag");
                    return Err(());
                };
                self.rel.early.push(EarlyLeg {
                    branch: n,
                    dialog: d,
                    rseq: r,
                });
                self.rel.early.len() - 1
            }
        };
        let e = &mut self.rel.early[pos];
        e.rseq = r;
        e.dialog.refresh_target(resp);
        let branch = ctx.ids.branch();
        let peer = e.dialog.peer;
        let mut b = e.dialog.request(&Method::Prack, &branch, None);
        b.header("RAck", format_args!("{r} {} INVITE", cseq.seq));
        b.user_agent();
        if let Ok(m) = b.finish_request() {
            if let Some(k) = out.send_request(m, peer) {
                ctx.track(k, self.id, Pending::Own);
            }
        }
        Ok(true)
    }

    /// Sends the caller an 18x built in `rb` (with `body`): reliable when the caller takes
    /// it (see [`Self::a_reliable`]), after the PRACK of an earlier one if that is still
    /// unacknowledged.
    pub(super) fn send_provisional_a(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        mut rb: MessageBuilder,
        body: Option<(&str, &[u8])>,
        callee_reliable: bool,
        out: &mut dyn Outbox,
    ) {
        let reliable = self.a_reliable(callee_reliable);
        let mut r = 0;
        if reliable {
            if self.rel.next_rseq == 0 {
                // §3: the first RSeq is random in 1 .. 2^31 - 1
                self.rel.next_rseq = crate::ids::rseq(&mut ctx.ids);
            }
            r = self.rel.next_rseq;
            self.rel.next_rseq = self.rel.next_rseq.wrapping_add(1).max(1);
            rb.header("Require", "100rel").header("RSeq", r);
        }
        let bytes = match body {
            Some((ct, b)) => rb.finish_with_body(ct, b),
            None => rb.finish(),
        };
        if !reliable {
            out.respond(&self.a_key, bytes);
            return;
        }
        if self.rel.unacked.is_some() {
            self.rel.queued.push_back((r, bytes));
            return;
        }
        self.send_reliable_a(ctx, now, r, bytes, out);
    }

    fn send_reliable_a(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        rseq: u32,
        bytes: Bytes,
        out: &mut dyn Outbox,
    ) {
        out.respond(&self.a_key, bytes.clone());
        let next = now + ctx.cfg.t1;
        self.rel.unacked = Some(Unacked {
            rseq,
            bytes,
            interval: ctx.cfg.t1,
            next,
            give_up: now + 64 * ctx.cfg.t1,
        });
        ctx.timers.arm(next, self.id, TimerKind::Reliable1xx);
    }

    /// The `Reliable1xx` timer (`at`): the unacknowledged provisional again (T1 doubling), or
    /// 504 to the caller once 64·T1 passed without its PRACK.
    pub(super) fn handle_reliable_resend(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        at: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        if self.state != CallState::Ringing {
            self.rel.stop();
            return After::Nothing;
        }
        let Some(u) = self.rel.unacked.as_mut().filter(|u| u.next == at) else {
            return After::Nothing;
        };
        if now >= u.give_up {
            tracing::info!(call = self.id, "no PRACK for our reliable provisional: 504");
            self.rel.stop();
            self.stop_ringing(ctx, TERMINATED, out);
            self.answer_a(Refusal::NoPrack, out);
            return self.finish(ctx, now, HangupBy::System);
        }
        out.respond(&self.a_key, u.bytes.clone());
        u.interval *= 2;
        u.next = (now + u.interval).min(u.give_up);
        ctx.timers.arm(u.next, self.id, TimerKind::Reliable1xx);
        After::Nothing
    }

    /// A PRACK from the caller (any state): 200 when its `RAck` names our unacknowledged
    /// provisional (and the next queued one goes out), 481 otherwise (§3).
    pub(super) fn handle_prack(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        key: ServerKey,
        req: &Message,
        from: Peer,
        out: &mut dyn Outbox,
    ) -> After {
        let a_cseq = self.a_invite.cseq().map(|c| c.seq).unwrap_or(0);
        let ours =
            req.to_tag() == Some(self.a_tag.as_str()) && req.from_tag() == self.a_invite.from_tag();
        let (matched, late) = match rack(req) {
            Some((r, c, m)) if ours && c == a_cseq && m == "INVITE" => (
                self.rel.unacked.as_ref().is_some_and(|u| u.rseq == r),
                self.rel.late.contains(&r),
            ),
            _ => (false, false),
        };
        if late {
            // after the answer: nothing to stop, but the caller gets its 200
            let mut b = MessageBuilder::response_to(req, 200, None, Some(from.remote));
            b.server();
            out.respond(&key, b.finish());
            return After::Nothing;
        }
        let code = if matched { 200 } else { 481 };
        let mut b = MessageBuilder::response_to(req, code, None, Some(from.remote));
        b.server();
        out.respond(&key, b.finish());
        if !matched {
            tracing::debug!(call = self.id, "PRACK matches no reliable provisional: 481");
            return After::Nothing;
        }
        self.rel.unacked = None;
        if self.state == CallState::Ringing {
            if let Some((r, bytes)) = self.rel.queued.pop_front() {
                self.send_reliable_a(ctx, now, r, bytes, out);
            }
        } else {
            self.rel.stop();
        }
        After::Nothing
    }

    /// Branch `n` answered: the caller's PRACKs are no longer waited for, and the B-leg
    /// dialog continues the CSeq numbers our PRACKs used in its early dialog.
    pub(super) fn prack_answered(&mut self, n: usize) {
        self.rel.stop();
        let Some(d) = self.b_dialog.as_mut() else {
            return;
        };
        for e in self.rel.early.iter().filter(|e| e.branch == n) {
            if e.dialog.remote_tag == d.remote_tag {
                d.local_cseq = d.local_cseq.max(e.dialog.local_cseq);
            }
        }
        self.rel.early.clear();
    }
}
