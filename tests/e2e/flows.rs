//! Issue 13, items 1, 2, 3 and 5, end to end with SIPp and the real binary: a dead flow is a
//! failure at once (INVITE and MESSAGE), a MESSAGE to a silent device gets 202 from its own
//! timer and is delivered once after REGISTER, a decline beats a silent device, third-party
//! registrations are reached at their Contact while NATed and outbound clients are reached on
//! their flow, and relayed URIs carry the domain clients use, never the realm.

use std::time::{Duration, Instant};

use sip_message::Method;
use store::MessageStatus;

use crate::calls::{call, cdrs, device, free_port, register_device, Sipp};
use crate::harness::{Server, Site};
use crate::ua::{wait_messages, Ua};

fn accounts(site: Site) -> Site {
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site.add_account("carol", "singer");
    site.add_account("dave", "diver");
    site
}

/// bob registers over TCP with a SIPp device that then waits on its connection; the device
/// is killed (SIGKILL): its flow is dead, its binding still stored.
fn kill_a_tcp_device(site: &Site, server: &Server) {
    let registered = || {
        site.bindings()
            .iter()
            .any(|r| r.login == "bob" && r.transport == "tcp")
    };
    let mut tries = 0;
    let bob = loop {
        tries += 1;
        let mut bob = Sipp::new(site, "register_then_wait.xml", free_port())
            .args(&["-t", "t1"])
            .rows(&["bob;builder"])
            .target(server.tcp)
            .spawn();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !registered() && !bob.exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if registered() {
            break bob;
        }
        // a SIPp that exited at once could not have its port (taken since free_port chose
        // it): once more on another
        if !(bob.exited() && tries < 3) {
            panic!(
                "bob did not register over TCP (try {tries}); SIPp:\n{}\nserver:\n{}",
                bob.kill_output(),
                server.log_for(1).join("\n")
            );
        }
    };
    drop(bob);
    // the server reads the end of the connection
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn a_killed_tcp_device_gets_the_caller_a_final_answer_within_2_s() {
    let site = accounts(Site::new());
    let server = site.start();
    kill_a_tcp_device(&site, &server);
    let t = Instant::now();
    let (ok, out) = call(&site, &server, "uac_expect_480.xml", "bob");
    let took = t.elapsed();
    assert!(ok, "caller:\n{out}");
    assert!(
        took < Duration::from_secs(2),
        "final answer after {took:?} (the 32 s timer?)"
    );
    // RFC 5626 flow failed: the dead binding is dropped
    site.wait_bindings("the dead binding dropped", |b| {
        !b.iter().any(|r| r.login == "bob")
    });
    assert_eq!(cdrs(&site, 1)[0].final_code, 480);
}

#[test]
fn a_dead_flow_among_live_devices_leaves_the_call_to_the_live_one() {
    let site = accounts(Site::new());
    let server = site.start();
    kill_a_tcp_device(&site, &server);
    let live = device(&site, &server, "bob", "builder", "uas_486.xml");
    let t = Instant::now();
    let (ok, out) = call(&site, &server, "uac_expect_486.xml", "bob");
    assert!(ok, "caller:\n{out}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (ok, out) = live.wait();
    assert!(ok, "live device:\n{out}");
}

#[test]
fn a_message_to_a_dead_flow_gets_202_at_once_and_is_delivered_once_after_register() {
    let site = accounts(Site::new());
    let server = site.start();
    kill_a_tcp_device(&site, &server);
    let t = Instant::now();
    let (ok, out) = Sipp::new(&site, "uac_message_202.xml", free_port())
        .rows(&["alice;wonderland;bob;over a dead flow"])
        .target(server.udp)
        .run();
    assert!(ok, "sender:\n{out}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let rows = wait_messages(&site.db_url, "bob", "stored for later", |m| m.len() == 1);
    assert_eq!(rows[0].status, MessageStatus::Deferred);
    delivered_once_after_register(&site, &server, "over a dead flow", 10);
}

#[test]
fn a_message_to_a_silent_udp_device_gets_202_from_its_timer_and_is_delivered_once_after_register() {
    let site = accounts(Site::new());
    let server = site.start();
    // registered, then gone without a word: a silent UDP device
    register_device(&site, &server, "bob", "builder", free_port());
    let t = Instant::now();
    let (ok, out) = Sipp::new(&site, "uac_message_202.xml", free_port())
        .rows(&["alice;wonderland;bob;to a silent phone"])
        .target(server.udp)
        .run();
    let took = t.elapsed();
    assert!(ok, "sender:\n{out}");
    assert!(took < Duration::from_secs(5), "202 after {took:?}");
    assert!(
        took >= Duration::from_secs(3),
        "202 from the 4 s answer timer, not earlier: {took:?}"
    );
    // stored once the forward has failed (its 32 s transaction timeout), then delivered
    delivered_once_after_register(&site, &server, "to a silent phone", 45);
}

/// bob registers again from a raw UA: the stored message arrives within `secs`, once.
fn delivered_once_after_register(site: &Site, server: &Server, text: &str, secs: u64) {
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(600);
    let m = bob.expect_request("MESSAGE", secs);
    assert!(String::from_utf8_lossy(m.body()).contains(text), "{m:?}");
    bob.answer(&m, 200);
    let again = bob.try_wait(4, |m| m.method() == Some(&Method::Message));
    assert!(again.is_none(), "delivered twice: {again:?}");
    let rows = wait_messages(&site.db_url, "bob", "delivered", |m| {
        m.len() == 1 && m[0].status == MessageStatus::Delivered
    });
    assert_eq!(rows.len(), 1, "stored once");
}

#[test]
fn a_decline_beats_a_device_that_stays_silent() {
    let site = accounts(Site::with_calls("call_timeout = 5\n"));
    let server = site.start();
    register_device(&site, &server, "bob", "builder", free_port());
    let decliner = device(&site, &server, "bob", "builder", "uas_603.xml");
    let t = Instant::now();
    let (ok, out) = call(&site, &server, "uac_expect_603.xml", "bob");
    assert!(ok, "caller (603, not 480):\n{out}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let (ok, out) = decliner.wait();
    assert!(ok, "declining device:\n{out}");
    let cdr = &cdrs(&site, 1)[0];
    assert_eq!(cdr.final_code, 603);
    assert_eq!(cdr.hangup_by, "callee");
}

/// `login` registered by a REGISTER from `from_port` whose Via sent-by is `via` and whose
/// Contact is `contact`.
fn register_contact(site: &Site, server: &Server, row: &str, from_port: u16) {
    let (ok, out) = Sipp::new(site, "register_contact.xml", from_port)
        .rows(&[row])
        .target(server.udp)
        .run();
    assert!(ok, "{row}:\n{out}");
}

#[test]
fn third_party_registration_is_reached_at_its_contact_natted_and_outbound_ones_on_their_flow() {
    let site = accounts(Site::new());
    let server = site.start();

    // bob: a provisioning agent at `agent` registers bob's phone at `phone` (RFC 3261 §10.2)
    let (agent, phone) = (free_port(), free_port());
    register_contact(
        &site,
        &server,
        &format!("bob;builder;127.0.0.1:{agent};sip:bob@127.0.0.1:{phone}"),
        agent,
    );
    let bob = Sipp::new(&site, "uas_answer.xml", phone).spawn();
    let (ok, out) = call(&site, &server, "uac_call.xml", "bob");
    assert!(ok, "call to the third-party registration:\n{out}");
    assert!(bob.wait().0, "bob's phone at its Contact answered");

    // carol: behind NAT (Via and Contact name a private address): reached on the flow
    let natted = free_port();
    register_contact(
        &site,
        &server,
        "carol;singer;10.20.30.40:5060;sip:carol@10.20.30.40:5060",
        natted,
    );
    let carol = Sipp::new(&site, "uas_answer.xml", natted).spawn();
    let (ok, out) = call(&site, &server, "uac_call.xml", "carol");
    assert!(ok, "call to the NATed device:\n{out}");
    assert!(carol.wait().0, "carol answered on her flow");

    // dave: RFC 5626 outbound, a Contact where nobody listens: reached on the flow
    let flow = free_port();
    let (ok, out) = Sipp::new(&site, "register_outbound.xml", flow)
        .rows(&[&format!("dave;diver;127.0.0.1:{}", free_port())])
        .target(server.udp)
        .run();
    assert!(ok, "dave registers:\n{out}");
    let dave = Sipp::new(&site, "uas_answer.xml", flow).spawn();
    let (ok, out) = call(&site, &server, "uac_call.xml", "dave");
    assert!(ok, "call to the outbound client:\n{out}");
    assert!(dave.wait().0, "dave answered on his flow");
}

#[test]
fn always_flow_keeps_sending_to_the_registering_agent() {
    let site = accounts(Site::with_registrar(
        "algorithms = [\"MD5\", \"SHA-256\"]\ncontact_routing = \"always_flow\"\n",
    ));
    let server = site.start();
    let (agent, phone) = (free_port(), free_port());
    register_contact(
        &site,
        &server,
        &format!("bob;builder;127.0.0.1:{agent};sip:bob@127.0.0.1:{phone}"),
        agent,
    );
    // the INVITE goes where the REGISTER came from, not to the Contact
    let at_agent = Sipp::new(&site, "uas_answer.xml", agent).spawn();
    let (ok, out) = call(&site, &server, "uac_call.xml", "bob");
    assert!(ok, "caller:\n{out}");
    assert!(at_agent.wait().0, "answered at the agent's address");
}

#[test]
fn a_relayed_message_names_the_domain_clients_registered_with_not_the_realm() {
    let site = accounts(Site::new());
    let server = site.start();
    // bob registers with To host 127.0.0.1; the realm is ferroswitch.test
    let port = free_port();
    register_device(&site, &server, "bob", "builder", port);
    let bob = Sipp::new(&site, "uas_message_from_domain.xml", port).spawn();
    let (ok, out) = Sipp::new(&site, "uac_message.xml", free_port())
        .rows(&["alice;wonderland;bob;which host"])
        .target(server.udp)
        .run();
    assert!(ok, "sender:\n{out}");
    let (ok, out) = bob.wait();
    assert!(
        ok,
        "bob's device (From/To host 127.0.0.1, not the realm):\n{out}"
    );
}
