//! RFC 3262 reliable provisionals (PRACK) and RFC 4028 session timers, per leg, on the
//! virtual clock.

use std::time::Duration;

use b2bua::dialplan::{Action, Entry};
use b2bua::{B2buaConfig, HangupBy};
use bytes::Bytes;
use sip_message::{HeaderName, Message, Method};

use crate::net::*;

/// `msg` with `extra` header lines (each ending in CRLF) after its start line.
fn with(msg: &[u8], extra: &str) -> Bytes {
    let text = String::from_utf8_lossy(msg);
    let (first, rest) = text.split_once("\r\n").expect("a start line");
    Bytes::from(format!("{first}\r\n{extra}{rest}"))
}

fn hdr<'m>(m: &'m Message, name: &str) -> Option<&'m str> {
    m.headers()
        .iter()
        .find(|h| h.name.matches(name))
        .map(|h| h.value())
}

/// A PRACK (or any in-dialog request) from alice to our dialog in `resp`.
fn from_alice(method: Method, resp: &Message, branch: &str, cseq: u32, extra: &str) -> Bytes {
    let m = in_dialog(
        method,
        &contact_of(resp),
        ALICE,
        branch,
        resp.header(&HeaderName::From).unwrap(),
        resp.header(&HeaderName::To).unwrap(),
        resp.call_id().unwrap(),
        cseq,
        false,
    );
    with(&m, extra)
}

/// A reliable provisional of bob (tag `bt`) to the B-leg INVITE `inv`.
fn reliable(inv: &Message, code: u16, rseq: u32, sdp: bool) -> Bytes {
    let r = reply(inv, code, "bt", &format!("sip:bob@{BOB1}"), sdp);
    with(&r, &format!("Require: 100rel\r\nRSeq: {rseq}\r\n"))
}

fn prack_to_bob(n: &mut Net) -> Message {
    let p = n.request(BOB1, Method::Prack);
    n.deliver_msg(reply(&p, 200, "bt", "sip:x", false), BOB1);
    p
}

