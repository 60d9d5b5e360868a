//! Tags, Via branches and Call-IDs for the legs we originate: the one generator of every core
//! ([`sip_message::Ids`]), plus the RSeq of our reliable provisionals.

use sip_message::Ids;

/// The first RSeq of a leg's reliable provisionals: 1 to 2^31 - 1 (RFC 3262 §3), with room
/// below 2^32 for the ones that follow.
#[must_use]
pub(crate) fn rseq(ids: &mut Ids) -> u32 {
    (ids.next_u64() % 0x7fff_fffe) as u32 + 1
}
