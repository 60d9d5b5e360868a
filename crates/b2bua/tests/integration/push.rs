//! Push wake-up: parking, pushing at once or after the push delay, late forking on REGISTER,
//! pick-up with INVITE/Replaces, missed calls, answered elsewhere, ghost INVITE+CANCEL.

use std::time::Duration;

use b2bua::{PushKind, PushRequest};
use bytes::Bytes;
use sip_message::{HeaderName, Message, Method};

use crate::net::*;

const PHONE: &str = "<urn:uuid:00000000-0000-1000-8000-0000000000a1>";
const TABLET: &str = "<urn:uuid:00000000-0000-1000-8000-0000000000b2>";
/// Where the woken app comes from.
const APP: &str = "198.51.100.9:5070";

fn reason_of(m: &Message) -> String {
    m.headers()
        .iter()
        .find(|h| h.name.matches("Reason"))
        .map(|h| h.value().to_owned())
        .unwrap_or_default()
}

fn kinds(n: &Net) -> Vec<(PushKind, Vec<String>)> {
    n.pushes
        .iter()
        .map(|p| {
            (
                p.kind,
                p.devices.iter().map(|d| d.instance.clone()).collect(),
            )
        })
        .collect()
}

/// The app's INVITE with Replaces built from the push payload.
fn replaces_invite(p: &PushRequest, from_user: &str, to_tag: &str, sdp: bool) -> Bytes {
    let body = if sdp { SDP } else { "" };
    let ct = if sdp {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    Bytes::from(format!(
        "INVITE sip:alice@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP {APP};branch=z9hG4bKrep{from_user}{to_tag}{}\r\nMax-Forwards: 70\r\nFrom: <sip:{from_user}@192.0.2.1>;tag=app1\r\nTo: <sip:alice@192.0.2.1>\r\nCall-ID: app-{to_tag}@{APP}\r\nCSeq: 1 INVITE\r\nContact: <sip:{from_user}@{APP}>;+sip.instance=\"{PHONE}\"\r\nReplaces: {};to-tag={to_tag};from-tag={}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        u8::from(sdp),
        p.call_id,
        p.from_tag,
        body.len()
    ))
}

#[test]
fn sleeping_device_is_pushed_at_once_and_the_caller_hears_ringing() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    assert_eq!(n.statuses(ALICE), [100, 180], "parked: ringing, not 480");
    assert_eq!(kinds(&n), [(PushKind::IncomingCall, vec![PHONE.into()])]);
    let p = &n.pushes[0];
    assert_eq!((p.caller.as_str(), p.callee.as_str()), ("alice", "bob"));
    assert_eq!(p.caller_display.as_deref(), Some("Alice A"));
    assert!(p.call_id.ends_with("@ferroswitch") && p.call_id != "c1");
    assert_eq!(p.devices[0].token, format!("tok-{PHONE}"));
    // nobody comes: missed call (timeout), then the answering rule (480 without voicemail)
    n.advance(Duration::from_secs(29));
    assert!(n.statuses(ALICE).is_empty(), "still parked at 29 s");
    n.advance(Duration::from_secs(2));
    assert_eq!(n.statuses(ALICE)[0], 480, "(then its retransmissions)");
    assert_eq!(kinds(&n)[1], (PushKind::MissedTimeout, vec![PHONE.into()]));
    assert_eq!(n.pushes.len(), 2, "one push per device per call");
    assert_eq!(n.cdrs.len(), 1);
    assert_eq!(n.cdrs[0].wakeup_ms, None);
    n.advance(Duration::from_secs(60));
    assert!(n.calls.is_empty(), "no parked call left");
}

#[test]
fn registered_but_silent_device_is_pushed_after_the_delay_not_when_it_rings() {
    // silent: pushed at 3 s
    let mut n = Net::onnet_push();
    n.dir
        .contacts
        .entry("bob".into())
        .or_default()
        .push(target("bob", BOB1, Some(PHONE)));
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let _ = n.request(BOB1, Method::Invite);
    assert!(n.pushes.is_empty(), "it may still answer");
    n.advance(Duration::from_millis(2_900));
    assert!(n.pushes.is_empty());
    n.advance(Duration::from_millis(200));
    assert_eq!(kinds(&n), [(PushKind::IncomingCall, vec![PHONE.into()])]);
    assert!(n.statuses(ALICE).contains(&180), "the caller hears ringing");

    // rings at 2.9 s: never pushed
    let mut n = Net::onnet_push();
    n.dir
        .contacts
        .entry("bob".into())
        .or_default()
        .push(target("bob", BOB1, Some(PHONE)));
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let inv = n.request(BOB1, Method::Invite);
    n.advance(Duration::from_millis(2_900));
    n.deliver_msg(
        reply(&inv, 180, "b1", &format!("sip:bob@{BOB1}"), false),
        BOB1,
    );
    n.advance(Duration::from_secs(10));
    assert!(n.pushes.is_empty(), "{:?}", kinds(&n));
}

