//! Answering rules end to end (docs/voicemail.md): set with `ferroswitch rules`, picked up by
//! the running server's account cache, applied by the B2BUA to SIPp calls: a caller prefix
//! rejected with 603/486, a forward to another user (at once and on busy), ring N seconds
//! then forward or voicemail, and `*` always to the voicemail URI.

use std::time::{Duration, Instant};

use crate::calls::{assert_ok, cdrs, cli_ok, device, free_port, Sipp};
use crate::harness::{Server, Site};

fn site() -> Site {
    let site = Site::new();
    for (login, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "singer"),
    ] {
        site.add_account(login, password);
    }
    site
}

/// `login` (with its password) calls `callee` with the caller scenario `name`.
fn call_as(
    site: &Site,
    server: &Server,
    name: &str,
    (login, password): (&str, &str),
    callee: &str,
) -> (bool, String) {
    Sipp::new(site, name, free_port())
        .rows(&[&format!("{login};{password};{callee}")])
        .target(server.udp)
        .run()
}

const ALICE: (&str, &str) = ("alice", "wonderland");
const CAROL: (&str, &str) = ("carol", "singer");

#[test]
fn the_cli_lists_adds_moves_and_removes_rules() {
    let site = site();
    let (ok, out, _) = site.cli(&["rules", "list", "bob"]);
    assert!(ok && out.contains("the default"), "{out}");
    cli_ok(&site, &["rules", "add", "bob", "*", "busy", "voicemail"]);
    cli_ok(
        &site,
        &["rules", "add", "bob", "0048", "always", "forward:carol"],
    );
    cli_ok(
        &site,
        &[
            "rules",
            "add",
            "bob",
            "666",
            "always",
            "reject:603",
            "--at",
            "1",
        ],
    );
    let (_, out, _) = site.cli(&["rules", "list", "bob"]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "1  666 always reject:603",
            "2  * busy voicemail",
            "3  0048 always forward:carol"
        ],
        "{out}"
    );
    cli_ok(&site, &["rules", "move", "bob", "3", "--to", "1"]);
    cli_ok(&site, &["rules", "del", "bob", "2"]);
    let (_, out, _) = site.cli(&["rules", "list", "bob"]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        ["1  0048 always forward:carol", "2  * busy voicemail"],
        "{out}"
    );
    // bad input: a clear error, nothing stored
    for (args, says) in [
        (
            vec!["rules", "add", "bob", "*", "sometimes", "voicemail"],
            "always, busy",
        ),
        (
            vec!["rules", "add", "bob", "*", "busy", "reject:200"],
            "reject:CODE",
        ),
        (
            vec!["rules", "add", "nobody", "*", "busy", "voicemail"],
            "no such account",
        ),
        (vec!["rules", "del", "bob", "7"], "has 2 rule(s)"),
    ] {
        let (ok, out, err) = site.cli(&args);
        assert!(!ok && err.contains(says), "{args:?}: {out}{err}");
    }
    cli_ok(&site, &["rules", "clear", "bob"]);
    let (_, out, _) = site.cli(&["rules", "list", "bob"]);
    assert!(out.contains("the default"), "{out}");
}

