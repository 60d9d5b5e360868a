//! Digest authentication of REGISTER: challenges, algorithms, refusals, nonce counts and expiry.

use registrar::{
    AuthKind, AuthRejection, BindingChange, CredentialsProblem, ForbiddenReason, Presented,
    Register, RegisterError, RegistrarConfig,
};
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{ConnId, HeaderName, Peer, Transport};

use crate::client::*;

const CONTACT: &str = "<sip:alice@198.51.100.7:5062>";

/// JsSIP 3.x reads only the last challenge header and gives up unless it is MD5: over
/// WebSocket, where browsers are, the configured order is reversed.
#[test]
fn over_websocket_the_challenges_come_in_reverse_order() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    c.peer = Peer {
        transport: Transport::Wss,
        conn: Some(ConnId(7)),
        ..c.peer
    };
    let req = c.build(&Reg::contact("<sip:x1@abc.invalid;transport=ws>"));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 401);
    let algs: Vec<_> = challenges(&out)
        .iter()
        .map(|c| c.algorithm.as_deref().unwrap().to_owned())
        .collect();
    assert_eq!(algs, ["MD5", "SHA-256"], "{}", text(&out));
}

#[test]
fn no_credentials_get_two_challenges_sha256_first() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let req = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 401);
    assert_eq!(out.login, None);
    assert!(out.changes.is_empty());
    assert!(srv.reg.location().is_empty());

    let resp = response(&out);
    let raw: Vec<&str> = resp.header_values(&HeaderName::WwwAuthenticate).collect();
    assert_eq!(raw.len(), 2, "{}", text(&out));
    for r in &raw {
        assert!(r.contains("qop=\"auth\""), "qop must be quoted: {r}");
        assert!(!r.contains("stale"), "{r}");
    }
    let chs = challenges(&out);
    let algs: Vec<_> = chs
        .iter()
        .map(|c| c.algorithm.as_deref().unwrap())
        .collect();
    assert_eq!(algs, ["SHA-256", "MD5"]);
    for ch in &chs {
        assert!(ch.scheme.eq_ignore_ascii_case("Digest"));
        assert_eq!(ch.realm, REALM);
        assert_eq!(ch.qop.as_deref(), Some("auth"));
        assert!(!ch.stale);
        assert!(!ch.nonce.is_empty());
    }
    // one nonce serves both algorithms
    assert_eq!(chs[0].nonce, chs[1].nonce);

    // To gets a tag, From/Call-ID/CSeq are echoed
    let to = resp.to_header().unwrap();
    assert!(to.tag().is_some_and(|t| !t.is_empty()));
    assert_eq!(
        resp.from_header().unwrap().tag(),
        req.from_header().unwrap().tag()
    );
    assert_eq!(resp.call_id(), req.call_id());
    assert_eq!(resp.cseq().unwrap(), req.cseq().unwrap());

    // RFC 3581: received and rport filled in from the packet source
    let via = resp.top_via().unwrap();
    assert_eq!(via.branch(), req.top_via().unwrap().branch());
    assert_eq!(via.received(), Some("198.51.100.7"));
    assert_eq!(via.rport(), Some(Some("5062")));
}

#[test]
fn via_without_rport_gets_received_only() {
    let mut srv = Server::new();
    let mut c = Client::new("alice", "wonderland", udp_peer("198.51.100.8:40000"));
    c.rport = false;
    let req = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 401);
    let resp = response(&out);
    let via = resp.top_via().unwrap();
    assert_eq!(via.received(), Some("198.51.100.8"));
    assert_eq!(via.rport(), None);
}

#[test]
fn retransmitted_request_gets_the_same_to_tag() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let req = c.build(&Reg::contact(CONTACT));
    let a = srv.handle(at(0), &req, c.peer);
    let b = srv.handle(at(500), &req, c.peer);
    let tag = |o| response(o).to_header().unwrap().tag().unwrap().to_owned();
    assert_eq!(tag(&a), tag(&b));
    let other = c.build(&Reg::contact(CONTACT));
    let d = srv.handle(at(600), &other, c.peer);
    assert_ne!(tag(&a), tag(&d), "a new transaction gets a new tag");
}

