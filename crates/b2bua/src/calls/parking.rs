//! Push wake-up, the table's side: parked calls by the Call-ID given to the app (for
//! `Replaces`) and by callee login (for late forking on REGISTER), the ghosts (pushed devices
//! whose call ended), and the inputs that reach parked calls through them: an INVITE with
//! `Replaces`, a REGISTER, a failed push. What a parked call does is in `call/park.rs`.

use std::collections::HashMap;
use std::time::Instant;

use sip_message::{Message, MessageBuilder, Peer};
use sip_transaction::ServerKey;

use super::Calls;
use crate::call::{Call, CallId, PickUpRefusal, Setup};
use crate::push::parse_replaces;
use crate::route::Target;
use crate::shared::{TimerKind, Timers};
use crate::{Caller, MediaMode, Outbox};

/// A pushed device that registers after its call ended (within the push timeout) still gets
/// an INVITE, at once CANCELled with this reason (Apple requires every VoIP push to show a
/// call; the app closes its screen on the CANCEL).
#[derive(Debug)]
struct Ghost {
    reason: &'static str,
    until: Instant,
    a_invite: Message,
    caller: Caller,
    a_key: ServerKey,
}

/// The table's indexes of parked calls, and the ghosts.
#[derive(Debug, Default)]
pub(super) struct Parking {
    /// Parked dialog Call-ID (given to the app for `Replaces`) → call.
    by_park: HashMap<String, CallId>,
    /// Callee login → its calls with a park, for late forking on REGISTER.
    by_login: HashMap<String, Vec<CallId>>,
    /// Login → (instance, ghost) of pushed devices whose call ended, for the ghost
    /// INVITE+CANCEL. By login, so a REGISTER of a login with none costs one lookup.
    ghosts: HashMap<String, Vec<(String, Ghost)>>,
    /// A ghost sweep is in the timer heap.
    sweep_armed: bool,
}

impl Parking {
    /// A new call: indexed if it was parked.
    pub(super) fn index(&mut self, call: &Call) {
        let Some(p) = &call.park else {
            return;
        };
        self.by_park.insert(p.call_id.clone(), call.id);
        self.by_login
            .entry(p.login.clone())
            .or_default()
            .push(call.id);
    }

    /// Call `call` leaves the table: out of the indexes (its ghosts stay).
    pub(super) fn forget(&mut self, call: &Call) {
        let Some(p) = &call.park else {
            return;
        };
        debug_assert!(
            p.orphans.is_empty(),
            "orphans of call {} not adopted",
            call.id
        );
        self.by_park.remove(&p.call_id);
        if let Some(v) = self.by_login.get_mut(&p.login) {
            v.retain(|c| *c != call.id);
            if v.is_empty() {
                self.by_login.remove(&p.login);
            }
        }
    }

    /// After an input that may have ended `call`'s park: its pushed devices become ghosts,
    /// forgotten at the next ghost sweep after their time.
    pub(super) fn adopt_orphans(&mut self, call: &mut Call, timers: &mut Timers) {
        let Some(p) = call.park.as_mut() else {
            return;
        };
        for o in p.orphans.drain(..) {
            let ghost = Ghost {
                reason: o.reason,
                until: o.until,
                a_invite: call.a_invite.clone(),
                caller: call.caller.clone(),
                a_key: call.a_key,
            };
            let list = self.ghosts.entry(p.login.clone()).or_default();
            list.retain(|(i, _)| *i != o.instance);
            list.push((o.instance, ghost));
            if !self.sweep_armed {
                self.sweep_armed = true;
                timers.arm(o.until, 0, TimerKind::GhostSweep);
            }
        }
    }

    /// The ghost sweep: forgets the ghosts past their time, and comes again for the others.
    pub(super) fn sweep(&mut self, now: Instant, timers: &mut Timers) {
        self.ghosts.retain(|_, list| {
            list.retain(|(_, g)| g.until > now);
            !list.is_empty()
        });
        self.sweep_armed = false;
        if let Some(next) = self.ghosts.values().flatten().map(|(_, g)| g.until).min() {
            self.sweep_armed = true;
            timers.arm(next, 0, TimerKind::GhostSweep);
        }
    }
}

