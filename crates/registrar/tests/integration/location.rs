//! The location table on its own: lookup, upsert, remove, purge.

use registrar::{Binding, BindingChange, Event, Location, RegistrarConfig};
use std::time::Duration;

use crate::client::*;

fn binding(key: &str, expires_at_ms: u64) -> Binding {
    Binding {
        key: key.into(),
        contact: format!("sip:{key}"),
        instance: None,
        reg_id: None,
        q_milli: None,
        expires_at: at(expires_at_ms),
        call_id: "cid".into(),
        cseq: 1,
        source: udp_peer("198.51.100.7:5060"),
        reach: registrar::Reach::Flow,
        path: None,
        user_agent: None,
        updated_at: at(0),
    }
}

fn keys(l: &Location, login: &str, now_ms: u64) -> Vec<String> {
    let mut v: Vec<_> = l
        .lookup(login, at(now_ms))
        .iter()
        .map(|b| b.key.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn lookup_never_returns_expired_bindings() {
    let l = Location::new();
    l.upsert("alice", binding("a@1", 1_000));
    l.upsert("alice", binding("a@2", 2_000));
    assert_eq!(keys(&l, "alice", 0), ["a@1", "a@2"]);
    assert_eq!(keys(&l, "alice", 999), ["a@1", "a@2"]);
    assert_eq!(
        keys(&l, "alice", 1_000),
        ["a@2"],
        "expiring exactly now is expired"
    );
    assert_eq!(keys(&l, "alice", 5_000), Vec::<String>::new());
    assert_eq!(keys(&l, "nobody", 0), Vec::<String>::new());
    // not purged yet: still counted
    assert_eq!(l.len(), 2);
}

#[test]
fn purge_expired_drops_and_reports_expired_bindings() {
    let l = Location::new();
    l.upsert("alice", binding("a@1", 1_000));
    l.upsert("alice", binding("a@2", 3_000));
    l.upsert("bob", binding("b@1", 1_500));
    l.upsert("carol", binding("c@1", 9_000));
    assert_eq!((l.len(), l.logins()), (4, 3));

    assert!(l.purge_expired(at(500), |_| true).is_empty());
    let mut changes = l.purge_expired(at(2_000), |_| true);
    changes.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        changes,
        [
            BindingChange::Remove {
                login: "alice".into(),
                key: "a@1".into()
            },
            BindingChange::Remove {
                login: "bob".into(),
                key: "b@1".into()
            },
        ]
    );
    assert_eq!((l.len(), l.logins()), (2, 2), "bob has nothing left");
    assert_eq!(keys(&l, "alice", 2_000), ["a@2"]);
    assert!(
        l.purge_expired(at(2_000), |_| true).is_empty(),
        "purging twice reports once"
    );

    let changes = l.purge_expired(at(10_000), |_| true);
    assert_eq!(changes.len(), 2);
    assert!(l.is_empty());
    assert_eq!(l.logins(), 0);
}

#[test]
fn upsert_replaces_by_key_and_remove_counts() {
    let l = Location::new();
    l.upsert("alice", binding("k", 1_000));
    let mut newer = binding("k", 5_000);
    newer.contact = "sip:moved".into();
    l.upsert("alice", newer);
    assert_eq!(l.len(), 1);
    assert_eq!(
        l.lookup("alice", at(2_000)).iter().next().unwrap().contact,
        "sip:moved"
    );
    l.upsert("alice", binding("j", 5_000));
    assert_eq!(l.len(), 2);
    assert!(!l.remove("alice", "nope"));
    assert!(!l.remove("bob", "k"));
    assert!(l.remove("alice", "k"));
    assert_eq!(l.len(), 1);
    assert_eq!(l.remove_all("alice"), 1);
    assert_eq!(l.remove_all("alice"), 0);
    assert!(l.is_empty());
    assert_eq!(l.logins(), 0);
}

#[test]
fn registrar_bindings_expire_and_purge() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let reg = Reg::contact("<sip:alice@10.0.0.1>;expires=60")
        .and_contact("<sip:alice@10.0.0.2>;expires=120");
    let out = c.register(&mut srv, at(0), &reg);
    assert_eq!(out.status(), 200, "{}", text(&out));
    let keys_before: Vec<String> = srv
        .reg
        .location()
        .lookup("alice", at(0))
        .iter()
        .map(|b| b.key.clone())
        .collect();

    assert_eq!(srv.reg.location().lookup("alice", at(59_999)).count(), 2);
    assert_eq!(srv.reg.location().lookup("alice", at(60_000)).count(), 1);
    let changes = srv.reg.location().purge_expired(at(60_000), |_| true);
    let first = keys_before.iter().find(|k| k.contains("10.0.0.1")).unwrap();
    assert_eq!(
        changes,
        [BindingChange::Remove {
            login: "alice".into(),
            key: first.clone()
        }]
    );

    // after everything expired, the next REGISTER is a fresh registration again
    let changes = srv.reg.location().purge_expired(at(120_000), |_| true);
    assert_eq!(changes.len(), 1);
    assert!(srv.reg.location().is_empty());
    let out = c.register(&mut srv, at(130_000), &Reg::contact("<sip:alice@10.0.0.1>"));
    // the nonce of at(0) has expired by now (lifetime 300 s? no: 130 s is within it)
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.registered);
}

