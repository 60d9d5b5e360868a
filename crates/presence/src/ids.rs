//! Tokens the core makes up: dialog tags, Via branches, entity-tags, multipart boundaries.

/// Tags, branches, entity-tags, RLMI nonces and boundaries come from the one generator of
/// every core ([`sip_message::Ids`]): unique, not secret (RFC 3261 §19.3 asks tags to be
/// globally unique; a login can only touch its own entity-tags).
pub(crate) use sip_message::Ids as Tokens;

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
    fn fnv_is_stable() {
        assert_eq!(fnv64(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv64("a"), fnv64("b"));
    }
}
