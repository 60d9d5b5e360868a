//! The relay table's public vocabulary: sides, components, configuration, remote media,
//! errors, actions, events and counters.

use std::net::SocketAddr;
use std::time::Duration;

use super::DirectionStats;

/// A side of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The side facing the caller (first leg).
    A,
    /// The side facing the callee (second leg).
    B,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    pub(super) fn idx(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// RTP or RTCP (ICE component 1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// Component 1, the even port.
    Rtp,
    /// Component 2, the odd port.
    Rtcp,
}

/// Configuration of a [`RelayTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Lowest port of the range (rounded up to even).
    pub port_min: u16,
    /// Highest port of the range.
    pub port_max: u16,
    /// A session with nothing relayed for this long is reported inactive.
    pub inactivity_timeout: Duration,
    /// A latched source silent for this long can be replaced by a new one.
    pub relatch_after: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            port_min: 20000,
            port_max: 30000,
            inactivity_timeout: Duration::from_secs(60),
            relatch_after: Duration::from_secs(5),
        }
    }
}

/// Where one side receives one m-line, as its SDP says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    /// RTP address (`c=` and `m=` port). An unspecified IP (0.0.0.0 / ::) means hold.
    pub rtp: SocketAddr,
    /// RTCP address (`a=rtcp`); `None` means RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// Whether the SDP has `a=rtcp-mux`.
    pub rtcp_mux: bool,
}

impl RemoteMedia {
    /// RTP address, RTCP on the next port, no mux.
    pub fn new(rtp: SocketAddr) -> Self {
        Self {
            rtp,
            rtcp: None,
            rtcp_mux: false,
        }
    }

    pub(super) fn rtcp_addr(&self) -> SocketAddr {
        self.rtcp
            .unwrap_or_else(|| SocketAddr::new(self.rtp.ip(), self.rtp.port().wrapping_add(1)))
    }

    pub(super) fn is_hold(&self) -> bool {
        self.rtp.ip().is_unspecified()
    }
}

impl From<SocketAddr> for RemoteMedia {
    fn from(rtp: SocketAddr) -> Self {
        Self::new(rtp)
    }
}

/// Errors of the relay table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The range holds no even/odd pair.
    #[error("port range {port_min}-{port_max} holds no RTP/RTCP pair")]
    BadPortRange {
        /// Configured minimum.
        port_min: u16,
        /// Configured maximum.
        port_max: u16,
    },
    /// No free port pair left.
    #[error("no free relay port pair")]
    PortsExhausted,
    /// Too many m-lines.
    #[error("m-line {mline} exceeds the limit of {max}")]
    TooManyMlines {
        /// Index asked for.
        mline: usize,
        /// The limit.
        max: usize,
    },
    /// No session with that key.
    #[error("no relay session for call {0:?}")]
    UnknownCall(String),
}

/// What to do with a datagram.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the same bytes from our port `from_port` to `to`.
    Forward(Transmit),
    /// Do not send it.
    Drop(DropCause),
}

/// A datagram to send.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Our port to send from (the port facing the destination).
    pub from_port: u16,
    /// Destination.
    pub to: SocketAddr,
}

/// Why a datagram was not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropCause {
    /// The port belongs to no session.
    UnknownPort,
    /// The port is latched to another source that is still active.
    NotLatchedSource,
    /// The other side has no port on this m-line yet (no answer yet).
    NoPeerPort,
    /// The other side's address is not known yet.
    NoPeerAddress,
    /// The other side is on hold with a hold address, or disabled its m-line.
    PeerOnHold,
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayEvent {
    /// No packet came from either side of this call for its timeout.
    Inactive {
        /// The session key.
        call: String,
    },
}

/// Counters of one m-line.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MlineStats {
    /// What A sent, relayed to B.
    pub a_to_b: DirectionStats,
    /// What B sent, relayed to A.
    pub b_to_a: DirectionStats,
}

/// Counters of a call, for the CDR.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CallStats {
    /// Sum over the m-lines of what A sent (jitter: the largest).
    pub a_to_b: DirectionStats,
    /// Sum over the m-lines of what B sent (jitter: the largest).
    pub b_to_a: DirectionStats,
    /// Per m-line.
    pub mlines: Vec<MlineStats>,
}

/// What [`RelayTable::end`] hands back.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EndedSession {
    /// Final counters.
    pub stats: CallStats,
    /// RTP ports released (each with its RTCP port + 1); the driver closes their sockets.
    pub ports: Vec<u16>,
}
