//! How the core shards' dispatchers are driven (docs/architecture.md "Core shards"): merged,
//! one task polling every shard, while one core keeps up with them; split, a task per shard
//! that the runtime's worker threads run in parallel, when it does not.
//!
//! Why: at a moderate rate two shards on two threads cost 8–35 % more CPU per call than one
//! shard (docs/benchmarks.md, "Shards, session 11"): each thread sleeps and is woken for its own
//! datagrams, about one more context switch per call, and on a VM each is a vCPU halting and
//! resuming. The same two shards polled by one task cost what one shard costs (the hand-offs
//! between them are then a push and a poll on the same thread). So the shards stay merged until
//! the task driving them is busy ~3/4 of the time, and are split then: the box's other cores
//! take their share. They are merged again when together they use less than ~0.6 of a core.
//!
//! Moving a shard between tasks moves only its future: its state, sockets and channels stay
//! where they are, and its next poll registers the new task's waker with them (the first poll
//! after a move is made at once, so no wake-up is lost). [`Policy`] is the decision, fed with
//! busy time and the clock; [`drive`] the tokio part.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ferroswitch_config::ShardMerge;
use futures_util::task::AtomicWaker;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// A shard's dispatcher loop (`Dispatcher::run`).
pub(crate) type ShardFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Merged, the driving task busier than this share of the window: split.
const SPLIT_ABOVE: f64 = 0.75;
/// Split, the shards together busier than this share of one core: stay split. Split shards
/// spend ~15–20 % more than merged ones on the same load (their threads' wake-ups), so this
/// is 0.6 / 1.2 ≈ 1/2 of a core merged: the band up to 3/4 keeps a load from flapping.
const MERGE_BELOW: f64 = 0.6;
/// One poll counts for at most this: a poll longer than a window is a shard's start (loading
/// tables) or a stall, not a load the other cores should share.
const POLL_MAX: Duration = Duration::from_millis(10);
/// How often the load is looked at while merged (a rise is met within this)...
const MERGED_WINDOW: Duration = Duration::from_millis(100);
/// ...and while split (a fall is not urgent).
const SPLIT_WINDOW: Duration = Duration::from_secs(1);

/// How the shards are to be driven, changed live by a reload (`shard_merge`): shared by the
/// driver's [`Policy`], which reads it at every window, and the reloader.
#[derive(Clone, Debug)]
pub(crate) struct MergeSetting(Arc<AtomicU8>);

impl MergeSetting {
    pub(crate) fn new(merge: ShardMerge) -> Self {
        let setting = Self(Arc::default());
        setting.set(merge);
        setting
    }

    pub(crate) fn get(&self) -> ShardMerge {
        match self.0.load(Ordering::Relaxed) {
            1 => ShardMerge::Always,
            2 => ShardMerge::Never,
            _ => ShardMerge::Auto,
        }
    }

    /// From the next window on (within 100 ms merged, 1 s split).
    pub(crate) fn set(&self, merge: ShardMerge) {
        let v = match merge {
            ShardMerge::Auto => 0,
            ShardMerge::Always => 1,
            ShardMerge::Never => 2,
        };
        self.0.store(v, Ordering::Relaxed);
    }
}

impl From<ShardMerge> for MergeSetting {
    fn from(merge: ShardMerge) -> Self {
        Self::new(merge)
    }
}

/// What the load says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Stay,
    Split,
    Merge,
}

/// When to split and merge: fed the busy time of each turn (merged) or of each window (split)
/// and the clock; answers once a window has passed.
#[derive(Debug)]
pub(crate) struct Policy {
    merge: MergeSetting,
    since: Instant,
    busy: Duration,
}

impl Policy {
    pub(crate) fn new(merge: impl Into<MergeSetting>, now: Instant) -> Self {
        Self {
            merge: merge.into(),
            since: now,
            busy: Duration::ZERO,
        }
    }

    /// Whether the shards start merged.
    pub(crate) fn starts_merged(&self) -> bool {
        self.merge.get() != ShardMerge::Never
    }

    /// The window of the mode the shards are in.
    pub(crate) fn window(merged: bool) -> Duration {
        if merged {
            MERGED_WINDOW
        } else {
            SPLIT_WINDOW
        }
    }

