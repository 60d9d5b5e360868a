//! Dead flows and the best final answer: a branch whose request cannot be sent ends at once
//! (RFC 3261 §8.1.3.1), a device with a push token is pushed then, and a decline is not lost
//! to a device that stays silent until the call timeout.

use std::time::Duration;

use b2bua::{HangupBy, PushKind};
use sip_message::Method;

use crate::net::*;

const PHONE: &str = "<urn:uuid:00000000-0000-1000-8000-0000000000a1>";

/// The caller's final answers, without the retransmissions of one final answer.
fn finals(n: &mut Net) -> Vec<u16> {
    let mut f: Vec<u16> = n
        .statuses(ALICE)
        .into_iter()
        .filter(|&s| s >= 200)
        .collect();
    f.dedup();
    f
}

#[test]
fn the_only_device_on_a_dead_flow_gets_the_caller_an_answer_at_once() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dead.insert(addr(BOB1));
    n.deliver(&invite("d1", "bob", true), ALICE);
    // no time passes: no 32 s Timer B, no 30 s call timeout
    assert_eq!(finals(&mut n), [480]);
    assert_eq!(n.cdrs[0].final_code, 480);
}

#[test]
fn a_dead_flow_among_live_ones_leaves_the_answer_to_the_live_device() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.register("bob", BOB2);
    n.dead.insert(addr(BOB1));
    n.deliver(&invite("d2", "bob", true), ALICE);
    let i2 = n.request(BOB2, Method::Invite);
    assert!(finals(&mut n).is_empty(), "the live device still rings");
    n.deliver_msg(reply(&i2, 486, "b2", "sip:x", false), BOB2);
    assert_eq!(finals(&mut n), [486], "at once, not at the call timeout");
}

#[test]
fn a_dead_flow_with_a_push_token_is_pushed_at_once() {
    let mut n = Net::onnet_push();
    n.dir
        .contacts
        .entry("bob".into())
        .or_default()
        .push(target("bob", BOB1, Some(PHONE)));
    n.dir.token("bob", PHONE);
    n.dead.insert(addr(BOB1));
    n.deliver(&invite("d3", "bob", true), ALICE);
    // not after the 3 s push delay: its flow is gone, now is the time
    let kinds: Vec<_> = n.pushes.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [PushKind::IncomingCall]);
    assert_eq!(n.pushes[0].devices[0].instance, PHONE);
    assert!(
        n.statuses(ALICE).contains(&180),
        "parked: the caller hears ringing"
    );
    assert!(finals(&mut n).is_empty());
}

#[test]
fn a_decline_beats_a_device_that_stays_silent_until_the_call_timeout() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.register("bob", BOB2);
    n.deliver(&invite("d4", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    let i2 = n.request(BOB2, Method::Invite);
    n.deliver_msg(reply(&i1, 603, "b1", "sip:x", false), BOB1);
    n.deliver_msg(reply(&i2, 180, "b2", "sip:x", false), BOB2);
    n.advance(Duration::from_secs(31));
    assert_eq!(
        finals(&mut n),
        [603],
        "docs/calls.md: 603 if any device declined"
    );
    assert_eq!(n.cdrs[0].final_code, 603);
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::Callee);
    let c2 = n.request(BOB2, Method::Cancel);
    assert_eq!(c2.call_id(), i2.call_id(), "the silent device is cancelled");
}

#[test]
fn busy_beats_a_silent_device_too_but_silence_alone_is_480() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.register("bob", BOB2);
    n.deliver(&invite("d5", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    let _ = n.request(BOB2, Method::Invite);
    n.deliver_msg(reply(&i1, 486, "b1", "sip:x", false), BOB1);
    n.advance(Duration::from_secs(31));
    assert_eq!(finals(&mut n), [486]);

    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("d6", "bob", true), ALICE);
    n.advance(Duration::from_secs(31));
    assert_eq!(finals(&mut n), [480]);
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::System);
}
