//! The `Via` header (RFC 3261 §20.42, RFC 3581 `rport`).

use std::fmt::Write as _;

use crate::cursor::{is_token, split_commas, Cursor};
use crate::header::params::Params;
use crate::print::{decimal, push_ip};
use crate::uri::Host;
use crate::{Error, Result};

/// One `Via` entry: `SIP/2.0/UDP host:port;branch=...;received=...;rport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// Upper-case transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...).
    pub transport: &'a str,
    pub host: Host<'a>,
    pub port: Option<u16>,
    pub params: Params<'a>,
}

const H: &str = "Via";

impl<'a> Via<'a> {
    /// Parses every comma-separated entry of one `Via` header value.
    pub fn parse_list(value: &'a str) -> impl Iterator<Item = Result<Self>> + 'a {
        split_commas(value).map(Self::parse)
    }

    /// Parses a single entry (no commas).
    pub fn parse(s: &'a str) -> Result<Self> {
        let mut c = Cursor::new(s);
        let proto = c.token().ok_or(Error::header(H, "missing protocol"))?;
        if !proto.eq_ignore_ascii_case("SIP") || !c.eat(b'/') {
            return Err(Error::header(H, "protocol is not SIP"));
        }
        if c.token() != Some("2.0") || !c.eat(b'/') {
            return Err(Error::header(H, "version is not 2.0"));
        }
        let transport = c.token().ok_or(Error::header(H, "missing transport"))?;
        c.skip_ws();
        let start = c.pos();
        if c.peek() == Some(b'[') {
            c.take_while(|b| b != b']');
            if !c.eat(b']') {
                return Err(Error::header(H, "unclosed IPv6 reference"));
            }
        } else {
            c.take_while(|b| is_token(b) && b != b'%');
        }
        let host = Host::parse(c.slice(start, c.pos()))
            .map_err(|_| Error::header(H, "bad sent-by host"))?;
        let port = if c.eat(b':') {
            c.skip_ws();
            let p = c.take_while(|b| b.is_ascii_digit());
            if p.is_empty() || p.len() > 5 {
                return Err(Error::header(H, "bad port"));
            }
            Some(
                p.parse::<u16>()
                    .map_err(|_| Error::header(H, "port out of range"))?,
            )
        } else {
            None
        };
        let params = Params::parse_header(&mut c, H)?;
        c.skip_ws();
        if !c.is_empty() {
            return Err(Error::header(H, "junk after parameters"));
        }
        Ok(Self {
            transport,
            host,
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// `Some(None)` when the client asked for rport without a value (RFC 3581).
    pub fn rport(&self) -> Option<Option<&'a str>> {
        self.params.get("rport")
    }

    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received").flatten()
    }

    /// Prints this entry with `received`/`rport` set (RFC 3581 §4): any existing values are
    /// replaced. `rport` is only filled in when the client asked for it.
    pub fn print_with_received(&self, received: std::net::IpAddr, port: u16) -> String {
        let push_num = |s: &mut String, n: u16| {
            s.push_str(std::str::from_utf8(decimal(u32::from(n)).as_ref()).unwrap_or("0"));
        };
        let mut s = String::with_capacity(96);
        s.push_str("SIP/2.0/");
        s.push_str(self.transport);
        s.push(' ');
        match self.host {
            Host::Domain(d) => s.push_str(d),
            Host::V4(a) => push_ip(&mut s, a.into()),
            Host::V6(_) => {
                let _ = write!(s, "{}", self.host);
            }
        }
        if let Some(p) = self.port {
            s.push(':');
            push_num(&mut s, p);
        }
        let asked_rport = self.params.contains("rport");
        for (n, v) in self.params.iter() {
            if n.eq_ignore_ascii_case("received") || n.eq_ignore_ascii_case("rport") {
                continue;
            }
            s.push(';');
            s.push_str(n);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s.push_str(";received=");
        push_ip(&mut s, received);
        if asked_rport {
            s.push_str(";rport=");
            push_num(&mut s, port);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_via() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4("192.0.2.1".parse().unwrap()));
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK776"));
        assert_eq!(v.rport(), Some(None));
    }

    #[test]
    fn spaces_everywhere_and_lists() {
        let vs: Vec<_> = Via::parse_list(
            "SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
        )
        .collect::<Result<_>>()
        .unwrap();
        assert_eq!(vs.len(), 2);
        assert_eq!(vs[0].transport, "TCP");
        assert_eq!(vs[0].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(vs[1].branch(), Some("z9hG4bK30239"));
    }

    #[test]
    fn ipv6_sent_by_and_received() {
        let v = Via::parse("SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKx;rport").unwrap();
        assert_eq!(v.host, Host::V6("2001:db8::9".parse().unwrap()));
        let s = v.print_with_received("2001:db8::1".parse().unwrap(), 4000);
        assert_eq!(
            s,
            "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKx;received=2001:db8::1;rport=4000"
        );
    }

    #[test]
    fn rejects_bad() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/3.0/UDP host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host;branch=",
        ] {
            assert!(Via::parse_list(bad).any(|r| r.is_err()), "{bad}");
        }
    }
}
