//! MESSAGE between the real clients: live both ways, and stored for an offline phone.

use crate::clients::{addr, linphonerc, server_log, site, tools, Baresip, Linphonec};

#[test]
fn linphonec_and_baresip_message_each_other() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "carol"]);
    let server = site.start();
    // alice's current contact (what `/message` writes to) is carol
    let mut alice = Baresip::start(&site, &server, "alice", "udp", &["carol"], 60);
    let rc = linphonerc(&server, "carol", "udp", &[], None);
    let mut carol = Linphonec::start(site.dir.path(), "carol", &rc, 60);
    site.wait_bindings("both registered", |b| b.len() == 2);

    carol.say(&format!(
        "chat sip:alice@{} hello from linphonec",
        addr(&server, "udp")
    ));
    assert!(
        alice.out.wait(10, |l| l.contains("hello from linphonec")),
        "alice's phone:\n{}",
        alice.out.text()
    );

    alice.command("message", Some("hello from baresip"));
    assert!(
        carol.out.wait(10, |l| l.contains("hello from baresip")),
        "linphonec:\n{}",
        carol.out.text()
    );
}

#[test]
fn a_message_to_an_offline_baresip_is_delivered_when_it_registers() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "carol"]);
    let server = site.start();
    let rc = linphonerc(&server, "carol", "udp", &[], None);
    let mut carol = Linphonec::start(site.dir.path(), "carol", &rc, 60);
    site.wait_bindings("carol registered", |b| b.len() == 1);
    carol.say(&format!(
        "chat sip:alice@{} while you were away",
        addr(&server, "udp")
    ));
    server_log(&server, 10, |l| l.contains("MESSAGE stored for delivery"));
    let mut alice = Baresip::start(&site, &server, "alice", "udp", &[], 40);
    assert!(
        alice.out.wait(15, |l| l.contains("while you were away")),
        "alice's phone:\n{}",
        alice.out.text()
    );
}
