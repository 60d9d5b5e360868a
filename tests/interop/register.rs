//! Registration of both clients over each transport: one binding per phone, with the
//! transport it used (the registrar records the flow).

use crate::clients::{linphonerc, site, tools, Baresip, Linphonec};

const TRANSPORTS: [&str; 3] = ["udp", "tcp", "tls"];

#[test]
fn baresip_registers_over_udp_tcp_and_tls() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "bob", "carol"]);
    let server = site.start();
    let _phones: Vec<Baresip> = ["alice", "bob", "carol"]
        .iter()
        .zip(TRANSPORTS)
        .map(|(login, t)| Baresip::start(&site, &server, login, t, &[], 30))
        .collect();
    let b = site.wait_bindings("three baresip bindings", |b| b.len() == 3);
    for (login, t) in ["alice", "bob", "carol"].iter().zip(TRANSPORTS) {
        let row = b.iter().find(|r| r.login == *login).unwrap();
        assert_eq!(row.transport, t, "{login}: {row:?}");
    }
}

#[test]
fn linphonec_registers_over_udp_tcp_and_tls() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "bob", "carol"]);
    let server = site.start();
    let _phones: Vec<Linphonec> = ["alice", "bob", "carol"]
        .iter()
        .zip(TRANSPORTS)
        .map(|(login, t)| {
            let rc = linphonerc(&server, login, t, &[], None);
            Linphonec::start(site.dir.path(), login, &rc, 40)
        })
        .collect();
    let b = site.wait_bindings("three linphonec bindings", |b| b.len() == 3);
    for (login, t) in ["alice", "bob", "carol"].iter().zip(TRANSPORTS) {
        let row = b.iter().find(|r| r.login == *login).unwrap();
        assert_eq!(row.transport, t, "{login}: {row:?}");
    }
}
