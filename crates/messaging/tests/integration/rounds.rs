//! Delivery rounds: stored messages sent oldest first, one at a time, each marked delivered
//! before the next; a failure ends the round; a login is asked once after a start.

use messaging::{Action, Destination, Status, MAX_ATTEMPTS, ROUND_BATCH};
use sip_message::Method;

use crate::common::*;

#[test]
fn a_round_delivers_in_order_one_at_a_time_marking_each_before_the_next() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.m.registered("bob", true);
    assert!(matches!(
        b.actions().as_slice(),
        [Action::FetchPending { .. }]
    ));
    // a second trigger during the round does not start another one
    b.m.registered("bob", true);
    assert!(b.actions().is_empty());
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.pending_fetched(
        "bob",
        Ok(vec![deferred(1, "one", 0), deferred(2, "two", 0)]),
        &b.accounts,
        &mut out,
    );
    let wire = b.wire();
    assert_eq!(wire.len(), 1, "one at a time");
    assert_eq!(&wire[0].1.body()[..], b"one");
    b.answer(7001, &wire[0].1, 200);
    assert_eq!(
        b.actions(),
        vec![Action::MarkDelivered {
            login: "bob".into(),
            id: 1
        }]
    );
    assert!(b.wire().is_empty(), "the next waits for the mark");
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.marked("bob", Ok(()), &b.accounts, &mut out);
    let wire = b.wire();
    assert_eq!(&wire[0].1.body()[..], b"two");
    b.answer(7001, &wire[0].1, 202);
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.marked("bob", Ok(()), &b.accounts, &mut out);
    // the second trigger: one more fetch; then the round is over
    assert_eq!(
        b.actions(),
        vec![
            Action::MarkDelivered {
                login: "bob".into(),
                id: 2
            },
            Action::FetchPending {
                login: "bob".into(),
                limit: ROUND_BATCH
            }
        ]
    );
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.pending_fetched("bob", Ok(vec![]), &b.accounts, &mut out);
    assert!(b.actions().is_empty());
    // known to have nothing left: a refresh REGISTER does not query again
    b.m.registered("bob", false);
    assert!(b.actions().is_empty());
}

#[test]
fn a_failed_delivery_stops_the_round_and_keeps_the_order() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.m.registered("bob", true);
    let _ = b.actions();
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.pending_fetched(
        "bob",
        Ok(vec![deferred(1, "one", 0), deferred(2, "two", 0)]),
        &b.accounts,
        &mut out,
    );
    let (p, m) = b.wire().pop().unwrap();
    b.answer(p, &m, 500);
    assert_eq!(
        b.actions(),
        vec![Action::Attempted {
            id: 1,
            give_up: false
        }]
    );
    assert!(b
        .wire()
        .iter()
        .all(|(_, m)| m.method() != Some(&Method::Message)));
    // a new MESSAGE now is stored behind the others, not forwarded
    b.send("bob", "three", "c9", Destination::Login("bob".into()));
    assert!(matches!(
        b.actions().as_slice(),
        [Action::Store {
            status: Status::Deferred,
            ..
        }]
    ));
    // the next refresh REGISTER retries
    b.m.registered("bob", false);
    assert!(matches!(
        b.actions().as_slice(),
        [Action::FetchPending { .. }]
    ));
}

#[test]
fn a_message_refused_too_often_is_given_up_and_the_round_goes_on() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.m.registered("bob", true);
    let _ = b.actions();
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.pending_fetched(
        "bob",
        Ok(vec![
            deferred(1, "bad", MAX_ATTEMPTS - 1),
            deferred(2, "good", 0),
        ]),
        &b.accounts,
        &mut out,
    );
    let (p, m) = b.wire().pop().unwrap();
    b.answer(p, &m, 415);
    assert_eq!(
        b.actions(),
        vec![Action::Attempted {
            id: 1,
            give_up: true
        }]
    );
    let wire = b.wire();
    let fwd = wire
        .iter()
        .find(|(_, m)| m.method() == Some(&Method::Message))
        .unwrap();
    assert_eq!(&fwd.1.body()[..], b"good");
}

#[test]
fn after_a_start_each_login_is_asked_once_even_on_a_refresh() {
    let mut b = Bench::new();
    b.online("carol", &[7003]);
    // not "coming online" (the binding survived a restart), yet carol was never asked
    b.m.registered("carol", false);
    assert!(matches!(
        b.actions().as_slice(),
        [Action::FetchPending { .. }]
    ));
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.pending_fetched("carol", Ok(vec![]), &b.accounts, &mut out);
    // known to be empty now: refreshes cost nothing, messages go straight through
    b.m.registered("carol", false);
    assert!(b.actions().is_empty());
    b.send("carol", "hi", "c11", Destination::Login("carol".into()));
    assert!(b
        .wire()
        .iter()
        .any(|(p, m)| *p == 7003 && m.method() == Some(&Method::Message)));
}

#[test]
fn a_message_to_a_login_not_yet_asked_is_stored_then_delivered_by_a_round() {
    let mut b = Bench::new();
    b.online("carol", &[7003]);
    b.send(
        "carol",
        "keep order",
        "c12",
        Destination::Login("carol".into()),
    );
    b.stored_deferred(true);
    assert_eq!(status_of(&b.wire()), vec![(6000, 202)]);
    // carol is online: no push, a round instead
    assert_eq!(
        b.actions(),
        vec![Action::FetchPending {
            login: "carol".into(),
            limit: ROUND_BATCH
        }]
    );
}

#[test]
fn another_node_s_word_on_a_queue_decides_between_forwarding_and_storing_first() {
    let mut b = Bench::new();
    b.online("carol", &[7003]);
    // another node delivered carol's stored messages: forwarded at once, never asked here
    b.m.remote_queue("carol", true);
    assert!(b.m.is_clear("carol"));
    b.send(
        "carol",
        "straight",
        "c13",
        Destination::Login("carol".into()),
    );
    assert!(b
        .wire()
        .iter()
        .any(|(p, m)| *p == 7003 && m.method() == Some(&Method::Message)));
    let _ = b.actions();
    // another node stored one for her: the next is stored first, behind it
    b.m.remote_queue("carol", false);
    assert!(!b.m.is_clear("carol"));
    b.send(
        "carol",
        "in order",
        "c14",
        Destination::Login("carol".into()),
    );
    assert!(matches!(
        b.actions().as_slice(),
        [Action::Store {
            status: Status::Deferred,
            ..
        }]
    ));
    // a clear while this node runs a round of hers changes nothing
    b.m.registered("carol", true);
    let _ = b.actions();
    b.m.remote_queue("carol", true);
    assert!(!b.m.is_clear("carol"));
}
