use super::*;

use tokio::sync::mpsc;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn auto_splits_a_busy_merged_task_and_merges_idle_shards() {
    let t0 = Instant::now();
    let mut p = Policy::new(ShardMerge::Auto, t0);
    assert!(p.starts_merged());
    // merged: nothing decided before a window has passed, however busy
    for k in 1..=5 {
        assert_eq!(p.record(t0 + ms(10 * k), ms(10), true), Decision::Stay);
    }
    // 80 of 100 ms busy (in polls of up to 10 ms): split
    for k in 1..=3 {
        assert_eq!(p.record(t0 + ms(50 + 10 * k), ms(10), true), Decision::Stay);
    }
    assert_eq!(p.record(t0 + ms(100), ms(0), true), Decision::Split);
    // 50 of 100 ms: stay merged
    for k in 1..=5 {
        assert_eq!(
            p.record(t0 + ms(100 + 10 * k), ms(10), true),
            Decision::Stay
        );
    }
    assert_eq!(p.record(t0 + ms(200), ms(0), true), Decision::Stay);
    // split: the shards' sum over a second, as `split` reads it at each tick; 0.7 of a core
    // stays split, 0.5 merges
    p.restart(t0 + ms(200));
    assert_eq!(p.record(t0 + ms(1200), ms(700), false), Decision::Stay);
    assert_eq!(p.record(t0 + ms(2200), ms(500), false), Decision::Merge);
}

/// A shard's start (its first poll loads tables) is not a load: one poll counts for 10 ms at
/// most, so a 95 ms first poll does not split merged shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_long_poll_does_not_split() {
    let (a_tx, a_rx) = mpsc::unbounded_channel();
    let (b_tx, b_rx) = mpsc::unbounded_channel();
    let a = shard(a_rx, b_tx.downgrade());
    let b = shard(b_rx, a_tx.downgrade());
    // the first poll of one shard takes 95 ms, as a start loading tables would
    let slow_start: ShardFuture = Box::pin(async move {
        let until = Instant::now() + ms(95);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        a.await
    });
    let merged = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(drive(vec![slow_start, b], ShardMerge::Auto, merged.clone()));
    let inboxes = [a_tx, b_tx];
    tokio::time::sleep(ms(150)).await;
    let [x, y] = tasks_of(&inboxes).await;
    assert_eq!(x, y, "still merged after a slow first poll");
    assert!(merged.load(Ordering::Relaxed), "the shards are told");
    ends_with_its_shards(inboxes, task).await;
}

#[test]
fn always_and_never_hold_one_mode() {
    let t0 = Instant::now();
    let mut always = Policy::new(ShardMerge::Always, t0);
    assert!(always.starts_merged());
    assert_eq!(always.record(t0 + ms(100), ms(100), true), Decision::Stay);
    assert_eq!(always.record(t0 + ms(1100), ms(0), false), Decision::Merge);
    let mut never = Policy::new(ShardMerge::Never, t0);
    assert!(!never.starts_merged());
    assert_eq!(never.record(t0 + ms(1000), ms(0), false), Decision::Stay);
    assert_eq!(never.record(t0 + ms(1100), ms(0), true), Decision::Split);
}

/// What a test shard is asked to do.
enum Work {
    /// Keep the thread busy this long.
    Spin(Duration),
    /// Say which task polls it, and pass a note to the other shard (a hand-off).
    Note(mpsc::UnboundedSender<Option<tokio::task::Id>>),
    /// Pass this on to the other shard, which notes it.
    Hand(mpsc::UnboundedSender<Option<tokio::task::Id>>),
}

/// A shard: takes work from its inbox, hands notes to `other` (weak: the test's senders alone
/// keep the inboxes open), ends when its inbox closes.
fn shard(
    mut inbox: mpsc::UnboundedReceiver<Work>,
    other: mpsc::WeakUnboundedSender<Work>,
) -> ShardFuture {
    Box::pin(async move {
        while let Some(w) = inbox.recv().await {
            match w {
                Work::Spin(d) => {
                    let until = Instant::now() + d;
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                }
                Work::Note(to) => {
                    let _ = to.send(tokio::task::try_id());
                }
                Work::Hand(to) => {
                    if let Some(other) = other.upgrade() {
                        let _ = other.send(Work::Note(to));
                    }
                }
            }
            // a dispatcher returns to its select after a burst
            tokio::task::yield_now().await;
        }
    })
}

