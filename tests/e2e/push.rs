//! Push wake-up end to end: a token from an RFC 8599 REGISTER, a call to the sleeping login,
//! the operator's push hook (a real HTTP server) gets `incoming_call`, the woken app picks the
//! call up with INVITE/Replaces built from the payload, both ends get 200, BYE ends it, the CDR
//! says how long the wake-up took; a call nobody picks up in time is a `missed_call`.

use std::time::Duration;

use crate::calls::{assert_ok, cdrs, free_port, register_device, Sipp};
use crate::harness::Site;
use crate::ua::{FakeApi, Ua, REALM};

const INSTANCE: &str = "<urn:uuid:00000000-0000-1000-8000-00000000f00d>";
/// A minimal audio offer (PCMU on port 4000).
pub(crate) const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn site(api: &FakeApi) -> Site {
    let site = Site::with_sections(&format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n[calls]\ncall_timeout = 5\n[push_service]\nipaddr = \"127.0.0.1\"\nport = {}\nservice = \"emc.ashx\"\npush_timeout = 6\n",
        api.addr.port()
    ));
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

/// bob's app hands its token over with RFC 8599 Contact parameters, then its binding goes
/// (the app sleeps): only the token is left.
pub(crate) fn sleeping_bob(server: std::net::SocketAddr) -> Ua {
    let mut bob = Ua::new(server, "bob", "builder");
    let r = bob.request(
        "REGISTER",
        &format!("sip:{REALM}"),
        &format!("sip:bob@{REALM}"),
        &format!(
            "Expires: 0\r\nContact: <sip:bob@{};pn-provider=fcm;pn-prid=fcm-token-1>;+sip.instance=\"{INSTANCE}\"\r\n",
            bob.local
        ),
        None,
        None,
    );
    assert_eq!(r.status(), Some(200), "{r:?}");
    bob
}

/// `GET /metrics` until it contains `line` (5 s at most); the whole text.
fn wait_metric(server: &crate::harness::Server, line: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let a = crate::push_tokens::http(
            crate::push_tokens::admin(server),
            "GET",
            "/metrics",
            None,
            "",
        );
        assert_eq!(a.status, 200, "{a:?}");
        if a.body.contains(line) || std::time::Instant::now() > deadline {
            assert!(a.body.contains(line), "{line} not in {}", a.body);
            return a.body;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// alice's INVITE (with an SDP offer) to bob; the final answer.
fn invite_bob(alice: &mut Ua) -> sip_message::Message {
    alice.request(
        "INVITE",
        &format!("sip:bob@{REALM}"),
        &format!("sip:bob@{REALM}"),
        "",
        Some(("application/sdp", SDP.as_bytes())),
        None,
    )
}

/// alice calls bob from a thread of her own; joined, it gives her UA and the final answer.
fn alice_calls_bob(
    server: std::net::SocketAddr,
) -> std::thread::JoinHandle<(Ua, sip_message::Message)> {
    std::thread::spawn(move || {
        let mut alice = Ua::new(server, "alice", "wonderland");
        let ok = invite_bob(&mut alice);
        (alice, ok)
    })
}

/// The woken app's pick-up: an INVITE to alice with `Replaces: {replaces}` from the push (in
/// `call` = (Call-ID, From tag, CSeq, To tag) when the test sets them); its final response.
fn pick_up(
    bob: &mut Ua,
    replaces: &str,
    call: Option<(&str, &str, u32, Option<&str>)>,
) -> sip_message::Message {
    let to = format!("sip:alice@{REALM}");
    bob.request(
        "INVITE",
        &to,
        &to,
        &format!("Replaces: {replaces}\r\n"),
        Some(("application/sdp", SDP.as_bytes())),
        call,
    )
}

pub(crate) fn json_field(body: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON push body");
    v[key].as_str().unwrap_or_default().to_owned()
}

#[test]
fn sleeping_phone_is_pushed_and_picks_the_call_up_with_replaces() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start();
    let mut bob = sleeping_bob(server.udp);

    let caller = alice_calls_bob(server.udp);
    let push = api.wait_for("/emc.ashx", 10).expect("incoming_call posted");
    assert_eq!(
        json_field(&push.body, "event"),
        "incoming_call",
        "{}",
        push.body
    );
    assert!(
        push.body.contains("\"token\":\"fcm-token-1\""),
        "{}",
        push.body
    );
    assert!(push.body.contains(INSTANCE), "{}", push.body);
    let replaces = json_field(&push.body, "replaces");
    assert!(replaces.contains(";to-tag="), "{replaces}");
    let parked = wait_metric(&server, "ferroswitch_parked_calls 1");
    assert!(
        parked.contains("ferroswitch_push_total{event=\"incoming_call\",result=\"ok\"} 1"),
        "{parked}"
    );
    // the hook call itself: counted and timed
    assert!(
        parked.contains("ferroswitch_hook_requests_total{hook=\"push\",result=\"ok\"} 1"),
        "{parked}"
    );
    assert!(
        parked.contains("ferroswitch_hook_duration_seconds_count{hook=\"push\"} 1"),
        "{parked}"
    );

    // the woken app answers from its call screen
    let ok = pick_up(&mut bob, &replaces, None);
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let (mut alice, a_ok) = caller.join().unwrap();
    assert_eq!(a_ok.status(), Some(200), "{a_ok:?}");

    // alice hangs up
    let cid = a_ok.call_id().unwrap().to_owned();
    let from_tag = a_ok.from_header().unwrap().tag().unwrap().to_owned();
    let to_tag = a_ok.to_header().unwrap().tag().unwrap().to_owned();
    let contact = match a_ok.contacts() {
        Ok(Some(sip_message::ContactList::Contacts(c))) => c[0].0.uri.as_str().to_owned(),
        _ => panic!("no Contact"),
    };
    let bye = alice.request(
        "BYE",
        &contact,
        &format!("sip:bob@{REALM}"),
        "",
        None,
        Some((&cid, &from_tag, 5, Some(&to_tag))),
    );
    assert_eq!(bye.status(), Some(200));
    let _ = bob.expect_request("BYE", 5);
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "{rows:?}");
    assert!(rows[0].wakeup_ms.is_some(), "{rows:?}");
    let m = wait_metric(&server, "ferroswitch_parked_calls 0");
    assert!(m.contains("ferroswitch_push_wakeup_seconds_count 1"), "{m}");
    server.stop();
}

