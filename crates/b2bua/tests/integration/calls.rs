//! Two-party calls: forking, answers, CANCEL, BYE, re-INVITE, glare, timeouts, late offer.

use std::time::Duration;

use b2bua::dialplan::{Action, Entry};
use b2bua::{B2buaConfig, HangupBy};
use sip_message::{HeaderName, Message, Method};

use crate::net::*;

/// Alice calls bob (one device at BOB1) and bob answers; returns the 200 Alice got and the
/// INVITE bob got.
pub(crate) fn establish(n: &mut Net) -> (Message, Message) {
    n.deliver(&invite("c1", "bob", true), ALICE);
    let inv = n.request(BOB1, Method::Invite);
    n.deliver_msg(
        reply(&inv, 180, "bt", &format!("sip:bob@{BOB1}"), false),
        BOB1,
    );
    n.deliver_msg(
        reply(&inv, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to alice");
    n.deliver_msg(ack_for(&ok, false), ALICE);
    let _ = n.request(BOB1, Method::Ack);
    (ok, inv)
}

#[test]
fn fork_first_answer_wins_the_other_device_is_cancelled_and_bye_crosses() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.register("bob", BOB2);
    n.deliver(&invite("c1", "bob", true), ALICE);
    assert_eq!(n.statuses(ALICE), [100]);
    let i1 = n.request(BOB1, Method::Invite);
    let i2 = n.request(BOB2, Method::Invite);
    // topology hidden: each branch is its own dialog
    assert_ne!(i1.call_id(), Some("c1"));
    assert_ne!(i1.call_id(), i2.call_id());
    assert_eq!(i1.request_uri_str(), Some(&*format!("sip:bob@{BOB1}")));
    let from = i1.from_header().unwrap();
    assert_eq!(from.display_name().as_deref(), Some("Alice A"));
    assert_eq!(from.uri.user, Some("alice"));
    assert_eq!(i1.max_forwards().unwrap(), Some(69));
    assert_eq!(&i1.body()[..], SDP.as_bytes());
    assert!(
        !String::from_utf8_lossy(&i1.to_bytes()).contains(ALICE),
        "caller's address leaked"
    );

    n.deliver_msg(
        reply(&i1, 180, "b1", &format!("sip:bob@{BOB1}"), false),
        BOB1,
    );
    let ringing = n.take(ALICE);
    assert_eq!(ringing[0].status(), Some(180));
    let a_tag = ringing[0].to_header().unwrap().tag().unwrap().to_owned();
    n.deliver_msg(
        reply(&i2, 180, "b2", &format!("sip:bob@{BOB2}"), false),
        BOB2,
    );
    n.deliver_msg(
        reply(&i2, 200, "b2", &format!("sip:bob@{BOB2}"), true),
        BOB2,
    );
    let ack = n.request(BOB2, Method::Ack);
    assert_eq!(ack.call_id(), i2.call_id());
    assert_eq!(ack.request_uri_str(), Some(&*format!("sip:bob@{BOB2}")));
    let cancel = n.request(BOB1, Method::Cancel);
    assert_eq!(cancel.call_id(), i1.call_id());
    assert_eq!(
        cancel.top_via().unwrap().branch(),
        i1.top_via().unwrap().branch()
    );
    assert_eq!(cancel.cseq().unwrap().seq, 1);
    n.deliver_msg(reply(&cancel, 200, "b1", "sip:x", false), BOB1);
    n.deliver_msg(reply(&i1, 487, "b1", "sip:x", false), BOB1);

    let to_alice = n.take(ALICE);
    let ok = to_alice
        .iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to alice");
    assert_eq!(
        ok.to_header().unwrap().tag(),
        Some(a_tag.as_str()),
        "one To tag towards the caller"
    );
    assert_eq!(&ok.body()[..], SDP.as_bytes());
    assert!(
        !contact_of(ok).contains("198.51.100.2"),
        "callee's address leaked"
    );
    n.deliver_msg(ack_for(ok, false), ALICE);
    // after the ACK the 2xx is not sent again
    n.advance(Duration::from_secs(5));
    assert!(n.take(ALICE).iter().all(|m| m.status() != Some(200)));

    let bye = in_dialog(
        Method::Bye,
        &contact_of(ok),
        ALICE,
        "bye1",
        "<sip:alice@192.0.2.1>;tag=atc1",
        ok.header(&HeaderName::To).unwrap(),
        "c1",
        2,
        false,
    );
    n.deliver_msg(bye, ALICE);
    assert_eq!(n.statuses(ALICE), [200]);
    let bye_b = n.request(BOB2, Method::Bye);
    assert_eq!(bye_b.call_id(), i2.call_id());
    assert_eq!(bye_b.to_header().unwrap().tag(), Some("b2"));
    n.deliver_msg(reply(&bye_b, 200, "b2", "sip:x", false), BOB2);
    assert!(
        n.calls.is_empty(),
        "the call leaves the table once nothing of it is pending"
    );
    let to_b1 = n.take(BOB1);
    assert!(
        to_b1.iter().all(|m| m.method() == Some(&Method::Ack)),
        "the cancelled device hears nothing but the ACK of its 487"
    );

    assert_eq!(n.cdrs.len(), 1);
    let cdr = &n.cdrs[0];
    assert_eq!(cdr.final_code, 200);
    assert_eq!(cdr.hangup_by, HangupBy::Caller);
    assert_eq!((cdr.caller.as_str(), cdr.callee.as_str()), ("alice", "bob"));
    assert_eq!(cdr.route, "user-lookup");
    assert!(cdr.answer_ms.is_some() && cdr.ringing_ms.is_some());
    assert_eq!(cdr.call_id, "c1");
    n.advance(Duration::from_secs(40));
    assert!(n.calls.is_empty(), "the call left the table");
}

#[test]
fn a_decline_on_one_device_does_not_stop_the_other() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.register("bob", BOB2);
    n.deliver(&invite("c2", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    let i2 = n.request(BOB2, Method::Invite);
    n.deliver_msg(reply(&i1, 603, "b1", "sip:x", false), BOB1);
    assert!(
        n.statuses(ALICE).iter().all(|&s| s < 300),
        "no final answer yet"
    );
    n.deliver_msg(
        reply(&i2, 200, "b2", &format!("sip:bob@{BOB2}"), true),
        BOB2,
    );
    assert!(n.statuses(ALICE).contains(&200));
}

#[test]
fn best_final_answer_decline_beats_busy_and_busy_beats_the_rest() {
    for (codes, expect) in [([486, 603], 603), ([486, 404], 486), ([480, 408], 480)] {
        let mut n = Net::onnet();
        n.dir.register("bob", BOB1);
        n.dir.register("bob", BOB2);
        n.deliver(&invite("c3", "bob", true), ALICE);
        let i1 = n.request(BOB1, Method::Invite);
        let i2 = n.request(BOB2, Method::Invite);
        n.deliver_msg(reply(&i1, codes[0], "b1", "sip:x", false), BOB1);
        n.deliver_msg(reply(&i2, codes[1], "b2", "sip:x", false), BOB2);
        let finals: Vec<u16> = n
            .statuses(ALICE)
            .into_iter()
            .filter(|&s| s >= 200)
            .collect();
        assert_eq!(finals, [expect], "branches {codes:?}");
        assert_eq!(n.cdrs[0].final_code, expect);
    }
}

#[test]
fn no_answer_within_the_call_timeout_cancels_every_device_and_answers_480() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.register("bob", BOB2);
    n.deliver(&invite("c4", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    let i2 = n.request(BOB2, Method::Invite);
    n.deliver_msg(reply(&i1, 180, "b1", "sip:x", false), BOB1);
    n.deliver_msg(reply(&i2, 180, "b2", "sip:x", false), BOB2);
    n.advance(Duration::from_secs(29));
    assert!(n.statuses(ALICE).iter().all(|&s| s < 300));
    n.advance(Duration::from_secs(2));
    assert!(n.statuses(ALICE).contains(&480));
    let c1 = n.request(BOB1, Method::Cancel);
    let c2 = n.request(BOB2, Method::Cancel);
    assert_eq!(c1.call_id(), i1.call_id());
    assert_eq!(c2.call_id(), i2.call_id());
    assert_eq!(n.cdrs[0].final_code, 480);
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::System);
}

#[test]
fn caller_cancel_reaches_every_ringing_device_and_gets_487() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("c5", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    // no provisional yet: the CANCEL waits for one (RFC 3261 §9.1)
    let cancel = format!(
        "CANCEL sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKc5i;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=atc5\r\nTo: <sip:bob@192.0.2.1>\r\nCall-ID: c5\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    );
    n.deliver(&cancel, ALICE);
    let st = n.statuses(ALICE);
    assert!(st.contains(&200) && st.contains(&487), "{st:?}");
    assert!(n
        .take(BOB1)
        .iter()
        .all(|m| m.method() != Some(&Method::Cancel)));
    n.deliver_msg(reply(&i1, 180, "b1", "sip:x", false), BOB1);
    let c = n.request(BOB1, Method::Cancel);
    assert_eq!(c.call_id(), i1.call_id());
    assert!(
        n.statuses(ALICE).is_empty(),
        "no 180 after the caller gave up"
    );
    assert_eq!(n.cdrs[0].final_code, 487);
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::Caller);
}

#[test]
fn bye_from_the_callee_ends_the_caller_leg() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let (_ok, inv) = establish(&mut n);
    let bye = in_dialog(
        Method::Bye,
        &contact_of(&inv),
        BOB1,
        "bbye",
        &format!("{};tag=bt", inv.header(&HeaderName::To).unwrap()),
        inv.header(&HeaderName::From).unwrap(),
        inv.call_id().unwrap(),
        1,
        false,
    );
    n.deliver_msg(bye, BOB1);
    assert_eq!(n.statuses(BOB1), [200]);
    let bye_a = n.request(ALICE, Method::Bye);
    assert_eq!(bye_a.call_id(), Some("c1"));
    assert_eq!(
        bye_a.request_uri_str(),
        Some(&*format!("sip:alice@{ALICE}"))
    );
    assert_eq!(bye_a.to_header().unwrap().tag(), Some("atc1"));
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::Callee);
}

