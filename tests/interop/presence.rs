//! Presence between the real clients: each publishes, the other watches; and linphone's
//! RFC 5367 list subscription.

use crate::clients::{addr, linphonerc, server_log, site, tools, Baresip, Linphonec};
use crate::harness::block;

#[test]
fn presence_both_ways_between_baresip_and_linphonec() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "carol"]);
    let server = site.start();
    // alice (baresip) publishes (pubint) and watches carol
    let mut alice = Baresip::start(&site, &server, "alice", "udp", &["carol"], 60);
    site.wait_bindings("alice registered", |b| b.len() == 1);
    // carol (linphonec) publishes (publish=1) and watches alice with a single subscription
    let rc = linphonerc(&server, "carol", "tcp", &["alice"], None);
    let mut carol = Linphonec::start(site.dir.path(), "carol", &rc, 60);
    // linphonec prints `Friend "alice" <sip:alice@...> is Online`
    assert!(
        carol.out.wait(20, |l| l.contains("Friend")
            && l.contains("alice")
            && l.contains("Online")),
        "linphonec:\n{}",
        carol.out.text()
    );
    // baresip prints `<sip:carol@...> changed status from Offline to Online` when its first
    // NOTIFY said Offline; when carol had published before alice's SUBSCRIBE arrived, the
    // first NOTIFY already says Online and baresip prints nothing: its contact list says it
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut listing = String::new();
    let online = loop {
        if alice
            .out
            .wait(1, |l| l.contains("sip:carol@") && l.contains("Online"))
        {
            break true;
        }
        listing = alice.command_output("contacts", None);
        if listing
            .lines()
            .any(|l| l.contains("sip:carol@") && l.contains("Online"))
        {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
    };
    assert!(
        online,
        "alice's phone:\n{}\ncontacts:\n{listing}",
        alice.out.text()
    );
}

#[test]
fn linphones_list_subscription_shows_the_buddies() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "bob", "carol", "eve"]);
    // the operator's buddy list for carol (no hook: the contacts table) has alice and bob
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        s.add_contact("carol", "alice").await.unwrap();
        s.add_contact("carol", "bob").await.unwrap();
        s.close().await;
    });
    let server = site.start();
    // alice is online (her baresip publishes); bob and eve published nothing
    let _alice = Baresip::start(&site, &server, "alice", "udp", &[], 60);
    site.wait_bindings("alice registered", |b| b.len() == 1);
    // carol's linphonec names alice, bob and eve in one SUBSCRIBE to its rls_uri
    let rls = format!("sip:rls@{}", addr(&server, "udp"));
    let rc = linphonerc(
        &server,
        "carol",
        "udp",
        &["alice", "bob", "eve"],
        Some(&rls),
    );
    let mut carol = Linphonec::start(site.dir.path(), "carol", &rc, 40);
    // the list subscription is created (no 420), named 3 and kept the 2 the list allows
    server_log(&server, 15, |l| {
        l.contains("subscription created") && l.contains("resource=rls") && l.contains("list=true")
    });
    server_log(&server, 10, |l| {
        l.contains("URI list: resources not in the buddy list left out")
            && l.contains("named=3")
            && l.contains("kept=2")
    });
    // linphonec answers the list NOTIFY and shows what it carried:
    // `Friend "alice" <sip:alice@...> is Online`, bob offline
    assert!(
        carol.out.wait(15, |l| l.contains("Friend \"alice\"")
            && l.contains("Online")),
        "linphonec:\n{}",
        carol.out.text()
    );
    assert!(
        carol
            .out
            .wait(5, |l| l.contains("Friend \"bob\"") && l.contains("Offline")),
        "linphonec:\n{}",
        carol.out.text()
    );
    // eve is not in carol's buddy list: the server says nothing of her
    assert!(
        !carol.out.text().contains("Friend \"eve\""),
        "linphonec:\n{}",
        carol.out.text()
    );
}