/// Two shards driven by [`drive`] with `merge`, their inboxes, the driving task, and what
/// it tells the shards of the way they are driven (`true`: merged).
fn two_shards(
    merge: impl Into<MergeSetting>,
) -> (
    [mpsc::UnboundedSender<Work>; 2],
    tokio::task::JoinHandle<()>,
    Arc<AtomicBool>,
) {
    let (a_tx, a_rx) = mpsc::unbounded_channel();
    let (b_tx, b_rx) = mpsc::unbounded_channel();
    let shards = vec![shard(a_rx, b_tx.downgrade()), shard(b_rx, a_tx.downgrade())];
    let merge = merge.into();
    let merged = Arc::new(AtomicBool::new(merge.get() == ShardMerge::Never));
    let task = tokio::spawn(drive(shards, merge, merged.clone()));
    ([a_tx, b_tx], task, merged)
}

/// The task each shard runs on now, each asked directly and through the other (a hand-off).
async fn tasks_of(inboxes: &[mpsc::UnboundedSender<Work>; 2]) -> [tokio::task::Id; 2] {
    let mut ids = Vec::new();
    for (i, inbox) in inboxes.iter().enumerate() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        inbox.send(Work::Note(tx.clone())).unwrap();
        inboxes[1 - i].send(Work::Hand(tx)).unwrap();
        let direct = tokio::time::timeout(ms(5000), rx.recv())
            .await
            .expect("the shard answers")
            .flatten()
            .expect("a task id");
        let handed = tokio::time::timeout(ms(5000), rx.recv())
            .await
            .expect("the handed note is answered")
            .flatten()
            .expect("a task id");
        assert_eq!(direct, handed, "shard {i} answered from two tasks");
        ids.push(direct);
    }
    [ids[0], ids[1]]
}

/// Closes both inboxes: the shards end, and the driver with them.
async fn ends_with_its_shards(
    inboxes: [mpsc::UnboundedSender<Work>; 2],
    task: tokio::task::JoinHandle<()>,
) {
    drop(inboxes);
    tokio::time::timeout(ms(5000), task)
        .await
        .expect("the driver ends with its shards")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_merged_shards_share_one_task_and_end_together() {
    let (inboxes, task, merged) = two_shards(ShardMerge::Always);
    let [a, b] = tasks_of(&inboxes).await;
    assert_eq!(a, b, "merged shards run on one task");
    assert!(merged.load(Ordering::Relaxed), "the shards are told");
    ends_with_its_shards(inboxes, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_merged_shards_run_on_tasks_of_their_own() {
    let (inboxes, task, merged) = two_shards(ShardMerge::Never);
    let [a, b] = tasks_of(&inboxes).await;
    assert_ne!(a, b, "split shards run on a task each");
    assert!(!merged.load(Ordering::Relaxed), "the shards are told");
    ends_with_its_shards(inboxes, task).await;
}

/// A reload sets the way live (`shard_merge`, [`MergeSetting`]): `always` to `never` splits
/// the shards at the next merged window, `never` to `always` merges them at the next split one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setting_changes_live() {
    let setting = MergeSetting::new(ShardMerge::Always);
    let (inboxes, task, merged) = two_shards(setting.clone());
    let [a, b] = tasks_of(&inboxes).await;
    assert_eq!(a, b, "always: merged");
    for (to, split) in [(ShardMerge::Never, true), (ShardMerge::Always, false)] {
        setting.set(to);
        let deadline = Instant::now() + ms(6000);
        // a merged task looks at the setting on its turns: a little work makes some
        while merged.load(Ordering::Relaxed) == split {
            for inbox in &inboxes {
                inbox.send(Work::Spin(ms(0))).unwrap();
            }
            tokio::time::sleep(ms(50)).await;
            assert!(Instant::now() < deadline, "{to:?} not in force");
        }
        // (the flag is set as the move starts)
        tokio::time::sleep(ms(50)).await;
        let [a, b] = tasks_of(&inboxes).await;
        assert_eq!(a != b, split, "{to:?}");
    }
    ends_with_its_shards(inboxes, task).await;
}

/// Auto: merged while idle; split once the one task is busy most of a window; merged again
/// after a quiet second. Every note is answered across both moves: no wake-up is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_splits_under_load_and_merges_when_it_falls() {
    let (inboxes, task, merged) = two_shards(ShardMerge::Auto);
    let [a, b] = tasks_of(&inboxes).await;
    assert_eq!(a, b, "idle shards start merged");
    assert!(
        merged.load(Ordering::Relaxed),
        "the shards are told they are merged"
    );
    // ~600 ms of work for one task: the first window (100 ms) is busy past 3/4
    for inbox in &inboxes {
        for _ in 0..60 {
            inbox.send(Work::Spin(ms(5))).unwrap();
        }
    }
    let [a, b] = tasks_of(&inboxes).await;
    assert_ne!(a, b, "busy shards are split");
    assert!(
        !merged.load(Ordering::Relaxed),
        "the shards are told they are split"
    );
    // quiet split windows (1 s each): merged again, within a few
    let deadline = Instant::now() + ms(6000);
    loop {
        tokio::time::sleep(ms(250)).await;
        let [a, b] = tasks_of(&inboxes).await;
        if a == b {
            assert!(merged.load(Ordering::Relaxed), "and merged again");
            break;
        }
        assert!(Instant::now() < deadline, "idle shards are merged again");
    }
    ends_with_its_shards(inboxes, task).await;
}

/// Dropping the driver (the server's abort) drops every shard, merged or split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_the_driver_drops_the_shards() {
    for merge in [ShardMerge::Always, ShardMerge::Never] {
        let (inboxes, task, _) = two_shards(merge);
        tasks_of(&inboxes).await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        // the shards' inboxes are closed once their futures are gone
        tokio::time::timeout(ms(5000), async {
            while !inboxes.iter().all(|i| i.is_closed()) {
                tokio::time::sleep(ms(10)).await;
            }
        })
        .await
        .expect("both shards dropped");
    }
}

