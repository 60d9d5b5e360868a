//! The values of `<param name=... value=...>` attributes: what each Rust type accepts as
//! written in voipswitch's XML.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::model::{DigestAlgorithm, LogFormat, Transport};
use crate::origin::Advertise;

/// A value as written in a `value` attribute.
pub(super) trait XmlValue: Sized {
    fn from_xml(s: &str) -> Result<Self, String>;
}

impl XmlValue for String {
    fn from_xml(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
}

impl XmlValue for bool {
    fn from_xml(s: &str) -> Result<Self, String> {
        match s.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("invalid value {s:?}: expected true or false")),
        }
    }
}

macro_rules! xml_integer {
    ($($t:ty),*) => {$(
        impl XmlValue for $t {
            fn from_xml(s: &str) -> Result<Self, String> {
                s.trim().parse().map_err(|_| {
                    format!("invalid value {s:?}: expected an integer from {} to {}", <$t>::MIN, <$t>::MAX)
                })
            }
        }
    )*};
}
xml_integer!(u16, u32);

impl XmlValue for Advertise {
    fn from_xml(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

macro_rules! xml_name {
    ($($t:ty),*) => {$(
        impl XmlValue for $t {
            fn from_xml(s: &str) -> Result<Self, String> {
                s.trim().parse().map_err(|e: crate::model::UnknownName| e.to_string())
            }
        }
    )*};
}
xml_name!(
    Transport,
    LogFormat,
    crate::model::ContactRouting,
    crate::model::ShardMerge
);

/// An IP address, IPv6 with or without brackets.
pub(super) struct XmlIp(pub(super) IpAddr);

impl XmlValue for XmlIp {
    fn from_xml(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let t = t
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(t);
        t.parse()
            .map(XmlIp)
            .map_err(|_| format!("invalid value {s:?}: expected an IP address"))
    }
}

/// A time in whole seconds.
#[derive(Debug)]
pub(super) struct Seconds(pub(super) Duration);

impl XmlValue for Seconds {
    fn from_xml(s: &str) -> Result<Self, String> {
        let seconds: u32 = s
            .trim()
            .parse()
            .map_err(|_| format!("invalid value {s:?}: expected a whole number of seconds"))?;
        Ok(Seconds(Duration::from_secs(seconds.into())))
    }
}

/// A comma-separated list of names, each trimmed; empty entries are dropped (`value=""` is the
/// empty list).
pub(super) struct List(pub(super) Vec<String>);

impl XmlValue for List {
    fn from_xml(s: &str) -> Result<Self, String> {
        Ok(List(
            s.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// A comma-separated list of digest algorithm names: `SHA-256,MD5`.
pub(super) struct Algorithms(pub(super) Vec<DigestAlgorithm>);

impl XmlValue for Algorithms {
    fn from_xml(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| DigestAlgorithm::from_str(name).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()
            .map(Algorithms)
    }
}

/// A socket address, `ip:port` (IPv6 in brackets).
pub(super) struct XmlAddr(pub(super) std::net::SocketAddr);

impl XmlValue for XmlAddr {
    fn from_xml(s: &str) -> Result<Self, String> {
        crate::origin::parse_socket_addr(s.trim()).map(XmlAddr)
    }
}

/// A comma-separated list of socket addresses.
pub(super) struct XmlAddrs(pub(super) Vec<std::net::SocketAddr>);

impl XmlValue for XmlAddrs {
    fn from_xml(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(crate::origin::parse_socket_addr)
            .collect::<Result<_, _>>()
            .map(XmlAddrs)
    }
}