/// With two core shards the woken app's INVITE/Replaces goes to the parked call's shard, while
/// its own Call-ID may name the other: its CANCEL (which carries only that Call-ID) must reach
/// the INVITE's transaction all the same, and get what one shard answers (200: the pick-up was
/// answered, so the CANCEL changes nothing), not 481.
#[test]
fn with_two_shards_the_cancel_of_a_pick_up_reaches_its_invite() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start_with(&["--shards", "2"]);
    let mut bob = sleeping_bob(server.udp);
    let caller = alice_calls_bob(server.udp);
    let push = api.wait_for("/emc.ashx", 10).expect("incoming_call posted");
    let replaces = json_field(&push.body, "replaces");
    let parked = replaces.split(';').next().unwrap().to_owned();
    // the pick-up's own Call-ID names the shard the parked call is not on
    let own = (0..)
        .map(|i| format!("pickup{i}@phone"))
        .find(|c| sip_message::shard::index(c, 2) != sip_message::shard::index(&parked, 2))
        .unwrap();
    let ok = pick_up(&mut bob, &replaces, Some((&own, "pickup-tag", 1, None)));
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let (_alice, a_ok) = caller.join().unwrap();
    assert_eq!(a_ok.status(), Some(200), "{a_ok:?}");
    // the CANCEL of that INVITE: its Via (the branch) and CSeq number, no To tag
    let to = format!("sip:alice@{REALM}");
    let via = ok.header(&sip_message::HeaderName::Via).unwrap().to_owned();
    let seq = ok.cseq().unwrap().seq;
    let cancel = format!(
        "CANCEL {to} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:bob@{REALM}>;tag=pickup-tag\r\n\
         To: <{to}>\r\nCall-ID: {own}\r\nCSeq: {seq} CANCEL\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    bob.sock.send_to(cancel.as_bytes(), server.udp).unwrap();
    let answer = bob.wait(5, |m| {
        m.call_id() == Some(own.as_str())
            && m.cseq()
                .is_ok_and(|c| c.method == sip_message::Method::Cancel)
    });
    assert_eq!(
        answer.status(),
        Some(200),
        "the CANCEL reached its INVITE's transaction: {answer:?}\n{:#?}",
        server.log_for(0)
    );
    server.stop();
}

