//! Password-guessing protection, sans-IO: [`AuthThrottle`] is fed failed authentications
//! `(now, source IP)` and asked whether a source's next request is admitted. It does no IO and
//! reads no clock; the dispatcher ([`crate::dispatcher`]) drives it, logs and counts.
//!
//! ```text
//!            failure (count < limit)          failure (count == limit)
//!  unknown ─────────────────────────▶ counting ─────────────────────────▶ throttled
//!     ▲                                  │ window over                       │ ban over
//!     └──────────────────────────────────┴───────────────────────────────────┘
//! ```
//!
//! Per source IP, never per login: an attacker guessing alice's password from one address is
//! throttled while alice's phones, elsewhere, keep registering. Memory is bounded: at most
//! [`MAX_SOURCES`] sources are tracked; beyond that, sources whose window or ban is over are
//! swept and, if none is, the oldest counting (not throttled) source is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most sources tracked at once (~64 bytes each).
pub(crate) const MAX_SOURCES: usize = 65_536;

/// When a source is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Failures within `window` that throttle the source.
    pub(crate) failures: u32,
    /// The window failures are counted in, from the first one.
    pub(crate) window: Duration,
    /// How long a throttled source's requests are dropped.
    pub(crate) ban: Duration,
}

impl From<&ferroswitch_config::SecuritySettings> for Limits {
    fn from(s: &ferroswitch_config::SecuritySettings) -> Self {
        Self {
            failures: s.auth_failures,
            window: s.auth_window,
            ban: s.auth_ban,
        }
    }
}

/// What a failure did to its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Failure {
    /// Counted: `failures` so far in the current window.
    Counted { failures: u32 },
    /// This failure reached the limit: the source is throttled from now until `until` (log it,
    /// once).
    Throttled { until: Instant },
}