fn registers_with(alg: Algorithm) {
    let mut srv = Server::new();
    let peer = tcp_peer("198.51.100.7:50123", 42);
    let mut c = Client::new("alice", "wonderland", peer);
    c.alg = alg;
    let out = c.register(&mut srv, at(0), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(out.login.as_deref(), Some("alice"));
    assert!(out.registered);
    assert_eq!(
        listed(&out),
        [(CONTACT[1..CONTACT.len() - 1].to_owned(), 3600)]
    );
    assert!(header(&out, "WWW-Authenticate").is_none());
    let resp = response(&out);
    let via = resp.top_via().unwrap();
    assert_eq!(
        (via.received(), via.rport()),
        (Some("198.51.100.7"), Some(Some("50123")))
    );
    assert!(resp.to_header().unwrap().tag().is_some());

    let bindings: Vec<_> = srv
        .reg
        .location()
        .lookup("alice", at(0))
        .iter()
        .cloned()
        .collect();
    assert_eq!(bindings.len(), 1);
    let b = &bindings[0];
    assert_eq!(b.contact, "sip:alice@198.51.100.7:5062");
    assert_eq!(b.source.transport, Transport::Tcp);
    assert_eq!(b.source.remote, "198.51.100.7:50123".parse().unwrap());
    assert_eq!(b.source.conn, Some(ConnId(42)));
    assert_eq!(b.expires_at, at(3_600_000));
    assert_eq!(b.call_id, c.call_id);
    assert_eq!(b.cseq, c.cseq);
    match out.changes.as_slice() {
        [BindingChange::Upsert { login, binding }] => {
            assert_eq!(login, "alice");
            assert_eq!(binding, b);
        }
        other => panic!("expected one Upsert, got {other:?}"),
    }

    // refresh: still one binding, expiry moved, not "registered" again
    let out = c.register(&mut srv, at(60_000), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(!out.registered);
    assert!(matches!(
        out.changes.as_slice(),
        [BindingChange::Upsert { .. }]
    ));
    let bindings: Vec<_> = srv
        .reg
        .location()
        .lookup("alice", at(60_000))
        .iter()
        .cloned()
        .collect();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].expires_at, at(60_000 + 3_600_000));
    assert_eq!(srv.reg.location().len(), 1);
}

#[test]
fn md5_credentials_register() {
    registers_with(Algorithm::Md5);
}

#[test]
fn sha256_credentials_register() {
    registers_with(Algorithm::Sha256);
}

fn forbidden(reason: ForbiddenReason) -> RegisterError {
    RegisterError::Auth(AuthRejection::Forbidden { reason })
}

fn refused(c: &mut Client, srv: &mut Server) -> Outcome {
    let out = c.register(srv, at(0), &Reg::contact(CONTACT));
    assert!(out.changes.is_empty());
    assert!(!out.registered);
    assert!(out.login.is_none());
    assert_eq!(srv.reg.location().len(), 0);
    out
}

#[test]
fn wrong_password_is_forbidden() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    c.password = "guess".into();
    let out = refused(&mut c, &mut srv);
    assert_eq!(out.status(), 403, "{}", text(&out));
    assert_eq!(
        out.result,
        Err(forbidden(ForbiddenReason::WrongPassword {
            login: "alice".into()
        }))
    );
    assert!(header(&out, "WWW-Authenticate").is_none());
}

#[test]
fn unknown_user_is_forbidden() {
    let mut srv = Server::new();
    let mut c = Client::new("carol", "whatever", udp_peer("198.51.100.10:5060"));
    let out = refused(&mut c, &mut srv);
    assert_eq!(out.status(), 403, "{}", text(&out));
    assert_eq!(
        out.result,
        Err(forbidden(ForbiddenReason::UnknownAccount {
            login: "carol".into()
        }))
    );
}

