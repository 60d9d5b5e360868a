//! Ringing: starting the B-leg branches (fork, ring group steps, gateway failover, service,
//! voicemail), their provisional and final answers, CANCEL, and the best final answer to the
//! caller once every branch ended (or, for a parked call, once no pushed device may still
//! wake up).

use std::time::Instant;

use sip_message::{HeaderName, Message, MessageBuilder, Method, Peer};

use super::{
    contact, is_sdp, user_part, After, Branch, BranchState, Call, CallState, Refusal, ALLOW,
    TERMINATED,
};
use crate::answering::situation_of;
use crate::route::Decision;
use crate::shared::{Pending, Shared, TimerKind};
use crate::{HangupBy, Outbox, PushKind, Side};
use ::voicemail::rules::When;

impl Call {
    /// Starts a new call on its routing decision: the branches (and the park, for a callee
    /// with push devices), or the final answer.
    pub(crate) fn handle_invite(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        decision: Decision,
        out: &mut dyn Outbox,
    ) -> After {
        // each side gets the relay's address in its own IP version
        ctx.media
            .peer_family(self.id, Side::A, self.a_peer.remote.is_ipv6());
        if let Some(v6) = decision.callee_ipv6() {
            ctx.media.peer_family(self.id, Side::B, v6);
        }
        // a WebRTC offer to a browser stays WebRTC; to anything else it is bridged
        if let Some(webrtc) = decision.callee_webrtc() {
            ctx.media.peer_webrtc(self.id, Side::B, webrtc);
        }
        if is_sdp(&self.a_invite) {
            let body = self.a_invite.body().clone();
            let ct = self
                .a_invite
                .content_type()
                .unwrap_or("application/sdp")
                .to_owned();
            let body = ctx
                .media
                .offer(self.id, Side::A, &body, self.mode)
                .unwrap_or(body);
            self.offer = Some((ct, body));
        }
        match decision {
            Decision::Reject { code, reason } => {
                self.answer_a(
                    Refusal::Routed {
                        status: code,
                        reason,
                    },
                    out,
                );
                return self.finish(ctx, now, HangupBy::System);
            }
            Decision::Fork {
                login,
                targets,
                push,
            } => {
                for t in targets {
                    if self.start_branch(ctx, &t.uri, t.peer, &t.login, None, None, out) {
                        if let Some(b) = self.branches.last_mut() {
                            b.instance = t.instance;
                        }
                    }
                }
                if !push.is_empty() {
                    self.park(ctx, now, login, push, out);
                }
            }
            Decision::Gateways { number, gateways } => {
                self.gateways = gateways.into();
                self.gateway_number = number;
                self.next_gateway(ctx, now, out);
            }
            Decision::Service { uri, peer } => {
                let user = user_part(&uri).unwrap_or_default();
                self.start_branch(ctx, &uri, peer, &user, None, None, out);
            }
            Decision::RingGroup {
                members,
                step_delay,
                ..
            } => {
                self.steps = members.into();
                self.step_delay = step_delay;
                if step_delay.is_zero() {
                    while let Some((login, targets)) = self.steps.pop_front() {
                        for t in targets {
                            self.start_branch(ctx, &t.uri, t.peer, &login, None, None, out);
                        }
                    }
                } else {
                    self.ring_step(ctx, now, out);
                }
            }
        }
        let mut at = now + self.ring_for.unwrap_or(ctx.cfg.call_timeout);
        if let Some(d) = self.park.as_ref().and_then(|p| p.deadline) {
            // a parked call rings until the push timeout (its own timer) at least
            at = at.max(d);
        }
        self.no_answer_at = Some(at);
        ctx.timers.arm(at, self.id, TimerKind::NoAnswer);
        self.after_branch_change(ctx, now, out)
    }

    /// A response to branch `n`'s INVITE.
    pub(crate) fn handle_branch_response(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        n: usize,
        status: u16,
        resp: Message,
        out: &mut dyn Outbox,
    ) -> After {
        if let (Some(park), Some(i)) = (self.park.as_mut(), &self.branches[n].instance) {
            // it answered something: awake, no push for it
            park.spoke(i);
        }
        match status {
            100..=199 => {
                self.branch_provisional(ctx, now, n, status, &resp, out);
                After::Nothing
            }
            200..=299 => {
                self.branch_2xx(ctx, now, n, resp, out);
                After::Nothing
            }
            422 if self.state == CallState::Ringing
                && self.branches[n].live()
                && self.retry_422(ctx, n, &resp, out) =>
            {
                // the callee's Min-SE is larger than our Session-Expires (`session_timer.rs`)
                After::Nothing
            }
            401 | 407 if self.branches[n].gateway.is_some() => {
                self.gateway_challenged(ctx, now, n, status, &resp, out)
            }
            _ => {
                let b = &mut self.branches[n];
                if b.live() {
                    b.state = BranchState::Done(status);
                }
                self.branch_final(ctx, now, n, status, out)
            }
        }
    }

