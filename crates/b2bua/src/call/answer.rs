//! The answer: the winning 2xx (dialogs on both legs, the other branches CANCELled, the 2xx
//! relayed to the caller), resending our 2xx until its ACK (§13.3.1.4), the ACKs we send,
//! and the late offer (the caller's ACK brings the answer the callee waits for).

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_dialog::Dialog;
use sip_message::{Message, MessageBuilder, Method, Peer};

use super::{contact, is_sdp, slot, After, BranchState, Call, CallState, Resend, ALLOW, ELSEWHERE};
use crate::shared::{Pending, Shared, TimerKind};
use crate::{Outbox, PushKind, Side};

impl Call {
    /// An ACK for one of our 2xx, from `side`: stops that side's resend; for a call picked up
    /// with one offer, the ACK's answer goes in our 200 to the other side; and sends the ACK
    /// owed to the other side (late offer: with the ACK's SDP).
    pub(crate) fn handle_ack(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        side: Side,
        req: &Message,
        out: &mut dyn Outbox,
    ) {
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        if self.resend[slot(side)]
            .as_ref()
            .is_some_and(|r| r.cseq == cseq)
        {
            self.resend[slot(side)] = None;
        }
        if self.pickup_owed == Some(side.other()) && is_sdp(req) {
            self.pickup_owed = None;
            let raw = req.body().clone();
            let body = ctx
                .media
                .answer(self.id, side, &raw, self.mode)
                .unwrap_or(raw);
            let ct = req.content_type().unwrap_or("application/sdp");
            self.pickup_ok(ctx, now, side.other(), Some((ct, &body)), out);
        }
        if let Some((owed, seq)) = self.ack_owed {
            if owed == side.other() {
                self.ack_owed = None;
                let body = if is_sdp(req) {
                    let raw = req.body().clone();
                    Some(
                        ctx.media
                            .answer(self.id, side, &raw, self.mode)
                            .unwrap_or(raw),
                    )
                } else {
                    None
                };
                let ct = req.content_type().unwrap_or("application/sdp");
                self.send_ack(ctx, owed, seq, body.as_deref().map(|b| (ct, b)), out);
            }
        }
    }

    /// A 2xx to our INVITE with CSeq `cseq` towards `side` came again after its client
    /// transaction's record went: our ACK was lost, send it again.
    pub(crate) fn handle_stray_2xx(&self, side: Side, cseq: u32, out: &mut dyn Outbox) {
        if let (Some((seq, ack)), Some(d)) = (&self.last_ack[slot(side)], self.dialog(side)) {
            if *seq == cseq {
                out.send_stateless(ack.clone(), d.peer);
            }
        }
    }

    /// A resend timer of our 2xx fired (`at`): send the 2xx due again, or give up on the
    /// ACK.
    pub(super) fn handle_resend(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        at: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        let mut dead = false;
        for r in self.resend.iter_mut().flatten() {
            if r.next != at {
                continue;
            }
            if now >= r.give_up {
                dead = true;
                break;
            }
            out.send_stateless(r.bytes.clone(), r.peer);
            r.interval = (r.interval * 2).min(ctx.cfg.t2);
            r.next = (now + r.interval).min(r.give_up);
            ctx.timers.arm(r.next, self.id, TimerKind::Resend2xx);
        }
        if dead {
            // the ACK never came: the call cannot go on (§13.3.1.4)
            tracing::debug!(call = self.id, "no ACK for our 2xx: ending the call");
            return self.hang_up(ctx, now, out);
        }
        After::Nothing
    }

