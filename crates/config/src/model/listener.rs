//! The SIP listeners of the configuration model: the sockets, their transports and roles, and
//! the TLS certificate the TLS and WSS listeners share (re-exported by [`crate::model`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use super::{match_name, UnknownName};
use crate::origin::{Advertise, Origin};

/// One SIP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SipListener {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub role: ListenerRole,
    /// The public address put in Via, Record-Route and Contact instead of `addr` (1:1 NAT).
    pub advertise: Option<Advertise>,
    /// WebSocket listeners: the browser origins (`https://host[:port]`) allowed to open SIP
    /// WebSockets. Empty (the default): only the listener's own origin (the web phone page it
    /// serves) and clients that send no `Origin` (not browsers); `*` allows every origin.
    pub allowed_origins: Vec<String>,
    /// Where `addr` was given (named when the port is busy).
    pub origin: Origin,
}

impl SipListener {
    /// A [`ListenerRole::Sip`] listener.
    pub fn new(addr: SocketAddr, transport: Transport) -> Self {
        Self {
            addr,
            transport,
            role: ListenerRole::Sip,
            advertise: None,
            allowed_origins: Vec::new(),
            origin: Origin::Unknown,
        }
    }
}

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    /// SIP over WebSocket (RFC 7118); also serves the web phone page over plain HTTP.
    Ws,
    /// SIP over secure WebSocket (RFC 7118) on the `[tls]` certificate; also serves the web
    /// phone page over HTTPS.
    Wss,
}

impl Transport {
    /// The lowercase name, as in a Via header's transport (`udp`, `tcp`, `tls`, `ws`, `wss`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Whether listeners of this transport present the `[tls]` certificate (`tls`, `wss`).
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// Whether this is a WebSocket transport (`ws`, `wss`).
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transport {
    type Err = UnknownName;

    /// `udp`, `tcp`, `tls`, `ws`, `wss`, or voipswitch's `tls-tcp` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match_name(
            s,
            "transport",
            &[
                ("udp", Self::Udp),
                ("tcp", Self::Tcp),
                ("tls", Self::Tls),
                ("tls-tcp", Self::Tls),
                ("ws", Self::Ws),
                ("wss", Self::Wss),
            ],
        )
    }
}

/// What a listener is for. A registrar listener on the same address and transport as a SIP
/// listener is merged into it, so the loaded model only keeps `Registrar` for a separate socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenerRole {
    /// The main SIP listener (calls, messages, and everything else).
    Sip,
    /// voipswitch's registrar listener (REGISTER, SUBSCRIBE/PUBLISH).
    Registrar,
}

impl FromStr for ListenerRole {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match_name(
            s,
            "listener role",
            &[("sip", Self::Sip), ("registrar", Self::Registrar)],
        )
    }
}

/// Certificate and private key (PEM) for the TLS listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key; the certificate file when not given (one PEM holding both).
    pub private_key: PathBuf,
    /// Create a self-signed development certificate when the files are missing.
    pub generate_self_signed: bool,
}

impl TlsSettings {
    /// Certificate and key from one PEM file, no self-signed generation.
    pub fn new(certificate: PathBuf) -> Self {
        Self {
            private_key: certificate.clone(),
            certificate,
            generate_self_signed: false,
        }
    }
}
