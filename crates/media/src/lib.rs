//! Media: STUN Binding, SDP parsing and rewriting, the sans-IO RTP relay table.
//!
//! # Where this sits
//!
//! A core crate (see `ARCHITECTURE.md`): no tokio, no sockets, no clock. It depends on no other
//! ferroswitch crate; `media-io` drives it with sockets and tokio, and the B2BUA reaches it
//! through `media-io`'s `RelayHandle` (behind its `MediaRelay` trait). Time is always an argument
//! (`now: std::time::Instant`).
//!
//! | module | input | output |
//! |---|---|---|
//! | [`stun`] | one datagram + its source | a Binding response / error response in a buffer, or nothing |
//! | [`sdp`] | an SDP body | a typed, order-preserving model; rewrites [`sdp::anchor`], [`sdp::add_relay_candidate`] |
//! | [`relay`] | ports/addresses from the signalling, datagrams on relay ports, `now` | where to forward each datagram, [`relay::RelayEvent`]s, the next deadline, counters |

pub mod relay;
pub mod sdp;
pub mod stun;

pub use relay::{
    Action, CallStats, Component, DirectionStats, DropCause, EndedSession, MlineStats,
    PortAllocator, RelayConfig, RelayError, RelayEvent, RelayTable, RemoteMedia, Side, Transmit,
};
pub use sdp::{Sdp, SdpError};
pub use stun::{is_stun, StunOutcome};