#[test]
fn prack_on_both_legs_with_early_media_and_own_rseq() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let inv = invite("c1", "bob", true).replace("CSeq:", "Supported: 100rel, timer\r\nCSeq:");
    n.deliver(&inv, ALICE);
    let b_inv = n.request(BOB1, Method::Invite);
    assert!(b_inv.has_option_tag(&HeaderName::Supported, "100rel"));
    assert!(b_inv.has_option_tag(&HeaderName::Supported, "timer"));

    // bob's reliable 183 with early media: PRACKed by us in its early dialog
    n.deliver_msg(reliable(&b_inv, 183, 7, true), BOB1);
    let p = prack_to_bob(&mut n);
    assert_eq!(hdr(&p, "RAck"), Some("7 1 INVITE"));
    assert_eq!(p.cseq().unwrap().seq, 2);
    assert_eq!(p.call_id(), b_inv.call_id());
    assert_eq!(p.to_header().unwrap().tag(), Some("bt"));
    assert_eq!(p.request_uri_str(), Some(&*format!("sip:bob@{BOB1}")));

    // alice gets a reliable 183 of ours (own RSeq), with the SDP
    let to_alice: Vec<Message> = n.take(ALICE);
    let r183 = to_alice
        .iter()
        .find(|m| m.status() == Some(183))
        .expect("183 to alice")
        .clone();
    assert!(r183.has_option_tag(&HeaderName::Require, "100rel"));
    let our_rseq: u32 = hdr(&r183, "RSeq").unwrap().parse().unwrap();
    assert!((1..0x8000_0000).contains(&our_rseq));
    assert_eq!(&r183.body()[..], SDP.as_bytes(), "early media SDP crosses");

    // bob's 183 again (same RSeq): neither PRACKed again nor relayed
    n.deliver_msg(reliable(&b_inv, 183, 7, true), BOB1);
    assert!(n.take(BOB1).is_empty());
    assert!(n.take(ALICE).is_empty());

    // ours is resent until alice's PRACK: T1, then 2·T1
    n.advance(Duration::from_millis(500));
    assert_eq!(n.statuses(ALICE), [183]);
    n.advance(Duration::from_millis(999));
    assert!(n.take(ALICE).is_empty());
    n.advance(Duration::from_millis(1));
    assert_eq!(n.statuses(ALICE), [183]);

    // a PRACK naming another RSeq: 481; the right one: 200 and no more resends
    let wrong = from_alice(
        Method::Prack,
        &r183,
        "pr0",
        2,
        &format!("RAck: {} 1 INVITE\r\n", our_rseq + 1),
    );
    n.deliver_msg(wrong, ALICE);
    assert_eq!(n.statuses(ALICE), [481]);
    let ok = from_alice(
        Method::Prack,
        &r183,
        "pr1",
        3,
        &format!("RAck: {our_rseq} 1 INVITE\r\n"),
    );
    n.deliver_msg(ok, ALICE);
    assert_eq!(n.statuses(ALICE), [200]);
    n.advance(Duration::from_secs(10));
    assert!(n.take(ALICE).is_empty(), "no resend after the PRACK");

    // bob's next reliable 180 gets the next RSeq on each leg
    n.deliver_msg(reliable(&b_inv, 180, 8, false), BOB1);
    assert_eq!(hdr(&prack_to_bob(&mut n), "RAck"), Some("8 1 INVITE"));
    let r180 = n.take(ALICE).pop().expect("180 to alice");
    assert_eq!(hdr(&r180, "RSeq"), Some(&*(our_rseq + 1).to_string()));

    // answered while the 180 is unacknowledged: no more resends; the B-leg dialog goes on
    // after the CSeq numbers of our PRACKs
    n.deliver_msg(
        reply(&b_inv, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to alice");
    n.deliver_msg(ack_for(&ok, false), ALICE);
    let _ = n.request(BOB1, Method::Ack);
    n.advance(Duration::from_secs(5));
    assert!(n.take(ALICE).iter().all(|m| m.status() != Some(180)));
    // her late PRACK of that 180 still gets its 200
    let late = from_alice(
        Method::Prack,
        &r180,
        "pr2",
        4,
        &format!("RAck: {} 1 INVITE\r\n", our_rseq + 1),
    );
    n.deliver_msg(late, ALICE);
    assert_eq!(n.statuses(ALICE), [200]);
    let bye = from_alice(Method::Bye, &ok, "bye1", 5, "");
    n.deliver_msg(bye, ALICE);
    let bye_b = n.request(BOB1, Method::Bye);
    assert_eq!(
        bye_b.cseq().unwrap().seq,
        4,
        "after INVITE 1 and PRACKs 2, 3"
    );
}

#[test]
fn callee_requires_100rel_caller_does_not_we_prack_and_relay_unreliably() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("c2", "bob", true), ALICE);
    let b_inv = n.request(BOB1, Method::Invite);
    n.deliver_msg(reliable(&b_inv, 183, 1, true), BOB1);
    assert_eq!(hdr(&prack_to_bob(&mut n), "RAck"), Some("1 1 INVITE"));
    let to_alice = n.take(ALICE);
    let r183 = to_alice.iter().find(|m| m.status() == Some(183)).unwrap();
    assert!(!r183.has_option_tag(&HeaderName::Require, "100rel"));
    assert_eq!(hdr(r183, "RSeq"), None);
    assert_eq!(&r183.body()[..], SDP.as_bytes());
    // unreliable: not resent
    n.advance(Duration::from_secs(5));
    assert!(n.take(ALICE).is_empty());
    // an RSeq that skips one is not processed (RFC 3262 §4)
    n.deliver_msg(reliable(&b_inv, 180, 3, false), BOB1);
    assert!(n.take(BOB1).is_empty() && n.take(ALICE).is_empty());
    n.deliver_msg(reliable(&b_inv, 180, 2, false), BOB1);
    assert_eq!(hdr(&prack_to_bob(&mut n), "RAck"), Some("2 1 INVITE"));
    assert_eq!(n.statuses(ALICE), [180]);
}

