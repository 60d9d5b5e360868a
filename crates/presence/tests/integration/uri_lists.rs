//! URI-list subscriptions (RFC 5367) as linphone sends them: `Require:
//! recipient-list-subscribe`, a (deflated) resource-lists body naming the friends, sent to a
//! list server URI. The members are the named friends the operator's buddy list has, under
//! the URIs the subscriber wrote.

use crate::common::*;

/// linphonec 5.1's friends, as its body names them (with the port of its proxy).
fn linphone_list(uris: &[&str]) -> Vec<u8> {
    let mut doc = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<resource-lists xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\n <list>\n",
    );
    for u in uris {
        doc.push_str(&format!("  <entry uri=\"{u}\"/>\n"));
    }
    doc.push_str(" </list>\n</resource-lists>\n");
    miniz_oxide::deflate::compress_to_vec_zlib(doc.as_bytes(), 6)
}

const HEADERS: &[(&str, &str)] = &[
    ("Supported", "eventlist"),
    ("Require", "recipient-list-subscribe"),
    ("Accept", "multipart/related"),
    ("Accept", "application/pidf+xml"),
    ("Accept", "application/rlmi+xml"),
    ("Content-Type", "application/resource-lists+xml"),
    ("Content-Encoding", "deflate"),
    ("Content-Disposition", "recipient-list"),
    ("Accept-Encoding", "deflate"),
];

const BOB: &str = "sip:bob@ex.com:5060";
const DAVE: &str = "sip:dave@ex.com:5060";
const EVE: &str = "sip:eve@ex.com:5060";

fn rls_subscribe(h: &mut Harness, ua: &mut Ua, uris: &[&str]) -> presence::SubscriptionKey {
    let req = ua.subscribe_with_body("rls", "presence", Some(3600), HEADERS, &linphone_list(uris));
    let (resp, reply) = h.subscribe(ua, req);
    assert_eq!(resp.status(), Some(200), "{resp:?}");
    assert_eq!(header(&resp, "Require").as_deref(), Some("eventlist"));
    reply.unwrap()
}

#[test]
fn the_named_friends_in_the_buddy_list_are_notified_under_their_own_uris() {
    let mut h = Harness::new();
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "here"))),
    );
    let mut carol = Ua::new("carol", 5003);
    let key = rls_subscribe(&mut h, &mut carol, &[BOB, DAVE, EVE]);
    // the subscriber's buddy list is fetched as for its own list URI
    assert_eq!(h.fetch_buddies, vec![(key, "carol".to_owned())]);
    assert!(h.take_notifies().is_empty());

    // the operator's list has bob and dave (and frank, whom carol did not name); not eve
    h.buddies(key, &[("frank", false), ("dave", true), ("bob", false)]);
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let m = parse(&n[0].request);
    // what liblinphone 5.1 needs to take the NOTIFY: Event exactly `Presence`, and each
    // part's Content-ID written as the RLMI cid (no angle brackets)
    assert_eq!(header(&m, "Event").as_deref(), Some("Presence"));
    let text = body_text(&m);
    let (rlmi, parts) = open_list_notify(&m);
    for r in &rlmi.resources {
        assert!(text.contains(&format!("Content-Id: {}\r\n", r.3)), "{text}");
    }
    assert_eq!(rlmi.uri, "sip:rls@ex.com", "the list is the Request-URI");
    assert!(rlmi.full_state);
    let uris: Vec<&str> = rlmi.resources.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        uris,
        [BOB, DAVE],
        "named ∩ buddy list, in the subscriber's order"
    );
    assert_eq!(tuples(&parts[0].1), vec![("t".into(), "open".into())]);
    // dave published nothing but has push (from the buddy list)
    assert_eq!(
        tuples(&parts[1].1),
        vec![(presence::pidf::PUSH_TUPLE_ID.into(), "open".into())]
    );
    h.answer(&n, 200);

    // bob's change reaches carol as a partial NOTIFY under the URI she wrote
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "u", "closed", "away"))),
    );
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let (rlmi, _) = open_list_notify(&parse(&n[0].request));
    assert!(!rlmi.full_state);
    assert_eq!(rlmi.version, 1);
    assert_eq!(rlmi.resources.len(), 1);
    assert_eq!(rlmi.resources[0].0, BOB);
    h.answer(&n, 200);

    // eve is not watched through this subscription
    assert_eq!(h.server.watcher_count("presence", "eve"), 0);
    h.publish(
        "eve",
        publish("eve", None, None, Some(&pidf("eve", "e", "open", "hi"))),
    );
    assert!(h.take_notifies().is_empty());
}

