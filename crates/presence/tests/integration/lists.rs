//! Resource lists (RFC 4662): buddy lists from the driver, multipart/RLMI NOTIFYs with full
//! then partial state.

use crate::common::*;

fn list_subscribe(h: &mut Harness, ua: &mut Ua) -> presence::SubscriptionKey {
    let login = ua.login.clone();
    let req = ua.subscribe(
        &login,
        "presence",
        Some(600),
        &[
            ("Supported", "eventlist"),
            (
                "Accept",
                "application/pidf+xml, application/rlmi+xml, multipart/related",
            ),
        ],
    );
    let (resp, reply) = h.subscribe(ua, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(header(&resp, "Require").as_deref(), Some("eventlist"));
    reply.unwrap()
}

fn doc_of<'a>(parts: &'a [(String, Vec<u8>)], login: &str) -> &'a [u8] {
    let uri = format!("sip:{login}@{DOMAIN}");
    &parts
        .iter()
        .find(|(u, _)| *u == uri)
        .unwrap_or_else(|| panic!("no part for {uri}"))
        .1
}

#[test]
fn full_state_then_partial_with_rising_versions() {
    let mut h = Harness::new();
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "here"))),
    );
    let mut alice = Ua::new("alice", 5001);
    let key = list_subscribe(&mut h, &mut alice);
    // the 200 first; the NOTIFY waits for the buddy list
    assert!(h.take_notifies().is_empty());
    assert_eq!(h.fetch_buddies, vec![(key, "alice".to_owned())]);

    h.buddies(key, &[("bob", false), ("carol", true), ("dave", false)]);
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let m = parse(&n[0].request);
    assert_eq!(header(&m, "Require").as_deref(), Some("eventlist"));
    assert_eq!(header(&m, "Event").as_deref(), Some("presence"));
    let (rlmi, parts) = open_list_notify(&m);
    // RFC 2045 Content-IDs in angle brackets
    let text = body_text(&m);
    for r in &rlmi.resources {
        assert!(
            text.contains(&format!("Content-ID: <{}>\r\n", r.3)),
            "{text}"
        );
    }
    assert_eq!(rlmi.uri, "sip:alice@ex.com");
    assert_eq!(rlmi.version, 0);
    assert!(rlmi.full_state);
    let uris: Vec<&str> = rlmi.resources.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        uris,
        vec!["sip:bob@ex.com", "sip:carol@ex.com", "sip:dave@ex.com"]
    );
    // bob published: his document; carol did not but has push; dave is closed
    assert_eq!(
        tuples(doc_of(&parts, "bob")),
        vec![("t".into(), "open".into())]
    );
    assert_eq!(entity(doc_of(&parts, "bob")), "sip:bob@ex.com");
    assert_eq!(
        tuples(doc_of(&parts, "carol")),
        vec![(presence::pidf::PUSH_TUPLE_ID.into(), "open".into())]
    );
    assert!(String::from_utf8_lossy(doc_of(&parts, "carol")).contains("<note>push</note>"));
    assert_eq!(
        tuples(doc_of(&parts, "dave")),
        vec![("ferroswitch".into(), "closed".into())]
    );
    let instances: Vec<String> = rlmi.resources.iter().map(|r| r.1.clone()).collect();
    h.answer(&n, 200);

    // carol opens her app: only carol, version 1, partial
    let r = h.publish(
        "carol",
        publish("carol", None, None, Some(&pidf("carol", "c", "open", "hi"))),
    );
    let carol_tag = header(&r, "SIP-ETag").unwrap();
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let (rlmi, parts) = open_list_notify(&parse(&n[0].request));
    assert_eq!(rlmi.version, 1);
    assert!(!rlmi.full_state);
    assert_eq!(rlmi.resources.len(), 1);
    assert_eq!(rlmi.resources[0].0, "sip:carol@ex.com");
    assert_eq!(rlmi.resources[0].1, instances[1], "instance ids are stable");
    assert_eq!(
        tuples(doc_of(&parts, "carol")),
        vec![("c".into(), "open".into())]
    );
    h.answer(&n, 200);

    // carol closes: her closed document plus the push tuple
    h.publish(
        "carol",
        publish(
            "carol",
            Some(&carol_tag),
            None,
            Some(&pidf("carol", "c", "closed", "bye")),
        ),
    );
    let n = h.take_notifies();
    let (rlmi, parts) = open_list_notify(&parse(&n[0].request));
    assert_eq!(rlmi.version, 2);
    assert_eq!(
        tuples(doc_of(&parts, "carol")),
        vec![
            ("c".into(), "closed".into()),
            (presence::pidf::PUSH_TUPLE_ID.into(), "open".into())
        ]
    );
    h.answer(&n, 200);

    // someone not on the list changes: nothing
    h.publish(
        "erin",
        publish("erin", None, None, Some(&pidf("erin", "e", "open", "x"))),
    );
    assert!(h.take_notifies().is_empty());
}

