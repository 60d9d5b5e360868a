//! SDP (RFC 8866) parse and print, and the rewrites the relay needs.
//!
//! The model keeps every line, in order, so that `print(parse(x))` gives back `x` (with CRLF line
//! ends and without blank lines): the lines we act on are typed (`v=`, `o=`, `s=`, `c=`, `t=`,
//! `m=`, `a=`), every other line (`i=`, `b=`, `r=`, `z=`, `k=`, `u=`, `e=`, `p=`, or a letter we
//! do not know) is kept verbatim as [`Line::Other`]. Attribute values are kept verbatim too; typed
//! views ([`Candidate`], [`Rtcp`], [`Direction`]) are parsed on demand.
//!
//! Rewrites:
//! - [`anchor`] points `c=` (session and media level), `m=` ports and `a=rtcp` at the relay;
//! - [`add_relay_candidate`] adds an ICE `typ relay` candidate per m-line that has candidates but
//!   no relay one.
//!
//! Hold passes through with its meaning: direction attributes are never touched and a hold address
//! (`c=IN IP4 0.0.0.0`, or `::`) is kept as it is.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use crate::relay::RemoteMedia;

/// A parse error, with the 1-based line number where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not UTF-8.
    #[error("SDP is not valid UTF-8")]
    NotUtf8,
    /// The body has no line at all.
    #[error("SDP is empty")]
    Empty,
    /// The first line is not `v=0`.
    #[error("line {line}: SDP must start with v=0")]
    Version {
        /// Line number.
        line: usize,
    },
    /// A line is not `<letter>=<value>`.
    #[error("line {line}: expected `<letter>=<value>`")]
    MalformedLine {
        /// Line number.
        line: usize,
    },
    /// An `o=` line without its six fields.
    #[error("line {line}: o= needs six fields")]
    Origin {
        /// Line number.
        line: usize,
    },
    /// A `c=` line that is not `<nettype> <addrtype> <address>`.
    #[error("line {line}: c= needs <nettype> <addrtype> <address>")]
    Connection {
        /// Line number.
        line: usize,
    },
    /// A `t=` line that is not two integers.
    #[error("line {line}: t= needs <start> <stop>")]
    Timing {
        /// Line number.
        line: usize,
    },
    /// An `m=` line that is not `<media> <port>[/<count>] <proto> <fmt>...`.
    #[error("line {line}: m= needs <media> <port>[/<count>] <proto> <fmt>...")]
    Media {
        /// Line number.
        line: usize,
    },
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// Session-level lines, in order (starting with `v=`).
    pub session: Vec<Line>,
    /// Media sections, in order.
    pub media: Vec<Media>,
}

/// One media section: its `m=` line and the lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The `m=` line.
    pub desc: MediaDesc,
    /// Lines of this section after `m=`, in order.
    pub lines: Vec<Line>,
}

/// A `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDesc {
    /// `audio`, `video`, `application`, ...
    pub media: String,
    /// Transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<count>` suffix, when present.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...
    pub proto: String,
    /// Formats (payload types for RTP).
    pub formats: Vec<String>,
}

/// One SDP line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Line {
    /// `v=`
    Version(u32),
    /// `o=`
    Origin(Origin),
    /// `s=`
    SessionName(String),
    /// `c=`
    Connection(Connection),
    /// `t=`
    Timing {
        /// Start time (NTP seconds, 0 = unbounded).
        start: u64,
        /// Stop time.
        stop: u64,
    },
    /// `a=`
    Attribute(Attribute),
    /// Any other line, verbatim: its type letter and value.
    Other {
        /// The letter before `=`.
        kind: char,
        /// Everything after `=`.
        value: String,
    },
}

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `-` when there is none.
    pub username: String,
    /// Numeric string, may exceed 64 bits.
    pub session_id: String,
    /// Numeric string; an SDP changed by its author has a higher one.
    pub session_version: String,
    /// `IN`
    pub net_type: String,
    /// `IP4` / `IP6`
    pub addr_type: String,
    /// Address or host name.
    pub address: String,
}

/// A `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `IN`
    pub net_type: String,
    /// `IP4` / `IP6` (or something else, kept).
    pub addr_type: String,
    /// The address, possibly with a multicast `/ttl` suffix, or a host name.
    pub address: String,
}

