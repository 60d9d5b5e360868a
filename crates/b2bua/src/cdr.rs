//! The call detail record of a call, and the wall clock it is written in.

use std::time::Instant;

use crate::call::Call;
use crate::{CallStats, Cdr, HangupBy};

/// The wall clock of CDR times: the driver's one [`sip_message::Epoch`].
pub(crate) use sip_message::Epoch;

impl Call {
    /// The record of this call, ended at `now` by `by`; `media` is what the relay counted.
    pub(crate) fn cdr(
        &self,
        now: Instant,
        by: HangupBy,
        media: Option<CallStats>,
        epoch: &Epoch,
    ) -> Cdr {
        let gateway = self
            .winner
            .and_then(|w| self.branches[w].gateway.clone())
            .or_else(|| self.branches.iter().rev().find_map(|b| b.gateway.clone()));
        let b_leg = self.winner.or_else(|| self.branches.len().checked_sub(1));
        Cdr {
            call_id: self.a_invite.call_id().unwrap_or_default().to_owned(),
            b_call_id: b_leg
                .and_then(|i| self.branches.get(i))
                .and_then(|b| b.invite.call_id())
                .map(str::to_owned),
            caller: self.caller.login.clone(),
            callee: self.callee.clone(),
            dialed: self.dialed.clone(),
            routed: self.routed.clone(),
            route: self.route.to_owned(),
            gateway,
            start_ms: epoch.wall(self.start),
            ringing_ms: self.ringing.map(|t| epoch.wall(t)),
            answer_ms: self.answer.map(|t| epoch.wall(t)),
            end_ms: epoch.wall(now),
            final_code: self.final_code,
            hangup_by: by,
            media,
            wakeup_ms: self.park.as_ref().and_then(|p| p.wakeup_ms()),
        }
    }
}
