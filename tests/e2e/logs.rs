//! Logs for people: at INFO an operator sees the service work — one line per REGISTER that
//! changes a binding, per call set up and ended, per MESSAGE stored or delivered — and the
//! start lines say what an empty dialing plan and the buddy-list source mean.

use crate::harness::Site;
use crate::ua::{Ua, REALM};

#[test]
fn info_lines_tell_an_operator_what_happens() {
    let site = Site::new();
    for (login, pw) in [("alice", "a1"), ("bob", "b1"), ("carol", "c1")] {
        site.add_account(login, pw);
    }
    let server = site.start();
    let start = server.startup_log.join("\n");
    assert!(
        start.contains("routing loaded: no dialing plan, every number dialed is a login"),
        "{start}"
    );
    assert!(
        start.contains(
            "buddy lists come from the database's contacts table (no web_service hook configured)"
        ),
        "{start}"
    );
    let mut bob = Ua::new(server.udp, "bob", "b1");
    bob.register(300);
    let line = server
        .wait_log(5, |l| l.contains("registered") && l.contains("login=bob"))
        .unwrap_or_else(|seen| panic!("no REGISTER line:\n{}", seen.join("\n")));
    assert!(
        line.contains("INFO")
            && line.contains("transport=\"udp\"")
            && line.contains(&format!("source={}", bob.local))
            && line.contains("expires=300"),
        "{line}"
    );

    let mut alice = Ua::new(server.udp, "alice", "a1");
    let r = alice.message("carol", "are you there?");
    assert_eq!(r.status(), Some(202), "{r:?}");
    let line = server
        .wait_log(5, |l| {
            l.contains("MESSAGE stored for delivery when the recipient registers")
        })
        .unwrap_or_else(|seen| panic!("no MESSAGE line:\n{}", seen.join("\n")));
    assert!(
        line.contains("sender=alice") && line.contains("recipient=carol"),
        "{line}"
    );

    let caller = std::thread::spawn(move || {
        let uri = format!("sip:bob@{REALM}");
        alice
            .request("INVITE", &uri, &uri.clone(), "", None, None)
            .status()
    });
    let invite = bob.expect_request("INVITE", 10);
    bob.answer(&invite, 486);
    assert_eq!(caller.join().unwrap(), Some(486));
    let setup = server
        .wait_log(5, |l| l.contains("call setup"))
        .unwrap_or_else(|seen| panic!("no call setup line:\n{}", seen.join("\n")));
    assert!(
        setup.contains("caller=alice") && setup.contains("dialed=\"bob\""),
        "{setup}"
    );
    let ended = server
        .wait_log(5, |l| l.contains("call ended"))
        .unwrap_or_else(|seen| panic!("no call ended line:\n{}", seen.join("\n")));
    assert!(
        ended.contains("caller=alice")
            && ended.contains("callee=bob")
            && ended.contains("status=486"),
        "{ended}"
    );
    server.stop();
}
