//! A new MESSAGE: forwarded to every device, stored when nobody takes it (then 202 and a
//! push, never for a system command), OFFNET to the SMS hook, refusals.

use bytes::Bytes;
use messaging::{Action, Destination, Status, Text, MAX_BODY, ROUND_BATCH};
use sip_message::Method;

use crate::common::*;

#[test]
fn online_message_goes_to_every_device_and_the_first_2xx_answers() {
    let mut b = Bench::new();
    b.online("bob", &[7001, 7002]);
    assert_eq!(b.m.in_progress(), 0);
    b.send("bob", "hi", "c1", Destination::Login("bob".into()));
    assert_eq!(b.m.in_progress(), 1, "forwarded, waiting for the devices");
    let wire = b.wire();
    let forwards: Vec<_> = wire
        .iter()
        .filter(|(_, m)| m.method() == Some(&Method::Message))
        .collect();
    assert_eq!(forwards.len(), 2);
    let (p1, m1) = forwards[0].clone();
    let (p2, m2) = forwards[1].clone();
    // our own dialog identifiers, the body and type kept, From user = the sender
    assert_ne!(m1.call_id(), Some("c1"));
    assert_eq!(&m1.body()[..], b"hi");
    assert_eq!(m1.content_type(), Some("text/plain"));
    assert_eq!(m1.from_user().as_deref(), Some("alice"));
    assert!(m1
        .header(&sip_message::HeaderName::From)
        .unwrap()
        .contains("\"Alice\""));
    assert_eq!(m1.request_uri_str(), Some("sip:bob@127.0.0.1:7001"));
    b.answer(p1, &m1, 200);
    assert_eq!(status_of(&b.wire()), vec![(6000, 200)]);
    b.answer(p2, &m2, 200);
    assert!(status_of(&b.wire()).is_empty(), "one answer to the sender");
    assert_eq!(b.m.in_progress(), 0, "answered: nothing in progress");
    assert_eq!(
        b.actions(),
        vec![Action::Store {
            job: None,
            text: Text {
                sender: "alice".into(),
                display_name: Some("Alice".into()),
                recipient: "bob".into(),
                call_id: "c1".into(),
                cseq: 1,
                content_type: "text/plain".into(),
                body: Bytes::from_static(b"hi"),
            },
            status: Status::Delivered,
        }]
    );
}

#[test]
fn offline_message_is_stored_then_202_and_push() {
    let mut b = Bench::new();
    b.send("bob", "later", "c2", Destination::Login("bob".into()));
    assert!(
        status_of(&b.wire()).is_empty(),
        "no answer before it is stored"
    );
    b.stored_deferred(false);
    assert_eq!(status_of(&b.wire()), vec![(6000, 202)]);
    assert!(matches!(b.actions().as_slice(), [Action::Push { text }] if text.recipient == "bob"));
    // bob comes online: a round fetches his messages
    b.m.registered("bob", true);
    assert_eq!(
        b.actions(),
        vec![Action::FetchPending {
            login: "bob".into(),
            limit: ROUND_BATCH
        }]
    );
}

/// A system command (seed: "not sent over PUSH when the user is offline") is stored and
/// delivered on REGISTER like any message, but never pushed: neither when nobody is
/// registered nor when every device failed.
#[test]
fn system_commands_are_stored_but_never_pushed() {
    let mut b = Bench::new();
    b.send_as(
        "bob",
        "Contacts add",
        "s1",
        Destination::Login("bob".into()),
        true,
    );
    b.stored_deferred(false);
    assert_eq!(status_of(&b.wire()), vec![(6000, 202)]);
    assert!(b.actions().is_empty(), "stored, not pushed");

    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.send_as(
        "bob",
        "Contacts del",
        "s2",
        Destination::Login("bob".into()),
        true,
    );
    let (p, m) = b.wire().pop().unwrap();
    b.answer(p, &m, 480);
    b.stored_deferred(true);
    assert_eq!(status_of(&b.wire()), vec![(6000, 202)]);
    let a = b.actions();
    assert!(
        !a.iter().any(|a| matches!(a, Action::Push { .. })),
        "every device failed, still no push: {a:?}"
    );
    assert!(
        matches!(a.as_slice(), [Action::FetchPending { .. }]),
        "{a:?}"
    );
}

#[test]
fn all_devices_failing_stores_the_message() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.send("bob", "x", "c3", Destination::Login("bob".into()));
    let (p, m) = b.wire().pop().unwrap();
    b.answer(p, &m, 480);
    b.stored_deferred(true);
    assert_eq!(status_of(&b.wire()), vec![(6000, 202)]);
    let a = b.actions();
    assert!(matches!(a[0], Action::Push { .. }), "{a:?}");
    assert!(matches!(a[1], Action::FetchPending { .. }), "{a:?}");
}

#[test]
fn unknown_login_404_reject_code_and_store_failure_503() {
    let mut b = Bench::new();
    b.send("nobody", "x", "c4", Destination::Login("nobody".into()));
    assert_eq!(status_of(&b.wire()), vec![(6000, 404)]);
    b.send("x", "x", "c5", Destination::Reject(403));
    assert_eq!(status_of(&b.wire()), vec![(6000, 403)]);
    b.send("bob", "x", "c6", Destination::Login("bob".into()));
    let Some(Action::Store { job: Some(job), .. }) = b.m.poll_action() else {
        panic!()
    };
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.stored(job, Err("down".into()), &Online(false), &mut out);
    assert_eq!(status_of(&b.wire()), vec![(6000, 503)]);
}

#[test]
fn offnet_goes_to_the_sms_hook() {
    let mut b = Bench::new();
    b.send("4420", "hello", "c7", Destination::Offnet("004420".into()));
    let Some(Action::SmsOut { job, text }) = b.m.poll_action() else {
        panic!()
    };
    assert_eq!(
        (text.recipient.as_str(), &text.body[..]),
        ("004420", &b"hello"[..])
    );
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.sms_done(job, Ok(()), &mut out);
    assert_eq!(status_of(&b.wire()), vec![(6000, 202)]);
    assert!(matches!(
        b.actions().as_slice(),
        [Action::Store {
            status: Status::SentOffnet,
            ..
        }]
    ));
    b.send("4420", "again", "c8", Destination::Offnet("004420".into()));
    let Some(Action::SmsOut { job, .. }) = b.m.poll_action() else {
        panic!()
    };
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.sms_done(job, Err("503".into()), &mut out);
    assert_eq!(status_of(&b.wire()), vec![(6000, 503)]);
    assert!(matches!(
        b.actions().as_slice(),
        [Action::Store {
            status: Status::Failed,
            ..
        }]
    ));
}

#[test]
fn oversized_body_is_refused() {
    let mut b = Bench::new();
    let big = "x".repeat(MAX_BODY + 1);
    b.send("bob", &big, "c10", Destination::Login("bob".into()));
    assert_eq!(status_of(&b.wire()), vec![(6000, 413)]);
}
