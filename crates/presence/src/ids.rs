//! Tokens the core makes up: dialog tags, Via branches, entity-tags, multipart boundaries.

/// xorshift64* over a seed: a full period of 2⁶⁴−1, so no value repeats within one server.
/// Not a CSPRNG: tags and entity-tags must be unique, not secret (RFC 3261 §19.3 asks tags to
/// be globally unique; a login can only touch its own entity-tags).
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    state: u64,
}

/// The RFC 3261 magic cookie that starts every branch.
pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";

impl Tokens {
    pub(crate) fn new(seed: u64) -> Self {
        // scramble the seed (splitmix64) so nearby seeds give unrelated streams; never zero
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self { state: z | 1 }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// 16 lower-case hex digits.
    pub(crate) fn hex(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }

    /// A fresh Via branch: the magic cookie and 16 hex digits.
    pub(crate) fn branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{:016x}", self.next_u64())
    }
}

/// FNV-1a, 64 bit: a stable short name for a string (RLMI instance ids).
pub(crate) fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_do_not_repeat_and_branches_carry_the_cookie() {
        let mut t = Tokens::new(0);
        let a: std::collections::HashSet<u64> = (0..10_000).map(|_| t.next_u64()).collect();
        assert_eq!(a.len(), 10_000);
        let b = t.branch();
        assert!(b.starts_with(MAGIC_COOKIE) && b.len() == 23, "{b}");
        assert_ne!(Tokens::new(1).hex(), Tokens::new(2).hex());
    }
}
