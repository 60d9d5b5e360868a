//! Where a setting came from ([`Origin`]), so that a problem found only when the server
//! applies it (a port already in use) names what to change; and the socket-address syntax
//! shared by the TOML form and the command line ([`parse_socket_addr`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// Where a setting was given. It is not part of the setting's value: two settings that differ
/// only in where they were written compare equal (the TOML and XML samples describe the same
/// server).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Origin {
    /// Built in code (a default, a test).
    #[default]
    Unknown,
    /// Written in the config file at `line` (1-based) as `key`, in the file's own terms.
    File { line: usize, key: String },
    /// Given on the command line as `flag` (`--sip`), overriding the file.
    CommandLine { flag: String },
}

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Origin {}

impl Origin {
    /// What to change, for a message: ``listener[0].address (etc/ferroswitch.toml:21)``, ``the
    /// --sip option``, or `None` when unknown. `file` is the config file.
    pub fn describe(&self, file: &Path) -> Option<String> {
        match self {
            Self::Unknown => None,
            Self::File { line, key } => Some(format!("{key} ({}:{line})", file.display())),
            Self::CommandLine { flag } => Some(format!("the {flag} option")),
        }
    }
}

/// The address a listener puts in Via, Record-Route and Contact (and, by default, the media
/// relay in SDP) instead of its bound one: the public address of a server behind 1:1 NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Advertise {
    pub ip: IpAddr,
    /// `None`: the port the listener is bound to.
    pub port: Option<u16>,
}

impl Advertise {
    pub fn new(ip: IpAddr, port: Option<u16>) -> Self {
        Self { ip, port }
    }

    /// The advertised address of a listener bound to `bound`.
    pub fn addr(&self, bound: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(bound.port()))
    }

    /// Parses `ip` or `ip:port` (`[v6]:port` for IPv6); a specified unicast address.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let advertise = match s.parse::<IpAddr>() {
            Ok(ip) => Self::new(ip, None),
            Err(_) => {
                let addr = parse_socket_addr(s).map_err(|e| {
                    format!("{e}; give the public address as ip or ip:port, e.g. 203.0.113.10")
                })?;
                if addr.port() == 0 {
                    return Err(format!("{s}: port 0 cannot be advertised"));
                }
                Self::new(addr.ip(), Some(addr.port()))
            }
        };
        if advertise.ip.is_unspecified() || advertise.ip.is_multicast() {
            return Err(format!(
                "{} cannot be advertised: give the address clients reach this listener on",
                advertise.ip
            ));
        }
        Ok(advertise)
    }
}

impl std::str::FromStr for Advertise {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for Advertise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => SocketAddr::new(self.ip, port).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// Parses `ip:port` (`[v6]:port` for IPv6) and says what is wrong when it cannot: a port out
/// of range, a missing port, an address that is not an IP.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "{s:?} has no port: write ip:port, e.g. 0.0.0.0:5060 ([::]:5060 for IPv6)"
        ));
    };
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_err()
    {
        return Err(format!(
            "port {port} is out of range: a port is a number from 0 to 65535 (0 takes a free one)"
        ));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "{port:?} is not a port: a port is a number from 0 to 65535 (0 takes a free one)"
        ));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Err(format!(
        "{host:?} is not an IP address: write ip:port, e.g. 0.0.0.0:5060 ([::]:5060 for IPv6)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_address_errors_say_what_is_wrong() {
        assert_eq!(parse_socket_addr("[::1]:5060").unwrap().port(), 5060);
        let e = parse_socket_addr("0.0.0.0:70000").unwrap_err();
        assert!(
            e.contains("port 70000 is out of range") && e.contains("0 to 65535"),
            "{e}"
        );
        assert!(parse_socket_addr("0.0.0.0")
            .unwrap_err()
            .contains("has no port"));
        assert!(parse_socket_addr("0.0.0.0:x")
            .unwrap_err()
            .contains("not a port"));
        assert!(parse_socket_addr("host:5060")
            .unwrap_err()
            .contains("not an IP address"));
    }

    #[test]
    fn advertise_takes_an_ip_or_an_ip_and_port() {
        let bound: SocketAddr = "10.0.0.5:5060".parse().unwrap();
        let a = Advertise::parse("203.0.113.10").unwrap();
        assert_eq!(a.addr(bound), "203.0.113.10:5060".parse().unwrap());
        let a = Advertise::parse("203.0.113.10:15060").unwrap();
        assert_eq!(a.addr(bound), "203.0.113.10:15060".parse().unwrap());
        assert!(Advertise::parse("0.0.0.0").is_err());
        assert!(Advertise::parse("203.0.113.10:99999")
            .unwrap_err()
            .contains("out of range"));
    }
}
