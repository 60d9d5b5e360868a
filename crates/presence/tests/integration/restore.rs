//! Restart: publications written through `Persist` come back with `restore`.

use presence::{Persist, PresenceServer};

use crate::common::*;

#[test]
fn publications_survive_a_restart() {
    let mut h = Harness::new();
    let r = h.publish(
        "bob",
        publish(
            "bob",
            None,
            Some(600),
            Some(&pidf("bob", "phone", "open", "x")),
        ),
    );
    let bob_tag = header(&r, "SIP-ETag").unwrap();
    h.advance(1_000);
    h.publish(
        "bob",
        publish(
            "bob",
            None,
            Some(600),
            Some(&pidf("bob", "desk", "closed", "y")),
        ),
    );
    h.publish(
        "carol",
        publish(
            "carol",
            None,
            Some(60),
            Some(&pidf("carol", "c", "open", "z")),
        ),
    );
    let before = h.server.publications().document("bob").unwrap().clone();
    let table = h.table();
    assert_eq!(table.len(), 3);

    // "restart" 90 s later: a new core, the rows from the table
    let mut h2 = Harness::new();
    h2.server = PresenceServer::new(config(), 7);
    h2.now = h.now + Duration::from_millis(90_000);
    h2.server.restore(h2.now, table);
    h2.drain();
    // carol's publication expired while we were down: its row is deleted
    assert!(matches!(&h2.persisted[..], [Persist::Remove { login, .. }] if login == "carol"));
    assert_eq!(h2.server.publications().len(), 2);
    assert_eq!(
        h2.server.publications().document("bob"),
        Some(&before),
        "same composition"
    );

    let mut alice = Ua::new("alice", 5001);
    let req = alice.subscribe("bob", "presence", None, &[]);
    let _ = h2.subscribe(&mut alice, req);
    let n = h2.ack();
    assert_eq!(
        tuples(parse(&n[0].request).body()),
        vec![
            ("desk".into(), "closed".into()),
            ("phone".into(), "open".into())
        ]
    );

    // the phone's entity-tag still works after the restart, and the expiry is kept
    let r = h2.publish("bob", publish("bob", Some(&bob_tag), Some(0), None));
    assert_eq!(r.status(), Some(200));
    let n = h2.ack();
    assert_eq!(
        tuples(parse(&n[0].request).body()),
        vec![("desk".into(), "closed".into())]
    );
    h2.advance(600_000);
    assert!(h2.server.publications().is_empty());
}

/// A cluster: another node's publications are inserted and withdrawn without a write of
/// ours, and this node's watchers are notified of each change.
#[test]
fn remote_publications_notify_watchers_and_are_never_written() {
    let a = bob_published();
    let rows = a.table();
    assert_eq!(rows.len(), 1);
    let etag = rows[0].etag.clone();

    // node b: alice watches bob, who published nothing there
    let mut b = Harness::new();
    b.server = PresenceServer::new(config(), 9);
    b.now = a.now;
    let mut alice = Ua::new("alice", 5001);
    let req = alice.subscribe("bob", "presence", None, &[]);
    let _ = b.subscribe(&mut alice, req);
    let _ = b.ack();
    b.persisted.clear();

    b.remote(rows, &[]);
    b.drain();
    b.advance(10_000);
    let n = b.ack();
    assert_eq!(
        tuples(parse(&n[0].request).body()),
        vec![("phone".into(), "open".into())]
    );
    b.remote(Vec::new(), &[etag]);
    b.drain();
    b.advance(10_000);
    let n = b.ack();
    assert_eq!(n.len(), 1, "the withdrawal is notified");
    assert!(!tuples(parse(&n[0].request).body()).contains(&("phone".into(), "open".into())));
    assert!(b.server.publications().is_empty());
    assert!(b.persisted.is_empty(), "never written: {:?}", b.persisted);
}

/// With core shards, a shard keeps the others' publications as remote ones and may compose
/// them before it has learnt the domain from a client of its own: its documents then name the
/// domain it learns.
#[test]
fn documents_composed_before_the_domain_is_learnt_name_the_learnt_one() {
    let a = bob_published();
    let mut b = Harness::new();
    b.server.set_domain("127.0.0.1:5060");
    b.remote(a.table(), &[]);
    let doc = |h: &Harness| h.server.publications().document("bob").cloned().unwrap();
    assert_eq!(entity(&doc(&b)), "sip:bob@127.0.0.1:5060");
    b.server.set_domain("ex.com");
    assert_eq!(entity(&doc(&b)), "sip:bob@ex.com");
}

/// A node (or shard) where bob has published his phone open.
fn bob_published() -> Harness {
    let mut a = Harness::new();
    a.publish(
        "bob",
        publish(
            "bob",
            None,
            Some(600),
            Some(&pidf("bob", "phone", "open", "x")),
        ),
    );
    a
}
