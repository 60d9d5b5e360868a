//! SUBSCRIBE/NOTIFY (RFC 6665): dialogs, refresh, expiry, unsubscribe, NOTIFY failures.

use presence::PresenceServer;

use crate::common::*;

fn subscribed(h: &mut Harness, ua: &mut Ua, resource: &str) -> presence::SubscriptionKey {
    let req = ua.subscribe(resource, "presence", Some(600), &[]);
    let (resp, reply) = h.subscribe(ua, req);
    assert_eq!(resp.status(), Some(200));
    reply.unwrap()
}

#[test]
fn notify_belongs_to_the_subscribe_dialog() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let req = ua.subscribe(
        "bob",
        "presence;id=77",
        Some(600),
        &[("Record-Route", "<sip:edge.ex.com;lr>, <sip:core.ex.com;lr>")],
    );
    let (resp, _) = h.subscribe(&mut ua, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(
        header(&resp, "Contact").as_deref(),
        Some("<sip:198.51.100.1:5061;transport=tls>")
    );
    assert!(header(&resp, "Via")
        .unwrap()
        .contains("received=192.0.2.10"));
    let our_tag = ua.to_tag.clone().expect("200 has a To tag");

    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].to, peer(5001));
    assert!(!n[0].terminated);
    let m = parse(&n[0].request);
    assert_eq!(m.method(), Some(&sip_message::Method::Notify));
    assert_eq!(
        m.request_uri_str(),
        Some("sip:alice@10.0.0.1:5001;transport=tls")
    );
    let via = m.top_via().unwrap();
    assert_eq!(via.transport, "TLS");
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    assert_eq!(m.from_header().unwrap().tag(), Some(our_tag.as_str()));
    assert_eq!(m.from_header().unwrap().uri.as_str(), "sip:bob@ex.com");
    assert_eq!(m.to_header().unwrap().tag(), Some("ft5001"));
    assert_eq!(m.call_id(), Some("cid-alice-5001"));
    assert_eq!(m.cseq().unwrap().seq, 1);
    assert_eq!(header(&m, "Event").as_deref(), Some("presence;id=77"));
    assert_eq!(
        header(&m, "Subscription-State").as_deref(),
        Some("active;expires=600")
    );
    let routes: Vec<String> = m
        .header_list(&sip_message::HeaderName::Route)
        .map(str::to_owned)
        .collect();
    assert_eq!(routes, vec!["<sip:edge.ex.com;lr>", "<sip:core.ex.com;lr>"]);
    assert_eq!(
        header(&m, "Contact").as_deref(),
        Some("<sip:198.51.100.1:5061;transport=tls>")
    );
    h.answer(&n, 200);

    // the next NOTIFY: a new branch, CSeq + 1, remaining time
    h.advance(100_000);
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "x"))),
    );
    let n2 = h.take_notifies();
    let m2 = parse(&n2[0].request);
    assert_eq!(m2.cseq().unwrap().seq, 2);
    assert_ne!(
        m2.top_via().unwrap().branch(),
        m.top_via().unwrap().branch()
    );
    assert_eq!(
        header(&m2, "Subscription-State").as_deref(),
        Some("active;expires=500")
    );
}

#[test]
fn refresh_extends_and_sends_full_state() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let key = subscribed(&mut h, &mut ua, "bob");
    h.ack();
    h.advance(500_000);
    // refresh from a new flow (the phone reconnected): NOTIFYs follow it
    ua.port = 5009;
    let req = ua.subscribe("bob", "presence", Some(600), &[]);
    let (resp, reply) = h.subscribe(&mut ua, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(reply, Some(key));
    assert_eq!(header(&resp, "Expires").as_deref(), Some("600"));
    let n = h.ack();
    assert_eq!(n.len(), 1, "a refresh gets the full state");
    assert_eq!(n[0].to, peer(5009));
    let m = parse(&n[0].request);
    assert_eq!(
        header(&m, "Subscription-State").as_deref(),
        Some("active;expires=600")
    );
    assert_eq!(
        m.request_uri_str(),
        Some("sip:alice@10.0.0.9:5009;transport=tls"),
        "Contact is a target refresh"
    );

    // the old expiry is gone: nothing at 600 s from the start
    h.advance(200_000);
    assert!(h.server.is_subscribed(key));
    assert!(h.take_notifies().is_empty());
    h.advance(400_000);
    assert!(!h.server.is_subscribed(key));
}

