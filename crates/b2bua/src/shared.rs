//! What every call borrows from the table while it handles an input.
//!
//! [`Shared`] is a sibling field of the call map in [`Calls`](crate::Calls), so the table can
//! hold one call mutably (`calls.get_mut(&id)`) and still hand that call the configuration,
//! the media relay, the id generator, the timers, the client transaction index and the event
//! queue: `call.handle_x(&mut self.shared, ...)` borrows disjoint fields.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sip_transaction::ClientKey;

use crate::call::{CallId, OriginRequest};
use crate::cdr::Epoch;
use crate::deadlines::Deadlines;
use crate::{B2buaConfig, CallEvent, CreditControl, MediaRelay, NoMedia, Side};
use sip_message::Ids;

/// How often answered calls are checked against the longest allowed duration.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What a timer in the heap is for. A call's timer acts only if the call's matching deadline
/// (`no_answer_at`, `step_at`, `linger_until`, a resend's `next`) still equals it: re-arming
/// or clearing a deadline cancels the older entries lazily. The heap orders timers by time,
/// then call id, then the order of the variants here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// No answer in time.
    NoAnswer,
    /// Next ring group member.
    RingStep,
    /// Send our 2xx again (until the ACK comes).
    Resend2xx,
    /// A finished call waits for its branches' last responses, then goes (the table's).
    Linger,
    /// Gateway branch `n` has not answered at all (not even 100) in time: next gateway.
    GatewaySilent(usize),
    /// Look for answered calls past the longest allowed duration (one timer for all calls, the
    /// table's: a 12 h timer per call would pile up in the heap under load).
    DurationSweep,
    /// A registered device stayed silent for the push delay: push it.
    PushDue,
    /// Forget ghosts (pushed devices of ended parked calls) older than the push timeout (the
    /// table's).
    GhostSweep,
    /// Send our reliable provisional again (until the caller's PRACK), `prack.rs`.
    Reliable1xx,
    /// A session refresh of ours is due, or a leg's session expires, `session_timer.rs`.
    SessionTimer,
}

/// A request we sent for a call, waiting for its answer (by client transaction).
#[derive(Debug)]
pub(crate) enum Pending {
    /// The initial INVITE of branch `n`.
    Branch(usize),
    /// An in-dialog request, relayed to the other leg; its answer goes back to the origin.
    Relay(Box<OriginRequest>),
    /// A BYE or CANCEL we originated: its answer changes nothing.
    Own,
    /// Our session refresh (re-INVITE or UPDATE) of a leg.
    Refresh(Side),
}

/// The timer heap of every call, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: Deadlines<(CallId, TimerKind)>,
    /// A duration sweep is in the heap.
    sweep_armed: bool,
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Instant, id: CallId, kind: TimerKind) {
        self.heap.arm(at, (id, kind));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.next()
    }

    /// Takes the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, CallId, TimerKind)> {
        self.heap
            .pop_due(now)
            .map(|(at, (id, kind))| (at, id, kind))
    }

    /// A call was answered: makes sure a duration sweep is coming.
    pub(crate) fn arm_sweep(&mut self, now: Instant) {
        if !self.sweep_armed {
            self.sweep_armed = true;
            self.arm(now + SWEEP_EVERY, 0, TimerKind::DurationSweep);
        }
    }

    /// A sweep ran: the next one, while any call is left.
    pub(crate) fn sweep_done(&mut self, now: Instant, calls_left: bool) {
        if calls_left {
            self.arm(now + SWEEP_EVERY, 0, TimerKind::DurationSweep);
        } else {
            self.sweep_armed = false;
        }
    }
}

/// The table's pieces a [`Call`](crate::call::Call) uses while it handles an input.
pub(crate) struct Shared {
    pub(crate) cfg: B2buaConfig,
    pub(crate) media: Box<dyn MediaRelay + Send>,
    pub(crate) ids: Ids,
    pub(crate) timers: Timers,
    /// Call-ID (A's, or one of our B-leg Call-IDs) → call and side.
    pub(crate) by_call_id: HashMap<String, (CallId, Side)>,
    /// Our client transactions → call and what the answer is for.
    pub(crate) by_client: HashMap<ClientKey, (CallId, Pending)>,
    /// How many entries of `by_client` each call has (a call goes once it has none).
    pub(crate) pending_per_call: HashMap<CallId, u32>,
    /// CDRs and push events for the driver.
    pub(crate) events: VecDeque<CallEvent>,
    /// Wall clock for CDR times.
    pub(crate) epoch: Epoch,
    /// Rating of calls, when billing is on.
    pub(crate) credit: Option<Box<dyn CreditControl + Send>>,
}

impl Shared {
    pub(crate) fn new(cfg: B2buaConfig, seed: u64, epoch: Epoch) -> Self {
        Self {
            cfg,
            media: Box::new(NoMedia),
            ids: Ids::new(seed),
            timers: Timers::default(),
            by_call_id: HashMap::new(),
            by_client: HashMap::new(),
            pending_per_call: HashMap::new(),
            events: VecDeque::new(),
            epoch,
            credit: None,
        }
    }

    /// Remembers client transaction `key` of call `id`.
    pub(crate) fn track(&mut self, key: ClientKey, id: CallId, pending: Pending) {
        *self.pending_per_call.entry(id).or_insert(0) += 1;
        self.by_client.insert(key, (id, pending));
    }

    /// Forgets client transaction `key` (it got its final answer, or timed out).
    pub(crate) fn untrack(&mut self, key: &ClientKey) -> Option<(CallId, Pending)> {
        let entry = self.by_client.remove(key)?;
        if let Entry::Occupied(mut n) = self.pending_per_call.entry(entry.0) {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
        Some(entry)
    }

    /// Call `id` is removed: drops what of it never got an answer.
    pub(crate) fn forget_pending(&mut self, id: CallId) {
        if self.pending_per_call.remove(&id).is_some() {
            self.by_client.retain(|_, (c, _)| *c != id);
        }
    }
}
