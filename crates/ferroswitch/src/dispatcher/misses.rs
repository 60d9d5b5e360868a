//! Bounded memory for logins the database does not know (cache misses, issue 12 item 3).
//! Accounts that exist are all loaded at start and kept current by `account_sync`, so the
//! account cache grows with them; what must not grow is the record of made-up usernames. A
//! miss is remembered for [`MISS_TTL`] (a retry within it reads no database) and at most
//! [`MAX_MISSES`] at once, oldest forgotten first. Sans-IO: fed `(now, login)`, it says which
//! older misses to forget.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a login found in no account is answered from memory.
pub(super) const MISS_TTL: Duration = Duration::from_secs(10);
/// Most misses remembered at once (~100 bytes each).
pub(super) const MAX_MISSES: usize = 10_000;

/// The misses cached, oldest first, with when each was recorded.
#[derive(Debug)]
pub(super) struct Misses {
    queue: VecDeque<(String, Instant)>,
    cap: usize,
    ttl: Duration,
}

impl Default for Misses {
    fn default() -> Self {
        Self::new(MAX_MISSES, MISS_TTL)
    }
}

impl Misses {
    pub(super) fn new(cap: usize, ttl: Duration) -> Self {
        Self {
            queue: VecDeque::new(),
            cap: cap.max(1),
            ttl,
        }
    }

    /// A miss for `login` cached at `now`: the misses to forget now (expired, or beyond the
    /// bound), each with the instant it was cached (forget the cache entry only if it is
    /// still that miss).
    pub(super) fn record(&mut self, now: Instant, login: &str) -> Vec<(String, Instant)> {
        let mut gone = Vec::new();
        while let Some((_, at)) = self.queue.front() {
            if now.duration_since(*at) < self.ttl && self.queue.len() < self.cap {
                break;
            }
            gone.extend(self.queue.pop_front());
        }
        self.queue.push_back((login.to_owned(), now));
        gone
    }

    /// Misses remembered now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_bound() {
        let t0 = Instant::now();
        let mut m = Misses::new(100, Duration::from_secs(10));
        let mut forgotten = 0;
        for i in 0..100_000u32 {
            forgotten += m.record(t0, &format!("u{i}")).len();
            assert!(m.len() <= 100);
        }
        assert_eq!(forgotten, 100_000 - 100);
    }

    #[test]
    fn expired_misses_are_forgotten_at_the_next_one() {
        let t0 = Instant::now();
        let mut m = Misses::new(100, Duration::from_secs(10));
        for i in 0..50 {
            assert!(m.record(t0, &format!("u{i}")).is_empty());
        }
        let gone = m.record(t0 + Duration::from_secs(10), "late");
        assert_eq!(gone.len(), 50);
        assert_eq!(gone[0], ("u0".to_owned(), t0));
        assert_eq!(m.len(), 1);
    }
}
