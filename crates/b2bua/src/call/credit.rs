//! The call's side of credit control ([`CreditControl`]): the authorization when the call is
//! routed, the answer, and the cut-off when the caller's credit runs out. The end is reported
//! from `finish` (every end path goes through it), with the CDR.

use std::time::Instant;

use super::{After, Call, CallState};
use crate::route::Decision;
use crate::shared::Shared;
use crate::{Caller, CreditControl, HangupBy, Outbox};

/// Asks the credit control about a routed call: a call that goes somewhere (gateways: OFFNET;
/// users, groups, services: ONNET) and is refused becomes a rejection with the refusal's
/// status and reason. Rejected or unrouted calls are not asked.
pub(crate) fn authorize(
    credit: &mut (dyn CreditControl + Send),
    now: Instant,
    id: u64,
    call_id: &str,
    caller: &Caller,
    routed: &str,
    decision: &mut Decision,
) {
    let onnet = match decision {
        Decision::Gateways { .. } => false,
        Decision::Fork { .. } | Decision::Service { .. } | Decision::RingGroup { .. } => true,
        Decision::Reject { .. } => return,
    };
    if let Err(r) = credit.authorize(now, id, call_id, &caller.login, routed, onnet) {
        tracing::info!(call = id, caller = %caller.login, %routed, status = r.status, reason = r.reason, "refused by credit control");
        *decision = Decision::Reject {
            code: r.status,
            reason: r.reason,
        };
    }
}

impl Call {
    /// The call was answered: its credit clock runs.
    pub(super) fn credit_answered(&mut self, ctx: &mut Shared, now: Instant) {
        if let Some(credit) = ctx.credit.as_mut() {
            credit.answered(now, self.id);
        }
    }

    /// The caller's credit ran out: BYE to both legs, CDR reason `credit`. `None` when the
    /// call is not up (a ringing call holds only its first charge and is never cut).
    pub(crate) fn handle_credit_cut(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        out: &mut dyn Outbox,
    ) -> Option<After> {
        if self.state != CallState::Answered {
            return None;
        }
        tracing::info!(call = self.id, caller = %self.caller.login, "credit exhausted: hanging up");
        self.send_bye(ctx, crate::Side::A, out);
        self.send_bye(ctx, crate::Side::B, out);
        self.resend = [None, None];
        Some(self.finish(ctx, now, HangupBy::Credit))
    }
}
