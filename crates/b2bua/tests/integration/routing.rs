//! Routing: the plan's actions, gateway failover, ring groups, voicemail, rejections.

use std::time::Duration;

use b2bua::dialplan::{Action, Entry};
use b2bua::RingGroupDef;
use sip_message::{HeaderName, Method};

use crate::net::*;

fn plan() -> Vec<Entry> {
    vec![
        Entry::new("", 0, Action::UserLookup),
        Entry::new(
            "00",
            0,
            Action::Gateway {
                gateways: vec!["gw1".into(), "gw2".into()],
                strip: 2,
                prepend: "48".into(),
            },
        ),
        Entry::new("666", 0, Action::Reject { code: 403 }),
        Entry::new(
            "sales",
            0,
            Action::RingGroup {
                group: "sales".into(),
            },
        ),
    ]
}

#[test]
fn unknown_user_404_known_but_offline_480_max_forwards_483() {
    let mut n = Net::new(plan());
    n.dir.accounts.insert("bob".into());
    n.deliver(&invite("r1", "nobody", true), ALICE);
    assert_eq!(n.statuses(ALICE), [100, 404]);
    n.deliver(&invite("r2", "bob", true), ALICE);
    assert_eq!(n.statuses(ALICE), [100, 480]);
    n.deliver(&invite("r3", "6661", true), ALICE);
    assert_eq!(n.statuses(ALICE), [100, 403]);
    n.deliver(
        &invite("r4", "bob", true).replace("Max-Forwards: 70", "Max-Forwards: 0"),
        ALICE,
    );
    assert_eq!(n.statuses(ALICE), [100, 483]);
    let routes: Vec<&str> = n.cdrs.iter().map(|c| c.route.as_str()).collect();
    assert_eq!(routes, ["user-lookup", "user-lookup", "reject"]);
}

#[test]
fn invites_refused_before_routing_say_why() {
    let mut n = Net::new(plan());
    n.dir.gateway("gw1", GW1, None);
    let warning = |m: &sip_message::Message| m.header(&HeaderName::Warning).map(str::to_owned);
    n.deliver(
        &invite("w1", "bob", true).replace("Max-Forwards: 70", "Max-Forwards: 0"),
        ALICE,
    );
    let last = n.take(ALICE).pop().unwrap();
    assert_eq!(last.status(), Some(483));
    assert_eq!(
        warning(&last).as_deref(),
        Some("399 ferroswitch \"Max-Forwards exhausted\"")
    );

    // RFC 4028 §8.1: a Session-Expires below our Min-SE (90 s by default)
    n.deliver(
        &invite("w2", "bob", true).replace("CSeq:", "Session-Expires: 60\r\nCSeq:"),
        ALICE,
    );
    let last = n.take(ALICE).pop().unwrap();
    assert_eq!(last.status(), Some(422));
    assert_eq!(last.header(&HeaderName::Other("Min-SE".into())), Some("90"));
    assert_eq!(warning(&last), None);

    // a call to a gateway that has not answered yet, then a new INVITE (another From tag, so
    // not a merged request) with its Call-ID
    n.deliver(&invite("w3", "0012345", true), ALICE);
    n.request(GW1, Method::Invite);
    n.deliver(
        &invite("w3", "0012345", true)
            .replace("z9hG4bKw3i", "z9hG4bKw3j")
            .replace("tag=atw3", "tag=other"),
        ALICE,
    );
    let last = n.take(ALICE).pop().unwrap();
    assert_eq!(last.status(), Some(482));
    assert_eq!(
        warning(&last).as_deref(),
        Some("399 ferroswitch \"Call-ID in use\"")
    );
}

#[test]
fn gateway_failover_on_503_strip_prepend_and_caller_id() {
    let mut n = Net::new(plan());
    n.dir.gateway("gw1", GW1, None);
    n.dir.gateway("gw2", GW2, Some("48555000111"));
    n.deliver(&invite("g1", "0012345", true), ALICE);
    let i1 = n.request(GW1, Method::Invite);
    assert_eq!(i1.request_uri_str(), Some(&*format!("sip:4812345@{GW1}")));
    let from = i1.from_header().unwrap();
    assert_eq!(from.uri.user, Some("alice"));
    assert_eq!(from.display, None, "gateways get no display name");
    n.deliver_msg(reply(&i1, 503, "g1t", "sip:x", false), GW1);
    let i2 = n.request(GW2, Method::Invite);
    assert_eq!(i2.request_uri_str(), Some(&*format!("sip:4812345@{GW2}")));
    assert_eq!(i2.from_header().unwrap().uri.user, Some("48555000111"));
    assert!(
        n.statuses(ALICE).iter().all(|&s| s < 300),
        "the caller does not see the failed gateway"
    );
    n.deliver_msg(
        reply(&i2, 200, "g2t", &format!("sip:4812345@{GW2}"), true),
        GW2,
    );
    assert!(n.statuses(ALICE).contains(&200));
    let cdr_pending = n.cdrs.is_empty();
    assert!(cdr_pending, "CDR only when the call ends");
}

#[test]
fn gateway_that_never_answers_fails_over_before_the_call_timeout() {
    let mut n = Net::new(plan());
    n.dir.gateway("gw1", GW1, None);
    n.dir.gateway("gw2", GW2, None);
    n.deliver(&invite("g2", "0099", true), ALICE);
    let _ = n.request(GW1, Method::Invite);
    n.advance(Duration::from_secs(6));
    let _ = n.take(GW1); // retransmissions
    let i2 = n.request(GW2, Method::Invite);
    n.deliver_msg(reply(&i2, 486, "t", "sip:x", false), GW2);
    let finals: Vec<u16> = n
        .statuses(ALICE)
        .into_iter()
        .filter(|&s| s >= 200)
        .collect();
    assert_eq!(finals, [486]);
    assert_eq!(n.cdrs[0].gateway.as_deref(), Some("gw2"));
    assert_eq!(n.cdrs[0].routed, "4899");
}