/// An `a=` line: `a=name` or `a=name:value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Text before the first `:`.
    pub name: String,
    /// Text after the first `:`, verbatim.
    pub value: Option<String>,
}

/// Media direction attributes (RFC 3264).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=sendonly`
    SendOnly,
    /// `a=recvonly`
    RecvOnly,
    /// `a=inactive`
    Inactive,
}

/// An ICE candidate (RFC 8839 `a=candidate`), parsed leniently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Foundation.
    pub foundation: String,
    /// 1 = RTP, 2 = RTCP.
    pub component: u16,
    /// `UDP`, `TCP`, ...
    pub transport: String,
    /// Priority.
    pub priority: u32,
    /// Connection address (IP or, with mDNS, a host name).
    pub address: String,
    /// Port.
    pub port: u16,
    /// `host`, `srflx`, `prflx`, `relay`.
    pub typ: String,
}

/// An `a=rtcp` attribute (RFC 3605): port and optional address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// Address when given (`IN IP4 x`).
    pub address: Option<IpAddr>,
}

impl Sdp {
    /// Parses an SDP body (CRLF or LF line ends; blank lines are ignored).
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let mut session = Vec::new();
        let mut media: Vec<Media> = Vec::new();
        let mut seen = 0usize;
        for (idx, raw) in text.split('\n').enumerate() {
            let line_no = idx + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            let mut chars = raw.chars();
            let kind = chars
                .next()
                .ok_or(SdpError::MalformedLine { line: line_no })?;
            if chars.next() != Some('=') || !kind.is_ascii_alphabetic() {
                return Err(SdpError::MalformedLine { line: line_no });
            }
            let value = &raw[2..];
            if seen == 0 {
                if kind != 'v' || value.trim() != "0" {
                    return Err(SdpError::Version { line: line_no });
                }
                session.push(Line::Version(0));
                seen += 1;
                continue;
            }
            seen += 1;
            if kind == 'm' {
                let desc = parse_media(value).ok_or(SdpError::Media { line: line_no })?;
                media.push(Media {
                    desc,
                    lines: Vec::new(),
                });
                continue;
            }
            let line = parse_line(kind, value, line_no)?;
            match media.last_mut() {
                Some(m) => m.lines.push(line),
                None => session.push(line),
            }
        }
        if seen == 0 {
            return Err(SdpError::Empty);
        }
        Ok(Self { session, media })
    }

    /// Prints the SDP with CRLF line ends.
    pub fn print(&self) -> String {
        let mut out = String::with_capacity(512);
        // Writing into a String cannot fail.
        let _ = write!(out, "{self}");
        out
    }

    /// The session-level `c=` line.
    pub fn connection(&self) -> Option<&Connection> {
        self.session.iter().find_map(|l| match l {
            Line::Connection(c) => Some(c),
            _ => None,
        })
    }

    /// The `o=` line.
    pub fn origin(&self) -> Option<&Origin> {
        self.session.iter().find_map(|l| match l {
            Line::Origin(o) => Some(o),
            _ => None,
        })
    }

    /// Session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.session)
    }

    /// The address a media line is received on: its `c=` (media level, else session level).
    pub fn media_connection(&self, mline: usize) -> Option<&Connection> {
        let m = self.media.get(mline)?;
        m.connection().or_else(|| self.connection())
    }

    /// Where the author of this SDP receives media line `mline`: RTP address (effective `c=` and
    /// `m=` port), RTCP address (`a=rtcp`, else RTP port + 1) and whether it offers `a=rtcp-mux`.
    /// `None` when the line is disabled (port 0), the index is out of range or the address is not
    /// an IP literal. A hold address (0.0.0.0 / ::) is returned as is.
    pub fn remote_media(&self, mline: usize) -> Option<RemoteMedia> {
        let m = self.media.get(mline)?;
        if m.desc.port == 0 {
            return None;
        }
        let ip = self.media_connection(mline)?.ip()?;
        let rtp = SocketAddr::new(ip, m.desc.port);
        let rtcp_mux = m.rtcp_mux();
        // `a=rtcp:9 IN IP4 0.0.0.0` (WebRTC) is a placeholder, not an address.
        let rtcp = match m
            .rtcp()
            .filter(|r| !r.address.is_some_and(|a| a.is_unspecified()))
        {
            Some(r) => SocketAddr::new(r.address.unwrap_or(ip), r.port),
            None if rtcp_mux => rtp,
            None => SocketAddr::new(ip, m.desc.port.wrapping_add(1)),
        };
        Some(RemoteMedia {
            rtp,
            rtcp: Some(rtcp),
            rtcp_mux,
        })
    }
}