#[test]
fn account_none_is_forbidden_even_with_right_digest() {
    // the driver found no account: whatever the digest, 403
    let mut srv = Server::new();
    let mut c = Client::alice();
    let first = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &first, c.peer);
    c.learn(&out);
    let req = c.build(&Reg::contact(CONTACT));
    let out = srv
        .reg
        .handle_register(at(0), &Register::new(&req), c.peer, None);
    assert_eq!(out.status(), 403);
    assert!(srv.reg.poll_event().is_none(), "a refusal changes nothing");
}

#[test]
fn disabled_account_is_forbidden() {
    let mut srv = Server::new();
    let mut c = Client::new("mallory", "m4ll0ry", udp_peer("198.51.100.11:5060"));
    let out = refused(&mut c, &mut srv);
    assert_eq!(out.status(), 403, "{}", text(&out));
    assert_eq!(
        out.result,
        Err(forbidden(ForbiddenReason::AccountDisabled {
            login: "mallory".into()
        }))
    );
}

#[test]
fn username_must_match_to_user() {
    // bob's valid credentials do not register alice
    let mut srv = Server::new();
    let mut c = Client::alice();
    c.auth_user = "bob".into();
    c.password = "builder".into();
    let out = refused(&mut c, &mut srv);
    assert_eq!(out.status(), 403, "{}", text(&out));
    assert!(
        matches!(&out.result, Err(RegisterError::ToMismatch { to, login })
            if to == "sip:alice@example.com" && login == "bob"),
        "{:?}",
        out.result
    );
    assert_eq!(srv.reg.location().lookup("bob", at(0)).count(), 0);
}

#[test]
fn other_realm_is_challenged_again() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    c.realm_override = Some("elsewhere".into());
    let out = refused(&mut c, &mut srv);
    assert_eq!(out.status(), 401, "{}", text(&out));
    let chs = challenges(&out);
    assert_eq!(chs.len(), 2);
    assert!(chs.iter().all(|ch| ch.realm == REALM && !ch.stale));
}

#[test]
fn algorithm_not_offered_is_challenged_again() {
    let cfg = RegistrarConfig {
        algorithms: vec![Algorithm::Sha256],
        ..RegistrarConfig::default()
    };
    let mut srv = Server::with_config(cfg);
    let mut c = Client::alice();
    c.alg = Algorithm::Sha256;
    let first = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &first, c.peer);
    assert_eq!(challenges(&out).len(), 1);
    c.learn(&out);
    // the client signs with MD5 although only SHA-256 was offered
    c.nonce.as_mut().unwrap().alg = Algorithm::Md5;
    let req = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 401, "{}", text(&out));
    // the same without an algorithm parameter (which means MD5)
    let auth = c.authorization(1).replace(", algorithm=MD5", "");
    c.cseq += 1;
    let req = c.build_raw(&Reg::contact(CONTACT), Some(&auth));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 401, "{}", text(&out));
    assert!(srv.reg.location().is_empty());
}

#[test]
fn unknown_algorithm_is_challenged_again() {
    // default config offers both; a -sess variant or an unknown name is neither
    let mut srv = Server::new();
    let mut c = Client::alice();
    let first = c.build(&Reg::contact(CONTACT));
    c.learn(&srv.handle(at(0), &first, c.peer));
    for name in ["MD5-sess", "SHA-512-256", "XYZ"] {
        let auth = c
            .authorization(1)
            .replace("algorithm=MD5", &format!("algorithm={name}"));
        c.cseq += 1;
        let req = c.build_raw(&Reg::contact(CONTACT), Some(&auth));
        let out = srv.handle(at(0), &req, c.peer);
        assert_eq!(out.status(), 401, "{name}: {}", text(&out));
        assert!(challenges(&out).iter().all(|ch| !ch.stale));
    }
    assert!(srv.reg.location().is_empty());
}