    /// `busy` more time spent driving shards (`merged` or not: a merged turn, or a split window's
    /// sum; each poll already capped at [`POLL_MAX`]), at `now`.
    pub(crate) fn record(&mut self, now: Instant, busy: Duration, merged: bool) -> Decision {
        self.busy += busy;
        let elapsed = now.saturating_duration_since(self.since);
        // (a timer tick may come a little before a whole window by this clock)
        if elapsed < Self::window(merged) * 9 / 10 {
            return Decision::Stay;
        }
        let load = self.busy.as_secs_f64() / elapsed.as_secs_f64();
        tracing::trace!(load, merged, "core shards' load over a window");
        self.since = now;
        self.busy = Duration::ZERO;
        match (self.merge.get(), merged) {
            (ShardMerge::Never, true) => Decision::Split,
            (ShardMerge::Always, false) => Decision::Merge,
            (ShardMerge::Auto, true) if load > SPLIT_ABOVE => Decision::Split,
            (ShardMerge::Auto, false) if load < MERGE_BELOW => Decision::Merge,
            _ => Decision::Stay,
        }
    }

    /// Starts a window over (after a move: the time of the move is not the new mode's).
    fn restart(&mut self, now: Instant) {
        self.since = now;
        self.busy = Duration::ZERO;
    }
}

/// Drives `shards` until every one has ended (or this future is dropped, which drops them),
/// `merged` saying which way they are driven (`shards::Siblings::merged`).
pub(crate) async fn drive(
    shards: Vec<ShardFuture>,
    merge: impl Into<MergeSetting>,
    merged_now: Arc<AtomicBool>,
) {
    let count = shards.len();
    let mut policy = Policy::new(merge, Instant::now());
    let mut slots: Vec<Option<ShardFuture>> = shards.into_iter().map(Some).collect();
    let mut merged = policy.starts_merged();
    loop {
        metrics::gauge!(crate::metrics::SHARDS_MERGED).set(if merged { 1.0 } else { 0.0 });
        merged_now.store(merged, Ordering::Relaxed);
        if merged {
            match (Merged::new(&mut slots, &mut policy)).await {
                Turned::Done => return,
                Turned::Split => {
                    tracing::debug!(shards = count, "core shards split: a task each");
                    merged = false;
                }
            }
        } else {
            split(&mut slots, &mut policy).await;
            if slots.iter().all(Option::is_none) {
                return;
            }
            tracing::debug!(shards = count, "core shards merged: one task");
            merged = true;
        }
        policy.restart(Instant::now());
    }
}

/// A task per shard until the policy merges them (their futures come back into `slots`) or
/// all have ended.
async fn split(slots: &mut [Option<ShardFuture>], policy: &mut Policy) {
    let busy: Arc<[Busy]> = (0..slots.len()).map(|_| Busy::default()).collect();
    let mut tasks = JoinSet::new();
    let mut recalls = Vec::new();
    for (index, slot) in slots.iter_mut().enumerate() {
        if let Some(shard) = slot.take() {
            let (recall, recalled) = oneshot::channel();
            recalls.push(recall);
            tasks.spawn(alone(index, shard, recalled, busy.clone()));
        }
    }
    let mut tick = tokio::time::interval(Policy::window(false));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                // every task has given its shard back, or ended
                None => return,
                Some(Ok((index, shard))) => slots[index] = shard,
                Some(Err(e)) => tracing::error!("a core shard's task failed: {e}"),
            },
            _ = tick.tick() => {
                let spent = busy.iter().map(Busy::take).sum();
                if policy.record(Instant::now(), spent, false) == Decision::Merge {
                    for recall in recalls.drain(..) {
                        let _ = recall.send(());
                    }
                }
            }
        }
    }
}

/// One shard on a task of its own: `(index, Some(shard))` when recalled, `(index, None)` when it
/// ended.
async fn alone(
    index: usize,
    mut shard: ShardFuture,
    mut recalled: oneshot::Receiver<()>,
    busy: Arc<[Busy]>,
) -> (usize, Option<ShardFuture>) {
    let back = {
        let timed = Timed {
            shard: &mut shard,
            busy: &busy[index],
        };
        tokio::select! {
            biased;
            _ = &mut recalled => true,
            () = timed => false,
        }
    };
    (index, back.then_some(shard))
}

/// A shard's poll, its time added to its `Busy`.
struct Timed<'a> {
    shard: &'a mut ShardFuture,
    busy: &'a Busy,
}

impl Future for Timed<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let start = Instant::now();
        let polled = self.shard.as_mut().poll(cx);
        self.busy.add(start.elapsed().min(POLL_MAX));
        polled
    }
}

/// Time a split shard spent in its polls since the last look, in ns (a cache line each: the
/// shards' threads write them, the driving task reads them once a window).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Busy(AtomicU64);

