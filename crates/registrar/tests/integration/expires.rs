//! Expiry intervals (RFC 3261 §10.2.1.1, §10.3 steps 6-7): Min-Expires, clamping, precedence,
//! removal and `Contact: *`.

use registrar::{BindingChange, RegisterError, RegistrarConfig};

use crate::client::*;

const A: &str = "sip:alice@198.51.100.7:5062";
const B: &str = "sip:alice@198.51.100.7:5064;transport=tcp";

fn cfg() -> RegistrarConfig {
    RegistrarConfig {
        min_expires: 60,
        max_expires: 7200,
        default_expires: 1800,
        ..RegistrarConfig::default()
    }
}

fn contacts_now(srv: &Server, now: Instant) -> Vec<(String, Instant)> {
    let mut v: Vec<_> = srv
        .reg
        .location()
        .lookup("alice", now)
        .iter()
        .map(|b| (b.contact.clone(), b.expires_at))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, u32)>) -> Vec<(String, u32)> {
    v.sort();
    v
}

#[test]
fn too_brief_is_423_with_min_expires_and_changes_nothing() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact(&format!("<{A}>")).expires(600),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let before = contacts_now(&srv, at(0));

    // a refresh of A plus a new B that is too brief: all or nothing
    let reg = Reg::contact(&format!("<{A}>;expires=900")).and_contact(&format!("<{B}>;expires=59"));
    let out = c.register(&mut srv, at(1_000), &reg);
    assert_eq!(out.status(), 423, "{}", text(&out));
    assert_eq!(
        out.result,
        Err(RegisterError::MinExpires { min: 60, asked: 59 })
    );
    assert_eq!(out.login.as_deref(), Some("alice"));
    assert_eq!(header(&out, "Min-Expires").as_deref(), Some("60"));
    assert!(out.changes.is_empty());
    assert!(!out.registered);
    assert_eq!(contacts_now(&srv, at(1_000)), before);

    // the header interval counts too
    let out = c.register(
        &mut srv,
        at(2_000),
        &Reg::contact(&format!("<{B}>")).expires(1),
    );
    assert_eq!(out.status(), 423, "{}", text(&out));
    assert_eq!(header(&out, "Min-Expires").as_deref(), Some("60"));
    assert_eq!(contacts_now(&srv, at(2_000)), before);

    // exactly the minimum is fine
    let out = c.register(
        &mut srv,
        at(3_000),
        &Reg::contact(&format!("<{B}>")).expires(60),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(
        sorted(listed(&out)),
        [(A.to_owned(), 597), (B.to_owned(), 60)],
        "{}",
        text(&out)
    );
}

#[test]
fn too_long_is_clamped_to_max() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact(&format!("<{A}>")).expires(999_999),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(listed(&out), [(A.to_owned(), 7200)]);
    assert_eq!(contacts_now(&srv, at(0)), [(A.to_owned(), at(7_200_000))]);
    // the contact parameter is clamped as well
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact(&format!("<{A}>;expires=4294967295")),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(listed(&out), [(A.to_owned(), 7200)]);
}

