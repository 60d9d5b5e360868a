//! The `stun` target: STUN on the media ports.

use std::net::SocketAddr;

use media::stun::{answer, is_stun, StunOutcome};
use stun_types::attribute::XorMappedAddress;
use stun_types::message::{Message, MessageClass, MessageHeader};

/// `is_stun` and `answer` on arbitrary bytes (IPv4 and IPv6 sources): whatever `answer` asks to
/// send is a well-formed STUN response (FINGERPRINT verified) to the same transaction, and a
/// success maps back to the source.
pub fn stun(data: &[u8]) {
    let sources: [SocketAddr; 2] = [
        "203.0.113.9:40000".parse().unwrap(),
        "[2001:db8::9]:40000".parse().unwrap(),
    ];
    let stun = is_stun(data);
    let mut out = Vec::new();
    for src in sources {
        let outcome = answer(data, src, &mut out);
        if !outcome.should_send() {
            assert!(out.is_empty());
            continue;
        }
        assert!(stun, "answered something is_stun rejects");
        let request = MessageHeader::from_bytes(data).expect("answered a bad header");
        let response = Message::from_bytes(&out).expect("our response parses");
        assert_eq!(response.transaction_id(), request.transaction_id());
        assert_eq!(response.method(), request.get_type().method());
        match outcome {
            StunOutcome::Success => {
                assert!(response.has_class(MessageClass::Success));
                let mapped = response
                    .attribute::<XorMappedAddress>()
                    .expect("XOR-MAPPED-ADDRESS")
                    .addr(response.transaction_id());
                assert_eq!(mapped, src);
            }
            StunOutcome::Error { .. } => assert!(response.has_class(MessageClass::Error)),
            _ => unreachable!(),
        }
    }
}