#[test]
fn reinvite_hold_crosses_both_ways_and_glare_gets_491() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let (ok, inv) = establish(&mut n);
    let hold = SDP.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    // bob puts alice on hold
    let b_from = format!("{};tag=bt", inv.header(&HeaderName::To).unwrap());
    let b_to = inv.header(&HeaderName::From).unwrap().to_owned();
    let mut reinv = String::from_utf8(
        in_dialog(
            Method::Invite,
            &contact_of(&inv),
            BOB1,
            "rb1",
            &b_from,
            &b_to,
            inv.call_id().unwrap(),
            2,
            false,
        )
        .to_vec(),
    )
    .unwrap();
    reinv = reinv.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{hold}",
            hold.len()
        ),
    );
    n.deliver(&reinv, BOB1);
    let to_a = n.request(ALICE, Method::Invite);
    assert_eq!(to_a.call_id(), Some("c1"));
    assert!(String::from_utf8_lossy(to_a.body()).contains("a=sendonly"));
    assert_eq!(to_a.to_header().unwrap().tag(), Some("atc1"));

    // glare: alice re-INVITEs while bob's is open
    let a_from = "<sip:alice@192.0.2.1>;tag=atc1".to_owned();
    let a_to = ok.header(&HeaderName::To).unwrap().to_owned();
    n.deliver_msg(
        in_dialog(
            Method::Invite,
            &contact_of(&ok),
            ALICE,
            "ra1",
            &a_from,
            &a_to,
            "c1",
            2,
            true,
        ),
        ALICE,
    );
    let st = n.statuses(ALICE);
    assert!(st.contains(&491), "{st:?}");

    // alice accepts the hold
    n.deliver_msg(
        reply(&to_a, 200, "atc1", &format!("sip:alice@{ALICE}"), true),
        ALICE,
    );
    let ack_a = n.request(ALICE, Method::Ack);
    assert_eq!(ack_a.cseq().unwrap().seq, to_a.cseq().unwrap().seq);
    let to_b: Vec<Message> = n.take(BOB1);
    let ok_b = to_b
        .iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to bob");
    assert_eq!(ok_b.cseq().unwrap().seq, 2);
    assert_eq!(&ok_b.body()[..], SDP.as_bytes());

    // an UPDATE from alice crosses too, and the answer comes back
    n.deliver_msg(
        in_dialog(
            Method::Update,
            &contact_of(&ok),
            ALICE,
            "ua1",
            &a_from,
            &a_to,
            "c1",
            3,
            true,
        ),
        ALICE,
    );
    let upd = n.request(BOB1, Method::Update);
    n.deliver_msg(
        reply(&upd, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    assert!(n.statuses(ALICE).contains(&200));
}

#[test]
fn late_offer_the_callers_ack_brings_the_answer_to_the_callee() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("c6", "bob", false), ALICE);
    let inv = n.request(BOB1, Method::Invite);
    assert!(inv.body().is_empty());
    n.deliver_msg(
        reply(&inv, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    assert!(
        n.take(BOB1)
            .iter()
            .all(|m| m.method() != Some(&Method::Ack)),
        "B's ACK waits for the answer"
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    assert_eq!(&ok.body()[..], SDP.as_bytes(), "the offer from the 200");
    n.deliver_msg(ack_for(&ok, true), ALICE);
    let ack = n.request(BOB1, Method::Ack);
    assert_eq!(&ack.body()[..], SDP.as_bytes());
}

#[test]
fn the_2xx_is_sent_again_until_the_ack_and_a_missing_ack_ends_the_call() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("c7", "bob", true), ALICE);
    let inv = n.request(BOB1, Method::Invite);
    n.deliver_msg(
        reply(&inv, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    assert!(n.statuses(ALICE).contains(&200));
    n.advance(Duration::from_millis(600));
    assert_eq!(n.statuses(ALICE), [200], "resent after T1");
    n.advance(Duration::from_secs(40));
    let _ = n.take(ALICE);
    let bye = n.request(BOB1, Method::Bye);
    assert_eq!(bye.call_id(), inv.call_id());
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::System);
}

#[test]
fn a_dead_leg_ends_the_call() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let (ok, _inv) = establish(&mut n);
    let a_from = "<sip:alice@192.0.2.1>;tag=atc1";
    let a_to = ok.header(&HeaderName::To).unwrap().to_owned();
    n.deliver_msg(
        in_dialog(
            Method::Info,
            &contact_of(&ok),
            ALICE,
            "inf1",
            a_from,
            &a_to,
            "c1",
            2,
            false,
        ),
        ALICE,
    );
    let info = n.request(BOB1, Method::Info);
    n.deliver_msg(reply(&info, 481, "bt", "sip:x", false), BOB1);
    assert!(n.take(ALICE).iter().any(|m| m.status() == Some(481)));
    assert_eq!(n.cdrs.len(), 1);
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::System);
}