impl fmt::Display for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.session {
            writeln_crlf(f, l)?;
        }
        for m in &self.media {
            write!(f, "m={}\r\n", m.desc)?;
            for l in &m.lines {
                writeln_crlf(f, l)?;
            }
        }
        Ok(())
    }
}

fn writeln_crlf(f: &mut fmt::Formatter<'_>, l: &Line) -> fmt::Result {
    write!(f, "{l}\r\n")
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(v) => write!(f, "v={v}"),
            Self::Origin(o) => write!(
                f,
                "o={} {} {} {} {} {}",
                o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
            ),
            Self::SessionName(s) => write!(f, "s={s}"),
            Self::Connection(c) => write!(f, "c={c}"),
            Self::Timing { start, stop } => write!(f, "t={start} {stop}"),
            Self::Attribute(a) => write!(f, "a={a}"),
            Self::Other { kind, value } => write!(f, "{kind}={value}"),
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

impl fmt::Display for MediaDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt_ in &self.formats {
            write!(f, " {fmt_}")?;
        }
        Ok(())
    }
}

impl Connection {
    /// `IN IP4 <ip>` or `IN IP6 <ip>`.
    pub fn new(ip: IpAddr) -> Self {
        Self {
            net_type: "IN".to_owned(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.to_owned(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, when it is an IP literal (a multicast `/ttl` suffix is ignored).
    pub fn ip(&self) -> Option<IpAddr> {
        let a = self.address.split('/').next()?;
        a.parse().ok()
    }

    /// Whether this is the RFC 2543 hold address (0.0.0.0, or :: for IPv6).
    pub fn is_hold(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

impl Media {
    /// The media-level `c=` line.
    pub fn connection(&self) -> Option<&Connection> {
        self.lines.iter().find_map(|l| match l {
            Line::Connection(c) => Some(c),
            _ => None,
        })
    }

    /// Attributes of this section, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.lines)
    }

    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes().find(|a| a.name == name)
    }

    /// Whether the section has `a=rtcp-mux`.
    pub fn rtcp_mux(&self) -> bool {
        self.attribute("rtcp-mux").is_some()
    }

    /// The `a=rtcp` attribute, parsed.
    pub fn rtcp(&self) -> Option<Rtcp> {
        Rtcp::parse(self.attribute("rtcp")?.value.as_deref()?)
    }

    /// The media direction (last direction attribute wins; `sendrecv` when there is none).
    /// Session-level direction is not consulted.
    pub fn direction(&self) -> Direction {
        direction_of(self.attributes()).unwrap_or(Direction::SendRecv)
    }

    /// ICE candidates of this section that parse.
    pub fn candidates(&self) -> impl Iterator<Item = Candidate> + '_ {
        self.attributes()
            .filter(|a| a.name == "candidate")
            .filter_map(|a| Candidate::parse(a.value.as_deref()?))
    }

    /// Clock rate per payload type from `a=rtpmap` lines (dynamic payload types included).
    pub fn clock_rates(&self) -> Vec<(u8, u32)> {
        self.attributes()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| {
                let v = a.value.as_deref()?;
                let (pt, enc) = v.split_once(' ')?;
                let rate = enc.split('/').nth(1)?;
                Some((pt.trim().parse().ok()?, rate.trim().parse().ok()?))
            })
            .collect()
    }
}

fn attributes(lines: &[Line]) -> impl Iterator<Item = &Attribute> {
    lines.iter().filter_map(|l| match l {
        Line::Attribute(a) => Some(a),
        _ => None,
    })
}

fn direction_of<'a>(attrs: impl Iterator<Item = &'a Attribute>) -> Option<Direction> {
    let mut d = None;
    for a in attrs {
        d = match a.name.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => d,
        };
    }
    d
}

impl Sdp {
    /// Effective direction of media line `mline`: media-level attribute, else session-level,
    /// else `sendrecv`.
    pub fn direction(&self, mline: usize) -> Direction {
        self.media
            .get(mline)
            .and_then(|m| direction_of(m.attributes()))
            .or_else(|| direction_of(self.attributes()))
            .unwrap_or(Direction::SendRecv)
    }