impl Busy {
    fn add(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
    fn take(&self) -> Duration {
        Duration::from_nanos(self.0.swap(0, Ordering::Relaxed))
    }
}

/// How a merged turn ended.
enum Turned {
    Done,
    Split,
}

/// Rounds of polls one turn of the merged task makes at most while its shards wake each other
/// (a hand-off wakes its owner; a full round more is rare).
const ROUNDS_MAX: usize = 4;

/// Every shard in `slots` polled by this one task: only those woken since their last poll.
struct Merged<'a> {
    slots: &'a mut [Option<ShardFuture>],
    policy: &'a mut Policy,
    /// The driving task's waker, which every shard's waker wakes (not while it polls).
    task: Arc<Driver>,
    flags: Vec<Arc<Flag>>,
    wakers: Vec<Waker>,
    /// The shard polled first this turn. A task's polls share one cooperative budget (tokio
    /// makes a busy task's sockets and channels return `Pending` once it is spent), so the
    /// first shard of every turn could take all of it: the first place goes round.
    first: usize,
}

/// The merged shards' driving task, as their wakers see it.
#[derive(Default)]
struct Driver {
    waker: AtomicWaker,
    /// The task is polling its shards: one woken now is polled again before the turn ends,
    /// so its waker does not wake the task. (Waking a running task queues it again behind the
    /// others and wakes an idle worker thread to steal it: a thread wake-up for every hand-off
    /// between merged shards.)
    polling: AtomicBool,
}

/// A shard's waker while merged: marks it woken, then wakes the driving task unless it is
/// polling.
struct Flag {
    woken: AtomicBool,
    task: Arc<Driver>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst with the driver's store of `polling` and load of the flags (`Merged::poll`):
        // either this load sees the turn over, or that load sees this flag
        self.woken.store(true, Ordering::SeqCst);
        if !self.task.polling.load(Ordering::SeqCst) {
            self.task.waker.wake();
        }
    }
}

impl<'a> Merged<'a> {
    /// Whether a shard still here was woken since its last poll.
    fn woken(&self) -> bool {
        self.slots
            .iter()
            .zip(&self.flags)
            .any(|(slot, flag)| slot.is_some() && flag.woken.load(Ordering::SeqCst))
    }

    fn new(slots: &'a mut [Option<ShardFuture>], policy: &'a mut Policy) -> Self {
        let task = Arc::new(Driver::default());
        // every shard is polled at once: it may have come from a task of its own, whose
        // waker its sockets and channels still hold
        let flags: Vec<Arc<Flag>> = (0..slots.len())
            .map(|_| {
                Arc::new(Flag {
                    woken: AtomicBool::new(true),
                    task: task.clone(),
                })
            })
            .collect();
        let wakers = flags.iter().map(|f| Waker::from(f.clone())).collect();
        Self {
            slots,
            policy,
            task,
            flags,
            wakers,
            first: 0,
        }
    }
}

impl Future for Merged<'_> {
    type Output = Turned;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turned> {
        let this = &mut *self;
        this.task.waker.register(cx.waker());
        this.task.polling.store(true, Ordering::SeqCst);
        let mut since = Instant::now();
        let mut busy = Duration::ZERO;
        let count = this.slots.len();
        this.first = (this.first + 1) % count;
        for _ in 0..ROUNDS_MAX {
            for index in (this.first..count).chain(0..this.first) {
                let slot = &mut this.slots[index];
                let Some(shard) = slot else { continue };
                if !this.flags[index].woken.swap(false, Ordering::SeqCst) {
                    continue;
                }
                let mut shard_cx = Context::from_waker(&this.wakers[index]);
                // a panic ends that shard only, as it did when each was a task of its own
                match std::panic::catch_unwind(AssertUnwindSafe(|| {
                    shard.as_mut().poll(&mut shard_cx)
                })) {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(())) => *slot = None,
                    Err(_) => {
                        tracing::error!(shard = index, "a core shard panicked; it is stopped");
                        *slot = None;
                    }
                }
                let now = Instant::now();
                busy += (now - since).min(POLL_MAX);
                since = now;
            }
            // another round for the shards woken by this one (a hand-off), while the task's
            // cooperative budget lasts: spent, the shards' sockets and channels would only
            // answer `Pending` and wake them again
            if !tokio::task::coop::has_budget_remaining() || !this.woken() {
                break;
            }
        }
        this.task.polling.store(false, Ordering::SeqCst);
        if this.slots.iter().all(Option::is_none) {
            return Poll::Ready(Turned::Done);
        }
        // woken after their poll in the last round (or by another thread meanwhile): the task
        // is polled again, behind the runtime's other tasks
        if this.woken() {
            cx.waker().wake_by_ref();
        }
        match this.policy.record(since, busy, true) {
            Decision::Split => Poll::Ready(Turned::Split),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests;
