//! The call table: every call by id, the indexes that route messages to them, the timers,
//! and the dispatch of each input to the owning [`Call`], borrowed in place. The table's side
//! of push wake-up (parked calls by park Call-ID and by callee, ghosts) is in `parking`.

mod parking;

use std::collections::HashMap;
use std::time::Instant;

use dialplan::DialPlan;
use sip_message::{Message, MessageBuilder, Method, Peer};
use sip_transaction::{ClientKey, ServerKey};

use crate::call::{session_too_small, user_part, After, Call, CallId, Setup};
use crate::route::{decide, Decision, Routed};
use crate::shared::{Pending, Shared, TimerKind};
use crate::{
    B2buaConfig, CallEvent, Caller, CreditControl, Directory, MediaMode, MediaRelay, Outbox, Side,
};
use parking::Parking;

/// Every call of the server, with the indexes that route messages to them.
///
/// Each input is matched to its call (by server transaction, client transaction or Call-ID)
/// and handed to that call's `handle_*` method, the call borrowed in place, with the pieces of
/// the table every call uses (`Shared`); when the method says the call may be over
/// (`After::MaybeRemove`), the table removes it once nothing of it is pending. A finished call
/// is removed at the latest by its linger timer. A call whose parked phase ended leaves its
/// pushed devices as orphans: the table adopts them as ghosts right after the input.
pub struct Calls {
    calls: HashMap<CallId, Call>,
    /// What the calls use while they handle an input: borrowed beside `calls`.
    shared: Shared,
    plan: DialPlan,
    /// The caller's INVITE server transaction → call.
    by_server: HashMap<ServerKey, CallId>,
    /// Parked calls and the pushed devices of ended ones.
    parking: Parking,
    next_id: CallId,
    /// Call ids go up by this much: one per shard, so a call's id names its shard
    /// ([`Self::set_shard`], [`shard_of_call`]).
    id_step: CallId,
}

/// The shard that owns call `id` among `count` shards ([`Calls::set_shard`]).
pub fn shard_of_call(id: u64, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    (id.saturating_sub(1) % count as u64) as usize
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("calls", &self.calls.len())
            .field("pending", &self.shared.by_client.len())
            .finish()
    }
}

impl Calls {
    /// `seed` makes tags and Call-IDs unpredictable; `epoch` (the driver's
    /// [`sip_message::Epoch`], or an `(Instant, unix ms)` pair) turns `Instant`s into CDR times.
    pub fn new(cfg: B2buaConfig, seed: u64, epoch: impl Into<sip_message::Epoch>) -> Self {
        Self {
            calls: HashMap::new(),
            shared: Shared::new(cfg, seed, epoch.into()),
            plan: DialPlan::default(),
            by_server: HashMap::new(),
            parking: Parking::default(),
            next_id: 1,
            id_step: 1,
        }
    }

    /// Makes this table shard `index` of `count` (`sip_message::shard`): its B-leg Call-IDs,
    /// tags and branches hash back to `index`, so the callee's answers and requests find it,
    /// and its call ids are `index + 1` modulo `count` ([`shard_of_call`]), so the admin API's
    /// hang-up and the relay's inactivity events find it. Call before the first call.
    pub fn set_shard(&mut self, index: usize, count: usize) {
        self.shared.ids.set_shard(index, count);
        let count = count.max(1) as CallId;
        self.id_step = count;
        self.next_id = index as CallId % count + 1;
    }

    /// New call policy (a config reload): new calls and deadlines armed from now on use it;
    /// the deadlines calls already have stay.
    pub fn set_config(&mut self, cfg: B2buaConfig) {
        self.shared.cfg = cfg;
    }

    pub fn config(&self) -> &B2buaConfig {
        &self.shared.cfg
    }

    pub fn set_dial_plan(&mut self, plan: DialPlan) {
        self.plan = plan;
    }

    pub fn dial_plan(&self) -> &DialPlan {
        &self.plan
    }

    pub fn set_media(&mut self, media: Box<dyn MediaRelay + Send>) {
        self.shared.media = media;
    }

    /// Rates calls from now on (see [`CreditControl`]).
    pub fn set_credit(&mut self, credit: Box<dyn CreditControl + Send>) {
        self.shared.credit = Some(credit);
    }