#[test]
fn expired_but_unpurged_binding_does_not_block_registration() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact("<sip:alice@10.0.0.1>;expires=60"),
    );
    assert_eq!(out.status(), 200);
    // expired, not purged; the same contact registers again and counts as new
    let out = c.register(
        &mut srv,
        at(61_000),
        &Reg::contact("<sip:alice@10.0.0.1>;expires=60"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.registered, "the login had no live binding");
    assert_eq!(listed(&out), [("sip:alice@10.0.0.1".to_owned(), 60)]);
    assert_eq!(srv.reg.location().len(), 1);
}

/// The purge is the registrar's own timer: `poll_timeout` says when, `handle_timeout` purges
/// and hands the removals out as events; before it is due nothing happens.
#[test]
fn the_purge_runs_at_poll_timeout_and_reports_removals_as_events() {
    let cfg = RegistrarConfig {
        purge_interval: Duration::from_secs(30),
        ..RegistrarConfig::default()
    };
    let mut srv = Server::with_config(cfg);
    assert_eq!(srv.reg.poll_timeout(), None, "armed by the first input");
    let mut c = Client::alice();
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact("<sip:alice@10.0.0.1>;expires=60"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(srv.reg.poll_timeout(), Some(at(30_000)));
    // early: nothing
    srv.reg.handle_timeout(at(29_000));
    assert!(srv.reg.poll_event().is_none());
    assert_eq!(srv.reg.poll_timeout(), Some(at(30_000)));
    // due, the binding still live: the next purge is armed, nothing removed
    srv.reg.handle_timeout(at(30_000));
    assert!(srv.reg.poll_event().is_none());
    assert_eq!(srv.reg.poll_timeout(), Some(at(60_000)));
    // due, the binding expired at 60 s: removed, reported once
    srv.reg.handle_timeout(at(60_000));
    let key = match srv.reg.poll_event() {
        Some(Event::Binding(BindingChange::Remove { login, key })) if login == "alice" => key,
        other => panic!("expected the removal, got {other:?}"),
    };
    assert!(key.contains("10.0.0.1"), "{key}");
    assert!(srv.reg.poll_event().is_none());
    assert!(srv.reg.location().is_empty());
    assert_eq!(srv.reg.poll_timeout(), Some(at(90_000)));
    // a reload's interval counts from the last purge
    srv.reg.set_config(RegistrarConfig {
        purge_interval: Duration::from_secs(5),
        ..RegistrarConfig::default()
    });
    assert_eq!(srv.reg.poll_timeout(), Some(at(65_000)));
}