/// Counts the wake-ups of the task that polls [`Merged`].
#[derive(Default)]
struct Wakes(std::sync::atomic::AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A hand-off between merged shards (one shard waking the other during the driving task's
/// poll) is polled in the same turn and does not wake the task: a wake of a running task
/// queues it again and wakes an idle worker thread to steal it (a thread wake-up per hand-off,
/// which made merged shards cost ~0.3 more context switches per SIPp call than one shard).
#[test]
fn a_hand_off_between_merged_shards_is_polled_in_the_same_turn() {
    // shard 1 keeps its waker where shard 0 finds it; shard 0 wakes it on every poll
    let parked: Arc<std::sync::Mutex<Option<Waker>>> = Arc::default();
    let polls = Arc::new([
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::atomic::AtomicUsize::new(0),
    ]);
    let (p, w) = (polls.clone(), parked.clone());
    let handing: ShardFuture = Box::pin(std::future::poll_fn(move |_| {
        p[0].fetch_add(1, Ordering::SeqCst);
        if let Some(w) = w.lock().unwrap().take() {
            w.wake();
        }
        Poll::<()>::Pending
    }));
    let (p, w) = (polls.clone(), parked.clone());
    let owner: ShardFuture = Box::pin(std::future::poll_fn(move |cx| {
        p[1].fetch_add(1, Ordering::SeqCst);
        *w.lock().unwrap() = Some(cx.waker().clone());
        Poll::<()>::Pending
    }));
    let mut slots = vec![Some(handing), Some(owner)];
    let mut policy = Policy::new(ShardMerge::Always, Instant::now());
    let wakes = Arc::new(Wakes::default());
    let waker = Waker::from(wakes.clone());
    let mut merged = Merged::new(&mut slots, &mut policy);
    let mut cx = Context::from_waker(&waker);
    // the first turn polls shard 1 first (the first place goes round), then shard 0, which
    // wakes shard 1: polled again in this turn
    assert!(Pin::new(&mut merged).poll(&mut cx).is_pending());
    assert_eq!(polls[0].load(Ordering::SeqCst), 1);
    assert_eq!(
        polls[1].load(Ordering::SeqCst),
        2,
        "the woken shard polled again"
    );
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        0,
        "the driving task not woken"
    );
    // after the turn, a wake from elsewhere wakes the task
    parked.lock().unwrap().take().unwrap().wake();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "woken between turns");
}
