//! A deadline heap: timers ordered by time (then by their key), the earliest on top. Used by
//! the call table's [`Timers`](crate::shared::Timers) and the API agent's calls
//! ([`crate::third_party`]): the next deadline is a peek, due timers come out in order, and a
//! timer is cancelled lazily (its owner checks, when it pops, whether it still wants it),
//! so nothing walks every call.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Timers keyed by `K` (what each is for), earliest first.
#[derive(Debug)]
pub(crate) struct Deadlines<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Clone> Deadlines<K> {
    /// A timer for `key` at `at`.
    pub(crate) fn arm(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Takes the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        let Reverse((at, _)) = self.heap.peek()?;
        if *at > now {
            return None;
        }
        self.heap.pop().map(|Reverse(t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_timers_come_out_in_time_order() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.arm(t0 + Duration::from_secs(3), "c");
        d.arm(t0 + Duration::from_secs(1), "a");
        d.arm(t0 + Duration::from_secs(2), "b");
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(d.pop_due(t0), None);
        let due = t0 + Duration::from_secs(2);
        assert_eq!(d.pop_due(due).map(|(_, k)| k), Some("a"));
        assert_eq!(d.pop_due(due).map(|(_, k)| k), Some("b"));
        assert_eq!(d.pop_due(due), None);
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(3)));
    }
}
