//! HTTP digest (RFC 7616 as used by SIP, RFC 8760): MD5 and SHA-256, `qop=auth` or none.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// A digest algorithm ferroswitch offers and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// `MD5`/`SHA-256` (case-insensitive); `None` for anything else (including `-sess`).
    pub fn from_name(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Self::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Self::Sha256)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `parts` joined with `:`.
    pub fn hash_hex(self, parts: &[&[u8]]) -> String {
        fn run<D: md5::Digest>(mut d: D, parts: &[&[u8]]) -> String {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex::encode(d.finalize())
        }
        match self {
            Self::Md5 => run(Md5::new(), parts),
            Self::Sha256 => run(Sha256::new(), parts),
        }
    }

    /// `H(username:realm:password)`.
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hash_hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
    }
}

/// The inputs of a digest `response` beyond HA1.
#[derive(Debug, Clone, Copy)]
pub struct ResponseParams<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    /// `Some((nc as 8 hex digits, cnonce))` with `qop=auth`, `None` for the RFC 2069 form.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// `KD(HA1, nonce:nc:cnonce:qop:HA2)` (or `KD(HA1, nonce:HA2)` without qop), lower-case hex.
pub fn response(alg: Algorithm, ha1: &str, p: &ResponseParams<'_>) -> String {
    let ha2 = alg.hash_hex(&[p.method.as_bytes(), p.uri.as_bytes()]);
    match p.qop_auth {
        Some((nc, cnonce)) => alg.hash_hex(&[
            ha1.as_bytes(),
            p.nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => alg.hash_hex(&[ha1.as_bytes(), p.nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// Constant-time comparison of two hex strings.
pub fn eq_hex(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_md5() {
        // RFC 2617 §3.5 example
        let ha1 = Algorithm::Md5.ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let r = response(
            Algorithm::Md5,
            &ha1,
            &ResponseParams {
                method: "GET",
                uri: "/dir/index.html",
                nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                qop_auth: Some(("00000001", "0a4f113b")),
            },
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_example_sha256() {
        // RFC 7616 §3.9.1 (password "Circle of Life")
        let ha1 = Algorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        let r = response(
            Algorithm::Sha256,
            &ha1,
            &ResponseParams {
                method: "GET",
                uri: "/dir/index.html",
                nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
            },
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(eq_hex(&r, &r.to_uppercase()));
        assert!(!eq_hex(&r, &r[1..]));
    }
}