#[test]
fn all_gateways_failing_gives_the_last_failure() {
    let mut n = Net::new(plan());
    n.dir.gateway("gw1", GW1, None);
    n.dir.gateway("gw2", GW2, None);
    n.deliver(&invite("g3", "0011", true), ALICE);
    let i1 = n.request(GW1, Method::Invite);
    n.deliver_msg(reply(&i1, 500, "t", "sip:x", false), GW1);
    let i2 = n.request(GW2, Method::Invite);
    n.deliver_msg(reply(&i2, 503, "t", "sip:x", false), GW2);
    let finals: Vec<u16> = n
        .statuses(ALICE)
        .into_iter()
        .filter(|&s| s >= 200)
        .collect();
    assert_eq!(finals, [500]);
}

#[test]
fn ring_group_sequential_adds_a_member_per_step_and_skips_the_caller() {
    let mut n = Net::new(plan());
    n.dir.register("alice", "198.51.100.1:5070"); // the caller's other device
    n.dir.register("carol", CAROL);
    n.dir.register("dave", DAVE);
    n.dir.groups.insert(
        "sales".into(),
        RingGroupDef {
            members: vec!["alice".into(), "carol".into(), "dave".into()],
            step_delay: Duration::from_secs(5),
            max_steps: 0,
        },
    );
    n.deliver(&invite("rg1", "sales", true), ALICE);
    let ic = n.request(CAROL, Method::Invite);
    assert!(n.take(DAVE).is_empty(), "dave waits for the next step");
    assert!(
        n.take("198.51.100.1:5070").is_empty(),
        "the caller is not rung in his own group"
    );
    n.deliver_msg(reply(&ic, 180, "ct", "sip:x", false), CAROL);
    n.advance(Duration::from_secs(5));
    let id = n.request(DAVE, Method::Invite);
    n.deliver_msg(
        reply(&id, 200, "dt", &format!("sip:dave@{DAVE}"), true),
        DAVE,
    );
    let c = n.request(CAROL, Method::Cancel);
    assert_eq!(c.call_id(), ic.call_id());
    assert!(n.statuses(ALICE).contains(&200));
}

#[test]
fn ring_group_simultaneous_and_max_steps() {
    let mut n = Net::new(plan());
    n.dir.register("carol", CAROL);
    n.dir.register("dave", DAVE);
    n.dir.register("bob", BOB1);
    n.dir.groups.insert(
        "sales".into(),
        RingGroupDef {
            members: vec!["carol".into(), "dave".into(), "bob".into()],
            step_delay: Duration::ZERO,
            max_steps: 2,
        },
    );
    n.deliver(&invite("rg2", "sales", true), ALICE);
    let _ = n.request(CAROL, Method::Invite);
    let _ = n.request(DAVE, Method::Invite);
    assert!(n.take(BOB1).is_empty(), "max_steps = 2");
    assert_eq!(n.calls.len(), 1);
}

#[test]
fn busy_goes_to_the_callees_voicemail() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir
        .voicemail
        .insert("bob".into(), format!("sip:onnet950@{VM}"));
    n.deliver(&invite("v1", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    n.deliver_msg(reply(&i1, 486, "bt", "sip:x", false), BOB1);
    let vm = n.request(VM, Method::Invite);
    // RFC 4458: why the call reached voicemail (busy)
    assert_eq!(
        vm.request_uri_str(),
        Some(&*format!("sip:onnet950@{VM};cause=486"))
    );
    assert!(n.statuses(ALICE).iter().all(|&s| s < 300));
    n.deliver_msg(reply(&vm, 200, "vt", &format!("sip:vm@{VM}"), true), VM);
    assert!(n.statuses(ALICE).contains(&200));
}

#[test]
fn a_declined_call_reaches_voicemail_with_the_busy_cause_and_its_target() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.dir.voicemail.insert(
        "bob".into(),
        format!("sip:vm@{VM};target=sip:bob%40example.com"),
    );
    n.deliver(&invite("d1", "bob", true), ALICE);
    let i1 = n.request(BOB1, Method::Invite);
    n.deliver_msg(reply(&i1, 603, "bt", "sip:x", false), BOB1);
    let vm = n.request(VM, Method::Invite);
    assert_eq!(
        vm.request_uri_str(),
        Some(&*format!(
            "sip:vm@{VM};target=sip:bob%40example.com;cause=486"
        ))
    );
}

#[test]
fn the_msg_suffix_of_950msg_n_reaches_the_voicemail_server() {
    let mut entries = plan();
    entries.push(Entry::new(
        "950",
        0,
        Action::Service {
            uri: format!("sip:950@{VM}"),
            voicemail: true,
        },
    ));
    let mut n = Net::new(entries);
    n.deliver(&invite("m1", "950msg230", true), ALICE);
    let vm = n.request(VM, Method::Invite);
    assert_eq!(vm.request_uri_str(), Some(&*format!("sip:950msg230@{VM}")));
    n.deliver(&invite("m2", "950", true), ALICE);
    let vm = n.request(VM, Method::Invite);
    assert_eq!(vm.request_uri_str(), Some(&*format!("sip:950@{VM}")));
}