    /// Calls in the table (ringing, up, or finishing).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.shared.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.shared.timers.next()
    }

    // ----- new calls -------------------------------------------------------------------

    /// A new INVITE (no To tag) from an authenticated caller (or a trusted peer). The layer
    /// has sent 100 Trying. Routes it and starts the branches, or answers it.
    #[allow(clippy::too_many_arguments)]
    pub fn invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: Message,
        from: Peer,
        caller: Caller,
        dir: &dyn Directory,
        out: &mut dyn Outbox,
    ) {
        let ids = &self.shared.ids;
        let reject = |out: &mut dyn Outbox, why: InviteRefusal| {
            tracing::debug!(status = why.status(), ?why, "INVITE refused");
            out.respond(&key, why.response(&req, from, ids));
        };
        let max_forwards = match req.max_forwards() {
            Ok(Some(0)) => return reject(out, InviteRefusal::MaxForwardsExhausted),
            Ok(Some(n)) => n - 1,
            Ok(None) => 69,
            Err(_) => return reject(out, InviteRefusal::BadMaxForwards),
        };
        if let Some(min_se) = session_too_small(&req, &self.shared.cfg) {
            return reject(out, InviteRefusal::SessionIntervalTooSmall { min_se });
        }
        let Some(call_id) = req.call_id().map(str::to_owned) else {
            return reject(out, InviteRefusal::NoCallId);
        };
        if self.shared.by_call_id.contains_key(&call_id) {
            // a new INVITE reusing a live call's Call-ID without its tags
            return reject(out, InviteRefusal::CallIdInUse { call_id });
        }
        if let Some(h) = req.headers().iter().find(|h| h.name.matches("Replaces")) {
            return self.pick_up(now, key, &req, from, &caller, h.value(), out);
        }
        let dialed = req
            .request_uri_str()
            .and_then(user_part)
            .unwrap_or_default();
        let push = self.shared.cfg.push.is_some();
        let mut r = decide(&self.plan, &caller, &dialed, dir, push);
        // the callee's answering rules: reject/forward/voicemail at once, or what to do on
        // busy, no answer, unreachable (docs/voicemail.md)
        let caller_id = caller.login.clone();
        let rules = crate::answering::apply(&mut r, &caller, &caller_id, &self.plan, dir, push);
        let Routed {
            mut decision,
            routed,
            callee,
            route,
        } = r;
        let id = self.next_id;
        self.next_id += self.id_step;
        if let Some(credit) = self.shared.credit.as_mut() {
            crate::call::authorize(
                credit.as_mut(),
                now,
                id,
                &call_id,
                &caller,
                &routed,
                &mut decision,
            );
        }
        let mode = match decision {
            Decision::Gateways { .. } | Decision::Service { .. } => MediaMode::Anchor,
            _ => MediaMode::CandidateOnly,
        };
        let a_tag = self.shared.ids.tag().into();
        tracing::debug!(call = id, %call_id, caller = %caller.login, %dialed, %routed, route, "new call");
        let setup = Setup {
            key,
            invite: req,
            from,
            a_tag,
            max_forwards,
            caller,
            dialed,
            routed,
            callee,
            route,
            mode,
            shard: self.shared.ids.shard(),
            fallbacks: match &decision {
                Decision::Fork { .. } => rules.fallbacks,
                _ => Default::default(),
            },
            ring_for: rules.ring_for,
        };
        self.shared.by_call_id.insert(call_id, (id, Side::A));
        self.by_server.insert(key, id);
        let call = self.calls.entry(id).or_insert(Call::new(id, now, setup));
        let after = call.handle_invite(&mut self.shared, now, decision, out);
        self.parking.index(call);
        self.settle(id, after);
    }

    // ----- responses to our requests ---------------------------------------------------

    /// A response to one of our client transactions. Returns false if it is not ours.
    pub fn response(
        &mut self,
        now: Instant,
        key: ClientKey,
        resp: Message,
        out: &mut dyn Outbox,
    ) -> bool {
        let Some(status) = resp.status() else {
            return false;
        };
        let Some((id, pending)) = self.shared.by_client.get(&key) else {
            // a 2xx retransmission after its transaction's record is gone: ACK it again
            return self.stray_2xx(&resp, out);
        };
        let id = *id;
        match pending {
            Pending::Branch(n) => {
                let n = *n;
                if status >= 200 {
                    // 2xx retransmissions that come up later are matched by Call-ID
                    // (`stray_2xx`), so the branch's entry can go with its first final answer
                    self.shared.untrack(&key);
                }
                let Some(call) = self.calls.get_mut(&id) else {
                    return true;
                };
                let after =
                    call.handle_branch_response(&mut self.shared, now, n, status, resp, out);
                self.parking.adopt_orphans(call, &mut self.shared.timers);
                self.settle(id, after);
            }
            Pending::Relay(_) => {
                if status < 200 {
                    return true;
                }
                let Some((_, Pending::Relay(origin))) = self.shared.untrack(&key) else {
                    return true;
                };
                // a call is never removed with entries in `by_client`
                let Some(call) = self.calls.get_mut(&id) else {
                    return true;
                };
                let after =
                    call.handle_relayed_final(&mut self.shared, now, *origin, status, resp, out);
                self.settle(id, after);
            }
            Pending::Own => {
                if status >= 200 {
                    self.shared.untrack(&key);
                    self.maybe_remove(id);
                }
            }
            &Pending::Refresh(side) => {
                if status < 200 {
                    return true;
                }
                self.shared.untrack(&key);
                let Some(call) = self.calls.get_mut(&id) else {
                    return true;
                };
                let after =
                    call.handle_refresh_answer(&mut self.shared, now, side, Some(resp), out);
                self.settle(id, after);
            }
        }
        true
    }

    /// A client transaction ended without an answer: as a 408.
    pub fn timeout(&mut self, now: Instant, key: ClientKey, out: &mut dyn Outbox) -> bool {
        self.no_final(now, key, 408, out)
    }

    /// Our request on `key` could not be sent (the device's flow is dead, RFC 5626 §4.4):
    /// as a 503 at once (RFC 3261 §8.1.3.1), so the caller is not kept ringing for a device
    /// that cannot ring; a device with a push token is pushed now.
    pub fn transport_error(&mut self, now: Instant, key: ClientKey, out: &mut dyn Outbox) -> bool {
        self.no_final(now, key, 503, out)
    }

    /// A client transaction ended without a final answer: as `code`.
    fn no_final(&mut self, now: Instant, key: ClientKey, code: u16, out: &mut dyn Outbox) -> bool {
        let Some((id, pending)) = self.shared.untrack(&key) else {
            return false;
        };
        // a call is never removed with entries in `by_client`
        let Some(call) = self.calls.get_mut(&id) else {
            return true;
        };
        let after = match pending {
            Pending::Branch(n) => call.handle_branch_timeout(&mut self.shared, now, n, code, out),
            Pending::Relay(origin) => {
                call.handle_dead_leg(&mut self.shared, now, &origin, code, out)
            }
            Pending::Own => After::MaybeRemove,
            Pending::Refresh(side) => {
                call.handle_refresh_answer(&mut self.shared, now, side, None, out)
            }
        };
        self.settle(id, after);
        true
    }

    /// A 2xx for no live client transaction: the winner's 2xx again (our ACK was lost).
    fn stray_2xx(&mut self, resp: &Message, out: &mut dyn Outbox) -> bool {
        let (Some(status), Some(call_id), Ok(cseq)) = (resp.status(), resp.call_id(), resp.cseq())
        else {
            return false;
        };
        if !(200..300).contains(&status) || cseq.method != Method::Invite {
            return false;
        }
        let Some(&(id, side)) = self.shared.by_call_id.get(call_id) else {
            return false;
        };
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        call.handle_stray_2xx(side, cseq.seq, out);
        true
    }

    // ----- requests from the caller's side -----------------------------------------------

    /// The caller CANCELled its INVITE (the layer answered the CANCEL).
    pub fn cancelled(&mut self, now: Instant, invite: ServerKey, out: &mut dyn Outbox) -> bool {
        let Some(&id) = self.by_server.get(&invite) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let after = call.handle_cancelled(&mut self.shared, now, out);
        self.parking.adopt_orphans(call, &mut self.shared.timers);
        self.settle(id, after);
        true
    }

    /// The caller never ACKed our non-2xx final answer: nothing more to do.
    pub fn ack_timeout(&mut self, invite: ServerKey) {
        self.by_server.remove(&invite);
    }

    /// An ACK that no INVITE server transaction absorbed (the ACK for our 2xx).
    pub fn ack(&mut self, now: Instant, req: Message, out: &mut dyn Outbox) -> bool {
        let Some(call_id) = req.call_id() else {
            return false;
        };
        let Some(&(id, side)) = self.shared.by_call_id.get(call_id) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        call.handle_ack(&mut self.shared, now, side, &req, out);
        true
    }

    /// A request with a To tag. Returns false if it belongs to no call (the driver answers
    /// 481).
    pub fn in_dialog(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: &Message,
        from: Peer,
        out: &mut dyn Outbox,
    ) -> bool {
        let Some(call_id) = req.call_id() else {
            return false;
        };
        let Some(&(id, side)) = self.shared.by_call_id.get(call_id) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        match call.handle_in_dialog(&mut self.shared, now, side, key, req, call_id, from, out) {
            Some(after) => {
                self.settle(id, after);
                true
            }
            None => false,
        }
    }

    /// The relay saw no media on call `id` for its inactivity timeout. A call whose media must
    /// flow through the relay (anchored) is dead: BYE to both legs (or, still ringing, CANCEL
    /// and 480). A call that only got a relay candidate may be talking peer to peer: left
    /// alone. Returns whether the call was ended.
    pub fn media_inactive(&mut self, now: Instant, id: u64, out: &mut dyn Outbox) -> bool {
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        match call.handle_media_inactive(&mut self.shared, now, out) {
            Some(after) => {
                self.settle(id, after);
                true
            }
            None => false,
        }
    }

    /// The operator hangs call `id` up (see [`CallSummary::id`]): BYE to both legs of an
    /// answered call; a ringing one is CANCELled and its caller answered 480. Returns whether
    /// a call was ended.
    pub fn hang_up(&mut self, now: Instant, id: u64, out: &mut dyn Outbox) -> bool {
        // a ghost (a pushed device's late INVITE) is not a call of its own: never listed
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.ghost) else {
            return false;
        };
        match call.handle_hang_up(&mut self.shared, now, out) {
            Some(after) => {
                self.parking.adopt_orphans(call, &mut self.shared.timers);
                self.settle(id, after);
                true
            }
            None => false,
        }
    }

    /// The caller's credit of call `id` ran out (the credit control's deadline): BYE to both
    /// legs, CDR reason `credit`. Returns whether a call was ended.
    pub fn hang_up_for_credit(&mut self, now: Instant, id: u64, out: &mut dyn Outbox) -> bool {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.ghost) else {
            return false;
        };
        match call.handle_credit_cut(&mut self.shared, now, out) {
            Some(after) => {
                self.settle(id, after);
                true
            }
            None => false,
        }
    }

    /// The calls not ended yet (ringing, parked or answered), by id.
    pub fn summaries(&self, now: Instant) -> Vec<crate::CallSummary> {
        let mut out: Vec<_> = self
            .calls
            .values()
            .filter(|c| !c.ghost)
            .map(|c| c.summary(now))
            .filter(|s| s.state != "ended")
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }

    // ----- time --------------------------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Instant, out: &mut dyn Outbox) {
        while let Some((at, id, kind)) = self.shared.timers.pop_due(now) {
            match kind {
                TimerKind::DurationSweep => self.sweep_durations(now, out),
                TimerKind::GhostSweep => self.parking.sweep(now, &mut self.shared.timers),
                TimerKind::Linger => {
                    if self.calls.get(&id).is_some_and(|c| c.lingers_until(at)) {
                        self.remove(id);
                    }
                }
                _ => {
                    let Some(call) = self.calls.get_mut(&id) else {
                        continue;
                    };
                    let after = call.handle_timer(&mut self.shared, now, at, kind, out);
                    self.parking.adopt_orphans(call, &mut self.shared.timers);
                    self.settle(id, after);
                }
            }
        }
    }

    /// Hangs up the answered calls older than the longest allowed duration; re-arms itself
    /// while calls remain.
    fn sweep_durations(&mut self, now: Instant, out: &mut dyn Outbox) {
        let max = self.shared.cfg.max_duration;
        let expired: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.past_max_duration(now, max))
            .map(|c| c.id)
            .collect();
        for id in expired {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            let after = call.handle_max_duration(&mut self.shared, now, out);
            self.settle(id, after);
        }
        let calls_left = !self.calls.is_empty();
        self.shared.timers.sweep_done(now, calls_left);
    }

    // ----- shutdown ----------------------------------------------------------------------

    /// The server shuts down: every answered call gets BYE on both legs, every ringing or
    /// parked call has its branches CANCELled and its caller answered 503 with
    /// `Retry-After: retry_after` (seconds). The CDR of each is queued at once
    /// ([`Self::poll_event`]); the calls then leave the table as their BYEs and CANCELs are
    /// answered (or at their linger timer). Returns how many calls were ended.
    pub fn shutdown(&mut self, now: Instant, retry_after: u32, out: &mut dyn Outbox) -> usize {
        let mut ids: Vec<CallId> = self.calls.keys().copied().collect();
        ids.sort_unstable();
        let mut ended = 0;
        for id in ids {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            let was_live = call.state != crate::call::CallState::Ended;
            let Some(after) = call.handle_shutdown(&mut self.shared, now, retry_after, out) else {
                continue;
            };
            ended += usize::from(was_live);
            self.parking.adopt_orphans(call, &mut self.shared.timers);
            self.settle(id, after);
        }
        ended
    }

    // ----- the end -----------------------------------------------------------------------

    /// What a call's handler asked for.
    fn settle(&mut self, id: CallId, after: After) {
        match after {
            After::Nothing => {}
            After::MaybeRemove => self.maybe_remove(id),
        }
    }

    /// Removes an ended call once nothing of it is pending.
    fn maybe_remove(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if !call.is_over() || self.shared.pending_per_call.contains_key(&id) {
            return;
        }
        self.remove(id);
    }

    fn remove(&mut self, id: CallId) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        for cid in call.call_ids() {
            self.shared.by_call_id.remove(cid);
        }
        if !call.ghost {
            self.by_server.remove(&call.a_key);
        }
        self.parking.forget(&call);
        // only after the linger time: drop what never got an answer
        self.shared.forget_pending(id);
    }
}