    /// A 2xx on branch `n`: the winner, the same 2xx again, or one too many (another device
    /// answered first, or the caller gave up).
    pub(super) fn branch_2xx(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        n: usize,
        resp: Message,
        out: &mut dyn Outbox,
    ) {
        let cseq = resp.cseq().map(|c| c.seq).unwrap_or(1);
        if self.winner == Some(n) {
            // the 2xx again: our ACK was lost
            if let Some((seq, ack)) = &self.last_ack[1] {
                if *seq == cseq {
                    out.send_stateless(ack.clone(), self.branches[n].peer);
                }
            }
            return;
        }
        let peer = self.branches[n].peer;
        let dialog = match Dialog::from_response(&self.branches[n].invite, &resp, peer) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(call = self.id, "2xx without a usable dialog: {e}");
                return;
            }
        };
        if self.state != CallState::Ringing || self.winner.is_some() {
            // another device answered first, or the caller gave up: ACK and BYE this one
            self.ack_and_bye(ctx, dialog, cseq, peer, out);
            self.branches[n].state = BranchState::Done(200);
            return;
        }
        // the winner
        self.winner = Some(n);
        self.branches[n].state = BranchState::Answered;
        self.answer = Some(now);
        self.credit_answered(ctx, now);
        self.ringing.get_or_insert(now);
        self.state = CallState::Answered;
        self.final_code = 200;
        self.no_answer_at = None;
        self.step_at = None;
        self.steps.clear();
        self.gateways.clear();
        ctx.timers.arm_sweep(now);
        let a_dialog = match Dialog::from_request(&self.a_invite, &self.a_tag, self.a_peer) {
            Ok(d) => d,
            Err(e) => {
                // the caller's INVITE had no Contact: we cannot reach it in the dialog
                tracing::debug!(call = self.id, "A-leg dialog: {e}");
                self.ack_and_bye(ctx, dialog, cseq, peer, out);
                return;
            }
        };
        self.b_dialog = Some(dialog);
        self.a_dialog = Some(a_dialog);
        // the others stop ringing
        for i in 0..self.branches.len() {
            if i != n && self.branches[i].live() {
                self.cancel_branch(ctx, i, ELSEWHERE, out);
            }
        }
        let winner = self.branches[n].instance.clone();
        if let (Some(p), Some(i)) = (self.park.as_mut(), &winner) {
            if p.was_pushed(i) {
                p.wake(now);
            }
        }
        self.end_park(
            ctx,
            now,
            PushKind::AnsweredElsewhere,
            ELSEWHERE,
            winner.as_deref(),
        );
        // B's ACK now, or when A's ACK brings the answer (late offer)
        if self.offer.is_some() {
            self.send_ack(ctx, Side::B, cseq, None, out);
        } else {
            self.ack_owed = Some((Side::B, cseq));
        }
        // a fork to browsers and plain phones: the winner's kind of media stays
        ctx.media.branch_won(self.id, self.branches[n].webrtc);
        let body = if is_sdp(&resp) {
            let raw = resp.body().clone();
            let b = if self.offer.is_some() {
                ctx.media.answer(self.id, Side::B, &raw, self.mode)
            } else {
                ctx.media.offer(self.id, Side::B, &raw, self.mode)
            };
            Some(b.unwrap_or(raw))
        } else {
            None
        };
        let mut rb = MessageBuilder::response_to(
            &self.a_invite,
            200,
            Some(&self.a_tag),
            Some(self.a_peer.remote),
        );
        rb.header(
            "Contact",
            contact(&self.callee_user(), &self.a_peer, self.shard),
        )
        .header("Allow", ALLOW)
        .server();
        // the extensions' part of the answer (`prack.rs`, `session_timer.rs`)
        self.prack_answered(n);
        let ct = resp.content_type().unwrap_or("application/sdp");
        self.session_answered(ctx, now, &resp, body.as_ref().map(|b| (ct, b)), &mut rb);
        let bytes = match body {
            Some(b) => rb.finish_with_body(resp.content_type().unwrap_or("application/sdp"), &b),
            None => rb.finish(),
        };
        out.respond(&self.a_key, bytes.clone());
        let a_cseq = self.a_invite.cseq().map(|c| c.seq).unwrap_or(1);
        self.start_resend(ctx, now, Side::A, bytes, a_cseq);
        tracing::debug!(call = self.id, branch = n, "answered");
    }

    /// A 2xx we do not take: ACK it, then BYE its dialog.
    fn ack_and_bye(
        &mut self,
        ctx: &mut Shared,
        mut dialog: Dialog,
        cseq: u32,
        peer: Peer,
        out: &mut dyn Outbox,
    ) {
        let branch = ctx.ids.branch();
        out.send_stateless(dialog.ack(cseq, &branch).finish(), peer);
        let branch = ctx.ids.branch();
        if let Ok(m) = dialog.request(&Method::Bye, &branch, None).finish_request() {
            if let Some(k) = out.send_request(m, peer) {
                ctx.track(k, self.id, Pending::Own);
            }
        }
    }

    /// Keeps our 2xx (`bytes`, to `to`'s INVITE with CSeq `cseq`) to send it again until the
    /// ACK: every T1 doubling up to T2 on unreliable transports; only waited for (64·T1) on
    /// reliable ones. Replaces an earlier 2xx to the same side.
    pub(super) fn start_resend(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        to: Side,
        bytes: Bytes,
        cseq: u32,
    ) {
        let peer = match to {
            Side::A => self.a_peer,
            Side::B => match &self.b_dialog {
                Some(d) => d.peer,
                None => return,
            },
        };
        let give_up = now + 64 * ctx.cfg.t1;
        let resend = if peer.transport.is_reliable() {
            // reliable transports carry the 2xx once; still wait for the ACK (64·T1)
            Resend {
                bytes,
                peer,
                cseq,
                interval: Duration::MAX,
                next: give_up,
                give_up,
            }
        } else {
            Resend {
                bytes,
                peer,
                cseq,
                interval: ctx.cfg.t1,
                next: now + ctx.cfg.t1,
                give_up,
            }
        };
        let at = resend.next;
        self.resend[slot(to)] = Some(resend);
        ctx.timers.arm(at, self.id, TimerKind::Resend2xx);
    }

    /// ACKs `side`'s 2xx to our INVITE with CSeq `cseq`, with an SDP body when given.
    pub(super) fn send_ack(
        &mut self,
        ctx: &mut Shared,
        side: Side,
        cseq: u32,
        body: Option<(&str, &[u8])>,
        out: &mut dyn Outbox,
    ) {
        let branch = ctx.ids.branch();
        let Some(d) = self.dialog_mut(side) else {
            return;
        };
        let b = d.ack(cseq, &branch);
        let bytes = match body {
            Some((ct, body)) => b.finish_with_body(ct, body),
            None => b.finish(),
        };
        let peer = d.peer;
        out.send_stateless(bytes.clone(), peer);
        self.last_ack[slot(side)] = Some((cseq, bytes));
    }
}
