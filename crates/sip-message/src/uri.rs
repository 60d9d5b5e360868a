//! `sip:`, `sips:` and `tel:` URIs (RFC 3261 §19.1, RFC 3966) as borrowed views.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::header::params::Params;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sip => "sip",
            Self::Sips => "sips",
            Self::Tel => "tel",
        }
    }
}

/// The host part of a SIP URI or Via sent-by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Domain(&'a str),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parses `example.com`, `192.0.2.1` or `[2001:db8::1]`.
    pub fn parse(s: &'a str) -> Result<Self> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(Error::Uri("unclosed IPv6 reference"))?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::V6)
                .map_err(|_| Error::Uri("bad IPv6 reference"));
        }
        if s.is_empty() {
            return Err(Error::Uri("empty host"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            if let Ok(v4) = s.parse::<Ipv4Addr>() {
                return Ok(Host::V4(v4));
            }
        }
        let ok = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !ok || s.starts_with('.') || s.starts_with('-') {
            return Err(Error::Uri("bad host name"));
        }
        Ok(Host::Domain(s))
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => f.write_str(d),
            Self::V4(a) => write!(f, "{a}"),
            Self::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A parsed URI borrowing from its text. For `tel:` URIs `user` holds the number and `host`
/// is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    pub scheme: Scheme,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: Host<'a>,
    pub port: Option<u16>,
    pub params: Params<'a>,
    /// The `?h=v&...` part, without the `?`.
    pub headers: Option<&'a str>,
    raw: &'a str,
}

fn is_user_char(b: u8) -> bool {
    // unreserved / escaped / user-unreserved (RFC 3261 §25.1); ':' splits off the password
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'%'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
                | b';'
                | b'?'
                | b'/'
        )
}

fn is_password_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'%'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
        )
}

/// Characters allowed in URI parameter names/values and header parts.
fn is_param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'%'
                | b'['
                | b']'
                | b'/'
                | b':'
                | b'&'
                | b'+'
                | b'$'
                | b'='
                | b';'
                | b'?'
                | b'@'
                | b','
        )
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

