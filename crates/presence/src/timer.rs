//! A small timer table: deadlines in ms, removable, the next deadline is the minimum.

use std::collections::BTreeMap;

/// Names one armed timer so it can be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerId {
    at: u64,
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
    pub(crate) fn insert(&mut self, at: u64, timer: T) -> TimerId {
        self.seq += 1;
        let id = TimerId { at, seq: self.seq };
        self.map.insert(id, timer);
        id
    }

    pub(crate) fn remove(&mut self, id: TimerId) {
        self.map.remove(&id);
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.map.keys().next().map(|id| id.at)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<T> {
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
        let mut t = TimerTable::default();
        let a = t.insert(30, 'a');
        t.insert(10, 'b');
        t.insert(10, 'c');
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(t.pop_due(9), None);
        assert_eq!(t.pop_due(10), Some('b'));
        assert_eq!(t.pop_due(10), Some('c'));
        t.remove(a);
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.len(), 0);
    }
}