#[test]
fn caller_requiring_100rel_gets_reliable_ringing_and_504_without_prack() {
    let cfg = B2buaConfig {
        call_timeout: Duration::from_secs(120),
        ..B2buaConfig::default()
    };
    let mut n = Net::with_config(vec![Entry::new("", 0, Action::UserLookup)], cfg);
    n.dir.register("bob", BOB1);
    let inv = invite("c3", "bob", true).replace("CSeq:", "Require: 100rel\r\nCSeq:");
    n.deliver(&inv, ALICE);
    let b_inv = n.request(BOB1, Method::Invite);
    // an unreliable 180 from bob is reliable towards a caller that requires it
    n.deliver_msg(
        reply(&b_inv, 180, "bt", &format!("sip:bob@{BOB1}"), false),
        BOB1,
    );
    let r180 = n.take(ALICE).pop().unwrap();
    assert!(r180.has_option_tag(&HeaderName::Require, "100rel"));
    assert!(hdr(&r180, "RSeq").is_some());
    assert!(n.take(BOB1).is_empty(), "nothing to PRACK on the B-leg");
    // a second one waits for the first one's PRACK
    n.deliver_msg(
        reply(&b_inv, 183, "bt", &format!("sip:bob@{BOB1}"), false),
        BOB1,
    );
    assert!(n.take(ALICE).is_empty());
    // never PRACKed: resent (0.5, 1.5, 3.5, ... s), then 504 at 64·T1
    n.advance(Duration::from_secs(31));
    assert!(n.statuses(ALICE).iter().all(|&s| s == 180));
    n.advance(Duration::from_secs(1));
    let st = n.statuses(ALICE);
    assert_eq!(st.last(), Some(&504), "{st:?}");
    let _ = n.request(BOB1, Method::Cancel);
    assert_eq!(n.cdrs.len(), 1);
    assert_eq!(n.cdrs[0].final_code, 504);
}

/// Alice (timer-capable, refresher) calls bob, whose 2xx has no `Session-Expires`: we
/// refresh bob's leg ourselves; alice's refreshes cross; the call ends when alice's stop.
#[test]
fn session_refreshes_keep_the_call_and_a_missing_one_ends_it() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let inv = invite("c4", "bob", true).replace(
        "CSeq:",
        "Supported: timer\r\nSession-Expires: 90;refresher=uac\r\nCSeq:",
    );
    n.deliver(&inv, ALICE);
    let b_inv = n.request(BOB1, Method::Invite);
    assert_eq!(hdr(&b_inv, "Session-Expires"), Some("90"));
    assert_eq!(hdr(&b_inv, "Min-SE"), Some("90"));
    n.deliver_msg(
        reply(&b_inv, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    assert_eq!(hdr(&ok, "Session-Expires"), Some("90;refresher=uac"));
    assert!(ok.has_option_tag(&HeaderName::Require, "timer"));
    n.deliver_msg(ack_for(&ok, false), ALICE);
    let _ = n.request(BOB1, Method::Ack);

    // alice refreshes with UPDATE at 40 s: it crosses, and refreshes bob's leg too
    n.advance(Duration::from_secs(40));
    assert!(
        n.take(BOB1).is_empty(),
        "nothing for bob before half the interval"
    );
    let upd = from_alice(
        Method::Update,
        &ok,
        "up1",
        2,
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
    );
    n.deliver_msg(upd, ALICE);
    let upd_b = n.request(BOB1, Method::Update);
    assert_eq!(hdr(&upd_b, "Session-Expires"), Some("90;refresher=uac"));
    n.deliver_msg(
        reply(&upd_b, 200, "bt", &format!("sip:bob@{BOB1}"), false),
        BOB1,
    );
    let r = n.take(ALICE).pop().unwrap();
    assert_eq!(r.status(), Some(200));
    assert_eq!(hdr(&r, "Session-Expires"), Some("90;refresher=uac"));

    // bob's leg is ours to refresh: at 40 + 45 s, a re-INVITE with the SDP bob got (bob did
    // not say it allows UPDATE)
    n.advance(Duration::from_secs(44));
    assert!(n.take(BOB1).is_empty());
    n.advance(Duration::from_secs(1));
    let re = n.request(BOB1, Method::Invite);
    assert_eq!(re.call_id(), b_inv.call_id());
    assert_eq!(&re.body()[..], SDP.as_bytes());
    assert_eq!(hdr(&re, "Session-Expires"), Some("90;refresher=uac"));
    n.deliver_msg(
        reply(&re, 200, "bt", &format!("sip:bob@{BOB1}"), true),
        BOB1,
    );
    let ack = n.request(BOB1, Method::Ack);
    assert_eq!(ack.cseq().unwrap().seq, re.cseq().unwrap().seq);
    assert!(
        n.take(ALICE).is_empty(),
        "our refresh of bob stays on bob's leg"
    );
    assert!(n.cdrs.is_empty());

    // alice's next refresh never comes: at 40 + 60 s (90 - 90/3) both legs get BYE
    n.advance(Duration::from_secs(14));
    assert!(n.take(ALICE).is_empty());
    n.advance(Duration::from_secs(1));
    let _ = n.request(ALICE, Method::Bye);
    let _ = n.request(BOB1, Method::Bye);
    assert_eq!(n.cdrs.len(), 1);
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::SessionTimer);
    assert_eq!(HangupBy::SessionTimer.as_str(), "session-timer");
    assert_eq!(n.cdrs[0].duration_ms(), 100_000);
}