#[test]
fn woken_device_registers_and_gets_the_call_by_late_forking() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let _ = n.take(ALICE);
    n.advance(Duration::from_millis(1_500));
    n.registered("bob", BOB1, Some(PHONE));
    let inv = n.request(BOB1, Method::Invite);
    assert_eq!(&inv.body()[..], SDP.as_bytes());
    // a refresh of the same binding does not fork again
    n.registered("bob", BOB1, Some(PHONE));
    assert!(n.take(BOB1).is_empty());
    n.deliver_msg(
        reply(&inv, 200, "b1", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    let ok = n.take(ALICE);
    assert_eq!(
        ok.iter().filter_map(Message::status).collect::<Vec<_>>(),
        [200]
    );
    n.deliver_msg(ack_for(&ok[0], false), ALICE);
    // the device that answered gets no call_ended
    assert_eq!(kinds(&n).len(), 1, "{:?}", kinds(&n));
    // BYE crosses, the CDR says how long the wake-up took
    let bye = in_dialog(
        Method::Bye,
        &contact_of(&ok[0]),
        ALICE,
        "bye1",
        ok[0].header(&HeaderName::From).unwrap(),
        ok[0].header(&HeaderName::To).unwrap(),
        "c1",
        2,
        false,
    );
    n.deliver_msg(bye, ALICE);
    let _ = n.request(BOB1, Method::Bye);
    assert_eq!(n.cdrs.len(), 1);
    assert_eq!(n.cdrs[0].final_code, 200);
    assert_eq!(n.cdrs[0].wakeup_ms, Some(1_500));
}

#[test]
fn replaces_from_the_callee_bridges_from_others_403_unknown_481() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let _ = n.take(ALICE);
    let p = n.pushes[0].clone();

    // unknown parked call
    n.caller_login = "bob".into();
    let mut unknown = p.clone();
    unknown.call_id = "nope@ferroswitch".into();
    n.deliver_msg(replaces_invite(&unknown, "bob", &p.to_tag, false), APP);
    assert_eq!(n.statuses(APP), [100, 481]);
    // the right call-id from another login: a call-id is never enough to steal a call
    n.caller_login = "mallory".into();
    n.deliver_msg(replaces_invite(&p, "mallory", &p.to_tag, true), APP);
    assert_eq!(n.statuses(APP), [100, 403]);
    // a wrong tag
    n.caller_login = "bob".into();
    n.deliver_msg(replaces_invite(&p, "bob", "badtag", true), APP);
    assert_eq!(n.statuses(APP), [100, 481]);
    assert!(n.statuses(ALICE).is_empty(), "still ringing");

    // the callee's app, with an offer: both ends get 200
    n.deliver_msg(replaces_invite(&p, "bob", &p.to_tag, true), APP);
    let app = n.take(APP);
    let ok_app = app
        .iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to the app");
    assert_eq!(&ok_app.body()[..], SDP.as_bytes(), "the caller's offer");
    let ok = n.take(ALICE);
    assert_eq!(
        ok.iter().filter_map(Message::status).collect::<Vec<_>>(),
        [200]
    );
    assert!(!ok[0].body().is_empty());
    n.deliver_msg(ack_for(&ok[0], false), ALICE);
    // the caller hangs up: BYE goes to the app's dialog
    let bye = in_dialog(
        Method::Bye,
        &contact_of(&ok[0]),
        ALICE,
        "bye1",
        ok[0].header(&HeaderName::From).unwrap(),
        ok[0].header(&HeaderName::To).unwrap(),
        "c1",
        2,
        false,
    );
    n.deliver_msg(bye, ALICE);
    let b = n.request(APP, Method::Bye);
    assert_eq!(b.call_id(), Some(&*format!("app-{}@{APP}", p.to_tag)));
    assert_eq!(n.cdrs[0].final_code, 200);
    assert!(n.cdrs[0].wakeup_ms.is_some());
}

#[test]
fn replaces_without_offer_gets_the_callers_offer_and_answers_in_its_ack() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let _ = n.take(ALICE);
    let p = n.pushes[0].clone();
    n.caller_login = "bob".into();
    n.deliver_msg(replaces_invite(&p, "bob", &p.to_tag, false), APP);
    let ok_app = n
        .take(APP)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to the app");
    assert_eq!(&ok_app.body()[..], SDP.as_bytes(), "the caller's offer");
    assert!(n.statuses(ALICE).is_empty(), "A waits for the app's answer");
    // the app's ACK carries the answer
    let ack = in_dialog(
        Method::Ack,
        &contact_of(&ok_app),
        APP,
        "ack1",
        ok_app.header(&HeaderName::From).unwrap(),
        ok_app.header(&HeaderName::To).unwrap(),
        ok_app.call_id().unwrap(),
        1,
        true,
    );
    n.deliver_msg(ack, APP);
    let ok = n.take(ALICE);
    assert_eq!(
        ok.iter().filter_map(Message::status).collect::<Vec<_>>(),
        [200]
    );
    assert_eq!(&ok[0].body()[..], SDP.as_bytes());
}

