//! PUBLISH: entity-tags, refresh/modify/remove, errors, expiry, composition, persistence.

use presence::Persist;

use crate::common::*;

fn etag(resp: &sip_message::Message) -> String {
    header(resp, "SIP-ETag").expect("200 to PUBLISH carries SIP-ETag")
}

#[test]
fn publish_then_subscribe_gets_the_pidf() {
    let mut h = Harness::new();
    let resp = h.publish(
        "bob",
        publish(
            "bob",
            None,
            Some(600),
            Some(&pidf("bob", "t1", "open", "at work")),
        ),
    );
    assert_eq!(resp.status(), Some(200));
    assert_eq!(header(&resp, "Expires").as_deref(), Some("600"));
    assert_eq!(etag(&resp).len(), 16);

    let mut alice = Ua::new("alice", 5002);
    let req = alice.subscribe("bob", "presence", Some(300), &[]);
    let (resp, reply) = h.subscribe(&mut alice, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(header(&resp, "Expires").as_deref(), Some("300"));
    assert!(reply.is_some());
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let n = &n[0];
    assert_eq!(n.watcher, "alice");
    assert_eq!(n.to, peer(5002), "back over the SUBSCRIBE's flow");
    let m = parse(&n.request);
    assert_eq!(m.content_type(), Some("application/pidf+xml"));
    assert_eq!(tuples(m.body()), vec![("t1".into(), "open".into())]);
    assert!(body_text(&m).contains("<note>at work</note>"));
    assert_eq!(entity(m.body()), "sip:bob@ex.com");
}

#[test]
fn refresh_modify_remove_with_fresh_etags() {
    let mut h = Harness::new();
    let mut w = Ua::new("alice", 5001);
    let req = w.subscribe("bob", "presence", None, &[]);
    let _ = h.subscribe(&mut w, req);
    let first = h.take_notifies();
    assert_eq!(
        tuples(parse(&first[0].request).body()),
        vec![("ferroswitch".into(), "closed".into())]
    );
    h.answer(&first, 200);

    let r = h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "a"))),
    );
    let e1 = etag(&r);
    assert_eq!(
        header(&r, "Expires").as_deref(),
        Some("3600"),
        "default expiry"
    );
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    h.answer(&n, 200);

    // refresh: no body, new etag, nothing to tell watchers
    let r = h.publish("bob", publish("bob", Some(&e1), Some(1800), None));
    assert_eq!(r.status(), Some(200));
    let e2 = etag(&r);
    assert_ne!(e1, e2);
    assert!(h.take_notifies().is_empty());
    // the old tag no longer matches
    let r = h.publish("bob", publish("bob", Some(&e1), Some(1800), None));
    assert_eq!(r.status(), Some(412));
    assert_eq!(r.reason(), Some("Conditional Request Failed"));

    // modify: new body, watchers told
    let r = h.publish(
        "bob",
        publish(
            "bob",
            Some(&e2),
            None,
            Some(&pidf("bob", "t", "closed", "b")),
        ),
    );
    let e3 = etag(&r);
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    assert_eq!(
        tuples(parse(&n[0].request).body()),
        vec![("t".into(), "closed".into())]
    );
    h.answer(&n, 200);

    // the same body again: a new etag, no NOTIFY (nothing changed)
    let r = h.publish(
        "bob",
        publish(
            "bob",
            Some(&e3),
            None,
            Some(&pidf("bob", "t", "closed", "b")),
        ),
    );
    let e4 = etag(&r);
    assert!(h.take_notifies().is_empty());

    // remove
    let r = h.publish("bob", publish("bob", Some(&e4), Some(0), None));
    assert_eq!(r.status(), Some(200));
    assert_eq!(header(&r, "Expires").as_deref(), Some("0"));
    let n = h.take_notifies();
    assert_eq!(
        tuples(parse(&n[0].request).body()),
        vec![("ferroswitch".into(), "closed".into())]
    );
    assert!(h.server.publications().is_empty());
    assert!(h.table().is_empty(), "every row written was deleted again");
}

#[test]
fn refused_publishes_change_nothing() {
    let mut h = Harness::new();
    let body = pidf("bob", "t", "open", "x");
    let r = h.publish("bob", publish("bob", None, None, Some(&body)));
    let e = etag(&r);
    let cases: Vec<(sip_message::Message, u16)> = vec![
        (publish("bob", Some("0123456789abcdef"), None, None), 412),
        (publish("bob", None, None, None), 400),
        (publish("bob", None, Some(0), None), 400),
        (publish("bob", None, Some(10), Some(&body)), 423),
        (publish("bob", None, None, Some("<presence>")), 400),
        (publish("bob", None, None, Some("<x xmlns=\"y\"/>")), 400),
        (
            publish_with("bob", None, None, Some(&body), "text/plain", "presence"),
            415,
        ),
        (
            publish_with(
                "bob",
                None,
                None,
                Some(&body),
                "application/pidf+xml",
                "dialog",
            ),
            489,
        ),
        // someone else's presence
        (publish("carol", None, None, Some(&body)), 403),
    ];
    let persisted = h.persisted.len();
    for (req, code) in cases {
        let r = h.publish("bob", req);
        assert_eq!(r.status(), Some(code), "{r:?}");
        match code {
            423 => assert_eq!(header(&r, "Min-Expires").as_deref(), Some("60")),
            415 => assert_eq!(
                header(&r, "Accept").as_deref(),
                Some("application/pidf+xml")
            ),
            489 => assert_eq!(header(&r, "Allow-Events").as_deref(), Some("presence")),
            _ => {}
        }
    }
    // carol may not use bob's etag either
    let r = h.publish("carol", publish("carol", Some(&e), None, None));
    assert_eq!(r.status(), Some(412));
    assert_eq!(h.persisted.len(), persisted);
    assert_eq!(h.server.publications().len(), 1);
}

