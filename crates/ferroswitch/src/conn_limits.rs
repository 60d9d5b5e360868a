//! Limits on TCP/TLS connections (issue 12 items 1 and 5): what one connection may hold in
//! memory and for how long, how many connections one address may open, and how many bytes
//! all of them may buffer together. The transports ([`crate::transport`]) apply them; the
//! dispatcher tells which connections are trusted ([`ConnState::mark`]).
//!
//! A connection starts *untrusted*: its messages may be at most
//! `unauthenticated_message_max` bytes, it is the first closed when the global cap on buffered
//! bytes is reached or file descriptors run out, and it is closed after `idle_timeout` without
//! a message. It becomes *trusted* once it carried an authenticated request or a registration
//! (full message size), and *registered* once a REGISTER over it succeeded (its idle time is
//! then the longest registration plus a minute: a device keeps its flow with CRLF pings). Every
//! message, trusted or not, must be whole within `message_timeout` of its first byte.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Notify;
use tokio::time::Instant;

/// `[security]` settings of the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamLimits {
    pub(crate) message_timeout: Duration,
    pub(crate) unauthenticated_message_max: usize,
    pub(crate) buffered_max: usize,
    pub(crate) per_ip: usize,
    pub(crate) idle_timeout: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        (&ferroswitch_config::SecuritySettings::default()).into()
    }
}

impl From<&ferroswitch_config::SecuritySettings> for StreamLimits {
    fn from(s: &ferroswitch_config::SecuritySettings) -> Self {
        Self {
            message_timeout: s.message_timeout,
            unauthenticated_message_max: s.unauthenticated_message_max as usize,
            buffered_max: (s.buffered_max_mb as usize) << 20,
            per_ip: s.connections_per_ip as usize,
            idle_timeout: s.idle_timeout,
        }
    }
}

/// The connection carried an authenticated request or a registration.
pub(crate) const TRUSTED: u8 = 1;
/// A REGISTER over the connection succeeded.
pub(crate) const REGISTERED: u8 = 2;

/// What the dispatcher and the connection's task share of one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    flags: AtomicU8,
    /// Milliseconds since [`Guard`]'s epoch of the last whole message or ping.
    last_active: AtomicU64,
    /// Told to close (shed when file descriptors run out).
    pub(crate) close: Notify,
}

impl ConnState {
    pub(crate) fn mark(&self, flags: u8) {
        self.flags.fetch_or(flags, Ordering::Relaxed);
    }

    pub(crate) fn flags(&self) -> u8 {
        self.flags.load(Ordering::Relaxed)
    }

    pub(crate) fn trusted(&self) -> bool {
        self.flags() & (TRUSTED | REGISTERED) != 0
    }
}

/// The limits in force and the counters all connections share.
#[derive(Debug)]
pub(crate) struct Guard {
    limits: ArcSwap<StreamLimits>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    buffered: AtomicUsize,
    epoch: Instant,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            limits: ArcSwap::from_pointee(StreamLimits::default()),
            per_ip: Mutex::new(HashMap::new()),
            buffered: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Guard {
    pub(crate) fn limits(&self) -> StreamLimits {
        **self.limits.load()
    }

    /// New limits (a reload): connections apply them from their next read.
    pub(crate) fn set_limits(&self, limits: StreamLimits) {
        self.limits.store(Arc::new(limits));
    }

    /// A slot for one more connection from `ip`, or `None` when it has `per_ip` already.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let max = self.limits().per_ip;
        let mut m = lock(&self.per_ip);
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            guard: self.clone(),
            ip,
        })
    }

    /// Bytes of messages in progress buffered by all connections.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// Records activity of `conn` now.
    pub(crate) fn touch(&self, conn: &ConnState, now: Instant) {
        let ms = now.duration_since(self.epoch).as_millis() as u64;
        conn.last_active.store(ms, Ordering::Relaxed);
    }

    /// How long `conn` has been idle at `now`.
    pub(crate) fn idle_for(&self, conn: &ConnState, now: Instant) -> Duration {
        let at = Duration::from_millis(conn.last_active.load(Ordering::Relaxed));
        now.duration_since(self.epoch).saturating_sub(at)
    }
}

/// One connection counted against its address; given back when dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    guard: Arc<Guard>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = lock(&self.guard.per_ip);
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// One connection's share of the global buffered bytes; given back when dropped.
#[derive(Debug)]
pub(crate) struct Buffered {
    guard: Arc<Guard>,
    mine: usize,
}

impl Buffered {
    pub(crate) fn new(guard: Arc<Guard>) -> Self {
        Self { guard, mine: 0 }
    }

    /// This connection now buffers `n` bytes; returns the total of all connections.
    pub(crate) fn set(&mut self, n: usize) -> usize {
        let total = if n >= self.mine {
            self.guard
                .buffered
                .fetch_add(n - self.mine, Ordering::Relaxed)
                + (n - self.mine)
        } else {
            self.guard
                .buffered
                .fetch_sub(self.mine - n, Ordering::Relaxed)
                - (self.mine - n)
        };
        self.mine = n;
        total
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// Why a connection must be closed now, if it must: the sans-IO judgement of one connection
/// after a read (`buffered` bytes of a message in progress since `started`, the total of all
/// connections `total`).
pub(crate) fn judge(
    limits: &StreamLimits,
    trusted: bool,
    buffered: usize,
    total: usize,
) -> Option<crate::metrics::limits::Closed> {
    use crate::metrics::limits::Closed;
    if trusted {
        return None;
    }
    if buffered > limits.unauthenticated_message_max {
        return Some(Closed::TooLarge);
    }
    if buffered > 0 && total > limits.buffered_max {
        return Some(Closed::Buffered);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::limits::Closed;

    #[test]
    fn per_ip_slots_are_capped_and_given_back() {
        let g = Arc::new(Guard::default());
        g.set_limits(StreamLimits {
            per_ip: 2,
            ..StreamLimits::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = g.admit(a).unwrap();
        let _s2 = g.admit(a).unwrap();
        assert!(g.admit(a).is_none());
        assert!(g.admit(b).is_some());
        drop(s1);
        assert!(g.admit(a).is_some());
    }

    #[test]
    fn buffered_bytes_are_summed_and_given_back() {
        let g = Arc::new(Guard::default());
        let mut one = Buffered::new(g.clone());
        let mut two = Buffered::new(g.clone());
        assert_eq!(one.set(100), 100);
        assert_eq!(two.set(50), 150);
        assert_eq!(one.set(10), 60);
        drop(two);
        assert_eq!(g.buffered(), 10);
        drop(one);
        assert_eq!(g.buffered(), 0);
    }

    #[test]
    fn untrusted_connections_are_judged_trusted_ones_not() {
        let l = StreamLimits {
            unauthenticated_message_max: 1000,
            buffered_max: 10_000,
            ..StreamLimits::default()
        };
        assert_eq!(judge(&l, false, 1000, 1000), None);
        assert_eq!(judge(&l, false, 1001, 1001), Some(Closed::TooLarge));
        assert_eq!(judge(&l, false, 10, 10_001), Some(Closed::Buffered));
        // a connection holding nothing is not the one to blame
        assert_eq!(judge(&l, false, 0, 10_001), None);
        assert_eq!(judge(&l, true, 100_000, 1 << 30), None);
    }
}
