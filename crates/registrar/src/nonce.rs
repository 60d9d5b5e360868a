//! Stateless, HMAC-signed, expiring nonces with nonce-count replay protection in constant
//! memory (Kamailio's `nonce_count` design: a nonce id indexes a ring of last-seen counts).

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How many nonce ids keep a replay slot; older nonces are reported stale.
const RING: usize = 1 << 20;

/// The verdict on a nonce and its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    /// Ours but expired or its replay slot was recycled: challenge again with `stale=true`.
    Stale,
    /// Count not above the last one seen: a replay. Challenge again with `stale=true`.
    Replayed,
    /// Not made by us (bad MAC or format).
    Invalid,
}

/// Issues and verifies nonces: `hex(expiry secs, 8) hex(epoch, 8) hex(nid, 8) hex(mac, 32)`.
/// The expiry counts seconds from the keeper's first nonce (its `origin`, an `Instant`): a
/// nonce is only ever judged by the keeper that issued it (see the epoch below), so it needs
/// no wall clock.
///
/// The epoch is drawn at random when the keeper is made: the replay ring lives in memory, so
/// a nonce of an earlier process (same secret, before a restart) must not find a fresh slot
/// under a recycled nonce id here. Such nonces are reported [`NonceCheck::Stale`].
///
/// A clone shares the origin, the epoch, the nonce ids and the replay ring (atomics, no lock):
/// the registrars of several core shards issue and judge one set of nonces, so a phone's
/// nonce from a REGISTER is good for its INVITE on another shard.
#[derive(Debug, Clone)]
pub struct NonceKeeper {
    key: Keyed,
    lifetime_ms: u64,
    shared: Arc<Ring>,
}

/// What the clones of a keeper share.
#[derive(Debug)]
struct Ring {
    /// The `Instant` of the first nonce: expiries count from it.
    origin: OnceLock<Instant>,
    epoch: u32,
    next_nid: AtomicU32,
    last_nc: Box<[AtomicU8]>,
}

const NONCE_LEN: usize = 56;
const HEAD_LEN: usize = 24;

/// The HMAC state after the key: cloned per nonce, so the key's two blocks are hashed once per
/// keeper, not once per nonce.
#[derive(Clone)]
struct Keyed(HmacSha256);

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyed(..)")
    }
}

/// A nonce judged good, to be recorded with [`NonceKeeper::record`] once the credentials are
/// proved genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Judged {
    slot: usize,
    nc: u8,
}

impl NonceKeeper {
    pub fn new(secret: &[u8], lifetime_ms: u64) -> Self {
        Self::with_epoch(secret, lifetime_ms, rand::random())
    }

    /// Like [`Self::new`] with a chosen epoch (tests, or a driver that keeps its own).
    pub fn with_epoch(secret: &[u8], lifetime_ms: u64, epoch: u32) -> Self {
        Self {
            key: Keyed(HmacSha256::new_from_slice(secret).expect("HMAC takes any key length")),
            lifetime_ms,
            shared: Arc::new(Ring {
                origin: OnceLock::new(),
                epoch,
                next_nid: AtomicU32::new(0),
                last_nc: (0..RING).map(|_| AtomicU8::new(0)).collect(),
            }),
        }
    }

