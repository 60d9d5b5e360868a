//! The `digest_auth` target: the `Authorization` / `Proxy-Authorization` digest parser
//! (`sip_message::Credentials`), the challenge parser (`Challenge`), and the registrar's
//! judgement of credentials (`Registrar::authenticate`) on attacker-chosen header values.

use std::fmt::Write as _;

use bytes::Bytes;
use registrar::{Account, AuthKind, AuthRejection, Presented, Registrar, RegistrarConfig};
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, Credentials, HeaderName, Message, Peer, Transport};

/// The registrar's clock in the checks (ms; a plausible unix time, so nonce expiry works).
/// The registrar's clock in these checks: one instant, and one millisecond after it.
static NOW: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);
const PASSWORD: &str = "fuzz-password";

/// The input (UTF-8) as a credentials or challenge header value:
/// - what `Credentials::parse` / `Challenge::parse` accept prints back (values quoted) and
///   re-parses to the same value;
/// - as the `Authorization` and `Proxy-Authorization` of a REGISTER, the registrar answers it
///   with a well-formed 400/401/403/407 and never accepts it (its nonce was not issued);
/// - the same credentials with the registrar's realm, a nonce it issued and the right digest
///   response authenticate exactly when their algorithm, qop and nonce count say they should.
pub fn digest_auth(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let creds = Credentials::parse(s);
    if let Ok(c) = &creds {
        let printed = print_credentials(c);
        match Credentials::parse(&printed) {
            Ok(again) => assert_eq!(&again, c, "credentials changed by a round trip: {printed}"),
            Err(e) => panic!("printed credentials do not parse: {e}: {printed:?}"),
        }
    }
    if let Ok(c) = Challenge::parse(s) {
        let printed = print_challenge(&c);
        match Challenge::parse(&printed) {
            Ok(again) => assert_eq!(again, c, "challenge changed by a round trip: {printed}"),
            Err(e) => panic!("printed challenge does not parse: {e}: {printed:?}"),
        }
    }
    // a header value is one line: the message parser would take a line break for the next header
    if !s.contains(['\r', '\n']) {
        if let Some(m) = register_with(s) {
            judge_made_up(&m);
        }
    }
    if let Ok(c) = creds {
        judge_genuine(c);
    }
}

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        remote: "192.0.2.7:5060".parse().expect("socket address"),
        local: "192.0.2.1:5060".parse().expect("socket address"),
        conn: None,
    }
}

/// A REGISTER carrying `value` as its `Authorization` and `Proxy-Authorization`.
fn register_with(value: &str) -> Option<Message> {
    let text = format!(
        "REGISTER sip:ferroswitch SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKfuzz\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@ferroswitch>;tag=f1\r\n\
         To: <sip:alice@ferroswitch>\r\n\
         Call-ID: fuzz@192.0.2.7\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:alice@192.0.2.7:5060>\r\n\
         Authorization: {value}\r\n\
         Proxy-Authorization: {value}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text)).ok()
}

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig::default(), b"fuzz nonce secret")
}

/// Credentials as sent, with a nonce nobody issued: never accepted, always answered.
fn judge_made_up(m: &Message) {
    let mut reg = registrar();
    for kind in [AuthKind::Www, AuthKind::Proxy] {
        let presented = Presented::new(m, kind);
        assert_eq!(
            presented.username().map(str::to_owned),
            Registrar::credentials_username(m, kind)
        );
        let account = presented
            .username()
            .map(|l| Account::with_password(l, &reg.config().realm, PASSWORD, true));
        assert!(
            !reg.credentials_worth_judging(*NOW, &presented),
            "a nonce we never issued is worth judging"
        );
        match reg.authenticate(*NOW, m, &presented, peer(), account.as_ref()) {
            Ok(_) => panic!("authenticated with a nonce we never issued"),
            Err(r) => check_rejection(&r.response, r.status(), kind),
        }
    }
}

