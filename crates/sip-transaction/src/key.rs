//! Transaction identity: the handles given to the TU ([`ServerKey`], [`ClientKey`]) and the
//! matching fingerprints the layer indexes transactions by (RFC 3261 §17.1.3, §17.2.3, §8.2.2.2).
//!
//! A matching key is a tuple of strings (branch, sent-by, method, ...). Instead of allocating and
//! storing that tuple per transaction, the layer keeps a 128-bit keyed fingerprint of it:
//! SipHash-1-3 under the process' random keys (`RandomState`), finished twice. Peers cannot
//! predict the fingerprints, so they can neither flood a hash bucket nor forge a collision; an
//! accidental collision among `n` live transactions has probability about `n² / 2¹²⁹`.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash, Hasher, RandomState};

use sip_message::{Host, Message, Method, Via};

/// The RFC 3261 magic cookie that starts every compliant branch (§8.1.1.7).
pub use sip_message::MAGIC_COOKIE;

/// A slot in the transaction table: index plus generation, so a stale handle never reaches a
/// newer transaction that reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TxId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.index, self.generation)
    }
}

/// Handle of a server transaction, given to the TU in [`crate::Event::Request`] and used to
/// [`respond`](crate::TransactionLayer::respond). Cheap to copy; stale handles are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKey(pub(crate) TxId);

/// Handle of a client transaction, returned by
/// [`send_request`](crate::TransactionLayer::send_request) and carried by its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(pub(crate) TxId);

impl fmt::Display for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server#{}", self.0)
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client#{}", self.0)
    }
}

/// A 128-bit keyed fingerprint of a matching key (two words, so it packs at 8-byte alignment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fp(u64, u64);

impl Hash for Fp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Either half is already a keyed hash; equality still compares both.
        state.write_u64(self.0);
    }
}

/// Hasher for maps keyed by [`Fp`]: the fingerprint is already a keyed hash, so use its bits.
#[derive(Default)]
pub(crate) struct FpHasher(u64);