    /// The first 16 bytes of HMAC-SHA256(secret, head).
    fn mac(&self, head: &str) -> [u8; 16] {
        let mut m = self.key.0.clone();
        m.update(head.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// Nonces issued from now on are valid this long (those already out keep their expiry).
    pub fn set_lifetime(&mut self, lifetime_ms: u64) {
        self.lifetime_ms = lifetime_ms;
    }

    /// Milliseconds from the keeper's origin to `now` (0 before the first nonce).
    fn elapsed_ms(&self, now: Instant) -> u64 {
        self.shared
            .origin
            .get()
            .map_or(0, |o| now.saturating_duration_since(*o).as_millis() as u64)
    }

    /// A fresh nonce valid for the configured lifetime from `now`.
    pub fn issue(&mut self, now: Instant) -> String {
        self.shared.origin.get_or_init(|| now);
        let now_ms = self.elapsed_ms(now);
        let nid = self.shared.next_nid.fetch_add(1, Relaxed);
        self.shared.last_nc[nid as usize % RING].store(0, Relaxed);
        let expiry = (now_ms + self.lifetime_ms) / 1000;
        let mut nonce = String::with_capacity(NONCE_LEN);
        for field in [expiry as u32, self.shared.epoch, nid] {
            push_hex(&mut nonce, &field.to_be_bytes());
        }
        let mac = self.mac(&nonce);
        push_hex(&mut nonce, &mac);
        nonce
    }

    /// Judges `nonce` and, with qop, its count `nc` without recording anything: on
    /// `Ok`, the replay slot and the count to record (by [`Self::check`]) once the credentials proved
    /// genuine. A failed attempt thus never uses up a count of the legitimate user.
    fn judge(&self, now: Instant, nonce: &str, nc: Option<u32>) -> Result<(usize, u8), NonceCheck> {
        if nonce.len() != NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NonceCheck::Invalid);
        }
        let (head, mac) = nonce.split_at(HEAD_LEN);
        let mut expected = String::with_capacity(NONCE_LEN - HEAD_LEN);
        push_hex(&mut expected, &self.mac(head));
        if !sip_message::digest::eq_hex(&expected, mac) {
            return Err(NonceCheck::Invalid);
        }
        let field = |i: usize| u32::from_str_radix(&head[i * 8..(i + 1) * 8], 16);
        let (Ok(expiry), Ok(epoch), Ok(nid)) = (field(0), field(1), field(2)) else {
            return Err(NonceCheck::Invalid);
        };
        if u64::from(expiry) * 1000 < self.elapsed_ms(now) || epoch != self.shared.epoch {
            return Err(NonceCheck::Stale);
        }
        let age = self.shared.next_nid.load(Relaxed).wrapping_sub(nid);
        if age as usize >= RING || age == 0 {
            return Err(NonceCheck::Stale);
        }
        let slot = nid as usize % RING;
        // Without qop the nonce is single-use (count 1).
        let nc = nc.unwrap_or(1);
        let Ok(nc) = u8::try_from(nc) else {
            return Err(NonceCheck::Stale);
        };
        if nc <= self.shared.last_nc[slot].load(Relaxed) {
            return Err(NonceCheck::Replayed);
        }
        Ok((slot, nc))
    }

    /// [`Self::verify`], keeping what [`Self::record`] needs: the registrar judges a nonce
    /// once, checks the digest, then records the count without judging the nonce again.
    pub(crate) fn judge_for_record(
        &self,
        now: Instant,
        nonce: &str,
        nc: Option<u32>,
    ) -> Result<Judged, NonceCheck> {
        self.judge(now, nonce, nc)
            .map(|(slot, nc)| Judged { slot, nc })
    }

    /// Records the count of a nonce judged by [`Self::judge_for_record`] (nothing else may
    /// have touched the keeper in between).
    pub(crate) fn record(&mut self, judged: Judged) {
        // the highest count wins when two shards record the same nonce at once
        self.shared.last_nc[judged.slot].fetch_max(judged.nc, Relaxed);
    }

    /// The verdict on `nonce` and `nc`, recording nothing; [`Self::check`]
    /// records.
    pub fn verify(&self, now: Instant, nonce: &str, nc: Option<u32>) -> NonceCheck {
        match self.judge(now, nonce, nc) {
            Ok(_) => NonceCheck::Valid,
            Err(e) => e,
        }
    }

    /// Checks `nonce` and, with qop, its count `nc`; a valid count is recorded.
    pub fn check(&mut self, now: Instant, nonce: &str, nc: Option<u32>) -> NonceCheck {
        match self.judge(now, nonce, nc) {
            Ok((slot, nc)) => {
                self.shared.last_nc[slot].fetch_max(nc, Relaxed);
                NonceCheck::Valid
            }
            Err(e) => e,
        }
    }
}

