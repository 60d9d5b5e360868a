//! STUN Binding server (RFC 8489, compatible with RFC 5389 clients), sans-IO.
//!
//! One function answers one datagram: [`answer`] takes the received bytes and the address they came
//! from and writes the response to send back (if any) into a caller-owned buffer. The same function
//! serves the dedicated STUN listener and STUN packets demultiplexed off the SIP UDP socket with
//! [`is_stun`] (RFC 7983: first byte 0..=3, then the magic cookie; SIP starts with a letter, RTP/RTCP
//! with 0x80..0xBF).
//!
//! What is answered:
//!
//! | input | outcome |
//! |---|---|
//! | Binding request | [`StunOutcome::Success`]: XOR-MAPPED-ADDRESS (the source as seen here, IPv4 or IPv6), SOFTWARE `ferroswitch`, FINGERPRINT |
//! | request with a comprehension-required attribute we do not know | [`StunOutcome::Error`] 420 with UNKNOWN-ATTRIBUTES |
//! | request with another method, or whose attributes do not parse | [`StunOutcome::Error`] 400 |
//! | indication, success or error response | dropped ([`DropReason::NotRequest`]) |
//! | bad header (length not a multiple of 4 or not the datagram's length), wrong FINGERPRINT | dropped |
//! | not STUN at all | dropped ([`DropReason::NotStun`]) |
//!
//! No authentication: USERNAME / MESSAGE-INTEGRITY(-SHA256) are understood (so they do not trigger
//! 420) and ignored; the response carries no MESSAGE-INTEGRITY. Legacy RFC 3489 requests (no magic
//! cookie) are not STUN to us and are dropped. Nothing here panics on any input (see the `stun`
//! fuzz target).

use std::net::SocketAddr;

use stun_types::attribute::{
    Attribute as _, AttributeType, ErrorCode, Software, UnknownAttributes, XorMappedAddress,
};
use stun_types::message::{
    Message, MessageClass, MessageHeader, MessageType, MessageWrite, MessageWriteExt,
    MessageWriteMutSlice, MessageWriteVec, StunParseError, TransactionId, BINDING,
};

/// The SOFTWARE attribute we put in every response.
pub const SOFTWARE: &str = "ferroswitch";

/// The STUN magic cookie (RFC 8489 §5).
pub const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// The header length of every STUN message.
pub const HEADER_LEN: usize = 20;

/// Largest number of attribute types listed in one UNKNOWN-ATTRIBUTES.
const MAX_UNKNOWN: usize = 32;

/// Comprehension-required attribute types (< 0x8000) that a Binding request may carry and that we
/// understand (even when we ignore them). Anything else below 0x8000 gets a 420.
const KNOWN_REQUIRED: &[u16] = &[
    0x0001, // MAPPED-ADDRESS
    0x0006, // USERNAME
    0x0008, // MESSAGE-INTEGRITY
    0x0009, // ERROR-CODE
    0x000A, // UNKNOWN-ATTRIBUTES
    0x0014, // REALM
    0x0015, // NONCE
    0x001C, // MESSAGE-INTEGRITY-SHA256
    0x001D, // PASSWORD-ALGORITHM
    0x001E, // USERHASH
    0x0020, // XOR-MAPPED-ADDRESS
    0x0024, // PRIORITY (ICE, RFC 8445)
    0x0025, // USE-CANDIDATE (ICE)
];

/// What [`answer`] decided. When it is [`StunOutcome::Success`] or [`StunOutcome::Error`], the
/// output buffer holds a complete response to send back to the request's source.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StunOutcome {
    /// A Binding success response is in the buffer.
    Success,
    /// An error response with this code (400 or 420) is in the buffer.
    Error {
        /// The STUN error code.
        code: u16,
    },
    /// Nothing to send; the buffer is empty.
    Drop(DropReason),
}

impl StunOutcome {
    /// Whether the output buffer holds a response to send.
    pub fn should_send(self) -> bool {
        !matches!(self, Self::Drop(_))
    }
}

/// Why a datagram got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a STUN message (first byte, length or magic cookie).
    NotStun,
    /// A STUN message whose header is inconsistent with the datagram (length field).
    Malformed,
    /// An indication or a response: a server ignores those.
    NotRequest,
    /// The FINGERPRINT attribute does not match (RFC 8489 §14.7: silently discarded).
    BadFingerprint,
}

