//! Proxy authentication (407 / Proxy-Authorization) of requests other than REGISTER, with the
//! digest computed over the request's own method.

use bytes::Bytes;
use registrar::{AuthKind, AuthRejection, ForbiddenReason, Presented, Registrar};
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, HeaderName, Message, MessageBuilder, Method};

use crate::client::*;

fn invite(proxy_auth: Option<&str>) -> Message {
    let mut b = MessageBuilder::request(&Method::Invite, "sip:bob@example.com");
    b.header(
        "Via",
        "SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK-inv1;rport",
    )
    .header("Max-Forwards", 70)
    .header("From", "<sip:alice@example.com>;tag=a1")
    .header("To", "<sip:bob@example.com>")
    .header("Call-ID", "call-1@test")
    .header("CSeq", "1 INVITE")
    .header("Contact", "<sip:alice@198.51.100.7:5062>");
    if let Some(a) = proxy_auth {
        b.header("Proxy-Authorization", a);
    }
    Message::parse(b.finish()).expect("parses")
}

fn sign(nonce: &str, method: &str, password: &str, nc: u32) -> String {
    let uri = "sip:bob@example.com";
    let nc = format!("{nc:08x}");
    let ha1 = Algorithm::Md5.ha1("alice", REALM, password);
    let resp = digest::response(
        Algorithm::Md5,
        &ha1,
        &ResponseParams {
            method,
            uri,
            nonce,
            qop_auth: Some((&nc, "abc")),
        },
    );
    format!(
        "Digest username=\"alice\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"abc\""
    )
}

fn proxy_nonce(response: &Bytes) -> String {
    let m = Message::parse(response.clone()).expect("parses");
    assert_eq!(m.status(), Some(407));
    assert!(m.header(&HeaderName::WwwAuthenticate).is_none());
    let v = m
        .header(&HeaderName::ProxyAuthenticate)
        .expect("Proxy-Authenticate");
    Challenge::parse(v).expect("challenge").nonce.to_string()
}

#[test]
fn invite_is_challenged_407_then_accepted_with_method_invite() {
    let mut srv = Server::new();
    let peer = udp_peer("198.51.100.7:5062");
    let alice = srv.accounts.get("alice").cloned();
    let req = invite(None);
    assert_eq!(Registrar::credentials_username(&req, AuthKind::Proxy), None);
    let r = srv
        .reg
        .authenticate(
            at(0),
            &req,
            &Presented::new(&req, AuthKind::Proxy),
            peer,
            alice.as_ref(),
        )
        .expect_err("challenged");
    assert_eq!(r.status(), 407);
    assert_eq!(
        r.reason,
        AuthRejection::Challenge {
            kind: AuthKind::Proxy,
            stale: false
        }
    );
    let nonce = proxy_nonce(&r.response);

    // a digest over the wrong method is refused
    let bad = invite(Some(&sign(&nonce, "REGISTER", "wonderland", 1)));
    let r = srv
        .reg
        .authenticate(
            at(0),
            &bad,
            &Presented::new(&bad, AuthKind::Proxy),
            peer,
            alice.as_ref(),
        )
        .expect_err("wrong method");
    assert_eq!(r.status(), 403);
    // a wrong password too
    let bad = invite(Some(&sign(&nonce, "INVITE", "guess", 2)));
    let r = srv
        .reg
        .authenticate(
            at(0),
            &bad,
            &Presented::new(&bad, AuthKind::Proxy),
            peer,
            alice.as_ref(),
        )
        .expect_err("wrong password");
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.reason,
        AuthRejection::Forbidden {
            reason: ForbiddenReason::WrongPassword {
                login: "alice".into()
            }
        }
    );

    let good = invite(Some(&sign(&nonce, "INVITE", "wonderland", 3)));
    assert_eq!(
        Registrar::credentials_username(&good, AuthKind::Proxy).as_deref(),
        Some("alice")
    );
    let acc = srv
        .reg
        .authenticate(
            at(0),
            &good,
            &Presented::new(&good, AuthKind::Proxy),
            peer,
            alice.as_ref(),
        )
        .expect("authenticated");
    assert_eq!(acc.login, "alice");
    // the same count again is a replay: a stale challenge
    let r = srv
        .reg
        .authenticate(
            at(0),
            &good,
            &Presented::new(&good, AuthKind::Proxy),
            peer,
            alice.as_ref(),
        )
        .expect_err("replay");
    assert_eq!(r.status(), 407);
    assert!(matches!(
        r.reason,
        AuthRejection::Challenge { stale: true, .. }
    ));
    let m = Message::parse(r.response).unwrap();
    assert!(m
        .header(&HeaderName::ProxyAuthenticate)
        .unwrap()
        .contains("stale=true"));
}

#[test]
fn www_credentials_do_not_satisfy_a_proxy_challenge() {
    let mut srv = Server::new();
    let peer = udp_peer("198.51.100.7:5062");
    let alice = srv.accounts.get("alice").cloned();
    let no_creds = invite(None);
    let first = srv
        .reg
        .authenticate(
            at(0),
            &no_creds,
            &Presented::new(&no_creds, AuthKind::Proxy),
            peer,
            alice.as_ref(),
        )
        .expect_err("challenged");
    let nonce = proxy_nonce(&first.response);
    // the right digest, but in Authorization instead of Proxy-Authorization
    let mut b = MessageBuilder::request(&Method::Invite, "sip:bob@example.com");
    b.header("Via", "SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK-inv2")
        .header("From", "<sip:alice@example.com>;tag=a1")
        .header("To", "<sip:bob@example.com>")
        .header("Call-ID", "call-2@test")
        .header("CSeq", "1 INVITE")
        .header("Authorization", sign(&nonce, "INVITE", "wonderland", 1));
    let req = Message::parse(b.finish()).unwrap();
    let r = srv
        .reg
        .authenticate(
            at(0),
            &req,
            &Presented::new(&req, AuthKind::Proxy),
            peer,
            alice.as_ref(),
        )
        .expect_err("no proxy credentials");
    assert_eq!(r.status(), 407);
}

/// A challenge's To tag names the registrar's shard, not the request's owner: an INVITE is
/// challenged on the shard it landed on, and the ACK of the 407 is keyed by this tag.
#[test]
fn a_challenge_is_tagged_for_its_registrars_shard() {
    let mut srv = Server::new();
    let peer = udp_peer("198.51.100.7:5062");
    let req = invite(None);
    for shard in 0..3 {
        srv.reg.set_shard(shard, 3);
        let r = srv.reg.challenge(at(0), &req, peer, AuthKind::Proxy, false);
        let m = Message::parse(r.response).unwrap();
        let tag = m.to_header().unwrap().tag().expect("a To tag").to_owned();
        assert_eq!(sip_message::shard::index(&tag, 3), shard, "{tag}");
        assert_eq!(
            tag,
            req.stable_tag_for(shard, 3),
            "the same for a retransmission"
        );
    }
}
