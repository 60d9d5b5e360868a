//! Tags for responses a server makes up itself.

use crate::Message;

impl Message {
    /// A To tag derived from the request's top-Via branch and Call-ID: every retransmission of
    /// one request gets the same tag, with no state kept (RFC 3261 §8.2.6.2 asks only that a
    /// tag be globally unique per dialog; stateless answers need it repeatable too).
    pub fn stable_tag(&self) -> String {
        self.stable_tag_for(0, 1)
    }

    /// [`Self::stable_tag`] naming shard `shard` of `shards` (not necessarily the shard the
    /// request's key names): for an answer given by the shard that holds the request, whose
    /// ACK, routed by this tag, comes back there ([`crate::shard::index`] reads the tag;
    /// [`crate::Ids::stable_tag`] names the generator's shard).
    pub fn stable_tag_for(&self, shard: usize, shards: usize) -> String {
        let branch = self.top_branch().unwrap_or("");
        // FNV-1a, 64 bit
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in branch
            .bytes()
            .chain([0])
            .chain(self.call_id().unwrap_or("").bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        if shards > 1 {
            // 16 hex digits that name the owner (`shard::place`), the same for a retransmission
            h = crate::shard::place(h, shard, shards);
        }
        format!("{h:016x}")
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::Message;

    fn req(branch: &str, call_id: &str) -> Message {
        Message::parse(Bytes::from(format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch={branch}\r\nCall-ID: {call_id}\r\n\r\n"
        )))
        .unwrap()
    }

    #[test]
    fn same_request_same_tag_other_request_other_tag() {
        assert_eq!(
            req("z9hG4bK1", "c1").stable_tag(),
            req("z9hG4bK1", "c1").stable_tag()
        );
        assert_ne!(
            req("z9hG4bK1", "c1").stable_tag(),
            req("z9hG4bK2", "c1").stable_tag()
        );
        assert_ne!(
            req("z9hG4bK1", "c1").stable_tag(),
            req("z9hG4bK1", "c2").stable_tag()
        );
        assert_eq!(req("z9hG4bK1", "c1").stable_tag().len(), 16);
    }

    /// INVITE number `i` (its own branch and Call-ID), without a To tag.
    fn invite(i: usize) -> Message {
        Message::parse(Bytes::from(format!(
            "INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{i}\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:bob@x>\r\nCall-ID: call{i}\r\nCSeq: 1 INVITE\r\n\r\n"
        )))
        .unwrap()
    }

    #[test]
    fn with_shards_the_ack_of_a_refusal_goes_to_the_shard_that_answered() {
        for i in 0..50 {
            let invite = invite(i);
            for shards in 1..=4 {
                for shard in 0..shards {
                    let ids = crate::Ids::for_shard(i as u64, shard, shards);
                    let tag = ids.stable_tag(&invite);
                    assert_eq!(tag, ids.stable_tag(&invite), "repeatable");
                    assert_eq!(tag.len(), 16);
                    let ack = Message::parse(Bytes::from(format!(
                        "ACK sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{i}\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:bob@x>;tag={tag}\r\nCall-ID: call{i}\r\nCSeq: 1 ACK\r\n\r\n"
                    )))
                    .unwrap();
                    // whichever shard the INVITE's Call-ID names
                    assert_eq!(crate::shard::owner(&ack, shards), shard, "{shards} shards");
                }
            }
            assert_eq!(crate::Ids::new(1).stable_tag(&invite), invite.stable_tag());
        }
    }

    #[test]
    fn a_tag_for_a_shard_names_that_shard_whatever_the_owner() {
        for i in 0..50 {
            let invite = invite(i);
            for shards in 2..=5 {
                for shard in 0..shards {
                    let tag = invite.stable_tag_for(shard, shards);
                    assert_eq!(tag, invite.stable_tag_for(shard, shards), "repeatable");
                    assert_eq!(crate::shard::index(&tag, shards), shard, "{tag}");
                }
            }
            assert_eq!(invite.stable_tag_for(0, 1), invite.stable_tag());
        }
    }
}