/// With two shards merged on one task, the caller's INVITE stays on the shard whose socket it
/// landed on though its Call-ID names the other (`ferroswitch_shard_kept_invites_total`): the
/// parked call lives there, and the woken app's INVITE/Replaces finds it, since the parked
/// dialog's Call-ID in the push (the `Replaces` key) is one that shard made. The
/// Request-URI's `;shard=0` puts alice's INVITE on shard 0's socket.
#[test]
fn with_two_merged_shards_a_call_kept_where_it_landed_is_picked_up() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start_with(&["--shards", "2", "--shard-merge", "always"]);
    let mut bob = sleeping_bob(server.udp);
    let call_id = (0..)
        .map(|i| format!("kept-park-{i}@phone"))
        .find(|c| sip_message::shard::index(c, 2) == 1)
        .unwrap();
    let (udp, cid) = (server.udp, call_id.clone());
    let caller = std::thread::spawn(move || {
        let mut alice = Ua::new(udp, "alice", "wonderland");
        let uri = format!("sip:bob@127.0.0.1:{};shard=0", udp.port());
        let sdp = Some(("application/sdp", SDP.as_bytes()));
        let ok = alice.request("INVITE", &uri, &uri, "", sdp, Some((&cid, "kept", 1, None)));
        (alice, ok)
    });
    let push = api.wait_for("/emc.ashx", 10).expect("incoming_call posted");
    let replaces = json_field(&push.body, "replaces");
    let parked = replaces.split(';').next().unwrap();
    assert_eq!(sip_message::shard::index(parked, 2), 0, "{replaces}");
    let m = crate::metrics::scrape(&server);
    let kept = crate::metrics::get(&m, "ferroswitch_shard_kept_invites_total", &[]);
    assert_eq!(kept, 1.0, "alice's INVITE kept where it landed");
    let ok = pick_up(&mut bob, &replaces, None);
    assert_eq!(
        ok.status(),
        Some(200),
        "the pick-up found the parked call: {ok:?}"
    );
    let (_alice, a_ok) = caller.join().unwrap();
    assert_eq!(a_ok.status(), Some(200), "{a_ok:?}");
    server.stop();
}

#[test]
fn nobody_picks_up_in_time_missed_call_timeout_then_480() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start();
    let _bob = sleeping_bob(server.udp);
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    // the push timeout (6 s here) ends the parked call: missed_call, then 480
    let r = invite_bob(&mut alice);
    assert_eq!(r.status(), Some(480), "{r:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let missed = loop {
        if let Some(m) = api
            .requests()
            .into_iter()
            .find(|r| r.body.contains("missed_call"))
        {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no missed_call");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        missed.body.contains("\"reason\":\"timeout\""),
        "{}",
        missed.body
    );
    server.stop();
}