/// The callee is the refresher of its leg (`refresher=uas` in its 2xx) and vanishes; the
/// caller never asked for session timers, so we refresh it ourselves with UPDATE.
#[test]
fn a_vanished_callee_ends_the_call_at_its_session_expiry() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let inv =
        invite("c5", "bob", true).replace("CSeq:", "Allow: INVITE, ACK, BYE, UPDATE\r\nCSeq:");
    n.deliver(&inv, ALICE);
    let b_inv = n.request(BOB1, Method::Invite);
    // no Session-Expires from alice: ours (1800 s) is asked for
    assert_eq!(hdr(&b_inv, "Session-Expires"), Some("1800"));
    let ok_b = reply(&b_inv, 200, "bt", &format!("sip:bob@{BOB1}"), true);
    n.deliver_msg(
        with(
            &ok_b,
            "Session-Expires: 120;refresher=uas\r\nRequire: timer\r\n",
        ),
        BOB1,
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    // alice does not support timers: we refresh her leg, and require nothing of her
    assert_eq!(hdr(&ok, "Session-Expires"), Some("1800;refresher=uas"));
    assert!(!ok.has_option_tag(&HeaderName::Require, "timer"));
    n.deliver_msg(ack_for(&ok, false), ALICE);
    let _ = n.request(BOB1, Method::Ack);
    // bob must refresh within 120 - 32 s; he does not
    n.advance(Duration::from_secs(87));
    assert!(n.cdrs.is_empty());
    n.advance(Duration::from_secs(1));
    let bye_a = n.request(ALICE, Method::Bye);
    let _ = n.request(BOB1, Method::Bye);
    assert_eq!(bye_a.call_id(), Some("c5"));
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::SessionTimer);
    // alice's UPDATE refresh would have come at 900 s: the call is long gone
    n.advance(Duration::from_secs(900));
    assert!(n
        .take(ALICE)
        .iter()
        .all(|m| m.method() != Some(&Method::Update)));
}

