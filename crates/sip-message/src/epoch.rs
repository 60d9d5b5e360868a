//! [`Epoch`]: the one place where the monotonic clock of the cores meets the wall clock of
//! stored rows.
//!
//! Every sans-IO core runs on [`Instant`]s passed in by its driver. Rows in the database
//! (bindings, CDRs, publications) and the other nodes of a cluster speak unix time. The
//! driver reads the wall clock once, at start, pairs it with the `Instant` of that moment, and
//! converts with this pair in both directions, so a core never holds a unix time and a stored
//! time never depends on when it was converted.

use std::time::{Duration, Instant};

/// An `Instant` and the unix time in milliseconds at that instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    at: Instant,
    unix_ms: u64,
}

impl Epoch {
    /// The pair read together by the driver (`Instant::now()` and the system clock).
    pub fn new(at: Instant, unix_ms: u64) -> Self {
        Self { at, unix_ms }
    }

    /// Unix milliseconds at `t`.
    pub fn wall(&self, t: Instant) -> u64 {
        if t >= self.at {
            self.unix_ms
                .saturating_add(t.duration_since(self.at).as_millis() as u64)
        } else {
            self.unix_ms
                .saturating_sub(self.at.duration_since(t).as_millis() as u64)
        }
    }

    /// Unix seconds at `t` (rounded down).
    pub fn wall_secs(&self, t: Instant) -> u64 {
        self.wall(t) / 1000
    }

    /// The `Instant` at unix milliseconds `unix_ms`. A time too far before the `Instant`s
    /// this platform can represent (before boot, on most) comes back as the earliest one
    /// reachable from the epoch's own instant by whole days: still in the past, so expired.
    pub fn instant(&self, unix_ms: u64) -> Instant {
        if unix_ms >= self.unix_ms {
            self.at + Duration::from_millis(unix_ms - self.unix_ms)
        } else {
            let back = Duration::from_millis(self.unix_ms - unix_ms);
            self.at
                .checked_sub(back)
                .unwrap_or_else(|| earliest(self.at))
        }
    }
}

impl From<(Instant, u64)> for Epoch {
    fn from((at, unix_ms): (Instant, u64)) -> Self {
        Self::new(at, unix_ms)
    }
}

/// The earliest `Instant` before `at` that the platform represents, to a day.
fn earliest(at: Instant) -> Instant {
    let mut t = at;
    let mut step = Duration::from_secs(86_400 * 365 * 100);
    while step >= Duration::from_secs(86_400) {
        if let Some(e) = t.checked_sub(step) {
            t = e;
        } else {
            step /= 2;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        let at = Instant::now();
        let e = Epoch::new(at, 1_700_000_000_000);
        let later = at + Duration::from_millis(1_500);
        assert_eq!(e.wall(later), 1_700_000_001_500);
        assert_eq!(e.wall_secs(later), 1_700_000_001);
        assert_eq!(e.instant(1_700_000_001_500), later);
        if let Some(earlier) = at.checked_sub(Duration::from_millis(250)) {
            assert_eq!(e.wall(earlier), 1_699_999_999_750);
            assert_eq!(e.instant(1_699_999_999_750), earlier);
        }
        // unix 0 is long before any Instant: the past, not a panic
        assert!(e.instant(0) <= at);
    }
}
