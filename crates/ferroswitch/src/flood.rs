//! Per-source rate limiting in front of everything (Kamailio's `pike`), sans-IO: the
//! dispatcher asks [`SourceLimiter::check`] `(now, source IP)` for every datagram and every
//! stream message before it is parsed or reaches the transaction layer, and logs and counts
//! what the verdict says. It does no IO and reads no clock.
//!
//! ```text
//!          > rate in one second                 ban over
//!  counting ────────────────────▶ banned ──────────────────▶ counting (afresh)
//! ```
//!
//! A source may send `rate` requests per one-second window; addresses of registered devices
//! (marked by the dispatcher when a REGISTER succeeds) [`REGISTERED_WEIGHT`] times as many,
//! since one address may be a NAT with many phones; trusted peers are exempt. A source over
//! its limit is dropped for `ban` and reported once ([`Verdict::Banned`]).
//!
//! Memory is bounded: at most [`MAX_SOURCES`] sources are counted; when the table is full the
//! sources whose window and ban are over are swept, and if none is, a new source passes
//! uncounted until there is room (failing open: a spoofed-source flood cannot make the limiter
//! drop a real user it never saw).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most sources counted at once (~48 bytes each).
pub(crate) const MAX_SOURCES: usize = 65_536;
/// Most registered addresses remembered (each for its registration's lifetime).
pub(crate) const MAX_REGISTERED: usize = 1 << 20;
/// How many times `rate` a registered device's address may send.
pub(crate) const REGISTERED_WEIGHT: u32 = 10;
const WINDOW: Duration = Duration::from_secs(1);

/// `[security] source_rate` and `source_ban`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Requests a second; 0: no limit.
    pub(crate) rate: u32,
    pub(crate) ban: Duration,
}

impl From<&ferroswitch_config::SecuritySettings> for Limits {
    fn from(s: &ferroswitch_config::SecuritySettings) -> Self {
        Self {
            rate: s.source_rate,
            ban: s.source_ban,
        }
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Verdict {
    Pass,
    /// Dropped: the source is banned.
    Drop,
    /// Dropped, and this request banned the source until `until`: log it (once per ban).
    Banned {
        until: Instant,
    },
}

#[derive(Debug, Clone, Copy)]
struct Source {
    window_start: Instant,
    count: u32,
    banned_until: Option<Instant>,
}

/// Requests per source IP per second, and the sources banned for exceeding them.
#[derive(Debug)]
pub(crate) struct SourceLimiter {
    limits: Limits,
    sources: HashMap<IpAddr, Source>,
    /// Addresses with a registered device, until when.
    registered: HashMap<IpAddr, Instant>,
    exempt: Vec<IpAddr>,
    max_sources: usize,
}

impl SourceLimiter {
    pub(crate) fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, MAX_SOURCES)
    }

    /// Like [`Self::new`] counting at most `max_sources` sources (tests).
    pub(crate) fn with_capacity(limits: Limits, max_sources: usize) -> Self {
        Self {
            limits,
            sources: HashMap::new(),
            registered: HashMap::new(),
            exempt: Vec::new(),
            max_sources: max_sources.max(1),
        }
    }

    /// New limits (a reload); bans in force stay.
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// The trusted peers: never limited.
    pub(crate) fn set_exempt(&mut self, exempt: Vec<IpAddr>) {
        self.exempt = exempt;
    }

    /// A device at `ip` registered until `until`: its address gets [`REGISTERED_WEIGHT`]
    /// times the rate. `true` when that is news worth telling the other core shards (their
    /// sockets may be the ones this address sends to): the address was not known, or its time
    /// moved on by more than a minute.
    pub(crate) fn registered(&mut self, now: Instant, ip: IpAddr, until: Instant) -> bool {
        if self.registered.len() >= MAX_REGISTERED && !self.registered.contains_key(&ip) {
            self.registered.retain(|_, u| *u > now);
            if self.registered.len() >= MAX_REGISTERED {
                return false;
            }
        }
        let e = self.registered.entry(ip).or_insert(now);
        let news = until > *e + Duration::from_secs(60) || *e <= now;
        *e = (*e).max(until);
        news
    }

    /// Counts one request from `ip` at `now`.
    pub(crate) fn check(&mut self, now: Instant, ip: IpAddr) -> Verdict {
        let rate = self.limits.rate;
        if rate == 0 || self.exempt.contains(&ip) {
            return Verdict::Pass;
        }
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.max_sources {
            self.sweep(now);
            if self.sources.len() >= self.max_sources {
                return Verdict::Pass;
            }
        }
        let s = self.sources.entry(ip).or_insert(Source {
            window_start: now,
            count: 0,
            banned_until: None,
        });
        if let Some(until) = s.banned_until {
            if now < until {
                return Verdict::Drop;
            }
            *s = Source {
                window_start: now,
                count: 0,
                banned_until: None,
            };
        }
        if now.duration_since(s.window_start) >= WINDOW {
            s.window_start = now;
            s.count = 0;
        }
        s.count += 1;
        if s.count <= rate {
            return Verdict::Pass;
        }
        // over the plain rate: a registered device's address may send more
        let limit = match self.registered.get(&ip) {
            Some(until) if *until > now => rate.saturating_mul(REGISTERED_WEIGHT),
            _ => rate,
        };
        if s.count <= limit {
            return Verdict::Pass;
        }
        let until = now + self.limits.ban;
        s.banned_until = Some(until);
        Verdict::Banned { until }
    }