impl Hasher for FpHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Fp` (which calls `write_u64`); a plain FNV-1a for completeness.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FpMap<V> = HashMap<Fp, V, BuildHasherDefault<FpHasher>>;

/// Domain separation: server, legacy server (RFC 2543), client, merged-request.
const SERVER: u8 = b'S';
const LEGACY: u8 = b'L';
const CLIENT: u8 = b'C';
const MERGE: u8 = b'M';

/// Computes fingerprints under this layer's random keys.
#[derive(Debug)]
pub(crate) struct Fingerprinter(RandomState);

struct FpBuilder(DefaultHasher);

impl FpBuilder {
    fn part(&mut self, b: &[u8]) -> &mut Self {
        self.0.write(b);
        // 0xff never occurs in UTF-8, so parts cannot run into each other.
        self.0.write_u8(0xff);
        self
    }

    fn part_lower(&mut self, s: &str) -> &mut Self {
        let mut buf = [0u8; 64];
        for chunk in s.as_bytes().chunks(buf.len()) {
            let out = &mut buf[..chunk.len()];
            out.copy_from_slice(chunk);
            out.make_ascii_lowercase();
            self.0.write(out);
        }
        self.0.write_u8(0xff);
        self
    }

    fn num(&mut self, n: u32) -> &mut Self {
        self.0.write_u32(n);
        self
    }

    fn finish(&mut self) -> Fp {
        let a = self.0.finish();
        self.0.write_u8(0xa5);
        let b = self.0.finish();
        Fp(a, b)
    }
}

fn default_port(via_transport: &str) -> u16 {
    if via_transport.eq_ignore_ascii_case("TLS") || via_transport.eq_ignore_ascii_case("WSS") {
        5061
    } else {
        5060
    }
}

impl Fingerprinter {
    pub(crate) fn new() -> Self {
        Self(RandomState::new())
    }

    fn start(&self, domain: u8) -> FpBuilder {
        let mut h = self.0.build_hasher();
        h.write_u8(domain);
        FpBuilder(h)
    }

    /// Server transaction key of a request (RFC 3261 §17.2.3), with `method` standing for the
    /// request's method (the caller passes INVITE for an ACK, and INVITE to find the
    /// transaction a CANCEL cancels). `None` when the RFC 2543 fallback lacks a field.
    pub(crate) fn server(&self, msg: &Message, via: &Via<'_>, method: &Method) -> Option<Fp> {
        match via.branch() {
            Some(branch) if branch.starts_with(MAGIC_COOKIE) => {
                let mut f = self.start(SERVER);
                f.part(method.as_str().as_bytes()).part(branch.as_bytes());
                match via.host {
                    Host::Domain(d) => f.part(b"d").part_lower(d),
                    Host::V4(a) => f.part(b"4").part(&a.octets()),
                    Host::V6(a) => match a.to_ipv4_mapped() {
                        Some(a) => f.part(b"4").part(&a.octets()),
                        None => f.part(b"6").part(&a.octets()),
                    },
                };
                f.num(u32::from(
                    via.port.unwrap_or_else(|| default_port(via.transport)),
                ));
                Some(f.finish())
            }
            // RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number, top Via. The To
            // tag is not compared (an ACK carries the tag of our response, which the layer
            // does not keep), which only matters for RFC 2543 peers reusing all the rest.
            _ => {
                msg.header(&sip_message::HeaderName::From)?;
                let from_tag = msg.from_tag().unwrap_or("");
                let cseq = msg.cseq().ok()?;
                let top_via = msg.header_list(&sip_message::HeaderName::Via).next()?;
                let mut f = self.start(LEGACY);
                f.part(method.as_str().as_bytes())
                    .part(msg.request_uri_str()?.as_bytes())
                    .part(from_tag.as_bytes())
                    .part(msg.call_id()?.as_bytes())
                    .num(cseq.seq)
                    .part(top_via.as_bytes());
                Some(f.finish())
            }
        }
    }

    /// Client transaction key (RFC 3261 §17.1.3): the branch of the top Via and the CSeq
    /// method. The layer generates the branches, so the sent-by is not needed.
    pub(crate) fn client(&self, method: &Method, branch: &str) -> Fp {
        self.start(CLIENT)
            .part(method.as_str().as_bytes())
            .part(branch.as_bytes())
            .finish()
    }

    /// Merged-request key (RFC 3261 §8.2.2.2): From tag, Call-ID, CSeq.
    pub(crate) fn merge(&self, msg: &Message) -> Option<Fp> {
        msg.header(&sip_message::HeaderName::From)?;
        let cseq = msg.cseq().ok()?;
        let mut f = self.start(MERGE);
        f.part(msg.from_tag().unwrap_or("").as_bytes())
            .part(msg.call_id()?.as_bytes())
            .num(cseq.seq)
            .part(cseq.method.as_str().as_bytes());
        Some(f.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(via: &str) -> Message {
        let raw = format!(
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(raw)).unwrap()
    }

    fn server_fp(f: &Fingerprinter, via: &str, method: &Method) -> Fp {
        let m = msg(via);
        let v = m.top_via().unwrap();
        f.server(&m, &v, method).unwrap()
    }

    #[test]
    fn sent_by_is_normalised() {
        let f = Fingerprinter::new();
        let a = server_fp(
            &f,
            "SIP/2.0/UDP Host.Example.COM;branch=z9hG4bKa",
            &Method::Invite,
        );
        let b = server_fp(
            &f,
            "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bKa;rport",
            &Method::Invite,
        );
        let c = server_fp(
            &f,
            "SIP/2.0/UDP host.example.com:5070;branch=z9hG4bKa",
            &Method::Invite,
        );
        let d = server_fp(
            &f,
            "SIP/2.0/UDP host.example.com;branch=z9hG4bKb",
            &Method::Invite,
        );
        let e = server_fp(
            &f,
            "SIP/2.0/UDP host.example.com;branch=z9hG4bKa",
            &Method::Cancel,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_ne!(a, e);
    }

    #[test]
    fn legacy_key_without_cookie() {
        let f = Fingerprinter::new();
        let a = server_fp(&f, "SIP/2.0/UDP 192.0.2.1;branch=1", &Method::Invite);
        let b = server_fp(&f, "SIP/2.0/UDP 192.0.2.1;branch=1", &Method::Invite);
        let c = server_fp(&f, "SIP/2.0/UDP 192.0.2.2;branch=1", &Method::Invite);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
