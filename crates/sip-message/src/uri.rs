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
        let (mut numeric, mut name) = (true, true);
        for b in s.bytes() {
            numeric &= b.is_ascii_digit() || b == b'.';
            name &= CLASS[usize::from(b)] & HOST != 0;
        }
        if numeric {
            if let Ok(v4) = s.parse::<Ipv4Addr>() {
                return Ok(Host::V4(v4));
            }
        }
        if !name || s.starts_with('.') || s.starts_with('-') {
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

// Character classes of URI parts (RFC 3261 §25.1), as bits of one table.
/// `unreserved / user-unreserved` (and `%` of `escaped`); `:` splits off the password.
const USER: u8 = 1;
/// `unreserved / "&" / "=" / "+" / "$" / ","` (and `%`).
const PASSWORD: u8 = 2;
/// Parameter and header characters, leniently (`paramchar`, `hnv-unreserved`, `;`, `?`, `@`).
const PARAM: u8 = 4;
/// [`PARAM`] without the separators `;` and `?`: one parameter name or value.
const PARAM_ITEM: u8 = 8;
/// Host names: letters, digits, `-`, `.`, `_`.
const HOST: u8 = 16;
/// Never in a URI: controls, SP, `<`, `>`, `"`, DEL and non-ASCII.
const ILLEGAL: u8 = 32;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alnum = b.is_ascii_alphanumeric();
        let mark = matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' | b'%'
        );
        let mut c = 0;
        if alnum || mark || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            c |= USER;
        }
        if alnum || mark || matches!(b, b'&' | b'=' | b'+' | b'$' | b',') {
            c |= PASSWORD;
        }
        let param_extra = matches!(
            b,
            b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$' | b'=' | b'@' | b','
        );
        if alnum || mark || param_extra || b == b';' || b == b'?' {
            c |= PARAM;
        }
        if alnum || mark || param_extra {
            c |= PARAM_ITEM;
        }
        if alnum || matches!(b, b'-' | b'.' | b'_') {
            c |= HOST;
        }
        if b <= b' ' || matches!(b, b'<' | b'>' | b'"') || b >= 0x7f {
            c |= ILLEGAL;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Every byte of `s` is in `class`, and every `%` starts an `escaped` (`%` HEX HEX).
fn chars_ok(s: &str, class: u8) -> bool {
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
        } else if CLASS[usize::from(b[i])] & class == 0 {
            return false;
        } else {
            i += 1;
        }
    }
    true
}

fn find(s: &str, c: u8) -> Option<usize> {
    s.bytes().position(|b| b == c)
}

impl<'a> Uri<'a> {
    /// Parses a URI. Only `sip`, `sips` and `tel` are accepted.
    pub fn parse(s: &'a str) -> Result<Self> {
        let colon = find(s, b':').ok_or(Error::Uri("no scheme"))?;
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
        // one pass: refuse what never belongs in a URI, and find the userinfo's end
        let mut at = None;
        for (i, b) in rest.bytes().enumerate() {
            if CLASS[usize::from(b)] & ILLEGAL != 0 {
                return Err(Error::Uri("illegal character"));
            }
            if b == b'@' && at.is_none() {
                at = Some(i);
            }
        }
        if scheme == Scheme::Tel {
            let (number, params) = match find(rest, b';') {
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
        let (userinfo, hostpart) = match at {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match find(ui, b':') {
                    Some(i) => (&ui[..i], Some(&ui[i + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() || !chars_ok(u, USER) {
                    return Err(Error::Uri("bad user part"));
                }
                if p.is_some_and(|p| !chars_ok(p, PASSWORD)) {
                    return Err(Error::Uri("bad password"));
                }
                (Some(u), p)
            }
        };
        // hostport ends at ';' or '?' (IPv6 references contain ':' but neither of those).
        let end = hostpart
            .bytes()
            .position(|b| b == b';' || b == b'?')
            .unwrap_or(hostpart.len());
        let hostport = &hostpart[..end];
        let (host_s, port) = if hostport.starts_with('[') {
            let close = find(hostport, b']').ok_or(Error::Uri("unclosed IPv6 reference"))?;
            let after = &hostport[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None if after.is_empty() => None,
                None => return Err(Error::Uri("junk after IPv6 reference")),
            };
            (&hostport[..=close], port)
        } else {
            match hostport.bytes().rposition(|b| b == b':') {
                Some(i) => (&hostport[..i], Some(parse_port(&hostport[i + 1..])?)),
                None => (hostport, None),
            }
        };
        let host = Host::parse(host_s)?;
        let after = &hostpart[end..];
        let (params_s, headers) = match find(after, b'?') {
            Some(i) => (&after[..i], Some(&after[i + 1..])),
            None => (after, None),
        };
        if headers.is_some_and(|h| h.is_empty() || !chars_ok(h, PARAM)) {
            return Err(Error::Uri("bad headers part"));
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
    chars_ok(s, PARAM_ITEM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_classes_are_the_rfc_3261_sets() {
        const ALNUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        const MARK: &str = "-_.!~*'()";
        let set = |extra: &str| -> Vec<u8> { format!("{ALNUM}{MARK}%{extra}").into_bytes() };
        let user = set("&=+$,;?/");
        let password = set("&=+$,");
        let param = set("[]/:&+$=;?@,");
        let param_item = set("[]/:&+$=@,");
        let host = format!("{ALNUM}-._").into_bytes();
        for b in 0..=255u8 {
            let c = CLASS[usize::from(b)];
            assert_eq!(c & USER != 0, user.contains(&b), "user {b:#x}");
            assert_eq!(c & PASSWORD != 0, password.contains(&b), "password {b:#x}");
            assert_eq!(c & PARAM != 0, param.contains(&b), "param {b:#x}");
            assert_eq!(
                c & PARAM_ITEM != 0,
                param_item.contains(&b),
                "param item {b:#x}"
            );
            assert_eq!(c & HOST != 0, host.contains(&b), "host {b:#x}");
            let illegal = b <= b' ' || b"<>\"".contains(&b) || b >= 0x7f;
            assert_eq!(c & ILLEGAL != 0, illegal, "illegal {b:#x}");
        }
        assert!(chars_ok("a%41b", USER));
        assert!(!chars_ok("a%4", USER));
        assert!(!chars_ok("a%zz", USER));
        assert!(!chars_ok("a@b", USER));
        assert!(chars_ok("", PASSWORD));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("plain"), Cow::Borrowed(&b"plain"[..]));
        assert_eq!(&*percent_decode("%75se%72"), b"user");
        assert_eq!(&*percent_decode("%00%ff%FF"), &[0, 0xff, 0xff]);
        // a % that is not an escape stays as it is
        assert_eq!(&*percent_decode("100%"), b"100%");
        assert_eq!(&*percent_decode("%Z%45"), b"%ZE");
        assert_eq!(&*percent_decode("%4"), b"%4");
    }

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