/// A token the app sets through the HTTP API reaches the running server at once; one the
/// operator adds with the CLI within the refresh period (10 s): both devices are pushed.
#[test]
fn tokens_from_the_api_and_the_cli_are_used_by_the_running_server() {
    use crate::push_tokens::{admin, basic, http};
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = Site::with_sections(&format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n[calls]\ncall_timeout = 5\n[push_service]\nipaddr = \"127.0.0.1\"\nport = {}\nservice = \"emc.ashx\"\npush_timeout = 5\n",
        api.addr.port()
    ));
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let body =
        format!(r#"{{"instance":"{INSTANCE}","token":"api-token-7","platform":"apns-voip"}}"#);
    let answer = http(
        admin(&server),
        "POST",
        "/api/push-tokens",
        Some(&basic("bob", "builder")),
        &body,
    );
    assert_eq!(answer.status, 204, "{answer:?}");
    // at once (the 204 comes after the database write; the dispatcher takes the token a
    // moment later, through the push driver's channel): the next call pushes it
    std::thread::sleep(Duration::from_millis(300));
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let call = |alice: &mut Ua| {
        let r = invite_bob(alice);
        assert_eq!(r.status(), Some(480), "nobody picked up: {r:?}");
    };
    call(&mut alice);
    let push = api.wait_for("/emc.ashx", 5).expect("incoming_call posted");
    assert_eq!(json_field(&push.body, "event"), "incoming_call");
    assert!(
        push.body.contains("\"token\":\"api-token-7\""),
        "{}",
        push.body
    );
    assert!(
        push.body.contains("\"platform\":\"apns-voip\""),
        "{}",
        push.body
    );

    // the CLI writes the database only: the server reads it within its refresh period
    let (ok, _, err) = site.cli(&[
        "push",
        "add",
        "bob",
        "<urn:uuid:22222222-0000-1000-8000-000000000002>",
        "cli-token-9",
    ]);
    assert!(ok, "{err}");
    std::thread::sleep(TOKEN_REFRESH_WAIT);
    call(&mut alice);
    let incoming: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.body.contains("incoming_call"))
        .collect();
    assert_eq!(incoming.len(), 2, "{incoming:?}");
    assert!(
        incoming[1].body.contains("\"token\":\"cli-token-9\""),
        "{}",
        incoming[1].body
    );
    assert!(
        incoming[1].body.contains("\"token\":\"api-token-7\""),
        "{}",
        incoming[1].body
    );
    server.stop();
}

/// Longer than the server's token refresh period (10 s).
pub(crate) const TOKEN_REFRESH_WAIT: Duration = Duration::from_millis(10_500);

// ----- with SIPp as the caller and as the phones ----------------------------------------

/// The instance of [`INSTANCE`] as `register_instance.xml` takes it (inside `<urn:uuid:…>`).
pub(crate) const INSTANCE_UUID: &str = "00000000-0000-1000-8000-00000000f00d";

/// Alice's SIPp caller `scenario` to `callee`, running.
fn sipp_caller(
    site: &Site,
    server: &crate::harness::Server,
    scenario: &str,
) -> crate::calls::Running {
    Sipp::new(site, scenario, free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .spawn()
}

pub(crate) fn wait_event(api: &FakeApi, event: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(r) = api
            .requests()
            .into_iter()
            .find(|r| r.body.contains(&format!("\"event\":\"{event}\"")))
        {
            return r.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {event} in {:?}",
            api.requests()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (b) The woken phone (SIPp) re-REGISTERs with its `+sip.instance`: the parked call is
/// forked to it and it answers; the CDR has the wake-up time.
#[test]
fn woken_phone_registers_again_and_answers_the_forked_invite() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start();
    let _bob = sleeping_bob(server.udp);
    let caller = sipp_caller(&site, &server, "uac_call.xml");
    wait_event(&api, "incoming_call");
    let port = free_port();
    let (ok, out) = Sipp::new(&site, "register_instance.xml", port)
        .rows(&[&format!("bob;builder;{INSTANCE_UUID}")])
        .target(server.udp)
        .run();
    assert!(ok, "{out}");
    // the INVITE went out at the REGISTER; SIPp takes its retransmission
    let phone = Sipp::new(&site, "uas_answer.xml", port).spawn();
    assert_ok("caller", caller.wait());
    assert_ok("woken phone", phone.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "{rows:?}");
    assert!(rows[0].wakeup_ms.is_some(), "{rows:?}");
    server.stop();
}

/// (c) The caller (SIPp) hears ringing and hangs up before the phone wakes:
/// `missed_call` with reason `cancelled`.
#[test]
fn caller_cancels_the_parked_call_missed_call_cancelled() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start();
    let _bob = sleeping_bob(server.udp);
    assert_ok(
        "caller",
        sipp_caller(&site, &server, "uac_cancel.xml").wait(),
    );
    let missed = wait_event(&api, "missed_call");
    assert!(missed.contains("\"reason\":\"cancelled\""), "{missed}");
    assert!(missed.contains(INSTANCE), "{missed}");
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 487, "{rows:?}");
    server.stop();
}

