//! Tags for responses a server makes up itself.

use crate::Message;

impl Message {
    /// A To tag derived from the request's top-Via branch and Call-ID: every retransmission of
    /// one request gets the same tag, with no state kept (RFC 3261 §8.2.6.2 asks only that a
    /// tag be globally unique per dialog; stateless answers need it repeatable too).
    pub fn stable_tag(&self) -> String {
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
}
