//! `sip-message`: the bottom layer of ferroswitch.
//!
//! A zero-copy SIP message model over [`bytes::Bytes`]: a message is parsed once into a start
//! line and an index of headers (name + value slices of the original buffer, unfolded only when
//! the wire form was folded). Headers are typed lazily, on demand, into borrowed views
//! ([`Via`], [`NameAddr`], [`CSeq`], [`Contact`], [`Credentials`], ...), so a stage pays only for
//! the headers it reads. [`frame_stream`] splits a TCP/TLS byte stream into messages
//! (`Incomplete` until a whole message has arrived), honouring `Content-Length`; bodies are kept
//! as raw bytes. [`MessageBuilder`] prints requests and responses. [`digest`] computes RFC 7616
//! digest responses (MD5 and SHA-256).
//!
//! Nothing here does I/O; every function is total over arbitrary input (errors, never panics).
//!
//! How that is checked: `tests/torture/` holds the RFC 4475 §3.1 torture messages byte for
//! byte, and the integration tests require every valid one to parse and pass
//! [`Message::sanity_check`] and every invalid one to be refused with the status the RFC asks
//! for; printed messages re-parse to equal ones; `fuzz/` (cargo-fuzz) fuzzes parse → print →
//! parse and stream framing; `benches/parse.rs` measures what a registrar pays per REGISTER.

mod cursor;
pub mod digest;
mod epoch;
mod error;
mod facts;
mod frame;
mod header;
mod ids;
mod message;
mod peer;
mod print;
mod sanity;
pub mod shard;
pub mod steer;
mod tag;
mod uri;

pub use epoch::Epoch;
pub use error::{Error, Result};
pub use frame::{frame_stream, Framed, StreamFramer};
pub use header::{
    auth::{Challenge, Credentials},
    cseq::CSeq,
    name_addr::{Contact, ContactList, NameAddr},
    params::Params,
    via::Via,
    HeaderName,
};
pub use ids::{Ids, Token, MAGIC_COOKIE};
pub use message::{Header, Message, Method, StartLine, MAX_BODY, MAX_HEAD};
pub use peer::{ConnId, Peer, Transport};
pub use print::{reason_phrase, MessageBuilder, PRODUCT};
pub use uri::{percent_decode, Host, Scheme, Uri};