#[test]
fn replayed_nonce_count_is_stale_and_next_count_passes() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let out = c.register(&mut srv, at(0), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));

    // same nonce, same nc, new request: a replay
    c.cseq += 1;
    let auth = c.authorization(0);
    let req = c.build_raw(&Reg::contact(CONTACT), Some(&auth));
    let out = srv.handle(at(1_000), &req, c.peer);
    assert_eq!(out.status(), 401, "{}", text(&out));
    assert_eq!(
        out.result,
        Err(RegisterError::Auth(AuthRejection::Challenge {
            kind: AuthKind::Www,
            stale: true
        }))
    );
    let chs = challenges(&out);
    assert_eq!(chs.len(), 2);
    assert!(chs.iter().all(|ch| ch.stale), "{}", text(&out));
    assert!(out.changes.is_empty());

    // same nonce, nc + 1: accepted
    let out = c.register(&mut srv, at(2_000), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(c.nonce.as_ref().unwrap().nc, 2);

    // a lower count than the last one seen is a replay too
    c.nonce.as_mut().unwrap().nc = 0;
    let out = c.register(&mut srv, at(3_000), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 401, "{}", text(&out));
    assert!(challenges(&out)[0].stale);

    // the fresh nonce of the stale challenge works
    c.learn(&out);
    let out = c.register(&mut srv, at(4_000), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));
}

#[test]
fn failed_attempt_does_not_use_up_the_nonce_count() {
    // A wrong response must not record its nc: otherwise anyone holding a nonce could
    // burn counts (nc=ff) and lock the legitimate user out of it.
    let mut srv = Server::new();
    let mut c = Client::alice();
    let first = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &first, c.peer);
    c.learn(&out);
    let mut attacker = c.clone();
    attacker.password = "guess".into();
    attacker.nonce.as_mut().unwrap().nc = 0xfe;
    let out = attacker.register(&mut srv, at(0), &Reg::contact("<sip:evil@192.0.2.66>"));
    assert_eq!(out.status(), 403, "{}", text(&out));
    let out = c.register(&mut srv, at(10), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));
}

#[test]
fn expired_nonce_is_stale() {
    let lifetime = RegistrarConfig::default().nonce_lifetime_ms;
    let mut srv = Server::new();
    let mut c = Client::alice();
    let out = c.register(&mut srv, at(0), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200);

    // still valid just before the end of its life
    let out = c.register(&mut srv, at(lifetime - 1_000), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));

    let out = c.register(&mut srv, at(lifetime + 1_000), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 401, "{}", text(&out));
    let chs = challenges(&out);
    assert!(chs.iter().all(|ch| ch.stale), "{}", text(&out));
    assert!(out.changes.is_empty());
    c.learn(&out);
    let out = c.register(&mut srv, at(lifetime + 2_000), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200, "{}", text(&out));
}

#[test]
fn tampered_nonce_is_challenged_without_stale() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let first = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &first, c.peer);
    c.learn(&out);
    let n = c.nonce.as_mut().unwrap();
    // move the expiry forward: the MAC no longer matches
    let mut chars: Vec<char> = n.nonce.chars().collect();
    chars[0] = if chars[0] == 'f' { 'e' } else { 'f' };
    n.nonce = chars.into_iter().collect();
    let req = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 401, "{}", text(&out));
    let chs = challenges(&out);
    assert_eq!(chs.len(), 2);
    assert!(chs.iter().all(|ch| !ch.stale), "{}", text(&out));
    assert!(srv.reg.location().is_empty());

    // a nonce of another registrar (other secret) is not ours either
    let mut other = Server::with_config(RegistrarConfig::default());
    other.reg = registrar::Registrar::new(RegistrarConfig::default(), b"another secret");
    let mut c2 = Client::alice();
    let out = c2.register(&mut other, at(0), &Reg::contact(CONTACT));
    assert_eq!(out.status(), 200);
    let req = c2.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &req, c2.peer);
    assert_eq!(out.status(), 401);
    assert!(challenges(&out).iter().all(|ch| !ch.stale));
}

