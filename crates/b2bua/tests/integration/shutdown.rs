//! Shutdown (`Calls::shutdown`): answered calls get BYE on both legs, ringing and parked calls
//! have their branches CANCELled and the caller gets 503 with Retry-After, every CDR is queued
//! at once, and the table empties as the BYEs and CANCELs are answered.

use std::time::Duration;

use b2bua::{HangupBy, PushKind};
use sip_message::{HeaderName, Message, Method};

use crate::calls::establish;
use crate::net::*;

/// The messages sent to `to` for the call `call_id` (taken; the others stay).
fn of_call(n: &mut Net, to: &str, call_id: &str) -> Vec<Message> {
    let (mine, rest): (Vec<_>, Vec<_>) = n
        .take(to)
        .into_iter()
        .partition(|m| m.call_id() == Some(call_id));
    n.sent.extend(rest.into_iter().map(|m| (addr(to), m)));
    mine
}

#[test]
fn answered_calls_get_bye_on_both_legs_and_ringing_callers_get_503_with_retry_after() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.register("carol", CAROL);
    let (_ok, bob_inv) = establish(&mut n);
    n.deliver(&invite("c2", "carol", true), ALICE);
    let carol_inv = n.request(CAROL, Method::Invite);
    n.deliver_msg(reply(&carol_inv, 180, "ct", "sip:carol@x", false), CAROL);
    let _ = n.take(ALICE);
    assert_eq!(n.calls.len(), 2);
    assert!(n.cdrs.is_empty());

    assert_eq!(n.shutdown(30), 2);

    // the answered call: BYE to both phones
    let bye_a = n.request(ALICE, Method::Bye);
    assert_eq!(bye_a.call_id(), Some("c1"));
    let bye_b = n.request(BOB1, Method::Bye);
    assert_eq!(bye_b.call_id(), bob_inv.call_id());
    // the ringing call: CANCEL to carol, 503 + Retry-After to alice
    let cancel = n.request(CAROL, Method::Cancel);
    assert_eq!(cancel.call_id(), carol_inv.call_id());
    let answer: Vec<Message> = of_call(&mut n, ALICE, "c2");
    let final_ = answer
        .iter()
        .find(|m| m.status().is_some_and(|s| s >= 300))
        .expect("a final answer to the ringing caller");
    assert_eq!(final_.status(), Some(503));
    assert_eq!(final_.header(&HeaderName::RetryAfter), Some("30"));
    // both CDRs are queued before anything is answered
    let mut codes: Vec<(u16, HangupBy)> =
        n.cdrs.iter().map(|c| (c.final_code, c.hangup_by)).collect();
    codes.sort_by_key(|c| c.0);
    assert_eq!(codes, [(200, HangupBy::System), (503, HangupBy::System)]);

    // the phones answer: the table empties without waiting for the linger timer
    n.deliver_msg(reply(&bye_a, 200, "atc1", "sip:alice@x", false), ALICE);
    n.deliver_msg(reply(&bye_b, 200, "bt", "sip:bob@x", false), BOB1);
    n.deliver_msg(reply(&cancel, 200, "ct", "sip:carol@x", false), CAROL);
    n.deliver_msg(reply(&carol_inv, 487, "ct", "sip:carol@x", false), CAROL);
    assert!(n.calls.is_empty(), "calls left: {}", n.calls.len());
    // a second shutdown finds nothing to end
    assert_eq!(n.shutdown(30), 0);
    assert_eq!(n.cdrs.len(), 2);
}

#[test]
fn unanswered_byes_leave_the_table_by_the_linger_timer() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let _ = establish(&mut n);
    assert_eq!(n.shutdown(10), 1);
    let _ = n.request(ALICE, Method::Bye);
    assert_eq!(n.cdrs.len(), 1);
    n.advance(Duration::from_secs(40));
    assert!(n.calls.is_empty());
}

#[test]
fn a_parked_call_is_answered_503_and_its_pushed_devices_get_a_missed_call() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", "urn:uuid:phone");
    n.deliver(&invite("c3", "bob", true), ALICE);
    assert_eq!(n.statuses(ALICE), [100, 180], "parked");
    assert_eq!(n.shutdown(15), 1);
    let answer = n.take(ALICE);
    assert_eq!(
        answer
            .iter()
            .filter_map(Message::status)
            .collect::<Vec<_>>(),
        [503]
    );
    assert_eq!(answer[0].header(&HeaderName::RetryAfter), Some("15"));
    assert!(n.pushes.iter().any(|p| p.kind == PushKind::MissedCancelled));
    assert_eq!(n.cdrs.len(), 1);
    assert_eq!(n.cdrs[0].final_code, 503);
}