#[test]
fn changes_while_in_flight_make_one_partial_notify() {
    let mut h = Harness::new();
    let mut alice = Ua::new("alice", 5001);
    let key = list_subscribe(&mut h, &mut alice);
    h.buddies(key, &[("bob", false), ("carol", false), ("dave", false)]);
    let first = h.take_notifies();
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "x"))),
    );
    h.publish(
        "dave",
        publish("dave", None, None, Some(&pidf("dave", "t", "open", "x"))),
    );
    assert!(h.take_notifies().is_empty());
    h.answer(&first, 200);
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let (rlmi, _) = open_list_notify(&parse(&n[0].request));
    assert_eq!(rlmi.version, 1);
    let uris: Vec<&str> = rlmi.resources.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(uris, vec!["sip:bob@ex.com", "sip:dave@ex.com"]);

    // a refused NOTIFY makes the next one full state again
    h.answer(&n, 500);
    h.publish(
        "carol",
        publish("carol", None, None, Some(&pidf("carol", "t", "open", "x"))),
    );
    let n = h.take_notifies();
    let (rlmi, _) = open_list_notify(&parse(&n[0].request));
    assert_eq!(rlmi.version, 2);
    assert!(rlmi.full_state);
    assert_eq!(rlmi.resources.len(), 3);
}

#[test]
fn a_failed_hook_gives_an_empty_list_not_a_failure() {
    let mut h = Harness::new();
    let mut alice = Ua::new("alice", 5001);
    let key = list_subscribe(&mut h, &mut alice);
    h.buddies(key, &[]);
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let m = parse(&n[0].request);
    assert_eq!(
        header(&m, "Subscription-State").as_deref(),
        Some("active;expires=600")
    );
    let (rlmi, parts) = open_list_notify(&m);
    assert!(rlmi.full_state && rlmi.resources.is_empty() && parts.is_empty());
}

#[test]
fn refresh_fetches_the_list_again() {
    let mut h = Harness::new();
    let mut alice = Ua::new("alice", 5001);
    let key = list_subscribe(&mut h, &mut alice);
    h.buddies(
        key,
        &[("bob", false), ("dave", false), ("bob", true), ("", true)],
    );
    let (rlmi, parts) = open_list_notify(&parse(&h.ack()[0].request));
    assert_eq!(
        rlmi.resources.len(),
        2,
        "duplicates and empty logins dropped"
    );
    // bob listed twice, once with push: push wins
    assert_eq!(
        tuples(doc_of(&parts, "bob"))[0].0,
        presence::pidf::PUSH_TUPLE_ID
    );
    assert_eq!(h.server.watcher_count("presence", "dave"), 1);

    h.fetch_buddies.clear();
    let req = alice.subscribe(
        "alice",
        "presence",
        Some(600),
        &[("Supported", "eventlist")],
    );
    let (resp, _) = h.subscribe(&mut alice, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(h.fetch_buddies, vec![(key, "alice".to_owned())]);
    assert!(h.take_notifies().is_empty());
    h.buddies(key, &[("bob", false), ("erin", false)]);
    let (rlmi, _) = open_list_notify(&parse(&h.ack()[0].request));
    assert_eq!(rlmi.version, 1);
    assert!(rlmi.full_state);
    let uris: Vec<&str> = rlmi.resources.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(uris, vec!["sip:bob@ex.com", "sip:erin@ex.com"]);
    assert_eq!(h.server.watcher_count("presence", "dave"), 0);
    assert_eq!(h.server.watcher_count("presence", "erin"), 1);

    // unsubscribe: the members are no longer watched
    let req = alice.subscribe("alice", "presence", Some(0), &[("Supported", "eventlist")]);
    let _ = h.subscribe(&mut alice, req);
    let n = h.take_notifies();
    assert_eq!(
        header(&parse(&n[0].request), "Subscription-State").as_deref(),
        Some("terminated")
    );
    assert_eq!(h.server.watcher_count("presence", "bob"), 0);
    // a late hook answer for the ended subscription is ignored
    h.buddies(key, &[("bob", false)]);
    assert!(h.take_notifies().is_empty());
}

#[test]
fn eventlist_to_someone_else_is_a_plain_subscription() {
    let mut h = Harness::new();
    let mut alice = Ua::new("alice", 5001);
    let req = alice.subscribe("bob", "presence", None, &[("Supported", "eventlist")]);
    let (resp, _) = h.subscribe(&mut alice, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(header(&resp, "Require"), None);
    assert!(h.fetch_buddies.is_empty());
    let n = h.take_notifies();
    assert_eq!(
        parse(&n[0].request).content_type(),
        Some("application/pidf+xml")
    );
    // and one's own URI without eventlist watches oneself
    let mut me = Ua::new("alice", 5002);
    let req = me.subscribe("alice", "presence", None, &[]);
    let _ = h.subscribe(&mut me, req);
    assert!(h.fetch_buddies.is_empty());
    assert_eq!(h.server.watcher_count("presence", "alice"), 1);
}

#[test]
fn a_list_expires_like_any_subscription() {
    let mut h = Harness::new();
    let mut alice = Ua::new("alice", 5001);
    let key = list_subscribe(&mut h, &mut alice);
    // the hook never answers: the subscription still ends on time, without a body
    h.advance(600_000);
    assert!(!h.server.is_subscribed(key));
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let m = parse(&n[0].request);
    assert_eq!(
        header(&m, "Subscription-State").as_deref(),
        Some("terminated;reason=timeout")
    );
    assert!(m.body().is_empty());
}
