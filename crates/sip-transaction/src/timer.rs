//! The timer table: one FIFO of `(deadline, transaction, kind)` per timer duration, with lazy
//! cancellation.
//!
//! Every RFC 3261 timer runs for one of a handful of durations (T1·2ᵏ, T2, T4, 64·T1, Timer D),
//! and time only moves forward, so the entries armed with one duration arrive in deadline
//! order: each duration gets a queue, arming is a `push_back`, expiry a `pop_front`, and the
//! next deadline is the earliest of a dozen queue fronts. At hundreds of thousands of live
//! transactions this stays `O(1)` and walks memory sequentially, where a binary heap pays a
//! cache miss per level on every pop. (An entry armed at an earlier `now` than the last one
//! is still placed in order, by binary search.)
//!
//! A transaction has at most two armed timers, a retransmission timer (A, E, G) and an expiry
//! timer (B, D, F, H, I, J, K, L, M and the two guards), and remembers their deadlines.
//! Stopping or re-arming a timer only changes the transaction; the entry left behind is
//! recognised as stale when it reaches the front of its queue (its deadline or kind no longer
//! matches the transaction's, or the transaction is gone) and skipped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::key::TxId;

/// The RFC 3261 §17 timers, plus two guards that bound the life of a transaction the TU
/// forgets about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// INVITE client: retransmit the request (T1, doubling), unreliable transports only.
    A,
    /// INVITE client: no response at all in Calling (64·T1) → timeout.
    B,
    /// INVITE client: absorb final-response retransmissions in Completed (32 s / 0).
    D,
    /// Non-INVITE client: retransmit the request (T1 doubling up to T2; T2 once Proceeding).
    E,
    /// Non-INVITE client: no final response (64·T1) → timeout.
    F,
    /// INVITE server: retransmit the non-2xx final response (T1 doubling up to T2).
    G,
    /// INVITE server: no ACK for the non-2xx final response (64·T1) → ACK timeout.
    H,
    /// INVITE server: absorb ACK retransmissions in Confirmed (T4 / 0).
    I,
    /// Non-INVITE server: answer request retransmissions in Completed (64·T1 / 0).
    J,
    /// Non-INVITE client: absorb response retransmissions in Completed (T4 / 0).
    K,
    /// INVITE server (RFC 6026): absorb INVITE retransmissions after a 2xx (64·T1).
    L,
    /// INVITE client (RFC 6026): pass 2xx retransmissions and forks up (64·T1).
    M,
    /// Non-INVITE server (not in RFC 3261): the TU gave no final response within 64·T1, by
    /// which time the client has given up (its Timer F); the transaction is dropped.
    TuGuard,
    /// INVITE client (RFC 3261 §9.1): a CANCEL was sent but no final response came within
    /// 64·T1 → the transaction ends as a timeout.
    CancelGuard,
}

impl TimerKind {
    /// Whether this is a retransmission timer (the transaction's first timer slot).
    pub(crate) fn is_retransmit(self) -> bool {
        matches!(self, Self::A | Self::E | Self::G)
    }
}

/// One armed timer. Field order gives the order across queues: earliest deadline first, ties
/// by transaction then kind (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub(crate) at: Instant,
    pub(crate) id: TxId,
    pub(crate) kind: TimerKind,
}

#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    /// `(duration, entries in deadline order)`; a dozen durations at most.
    queues: Vec<(Duration, VecDeque<Entry>)>,
    len: usize,
}

impl TimerTable {
    /// Arms `kind` for `id` to fire `after` from `now`.
    pub(crate) fn push(
        &mut self,
        now: Instant,
        after: Duration,
        id: TxId,
        kind: TimerKind,
    ) -> Instant {
        let e = Entry {
            at: now + after,
            id,
            kind,
        };
        let q = match self.queues.iter().position(|(d, _)| *d == after) {
            Some(i) => &mut self.queues[i].1,
            None => {
                self.queues.push((after, VecDeque::new()));
                &mut self.queues.last_mut().expect("just pushed").1
            }
        };
        // Within a queue, entries with equal deadlines stay in arming order.
        if q.back().is_none_or(|b| b.at <= e.at) {
            q.push_back(e);
        } else {
            // `now` went backwards relative to an earlier arming: keep the queue sorted.
            let i = q.partition_point(|x| x.at <= e.at);
            q.insert(i, e);
        }
        self.len += 1;
        e.at
    }

    /// The queue whose front fires first.
    fn first(&self) -> Option<usize> {
        self.queues
            .iter()
            .enumerate()
            .filter_map(|(i, (_, q))| q.front().map(|e| (e, i)))
            .min()
            .map(|(_, i)| i)
    }

    pub(crate) fn peek(&self) -> Option<&Entry> {
        self.first().and_then(|i| self.queues[i].1.front())
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        let i = self.first()?;
        let q = &mut self.queues[i].1;
        if q.front()?.at > now {
            return None;
        }
        self.len -= 1;
        q.pop_front()
    }

    /// Drops the stale entries at the front of every queue (`live` tells which are not), so
    /// that [`Self::peek`] sees a live deadline.
    pub(crate) fn reap(&mut self, mut live: impl FnMut(&Entry) -> bool) {
        for (_, q) in &mut self.queues {
            while let Some(e) = q.front() {
                if live(e) {
                    break;
                }
                q.pop_front();
                self.len -= 1;
            }
        }
    }

    /// Entries in the table, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u32) -> TxId {
        TxId {
            index,
            generation: 0,
        }
    }

    #[test]
    fn fires_in_deadline_order_across_durations() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.push(t0, Duration::from_secs(32), id(1), TimerKind::J);
        t.push(t0, Duration::from_millis(500), id(2), TimerKind::E);
        t.push(
            t0 + Duration::from_secs(1),
            Duration::from_millis(500),
            id(3),
            TimerKind::E,
        );
        t.push(t0, Duration::from_secs(4), id(4), TimerKind::G);
        // earlier `now` than the queue's back: inserted in order
        t.push(t0, Duration::from_millis(500), id(5), TimerKind::A);
        let mut order = Vec::new();
        while let Some(e) = t.pop_due(t0 + Duration::from_secs(60)) {
            order.push(e.id.index);
        }
        assert_eq!(order, [2, 5, 3, 4, 1]);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn pop_due_waits_for_the_deadline() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.push(t0, Duration::from_secs(1), id(1), TimerKind::B);
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(t.peek().map(|e| e.at), Some(t0 + Duration::from_secs(1)));
        assert!(t.pop_due(t0 + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn reap_drops_stale_fronts() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.push(t0, Duration::from_secs(1), id(1), TimerKind::B);
        t.push(t0, Duration::from_secs(2), id(2), TimerKind::F);
        t.reap(|e| e.id.index != 1);
        assert_eq!(t.peek().map(|e| e.id.index), Some(2));
        assert_eq!(t.len(), 1);
    }
}