/// Appends lower-case hex digits of `bytes`.
fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;
    use std::time::Duration;

    static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

    /// `ms` after a fixed instant.
    fn at(ms: u64) -> Instant {
        *BASE + Duration::from_millis(ms)
    }

    #[test]
    fn issue_check_replay_expire() {
        let mut k = NonceKeeper::new(b"secret", 30_000);
        let n = k.issue(at(1_000_000));
        assert_eq!(k.check(at(1_000_500), &n, Some(1)), NonceCheck::Valid);
        assert_eq!(k.check(at(1_000_600), &n, Some(1)), NonceCheck::Replayed);
        assert_eq!(k.check(at(1_000_700), &n, Some(2)), NonceCheck::Valid);
        assert_eq!(k.check(at(1_040_000), &n, Some(3)), NonceCheck::Stale);
        let mut tampered = n.clone();
        tampered.replace_range(0..1, if n.starts_with('0') { "1" } else { "0" });
        assert_eq!(
            k.check(at(1_000_800), &tampered, Some(9)),
            NonceCheck::Invalid
        );
        let other = NonceKeeper::new(b"other", 30_000).issue(at(1_000_000));
        assert_eq!(k.check(at(1_000_800), &other, Some(1)), NonceCheck::Invalid);
    }

    #[test]
    fn nonces_keep_their_format() {
        // expiry (s after the first nonce), epoch, nid as 8 hex digits each, then 16 bytes
        // of HMAC-SHA256 in hex
        let mut k = NonceKeeper::with_epoch(b"secret", 30_000, 0xdead_beef);
        let n = k.issue(at(1_000_000));
        assert_eq!(n.len(), NONCE_LEN);
        assert_eq!(&n[..HEAD_LEN], "0000001edeadbeef00000000");
        let mut m = HmacSha256::new_from_slice(b"secret").unwrap();
        m.update(&n.as_bytes()[..HEAD_LEN]);
        assert_eq!(
            &n[HEAD_LEN..],
            hex::encode(&m.finalize().into_bytes()[..16])
        );
        let judged = k.judge_for_record(at(1_000_001), &n, Some(1)).unwrap();
        k.record(judged);
        assert_eq!(k.verify(at(1_000_002), &n, Some(1)), NonceCheck::Replayed);
    }

    #[test]
    fn verify_records_nothing() {
        let mut k = NonceKeeper::new(b"s", 30_000);
        let n = k.issue(at(0));
        assert_eq!(k.verify(at(1), &n, Some(5)), NonceCheck::Valid);
        assert_eq!(k.verify(at(1), &n, Some(1)), NonceCheck::Valid);
        assert_eq!(k.check(at(1), &n, Some(5)), NonceCheck::Valid);
        assert_eq!(k.verify(at(1), &n, Some(5)), NonceCheck::Replayed);
        assert_eq!(k.verify(at(1), &n, Some(256)), NonceCheck::Stale);
        assert_eq!(k.verify(at(1), &n, None), NonceCheck::Replayed);
    }

    #[test]
    fn nonce_of_an_earlier_process_is_stale() {
        // same secret, new process (new epoch): the recycled nonce id must not be reused
        let mut before = NonceKeeper::with_epoch(b"s", 30_000, 1);
        let old = before.issue(at(0));
        let mut after = NonceKeeper::with_epoch(b"s", 30_000, 2);
        let _ = after.issue(at(0));
        assert_eq!(after.check(at(1), &old, Some(1)), NonceCheck::Stale);
        assert_eq!(before.check(at(1), &old, Some(1)), NonceCheck::Valid);
    }

    #[test]
    fn clones_share_nonces_and_their_counts() {
        let mut a = NonceKeeper::new(b"s", 30_000);
        let mut b = a.clone();
        let n = a.issue(at(0));
        assert_eq!(
            b.check(at(1), &n, Some(1)),
            NonceCheck::Valid,
            "issued by a clone"
        );
        assert_eq!(
            a.check(at(2), &n, Some(1)),
            NonceCheck::Replayed,
            "counted by a clone"
        );
        let m = b.issue(at(3));
        assert_ne!(m, n, "one sequence of nonce ids");
        assert_eq!(a.check(at(4), &m, Some(1)), NonceCheck::Valid);
        let other = NonceKeeper::new(b"s", 30_000);
        assert_eq!(
            other.verify(at(5), &m, Some(2)),
            NonceCheck::Stale,
            "another keeper's epoch"
        );
    }

    #[test]
    fn recycled_slot_is_stale() {
        let mut k = NonceKeeper::new(b"s", 3_600_000);
        let first = k.issue(at(0));
        // as if RING more nonces had been issued since (each resets its slot)
        k.shared.next_nid.fetch_add(RING as u32, Relaxed);
        assert_eq!(k.check(at(1), &first, Some(1)), NonceCheck::Stale);
        k.shared.next_nid.fetch_sub(2, Relaxed);
        assert_eq!(
            k.verify(at(1), &first, Some(1)),
            NonceCheck::Valid,
            "still its own slot"
        );
    }
}
