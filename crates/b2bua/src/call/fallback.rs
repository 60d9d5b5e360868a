//! Carrying out an answering rule's fallback (busy, no answer, unreachable): the callee's
//! voicemail, another user's devices, or a final code to the caller.

use std::time::Instant;

use super::{user_part, After, Call, Refusal};
use crate::answering::Fallback;
use crate::shared::{Shared, TimerKind};
use crate::{HangupBy, MediaMode, Outbox};

impl Call {
    /// Starts `f` for a call whose branches ended with `code` (408 for the no-answer timer).
    /// `Some` when the call is finished (a reject); `None` when branches were started (or
    /// none could be, and the caller gets `code`).
    pub(super) fn use_fallback(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        f: Fallback,
        code: u16,
        out: &mut dyn Outbox,
    ) -> Option<After> {
        match f {
            Fallback::Voicemail(uri, peer) => {
                let uri = crate::voicemail::with_cause(&uri, crate::voicemail::cause_of(code));
                let user = user_part(&uri).unwrap_or_default();
                self.mode = MediaMode::Anchor;
                self.start_branch(ctx, &uri, peer, &user, None, None, out);
            }
            Fallback::Forward(targets) => {
                tracing::debug!(call = self.id, code, "answering rule: forward");
                for (uri, peer, user) in targets {
                    self.start_branch(ctx, &uri, peer, &user, None, None, out);
                }
            }
            Fallback::Reject(reject) => {
                tracing::debug!(call = self.id, code, reject, "answering rule: reject");
                self.answer_a(Refusal::Rule { status: reject }, out);
                return Some(self.finish(ctx, now, HangupBy::Callee));
            }
        }
        if self.live_branches() > 0 {
            // the new branches get a full ringing time of their own
            let at = now + ctx.cfg.call_timeout;
            self.no_answer_at = Some(at);
            ctx.timers.arm(at, self.id, TimerKind::NoAnswer);
        }
        None
    }
}