#[derive(Debug, Clone, Copy)]
struct Source {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

impl Source {
    /// Nothing left to remember at `now`: window and ban both over.
    fn spent(&self, now: Instant, limits: &Limits) -> bool {
        self.banned_until.is_none_or(|u| now >= u)
            && now.duration_since(self.window_start) >= limits.window
    }
}

/// Failed authentications per source IP and the sources throttled for them.
#[derive(Debug)]
pub(crate) struct AuthThrottle {
    limits: Limits,
    sources: HashMap<IpAddr, Source>,
    max_sources: usize,
}

impl AuthThrottle {
    pub(crate) fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, MAX_SOURCES)
    }

    /// Like [`Self::new`] tracking at most `max_sources` sources (tests).
    pub(crate) fn with_capacity(limits: Limits, max_sources: usize) -> Self {
        Self {
            limits,
            sources: HashMap::new(),
            max_sources: max_sources.max(1),
        }
    }

    /// New limits (a config reload); sources already throttled keep their ban.
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Whether a request from `ip` at `now` is admitted (`false`: drop it).
    pub(crate) fn admits(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.sources.is_empty() {
            return true;
        }
        match self.sources.get(&ip).and_then(|s| s.banned_until) {
            Some(until) if now < until => false,
            Some(_) => {
                // the ban is over: start afresh
                self.sources.remove(&ip);
                true
            }
            None => true,
        }
    }

    /// A failed authentication from `ip` at `now`.
    pub(crate) fn failed(&mut self, now: Instant, ip: IpAddr) -> Failure {
        let limits = self.limits;
        let s = self.source(now, ip);
        if s.spent(now, &limits) {
            *s = Source {
                window_start: now,
                failures: 0,
                banned_until: None,
            };
        }
        s.failures = s.failures.saturating_add(1);
        if s.banned_until.is_none() && s.failures >= limits.failures {
            let until = now + limits.ban;
            s.banned_until = Some(until);
            return Failure::Throttled { until };
        }
        Failure::Counted {
            failures: s.failures,
        }
    }

    /// `ip` is throttled until `until` (another core shard throttled it): a source is
    /// throttled server-wide, as with one shard, whichever shard its requests reach. Its
    /// failures still count where they are judged.
    pub(crate) fn ban(&mut self, now: Instant, ip: IpAddr, until: Instant) {
        let s = self.source(now, ip);
        s.banned_until = Some(s.banned_until.map_or(until, |u| u.max(until)));
    }

    /// Sources tracked now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }

    /// `ip`'s entry, made (room made first when the table is full) if it has none.
    fn source(&mut self, now: Instant, ip: IpAddr) -> &mut Source {
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.max_sources {
            self.make_room(now);
        }
        self.sources.entry(ip).or_insert(Source {
            window_start: now,
            failures: 0,
            banned_until: None,
        })
    }

    /// Forgets spent sources; if none was, the counting source whose window started first.
    fn make_room(&mut self, now: Instant) {
        let limits = self.limits;
        self.sources.retain(|_, s| !s.spent(now, &limits));
        if self.sources.len() < self.max_sources {
            return;
        }
        let oldest = self
            .sources
            .iter()
            .filter(|(_, s)| s.banned_until.is_none())
            .min_by_key(|(_, s)| s.window_start)
            .map(|(ip, _)| *ip);
        match oldest {
            Some(ip) => {
                self.sources.remove(&ip);
            }
            // every tracked source is throttled: the newcomer replaces the one whose ban ends
            // first
            None => {
                let first = self
                    .sources
                    .iter()
                    .min_by_key(|(_, s)| s.banned_until)
                    .map(|(ip, _)| *ip);
                if let Some(ip) = first {
                    self.sources.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        failures: 3,
        window: Duration::from_secs(60),
        ban: Duration::from_secs(300),
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn limit_within_window_throttles_that_source_only_until_ban_ends() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(LIMITS);
        assert!(t.admits(t0, ip(1)));
        assert_eq!(t.failed(t0, ip(1)), Failure::Counted { failures: 1 });
        assert_eq!(
            t.failed(secs(t0, 1), ip(1)),
            Failure::Counted { failures: 2 }
        );
        assert_eq!(
            t.failed(secs(t0, 2), ip(1)),
            Failure::Throttled {
                until: secs(t0, 302)
            }
        );
        // reported once: later failures (requests in flight) only count
        assert_eq!(
            t.failed(secs(t0, 3), ip(1)),
            Failure::Counted { failures: 4 }
        );
        assert!(!t.admits(secs(t0, 3), ip(1)));
        assert!(!t.admits(secs(t0, 301), ip(1)));
        // another source (the real user) is unaffected
        assert!(t.admits(secs(t0, 3), ip(2)));
        // the ban ends; the source starts afresh
        assert!(t.admits(secs(t0, 302), ip(1)));
        assert_eq!(
            t.failed(secs(t0, 303), ip(1)),
            Failure::Counted { failures: 1 }
        );
    }

    #[test]
    fn a_ban_told_by_another_shard_drops_the_source_until_it_ends() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(LIMITS);
        t.ban(t0, ip(1), secs(t0, 300));
        assert!(!t.admits(secs(t0, 1), ip(1)));
        assert!(t.admits(secs(t0, 1), ip(2)), "another source");
        // an earlier end told later does not shorten it
        t.ban(secs(t0, 2), ip(1), secs(t0, 100));
        assert!(!t.admits(secs(t0, 200), ip(1)));
        assert!(t.admits(secs(t0, 300), ip(1)), "over");
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not_throttle() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(LIMITS);
        for i in 0..10 {
            // two failures per window, windows back to back
            let _ = t.failed(secs(t0, i * 60), ip(1));
            let f = t.failed(secs(t0, i * 60 + 30), ip(1));
            assert_eq!(f, Failure::Counted { failures: 2 }, "window {i}");
            assert!(t.admits(secs(t0, i * 60 + 31), ip(1)));
        }
    }

    #[test]
    fn tracked_sources_are_bounded_and_throttled_ones_kept_first() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::with_capacity(LIMITS, 4);
        for _ in 0..3 {
            let _ = t.failed(t0, ip(1));
        }
        assert!(!t.admits(t0, ip(1)));
        // many addresses with one failure each: never more than 4 tracked
        for i in 2..200 {
            let _ = t.failed(secs(t0, u64::from(i)), ip(i));
            assert!(t.len() <= 4);
        }
        // the throttled source was not the one forgotten
        assert!(!t.admits(secs(t0, 200), ip(1)));
        // spent sources are swept first
        let later = secs(t0, 1000);
        let _ = t.failed(later, ip(250));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn with_nothing_tracked_every_source_is_admitted() {
        let mut t = AuthThrottle::new(LIMITS);
        assert!(t.admits(Instant::now(), ip(9)));
        assert_eq!(t.len(), 0);
    }
}
