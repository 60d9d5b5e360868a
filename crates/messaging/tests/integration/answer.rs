//! The sender's answer when devices stay silent: 202 from the answer timer, then the message
//! recorded once — delivered by a late 2xx, or stored for the next REGISTER when every device
//! failed — and never a second answer.

use messaging::{Action, Destination, Status};
use sip_message::Method;

use crate::common::*;

#[test]
fn a_forwarded_message_arms_one_answer_timer() {
    let mut b = Bench::new();
    b.online("bob", &[7001, 7002]);
    b.send("bob", "hi", "t1", Destination::Login("bob".into()));
    let _ = b.actions();
    assert_eq!(b.m.poll_timeout(), Some(b.now + ANSWER_AFTER));
    // just before it is due: nothing; at it: one 202 and no timer left (one per MESSAGE,
    // not per device)
    let mut out = Out {
        tx: &mut b.tx,
        now: b.now,
    };
    b.m.handle_timeout(
        b.now + ANSWER_AFTER - std::time::Duration::from_millis(1),
        &mut out,
    );
    assert_eq!(b.m.poll_timeout(), Some(b.now + ANSWER_AFTER));
    b.fire_timers();
    assert_eq!(
        status_of(&b.wire())
            .into_iter()
            .filter(|(_, s)| *s == 202)
            .count(),
        1
    );
    // stored at once (nobody online): no timer, the store's answer is quick
    let mut b = Bench::new();
    b.send("bob", "hi", "t2", Destination::Login("bob".into()));
    let _ = b.actions();
    assert_eq!(b.m.poll_timeout(), None);
}

#[test]
fn silent_devices_get_the_sender_202_then_the_message_is_stored_once_without_a_second_answer() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.send(
        "bob",
        "are you there",
        "t3",
        Destination::Login("bob".into()),
    );
    let (p, m) = b.wire().pop().unwrap();
    assert_eq!(m.method(), Some(&Method::Message));
    b.fire_timers();
    assert_eq!(
        status_of(&b.wire()),
        vec![(6000, 202)],
        "202 from the timer"
    );
    assert!(
        b.actions().is_empty(),
        "nothing stored yet: the device may still answer"
    );
    assert_eq!(b.m.in_progress(), 1);
    // the forward times out (408): stored deferred, pushed, no second answer
    b.answer(p, &m, 408);
    b.stored_deferred(true);
    assert!(
        status_of(&b.wire()).is_empty(),
        "the sender has its answer already"
    );
    let a = b.actions();
    assert!(matches!(a[0], Action::Push { .. }), "{a:?}");
    assert!(matches!(a[1], Action::FetchPending { .. }), "{a:?}");
    assert_eq!(b.m.in_progress(), 0);
}

#[test]
fn a_late_2xx_after_the_202_records_the_message_delivered_not_stored_for_later() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.send("bob", "slow phone", "t4", Destination::Login("bob".into()));
    let (p, m) = b.wire().pop().unwrap();
    b.fire_timers();
    assert_eq!(status_of(&b.wire()), vec![(6000, 202)]);
    b.answer(p, &m, 200);
    assert!(status_of(&b.wire()).is_empty(), "no 200 after the 202");
    let a = b.actions();
    assert!(
        matches!(
            a.as_slice(),
            [Action::Store {
                job: None,
                status: Status::Delivered,
                ..
            }]
        ),
        "{a:?}"
    );
    assert_eq!(b.m.in_progress(), 0);
}

#[test]
fn a_timer_after_the_answer_changes_nothing() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.send("bob", "quick", "t5", Destination::Login("bob".into()));
    let (p, m) = b.wire().pop().unwrap();
    b.answer(p, &m, 200);
    assert_eq!(status_of(&b.wire()), vec![(6000, 200)]);
    b.fire_timers();
    assert!(b.wire().is_empty());
}

#[test]
fn relayed_uris_carry_the_domain_set_at_run_time() {
    let mut b = Bench::new();
    b.online("bob", &[7001]);
    b.m.set_domain("sip.example.org");
    b.send("bob", "hi", "t6", Destination::Login("bob".into()));
    let (_, m) = b.wire().pop().unwrap();
    let from = m.from_header().unwrap();
    assert_eq!(from.uri.host.to_string(), "sip.example.org");
    assert_eq!(
        m.to_header().unwrap().uri.host.to_string(),
        "sip.example.org"
    );
}
