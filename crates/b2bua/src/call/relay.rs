//! The call in its dialogs: in-dialog requests crossing to the other leg (re-INVITE, UPDATE,
//! INFO, REFER, ...) and their final answers crossing back, glare (491), BYE, dead legs
//! (408/481/timeout end the call) and hanging up both legs.

use std::time::Instant;

use sip_message::{HeaderName, Message, MessageBuilder, Method, Peer};
use sip_transaction::ServerKey;

use super::{contact, is_sdp, transport_param, After, Call, CallState};
use crate::shared::{Pending, Shared};
use crate::{HangupBy, Outbox, Side};

/// A relayed request as the origin sent it, kept until the far side's final answer.
#[derive(Debug)]
pub(crate) struct OriginRequest {
    side: Side,
    key: ServerKey,
    method: Method,
    offer: bool,
    request: Message,
    from: Peer,
}

impl Call {
    /// A request with a To tag from `side` (its Call-ID is `call_id`, which the table
    /// matched to this call). `None` if it is not a request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_in_dialog(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        side: Side,
        key: ServerKey,
        req: &Message,
        call_id: &str,
        from: Peer,
        out: &mut dyn Outbox,
    ) -> Option<After> {
        let reply = |out: &mut dyn Outbox, code: u16| {
            let b = MessageBuilder::response_to(req, code, None, Some(from.remote));
            out.respond(&key, b.finish());
        };
        let to_tag = req.to_tag();
        let from_tag = req.from_tag();
        let method = req.method()?;
        if *method == Method::Prack && side == Side::A {
            // the caller's PRACK of our reliable provisional (`prack.rs`), early or late
            return Some(self.handle_prack(ctx, now, key, req, from, out));
        }
        let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let ok_dialog = match self.dialog_mut(side) {
            Some(d) if d.matches(call_id, to_tag, from_tag) => {
                if !d.accept_remote_cseq(seq) {
                    reply(out, 500);
                    return Some(After::Nothing);
                }
                // requests go back over the flow the peer uses now
                d.peer = from;
                true
            }
            _ => false,
        };
        if !ok_dialog || self.state != CallState::Answered {
            reply(out, 481);
            return Some(After::Nothing);
        }
        match method {
            Method::Bye => {
                let b = MessageBuilder::response_to(req, 200, None, Some(from.remote));
                out.respond(&key, b.finish());
                self.send_bye(ctx, side.other(), out);
                self.resend = [None, None];
                let by = match side {
                    Side::A => HangupBy::Caller,
                    Side::B => HangupBy::Callee,
                };
                Some(self.finish(ctx, now, by))
            }
            Method::Invite if self.reinvite_open => {
                // glare: an INVITE is already crossing this call
                let mut b = MessageBuilder::response_to(req, 491, None, Some(from.remote));
                b.header("Retry-After", 1);
                out.respond(&key, b.finish());
                Some(After::Nothing)
            }
            m => {
                if let Err(code) = self.cross(ctx, side, key, req, m, from, out) {
                    reply(out, code);
                }
                Some(After::Nothing)
            }
        }
    }

    /// The far side's final answer to a request we relayed from `o.side`.
    pub(crate) fn handle_relayed_final(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        o: OriginRequest,
        status: u16,
        resp: Message,
        out: &mut dyn Outbox,
    ) -> After {
        if matches!(status, 408 | 481) {
            return self.handle_dead_leg(ctx, now, &o, status, out);
        }
        let far = o.side.other();
        if o.method == Method::Invite {
            self.reinvite_open = false;
        }
        let cseq = resp.cseq().map(|c| c.seq).unwrap_or(0);
        let body = if is_sdp(&resp) {
            let raw = resp.body().clone();
            let rewritten = match (&o.method, o.offer) {
                (Method::Invite | Method::Update, true) => {
                    ctx.media.answer(self.id, far, &raw, self.mode)
                }
                (Method::Invite, false) => ctx.media.offer(self.id, far, &raw, self.mode),
                _ => None,
            };
            Some(rewritten.unwrap_or(raw))
        } else {
            None
        };
        let ok = (200..300).contains(&status);
        if ok {
            if let Some(d) = self.dialog_mut(far) {
                if matches!(o.method, Method::Invite | Method::Update) {
                    d.refresh_target(&resp);
                }
            }
            if o.method == Method::Invite {
                if o.offer {
                    self.send_ack(ctx, far, cseq, None, out);
                } else {
                    self.ack_owed = Some((far, cseq));
                }
            }
        }
        let contact_user = self.contact_user(o.side);
        let mut b = MessageBuilder::response_to(&o.request, status, None, Some(o.from.remote));
        if matches!(
            o.method,
            Method::Invite | Method::Update | Method::Subscribe
        ) && ok
        {
            b.header(
                "Contact",
                format_args!(
                    "<sip:{contact_user}@{}{}{}>",
                    o.from.local,
                    transport_param(o.from.transport),
                    super::ShardParam(self.shard, o.from.transport)
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
        if ok && matches!(o.method, Method::Invite | Method::Update) {
            // a refresh of both legs' session timers (`session_timer.rs`)
            self.session_refreshed(ctx, now, far, &resp, true);
            self.session_refreshed(ctx, now, o.side, &o.request, false);
            self.session_answer_headers(o.side, &mut b);
            if let Some(body) = &body {
                self.session_sdp_sent(o.side, resp.content_type(), body);
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
            self.start_resend(ctx, now, o.side, bytes, o_cseq);
        }
        After::Nothing
    }

    /// The far leg of a relayed request is gone (408, 481, timeout): answer the origin and
    /// end the call.
    pub(crate) fn handle_dead_leg(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        o: &OriginRequest,
        status: u16,
        out: &mut dyn Outbox,
    ) -> After {
        let b = MessageBuilder::response_to(&o.request, status, None, Some(o.from.remote));
        out.respond(&o.key, b.finish());
        if o.method == Method::Invite {
            self.reinvite_open = false;
        }
        tracing::debug!(
            call = self.id,
            status,
            "the other leg is gone: ending the call"
        );
        if o.method != Method::Bye {
            self.send_bye(ctx, o.side, out);
        }
        self.resend = [None, None];
        self.finish(ctx, now, HangupBy::System)
    }

    /// Hangs up an answered call: BYE to both legs, no more 2xx resent.
    pub(super) fn hang_up(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        self.send_bye(ctx, Side::A, out);
        self.send_bye(ctx, Side::B, out);
        self.resend = [None, None];
        self.finish(ctx, now, HangupBy::System)
    }

    /// Relays in-dialog request `m` from `side` to the other leg, with the headers that carry
    /// its meaning and its SDP through the relay. `Err` is the answer for the origin: 481
    /// when the other leg has no dialog, 503 when the transaction layer refused the request.
    #[allow(clippy::too_many_arguments)]
    fn cross(
        &mut self,
        ctx: &mut Shared,
        side: Side,
        key: ServerKey,
        req: &Message,
        m: &Method,
        from: Peer,
        out: &mut dyn Outbox,
    ) -> Result<(), u16> {
        if matches!(m, Method::Invite | Method::Update) {
            if let Some(d) = self.dialog_mut(side) {
                d.refresh_target(req);
            }
        }
        let offer = is_sdp(req);
        let body = if offer {
            let raw = req.body().clone();
            let rewritten = if matches!(m, Method::Invite | Method::Update) {
                ctx.media.offer(self.id, side, &raw, self.mode)
            } else {
                None
            };
            Some(rewritten.unwrap_or(raw))
        } else {
            None
        };
        let branch = ctx.ids.branch();
        let other = side.other();
        let contact_user = self.contact_user(other);
        let shard = self.shard;
        let Some(d) = self.dialog_mut(other) else {
            return Err(481);
        };
        let peer = d.peer;
        let contact = contact(&contact_user, &peer, shard);
        let mut b = d.request(m, &branch, Some(&contact));
        if matches!(m, Method::Invite | Method::Update) {
            self.session_cross_headers(ctx, other, &mut b);
            if let Some(body) = &body {
                self.session_sdp_sent(other, req.content_type(), body);
            }
        }
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
        let msg = match (&body, req.content_type()) {
            (Some(body), ct) => b.finish_request_with_body(ct.unwrap_or("application/sdp"), body),
            (None, _) => b.finish_request(),
        };
        let Some(k) = msg.ok().and_then(|msg| out.send_request(msg, peer)) else {
            return Err(503);
        };
        if *m == Method::Invite {
            self.reinvite_open = true;
        }
        let origin = OriginRequest {
            side,
            key,
            method: m.clone(),
            offer,
            request: req.clone(),
            from,
        };
        ctx.track(k, self.id, Pending::Relay(Box::new(origin)));
        Ok(())
    }

    /// BYE on `side`'s dialog (when it has one).
    pub(super) fn send_bye(&mut self, ctx: &mut Shared, side: Side, out: &mut dyn Outbox) {
        let branch = ctx.ids.branch();
        let id = self.id;
        let Some(d) = self.dialog_mut(side) else {
            return;
        };
        let peer = d.peer;
        let b = d.request(&Method::Bye, &branch, None);
        if let Ok(m) = b.finish_request() {
            if let Some(k) = out.send_request(m, peer) {
                ctx.track(k, id, Pending::Own);
            }
        }
    }
}