/// Cheap check used to demultiplex a UDP socket: at least a STUN header, first byte 0..=3
/// (RFC 7983), the magic cookie at offset 4 and a length field that is a multiple of 4.
pub fn is_stun(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN && data[0] <= 0x03 && data[4..8] == MAGIC_COOKIE && data[3] & 0x03 == 0
}

/// Answers one datagram received from `source`. `out` is cleared, then holds the response to send
/// back to `source` when the outcome says so. IPv4-mapped IPv6 sources (dual-stack sockets) are
/// reported as IPv4.
pub fn answer(request: &[u8], source: SocketAddr, out: &mut Vec<u8>) -> StunOutcome {
    out.clear();
    if !is_stun(request) {
        return StunOutcome::Drop(DropReason::NotStun);
    }
    let declared = usize::from(u16::from_be_bytes([request[2], request[3]]));
    if HEADER_LEN + declared != request.len() {
        return StunOutcome::Drop(DropReason::Malformed);
    }
    let header = match MessageHeader::from_bytes(request) {
        Ok(h) => h,
        Err(_) => return StunOutcome::Drop(DropReason::NotStun),
    };
    let mtype = header.get_type();
    if !mtype.has_class(MessageClass::Request) {
        return StunOutcome::Drop(DropReason::NotRequest);
    }
    let tid = header.transaction_id();
    let message = match Message::from_bytes(request) {
        Ok(m) => m,
        Err(StunParseError::FingerprintMismatch) => {
            return StunOutcome::Drop(DropReason::BadFingerprint)
        }
        Err(_) => return error_response(mtype, tid, 400, "Bad Request", &[], out),
    };
    if !mtype.has_method(BINDING) {
        return error_response(mtype, tid, 400, "Bad Request", &[], out);
    }
    let mut unknown = [AttributeType::new(0); MAX_UNKNOWN];
    let mut n_unknown = 0;
    for (_, attr) in message.iter_attributes() {
        let t = attr.get_type();
        if t.comprehension_required()
            && !KNOWN_REQUIRED.contains(&t.value())
            && !unknown[..n_unknown].contains(&t)
            && n_unknown < MAX_UNKNOWN
        {
            unknown[n_unknown] = t;
            n_unknown += 1;
        }
    }
    if n_unknown > 0 {
        return error_response(
            mtype,
            tid,
            420,
            "Unknown Attribute",
            &unknown[..n_unknown],
            out,
        );
    }
    success_response(&message, source, out)
}

fn success_response(request: &Message<'_>, source: SocketAddr, out: &mut Vec<u8>) -> StunOutcome {
    let source = SocketAddr::new(source.ip().to_canonical(), source.port());
    // 20 header + 24 XOR-MAPPED-ADDRESS (IPv6) + 16 SOFTWARE + 8 FINGERPRINT = 68.
    let mut buf = [0u8; 96];
    let mut w = Message::builder_success(request, MessageWriteMutSlice::new(&mut buf));
    let written = (|| {
        w.add_attribute(&XorMappedAddress::new(source, request.transaction_id()))?;
        w.add_attribute(&Software::new(SOFTWARE)?)?;
        w.add_fingerprint()?;
        Ok::<_, stun_types::message::StunWriteError>(w.finish())
    })();
    match written {
        Ok(len) => {
            out.extend_from_slice(&buf[..len]);
            StunOutcome::Success
        }
        // Cannot happen with the sizes above; never panic on the network path.
        Err(_) => StunOutcome::Drop(DropReason::Malformed),
    }
}