/// (d) Nobody picks up within the push timeout and bob has voicemail: `missed_call`
/// (timeout), then the call goes to the voicemail server (SIPp), which answers; the
/// Request-URI names bob's mailbox and the reason (RFC 4458 `target`, `cause=408`).
#[test]
fn push_timeout_sends_the_call_to_voicemail() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let vm_port = free_port();
    let (ok, _, err) = site.cli(&[
        "account",
        "set",
        "bob",
        "--voicemail",
        &format!("sip:vm@127.0.0.1:{vm_port}"),
    ]);
    assert!(ok, "{err}");
    let server = site.start();
    let _bob = sleeping_bob(server.udp);
    let vm = Sipp::new(&site, "uas_voicemail_target.xml", vm_port).spawn();
    assert_ok("caller", sipp_caller(&site, &server, "uac_call.xml").wait());
    assert_ok("voicemail", vm.wait());
    let missed = wait_event(&api, "missed_call");
    assert!(missed.contains("\"reason\":\"timeout\""), "{missed}");
    server.stop();
}

/// (e) Two devices: the registered one (SIPp) rings at once, the sleeping one is pushed; the
/// registered one answers: `call_ended` (answered elsewhere) for the sleeping one.
#[test]
fn registered_device_answers_the_pushed_one_gets_call_ended() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start();
    let _bob = sleeping_bob(server.udp);
    let port = free_port();
    register_device(&site, &server, "bob", "builder", port);
    let desk = Sipp::new(&site, "uas_answer.xml", port).spawn();
    assert_ok("caller", sipp_caller(&site, &server, "uac_call.xml").wait());
    assert_ok("desk phone", desk.wait());
    let incoming = wait_event(&api, "incoming_call");
    assert!(incoming.contains(INSTANCE), "{incoming}");
    let ended = wait_event(&api, "call_ended");
    assert!(
        ended.contains("\"reason\":\"answered_elsewhere\""),
        "{ended}"
    );
    assert!(ended.contains(INSTANCE), "{ended}");
    server.stop();
}

/// (a) with SIPp on both ends: the woken phone's INVITE/Replaces is built from the push
/// payload's `call_id`, `to_tag` and `from_tag`; both ends get 200; the caller's BYE reaches
/// the phone.
#[test]
fn sipp_phone_picks_up_with_replaces_from_the_payload() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site(&api);
    let server = site.start();
    let _bob = sleeping_bob(server.udp);
    let caller = sipp_caller(&site, &server, "uac_call.xml");
    let push = wait_event(&api, "incoming_call");
    let row = format!(
        "bob;builder;{};{};{};alice",
        json_field(&push, "call_id"),
        json_field(&push, "to_tag"),
        json_field(&push, "from_tag")
    );
    let phone = Sipp::new(&site, "uac_replaces.xml", free_port())
        .rows(&[&row])
        .target(server.udp)
        .spawn();
    assert_ok("caller", caller.wait());
    assert_ok("woken phone", phone.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "{rows:?}");
    assert_eq!(rows[0].hangup_by, "caller", "{rows:?}");
    assert!(rows[0].wakeup_ms.is_some(), "{rows:?}");
    server.stop();
}

/// Hook trouble: the push API answers 503 (after the hook's retries) — the call does not hang
/// until the push timeout, the answering rule applies at once (480); the failure is logged at
/// WARN without the hook's password.
#[test]
fn a_failing_push_hook_gives_480_at_once_and_logs_without_credentials() {
    let api = FakeApi::start(|_, _| (503, "{}".into()));
    let site = Site::with_sections(&format!(
        "[push_service]\nipaddr = \"127.0.0.1\"\nport = {}\nservice = \"emc.ashx\"\nusername = \"op\"\npassword = \"s3cr3t-hook-pw\"\n",
        api.addr.port()
    ));
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let _bob = sleeping_bob(server.udp);
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let t0 = std::time::Instant::now();
    let r = invite_bob(&mut alice);
    assert_eq!(r.status(), Some(480), "{r:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "not the 30 s push timeout: {:?}",
        t0.elapsed()
    );
    assert!(api.requests().len() >= 2, "the hook was retried");
    let line = server
        .wait_log(5, |l| l.contains("WARN") && l.contains("emc.ashx"))
        .unwrap_or_else(|seen| panic!("no WARN about the hook in {seen:?}"));
    assert!(!line.contains("s3cr3t-hook-pw"), "{line}");
    let rest = server.wait_log(1, |_| false).unwrap_err();
    assert!(
        rest.iter().all(|l| !l.contains("s3cr3t-hook-pw")),
        "{rest:?}"
    );
    server.stop();
}