    /// Whether media line `mline` is on hold in the RFC 2543 sense (hold address) or does not
    /// want to receive (`sendonly` / `inactive`).
    pub fn is_hold(&self, mline: usize) -> bool {
        self.media_connection(mline)
            .is_some_and(Connection::is_hold)
            || matches!(
                self.direction(mline),
                Direction::SendOnly | Direction::Inactive
            )
    }
}

impl Candidate {
    /// Parses the value of `a=candidate:` (without the `candidate:` prefix). Extension
    /// attributes after `typ` are accepted and ignored.
    pub fn parse(value: &str) -> Option<Self> {
        let mut it = value.split_ascii_whitespace();
        let foundation = it.next()?.to_owned();
        let component = it.next()?.parse().ok()?;
        let transport = it.next()?.to_owned();
        let priority = it.next()?.parse().ok()?;
        let address = it.next()?.to_owned();
        let port = it.next()?.parse().ok()?;
        if it.next()? != "typ" {
            return None;
        }
        let typ = it.next()?.to_owned();
        Some(Self {
            foundation,
            component,
            transport,
            priority,
            address,
            port,
            typ,
        })
    }
}

impl Rtcp {
    /// Parses `<port> [IN IP4|IP6 <address>]`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut it = value.split_ascii_whitespace();
        let port = it.next()?.parse().ok()?;
        let address = match (it.next(), it.next(), it.next()) {
            (Some(_), Some(_), Some(a)) => a.parse().ok(),
            _ => None,
        };
        Some(Self { port, address })
    }
}

fn parse_line(kind: char, value: &str, line: usize) -> Result<Line, SdpError> {
    Ok(match kind {
        'v' => Line::Other {
            kind,
            value: value.to_owned(),
        },
        'o' => {
            let f: Vec<&str> = value.split_ascii_whitespace().collect();
            if f.len() != 6 {
                return Err(SdpError::Origin { line });
            }
            Line::Origin(Origin {
                username: f[0].to_owned(),
                session_id: f[1].to_owned(),
                session_version: f[2].to_owned(),
                net_type: f[3].to_owned(),
                addr_type: f[4].to_owned(),
                address: f[5].to_owned(),
            })
        }
        's' => Line::SessionName(value.to_owned()),
        'c' => {
            let f: Vec<&str> = value.split_ascii_whitespace().collect();
            if f.len() != 3 {
                return Err(SdpError::Connection { line });
            }
            Line::Connection(Connection {
                net_type: f[0].to_owned(),
                addr_type: f[1].to_owned(),
                address: f[2].to_owned(),
            })
        }
        't' => {
            let mut it = value.split_ascii_whitespace();
            let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
                return Err(SdpError::Timing { line });
            };
            let (Ok(start), Ok(stop)) = (a.parse(), b.parse()) else {
                return Err(SdpError::Timing { line });
            };
            Line::Timing { start, stop }
        }
        'a' => {
            let (name, v) = match value.split_once(':') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (value, None),
            };
            Line::Attribute(Attribute {
                name: name.to_owned(),
                value: v,
            })
        }
        _ => Line::Other {
            kind,
            value: value.to_owned(),
        },
    })
}

fn parse_media(value: &str) -> Option<MediaDesc> {
    let mut it = value.split_ascii_whitespace();
    let media = it.next()?.to_owned();
    let port_field = it.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    let proto = it.next()?.to_owned();
    let formats: Vec<String> = it.map(str::to_owned).collect();
    if formats.is_empty() {
        return None;
    }
    Some(MediaDesc {
        media,
        port,
        port_count,
        proto,
        formats,
    })
}