    /// Forgets sources whose window and ban are over, and expired registrations.
    fn sweep(&mut self, now: Instant) {
        self.sources.retain(|_, s| match s.banned_until {
            Some(u) => u > now,
            None => now.duration_since(s.window_start) < WINDOW,
        });
        self.registered.retain(|_, u| *u > now);
    }

    /// Sources counted now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        rate: 5,
        ban: Duration::from_secs(60),
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn over_the_rate_bans_that_source_once_until_the_ban_ends() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(LIMITS);
        for i in 0..5 {
            assert_eq!(l.check(ms(t0, i), ip(1)), Verdict::Pass);
        }
        assert_eq!(
            l.check(ms(t0, 10), ip(1)),
            Verdict::Banned {
                until: ms(t0, 60_010)
            }
        );
        // reported once; dropped for the whole ban, whatever it sends
        assert_eq!(l.check(ms(t0, 11), ip(1)), Verdict::Drop);
        assert_eq!(l.check(ms(t0, 30_000), ip(1)), Verdict::Drop);
        // another source is not affected
        assert_eq!(l.check(ms(t0, 12), ip(2)), Verdict::Pass);
        // the ban ends: counted afresh
        assert_eq!(l.check(ms(t0, 60_010), ip(1)), Verdict::Pass);
    }

    #[test]
    fn the_rate_is_per_second() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(LIMITS);
        for s in 0..20 {
            for i in 0..5 {
                assert_eq!(l.check(ms(t0, s * 1000 + i * 100), ip(1)), Verdict::Pass);
            }
        }
    }

    #[test]
    fn registered_addresses_are_weighted_trusted_ones_exempt() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(LIMITS);
        l.registered(t0, ip(1), ms(t0, 3_600_000));
        l.set_exempt(vec![ip(2)]);
        for i in 0..50 {
            assert_eq!(l.check(t0, ip(1)), Verdict::Pass, "{i}");
            assert_eq!(l.check(t0, ip(2)), Verdict::Pass);
        }
        assert!(matches!(l.check(t0, ip(1)), Verdict::Banned { .. }));
        for _ in 0..1000 {
            assert_eq!(l.check(t0, ip(2)), Verdict::Pass);
        }
        // a registration that expired no longer weighs
        let mut l = SourceLimiter::new(LIMITS);
        l.registered(t0, ip(3), ms(t0, 10));
        for _ in 0..5 {
            assert_eq!(l.check(ms(t0, 20), ip(3)), Verdict::Pass);
        }
        assert!(matches!(l.check(ms(t0, 20), ip(3)), Verdict::Banned { .. }));
    }

    #[test]
    fn a_registration_is_news_when_new_expired_or_a_minute_longer() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(LIMITS);
        assert!(l.registered(t0, ip(1), ms(t0, 3_600_000)), "new");
        assert!(
            !l.registered(ms(t0, 5), ip(1), ms(t0, 3_600_005)),
            "the same hour"
        );
        assert!(
            l.registered(ms(t0, 5), ip(1), ms(t0, 3_700_000)),
            "100 s longer"
        );
        assert!(
            l.registered(ms(t0, 3_800_000), ip(1), ms(t0, 3_800_010)),
            "expired before"
        );
    }

    #[test]
    fn zero_rate_is_off() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(Limits {
            rate: 0,
            ban: Duration::from_secs(1),
        });
        for _ in 0..10_000 {
            assert_eq!(l.check(t0, ip(1)), Verdict::Pass);
        }
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn counted_sources_are_bounded_and_bans_kept() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::with_capacity(LIMITS, 4);
        for _ in 0..6 {
            let _ = l.check(t0, ip(1));
        }
        assert_eq!(l.check(t0, ip(1)), Verdict::Drop);
        for i in 2..200u8 {
            let _ = l.check(t0, ip(i));
            assert!(l.len() <= 4);
        }
        // the banned source was kept; a full table of live sources lets newcomers pass
        assert_eq!(l.check(ms(t0, 5), ip(1)), Verdict::Drop);
        for _ in 0..100 {
            assert_eq!(l.check(ms(t0, 5), ip(250)), Verdict::Pass);
        }
        // a second later the spent sources are swept and the newcomer is counted
        let later = ms(t0, 2000);
        for _ in 0..5 {
            assert_eq!(l.check(later, ip(251)), Verdict::Pass);
        }
        assert!(matches!(l.check(later, ip(251)), Verdict::Banned { .. }));
    }
}