#[test]
fn auth_username_names_the_account_to_fetch() {
    let mut c = Client::alice();
    let req = c.build(&Reg::contact(CONTACT));
    assert_eq!(registrar::Registrar::auth_username(&req), None);
    c.nonce = Some(Nonce {
        realm: REALM.into(),
        nonce: "n".into(),
        alg: Algorithm::Md5,
        nc: 0,
    });
    c.auth_user = "bob".into();
    let req = c.build(&Reg::contact(CONTACT));
    assert_eq!(
        registrar::Registrar::auth_username(&req).as_deref(),
        Some("bob")
    );
}

#[test]
fn request_signed_before_a_restart_cannot_be_replayed() {
    // The replay ring is in memory; the secret survives restarts. A captured REGISTER must not
    // find a fresh count slot in the next process once its nonce id comes round again.
    let mut srv = Server::new();
    let mut c = Client::alice();
    let first = c.build(&Reg::contact(CONTACT));
    let out = srv.handle(at(0), &first, c.peer);
    c.learn(&out);
    let captured = c.build(&Reg::contact(CONTACT));
    assert_eq!(srv.handle(at(0), &captured, c.peer).status(), 200);

    let mut restarted = Server::new();
    let mut bob = Client::bob();
    let req = bob.build(&Reg::contact("<sip:bob@198.51.100.9>"));
    assert_eq!(restarted.handle(at(1_000), &req, bob.peer).status(), 401);
    let out = restarted.handle(at(2_000), &captured, c.peer);
    assert_eq!(out.status(), 401, "{}", text(&out));
    assert!(challenges(&out).iter().all(|ch| ch.stale), "{}", text(&out));
    assert!(restarted.reg.location().is_empty());
}

#[test]
fn credentials_without_qop_are_single_use() {
    // RFC 2069 form (no qop, nc, cnonce): accepted once per nonce
    let mut srv = Server::new();
    let mut c = Client::alice();
    let first = c.build(&Reg::contact(CONTACT));
    c.learn(&srv.handle(at(0), &first, c.peer));
    let n = c.nonce.clone().unwrap();
    let uri = format!("sip:{DOMAIN}");
    let ha1 = Algorithm::Md5.ha1("alice", REALM, "wonderland");
    let params = ResponseParams {
        method: "REGISTER",
        uri: &uri,
        nonce: &n.nonce,
        qop_auth: None,
    };
    let resp = digest::response(Algorithm::Md5, &ha1, &params);
    let auth = format!(
        "Digest username=\"alice\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{uri}\", response=\"{resp}\"",
        n.nonce
    );
    c.cseq += 1;
    let req = c.build_raw(&Reg::contact(CONTACT), Some(&auth));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 200, "{}", text(&out));
    c.cseq += 1;
    let again = c.build_raw(&Reg::contact(CONTACT), Some(&auth));
    let out = srv.handle(at(1_000), &again, c.peer);
    assert_eq!(out.status(), 401, "{}", text(&out));
    assert!(challenges(&out).iter().all(|ch| ch.stale));

    // qop=auth without nc/cnonce is malformed
    let bad = format!("{auth}, qop=auth");
    c.cseq += 1;
    let req = c.build_raw(&Reg::contact(CONTACT), Some(&bad));
    let out = srv.handle(at(2_000), &req, c.peer);
    assert_eq!(out.status(), 400);
    assert_eq!(
        out.result,
        Err(RegisterError::Auth(AuthRejection::BadCredentials {
            problem: CredentialsProblem::QopWithoutCount
        }))
    );
}