fn error_response(
    request_type: MessageType,
    tid: TransactionId,
    code: u16,
    reason: &str,
    unknown: &[AttributeType],
    out: &mut Vec<u8>,
) -> StunOutcome {
    let mtype = MessageType::from_class_method(MessageClass::Error, request_type.method());
    let mut w = Message::builder(mtype, tid, MessageWriteVec::with_capacity(128));
    let written = (|| {
        w.add_attribute(&ErrorCode::new(code, reason)?)?;
        if !unknown.is_empty() {
            w.add_attribute(&UnknownAttributes::new(unknown))?;
        }
        w.add_attribute(&Software::new(SOFTWARE)?)?;
        w.add_fingerprint()?;
        Ok::<_, stun_types::message::StunWriteError>(())
    })();
    match written {
        Ok(()) => {
            out.extend_from_slice(w.data());
            StunOutcome::Error { code }
        }
        Err(_) => StunOutcome::Drop(DropReason::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut v = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42];
        v.extend_from_slice(&[7u8; 12]);
        for (t, val) in attrs {
            v.extend_from_slice(&t.to_be_bytes());
            v.extend_from_slice(&(val.len() as u16).to_be_bytes());
            v.extend_from_slice(val);
            while v.len() % 4 != 0 {
                v.push(0);
            }
        }
        let len = (v.len() - 20) as u16;
        v[2..4].copy_from_slice(&len.to_be_bytes());
        v
    }

    #[test]
    fn demux() {
        assert!(is_stun(&binding_request(&[])));
        assert!(!is_stun(b"INVITE sip:a@b SIP/2.0\r\n"));
        let mut rtp = vec![0x80u8, 0, 0, 1];
        rtp.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        rtp.resize(172, 0);
        assert!(!is_stun(&rtp));
        assert!(!is_stun(&[0, 1, 0, 0]));
    }

    #[test]
    fn empty_binding_request_gets_success() {
        let req = binding_request(&[]);
        let mut out = Vec::new();
        let src: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        assert_eq!(answer(&req, src, &mut out), StunOutcome::Success);
        let m = Message::from_bytes(&out).unwrap();
        assert!(m.has_class(MessageClass::Success));
        assert_eq!(
            m.transaction_id(),
            Message::from_bytes(&req).unwrap().transaction_id()
        );
        let x = m.attribute::<XorMappedAddress>().unwrap();
        assert_eq!(x.addr(m.transaction_id()), src);
        assert_eq!(m.attribute::<Software>().unwrap().software(), SOFTWARE);
    }

    #[test]
    fn mapped_v4_in_v6_is_reported_as_v4() {
        let req = binding_request(&[]);
        let mut out = Vec::new();
        let src: SocketAddr = "[::ffff:192.0.2.9]:5000".parse().unwrap();
        assert_eq!(answer(&req, src, &mut out), StunOutcome::Success);
        let m = Message::from_bytes(&out).unwrap();
        let x = m.attribute::<XorMappedAddress>().unwrap();
        assert_eq!(
            x.addr(m.transaction_id()),
            "192.0.2.9:5000".parse().unwrap()
        );
    }

    #[test]
    fn unknown_required_attribute_gets_420() {
        let req = binding_request(&[(0x0003, &[0, 0, 0, 6]), (0x7777, b"x"), (0x8888, b"y")]);
        let mut out = Vec::new();
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            answer(&req, src, &mut out),
            StunOutcome::Error { code: 420 }
        );
        let m = Message::from_bytes(&out).unwrap();
        assert!(m.has_class(MessageClass::Error));
        assert_eq!(m.attribute::<ErrorCode>().unwrap().code(), 420);
        let u = m.attribute::<UnknownAttributes>().unwrap();
        assert!(u.has_attribute(AttributeType::new(0x0003)));
        assert!(u.has_attribute(AttributeType::new(0x7777)));
        assert!(!u.has_attribute(AttributeType::new(0x8888)));
    }

    #[test]
    fn other_method_gets_400_and_indications_are_ignored() {
        let mut req = binding_request(&[]);
        req[1] = 0x03; // Allocate request
        let mut out = Vec::new();
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            answer(&req, src, &mut out),
            StunOutcome::Error { code: 400 }
        );
        let mut ind = binding_request(&[]);
        ind[1] = 0x11; // Binding indication
        assert_eq!(
            answer(&ind, src, &mut out),
            StunOutcome::Drop(DropReason::NotRequest)
        );
        assert!(out.is_empty());
        let mut resp = binding_request(&[]);
        resp[0] = 0x01; // Binding success response
        assert_eq!(
            answer(&resp, src, &mut out),
            StunOutcome::Drop(DropReason::NotRequest)
        );
    }

    #[test]
    fn truncated_attribute_gets_400_bad_length_is_dropped() {
        let mut req = binding_request(&[(0x8022, b"abcd")]);
        // Attribute claims 8 bytes of value but the message holds 4.
        req[22..24].copy_from_slice(&8u16.to_be_bytes());
        let mut out = Vec::new();
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            answer(&req, src, &mut out),
            StunOutcome::Error { code: 400 }
        );
        let mut short = binding_request(&[]);
        short.push(0);
        short.push(0);
        short.push(0);
        short.push(0);
        assert_eq!(
            answer(&short, src, &mut out),
            StunOutcome::Drop(DropReason::Malformed)
        );
    }
}