/// Rewrites `sdp` so that its media is received by the relay: the session-level and media-level
/// `c=` become `relay`, the port of m-line `i` becomes `ports[i]` and `a=rtcp` becomes
/// `ports[i] + 1` (or `ports[i]` with `a=rtcp-mux`) on `relay`.
///
/// Left unchanged: m-lines with port 0 (rejected) or without an entry in `ports` (or a 0 entry),
/// hold addresses (0.0.0.0 / ::) so that hold keeps its meaning, and every other line.
pub fn anchor(sdp: &mut Sdp, relay: IpAddr, ports: &[u16]) {
    for l in &mut sdp.session {
        if let Line::Connection(c) = l {
            if !c.is_hold() {
                *c = Connection::new(relay);
            }
        }
    }
    let session_hold = sdp.connection().is_some_and(Connection::is_hold);
    for (m, &port) in sdp.media.iter_mut().zip(ports) {
        if m.desc.port == 0 || port == 0 {
            continue;
        }
        m.desc.port = port;
        let mux = m.rtcp_mux();
        let hold = m.connection().map_or(session_hold, Connection::is_hold);
        for l in &mut m.lines {
            match l {
                Line::Connection(c) if !c.is_hold() => *c = Connection::new(relay),
                Line::Attribute(a) if a.name == "rtcp" && a.value.is_some() => {
                    let rtcp_port = if mux { port } else { port.wrapping_add(1) };
                    let old = a.value.as_deref().and_then(Rtcp::parse);
                    let keep_addr = old.as_ref().and_then(|r| r.address).is_some();
                    a.value = Some(if keep_addr && !hold {
                        let c = Connection::new(relay);
                        format!("{rtcp_port} {c}")
                    } else if keep_addr {
                        // Hold: keep the (hold) address, move the port.
                        let v = a.value.as_deref().unwrap_or_default();
                        let rest = v.split_once(' ').map_or("", |(_, r)| r);
                        format!("{rtcp_port} {rest}")
                    } else {
                        rtcp_port.to_string()
                    });
                }
                _ => {}
            }
        }
    }
}

/// The foundation used for the relay candidates we add.
pub const RELAY_FOUNDATION: &str = "ferrorelay";

/// ICE priority of a relay candidate (RFC 8445 §5.1.2.1: type preference 0, local preference
/// 65535).
pub fn relay_priority(component: u16) -> u32 {
    (65535u32 << 8) + (256 - u32::from(component.clamp(1, 256)))
}

/// Adds `a=candidate:ferrorelay <c> UDP <prio> <relay> <port> typ relay raddr <relay> rport
/// <port>` to every m-line that has ICE candidates but no `typ relay` one: component 1 on
/// `ports[i]`, and component 2 on `ports[i] + 1` unless the section has `a=rtcp-mux` and no
/// component-2 candidate. The new lines go right after the section's last candidate. Returns how
/// many candidates were added. Lines with port 0 or without a (non-zero) entry in `ports` are
/// skipped.
pub fn add_relay_candidate(sdp: &mut Sdp, relay: IpAddr, ports: &[u16]) -> usize {
    let mut added = 0;
    for (m, &port) in sdp.media.iter_mut().zip(ports) {
        if m.desc.port == 0 || port == 0 {
            continue;
        }
        let mut any = false;
        let mut has_relay = false;
        let mut has_comp2 = false;
        for c in m.candidates() {
            any = true;
            has_relay |= c.typ.eq_ignore_ascii_case("relay");
            has_comp2 |= c.component == 2;
        }
        if !any || has_relay {
            continue;
        }
        let last = m
            .lines
            .iter()
            .rposition(|l| matches!(l, Line::Attribute(a) if a.name == "candidate"))
            .unwrap_or(m.lines.len().saturating_sub(1));
        let mut components = vec![(1u16, port)];
        if !m.rtcp_mux() || has_comp2 {
            components.push((2, port.wrapping_add(1)));
        }
        for (i, (comp, p)) in components.into_iter().enumerate() {
            let value = format!(
                "{RELAY_FOUNDATION} {comp} UDP {} {relay} {p} typ relay raddr {relay} rport {p}",
                relay_priority(comp)
            );
            let at = (last + 1 + i).min(m.lines.len());
            m.lines.insert(
                at,
                Line::Attribute(Attribute {
                    name: "candidate".to_owned(),
                    value: Some(value),
                }),
            );
            added += 1;
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_must_come_first() {
        assert_eq!(
            Sdp::parse(b"o=- 1 1 IN IP4 1.2.3.4\r\n"),
            Err(SdpError::Version { line: 1 })
        );
        assert_eq!(Sdp::parse(b"\r\n\r\n"), Err(SdpError::Empty));
        assert_eq!(Sdp::parse(&[0xff, 0xfe]), Err(SdpError::NotUtf8));
    }

    #[test]
    fn priority_is_below_every_host_or_srflx() {
        assert_eq!(relay_priority(1), 16_777_215);
        assert_eq!(relay_priority(2), 16_777_214);
        assert!(relay_priority(1) < 100 << 24);
    }
}
