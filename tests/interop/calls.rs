//! Calls between the real clients through the B2BUA, media anchored on the relay.

use std::time::{Duration, Instant};

use crate::clients::{addr, linphonerc, server_log, site, tools, Baresip, Linphonec, DOMAIN};
use crate::harness::{block, Site};

/// The CDR rows once `n` are written (5 s at most).
fn cdrs(site: &Site, n: usize) -> Vec<store::CdrRow> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = block(async {
            let s = store::Store::connect(&site.db_url).await.unwrap();
            let r = s.list_cdrs(50).await.unwrap();
            s.close().await;
            r
        });
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn baresip_calls_baresip_through_the_relay_with_dtmf_and_hold() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "bob"]);
    let server = site.start();
    let mut bob = Baresip::start(&site, &server, "bob", "tcp", &[], 60);
    let mut alice = Baresip::start(&site, &server, "alice", "udp", &[], 60);
    site.wait_bindings("both registered", |b| b.len() == 2);
    alice.command("dial", Some(&format!("sip:bob@{DOMAIN}")));
    assert!(
        alice.event("CALL_ESTABLISHED", 15, |_| true).is_some(),
        "alice: {:?}",
        alice.history()
    );
    assert!(bob.event("CALL_ESTABLISHED", 5, |_| true).is_some());
    // RTP through the relay, seen by both phones
    assert!(
        alice.event("CALL_RTPESTAB", 10, |_| true).is_some(),
        "{:?}",
        alice.history()
    );
    assert!(
        bob.event("CALL_RTPESTAB", 10, |_| true).is_some(),
        "{:?}",
        bob.history()
    );

    // DTMF (RFC 4733 events in RTP): bob's phone decodes the digits alice sent
    alice.command("sndcode", Some("1"));
    alice.command("sndcode", Some("#"));
    assert!(
        bob.event("CALL_DTMF_START", 5, |k| k == "1").is_some(),
        "{:?}",
        bob.history()
    );
    assert!(
        bob.event("CALL_DTMF_START", 5, |k| k == "#").is_some(),
        "{:?}",
        bob.history()
    );

    // hold and resume: each is a re-INVITE that reaches bob as a new offer, and alice gets
    // an answer back through the B2BUA
    alice.command("hold", None);
    assert!(
        bob.event("CALL_REMOTE_SDP", 5, |p| p == "offer").is_some(),
        "{:?}",
        bob.history()
    );
    assert!(alice
        .event("CALL_REMOTE_SDP", 5, |p| p == "answer")
        .is_some());
    alice.command("resume", None);
    assert!(
        bob.event("CALL_REMOTE_SDP", 5, |p| p == "offer").is_some(),
        "{:?}",
        bob.history()
    );
    assert!(alice
        .event("CALL_REMOTE_SDP", 5, |p| p == "answer")
        .is_some());

    std::thread::sleep(Duration::from_secs(2));
    alice.command("hangup", None);
    assert!(bob.event("CALL_CLOSED", 10, |_| true).is_some());
    let rows = cdrs(&site, 1);
    assert_eq!(rows.len(), 1);
    let c = &rows[0];
    assert_eq!(
        (c.caller.as_str(), c.callee.as_str(), c.final_code),
        ("alice", "bob", 200)
    );
    // Opus at 20 ms: 50 packets a second each way; the call lasted several seconds
    let (a, b) = (
        c.media_a_packets.unwrap_or(0),
        c.media_b_packets.unwrap_or(0),
    );
    assert!(
        a > 100 && b > 100,
        "relayed packets: from alice {a}, from bob {b}: {c:?}"
    );
}

#[test]
fn baresip_transfers_a_call() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "bob", "carol"]);
    let server = site.start();
    let mut bob = Baresip::start(&site, &server, "bob", "udp", &[], 60);
    let mut carol = Baresip::start(&site, &server, "carol", "udp", &[], 60);
    let mut alice = Baresip::start(&site, &server, "alice", "udp", &[], 60);
    site.wait_bindings("all registered", |b| b.len() == 3);
    alice.command("dial", Some(&format!("sip:bob@{DOMAIN}")));
    assert!(
        bob.event("CALL_ESTABLISHED", 15, |_| true).is_some(),
        "{:?}",
        bob.history()
    );
    // bob transfers alice to carol (blind: REFER to alice through the B2BUA)
    bob.command("transfer", Some(&format!("sip:carol@{DOMAIN}")));
    let c = carol.event("CALL_ESTABLISHED", 15, |_| true);
    assert!(
        c.is_some(),
        "carol never got the transferred call; bob: {:?}; alice: {:?}; carol: {:?}",
        bob.history(),
        alice.history(),
        carol.history()
    );
    let c = c.unwrap();
    assert!(c["peeruri"].as_str().unwrap_or("").contains("alice"), "{c}");
}

#[test]
fn linphonec_calls_baresip() {
    if !tools() {
        return;
    }
    let site = site(&["bob", "carol"]);
    let server = site.start();
    let mut bob = Baresip::start(&site, &server, "bob", "udp", &[], 60);
    let rc = linphonerc(&server, "carol", "udp", &[], None);
    let mut carol = Linphonec::start(site.dir.path(), "carol", &rc, 60);
    site.wait_bindings("both registered", |b| b.len() == 2);
    // linphonec sends requests to the host of the URI: name the server
    carol.say(&format!("call sip:bob@{}", addr(&server, "udp")));
    assert!(
        bob.event("CALL_ESTABLISHED", 15, |_| true).is_some(),
        "bob: {:?}\ncarol: {}",
        bob.history(),
        carol.out.text()
    );
    assert!(
        carol
            .out
            .wait(10, |l| l.contains("connected") || l.contains("Connected")),
        "{}",
        carol.out.text()
    );
    std::thread::sleep(Duration::from_secs(2));
    carol.say("terminate");
    server_log(&server, 10, |l| {
        l.contains("call ended") && l.contains("status=200")
    });
    let rows = cdrs(&site, 1);
    assert_eq!(
        (
            rows[0].caller.as_str(),
            rows[0].callee.as_str(),
            rows[0].final_code
        ),
        ("carol", "bob", 200)
    );
}
