//! Where a message came from or goes to: the transport, the addresses and, for TCP/TLS, the
//! connection (flow). Every layer above speaks of peers in these terms.

use std::fmt;
use std::net::SocketAddr;

/// A SIP transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    /// SIP over WebSocket (RFC 7118), plain.
    Ws,
    /// SIP over secure WebSocket (RFC 7118), on TLS.
    Wss,
}

impl Transport {
    /// The name used in Via (`UDP`, `TCP`, `TLS`, `WS`, `WSS`).
    pub fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// Lower-case name (`udp`, `tcp`, `tls`, `ws`, `wss`), as in `transport=` URI parameters
    /// and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("udp") {
            Some(Self::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Some(Self::Tcp)
        } else if s.eq_ignore_ascii_case("tls") {
            Some(Self::Tls)
        } else if s.eq_ignore_ascii_case("ws") {
            Some(Self::Ws)
        } else if s.eq_ignore_ascii_case("wss") {
            Some(Self::Wss)
        } else {
            None
        }
    }

    /// TCP, TLS and WebSocket deliver reliably: no retransmission timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// A WebSocket transport (RFC 7118): its devices are browsers, reached only over their flow.
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one TCP/TLS connection for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The other end of a message: transport, remote and local socket addresses, and the
/// connection it arrived on (TCP/TLS). Sending to a peer with a `conn` reuses that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub conn: Option<ConnId>,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.remote)?;
        if let Some(c) = self.conn {
            write!(f, "#{}", c.0)?;
        }
        Ok(())
    }
}