#[test]
fn expiry_ends_with_reason_timeout_and_then_481() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let key = subscribed(&mut h, &mut ua, "bob");
    h.ack();
    h.advance(599_999);
    assert!(h.server.is_subscribed(key));
    h.advance(1);
    assert!(!h.server.is_subscribed(key));
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    assert!(n[0].terminated);
    let m = parse(&n[0].request);
    assert_eq!(
        header(&m, "Subscription-State").as_deref(),
        Some("terminated;reason=timeout")
    );
    assert!(m.body().is_empty());
    assert_eq!(h.server.watcher_count("presence", "bob"), 0);
    assert_eq!(h.server.poll_timeout(), None, "no timer left behind");

    let req = ua.subscribe("bob", "presence", Some(600), &[]);
    let (resp, _) = h.subscribe(&mut ua, req);
    assert_eq!(resp.status(), Some(481));
}

#[test]
fn unsubscribe_ends_with_a_terminated_notify() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let key = subscribed(&mut h, &mut ua, "bob");
    h.ack();
    let req = ua.subscribe("bob", "presence", Some(0), &[]);
    let (resp, _) = h.subscribe(&mut ua, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(header(&resp, "Expires").as_deref(), Some("0"));
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    let m = parse(&n[0].request);
    assert_eq!(
        header(&m, "Subscription-State").as_deref(),
        Some("terminated")
    );
    assert_eq!(m.cseq().unwrap().seq, 2);
    assert!(!h.server.is_subscribed(key));
    assert_eq!(h.server.subscription_count(), 0);
    // a late answer to it is harmless
    h.answer(&n, 200);
}

#[test]
fn polling_fetches_state_once() {
    let mut h = Harness::new();
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "x"))),
    );
    let mut ua = Ua::new("alice", 5001);
    let req = ua.subscribe("bob", "presence", Some(0), &[]);
    let (resp, reply) = h.subscribe(&mut ua, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(header(&resp, "Expires").as_deref(), Some("0"));
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    assert!(n[0].terminated);
    let m = parse(&n[0].request);
    assert_eq!(
        header(&m, "Subscription-State").as_deref(),
        Some("terminated;reason=timeout")
    );
    assert_eq!(tuples(m.body()), vec![("t".into(), "open".into())]);
    assert!(!h.server.is_subscribed(reply.unwrap()));
}

#[test]
fn refused_subscribes() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let req = ua.subscribe("bob", "dialog", None, &[]);
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(489));
    assert_eq!(
        header(&r, "Allow-Events").as_deref(),
        Some("presence, message-summary")
    );
    let req = ua.subscribe("bob", "presence", Some(30), &[]);
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(423));
    assert_eq!(header(&r, "Min-Expires").as_deref(), Some("60"));
    let req = ua.subscribe("bob", "presence", None, &[("Accept", "text/plain")]);
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(406));
    let req = ua.subscribe("bob", "presence", None, &[("Require", "foo")]);
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(420));
    assert_eq!(header(&r, "Unsupported").as_deref(), Some("foo"));

    // no Contact
    let raw = "SUBSCRIBE sip:bob@ex.com SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bKx\r\nFrom: <sip:alice@ex.com>;tag=1\r\nTo: <sip:bob@ex.com>\r\nCall-ID: nc\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n";
    let req = sip_message::Message::parse(bytes::Bytes::from(raw)).unwrap();
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(400));

    // an in-dialog SUBSCRIBE for a dialog we never made
    let mut stranger = Ua::new("alice", 5002);
    stranger.to_tag = Some("nope".into());
    let req = stranger.subscribe("bob", "presence", Some(600), &[]);
    let (r, _) = h.subscribe(&mut stranger, req);
    assert_eq!(r.status(), Some(481));
    assert_eq!(h.server.subscription_count(), 0);
    assert!(h.take_notifies().is_empty());
}

#[test]
fn in_dialog_checks() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    subscribed(&mut h, &mut ua, "bob");
    h.ack();
    // another login cannot refresh alice's subscription
    let req = ua.subscribe("bob", "presence", Some(600), &[]);
    let (r, _) = h.subscribe_as("mallory", 6000, req);
    assert_eq!(r.status(), Some(403));
    // an old CSeq is out of order
    ua.cseq = 0;
    let req = ua.subscribe("bob", "presence", Some(600), &[]);
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(500));
    // a different event in the dialog is not this subscription
    let req = ua.subscribe("bob", "message-summary", Some(600), &[]);
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(481));
    // too short
    let req = ua.subscribe("bob", "presence", Some(5), &[]);
    let (r, _) = h.subscribe(&mut ua, req);
    assert_eq!(r.status(), Some(423));
}