/// Why a new INVITE is answered before it is routed: its status in [`Self::status`], its
/// `Warning` text in `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum InviteRefusal {
    /// `Max-Forwards: 0`: 483.
    #[error("Max-Forwards exhausted")]
    MaxForwardsExhausted,
    /// A Max-Forwards that does not parse: 400.
    #[error("bad Max-Forwards")]
    BadMaxForwards,
    /// A `Session-Expires` below our `Min-SE` (RFC 4028 §8.1): 422 with `Min-SE` and no
    /// `Warning`.
    #[error("session interval too small")]
    SessionIntervalTooSmall { min_se: u32 },
    /// No Call-ID: 400.
    #[error("no Call-ID")]
    NoCallId,
    /// A new INVITE (no To tag) with the Call-ID of a live call (RFC 3261 §8.2.2.2): 482.
    #[error("Call-ID in use")]
    CallIdInUse { call_id: String },
}

impl InviteRefusal {
    fn status(&self) -> u16 {
        match self {
            Self::MaxForwardsExhausted => 483,
            Self::BadMaxForwards | Self::NoCallId => 400,
            Self::SessionIntervalTooSmall { .. } => 422,
            Self::CallIdInUse { .. } => 482,
        }
    }

    /// The final response to `req`, from `from`, that says so; its To tag names the shard of
    /// `ids`, which holds the INVITE's transaction, where the ACK goes.
    fn response(&self, req: &Message, from: Peer, ids: &sip_message::Ids) -> bytes::Bytes {
        let mut b = MessageBuilder::response_to(
            req,
            self.status(),
            Some(&ids.stable_tag(req)),
            Some(from.remote),
        );
        match self {
            Self::SessionIntervalTooSmall { min_se } => b.header("Min-SE", min_se),
            _ => b.warning(self),
        };
        b.finish()
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn a_shards_call_ids_name_it() {
        let epoch = sip_message::Epoch::new(Instant::now(), 1_700_000_000_000);
        for count in 1..=4 {
            for index in 0..count {
                let mut calls = Calls::new(B2buaConfig::default(), 1, epoch);
                calls.set_shard(index, count);
                for _ in 0..10 {
                    let id = calls.next_id;
                    calls.next_id += calls.id_step;
                    assert!(id >= 1);
                    assert_eq!(shard_of_call(id, count), index, "id {id} of {count}");
                }
            }
        }
    }
}
