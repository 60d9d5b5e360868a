//! Fresh tokens for the messages we originate: dialog tags, Via branches, Call-IDs, and the
//! other unique strings the cores make up (entity-tags, multipart boundaries, nonces). One
//! generator for every core: the transaction layer, the B2BUA, presence and messaging each
//! own an [`Ids`] seeded at start.
//!
//! A value is a counter started at a random key, passed through a bijective mixer (the
//! splitmix64 finaliser): no value repeats within 2⁶⁴ draws of one generator, and the values
//! are not guessable from one another without the key. A shard's generator
//! ([`Ids::for_shard`]) writes its shard into the low 32 bits of its tags, branches and
//! Call-IDs (`crate::shard::place`), which keep 64 − log₂(shards) random bits (59 at 32
//! shards): two alike among a million alive at once is about a one-in-a-million chance. Not a
//! CSPRNG: tags, branches and Call-IDs must be unique (RFC 3261 §19.3), not secret. A
//! [`Token`] is written on the stack as hex, without the formatting machinery and without a
//! heap allocation.

use std::fmt;
use std::hash::BuildHasher;
use std::ops::Deref;

/// The RFC 3261 magic cookie that starts every branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The host part of the Call-IDs we make up ([`Ids::call_id`]).
pub(crate) const CALL_ID_HOST: &str = "@ferroswitch";

/// The generator (see the module doc).
#[derive(Debug, Clone)]
pub struct Ids {
    counter: u64,
    /// This generator's shard and the number of shards: its tags, branches and Call-IDs hash
    /// back to `shard` ([`crate::shard::index`]), so their messages find it ([`Self::for_shard`]).
    shard: usize,
    shards: usize,
}

impl Ids {
    /// A generator keyed from the process' random keys (`RandomState`).
    pub fn random() -> Self {
        Self::new(std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
    }

    /// A generator keyed with `seed`: the same seed gives the same values (deterministic
    /// tests); nearby seeds give unrelated streams.
    pub fn new(seed: u64) -> Self {
        Self {
            counter: mix(seed),
            shard: 0,
            shards: 1,
        }
    }

    /// A generator for shard `shard` of `shards`: each tag, branch and Call-ID it makes hashes
    /// back to `shard`, so the responses and in-dialog requests they name are routed to the
    /// shard that made them (`crate::shard`).
    pub fn for_shard(seed: u64, shard: usize, shards: usize) -> Self {
        Self {
            shard: if shards > 1 { shard } else { 0 },
            shards: shards.max(1),
            ..Self::new(seed)
        }
    }

    /// The same generator moved to shard `shard` of `shards` (see [`Self::for_shard`]).
    pub fn set_shard(&mut self, shard: usize, shards: usize) {
        self.shard = if shards > 1 { shard } else { 0 };
        self.shards = shards.max(1);
    }

    /// How many shards this generator's tokens are spread over (1 without shards).
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// A To tag for a response `req` gets from this generator's shard, the same for every
    /// retransmission ([`crate::Message::stable_tag_for`]): it names this shard, which holds
    /// the transaction, so the ACK of a refused INVITE (routed by its To tag) comes back here,
    /// whichever shard `req`'s own key names (a shard keeps an INVITE that landed on it while
    /// the shards are merged).
    pub fn stable_tag(&self, req: &crate::Message) -> String {
        req.stable_tag_for(self.shard, self.shards)
    }

    /// This generator's shard, `None` without shards.
    pub fn shard(&self) -> Option<usize> {
        (self.shards > 1).then_some(self.shard)
    }

    /// The next token of this shape, of this generator's shard (one draw: the shard is in
    /// its last digits, [`crate::shard::place`]).
    fn owned(&mut self, prefix: &str, suffix: &str) -> Token {
        let value = crate::shard::place(self.next_u64(), self.shard, self.shards);
        Token::new(prefix, value, suffix)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.counter)
    }

    /// 16 lower-case hex digits: a From/To tag, an entity-tag, a nonce.
    pub fn hex(&mut self) -> Token {
        Token::new("", self.next_u64(), "")
    }

    /// A From/To tag (16 hex digits).
    pub fn tag(&mut self) -> Token {
        self.owned("", "")
    }