/// The registrar holds no password: an account made of stored HA1 values (MD5 and SHA-256,
/// as `clientsshared.ha1`/`ha1b` keep them) authenticates with either algorithm, and an
/// empty HA1 (stored for another realm) never does.
#[test]
fn stored_ha1_values_authenticate_md5_and_sha256() {
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let mut srv = Server::new();
        let realm = RegistrarConfig::default().realm;
        let stored = registrar::Ha1 {
            md5: Algorithm::Md5.ha1("alice", &realm, "wonderland"),
            sha256: Algorithm::Sha256.ha1("alice", &realm, "wonderland"),
        };
        assert!(
            !format!("{stored:?}").contains(&stored.md5),
            "Debug hides it"
        );
        srv.accounts.insert(
            "alice".into(),
            registrar::Account {
                login: "alice".into(),
                ha1: stored,
                enabled: true,
            },
        );
        let mut c = Client::alice();
        c.alg = alg;
        let out = c.register(&mut srv, at(0), &Reg::contact(CONTACT));
        assert_eq!(out.status(), 200, "{alg:?}: {}", text(&out));

        srv.accounts.get_mut("alice").unwrap().ha1 = registrar::Ha1::default();
        let mut c = Client::alice();
        c.alg = alg;
        let out = c.register(&mut srv, at(0), &Reg::contact(CONTACT));
        assert_eq!(out.status(), 403, "{alg:?}: an empty HA1 never matches");
    }
}

/// RFC 4475 regaut01: credentials of a scheme we do not know are not malformed Digest
/// credentials (400) but no credentials we accept: a fresh challenge. A malformed Digest
/// header stays a 400.
#[test]
fn unknown_authorization_scheme_is_challenged() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    for auth in [
        "NoOneKnowsThisScheme opaque-data=here",
        "Basic YWxpY2U6d29uZGVy",
    ] {
        c.cseq += 1;
        let req = c.build_raw(&Reg::contact(CONTACT), Some(auth));
        let out = srv.handle(at(0), &req, c.peer);
        assert_eq!(out.status(), 401, "{auth}: {}", text(&out));
        assert!(matches!(
            out.result,
            Err(RegisterError::Auth(AuthRejection::Challenge {
                stale: false,
                ..
            }))
        ));
        assert_eq!(challenges(&out).len(), 2);
        assert_eq!(
            registrar::Registrar::auth_username(&req),
            None,
            "no account to read"
        );
    }
    c.cseq += 1;
    let req = c.build_raw(&Reg::contact(CONTACT), Some("Digest username=\"alice\""));
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 400, "{}", text(&out));
}

/// The driver looks an account up only for credentials with a nonce we issued (issue 12:
/// made-up usernames with made-up nonces cost no database read).
#[test]
fn only_credentials_with_our_nonce_are_worth_an_account_lookup() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let first = c.build(&Reg::contact(CONTACT));
    assert!(!srv
        .reg
        .credentials_worth_judging(at(0), &Presented::new(&first, AuthKind::Www)));
    c.learn(&srv.handle(at(0), &first, c.peer));
    let good = c.build(&Reg::contact(CONTACT));
    assert!(srv
        .reg
        .credentials_worth_judging(at(0), &Presented::new(&good, AuthKind::Www)));
    // a nonce whose expiry was changed: its HMAC no longer matches
    let mut forged = c.authorization(1);
    let pos = forged.find("nonce=\"").unwrap() + 7;
    forged.replace_range(pos..pos + 8, "ffffffff");
    c.cseq += 1;
    let req = c.build_raw(&Reg::contact(CONTACT), Some(&forged));
    assert!(!srv
        .reg
        .credentials_worth_judging(at(0), &Presented::new(&req, AuthKind::Www)));
    assert!(!srv
        .reg
        .credentials_worth_judging(at(0), &Presented::new(&good, AuthKind::Proxy)));
}