#[test]
fn caller_cancel_is_a_missed_call_and_a_late_register_gets_invite_then_cancel() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let _ = n.take(ALICE);
    let cancel = format!(
        "CANCEL sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKc1i;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=atc1\r\nTo: <sip:bob@192.0.2.1>\r\nCall-ID: c1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    );
    n.deliver(&cancel, ALICE);
    assert!(n.statuses(ALICE).contains(&487));
    assert_eq!(
        kinds(&n)[1],
        (PushKind::MissedCancelled, vec![PHONE.into()])
    );
    // iOS: the pushed phone registers after the call ended: INVITE, CANCEL when it rings
    n.advance(Duration::from_secs(5));
    n.registered("bob", BOB1, Some(PHONE));
    let inv = n.request(BOB1, Method::Invite);
    n.deliver_msg(
        reply(&inv, 180, "g1", &format!("sip:bob@{BOB1}"), false),
        BOB1,
    );
    let c = n.request(BOB1, Method::Cancel);
    let reason = reason_of(&c);
    assert!(reason.contains("cause=487"), "{reason}");
    n.deliver_msg(reply(&c, 200, "g1", "", false), BOB1);
    n.deliver_msg(reply(&inv, 487, "g1", "", false), BOB1);
    // only once
    n.registered("bob", BOB1, Some(PHONE));
    assert!(n
        .take(BOB1)
        .iter()
        .all(|m| m.method() != Some(&Method::Invite)));
    n.advance(Duration::from_secs(60));
    assert!(n.calls.is_empty());
}

#[test]
fn timeout_goes_to_voicemail_after_the_missed_call() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", PHONE);
    n.dir.voicemail.insert("bob".into(), format!("sip:vm@{VM}"));
    n.deliver(&invite("c1", "bob", true), ALICE);
    n.advance(Duration::from_secs(31));
    assert_eq!(kinds(&n)[1].0, PushKind::MissedTimeout);
    let vm = n.request(VM, Method::Invite);
    // RFC 4458: no reply
    assert_eq!(
        vm.request_uri_str(),
        Some(&*format!("sip:vm@{VM};cause=408"))
    );
}

#[test]
fn answered_on_another_device_the_pushed_one_gets_call_ended() {
    let mut n = Net::onnet_push();
    n.dir
        .contacts
        .entry("bob".into())
        .or_default()
        .push(target("bob", BOB1, Some(TABLET)));
    n.dir.token("bob", TABLET);
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let inv = n.request(BOB1, Method::Invite);
    assert_eq!(kinds(&n), [(PushKind::IncomingCall, vec![PHONE.into()])]);
    n.deliver_msg(
        reply(&inv, 200, "b1", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    assert_eq!(
        kinds(&n)[1],
        (PushKind::AnsweredElsewhere, vec![PHONE.into()])
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to alice");
    n.deliver_msg(ack_for(&ok, false), ALICE);
    // the phone wakes late: INVITE + CANCEL "completed elsewhere"
    n.registered("bob", BOB2, Some(PHONE));
    let g = n.request(BOB2, Method::Invite);
    n.deliver_msg(reply(&g, 180, "g", &format!("sip:bob@{BOB2}"), false), BOB2);
    let c = n.request(BOB2, Method::Cancel);
    assert!(reason_of(&c).contains("cause=200"));
    // the ghost runs to its end and goes; the answered call is untouched by it
    n.deliver_msg(reply(&c, 200, "g", "", false), BOB2);
    n.deliver_msg(reply(&g, 487, "g", "", false), BOB2);
    n.advance(Duration::from_secs(40));
    let _ = n.take(ALICE);
    let bye = in_dialog(
        Method::Bye,
        &contact_of(&ok),
        ALICE,
        "bye9",
        ok.header(&HeaderName::From).unwrap(),
        ok.header(&HeaderName::To).unwrap(),
        "c1",
        2,
        false,
    );
    n.deliver_msg(bye, ALICE);
    assert!(
        n.statuses(ALICE).contains(&200),
        "the caller's BYE still finds its call after the ghost went"
    );
    let _ = n.request(BOB1, Method::Bye);
}

#[test]
fn a_failed_push_hook_applies_the_answering_rules_at_once() {
    let mut n = Net::onnet_push();
    n.dir.token("bob", PHONE);
    n.deliver(&invite("c1", "bob", true), ALICE);
    assert_eq!(n.statuses(ALICE), [100, 180]);
    let id = n.pushes[0].call;
    n.push_failed(id, &[PHONE.into()]);
    assert_eq!(n.statuses(ALICE), [480]);
    assert_eq!(
        n.pushes.len(),
        1,
        "no missed_call for a device never reached"
    );
}