impl Calls {
    /// The push hook failed for these devices of call `id`: when nothing else can answer,
    /// the answering rules apply at once.
    pub fn push_failed(
        &mut self,
        now: Instant,
        id: u64,
        instances: &[String],
        out: &mut dyn Outbox,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let after = call.handle_push_failed(&mut self.shared, now, instances, out);
        self.settle(id, after);
    }

    /// Calls still ringing with at least one device pushed (parked calls).
    pub fn parked(&self) -> usize {
        self.calls.values().filter(|c| c.is_parked()).count()
    }

    /// Whether a REGISTER of `login` concerns the calls (a parked call or a ghost waits for
    /// it): the driver builds the [`Target`] for [`Self::registered`] only then.
    pub fn awaits_registration(&self, login: &str) -> bool {
        self.parking.by_login.contains_key(login) || self.parking.ghosts.contains_key(login)
    }

    /// `login` registered the binding `target` (a new or refreshed REGISTER): its parked
    /// calls fork to it (late forking) when it is a pushed device or a device they never
    /// rang; a pushed device whose call already ended gets the ghost INVITE + CANCEL.
    pub fn registered(&mut self, now: Instant, login: &str, target: Target, out: &mut dyn Outbox) {
        if let (Some(inst), Some(list)) = (&target.instance, self.parking.ghosts.get_mut(login)) {
            let ghost = list
                .iter()
                .position(|(i, _)| i == inst)
                .map(|at| list.swap_remove(at).1);
            if list.is_empty() {
                self.parking.ghosts.remove(login);
            }
            if let Some(g) = ghost {
                if now < g.until {
                    self.ghost_call(now, g, &target, out);
                }
                return;
            }
        }
        let Some(ids) = self.parking.by_login.get(login) else {
            return;
        };
        for id in ids {
            if let Some(call) = self.calls.get_mut(id) {
                call.handle_registered(&mut self.shared, now, login, &target, out);
            }
        }
    }

    /// The INVITE at once CANCELled that a late pushed device gets (see [`Ghost`]).
    fn ghost_call(&mut self, now: Instant, g: Ghost, target: &Target, out: &mut dyn Outbox) {
        let id = self.next_id;
        self.next_id += self.id_step;
        tracing::info!(call = id, login = %target.login, "pushed device registered after its call ended: INVITE + CANCEL");
        let setup = Setup {
            key: g.a_key,
            invite: g.a_invite,
            from: target.peer,
            a_tag: self.shared.ids.tag().into(),
            shard: self.shared.ids.shard(),
            max_forwards: 70,
            caller: g.caller,
            dialed: String::new(),
            routed: String::new(),
            callee: target.login.clone(),
            route: "none",
            mode: MediaMode::CandidateOnly,
            fallbacks: Default::default(),
            ring_for: None,
        };
        let mut call = Call::ghost(id, now, setup);
        if call.ring_ghost(&mut self.shared, target, g.reason, out) {
            self.calls.insert(id, call);
        }
    }

    /// An INVITE with `Replaces` naming a parked call: the woken app picks it up. Only the
    /// callee's own login may (403 otherwise); an unknown or finished parked call is 481.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pick_up(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: &Message,
        from: Peer,
        caller: &Caller,
        replaces: &str,
        out: &mut dyn Outbox,
    ) {
        let tag = self.shared.ids.stable_tag(req);
        let reply = |out: &mut dyn Outbox, why: PickUpRefusal| {
            let (code, tag) = (why.status(), Some(tag.clone()));
            let mut b = MessageBuilder::response_to(req, code, tag.as_deref(), Some(from.remote));
            b.warning(why);
            out.respond(&key, b.finish());
        };
        let Some(r) = parse_replaces(replaces) else {
            return reply(out, PickUpRefusal::BadReplaces);
        };
        let Some(call) = self
            .parking
            .by_park
            .get(r.call_id)
            .and_then(|id| self.calls.get_mut(id))
        else {
            return reply(out, PickUpRefusal::NoSuchCall);
        };
        let picked = call.handle_pick_up(&mut self.shared, now, key, req, from, caller, &r, out);
        self.parking.adopt_orphans(call, &mut self.shared.timers);
        if let Err(why) = picked {
            reply(out, why);
        }
    }
}