    /// A top Via branch: the magic cookie, then 16 hex digits.
    pub fn branch(&mut self) -> Token {
        self.owned(MAGIC_COOKIE, "")
    }

    /// A Call-ID: 16 hex digits `@ferroswitch`.
    pub fn call_id(&mut self) -> Token {
        self.owned("", CALL_ID_HOST)
    }
}

/// splitmix64's finaliser: a bijection on `u64` that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A made-up token, kept inline: a prefix, 16 hex digits, a suffix (at most 32 bytes). It
/// reads as a `&str` (`Deref`), prints with `Display`, and becomes a `String` with
/// `to_string()` or `String::from` where one is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    buf: [u8; Self::CAP],
    len: u8,
}

impl Token {
    const CAP: usize = 32;

    fn new(prefix: &str, value: u64, suffix: &str) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; Self::CAP];
        let (p, s) = (prefix.len(), suffix.len());
        debug_assert!(p + 16 + s <= Self::CAP);
        buf[..p].copy_from_slice(prefix.as_bytes());
        for (i, d) in buf[p..p + 16].iter_mut().enumerate() {
            *d = HEX[((value >> (60 - 4 * i)) & 0xf) as usize];
        }
        buf[p + 16..p + 16 + s].copy_from_slice(suffix.as_bytes());
        Self {
            buf,
            len: (p + 16 + s) as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // ASCII only: the prefixes and suffixes are constants, the rest hex digits
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Deref for Token {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Token {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<Token> for String {
    fn from(t: Token) -> Self {
        t.as_str().to_owned()
    }
}

impl PartialEq<str> for Token {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Token {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_shards_tokens_do_not_repeat_and_keep_their_shape() {
        let mut ids = Ids::for_shard(11, 3, 32);
        let mut seen = HashSet::new();
        for _ in 0..5_000 {
            let (tag, branch, call_id) = (ids.tag(), ids.branch(), ids.call_id());
            assert!(branch.starts_with(MAGIC_COOKIE) && call_id.ends_with(CALL_ID_HOST));
            assert_eq!(tag.len(), 16);
            assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
            for t in [tag, branch, call_id] {
                assert!(seen.insert(t.to_string()), "{t} twice");
            }
        }
    }

    #[test]
    fn a_shards_token_takes_one_draw_whatever_the_number_of_shards() {
        for shards in [2, 3, 32, 1_000] {
            let shard = shards - 1;
            let mut ids = Ids::for_shard(5, shard, shards);
            let mut draws = Ids::new(5);
            for _ in 0..1_000 {
                let placed = crate::shard::place(draws.next_u64(), shard, shards);
                let tag = ids.tag();
                assert_eq!(tag.as_str(), format!("{placed:016x}"), "{shards} shards");
                assert_eq!(crate::shard::index(&tag, shards), shard);
            }
        }
    }

    #[test]
    fn values_do_not_repeat_and_read_as_hex() {
        let mut ids = Ids::new(7);
        let seen: HashSet<u64> = (0..100_000).map(|_| ids.next_u64()).collect();
        assert_eq!(seen.len(), 100_000);
        let mut ids = Ids::new(7);
        let v = {
            let mut copy = ids.clone();
            copy.next_u64()
        };
        assert_eq!(ids.hex().as_str(), format!("{v:016x}"));
    }

    #[test]
    fn shapes_of_tags_branches_and_call_ids() {
        let mut ids = Ids::new(1);
        let t = ids.tag();
        assert_eq!(t.len(), 16);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let b = ids.branch();
        assert!(b.starts_with(MAGIC_COOKIE) && b.len() == 23, "{b}");
        let c = ids.call_id();
        assert!(c.ends_with("@ferroswitch") && c.len() == 28, "{c}");
        assert_eq!(format!("<{c}>"), format!("<{}>", c.as_str()));
        assert_eq!(String::from(c), c.as_str());
    }

    #[test]
    fn seeds_give_their_own_streams() {
        assert_eq!(Ids::new(1).hex(), Ids::new(1).hex());
        assert_ne!(Ids::new(1).hex(), Ids::new(2).hex());
        assert_ne!(Ids::random().hex(), Ids::random().hex());
    }
}
