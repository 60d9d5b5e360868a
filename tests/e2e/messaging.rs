//! MESSAGE end to end: online delivery to a SIPp device, offline storage with a push event
//! and delivery on REGISTER (once, in order, across a restart), OFFNET to the SMS hook, all
//! through the real binary with a real HTTP server as the operator API.

use std::time::Duration;

use store::MessageStatus;

use crate::calls::{cli_ok, free_port, register_device, Sipp};
use crate::harness::Site;
use crate::ua::{wait_messages, FakeApi, Ua};

fn site(sections: &str) -> Site {
    let site = Site::with_sections(sections);
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

fn hook_section(name: &str, api: &FakeApi, service: &str) -> String {
    format!(
        "[{name}]\nipaddr = \"127.0.0.1\"\nport = {}\nservice = \"{service}\"\n",
        api.addr.port()
    )
}

#[test]
fn online_message_reaches_the_registered_device() {
    let site = site("");
    let server = site.start();
    let port = free_port();
    register_device(&site, &server, "bob", "builder", port);
    let bob = Sipp::new(&site, "uas_message.xml", port).spawn();
    let (ok, out) = Sipp::new(&site, "uac_message.xml", free_port())
        .rows(&["alice;wonderland;bob;hello bob"])
        .args(&["-trace_msg"])
        .target(server.udp)
        .run();
    assert!(ok, "sender:\n{out}");
    let (ok, out) = bob.wait();
    assert!(ok, "bob's device:\n{out}");
    let rows = wait_messages(&site.db_url, "bob", "a delivered copy", |m| m.len() == 1);
    assert_eq!(rows[0].status, MessageStatus::Delivered);
    assert_eq!(rows[0].sender, "alice");
    assert!(String::from_utf8_lossy(&rows[0].body).contains("hello bob"));
}

#[test]
fn online_message_with_raw_agents_gets_200_and_keeps_the_body() {
    let site = site("");
    let server = site.start();
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(600);
    // coming online, bob's stored messages are looked up first (none): a MESSAGE meanwhile
    // would queue behind them (202 and delivered a moment later)
    std::thread::sleep(Duration::from_millis(500));
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let sock_thread = std::thread::spawn(move || {
        let m = bob.expect_request("MESSAGE", 10);
        bob.answer(&m, 200);
        m
    });
    let r = alice.message("bob", "héllo, bob");
    assert_eq!(r.status(), Some(200), "{r:?}");
    let m = sock_thread.join().unwrap();
    assert_eq!(&m.body()[..], "héllo, bob".as_bytes());
    assert_eq!(m.content_type(), Some("text/plain;charset=utf-8"));
    assert_eq!(m.from_user().as_deref(), Some("alice"));
    assert_ne!(m.call_id(), r.call_id(), "a dialog of our own");
}

#[test]
fn unknown_login_gets_404_and_no_credentials_407() {
    let site = site("");
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    assert_eq!(alice.message("nobody", "x").status(), Some(404));
    let mut mallory = Ua::new(server.udp, "alice", "wrong");
    let r = mallory.message("bob", "x");
    assert_eq!(r.status(), Some(403), "{r:?}");
}

#[test]
fn offline_message_is_stored_pushed_and_delivered_once_in_order_on_register() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&hook_section("push_service", &api, "emc.ashx"));
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let long = "Are you coming to the meeting at 10? Please bring the slides.";
    assert_eq!(alice.message("bob", "first").status(), Some(202));
    assert_eq!(alice.message("bob", long).status(), Some(202));
    let rows = wait_messages(&site.db_url, "bob", "two deferred", |m| m.len() == 2);
    assert!(rows.iter().all(|m| m.status == MessageStatus::Deferred));

    // the push hook got a `message` event with a 40-character excerpt
    let push = {
        let mut found = None;
        for _ in 0..100 {
            found = api
                .requests()
                .into_iter()
                .find(|r| r.body.contains("Are you coming"));
            if found.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        found.expect("a push event for the long message")
    };
    assert_eq!(push.path, "/emc.ashx");
    assert!(push.body.contains("\"event\":\"message\""), "{}", push.body);
    assert!(push.body.contains("\"recipient\":\"bob\""), "{}", push.body);
    assert!(
        push.body
            .contains("\"excerpt\":\"Are you coming to the meeting at 10? Ple\""),
        "{}",
        push.body
    );
    assert!(push.body.contains("\"truncated\":true"), "{}", push.body);

    // bob registers: both arrive, in order, one at a time
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(600);
    let m1 = bob.expect_request("MESSAGE", 10);
    assert_eq!(&m1.body()[..], b"first");
    let first_id = m1.call_id().unwrap().to_owned();
    assert!(
        bob.try_wait(1, |m| m.method().is_some_and(|x| x.as_str() == "MESSAGE")
            && m.call_id() != Some(&first_id))
            .is_none(),
        "the second waits for the first's answer (retransmissions of the first aside)"
    );
    bob.answer(&m1, 200);
    let m2 = bob.wait(10, |m| {
        m.method().is_some_and(|x| x.as_str() == "MESSAGE") && m.call_id() != Some(&first_id)
    });
    assert_eq!(&m2.body()[..], long.as_bytes());
    bob.answer(&m2, 200);
    let rows = wait_messages(&site.db_url, "bob", "both delivered", |m| {
        m.iter().all(|m| m.status == MessageStatus::Delivered)
    });
    assert_eq!(rows.len(), 2);

    // exactly once: a refresh REGISTER delivers nothing again
    bob.register(600);
    let second_id = m2.call_id().unwrap().to_owned();
    assert!(
        bob.try_wait(2, |m| m.method().is_some_and(|x| x.as_str() == "MESSAGE")
            && m.call_id() != Some(&first_id)
            && m.call_id() != Some(&second_id))
            .is_none(),
        "delivered messages are not sent again"
    );
}

