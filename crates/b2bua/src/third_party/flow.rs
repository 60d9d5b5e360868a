//! What comes back from the switch: responses to our requests and requests inside our
//! dialogs, turned into leg states, ACKs, the other leg's next step and status events.

use std::time::Instant;

use sip_dialog::Dialog;
use sip_message::{Message, MessageBuilder, Method};
use sip_transaction::{ClientKey, ServerKey};

use super::leg::LegState;
use super::{sdp, ApiCalls, CallKind, CallStatus, Pending, Side};

impl ApiCalls {
    pub(super) fn response(&mut self, now: Instant, key: ClientKey, resp: &Message) {
        let Some(&(id, side, pending)) = self.by_client.get(&key) else {
            return;
        };
        let Some(code) = resp.status() else {
            return;
        };
        if code >= 200 && pending != Pending::Invite {
            self.by_client.remove(&key);
        }
        match pending {
            Pending::Invite => self.invite_response(now, id, side, key, code, resp),
            Pending::OwnLeg { hold } => {
                if code < 200 {
                    return;
                }
                self.by_client.remove(&key);
                if (200..300).contains(&code) {
                    self.ack_reinvite(id, Side::A, resp);
                } else {
                    tracing::warn!(
                        call = id,
                        code,
                        "API call: the user's device refused the re-INVITE"
                    );
                }
                self.emit(id, held(hold), Some(code), None, None);
            }
            Pending::Hold | Pending::Resume => {
                if code < 200 {
                    return;
                }
                self.by_client.remove(&key);
                let hold = pending == Pending::Hold;
                // a non-2xx is ACKed by the transaction layer
                if (200..300).contains(&code) {
                    self.ack_reinvite(id, Side::B, resp);
                    if !self.reinvite_own_leg(now, id, hold) {
                        self.emit(id, held(hold), Some(code), None, None);
                    }
                }
            }
            Pending::Info => {
                if code >= 200 {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.dtmf_busy = false;
                    }
                    self.next_dtmf(now, id);
                }
            }
            Pending::Refer => {
                if (200..300).contains(&code) {
                    self.end(now, id, CallStatus::Terminating, None, Some("transferred"));
                }
            }
            Pending::Bye | Pending::Cancel => {}
        }
    }

    /// ACKs the 2xx of a re-INVITE on `side`.
    fn ack_reinvite(&mut self, id: u64, side: Side, resp: &Message) {
        let branch = self.tx.new_branch();
        let peer = self.peer();
        let Some(leg) = self.leg_mut(id, side) else {
            return;
        };
        let seq = resp.cseq().map(|c| c.seq).unwrap_or(0);
        if let Some(ack) = leg.ack_reinvite(seq, &branch) {
            self.tx.send_stateless(ack, peer);
        }
    }

    fn invite_response(
        &mut self,
        now: Instant,
        id: u64,
        side: Side,
        key: ClientKey,
        code: u16,
        resp: &Message,
    ) {
        let peer = self.peer();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let kind = call.kind;
        let over = call.ended_at.is_some();
        let leg = match side {
            Side::A => call.a.as_mut(),
            Side::B => call.b.as_mut(),
        };
        let Some(leg) = leg else {
            return;
        };
        if code < 200 {
            if resp.to_tag().is_some() && leg.state == LegState::Calling {
                leg.state = LegState::Early;
            }
            if side == Side::B && !over {
                if let Some(status) = CallStatus::from_provisional(code) {
                    self.emit(id, status, Some(code), None, None);
                }
            }
            return;
        }
        if code >= 300 {
            self.by_client.remove(&key);
            let was_done = leg.state == LegState::Done;
            leg.state = LegState::Done;
            if !over && !was_done {
                let reason = match side {
                    Side::A => "caller_leg",
                    Side::B => "destination",
                };
                self.end(
                    now,
                    id,
                    CallStatus::from_final(code),
                    Some(code),
                    Some(reason),
                );
            }
            return;
        }
        // 2xx: the first makes the dialog; retransmissions are ACKed again once up
        if leg.dialog.is_none() {
            match Dialog::from_response(&leg.invite, resp, peer) {
                Ok(d) => {
                    self.by_call_id.insert(d.call_id.clone(), (id, side));
                    leg.dialog = Some(d);
                }
                Err(e) => {
                    tracing::warn!(call = id, "API call: 2xx without a dialog: {e}");
                    return;
                }
            }
        } else if leg.state == LegState::Up || leg.state == LegState::Done {
            // a retransmitted 2xx: our ACK was lost
            let branch = self.tx.new_branch();
            if let Some(ack) = leg.ack(&branch, None) {
                self.tx.send_stateless(ack, peer);
            }
            return;
        } else {
            return;
        }
        let body = String::from_utf8_lossy(resp.body()).into_owned();
        if over || leg.state == LegState::Done {
            // answered after we gave up: ACK and BYE
            leg.state = LegState::Answered;
            self.close_leg(now, id, side);
            return;
        }
        leg.state = LegState::Answered;
        match (side, kind) {
            (Side::A, _) => {
                if !body.trim_start().starts_with("v=0") {
                    self.end(
                        now,
                        id,
                        CallStatus::Failed,
                        Some(488),
                        Some("caller_leg_no_sdp"),
                    );
                    return;
                }
                self.call_destination(now, id, body);
            }
            (Side::B, kind) => {
                let (a_answer, sdp_event) = match kind {
                    CallKind::ClickToCall => (Some(body.clone()), None),
                    CallKind::Endpoint | CallKind::Incoming => (None, Some(body.clone())),
                };
                if let Some(c) = self.calls.get_mut(&id) {
                    c.answer = Some(body);
                    c.ring_deadline = None;
                    if let Some(b) = c.b.as_mut() {
                        b.state = LegState::Up;
                    }
                }
                self.send_ack(id, Side::B, None);
                if let Some(answer) = a_answer {
                    self.send_ack(id, Side::A, Some(&answer));
                    if let Some(a) = self.leg_mut(id, Side::A) {
                        a.state = LegState::Up;
                    }
                }
                self.emit(id, CallStatus::Connected, Some(code), None, sdp_event);
            }
        }
    }

    /// A transaction ended without an answer (`code` 408) or could not be sent (503).
    pub(super) fn failed(&mut self, now: Instant, key: ClientKey, code: u16) {
        let Some((id, side, pending)) = self.by_client.remove(&key) else {
            return;
        };
        match pending {
            Pending::Invite => {
                if let Some(leg) = self.leg_mut(id, side) {
                    if leg.state == LegState::Done {
                        return;
                    }
                    leg.state = LegState::Done;
                }
                self.end(
                    now,
                    id,
                    CallStatus::from_final(code),
                    Some(code),
                    Some("no_response"),
                );
            }
            Pending::Info => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.dtmf_busy = false;
                }
                self.next_dtmf(now, id);
            }
            Pending::Hold | Pending::Resume | Pending::Refer | Pending::OwnLeg { .. } => {
                self.end(
                    now,
                    id,
                    CallStatus::Terminating,
                    Some(code),
                    Some("no_response"),
                );
            }
            Pending::Bye | Pending::Cancel => {}
        }
    }

    /// A request from the switch: inside one of our dialogs, or refused.
    pub(super) fn request(&mut self, now: Instant, key: ServerKey, req: &Message) {
        let found = self.find_dialog(req);
        let method = req.method().cloned();
        let Some((id, side)) = found else {
            if method == Some(Method::Invite) && req.to_tag().is_none() {
                self.incoming(now, key, req);
            } else {
                self.reply(now, key, req, 481, None);
            }
            return;
        };
        match method {
            Some(Method::Bye) => {
                self.reply(now, key, req, 200, None);
                if let Some(leg) = self.leg_mut(id, side) {
                    leg.state = LegState::Done;
                }
                let reason = match side {
                    Side::A => "caller_hangup",
                    Side::B => "remote_hangup",
                };
                self.end(now, id, CallStatus::Terminating, None, Some(reason));
            }
            Some(Method::Invite) => {
                // a re-INVITE from the far end: answer with what that leg already has
                let ours = self.calls.get(&id).and_then(|c| match side {
                    Side::A => c.answer.clone(),
                    Side::B => c.offer.clone(),
                });
                let offered = String::from_utf8_lossy(req.body()).into_owned();
                self.reply(now, key, req, 200, ours.as_deref());
                if !offered.is_empty() {
                    let held = sdp::direction(&offered) != "sendrecv";
                    let status = self.calls.get(&id).map(|c| c.status);
                    if held && status != Some(CallStatus::Hold) {
                        self.emit(id, CallStatus::Hold, None, Some("remote_hold"), None);
                    } else if !held && status == Some(CallStatus::Hold) {
                        self.emit(id, CallStatus::Resumed, None, Some("remote_resume"), None);
                    }
                }
            }
            _ => self.reply(now, key, req, 200, None),
        }
    }

    fn find_dialog(&self, req: &Message) -> Option<(u64, Side)> {
        let call_id = req.call_id()?;
        let (to, from) = (req.to_tag(), req.from_tag());
        let &(id, side) = self.by_call_id.get(call_id)?;
        let c = self.calls.get(&id)?;
        let leg = match side {
            Side::A => &c.a,
            Side::B => &c.b,
        };
        let d = leg.as_ref()?.dialog.as_ref()?;
        d.matches(call_id, to, from).then_some((id, side))
    }

    pub(super) fn reply(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: &Message,
        code: u16,
        sdp: Option<&str>,
    ) {
        let mut b = MessageBuilder::response_to(req, code, None, None);
        if req.method() == Some(&Method::Invite) {
            b.header("Contact", format_args!("<sip:api@{}>", self.cfg.local));
        }
        let bytes = match sdp {
            Some(s) => b.finish_with_body("application/sdp", s.as_bytes()),
            None => b.finish(),
        };
        let _ = self.tx.respond(now, &key, bytes);
    }
}

/// The status a hold (`true`) or resume brings.
fn held(hold: bool) -> CallStatus {
    if hold {
        CallStatus::Hold
    } else {
        CallStatus::Resumed
    }
}