#[test]
fn contact_param_beats_header_beats_default() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    // no interval anywhere: the default
    let out = c.register(&mut srv, at(0), &Reg::contact(&format!("<{A}>")));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(listed(&out), [(A.to_owned(), 1800)]);

    // header for B, parameter for A
    let reg = Reg::contact(&format!("<{A}>;expires=300"))
        .and_contact(&format!("<{B}>"))
        .expires(120);
    let out = c.register(&mut srv, at(1_000), &reg);
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(
        sorted(listed(&out)),
        [(A.to_owned(), 300), (B.to_owned(), 120)]
    );
    assert_eq!(
        contacts_now(&srv, at(1_000)),
        [(A.to_owned(), at(301_000)), (B.to_owned(), at(121_000))]
    );

    // Expires: 0 in the header does not remove a contact whose own parameter keeps it
    let out = c.register(
        &mut srv,
        at(2_000),
        &Reg::contact(&format!("<{A}>;expires=600")).expires(0),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(
        matches!(out.changes.as_slice(), [BindingChange::Upsert { .. }]),
        "{:?}",
        out.changes
    );
    assert_eq!(
        contacts_now(&srv, at(2_000))[0],
        (A.to_owned(), at(602_000))
    );

    // and a parameter of 0 removes despite a header interval
    let out = c.register(
        &mut srv,
        at(3_000),
        &Reg::contact(&format!("<{B}>;expires=0")).expires(600),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(
        matches!(out.changes.as_slice(), [BindingChange::Remove { .. }]),
        "{:?}",
        out.changes
    );
    assert_eq!(listed(&out), [(A.to_owned(), 599)]);
}

#[test]
fn expires_zero_removes_one_binding() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    let reg = Reg::contact(&format!("<{A}>")).and_contact(&format!("<{B}>"));
    let out = c.register(&mut srv, at(0), &reg);
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(out.changes.len(), 2);
    let key_b = srv
        .reg
        .location()
        .lookup("alice", at(0))
        .iter()
        .find(|b| b.contact == B)
        .unwrap()
        .key
        .clone();

    // parameters other than transport do not make another binding: this still names B
    let removal = "<sip:alice@198.51.100.7:5064;transport=TCP;ob>;expires=0";
    let out = c.register(&mut srv, at(5_000), &Reg::contact(removal));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(
        out.changes,
        [BindingChange::Remove {
            login: "alice".into(),
            key: key_b
        }],
        "{}",
        text(&out)
    );
    assert!(!out.registered);
    assert_eq!(listed(&out), [(A.to_owned(), 1795)]);
    assert_eq!(srv.reg.location().len(), 1);

    // removing what is not there changes nothing
    let out = c.register(
        &mut srv,
        at(6_000),
        &Reg::contact(&format!("<{B}>")).expires(0),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.changes.is_empty());

    // Expires: 0 header removes the last one
    let out = c.register(
        &mut srv,
        at(7_000),
        &Reg::contact(&format!("<{A}>")).expires(0),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(
        matches!(out.changes.as_slice(), [BindingChange::Remove { login, .. }] if login == "alice")
    );
    assert!(listed(&out).is_empty());
    assert!(srv.reg.location().is_empty());
    assert_eq!(srv.reg.location().logins(), 0);
}

#[test]
fn star_with_expires_zero_removes_all() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    let reg = Reg::contact(&format!("<{A}>")).and_contact(&format!("<{B}>"));
    assert_eq!(c.register(&mut srv, at(0), &reg).status(), 200);
    let mut bob = Client::bob();
    assert_eq!(
        bob.register(&mut srv, at(0), &Reg::contact("<sip:bob@198.51.100.9>"))
            .status(),
        200
    );

    let out = c.register(&mut srv, at(1_000), &Reg::contact("*").expires(0));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(
        out.changes,
        [BindingChange::RemoveAll {
            login: "alice".into()
        }]
    );
    assert!(listed(&out).is_empty());
    assert_eq!(srv.reg.location().lookup("alice", at(1_000)).count(), 0);
    // other logins are untouched
    assert_eq!(srv.reg.location().lookup("bob", at(1_000)).count(), 1);
    assert_eq!(srv.reg.location().len(), 1);

    // nothing left: nothing to report
    let out = c.register(&mut srv, at(2_000), &Reg::contact("*").expires(0));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.changes.is_empty());
}

#[test]
fn star_needs_expires_zero() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    assert_eq!(
        c.register(&mut srv, at(0), &Reg::contact(&format!("<{A}>")))
            .status(),
        200
    );
    for reg in [Reg::contact("*"), Reg::contact("*").expires(60)] {
        let out = c.register(&mut srv, at(1_000), &reg);
        assert_eq!(out.status(), 400, "{}", text(&out));
        assert_eq!(out.result, Err(RegisterError::StarNeedsExpiresZero));
        assert!(out.changes.is_empty());
        assert_eq!(srv.reg.location().lookup("alice", at(1_000)).count(), 1);
    }
    // * mixed with other contacts is malformed
    let out = c.register(
        &mut srv,
        at(2_000),
        &Reg::contact("*").and_contact(&format!("<{A}>")).expires(0),
    );
    assert_eq!(out.status(), 400, "{}", text(&out));
    assert_eq!(srv.reg.location().lookup("alice", at(2_000)).count(), 1);
}

#[test]
fn malformed_intervals_are_400() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    assert_eq!(
        c.register(&mut srv, at(0), &Reg::contact(&format!("<{A}>")))
            .status(),
        200
    );
    for (reg, error) in [
        (
            Reg::contact(&format!("<{B}>")).expires("soon"),
            RegisterError::BadHeader { header: "Expires" },
        ),
        (
            Reg::contact(&format!("<{B}>;expires=-1")),
            RegisterError::BadContactParam { param: "expires" },
        ),
        (
            Reg::contact(&format!("<{B}>;expires=99999999999")),
            RegisterError::BadContactParam { param: "expires" },
        ),
    ] {
        let out = c.register(&mut srv, at(1_000), &reg);
        assert_eq!(out.status(), 400, "{}", text(&out));
        assert_eq!(out.result, Err(error));
        assert!(out.changes.is_empty());
    }
    assert_eq!(srv.reg.location().len(), 1);
}

#[test]
fn new_settings_apply_to_the_next_register_and_keep_the_bindings() {
    let mut srv = Server::with_config(cfg());
    let mut c = Client::alice();
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact(&format!("<{A}>")).expires(100),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    srv.reg.set_config(RegistrarConfig {
        min_expires: 300,
        ..cfg()
    });
    assert_eq!(srv.reg.config().min_expires, 300);
    let out = c.register(
        &mut srv,
        at(1_000),
        &Reg::contact(&format!("<{B}>")).expires(100),
    );
    assert_eq!(out.status(), 423, "{}", text(&out));
    assert_eq!(header(&out, "Min-Expires").as_deref(), Some("300"));
    assert_eq!(contacts_now(&srv, at(1_000)).len(), 1, "the binding stays");
}