#[test]
fn in_dialog_request_for_no_call_is_not_taken() {
    let mut n = Net::onnet();
    n.deliver_msg(
        in_dialog(
            Method::Bye,
            "sip:x@192.0.2.1",
            ALICE,
            "nb",
            "<sip:alice@x>;tag=1",
            "<sip:bob@x>;tag=2",
            "nocall",
            2,
            false,
        ),
        ALICE,
    );
    assert_eq!(n.statuses(ALICE), [481]);
}

#[test]
fn a_retransmitted_2xx_from_the_callee_gets_the_same_ack_again() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let (_ok, inv) = establish(&mut n);
    // our ACK was lost: bob sends his 200 again (the branch's record is gone by now)
    n.deliver_msg(
        reply(&inv, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    let ack = n.request(BOB1, Method::Ack);
    assert_eq!(ack.call_id(), inv.call_id());
    assert_eq!(ack.cseq().unwrap().seq, 1);
    assert_eq!(ack.to_header().unwrap().tag(), Some("bt"));
    assert!(n.take(ALICE).is_empty(), "the caller hears nothing of it");
}

/// A relay that anchors everything and counts nothing: only its mode matters here.
struct Anchoring;
impl b2bua::MediaRelay for Anchoring {
    fn offer(
        &mut self,
        _: u64,
        _: b2bua::Side,
        _: &bytes::Bytes,
        _: b2bua::MediaMode,
    ) -> Option<bytes::Bytes> {
        None
    }
    fn answer(
        &mut self,
        _: u64,
        _: b2bua::Side,
        _: &bytes::Bytes,
        _: b2bua::MediaMode,
    ) -> Option<bytes::Bytes> {
        None
    }
    fn end(&mut self, _: u64) -> Option<b2bua::CallStats> {
        let mut s = b2bua::CallStats::default();
        (s.a_to_b.packets, s.b_to_a.packets) = (7, 9);
        (s.a_to_b.bytes, s.b_to_a.bytes) = (1_204, 1_548);
        (s.a_to_b.lost, s.b_to_a.lost) = (2, 0);
        Some(s)
    }
}

#[test]
fn dead_media_ends_an_anchored_call_but_not_a_peer_to_peer_one() {
    // ONNET (relay candidate only): silence at the relay proves nothing
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let _ = establish(&mut n);
    assert!(!n.media_inactive(1));
    assert!(n.take(ALICE).is_empty());

    // OFFNET through a gateway: anchored, so silence means the call is dead
    let mut n = Net::new(vec![Entry::new(
        "00",
        0,
        Action::Gateway {
            gateways: vec!["gw1".into()],
            strip: 0,
            prepend: String::new(),
        },
    )]);
    n.calls.set_media(Box::new(Anchoring));
    n.dir.gateway("gw1", GW1, None);
    n.deliver(&invite("m1", "0044", true), ALICE);
    let inv = n.request(GW1, Method::Invite);
    n.deliver_msg(
        reply(&inv, 200, "gt", &format!("sip:0044@{GW1}"), true),
        GW1,
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    n.deliver_msg(ack_for(&ok, false), ALICE);
    assert!(n.media_inactive(1));
    let bye_a = n.request(ALICE, Method::Bye);
    assert_eq!(bye_a.call_id(), Some("m1"));
    let bye_b = n.request(GW1, Method::Bye);
    assert_eq!(bye_b.call_id(), inv.call_id());
    let cdr = &n.cdrs[0];
    assert_eq!(cdr.hangup_by, HangupBy::System);
    let media = cdr.media.as_ref().unwrap();
    assert_eq!((media.a_to_b.packets, media.b_to_a.packets), (7, 9));
    assert_eq!((media.a_to_b.bytes, media.b_to_a.bytes), (1_204, 1_548));
    assert_eq!((media.a_to_b.lost, media.b_to_a.lost), (2, 0));
    // both legs' Call-IDs
    assert_eq!(cdr.call_id, "m1");
    assert_eq!(cdr.b_call_id.as_deref(), inv.call_id());
}

#[test]
fn an_answered_call_is_hung_up_at_the_longest_duration() {
    // session timers longer than the longest duration: these UAs answer no refresh (the
    // session timer's own end is in `extensions.rs`)
    let cfg = B2buaConfig {
        session_expires: Duration::from_secs(2 * 86_400),
        ..B2buaConfig::default()
    };
    let plan = vec![Entry::new("", 0, Action::UserLookup)];
    let mut n = Net::with_config(plan, cfg);
    n.dir.register("bob", BOB1);
    let _ = establish(&mut n);
    n.advance(Duration::from_secs(11 * 3600));
    assert!(n
        .take(ALICE)
        .iter()
        .all(|m| m.method() != Some(&Method::Bye)));
    assert!(n.cdrs.is_empty());
    n.advance(Duration::from_secs(3600));
    let bye_a = n.request(ALICE, Method::Bye);
    assert_eq!(bye_a.call_id(), Some("c1"));
    let _ = n.request(BOB1, Method::Bye);
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::System);
    assert_eq!(n.cdrs[0].final_code, 200);
}

#[test]
fn a_new_call_timeout_applies_to_calls_placed_after_it() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.calls.set_config(B2buaConfig {
        call_timeout: Duration::from_secs(10),
        ..n.calls.config().clone()
    });
    n.deliver(&invite("c9", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    n.deliver_msg(reply(&i1, 180, "b1", "sip:x", false), BOB1);
    n.advance(Duration::from_secs(9));
    assert!(n.statuses(ALICE).iter().all(|&s| s < 300));
    n.advance(Duration::from_secs(2));
    assert!(n.statuses(ALICE).contains(&480));
}

#[test]
fn the_operator_lists_and_hangs_up_calls() {
    // answered: listed, then BYE to both legs and a CDR by the system
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let _ = establish(&mut n);
    let list = n.calls.summaries(n.now);
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(
        (c.state, c.parked, c.caller.as_str(), c.callee.as_str()),
        ("answered", false, "alice", "bob")
    );
    assert!(c.answered_for.is_some());
    assert!(!n.hang_up(c.id + 1), "no such call");
    assert!(n.hang_up(c.id));
    assert!(n
        .take(ALICE)
        .iter()
        .any(|m| m.method() == Some(&Method::Bye)));
    assert!(n
        .take(BOB1)
        .iter()
        .any(|m| m.method() == Some(&Method::Bye)));
    assert!(
        n.calls.summaries(n.now).is_empty(),
        "ended calls are not listed"
    );
    assert!(!n.hang_up(c.id), "already ended");

    // ringing: the branch is CANCELled and the caller gets 480
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("r1", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    n.deliver_msg(reply(&i1, 180, "b1", "sip:x", false), BOB1);
    let list = n.calls.summaries(n.now);
    assert_eq!(list[0].state, "ringing");
    assert!(n.hang_up(list[0].id));
    assert!(n
        .take(BOB1)
        .iter()
        .any(|m| m.method() == Some(&Method::Cancel)));
    assert!(n.take(ALICE).iter().any(|m| m.status() == Some(480)));
}