#[test]
fn a_refresh_may_rename_the_list_and_an_unsubscribe_needs_no_body() {
    let mut h = Harness::new();
    let mut carol = Ua::new("carol", 5003);
    let key = rls_subscribe(&mut h, &mut carol, &[BOB]);
    h.buddies(key, &[("bob", false), ("dave", false)]);
    h.ack();
    h.fetch_buddies.clear();

    // a refresh naming dave too: a new fetch, then full state with both
    let req = carol.subscribe_with_body(
        "rls",
        "presence",
        Some(3600),
        HEADERS,
        &linphone_list(&[BOB, DAVE]),
    );
    let (resp, _) = h.subscribe(&mut carol, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(h.fetch_buddies, vec![(key, "carol".to_owned())]);
    h.buddies(key, &[("bob", false), ("dave", false)]);
    let n = h.take_notifies();
    let (rlmi, _) = open_list_notify(&parse(&n[0].request));
    let uris: Vec<&str> = rlmi.resources.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(uris, [BOB, DAVE]);
    h.answer(&n, 200);

    // a refresh without a body keeps the list
    let req = carol.subscribe("rls", "presence", Some(3600), &HEADERS[..5]);
    assert_eq!(h.subscribe(&mut carol, req).0.status(), Some(200));
    h.buddies(key, &[("bob", false), ("dave", false)]);
    let n = h.take_notifies();
    assert_eq!(open_list_notify(&parse(&n[0].request)).0.resources.len(), 2);
    h.answer(&n, 200);

    // linphone's unsubscribe: Expires 0, Require: recipient-list-subscribe, no body
    let req = carol.subscribe("rls", "presence", Some(0), &HEADERS[..5]);
    assert_eq!(h.subscribe(&mut carol, req).0.status(), Some(200));
    let n = h.take_notifies();
    assert_eq!(
        header(&parse(&n[0].request), "Subscription-State").as_deref(),
        Some("terminated")
    );
    assert!(!h.server.is_subscribed(key));
}

#[test]
fn bad_uri_lists_get_clear_answers() {
    let mut h = Harness::new();
    let mut carol = Ua::new("carol", 5003);
    let mut status = |headers: &[(&str, &str)], body: &[u8]| {
        let req = carol.subscribe_with_body("rls", "presence", Some(3600), headers, body);
        let (resp, key) = h.subscribe(&mut carol, req);
        assert!(key.is_none());
        (resp.status().unwrap(), resp)
    };
    let list = linphone_list(&[BOB]);
    // no body
    assert_eq!(status(&HEADERS[..5], b"").0, 400);
    // not a resource list
    let (code, resp) = status(
        &[
            HEADERS[0],
            HEADERS[1],
            ("Content-Type", "application/pidf+xml"),
        ],
        b"<x/>",
    );
    assert_eq!(code, 415);
    assert_eq!(
        header(&resp, "Accept").as_deref(),
        Some("application/resource-lists+xml")
    );
    // a coding we do not know
    let mut h2 = HEADERS.to_vec();
    h2[6] = ("Content-Encoding", "br");
    let (code, resp) = status(&h2, &list);
    assert_eq!(code, 415);
    assert_eq!(header(&resp, "Accept-Encoding").as_deref(), Some("deflate"));
    // said deflate, is not
    assert_eq!(status(HEADERS, b"plain text").0, 400);
    // the subscriber must take lists (RFC 5367 builds on RFC 4662)
    let (code, resp) = status(&HEADERS[1..], &list);
    assert_eq!(code, 421);
    assert_eq!(header(&resp, "Require").as_deref(), Some("eventlist"));
    let h3 = [
        HEADERS[0],
        HEADERS[1],
        ("Accept", "application/pidf+xml"),
        HEADERS[5],
        HEADERS[6],
    ];
    assert_eq!(status(&h3, &list).0, 406);
    // message-summary has no lists: the option tag is not supported there
    let req = carol.subscribe_with_body("carol", "message-summary", Some(3600), HEADERS, &list);
    let (resp, _) = h.subscribe(&mut carol, req);
    assert_eq!(resp.status(), Some(420));
    assert_eq!(
        header(&resp, "Unsupported").as_deref(),
        Some("recipient-list-subscribe")
    );
}