#[test]
fn a_failed_delivery_stays_deferred_and_goes_out_at_the_next_register() {
    let site = site("");
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    assert_eq!(alice.message("bob", "retry me").status(), Some(202));
    wait_messages(&site.db_url, "bob", "deferred", |m| m.len() == 1);
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(600);
    let m = bob.expect_request("MESSAGE", 10);
    bob.answer(&m, 486);
    let rows = wait_messages(&site.db_url, "bob", "one attempt counted", |m| {
        m[0].attempts == 1
    });
    assert_eq!(rows[0].status, MessageStatus::Deferred);
    bob.register(600);
    let m = bob.expect_request("MESSAGE", 10);
    assert_eq!(&m.body()[..], b"retry me");
    bob.answer(&m, 200);
    wait_messages(&site.db_url, "bob", "delivered at last", |m| {
        m[0].status == MessageStatus::Delivered
    });
}

#[test]
fn a_message_stored_before_a_restart_is_delivered_after_it() {
    let site = site("");
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    assert_eq!(
        alice.message("bob", "survives restarts").status(),
        Some(202)
    );
    wait_messages(&site.db_url, "bob", "stored", |m| m.len() == 1);
    server.stop();
    let server = site.start();
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(600);
    let m = bob.expect_request("MESSAGE", 10);
    assert_eq!(&m.body()[..], b"survives restarts");
    bob.answer(&m, 200);
    wait_messages(&site.db_url, "bob", "delivered", |m| {
        m[0].status == MessageStatus::Delivered
    });
}

#[test]
fn a_binding_restored_after_a_restart_still_gets_the_stored_message_at_its_refresh() {
    let site = site("");
    let server = site.start();
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(600);
    site.wait_bindings("bob's binding", |b| b.len() == 1);
    server.stop();
    // stored straight in the database while the server is down (another node, or a
    // MESSAGE accepted just before the stop)
    crate::harness::block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        s.store_message(
            &store::NewMessage {
                sender: "alice".into(),
                recipient: "bob".into(),
                content_type: "text/plain".into(),
                body: b"while you were out".to_vec(),
                call_id: "restart-1@test".into(),
                cseq: 1,
                created_ms: 1,
            },
            MessageStatus::Deferred,
        )
        .await
        .unwrap();
        s.close().await;
    });
    let server = site.start();
    // bob's binding came back with the restart: his refresh (same socket, same Contact) is
    // not "coming online", yet the stored message goes out (each login is asked about once
    // after a start)
    bob.retarget(server.udp);
    bob.register(600);
    let m = bob.expect_request("MESSAGE", 10);
    assert_eq!(&m.body()[..], b"while you were out");
    bob.answer(&m, 200);
}