/// Refreshing alice's leg with UPDATE (she allows it): her 2xx keeps the call up past the
/// interval; when she stops answering (408 / no answer) the call ends.
#[test]
fn our_update_refreshes_the_caller_and_a_dead_caller_ends_the_call() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    let inv = invite("c6", "bob", true).replace(
        "CSeq:",
        "Allow: INVITE, ACK, BYE, UPDATE\r\nSession-Expires: 100\r\nCSeq:",
    );
    n.deliver(&inv, ALICE);
    let b_inv = n.request(BOB1, Method::Invite);
    let ok_b = reply(&b_inv, 200, "bt", &format!("sip:bob@{BOB1}"), true);
    n.deliver_msg(
        with(
            &ok_b,
            "Session-Expires: 100;refresher=uac\r\nAllow: INVITE, UPDATE\r\n",
        ),
        BOB1,
    );
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    // no Supported: timer from alice: we refresh
    assert_eq!(hdr(&ok, "Session-Expires"), Some("100;refresher=uas"));
    n.deliver_msg(ack_for(&ok, false), ALICE);
    let _ = n.request(BOB1, Method::Ack);
    n.advance(Duration::from_secs(50));
    let ua = n.request(ALICE, Method::Update);
    let ub = n.request(BOB1, Method::Update);
    assert_eq!(ua.call_id(), Some("c6"));
    assert_eq!(hdr(&ua, "Session-Expires"), Some("100;refresher=uac"));
    n.deliver_msg(reply(&ua, 200, "x", "sip:alice@x", false), ALICE);
    n.deliver_msg(reply(&ub, 200, "bt", "sip:bob@x", false), BOB1);
    // past the first interval, the call is up
    n.advance(Duration::from_secs(60));
    assert!(n.cdrs.is_empty());
    // the next refreshes (at 100 s) go unanswered: their transactions time out 64·T1 later
    // (before the legs' expiry at 150 s) and the call ends
    n.take(ALICE);
    n.take(BOB1);
    n.advance(Duration::from_secs(21));
    assert!(n.cdrs.is_empty());
    n.advance(Duration::from_secs(19));
    assert_eq!(n.cdrs.len(), 1, "{:?}", n.summary());
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::SessionTimer);
    assert_eq!(n.cdrs[0].duration_ms(), 132_000);
    let _ = n.request(ALICE, Method::Bye);
}

/// The callee wants a longer interval than we asked for (422 with its `Min-SE`): its INVITE
/// goes again with the next CSeq and `Session-Expires` raised; the caller sees only the
/// answer, and the callee's leg runs on its interval.
#[test]
fn a_callee_422_gets_the_invite_again_with_its_min_se() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("c7", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    assert_eq!(hdr(&i1, "Session-Expires"), Some("1800"));
    let r422 = reply(&i1, 422, "bt1", "sip:x", false);
    n.deliver_msg(with(&r422, "Min-SE: 3600\r\n"), BOB1);
    let all = n.take(BOB1);
    assert!(
        all.iter().any(|m| m.method() == Some(&Method::Ack)),
        "the 422 is ACKed"
    );
    let i2 = all
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("the INVITE again");
    assert_eq!(i2.call_id(), i1.call_id());
    assert_eq!(
        i2.from_header().unwrap().tag(),
        i1.from_header().unwrap().tag()
    );
    assert_eq!(i2.cseq().unwrap().seq, 2);
    assert_ne!(
        i2.top_via().unwrap().branch(),
        i1.top_via().unwrap().branch()
    );
    assert_eq!(hdr(i2, "Session-Expires"), Some("3600"));
    assert_eq!(hdr(i2, "Min-SE"), Some("3600"));
    assert_eq!(&i2.body()[..], SDP.as_bytes());
    assert!(
        n.take(ALICE).iter().all(|m| m.status() == Some(100)),
        "the caller sees nothing of it"
    );
    // a second 422 naming no larger Min-SE is final
    let again = reply(i2, 422, "bt2", "sip:x", false);
    n.deliver_msg(with(&again, "Min-SE: 3600\r\n"), BOB1);
    let st = n.statuses(ALICE);
    assert_eq!(st, [422], "{st:?}");
}
