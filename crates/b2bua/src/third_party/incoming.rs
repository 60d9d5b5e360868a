//! Incoming calls: the switch forks a call for the login to the API endpoint (a binding of
//! the login pointing at the agent, made by a registration session). The agent rings (180),
//! announces the call with the caller's SDP offer (`initial` event, `incoming_call` on the
//! channels), and answers 200 with the app's SDP answer ([`ApiCalls::answer`]) or declines
//! 603 ([`ApiCalls::hang_up`] before the answer). A CANCEL ends it as `cancelled` (487).
//!
//! Our own click-to-call reaches the agent too when it rings the login's devices: an
//! INVITE from the login to itself while one of its click-to-calls rings its devices is
//! refused with 480, so only the real devices answer it.

use std::time::Instant;

use sip_dialog::Dialog;
use sip_message::{Message, MessageBuilder};
use sip_transaction::ServerKey;

use super::leg::{Leg, LegState};
use super::{ApiCalls, CallKind, CallStatus, CommandError};

impl ApiCalls {
    pub(super) fn incoming(&mut self, now: Instant, key: ServerKey, req: &Message) {
        let login = req
            .request_uri()
            .ok()
            .and_then(|u| u.user.map(|u| u.to_owned()))
            .unwrap_or_default();
        let caller = req.from_user().map(|u| u.into_owned()).unwrap_or_default();
        let own_leg = self.calls.values().any(|c| {
            c.kind == CallKind::ClickToCall
                && c.login == login
                && caller == login
                && c.a
                    .as_ref()
                    .is_some_and(|a| matches!(a.state, LegState::Calling | LegState::Early))
        });
        if login.is_empty() || own_leg {
            self.reply(now, key, req, 480, None);
            return;
        }
        let tag = self.tx.new_tag();
        let peer = self.peer();
        let Ok(dialog) = Dialog::from_request(req, &tag, peer) else {
            self.reply(now, key, req, 400, None);
            return;
        };
        let offer = String::from_utf8_lossy(req.body()).into_owned();
        let id = self.new_call(&login, &caller, CallKind::Incoming);
        let ringing = self.uas_response(req, 180, &tag, None);
        let _ = self.tx.respond(now, &key, ringing);
        self.by_call_id
            .insert(dialog.call_id.clone(), (id, super::Side::B));
        let call = self.calls.get_mut(&id).expect("just added");
        call.b = Some(Leg::incoming(req.clone(), dialog));
        call.answer = (!offer.is_empty()).then(|| offer.clone());
        call.incoming = Some((key, req.clone()));
        let sdp = (!offer.is_empty()).then_some(offer);
        self.emit(id, CallStatus::Initial, None, None, sdp);
    }

    fn uas_response(&self, req: &Message, code: u16, tag: &str, sdp: Option<&str>) -> bytes::Bytes {
        let mut b = MessageBuilder::response_to(req, code, Some(tag), None);
        b.header("Contact", format_args!("<sip:api@{}>", self.cfg.local));
        match sdp {
            Some(s) => b.finish_with_body("application/sdp", s.as_bytes()),
            None => b.finish(),
        }
    }

    /// Answers an incoming call with the app's SDP answer.
    pub fn answer(&mut self, now: Instant, id: u64, sdp: &str) -> Result<(), CommandError> {
        if !sdp.trim_start().starts_with("v=0") {
            return Err(CommandError::Invalid(
                "the SDP answer must start with v=0".into(),
            ));
        }
        let call = self.calls.get_mut(&id).ok_or(CommandError::NoSuchCall)?;
        let Some((key, req)) = call.incoming.take() else {
            return Err(CommandError::Invalid(
                "not an incoming call waiting for an answer".into(),
            ));
        };
        let tag = call
            .b
            .as_ref()
            .and_then(|l| l.dialog.as_ref())
            .map(|d| d.local_tag.clone())
            .unwrap_or_default();
        call.offer = Some(sdp.to_owned());
        if let Some(b) = call.b.as_mut() {
            b.state = LegState::Up;
        }
        let ok = self.uas_response(&req, 200, &tag, Some(sdp));
        let _ = self.tx.respond(now, &key, ok);
        self.emit(id, CallStatus::Connected, Some(200), None, None);
        Ok(())
    }

    /// Declines an incoming call not answered yet (603).
    pub(super) fn decline(&mut self, now: Instant, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some((key, req)) = call.incoming.take() else {
            return;
        };
        if let Some(b) = call.b.as_mut() {
            b.state = LegState::Done;
        }
        let tag = self.tx.new_tag();
        let r = self.uas_response(&req, 603, &tag, None);
        let _ = self.tx.respond(now, &key, r);
        self.end(
            now,
            id,
            CallStatus::Declined,
            Some(603),
            Some("local_decline"),
        );
    }

    /// The caller cancelled an incoming call (the layer answered the CANCEL).
    pub(super) fn cancelled(&mut self, now: Instant, invite: ServerKey) {
        let Some(id) = self
            .calls
            .iter()
            .find(|(_, c)| c.incoming.as_ref().is_some_and(|(k, _)| *k == invite))
            .map(|(id, _)| *id)
        else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some((key, req)) = call.incoming.take() else {
            return;
        };
        if let Some(b) = call.b.as_mut() {
            b.state = LegState::Done;
        }
        let tag = self.tx.new_tag();
        let r = self.uas_response(&req, 487, &tag, None);
        let _ = self.tx.respond(now, &key, r);
        self.end(
            now,
            id,
            CallStatus::Cancelled,
            Some(487),
            Some("caller_cancelled"),
        );
    }
}