/// (f) A real softphone as the woken app: bob's baresip has run once (its `+sip.instance`
/// is kept in its config directory) and quit; that instance has a push token (set through
/// the HTTP API).
/// Alice (SIPp) calls: the hook is pushed; bob's baresip starts again, registers, gets the
/// parked call by late forking and auto-answers.
#[test]
fn baresip_woken_by_push_gets_the_call() {
    crate::harness::require_tool("baresip");
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    // baresip (libre) answers MD5 challenges only
    let site = Site::with_registrar_and_sections(
        "algorithms = [\"MD5\"]\n",
        &format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[push_service]\nipaddr = \"127.0.0.1\"\nport = {}\nservice = \"emc.ashx\"\n",
            api.addr.port()
        ),
    );
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let cfg = crate::calls::baresip_dir(&site, &server, "bob", "builder");
    // RFC 5626 outbound: baresip then sends its +sip.instance, the UUID its uuid module
    // keeps in the config directory (the same on every start, as on a phone)
    let config = std::fs::read_to_string(cfg.join("config")).unwrap();
    std::fs::write(
        cfg.join("config"),
        config.replace("module account.so", "module uuid.so\nmodule account.so"),
    )
    .unwrap();
    let accounts = std::fs::read_to_string(cfg.join("accounts")).unwrap();
    std::fs::write(
        cfg.join("accounts"),
        accounts.replace(";regint=600", ";regint=600;sipnat=outbound"),
    )
    .unwrap();
    let run = |secs: &str| {
        std::process::Command::new("baresip")
            .arg("-f")
            .arg(&cfg)
            .args(["-t", secs])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("baresip")
    };
    // first run: learn the instance it registers with; it unregisters when it quits
    let mut first = run("3");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let b = loop {
        let b = site.bindings();
        if b.iter().any(|b| b.login == "bob" && b.instance.is_some()) {
            break b;
        }
        if std::time::Instant::now() > deadline {
            let _ = first.kill();
            let out = first.wait_with_output().unwrap();
            panic!(
                "no binding with an instance: {b:?}\nbaresip: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let instance = b
        .iter()
        .find_map(|b| b.instance.clone())
        .expect("baresip sends +sip.instance");
    let _ = first.wait_with_output();
    site.wait_bindings("bob's binding gone", |b| b.is_empty());
    // the app hands its token over (the same instance) through the HTTP API
    let body = format!(r#"{{"instance":"{instance}","token":"baresip-token","platform":"fcm"}}"#);
    let answer = crate::push_tokens::http(
        crate::push_tokens::admin(&server),
        "POST",
        "/api/push-tokens",
        Some(&crate::push_tokens::basic("bob", "builder")),
        &body,
    );
    assert_eq!(answer.status, 204, "{answer:?}");

    // alice calls from her own baresip (Opus, like bob's; SIPp offers only PCMU)
    let alice_cfg = crate::calls::baresip_dir(&site, &server, "alice", "wonderland");
    let mut alice = std::process::Command::new("baresip")
        .arg("-f")
        .arg(&alice_cfg)
        .args(["-t", "10", "-e", "/dial sip:bob@127.0.0.1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("baresip");
    let push = wait_event(&api, "incoming_call");
    assert!(push.contains("baresip-token"), "{push}");
    let mut woken = run("15");
    // the call is answered, then alice's baresip hangs up when its -t runs out
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut rows = Vec::new();
    while rows.is_empty() && std::time::Instant::now() < deadline {
        rows = cdrs(&site, 1);
    }
    let _ = alice.kill();
    let _ = alice.wait();
    let _ = woken.kill();
    let out = woken
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    assert_eq!(rows[0].final_code, 200, "{rows:?}\nbaresip: {out:?}");
    assert!(rows[0].wakeup_ms.is_some(), "{rows:?}");
    server.stop();
}