/// The response must parse and carry the status (and, for a challenge, the challenge header).
fn check_rejection(response: &Bytes, status: u16, kind: AuthKind) {
    let resp = match Message::parse(response.clone()) {
        Ok(r) => r,
        Err(e) => panic!(
            "the registrar's {status} does not parse: {e}\n{:?}",
            String::from_utf8_lossy(response)
        ),
    };
    assert_eq!(resp.status(), Some(status));
    let (challenge_status, header) = match kind {
        AuthKind::Www => (401, HeaderName::WwwAuthenticate),
        AuthKind::Proxy => (407, HeaderName::ProxyAuthenticate),
    };
    assert!(
        [400, 403, challenge_status].contains(&status),
        "unexpected status {status} for {kind:?}"
    );
    if status == challenge_status {
        let mut n = 0;
        for v in resp.header_values(&header) {
            if let Err(e) = Challenge::parse(v) {
                panic!("our own challenge does not parse: {e}: {v:?}");
            }
            n += 1;
        }
        assert!(n > 0, "a {status} without {header}");
    }
}

/// The fuzzed credentials made genuine: our realm, a nonce we issued, the right response.
/// Returns the verdict it checked (`None`: the credentials cannot ride in a message).
fn judge_genuine(mut c: Credentials<'_>) -> Option<Expect> {
    let mut reg = registrar();
    let realm = reg.config().realm.clone();
    let offered = reg.config().algorithms.clone();
    // the nonce as a client reads it from our challenge
    let probe = register_with("Digest").expect("the probe REGISTER parses");
    let challenge = reg.challenge(*NOW, &probe, peer(), AuthKind::Www, false);
    let challenge = Message::parse(challenge.response).expect("our challenge parses");
    let header = challenge
        .header(&HeaderName::WwwAuthenticate)
        .expect("WWW-Authenticate");
    let nonce = Challenge::parse(header)
        .expect("our challenge header parses")
        .nonce
        .into_owned();

    c.scheme = "Digest";
    c.realm = realm.clone().into();
    c.nonce = nonce.clone().into();
    let alg = c
        .algorithm
        .as_deref()
        .map_or(Some(Algorithm::Md5), Algorithm::from_name);
    let qop = c.qop.as_deref().map(|q| q.eq_ignore_ascii_case("auth"));
    let nc_hex = c.nc.map(|n| format!("{n:08x}"));
    if let Some(alg) = alg {
        let ha1 = alg.ha1(&c.username, &realm, PASSWORD);
        let qop_auth = match (qop, &nc_hex, c.cnonce.as_deref()) {
            (Some(true), Some(nc), Some(cn)) => Some((nc.as_str(), cn)),
            _ => None,
        };
        let response = digest::response(
            alg,
            &ha1,
            &ResponseParams {
                method: "REGISTER",
                uri: &c.uri,
                nonce: &nonce,
                qop_auth,
            },
        );
        c.response = response.into();
    }
    let printed = print_credentials(&c);
    if printed.contains(['\r', '\n']) {
        return None;
    }
    // (a value the header parser takes may still be refused in a message, a NUL for one)
    let m = register_with(&printed)?;
    match m.authorization() {
        Some(Ok(parsed)) => assert_eq!(parsed, c, "the message changed the credentials"),
        other => panic!("the message reads {other:?} from {printed:?}"),
    }
    let account = Account::with_password(&c.username, &realm, PASSWORD, true);
    let later = *NOW + std::time::Duration::from_millis(1);
    let presented = Presented::new(&m, AuthKind::Www);
    let verdict = reg.authenticate(later, &m, &presented, peer(), Some(&account));
    // what RFC 7616 and the registrar's rules make of these credentials
    let expected = match (alg, qop) {
        (Some(a), _) if !offered.contains(&a) => Expect::Challenge { stale: false },
        (None, _) => Expect::Challenge { stale: false },
        (_, Some(false)) => Expect::BadRequest,
        (_, Some(true)) if c.nc.is_none() || c.cnonce.is_none() => Expect::BadRequest,
        // the replay ring keeps one byte per nonce: counts 1..=255 (0 never comes first)
        (_, Some(true)) if !(1..=255).contains(&c.nc.unwrap_or(0)) => {
            Expect::Challenge { stale: true }
        }
        _ => Expect::Accepted,
    };
    match (verdict, expected) {
        (Ok(a), Expect::Accepted) => assert_eq!(a.login, c.username),
        (Err(r), Expect::Challenge { stale }) => {
            assert_eq!(
                r.reason,
                AuthRejection::Challenge {
                    kind: AuthKind::Www,
                    stale
                },
                "{printed}"
            );
            check_rejection(&r.response, r.status(), AuthKind::Www);
        }
        (Err(r), Expect::BadRequest) => {
            assert_eq!(r.status(), 400, "{:?}: {printed}", r.reason);
            check_rejection(&r.response, r.status(), AuthKind::Www);
        }
        (Ok(_), e) => panic!("accepted, expected {e:?}: {printed}"),
        (Err(r), e) => panic!("refused ({:?}), expected {e:?}: {printed}", r.reason),
    }
    Some(expected)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Accepted,
    Challenge { stale: bool },
    BadRequest,
}