#[test]
fn long_expiry_is_clamped_and_publications_expire() {
    let mut h = Harness::new();
    let mut w = Ua::new("alice", 5001);
    let req = w.subscribe("bob", "presence", Some(7200), &[]);
    let (resp, _) = h.subscribe(&mut w, req);
    assert_eq!(
        header(&resp, "Expires").as_deref(),
        Some("3600"),
        "clamped to max"
    );
    h.ack();

    let r = h.publish(
        "bob",
        publish(
            "bob",
            None,
            Some(99_999),
            Some(&pidf("bob", "t", "open", "x")),
        ),
    );
    assert_eq!(header(&r, "Expires").as_deref(), Some("3600"));
    let e = etag(&r);
    h.ack();
    h.advance(1_000);
    let r = h.publish("bob", publish("bob", Some(&e), Some(120), None));
    assert_eq!(r.status(), Some(200));
    h.persisted.clear();

    h.advance(119_000);
    assert!(h.server.publications().is_open("bob"));
    assert!(h.take_notifies().is_empty());
    h.advance(1_000);
    assert!(!h.server.publications().is_open("bob"));
    assert!(h.server.publications().is_empty());
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    assert_eq!(
        tuples(parse(&n[0].request).body()),
        vec![("ferroswitch".into(), "closed".into())]
    );
    assert!(matches!(&h.persisted[..], [Persist::Remove { login, .. }] if login == "bob"));
}

#[test]
fn two_devices_compose_into_one_document() {
    let mut h = Harness::new();
    let mut w = Ua::new("alice", 5001);
    let req = w.subscribe("bob", "presence", None, &[]);
    let _ = h.subscribe(&mut w, req);
    h.ack();

    let phone = h.publish(
        "bob",
        publish(
            "bob",
            None,
            None,
            Some(&pidf("bob", "phone", "open", "phone")),
        ),
    );
    let phone = etag(&phone);
    h.ack();
    h.advance(5_000);
    let desk = h.publish(
        "bob",
        publish(
            "bob",
            None,
            None,
            Some(&pidf("bob", "desk", "closed", "desk")),
        ),
    );
    let desk = etag(&desk);
    let n = h.take_notifies();
    let m = parse(&n[0].request);
    // newest first, then the older device's tuple; the newest note wins
    assert_eq!(
        tuples(m.body()),
        vec![
            ("desk".into(), "closed".into()),
            ("phone".into(), "open".into())
        ]
    );
    assert!(body_text(&m).contains("<note>desk</note>"));
    assert!(!body_text(&m).contains("<note>phone</note>"));
    assert!(h.server.publications().is_open("bob"));
    h.answer(&n, 200);

    // the phone closes its app: it removes its publication; only the desk remains
    h.publish("bob", publish("bob", Some(&phone), Some(0), None));
    let n = h.take_notifies();
    assert_eq!(
        tuples(parse(&n[0].request).body()),
        vec![("desk".into(), "closed".into())]
    );
    h.answer(&n, 200);
    assert_eq!(h.server.publications().rows("bob").count(), 1);
    assert_eq!(
        h.server.publications().rows("bob").next().unwrap().etag,
        desk
    );
}

#[test]
fn persistence_actions_describe_the_table() {
    let mut h = Harness::new();
    let r = h.publish(
        "bob",
        publish("bob", None, Some(600), Some(&pidf("bob", "t", "open", "x"))),
    );
    let e1 = etag(&r);
    match &h.persisted[..] {
        [Persist::Upsert {
            row,
            replaces: None,
        }] => {
            assert_eq!(row.login, "bob");
            assert_eq!(row.etag, e1);
            assert_eq!(row.expires_at, h.now + Duration::from_millis(600_000));
            assert_eq!(row.modified_at, h.now);
            assert!(row.body.starts_with(b"<?xml"));
        }
        other => panic!("{other:?}"),
    }
    h.advance(10_000);
    let r = h.publish("bob", publish("bob", Some(&e1), Some(600), None));
    let e2 = etag(&r);
    match &h.persisted[1] {
        Persist::Upsert { row, replaces } => {
            assert_eq!(replaces.as_deref(), Some(e1.as_str()));
            assert_eq!(row.etag, e2);
            assert_eq!(row.expires_at, h.now + Duration::from_millis(600_000));
            assert_eq!(
                row.modified_at,
                h.now - Duration::from_millis(10_000),
                "a refresh keeps the body's age"
            );
        }
        other => panic!("{other:?}"),
    }
    let table = h.table();
    assert_eq!(table.len(), 1);
    assert_eq!(table[0].etag, e2);
}

#[test]
fn too_many_devices_evict_the_oldest() {
    let mut cfg = config();
    cfg.max_publications_per_login = 2;
    let mut h = Harness::with(cfg);
    let mut tags = vec![];
    for i in 0..3 {
        h.advance(1_000);
        let r = h.publish(
            "bob",
            publish(
                "bob",
                None,
                None,
                Some(&pidf("bob", &format!("d{i}"), "open", "x")),
            ),
        );
        tags.push(etag(&r));
    }
    let live: Vec<String> = h
        .server
        .publications()
        .rows("bob")
        .map(|r| r.etag.clone())
        .collect();
    assert_eq!(live, vec![tags[1].clone(), tags[2].clone()]);
    assert_eq!(h.table().len(), 2);
}