    /// Branch `n`'s INVITE transaction ended without a final answer: as `code`, 408 when it
    /// timed out, 503 when it could not be sent (a dead flow). A device that did not even
    /// send a provisional is a suspended app, or one whose connection is gone: pushed now.
    pub(crate) fn handle_branch_timeout(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        n: usize,
        code: u16,
        out: &mut dyn Outbox,
    ) -> After {
        let mut silent = None;
        let mut code = code;
        if let Some(b) = self.branches.get_mut(n) {
            if code == 503 && b.gateway.is_none() {
                // a device that cannot be reached is unavailable, not a server failure: the
                // caller hears 480 (a gateway's 503 still fails over)
                code = 480;
            }
            if b.live() {
                b.state = BranchState::Done(code);
                silent.clone_from(&b.instance);
            }
        }
        if let (Some(i), CallState::Ringing) = (silent, self.state) {
            self.push_due(ctx, now, Some(&i), out);
        }
        self.branch_final(ctx, now, n, code, out)
    }

    /// The caller CANCELled its INVITE (the layer answered the CANCEL): a missed call for the
    /// pushed devices.
    pub(crate) fn handle_cancelled(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        if self.state != CallState::Ringing {
            return After::Nothing;
        }
        self.stop_ringing(ctx, TERMINATED, out);
        self.end_park(ctx, now, PushKind::MissedCancelled, TERMINATED, None);
        self.answer_a(Refusal::Cancelled, out);
        self.finish(ctx, now, HangupBy::Caller)
    }

    /// No answer within the call timeout: CANCEL everything (a missed call for the pushed
    /// devices), then the voicemail or 480.
    pub(super) fn handle_no_answer(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        self.no_answer_at = None;
        if self.state != CallState::Ringing {
            return After::Nothing;
        }
        tracing::debug!(call = self.id, "no answer in time");
        for i in 0..self.branches.len() {
            if self.branches[i].live() {
                self.cancel_branch(ctx, i, TERMINATED, out);
                // the CANCELled branch ends with 487; count it as no answer
                self.branches[i].state = BranchState::Done(480);
            }
        }
        self.end_park(ctx, now, PushKind::MissedTimeout, TERMINATED, None);
        self.steps.clear();
        self.gateways.clear();
        if let Some(f) = self.fallbacks.take(When::NoAnswer) {
            // the answering rule: voicemail, forward or reject
            if let Some(after) = self.use_fallback(ctx, now, f, 408, out) {
                return after;
            }
            if self.live_branches() > 0 {
                return After::Nothing;
            }
        }
        // a device that declined (or was busy) before the others timed out decides the answer
        // (docs/calls.md: 603 if any device declined, else 486 ...)
        let code = best_final(&self.done_codes());
        if matches!(code, 603 | 486) {
            self.answer_a(Refusal::Callee { status: code }, out);
            return self.finish(ctx, now, HangupBy::Callee);
        }
        self.answer_a(Refusal::NoAnswer, out);
        self.finish(ctx, now, HangupBy::System)
    }