#[test]
fn offnet_message_goes_to_the_sms_hook() {
    let api = FakeApi::start(|_, body| {
        if body.contains("\"to\":\"4820") {
            (500, "{}".into())
        } else {
            (200, "{}".into())
        }
    });
    let site = site(&hook_section(
        "sms_service",
        &api,
        "VSServices/sms_send.ashx",
    ));
    cli_ok(&site, &["gateway", "add", "gsm", "127.0.0.1:9"]);
    cli_ok(&site, &["route", "add", "00", "gateway:gsm strip=2"]);
    cli_ok(&site, &["route", "add", "", "user-lookup"]);
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let r = alice.message("00447700900123", "hello mobile");
    assert_eq!(r.status(), Some(202), "{r:?}");
    let req = api
        .wait_for("/VSServices/sms_send.ashx", 1)
        .expect("the SMS hook was called");
    assert!(req.body.contains("\"from\":\"alice\""), "{}", req.body);
    assert!(req.body.contains("\"to\":\"447700900123\""), "{}", req.body);
    assert!(
        req.body.contains("\"body\":\"hello mobile\""),
        "{}",
        req.body
    );
    assert!(req.body.contains("\"timestamp\":"), "{}", req.body);
    let rows = wait_messages(&site.db_url, "447700900123", "sent offnet", |m| {
        m.len() == 1
    });
    assert_eq!(rows[0].status, MessageStatus::SentOffnet);

    // the hook refuses (5xx after its retries): 503 to the sender, status failed
    let r = alice.message("004820", "no luck");
    assert_eq!(r.status(), Some(503), "{r:?}");
    let rows = wait_messages(&site.db_url, "4820", "failed", |m| m.len() == 1);
    assert_eq!(rows[0].status, MessageStatus::Failed);
}

/// A real client: bob's baresip registers after alice left him a message, gets it (delivered
/// on REGISTER), then gets a second one live; its menu module prints each.
#[test]
fn baresip_receives_stored_and_live_messages() {
    crate::harness::require_tool("baresip");
    // baresip (libre) answers MD5 challenges only
    let site = Site::with_registrar("algorithms = [\"MD5\"]\n");
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    assert_eq!(
        alice.message("bob", "left while you were away").status(),
        Some(202)
    );
    wait_messages(&site.db_url, "bob", "stored", |m| m.len() == 1);

    let cfg = crate::presence::baresip_dir(&site, server.udp, "bob", "builder", &[]);
    let mut phone = crate::presence::baresip_in_a_pty(&cfg, 30);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = phone.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_line = |secs: u64, needle: &str| -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while let Ok(l) =
            rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            let hit = l.contains(needle);
            seen.push(l);
            if hit {
                return true;
            }
        }
        false
    };
    // menu prints `sip:alice@ferroswitch.test: "text"`
    let stored = wait_line(15, "left while you were away");
    let rows = wait_messages(&site.db_url, "bob", "delivered to baresip", |m| {
        m[0].status == MessageStatus::Delivered
    });
    assert_eq!(rows.len(), 1);
    let r = alice.message("bob", "and this one live");
    let live = wait_line(10, "and this one live");
    if let Some(mut stdin) = phone.stdin.take() {
        use std::io::Write as _;
        let _ = stdin.write_all(b"q");
    }
    let _ = phone.wait();
    assert!(stored && live, "baresip printed:\n{}", seen.join("\n"));
    assert_eq!(r.status(), Some(200), "{r:?}");
}