/// Rules added while the server runs apply within the account sync's second: alice's prefix
/// gets 603, carol's 486; nobody else's call is touched.
#[test]
fn a_rule_rejects_a_caller_prefix_with_603_or_486() {
    let site = site();
    let server = site.start();
    cli_ok(
        &site,
        &["rules", "add", "bob", "ali", "always", "reject:603"],
    );
    cli_ok(
        &site,
        &["rules", "add", "bob", "car", "always", "reject:486"],
    );
    std::thread::sleep(Duration::from_millis(1500)); // the account sync's poll
    let bob = device(&site, &server, "bob", "builder", "uas_answer.xml");
    assert_ok(
        "alice (603)",
        call_as(&site, &server, "uac_expect_603.xml", ALICE, "bob"),
    );
    assert_ok(
        "carol (486)",
        call_as(&site, &server, "uac_expect_486.xml", CAROL, "bob"),
    );
    // a caller no rule names rings bob as before
    cli_ok(&site, &["rules", "clear", "bob"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_ok(
        "alice",
        call_as(&site, &server, "uac_call.xml", ALICE, "bob"),
    );
    assert_ok("bob", bob.wait());
    let rows = cdrs(&site, 3);
    let codes: Vec<u16> = rows.iter().map(|c| c.final_code).collect();
    assert_eq!(codes, [200, 486, 603], "{rows:?}");
    server.stop();
}

#[test]
fn an_always_forward_rule_reaches_another_user() {
    let site = site();
    cli_ok(
        &site,
        &["rules", "add", "bob", "*", "always", "forward:carol"],
    );
    let server = site.start();
    let carol = device(&site, &server, "carol", "singer", "uas_answer.xml");
    assert_ok(
        "alice",
        call_as(&site, &server, "uac_call.xml", ALICE, "bob"),
    );
    assert_ok("carol", carol.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "{rows:?}");
    assert_eq!(rows[0].route, "forward", "{rows:?}");
    assert_eq!(rows[0].callee, "carol", "{rows:?}");
    server.stop();
}

#[test]
fn a_busy_rule_forwards_to_another_user() {
    let site = site();
    cli_ok(
        &site,
        &["rules", "add", "bob", "*", "busy", "forward:carol"],
    );
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_486.xml");
    let carol = device(&site, &server, "carol", "singer", "uas_answer.xml");
    assert_ok(
        "alice",
        call_as(&site, &server, "uac_call.xml", ALICE, "bob"),
    );
    assert_ok("bob (busy)", bob.wait());
    assert_ok("carol", carol.wait());
    server.stop();
}

/// `always ring:2` then `no-answer forward:carol`: bob's phone rings 2 s (not the 30 s call
/// timeout), is cancelled, carol answers.
#[test]
fn ring_two_seconds_then_forward() {
    let site = site();
    cli_ok(&site, &["rules", "add", "bob", "*", "always", "ring:2"]);
    cli_ok(
        &site,
        &["rules", "add", "bob", "*", "no-answer", "forward:carol"],
    );
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_ring_cancelled.xml");
    let carol = device(&site, &server, "carol", "singer", "uas_answer.xml");
    let t = Instant::now();
    assert_ok(
        "alice",
        call_as(&site, &server, "uac_call.xml", ALICE, "bob"),
    );
    let took = t.elapsed();
    assert_ok("bob (cancelled after 2 s)", bob.wait());
    assert_ok("carol", carol.wait());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "rang {took:?}"
    );
    server.stop();
}

/// `always ring:2` then `no-answer voicemail`: after 2 s the voicemail server gets the call
/// with the mailbox and cause 408 (RFC 4458).
#[test]
fn ring_two_seconds_then_voicemail() {
    let site = site();
    let vm_port = free_port();
    let vm_uri = format!("sip:vm@127.0.0.1:{vm_port}");
    cli_ok(&site, &["account", "set", "bob", "--voicemail", &vm_uri]);
    cli_ok(&site, &["rules", "add", "bob", "*", "always", "ring:2"]);
    cli_ok(
        &site,
        &["rules", "add", "bob", "*", "no-answer", "voicemail"],
    );
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_ring_cancelled.xml");
    let vm = Sipp::new(&site, "uas_voicemail_target.xml", vm_port).spawn();
    let t = Instant::now();
    assert_ok(
        "alice",
        call_as(&site, &server, "uac_call.xml", ALICE, "bob"),
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_ok("bob (cancelled)", bob.wait());
    assert_ok("voicemail", vm.wait());
    server.stop();
}

/// `* always voicemail`: bob's registered phone is not rung; the voicemail server gets the
/// call with bob's mailbox and cause 302 (unconditional).
#[test]
fn star_always_voicemail_skips_the_phone() {
    let site = site();
    let vm_port = free_port();
    let vm_uri = format!("sip:vm@127.0.0.1:{vm_port}");
    cli_ok(&site, &["account", "set", "bob", "--voicemail", &vm_uri]);
    cli_ok(&site, &["rules", "add", "bob", "*", "always", "voicemail"]);
    let server = site.start();
    // a registered phone that fails its SIPp run if it gets any INVITE
    crate::calls::register_device(&site, &server, "bob", "builder", free_port());
    let vm = Sipp::new(&site, "uas_voicemail_always.xml", vm_port).spawn();
    assert_ok(
        "alice",
        call_as(&site, &server, "uac_call.xml", ALICE, "bob"),
    );
    assert_ok("voicemail", vm.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "{rows:?}");
    server.stop();
}
