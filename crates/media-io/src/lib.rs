//! Tokio-side drivers for the `media` core: the STUN listener and the RTP relay.
//!
//! # Where this sits
//!
//! A driver crate (see `ARCHITECTURE.md`): sockets, threads and the clock live here, the
//! decisions in `media` (sans-IO). The server binary owns the instances; the B2BUA talks to the
//! relay through [`RelayHandle`], whose methods are synchronous so that they can be called from
//! inside the B2BUA's own task.
//!
//! - [`StunServer`]: serves STUN Binding on a UDP socket the caller bound (async, tokio).
//! - [`Relay`]: the RTP relay. [`Relay::start`] spawns one OS thread (one core) running an epoll
//!   loop (mio) over one UDP socket per relay port and returns a [`RelayHandle`] and the receiver
//!   of [`RelayEvent`]s (a dead call to end).
//!
//! # Relay lifecycle seen from the B2BUA
//!
//! ```text
//!  INVITE (SDP from A) ──▶ handle.offer(call, Side::A, sdp, mode)  ──▶ SDP to forward to B
//!  18x/200 (SDP from B) ─▶ handle.answer(call, Side::B, sdp, mode) ──▶ SDP to forward to A
//!  re-INVITE from either side: offer()/answer() again with the same `call`: same ports
//!  BYE / CANCEL / failure ─▶ handle.end(call) ──▶ CallStats for the CDR
//!  RelayEvent::Inactive { call } on the receiver ──▶ tear the call down, then end(call)
//! ```
//!
//! `offer` and `answer` both take the SDP of one side, record where that side receives, make
//! sure the relay ports facing the *other* side exist (reused for the life of the call), and
//! return the SDP to forward. [`Mode::Anchor`] (OFFNET) points `c=`/`m=` at the relay and adds a
//! relay ICE candidate when the SDP has candidates; [`Mode::CandidateOnly`] (ONNET) leaves
//! `c=`/`m=` alone and only adds the relay candidate (when there are candidates and no relay
//! one). A late offer (INVITE without SDP) is the same calls the other way round:
//! `offer(call, Side::B, ..)` with the 200's SDP, `answer(call, Side::A, ..)` with the ACK's.

mod batch;
mod relay;
mod stun_server;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The sans-IO core (STUN `answer`/`is_stun` for the SIP socket, SDP model), re-exported.
pub use media;
pub use media::relay::{CallStats, DirectionStats, MlineStats, RelayEvent, Side};
pub use relay::{Relay, RelayCounters, RelayHandle};
pub use stun_server::{StunCounters, StunServer};

/// How an SDP is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Media goes through the relay: `c=`/`m=`/`a=rtcp` point at it (OFFNET calls); a relay
    /// candidate is added when the SDP has ICE candidates.
    Anchor,
    /// Media may go peer to peer: only a relay ICE candidate is added, when the SDP has
    /// candidates and no relay one (ONNET calls).
    CandidateOnly,
}

/// Relay configuration; the server maps its config file onto this.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaConfig {
    /// Address the relay sockets bind to. Default 0.0.0.0 (then `public_ip` is required).
    pub bind_ip: IpAddr,
    /// Address written into SDP (`c=`, candidates). Default: `bind_ip`.
    pub public_ip: Option<IpAddr>,
    /// With `bind_ip` `::` (dual stack): the IPv6 address written into the SDP for a side that
    /// uses IPv6 (see [`RelayHandle::set_peer_family`]); `public_ip` then serves IPv4 sides.
    /// Default `None`: every side gets `public_ip`.
    pub public_ip_v6: Option<IpAddr>,
    /// Lowest relay port (rounded up to even). Default 20000.
    pub port_min: u16,
    /// Highest relay port. Default 30000.
    pub port_max: u16,
    /// A call with no packet from either side for this long is reported
    /// ([`RelayEvent::Inactive`]). Default 60 s.
    pub inactivity_timeout: Duration,
    /// The same while either side's latest SDP puts the call on hold (`sendonly`, `inactive`,
    /// `recvonly` or a 0.0.0.0 address). Default 3600 s.
    pub hold_timeout: Duration,
    /// A latched source silent for this long may be replaced by a new one. Default 5 s.
    pub relatch_after: Duration,
    /// Capacity of the event channel. Default 1024.
    pub event_capacity: usize,
    /// Pin the relay thread to this CPU (`sched_setaffinity`). Default: not pinned.
    pub cpu: Option<usize>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            public_ip: None,
            public_ip_v6: None,
            port_min: 20000,
            port_max: 30000,
            inactivity_timeout: Duration::from_secs(60),
            hold_timeout: Duration::from_secs(3600),
            relatch_after: Duration::from_secs(5),
            event_capacity: 1024,
            cpu: None,
        }
    }
}

impl MediaConfig {
    /// Defaults, bound to `bind_ip` (also advertised).
    pub fn new(bind_ip: IpAddr) -> Self {
        Self {
            bind_ip,
            ..Self::default()
        }
    }
}

/// Errors of [`RelayHandle`] calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The SDP does not parse.
    #[error("SDP: {0}")]
    Sdp(#[from] media::SdpError),
    /// No port pair left, too many m-lines, ...
    #[error("relay: {0}")]
    Relay(#[from] media::RelayError),
    /// The WebRTC gateway refused the call's SDP.
    #[error("WebRTC gateway: {0}")]
    Gateway(String),
    /// The relay thread has stopped.
    #[error("the relay has stopped")]
    Stopped,
}

impl From<webrtc_gw::GatewayError> for MediaError {
    fn from(e: webrtc_gw::GatewayError) -> Self {
        MediaError::Gateway(e.to_string())
    }
}
