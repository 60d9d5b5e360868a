//! `Authorization` / `Proxy-Authorization` credentials and `WWW-Authenticate` /
//! `Proxy-Authenticate` challenges (RFC 3261 §22, RFC 7616 / RFC 8760 digest).

use std::borrow::Cow;

use crate::cursor::{is_token, split_commas, unquote, Cursor};
use crate::{Error, Result};

/// `scheme name=value, name="value", ...` with values unquoted.
fn parse_auth<'a>(
    s: &'a str,
    header: &'static str,
) -> Result<(&'a str, Vec<(&'a str, Cow<'a, str>)>)> {
    let mut c = Cursor::new(s);
    let scheme = c.token().ok_or(Error::header(header, "missing scheme"))?;
    c.skip_ws();
    let mut params = Vec::new();
    for item in split_commas(c.rest()) {
        if item.is_empty() {
            return Err(Error::header(header, "empty parameter"));
        }
        let mut ic = Cursor::new(item);
        let name = ic
            .token()
            .ok_or(Error::header(header, "bad parameter name"))?;
        if !ic.eat(b'=') {
            return Err(Error::header(header, "parameter without value"));
        }
        ic.skip_ws();
        let value: Cow<'a, str> = if ic.peek() == Some(b'"') {
            unquote(
                ic.quoted()
                    .ok_or(Error::header(header, "unterminated quoted string"))?,
            )
        } else {
            let v = ic.take_while(|b| is_token(b) || b == b'/' || b == b':');
            Cow::Borrowed(v)
        };
        ic.skip_ws();
        if !ic.is_empty() {
            return Err(Error::header(header, "junk after parameter"));
        }
        params.push((name, value));
    }
    Ok((scheme, params))
}

fn take<'a>(params: &mut Vec<(&'a str, Cow<'a, str>)>, name: &str) -> Option<Cow<'a, str>> {
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
