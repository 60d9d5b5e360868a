//! Tags, Via branches and Call-IDs for the legs we originate.

/// A xorshift64* generator: unpredictable enough for tags given a random seed, and cheap.
/// Every value is one step of the generator written as 16 hex digits, so the order of calls
/// decides which value goes where.
#[derive(Debug)]
pub(crate) struct Ids {
    state: u64,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A From/To tag.
    #[must_use]
    pub(crate) fn tag(&mut self) -> String {
        format!("{:016x}", self.next())
    }

    /// A top Via branch (RFC 3261 magic cookie, then a tag).
    #[must_use]
    pub(crate) fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.next())
    }

    /// A B-leg Call-ID.
    #[must_use]
    pub(crate) fn call_id(&mut self) -> String {
        format!("{:016x}@ferroswitch", self.next())
    }

    /// The first RSeq of a leg's reliable provisionals: 1 to 2^31 - 1 (RFC 3262 §3), with
    /// room below 2^32 for the ones that follow.
    #[must_use]
    pub(crate) fn rseq(&mut self) -> u32 {
        (self.next() % 0x7fff_fffe) as u32 + 1
    }
}