/// `"value"` with `"` and `\` escaped (RFC 3261 quoted-pair).
fn quote(out: &mut String, v: &str) {
    out.push('"');
    for ch in v.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

fn param(out: &mut String, name: &str, v: &str) {
    if !out.ends_with(' ') {
        out.push_str(", ");
    }
    out.push_str(name);
    out.push('=');
    quote(out, v);
}

/// Credentials as a client would print them, every value quoted but `nc`.
pub(crate) fn print_credentials(c: &Credentials<'_>) -> String {
    let mut out = format!("{} ", c.scheme);
    param(&mut out, "username", &c.username);
    param(&mut out, "realm", &c.realm);
    param(&mut out, "nonce", &c.nonce);
    param(&mut out, "uri", &c.uri);
    param(&mut out, "response", &c.response);
    for (name, v) in [
        ("algorithm", &c.algorithm),
        ("cnonce", &c.cnonce),
        ("opaque", &c.opaque),
        ("qop", &c.qop),
    ] {
        if let Some(v) = v {
            param(&mut out, name, v);
        }
    }
    if let Some(nc) = c.nc {
        let _ = write!(out, ", nc={nc:08x}");
    }
    out
}

fn print_challenge(c: &Challenge<'_>) -> String {
    let mut out = format!("{} ", c.scheme);
    param(&mut out, "realm", &c.realm);
    param(&mut out, "nonce", &c.nonce);
    for (name, v) in [
        ("algorithm", &c.algorithm),
        ("qop", &c.qop),
        ("opaque", &c.opaque),
    ] {
        if let Some(v) = v {
            param(&mut out, name, v);
        }
    }
    if c.stale {
        out.push_str(", stale=true");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(header: &str) -> Option<Expect> {
        judge_genuine(Credentials::parse(header).expect("the header parses"))
    }

    /// The genuine-credentials check really authenticates, and really refuses: it is no
    /// property that holds by never reaching the registrar's success.
    #[test]
    fn made_genuine_credentials_get_the_expected_verdict() {
        const BASE: &str = "Digest username=\"alice\", realm=\"elsewhere\", nonce=\"n\", \
                            uri=\"sip:ferroswitch\", response=\"00\"";
        let cases = [
            ("", Expect::Accepted),
            (", algorithm=SHA-256", Expect::Accepted),
            (
                ", algorithm=md5, qop=auth, nc=00000001, cnonce=\"c\"",
                Expect::Accepted,
            ),
            (", qop=auth, nc=000000ff, cnonce=\"c\"", Expect::Accepted),
            (
                ", qop=auth, nc=00000100, cnonce=\"c\"",
                Expect::Challenge { stale: true },
            ),
            (
                ", qop=auth, nc=00000000, cnonce=\"c\"",
                Expect::Challenge { stale: true },
            ),
            (", qop=auth", Expect::BadRequest),
            (
                ", qop=auth-int, nc=00000001, cnonce=\"c\"",
                Expect::BadRequest,
            ),
            (
                ", algorithm=SHA-512-256",
                Expect::Challenge { stale: false },
            ),
        ];
        for (extra, expected) in cases {
            assert_eq!(
                verdict(&format!("{BASE}{extra}")),
                Some(expected),
                "{extra}"
            );
        }
    }

    #[test]
    fn credentials_round_trip_through_the_printer() {
        let c = Credentials::parse(
            "Digest username=\"a\\\"b\\\\c\", realm=r, nonce=\"n\", uri=\"sip:x\", \
             response=\"0f\", nc=0000000a, opaque=\"\"",
        )
        .unwrap();
        assert_eq!(c.username, "a\"b\\c");
        assert_eq!(Credentials::parse(&print_credentials(&c)), Ok(c));
        // and a made-up nonce is never accepted
        digest_auth(
            b"Digest username=\"alice\", realm=\"ferroswitch\", nonce=\"00000406deadbeef00000000\
              0123456789abcdef0123456789abcdef\", uri=\"sip:x\", response=\"0f\"",
        );
    }
}