#[test]
fn changes_notify_every_watcher() {
    let mut h = Harness::new();
    let mut uas: Vec<Ua> = (0..3)
        .map(|i| Ua::new(&format!("w{i}"), 5100 + i))
        .collect();
    for ua in &mut uas {
        subscribed(&mut h, ua, "bob");
    }
    assert_eq!(h.ack().len(), 3);
    assert_eq!(h.server.watcher_count("presence", "bob"), 3);
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "x"))),
    );
    let n = h.ack();
    assert_eq!(n.len(), 3);
    let mut watchers: Vec<&str> = n.iter().map(|n| n.watcher.as_str()).collect();
    watchers.sort_unstable();
    assert_eq!(watchers, vec!["w0", "w1", "w2"]);
    for n in &n {
        let m = parse(&n.request);
        assert_eq!(m.cseq().unwrap().seq, 2);
        assert_eq!(tuples(m.body()), vec![("t".into(), "open".into())]);
    }
    // a watcher of someone else hears nothing
    let mut other = Ua::new("z", 5200);
    subscribed(&mut h, &mut other, "carol");
    h.ack();
    h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "u", "open", "x"))),
    );
    assert!(h.ack().iter().all(|n| n.watcher != "z"));
}

#[test]
fn one_notify_in_flight_changes_coalesce() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    subscribed(&mut h, &mut ua, "bob");
    let first = h.take_notifies();
    // three changes while the first NOTIFY is unanswered
    let r = h.publish(
        "bob",
        publish("bob", None, None, Some(&pidf("bob", "t", "open", "1"))),
    );
    let e = header(&r, "SIP-ETag").unwrap();
    let r = h.publish(
        "bob",
        publish("bob", Some(&e), None, Some(&pidf("bob", "t", "open", "2"))),
    );
    let e = header(&r, "SIP-ETag").unwrap();
    h.publish(
        "bob",
        publish(
            "bob",
            Some(&e),
            None,
            Some(&pidf("bob", "t", "closed", "3")),
        ),
    );
    assert!(h.take_notifies().is_empty());
    h.answer(&first, 200);
    let n = h.take_notifies();
    assert_eq!(n.len(), 1, "one NOTIFY with the latest state");
    let m = parse(&n[0].request);
    assert!(body_text(&m).contains("<note>3</note>"));
    assert_eq!(m.cseq().unwrap().seq, 2);
    // a stale or provisional answer changes nothing
    assert!(
        !h.answer_one(&first[0], 200),
        "answered before: no longer ours"
    );
    assert!(h.answer_one(&n[0], 100), "still in flight");
    assert!(h.take_notifies().is_empty());
}

#[test]
fn failed_notifies_remove_watchers() {
    for (status, kept) in [(481, false), (408, false), (500, true), (603, true)] {
        let mut h = Harness::new();
        let mut ua = Ua::new("alice", 5001);
        let key = subscribed(&mut h, &mut ua, "bob");
        let n = h.take_notifies();
        h.answer(&n, status);
        assert_eq!(h.server.is_subscribed(key), kept, "status {status}");
        assert_eq!(h.server.watcher_count("presence", "bob"), usize::from(kept));
        // a kept subscription still gets the next change
        h.publish(
            "bob",
            publish("bob", None, None, Some(&pidf("bob", "t", "open", "x"))),
        );
        assert_eq!(h.take_notifies().len(), usize::from(kept));
    }
}

#[test]
fn an_unanswered_notify_is_given_up() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let key = subscribed(&mut h, &mut ua, "bob");
    let n = h.take_notifies();
    h.advance(39_999);
    assert!(h.server.is_subscribed(key));
    h.advance(1);
    assert!(!h.server.is_subscribed(key), "the guard acts as a 408");
    // the answer that comes too late is ignored
    h.answer(&n, 200);
    assert!(h.take_notifies().is_empty());
}

#[test]
fn a_watcher_may_hold_only_so_many_subscriptions() {
    let mut cfg = config();
    cfg.max_subscriptions_per_login = 2;
    let mut h = Harness::with(cfg);
    for (i, target) in ["bob", "carol", "dave"].iter().enumerate() {
        let mut ua = Ua::new("alice", 5001 + i as u16);
        let req = ua.subscribe(target, "presence", None, &[]);
        let (r, _) = h.subscribe(&mut ua, req);
        assert_eq!(r.status(), Some(if i < 2 { 200 } else { 403 }));
    }
}

#[test]
fn deterministic_for_a_seed() {
    let t0 = Instant::now();
    let run = || {
        let mut h = Harness::new();
        h.server = PresenceServer::new(config(), 9);
        h.now = t0;
        let mut ua = Ua::new("alice", 5001);
        let req = ua.subscribe("bob", "presence", None, &[]);
        let (r, _) = h.subscribe(&mut ua, req);
        let mut out = vec![r.to_bytes()];
        out.extend(h.take_notifies().iter().map(|n| n.request.to_bytes()));
        out
    };
    assert_eq!(run(), run());
}