impl<'a> Uri<'a> {
    /// Parses a URI. Only `sip`, `sips` and `tel` are accepted.
    pub fn parse(s: &'a str) -> Result<Self> {
        let colon = s.find(':').ok_or(Error::Uri("no scheme"))?;
        let scheme = match &s[..colon] {
            x if x.eq_ignore_ascii_case("sip") => Scheme::Sip,
            x if x.eq_ignore_ascii_case("sips") => Scheme::Sips,
            x if x.eq_ignore_ascii_case("tel") => Scheme::Tel,
            _ => return Err(Error::Uri("unsupported scheme")),
        };
        let rest = &s[colon + 1..];
        if rest.is_empty() {
            return Err(Error::Uri("empty URI"));
        }
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"' || b >= 0x7f)
        {
            return Err(Error::Uri("illegal character"));
        }
        if scheme == Scheme::Tel {
            let (number, params) = match rest.find(';') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let ok = !number.is_empty()
                && number.bytes().all(|b| {
                    b.is_ascii_hexdigit()
                        || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
                });
            if !ok {
                return Err(Error::Uri("bad tel number"));
            }
            return Ok(Self {
                scheme,
                user: Some(number),
                password: None,
                host: Host::Domain(""),
                port: None,
                params: Params::parse_uri(params)?,
                headers: None,
                raw: s,
            });
        }
        let (userinfo, hostpart) = match rest.find('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.find(':') {
                    Some(i) => (&ui[..i], Some(&ui[i + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() || !u.bytes().all(is_user_char) || !valid_escapes(u) {
                    return Err(Error::Uri("bad user part"));
                }
                if let Some(p) = p {
                    if !p.bytes().all(is_password_char) || !valid_escapes(p) {
                        return Err(Error::Uri("bad password"));
                    }
                }
                (Some(u), p)
            }
        };
        // hostport ends at ';' or '?' (IPv6 references contain ':' but neither of those).
        let end = hostpart.find([';', '?']).unwrap_or(hostpart.len());
        let hostport = &hostpart[..end];
        let (host_s, port) = if hostport.starts_with('[') {
            let close = hostport
                .find(']')
                .ok_or(Error::Uri("unclosed IPv6 reference"))?;
            let after = &hostport[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None if after.is_empty() => None,
                None => return Err(Error::Uri("junk after IPv6 reference")),
            };
            (&hostport[..=close], port)
        } else {
            match hostport.rfind(':') {
                Some(i) => (&hostport[..i], Some(parse_port(&hostport[i + 1..])?)),
                None => (hostport, None),
            }
        };
        let host = Host::parse(host_s)?;
        let after = &hostpart[end..];
        let (params_s, headers) = match after.find('?') {
            Some(i) => (&after[..i], Some(&after[i + 1..])),
            None => (after, None),
        };
        if let Some(h) = headers {
            if h.is_empty() || !h.bytes().all(is_param_char) || !valid_escapes(h) {
                return Err(Error::Uri("bad headers part"));
            }
        }
        Ok(Self {
            scheme,
            user,
            password,
            host,
            port,
            params: Params::parse_uri(params_s)?,
            headers,
            raw: s,
        })
    }

    /// The user part with `%HH` escapes decoded (RFC 3261 §19.1.4: `sip:%75ser@h` and
    /// `sip:user@h` name the same user). Bytes, since an escape may decode to NUL or to a
    /// byte that is not UTF-8 on its own; borrowed when there is nothing to decode.
    pub fn user_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        self.user.map(percent_decode)
    }

    /// The text the URI was parsed from.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// `user@host[:port]` without parameters — the address-of-record form.
    pub fn aor(&self) -> String {
        let mut s = String::with_capacity(self.raw.len());
        s.push_str(self.scheme.as_str());
        s.push(':');
        if let Some(u) = self.user {
            s.push_str(u);
            if self.scheme != Scheme::Tel {
                s.push('@');
            }
        }
        if self.scheme != Scheme::Tel {
            s.push_str(&self.host.to_string());
        }
        s
    }

    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params.get(name)
    }

    /// The transport implied by the `transport` parameter, lower-cased.
    pub fn transport_param(&self) -> Option<&'a str> {
        self.params.get("transport").flatten()
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// Decodes `%HH` escapes; a `%` not followed by two hex digits is kept as it is.
pub fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn parse_port(p: &str) -> Result<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Uri("bad port"));
    }
    p.parse::<u16>()
        .map_err(|_| Error::Uri("port out of range"))
}

pub(crate) fn uri_param_char_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| is_param_char(b) && b != b';' && b != b'?')
        && valid_escapes(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_sip_uri() {
        let u = Uri::parse("sip:alice:secret@example.com:5070;transport=tcp;lr?subject=x").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Host::Domain("example.com"));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport_param(), Some("tcp"));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.headers, Some("subject=x"));
        assert_eq!(u.aor(), "sip:alice@example.com");
    }

    #[test]
    fn ipv6_hosts() {
        let u = Uri::parse("sips:bob@[2001:db8::10]:5061").unwrap();
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
        let u = Uri::parse("sip:[::1]").unwrap();
        assert_eq!(u.host, Host::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(u.port, None);
        assert!(Uri::parse("sip:[::1").is_err());
        assert!(Uri::parse("sip:[zz::1]").is_err());
    }

    #[test]
    fn tel_uri() {
        let u = Uri::parse("tel:+48-123-456;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user, Some("+48-123-456"));
        assert_eq!(u.param("phone-context"), Some(Some("example.com")));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "sip:",
            "http://x",
            "sip:a b@x",
            "sip:user@",
            "sip:user@host:99999",
            "sip:user@host:",
            "<sip:x@y>",
            "sip:%zz@x",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn semicolon_in_user_part() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, Host::Domain("example.com"));
    }
}
