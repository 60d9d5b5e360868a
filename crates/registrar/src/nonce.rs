//! Stateless, HMAC-signed, expiring nonces with nonce-count replay protection in constant
//! memory (Kamailio's `nonce_count` design: a nonce id indexes a ring of last-seen counts).

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

/// Issues and verifies nonces: `hex(expiry secs, 8) hex(nid, 8) hex(mac, 32)`.
#[derive(Debug)]
pub struct NonceKeeper {
    secret: Vec<u8>,
    lifetime_ms: u64,
    next_nid: u32,
    last_nc: Vec<u8>,
}

impl NonceKeeper {
    pub fn new(secret: &[u8], lifetime_ms: u64) -> Self {
        Self { secret: secret.to_vec(), lifetime_ms, next_nid: 0, last_nc: vec![0; RING] }
    }

    fn mac(&self, head: &str) -> String {
        let mut m = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        m.update(head.as_bytes());
        hex::encode(&m.finalize().into_bytes()[..16])
    }

    /// A fresh nonce valid for the configured lifetime from `now_ms`.
    pub fn issue(&mut self, now_ms: u64) -> String {
        let nid = self.next_nid;
        self.next_nid = self.next_nid.wrapping_add(1);
        self.last_nc[nid as usize % RING] = 0;
        let expiry = (now_ms + self.lifetime_ms) / 1000;
        let head = format!("{:08x}{nid:08x}", expiry as u32);
        let mac = self.mac(&head);
        head + &mac
    }

    /// Checks `nonce` and, with qop, its count `nc`; a valid count is recorded.
    pub fn check(&mut self, now_ms: u64, nonce: &str, nc: Option<u32>) -> NonceCheck {
        if nonce.len() != 48 || !nonce.is_ascii() {
            return NonceCheck::Invalid;
        }
        let (head, mac) = nonce.split_at(16);
        if !sip_message::digest::eq_hex(&self.mac(head), mac) {
            return NonceCheck::Invalid;
        }
        let (Ok(expiry), Ok(nid)) = (u32::from_str_radix(&head[..8], 16), u32::from_str_radix(&head[8..], 16))
        else {
            return NonceCheck::Invalid;
        };
        if u64::from(expiry) * 1000 < now_ms {
            return NonceCheck::Stale;
        }
        if self.next_nid.wrapping_sub(nid) as usize >= RING || self.next_nid.wrapping_sub(nid) == 0 {
            return NonceCheck::Stale;
        }
        let slot = &mut self.last_nc[nid as usize % RING];
        // Without qop the nonce is single-use (count 1).
        let nc = nc.unwrap_or(1);
        if nc > 255 {
            return NonceCheck::Stale;
        }
        if nc <= u32::from(*slot) {
            return NonceCheck::Replayed;
        }
        *slot = nc as u8;
        NonceCheck::Valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_check_replay_expire() {
        let mut k = NonceKeeper::new(b"secret", 30_000);
        let n = k.issue(1_000_000);
        assert_eq!(k.check(1_000_500, &n, Some(1)), NonceCheck::Valid);
        assert_eq!(k.check(1_000_600, &n, Some(1)), NonceCheck::Replayed);
        assert_eq!(k.check(1_000_700, &n, Some(2)), NonceCheck::Valid);
        assert_eq!(k.check(1_040_000, &n, Some(3)), NonceCheck::Stale);
        let mut tampered = n.clone();
        tampered.replace_range(0..1, if n.starts_with('0') { "1" } else { "0" });
        assert_eq!(k.check(1_000_800, &tampered, Some(9)), NonceCheck::Invalid);
        let other = NonceKeeper::new(b"other", 30_000).issue(1_000_000);
        assert_eq!(k.check(1_000_800, &other, Some(1)), NonceCheck::Invalid);
    }

    #[test]
    fn recycled_slot_is_stale() {
        let mut k = NonceKeeper::new(b"s", 3_600_000);
        let first = k.issue(0);
        for _ in 0..RING {
            k.issue(0);
        }
        assert_eq!(k.check(1, &first, Some(1)), NonceCheck::Stale);
    }
}