    /// The final answers of the branches that ended.
    fn done_codes(&self) -> Vec<u16> {
        self.branches
            .iter()
            .filter_map(|b| match b.state {
                BranchState::Done(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// Gateway branch `n` sent nothing at all in time: the next gateway.
    pub(super) fn handle_gateway_silent(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        n: usize,
        out: &mut dyn Outbox,
    ) -> After {
        tracing::debug!(call = self.id, branch = n, "gateway silent: failing over");
        // nothing to CANCEL before a provisional: the branch is abandoned and its
        // transaction times out on its own; a late 2xx gets ACK + BYE
        self.branches[n].state = BranchState::Done(408);
        self.branch_final(ctx, now, n, 408, out)
    }

    /// Starts the next ring group member that has devices; arms the step timer if members
    /// remain.
    pub(super) fn ring_step(&mut self, ctx: &mut Shared, now: Instant, out: &mut dyn Outbox) {
        while let Some((login, targets)) = self.steps.pop_front() {
            if targets.is_empty() {
                continue;
            }
            for t in targets {
                self.start_branch(ctx, &t.uri, t.peer, &login, None, None, out);
            }
            break;
        }
        if self.steps.is_empty() {
            self.step_at = None;
        } else {
            let at = now + self.step_delay;
            self.step_at = Some(at);
            ctx.timers.arm(at, self.id, TimerKind::RingStep);
        }
    }

    /// Starts the next gateway that takes the INVITE; false when none is left.
    fn next_gateway(&mut self, ctx: &mut Shared, now: Instant, out: &mut dyn Outbox) -> bool {
        while let Some(gw) = self.gateways.pop_front() {
            let uri = format!("sip:{}@{}", self.gateway_number, gw.host);
            let number = self.gateway_number.clone();
            if self.start_branch(
                ctx,
                &uri,
                gw.peer,
                &number,
                Some(&gw.name),
                gw.caller_id.as_deref(),
                out,
            ) {
                let n = self.branches.len() - 1;
                self.branches[n].auth = gw.auth;
                ctx.timers.arm(
                    now + ctx.cfg.gateway_timeout,
                    self.id,
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
    pub(super) fn start_branch(
        &mut self,
        ctx: &mut Shared,
        uri: &str,
        peer: Peer,
        to_user: &str,
        gateway: Option<&str>,
        caller_id: Option<&str>,
        out: &mut dyn Outbox,
    ) -> bool {
        let webrtc = gateway.is_none() && crate::route::is_webrtc_device(uri, peer.transport);
        let call_id = ctx.ids.call_id();
        let from_tag = ctx.ids.tag();
        let branch = ctx.ids.branch();
        let a_from = self.a_invite.from_header().ok();
        let a_to = self.a_invite.to_header().ok();
        let from_host = a_from
            .as_ref()
            .map(|f| f.uri.host.to_string())
            .unwrap_or_else(|| peer.local.ip().to_string());
        let to_host = a_to
            .as_ref()
            .map(|t| t.uri.host.to_string())
            .unwrap_or_else(|| peer.local.ip().to_string());
        // a device sees the domain it registered with, never another host (or the realm)
        let (from_host, to_host) = match (&ctx.cfg.domain, gateway) {
            (Some(d), None) => (d.clone(), d.clone()),
            _ => (from_host, to_host),
        };
        let (from_user, display) = match (gateway, caller_id) {
            // gateways ignore display names; the caller ID may replace the user part
            (Some(_), Some(cli)) => (cli.to_owned(), None),
            // the caller's `TP:` rule rewrites the number presented to the gateway
            (Some(_), None) => (
                self.caller
                    .tech_prefix
                    .apply_tp(&self.caller.login)
                    .into_owned(),
                None,
            ),
            _ => (self.caller.login.clone(), self.caller.display_name.clone()),
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
        .header("Max-Forwards", self.max_forwards);
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
            .header("Call-ID", call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", contact(&from_user, &peer, self.shard))
            .header("Allow", ALLOW)
            .user_agent();
        self.session_invite_headers(&ctx.cfg, &mut b);
        let invite = match &self.offer {
            Some((ct, body)) => {
                let caller = self.a_invite.body();
                let bridged = ctx
                    .media
                    .branch_offer(self.id, webrtc, caller, body, self.mode);
                let body = bridged.as_ref().unwrap_or(body);
                if crate::webrtc::needs_gateway(body, webrtc) {
                    tracing::info!(call = self.id, transport = %peer.transport, "the branch's media differs (WebRTC and plain RTP) and no WebRTC gateway bridges them: signalling only");
                }
                b.finish_request_with_body(ct, body)
            }
            None => b.finish_request(),
        };
        let invite = match invite {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(call = self.id, "B-leg INVITE does not parse: {e}");
                return false;
            }
        };
        let idx = self.branches.len();
        let client = out.send_request(invite.clone(), peer);
        let state = if client.is_some() {
            BranchState::Calling
        } else {
            BranchState::Done(503)
        };
        self.branches.push(Branch {
            invite,
            peer,
            state,
            cancel_wanted: false,
            cancel_reason: TERMINATED,
            gateway: gateway.map(str::to_owned),
            instance: None,
            auth: None,
            auth_sent: false,
            webrtc,
        });
        if let Some(k) = client {
            ctx.track(k, self.id, Pending::Branch(idx));
            ctx.by_call_id.insert(call_id.into(), (self.id, Side::B));
        }
        client.is_some()
    }

    /// A provisional answer on branch `n`: relayed to the caller while ringing (own To tag,
    /// SDP through the relay), or the moment to send a CANCEL asked for earlier.
    fn branch_provisional(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        n: usize,
        status: u16,
        resp: &Message,
        out: &mut dyn Outbox,
    ) {
        let b = &mut self.branches[n];
        if b.state == BranchState::Calling {
            b.state = BranchState::Proceeding;
        }
        if b.cancel_wanted {
            b.cancel_wanted = false;
            self.send_cancel(ctx, n, out);
            return;
        }
        let live = b.live();
        // a reliable one is PRACKed (`prack.rs`); its retransmissions go no further
        let Ok(reliable) = self.reliable_from_callee(ctx, n, resp, out) else {
            return;
        };
        if status > 100 && self.state == CallState::Ringing && live {
            self.ringing.get_or_insert(now);
            let body = if is_sdp(resp) {
                let raw = resp.body().clone();
                Some(
                    ctx.media
                        .answer(self.id, Side::B, &raw, self.mode)
                        .unwrap_or(raw),
                )
            } else {
                None
            };
            let mut rb = MessageBuilder::response_to(
                &self.a_invite,
                status,
                Some(&self.a_tag),
                Some(self.a_peer.remote),
            );
            rb.header(
                "Contact",
                contact(&self.callee_user(), &self.a_peer, self.shard),
            );
            rb.header("Allow", ALLOW);
            let ct = resp.content_type().unwrap_or("application/sdp");
            let body = body.as_deref().map(|b| (ct, b));
            self.send_provisional_a(ctx, now, rb, body, reliable, out);
        }
    }

    /// A branch ended with a final non-2xx `status` (or 408 on timeout).
    pub(super) fn branch_final(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        n: usize,
        status: u16,
        out: &mut dyn Outbox,
    ) -> After {
        if self.state == CallState::Ringing && self.winner.is_none() {
            let is_gw = self.branches.get(n).is_some_and(|b| b.gateway.is_some());
            // OFFNET failover: the next gateway on timeout or a server failure
            if is_gw && (status == 408 || (500..600).contains(&status)) && !self.gateways.is_empty()
            {
                tracing::debug!(call = self.id, status, "gateway failed, trying the next");
                self.next_gateway(ctx, now, out);
            }
        }
        self.after_branch_change(ctx, now, out)
    }

    /// Once no branch is live: the next ring group member, the voicemail, or the final
    /// answer to the caller; a parked call keeps ringing while pushed devices may wake up.
    pub(super) fn after_branch_change(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> After {
        if self.state == CallState::Ringing && self.live_branches() == 0 {
            if !self.steps.is_empty() {
                self.ring_step(ctx, now, out);
            }
            if self.live_branches() == 0 && self.park.as_ref().is_some_and(|p| p.outstanding(now)) {
                // pushed devices may still wake up: the caller keeps hearing ringing
                return After::Nothing;
            }
            if self.live_branches() == 0 {
                let codes = self.done_codes();
                let code = if codes.is_empty() {
                    480
                } else {
                    best_final(&codes)
                };
                if let Some(f) = self.fallbacks.take(situation_of(code)) {
                    // the answering rule: voicemail, forward or reject
                    if let Some(after) = self.use_fallback(ctx, now, f, code, out) {
                        return after;
                    }
                }
                if self.live_branches() == 0 {
                    self.answer_a(Refusal::Callee { status: code }, out);
                    return self.finish(ctx, now, HangupBy::Callee);
                }
            }
        }
        After::MaybeRemove
    }

    /// CANCELs every live branch with `reason` and drops what was left to try (more
    /// members, gateways, voicemail).
    pub(super) fn stop_ringing(
        &mut self,
        ctx: &mut Shared,
        reason: &'static str,
        out: &mut dyn Outbox,
    ) {
        for i in 0..self.branches.len() {
            if self.branches[i].live() {
                self.cancel_branch(ctx, i, reason, out);
            }
        }
        self.fallbacks = Default::default();
        self.steps.clear();
        self.gateways.clear();
    }

    /// CANCEL with `reason` for branch `n`: now if it is proceeding, at its first
    /// provisional answer if it has none yet (§9.1).
    pub(super) fn cancel_branch(
        &mut self,
        ctx: &mut Shared,
        n: usize,
        reason: &'static str,
        out: &mut dyn Outbox,
    ) {
        let b = &mut self.branches[n];
        b.cancel_reason = reason;
        match b.state {
            BranchState::Calling => b.cancel_wanted = true,
            BranchState::Proceeding => self.send_cancel(ctx, n, out),
            _ => {}
        }
    }

    /// CANCEL for branch `n` (§9.1): same Request-URI, Call-ID, From, To, CSeq number and
    /// top Via branch as its INVITE.
    fn send_cancel(&mut self, ctx: &mut Shared, n: usize, out: &mut dyn Outbox) {
        let b = &self.branches[n];
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
        if let Ok(msg) = m.finish_request() {
            if let Some(k) = out.send_request(msg, b.peer) {
                ctx.track(k, self.id, Pending::Own);
            }
        }
    }
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
        // 430 Flow Failed (RFC 5626 §5.3, a cluster node that lost the phone's connection) is
        // per hop: never forwarded to the caller
        .filter(|&c| c != 408 && c != 487 && c != 480 && c != 430)
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
