//! message-summary (RFC 3842): counts fetched from the driver, NOTIFY on change.

use presence::{MessageDetail, MessageSummary};

use crate::common::*;

#[test]
fn counts_are_fetched_then_notified_on_change() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let req = ua.subscribe("alice", "message-summary", None, &[]);
    let (resp, reply) = h.subscribe(&mut ua, req);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(header(&resp, "Expires").as_deref(), Some("3600"));
    let key = reply.unwrap();
    // state unknown: fetch first, NOTIFY when it arrives
    assert!(h.take_notifies().is_empty());
    assert_eq!(h.fetch_state, vec![("message-summary", "alice".to_owned())]);
    // a second device subscribing meanwhile does not fetch twice
    let mut ua2 = Ua::new("alice", 5002);
    let req = ua2.subscribe("alice", "message-summary", None, &[]);
    let _ = h.subscribe(&mut ua2, req);
    assert_eq!(h.fetch_state.len(), 1);

    h.summary("alice", MessageSummary::new(2, 8));
    h.drain();
    let n = h.ack();
    assert_eq!(n.len(), 2);
    let m = parse(&n[0].request);
    assert_eq!(m.content_type(), Some("application/simple-message-summary"));
    assert_eq!(header(&m, "Event").as_deref(), Some("message-summary"));
    assert_eq!(
        body_text(&m),
        "Messages-Waiting: yes\r\nMessage-Account: sip:alice@ex.com\r\nVoice-Message: 2/8 (0/0)\r\n"
    );

    // the same counts again: nothing; new counts: NOTIFY
    h.summary("alice", MessageSummary::new(2, 8));
    h.drain();
    assert!(h.take_notifies().is_empty());
    h.summary("alice", MessageSummary::new(0, 10));
    h.drain();
    let n = h.ack();
    assert_eq!(n.len(), 2);
    assert!(body_text(&parse(&n[0].request)).starts_with("Messages-Waiting: no\r\n"));
    assert!(h.server.is_subscribed(key));

    // counts of a login nobody watches are not kept; a later subscription fetches again
    h.summary("bob", MessageSummary::new(1, 0));
    let mut ub = Ua::new("bob", 5003);
    let req = ub.subscribe("bob", "message-summary", None, &[]);
    h.fetch_state.clear();
    let _ = h.subscribe(&mut ub, req);
    assert_eq!(h.fetch_state, vec![("message-summary", "bob".to_owned())]);
}

#[test]
fn a_known_count_is_notified_at_once() {
    let mut h = Harness::new();
    let mut ua = Ua::new("alice", 5001);
    let req = ua.subscribe("alice", "message-summary", None, &[]);
    let _ = h.subscribe(&mut ua, req);
    h.summary("alice", MessageSummary::new(1, 0));
    h.drain();
    h.ack();
    h.fetch_state.clear();
    let mut ua2 = Ua::new("alice", 5002);
    let req = ua2.subscribe("alice", "message-summary", None, &[]);
    let _ = h.subscribe(&mut ua2, req);
    assert!(h.fetch_state.is_empty());
    let n = h.take_notifies();
    assert_eq!(n.len(), 1);
    assert!(body_text(&parse(&n[0].request)).contains("Voice-Message: 1/0 (0/0)"));
}

#[test]
fn only_ones_own_mailbox() {
    let mut h = Harness::new();
    let mut ua = Ua::new("mallory", 5001);
    let req = ua.subscribe("alice", "message-summary", None, &[]);
    let (resp, _) = h.subscribe(&mut ua, req);
    assert_eq!(resp.status(), Some(403));
    assert!(h.fetch_state.is_empty());
}

#[test]
fn details_of_new_messages_are_notified_to_every_device_at_once() {
    let mut h = Harness::new();
    let (mut ua, mut ua2) = (Ua::new("alice", 5001), Ua::new("alice", 5002));
    for u in [&mut ua, &mut ua2] {
        let req = u.subscribe("alice", "message-summary", None, &[]);
        let _ = h.subscribe(u, req);
    }
    h.summary("alice", MessageSummary::new(0, 0));
    h.drain();
    assert_eq!(h.ack().len(), 2);

    // a deposit: counts and the message's details, to both devices without waiting
    let d = MessageDetail {
        id: 230,
        caller: "bob".into(),
        display_name: "Bob".into(),
        created_ms: 1_796_558_400_000,
        duration_ms: 5_620,
    };
    h.summary_with_details("alice", MessageSummary::new(1, 0), vec![d.clone()]);
    h.drain();
    let n = h.ack();
    assert_eq!(n.len(), 2);
    for notify in &n {
        assert_eq!(
            body_text(&parse(&notify.request)),
            "Messages-Waiting: yes\r\nMessage-Account: sip:alice@ex.com\r\nVoice-Message: 1/0 (0/0)\r\n\
             \r\nTo: <sip:alice@ex.com>\r\nFrom: \"Bob\" <sip:bob@ex.com>\r\n\
             Date: Sun, 06 Dec 2026 12:00:00 +0000\r\nMessage-ID: <230@ex.com>\r\n\
             Message-Context: voice-message\r\nContent-Duration: 6\r\n"
        );
    }
    // the same again: nothing; heard (0/1, no new message to detail): NOTIFY
    h.summary_with_details("alice", MessageSummary::new(1, 0), vec![d]);
    h.drain();
    assert!(h.take_notifies().is_empty());
    h.summary_with_details("alice", MessageSummary::new(0, 1), vec![]);
    h.drain();
    let n = h.ack();
    assert_eq!(n.len(), 2);
    assert_eq!(
        body_text(&parse(&n[0].request)),
        "Messages-Waiting: no\r\nMessage-Account: sip:alice@ex.com\r\nVoice-Message: 0/1 (0/0)\r\n"
    );
}
