//! What an application does to a connected call through `PUT /session/{id}/status`: hold
//! and resume (both legs of a click-to-call), DTMF as SIP INFO, blind transfer (REFER).

use std::time::Instant;

use sip_message::Method;

use super::leg::LegState;
use super::{check_user, sdp, ApiCalls, CommandError, Pending, Side};

impl ApiCalls {
    /// Puts the call on hold: the destination gets a re-INVITE with the user's SDP and
    /// `a=sendonly` (it is held, as by a phone); in a click-to-call, once it accepted, the
    /// user's own device gets one with the destination's SDP and `a=inactive`, so that it
    /// stops sending its microphone and neither party hears the other (RFC 3725: the
    /// controller keeps both dialogs' sessions in step, one offer at a time; RFC 6337 §5.3: a
    /// holder without music is `inactive`). The `hold` event follows the last 2xx.
    pub fn hold(&mut self, now: Instant, id: u64) -> Result<(), CommandError> {
        self.reinvite(now, id, "sendonly", Pending::Hold)
    }

    /// Resumes a held call: `a=sendrecv` to the destination and then, in a click-to-call,
    /// to the user's own device.
    pub fn resume(&mut self, now: Instant, id: u64) -> Result<(), CommandError> {
        self.reinvite(now, id, "sendrecv", Pending::Resume)
    }

    fn reinvite(
        &mut self,
        now: Instant,
        id: u64,
        direction: &str,
        pending: Pending,
    ) -> Result<(), CommandError> {
        let call = self.connected(id)?;
        let offer = call.offer.clone().unwrap_or_default();
        let sdp = sdp::with_direction(&offer, direction);
        call.offer = Some(sdp.clone());
        let branch = self.tx.new_branch();
        let call = self.calls.get_mut(&id).expect("present");
        let leg = call.b.as_mut().expect("connected");
        let Some(msg) = leg.in_dialog(&Method::Invite, &branch, &self.cfg.user_agent, |b| {
            b.finish_request_with_body("application/sdp", sdp.as_bytes())
        }) else {
            return Err(CommandError::NotConnected);
        };
        leg.reinvite_cseq = msg.cseq().map(|c| c.seq).ok();
        self.send(now, id, Side::B, pending, msg);
        Ok(())
    }

    /// After the destination accepted a hold (`hold`) or resume: the user's own leg of a
    /// click-to-call (up) gets a re-INVITE with the destination's SDP (what that device last
    /// got) set to `inactive` or `sendrecv`. False when there is no such leg (an endpoint
    /// call: the app holds its own media).
    pub(super) fn reinvite_own_leg(&mut self, now: Instant, id: u64, hold: bool) -> bool {
        let branch = self.tx.new_branch();
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let (Some(answer), Some(leg)) = (call.answer.clone(), call.a.as_mut()) else {
            return false;
        };
        if leg.state != LegState::Up {
            return false;
        }
        let direction = if hold { "inactive" } else { "sendrecv" };
        let sdp = sdp::with_direction(&answer, direction);
        let Some(msg) = leg.in_dialog(&Method::Invite, &branch, &self.cfg.user_agent, |b| {
            b.finish_request_with_body("application/sdp", sdp.as_bytes())
        }) else {
            return false;
        };
        leg.reinvite_cseq = msg.cseq().map(|c| c.seq).ok();
        call.answer = Some(sdp);
        self.send(now, id, Side::A, Pending::OwnLeg { hold }, msg);
        true
    }

    /// Sends `digits` (0-9, *, #, A-D) to the destination, one SIP INFO
    /// (`application/dtmf-relay`) each, in order.
    pub fn dtmf(&mut self, now: Instant, id: u64, digits: &str) -> Result<(), CommandError> {
        if digits.is_empty()
            || digits.len() > 32
            || !digits
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
        {
            return Err(CommandError::Invalid(
                "digits must be 1 to 32 of 0-9, *, #, A-D".into(),
            ));
        }
        let call = self.connected(id)?;
        call.dtmf.extend(digits.chars());
        self.next_dtmf(now, id);
        Ok(())
    }

    pub(super) fn next_dtmf(&mut self, now: Instant, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.dtmf_busy {
            return;
        }
        let Some(digit) = call.dtmf.pop_front() else {
            return;
        };
        let branch = self.tx.new_branch();
        let Some(leg) = call.b.as_mut() else {
            return;
        };
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        let Some(msg) = leg.in_dialog(&Method::Info, &branch, &self.cfg.user_agent, |b| {
            b.finish_request_with_body("application/dtmf-relay", body.as_bytes())
        }) else {
            return;
        };
        call.dtmf_busy = true;
        self.send(now, id, Side::B, Pending::Info, msg);
    }

    /// Blind transfer: REFER the destination to `target`; once it accepts, both legs end
    /// (`terminating`, reason `transferred`).
    pub fn transfer(&mut self, now: Instant, id: u64, target: &str) -> Result<(), CommandError> {
        check_user(target)?;
        let login = self.connected(id)?.login.clone();
        let branch = self.tx.new_branch();
        let domain = self.cfg.domain.clone();
        let call = self.calls.get_mut(&id).expect("present");
        let leg = call.b.as_mut().expect("connected");
        let Some(msg) = leg.in_dialog(&Method::Refer, &branch, &self.cfg.user_agent, |mut b| {
            b.header("Refer-To", format_args!("<sip:{target}@{domain}>"))
                .header("Referred-By", format_args!("<sip:{login}@{domain}>"));
            b.finish_request()
        }) else {
            return Err(CommandError::NotConnected);
        };
        self.send(now, id, Side::B, Pending::Refer, msg);
        Ok(())
    }
}
