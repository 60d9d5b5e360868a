//! `Authorization` / `Proxy-Authorization` credentials and `WWW-Authenticate` /
//! `Proxy-Authenticate` challenges (RFC 3261 §22, RFC 7616 / RFC 8760 digest).

use std::borrow::Cow;

use crate::cursor::{is_token, unquote, Cursor};
use crate::{Error, Result};

/// `name=value` pairs of a credentials or challenge header, values unquoted.
type AuthParams<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// `scheme name=value, name="value", ...` with values unquoted.
fn parse_auth<'a>(s: &'a str, header: &'static str) -> Result<(&'a str, AuthParams<'a>)> {
    let mut c = Cursor::new(s);
    let scheme = c.token().ok_or(Error::header(header, "missing scheme"))?;
    let mut params = Vec::with_capacity(10);
    c.skip_ws();
    if c.is_empty() {
        return Ok((scheme, params));
    }
    // one pass: name LWS "=" LWS (token / quoted-string) LWS ("," / end)
    loop {
        let Some(name) = c.token() else {
            let reason = match c.peek() {
                None | Some(b',') => "empty parameter",
                Some(_) => "bad parameter name",
            };
            return Err(Error::header(header, reason));
        };
        if !c.eat(b'=') {
            return Err(Error::header(header, "parameter without value"));
        }
        c.skip_ws();
        let value: Cow<'a, str> = if c.peek() == Some(b'"') {
            let q = c.quoted();
            unquote(q.ok_or(Error::header(header, "unterminated quoted string"))?)
        } else {
            Cow::Borrowed(c.take_while(|b| is_token(b) || b == b'/' || b == b':'))
        };
        params.push((name, value));
        c.skip_ws();
        if c.is_empty() {
            return Ok((scheme, params));
        }
        if !c.eat(b',') {
            return Err(Error::header(header, "junk after parameter"));
        }
    }
}

fn take<'a>(params: &mut AuthParams<'a>, name: &str) -> Option<Cow<'a, str>> {
    let i = params
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
    Some(params.swap_remove(i).1)
}

/// Digest credentials from an `Authorization` or `Proxy-Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub scheme: &'a str,
    pub username: Cow<'a, str>,
    pub realm: Cow<'a, str>,
    pub nonce: Cow<'a, str>,
    pub uri: Cow<'a, str>,
    pub response: Cow<'a, str>,
    /// As written (`MD5`, `SHA-256`, ...); `None` means MD5.
    pub algorithm: Option<Cow<'a, str>>,
    pub cnonce: Option<Cow<'a, str>>,
    pub opaque: Option<Cow<'a, str>>,
    pub qop: Option<Cow<'a, str>>,
    /// The nonce count, parsed from its 8 hex digits.
    pub nc: Option<u32>,
}

impl<'a> Credentials<'a> {
    pub fn parse(s: &'a str) -> Result<Self> {
        const H: &str = "Authorization";
        let (scheme, mut p) = parse_auth(s, H)?;
        let mut req =
            |n: &'static str| take(&mut p, n).ok_or(Error::header(H, "missing digest parameter"));
        let username = req("username")?;
        let realm = req("realm")?;
        let nonce = req("nonce")?;
        let uri = req("uri")?;
        let response = req("response")?;
        let nc = match take(&mut p, "nc") {
            None => None,
            Some(v) if v.len() == 8 => Some(
                u32::from_str_radix(&v, 16)
                    .map_err(|_| Error::header(H, "nc is not 8 hex digits"))?,
            ),
            Some(_) => return Err(Error::header(H, "nc is not 8 hex digits")),
        };
        Ok(Self {
            scheme,
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm: take(&mut p, "algorithm"),
            cnonce: take(&mut p, "cnonce"),
            opaque: take(&mut p, "opaque"),
            qop: take(&mut p, "qop"),
            nc,
        })
    }

    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

/// A digest challenge from `WWW-Authenticate` / `Proxy-Authenticate` (the client side, for
/// tests and for a future outbound-registration feature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    pub scheme: &'a str,
    pub realm: Cow<'a, str>,
    pub nonce: Cow<'a, str>,
    pub algorithm: Option<Cow<'a, str>>,
    pub qop: Option<Cow<'a, str>>,
    pub opaque: Option<Cow<'a, str>>,
    pub stale: bool,
}

impl<'a> Challenge<'a> {
    pub fn parse(s: &'a str) -> Result<Self> {
        const H: &str = "WWW-Authenticate";
        let (scheme, mut p) = parse_auth(s, H)?;
        Ok(Self {
            scheme,
            realm: take(&mut p, "realm").ok_or(Error::header(H, "missing realm"))?,
            nonce: take(&mut p, "nonce").ok_or(Error::header(H, "missing nonce"))?,
            algorithm: take(&mut p, "algorithm"),
            qop: take(&mut p, "qop"),
            opaque: take(&mut p, "opaque"),
            stale: take(&mut p, "stale").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        let c = Credentials::parse(
            "Digest username=\"alice\", realm=\"ferro\", nonce=\"abc\", uri=\"sip:ferro\", response=\"0123\", algorithm=SHA-256, cnonce=\"x y\", qop=auth, nc=0000000a",
        )
        .unwrap();
        assert!(c.is_digest());
        assert_eq!(c.username, "alice");
        assert_eq!(c.algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(c.nc, Some(10));
        assert_eq!(c.cnonce.as_deref(), Some("x y"));
        assert!(Credentials::parse("Digest username=\"a\"").is_err());
        assert!(Credentials::parse(
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"r\", nc=12"
        )
        .is_err());
    }

    #[test]
    fn parameter_list_syntax() {
        const OK: &str = "username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"0f\"";
        let text = format!("Digest   {OK}  ");
        let c = Credentials::parse(&text).unwrap();
        assert_eq!(c.uri, "sip:x");
        // LWS around '=' and ',' and a quoted comma
        let c = Credentials::parse(
            "Digest username = \"a,b\" ,realm=\"r\",nonce=\"n\" , uri=\"u\",response=\"0f\"",
        )
        .unwrap();
        assert_eq!(c.username, "a,b");
        for bad in [
            format!("Digest {OK},"),
            format!("Digest {OK},,cnonce=\"x\""),
            format!("Digest ,{OK}"),
            format!("Digest {OK}, cnonce"),
            format!("Digest {OK}, cnonce=\"x"),
            format!("Digest {OK}, cnonce=x y"),
            format!("Digest {OK}, \"x\"=y"),
            "Digest".to_owned(),
            String::new(),
        ] {
            assert!(Credentials::parse(&bad).is_err(), "{bad}");
        }
        let c = Challenge::parse("Digest realm=\"r\",nonce=\"n\",qop=\"auth,auth-int\"").unwrap();
        assert_eq!(c.qop.as_deref(), Some("auth,auth-int"));
    }

    #[test]
    fn challenge() {
        let c = Challenge::parse(
            "Digest realm=\"ferro\", nonce=\"n1\", algorithm=MD5, qop=\"auth\", stale=TRUE",
        )
        .unwrap();
        assert_eq!(c.realm, "ferro");
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert!(c.stale);
    }
}
