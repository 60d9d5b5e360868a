//! Which of N core shards owns a message (docs/architecture.md, "Core shards").
//!
//! Every shard runs its own transaction layer, calls, presence and messaging. A datagram lands
//! on whichever shard's socket the kernel picked (`SO_REUSEPORT` hashes the 4-tuple), so each
//! shard recomputes the owner from the message itself and hands a stranger to its owner once.
//! The key is one the owner can recompute for every message of a transaction or dialog:
//!
//! | message | key |
//! |---|---|
//! | a response | its top Via branch: ours, made by the shard that sent the request ([`crate::Ids::for_shard`]) |
//! | a request with a To tag (in a dialog) | the To tag: ours, made by the shard that owns the dialog |
//! | REGISTER | the To user (the login: its bindings, its stored messages) |
//! | SUBSCRIBE, PUBLISH, MESSAGE | the Request-URI user (the presentity, the recipient) |
//! | INVITE with `Replaces` | the replaced Call-ID (a parked call's pick-up goes to the call) |
//! | anything else (INVITE, CANCEL, OPTIONS, ...) | the Call-ID |
//!
//! CANCEL carries the INVITE's Call-ID and Request-URI, and the ACK of a non-2xx our To tag, so
//! a transaction never splits. Logins and tokens hash the same way ([`index`]), so the shard
//! that owns a login is known to every shard without asking.

use crate::header::HeaderName;
use crate::{Message, Method};

/// FNV-1a, 64 bits, then splitmix64's finaliser: cheap on the short strings keyed here, and
/// the same in every process. FNV-1a alone spreads keys that differ in their last characters
/// badly over its high bits: `user1000`..`user2999` all had the same bit 32, so every one of
/// those logins went to one of two shards.
pub fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The shard of `key` among `count` (0 when `count` is 0 or 1).
pub fn index(key: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    // the high bits, so that the location table's buckets (the low bits) still spread one
    // shard's logins over all of them
    ((hash(key.as_bytes()) >> 32) % count as u64) as usize
}

/// The key of a message (see the module doc); `None` when it has none of them (such a message
/// fails the sanity check anyway, and any shard answers it).
pub fn key(msg: &Message) -> Option<&str> {
    if !msg.is_request() {
        return msg.top_branch().or_else(|| msg.call_id());
    }
    if let Some(tag) = msg.to_tag() {
        return Some(tag);
    }
    match msg.method() {
        Some(Method::Register) => {
            if let Some(u) = non_empty(msg.to_header().ok().and_then(|t| t.uri.user)) {
                return Some(u);
            }
        }
        Some(Method::Subscribe | Method::Publish | Method::Message) => {
            if let Some(u) = non_empty(msg.request_uri().ok().and_then(|u| u.user)) {
                return Some(u);
            }
        }
        Some(Method::Invite) => {
            if let Some(replaced) = msg
                .header(&HeaderName::Other("Replaces".into()))
                .and_then(|v| v.split(';').next())
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                return Some(replaced);
            }
        }
        _ => {}
    }
    msg.call_id()
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The shard that owns `msg` among `count`.
pub fn owner(msg: &Message, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    key(msg).map_or(0, |k| index(k, count))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::Ids;

    fn parse(raw: &str) -> Message {
        Message::parse(Bytes::from(raw.replace('\n', "\r\n"))).unwrap()
    }

    fn request(method: &str, ruri: &str, to: &str, extra: &str) -> Message {
        parse(&format!(
            "{method} {ruri} SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc\nFrom: <sip:alice@x>;tag=f1\nTo: {to}\nCall-ID: call-1@10.0.0.1\nCSeq: 1 {method}\n{extra}Content-Length: 0\n\n"
        ))
    }

    #[test]
    fn each_kind_of_message_is_keyed_by_what_its_owner_can_recompute() {
        let reg = request("REGISTER", "sip:x", "<sip:bob@x>", "");
        assert_eq!(key(&reg), Some("bob"));
        let sub = request("SUBSCRIBE", "sip:carol@x", "<sip:carol@x>", "");
        assert_eq!(key(&sub), Some("carol"));
        let msg = request("MESSAGE", "sip:dave@x", "<sip:someone@x>", "");
        assert_eq!(key(&msg), Some("dave"));
        let inv = request("INVITE", "sip:bob@x", "<sip:bob@x>", "");
        assert_eq!(key(&inv), Some("call-1@10.0.0.1"));
        let cancel = request("CANCEL", "sip:bob@x", "<sip:bob@x>", "");
        assert_eq!(
            key(&cancel),
            key(&inv),
            "a CANCEL goes where its INVITE went"
        );
        let in_dialog = request("BYE", "sip:bob@x", "<sip:bob@x>;tag=ours1", "");
        assert_eq!(key(&in_dialog), Some("ours1"));
        let pickup = request(
            "INVITE",
            "sip:alice@x",
            "<sip:alice@x>",
            "Replaces: parked-9@ferroswitch;to-tag=a;from-tag=b\n",
        );
        assert_eq!(key(&pickup), Some("parked-9@ferroswitch"));
        let resp = parse("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKours2\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
        assert_eq!(key(&resp), Some("z9hG4bKours2"));
    }

    #[test]
    fn the_tokens_a_shard_makes_come_back_to_it() {
        for count in 1..=5 {
            for shard in 0..count {
                let mut ids =
                    Ids::for_shard(u64::from(count as u32 * 7 + shard as u32), shard, count);
                for _ in 0..200 {
                    assert_eq!(index(&ids.tag(), count), shard);
                    assert_eq!(index(&ids.branch(), count), shard);
                    assert_eq!(index(&ids.call_id(), count), shard);
                }
            }
        }
    }

    #[test]
    fn keys_spread_evenly() {
        let mut per = [0u32; 4];
        for i in 0..40_000 {
            per[index(&format!("{i}@10.0.0.{}", i % 7), 4)] += 1;
        }
        for n in per {
            assert!((9_000..11_000).contains(&n), "{per:?}");
        }
        assert_eq!(index("anything", 1), 0);
        assert_eq!(index("anything", 0), 0);
    }

    #[test]
    fn logins_that_differ_in_their_last_digits_spread_over_the_shards() {
        // extension numbers and `user1000`-style logins: with FNV-1a's bare high bits every
        // `user…` login went to one of 2 shards and `b…` ones 100 to 1,900
        for prefix in ["user", "u", "b", "", "+4930"] {
            for count in [2, 3, 4] {
                let mut per = vec![0u32; count];
                for i in 1000..3000 {
                    per[index(&format!("{prefix}{i}"), count)] += 1;
                }
                let fair = 2000 / count as u32;
                for n in &per {
                    assert!(
                        n * 10 > fair * 8 && n * 10 < fair * 12,
                        "{prefix:?} over {count}: {per:?}"
                    );
                }
            }
        }
    }
}
