//! A small timer table: deadlines as `Instant`s, removable, the next deadline is the minimum.

use std::collections::BTreeMap;
use std::time::Instant;

/// Names one armed timer so it can be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerId {
    at: Instant,
    seq: u64,
}

#[derive(Debug)]
pub(crate) struct TimerTable<T> {
    map: BTreeMap<TimerId, T>,
    seq: u64,
}

impl<T> Default for TimerTable<T> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<T: Copy> TimerTable<T> {
    pub(crate) fn insert(&mut self, at: Instant, timer: T) -> TimerId {
        self.seq += 1;
        let id = TimerId { at, seq: self.seq };
        self.map.insert(id, timer);
        id
    }

    pub(crate) fn remove(&mut self, id: TimerId) {
        self.map.remove(&id);
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map.keys().next().map(|id| id.at)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<T> {
        let (&id, _) = self.map.iter().next()?;
        if id.at > now {
            return None;
        }
        self.map.remove(&id)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_removable() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        let mut t = TimerTable::default();
        let a = t.insert(at(30), 'a');
        t.insert(at(10), 'b');
        t.insert(at(10), 'c');
        assert_eq!(t.next_deadline(), Some(at(10)));
        assert_eq!(t.pop_due(at(9)), None);
        assert_eq!(t.pop_due(at(10)), Some('b'));
        assert_eq!(t.pop_due(at(10)), Some('c'));
        t.remove(a);
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.len(), 0);
    }
}
