//! RFC 3262 (PRACK, `100rel`) and RFC 4028 (session timers) end to end: SIPp callers and
//! callees through the real binary's B2BUA, each leg with its own RSeq/RAck and its own
//! session timer; CDRs read back from the database.

use std::time::{Duration, Instant};

use crate::calls::{assert_ok, call, cdrs, device, free_port, Sipp};
use crate::harness::Site;

fn site(sections: &str) -> Site {
    let site = Site::with_sections(sections);
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

/// Both ends do 100rel. Bob's reliable 183 is PRACKed by us; alice gets a reliable 183 of
/// ours (her scenario checks `Require: 100rel` and takes our `RSeq` for her `RAck`) whose SDP
/// is the relay's (anchored call: the m= port is in the relay's range), and her PRACK is
/// answered. The call is answered and hung up as usual.
#[test]
fn prack_end_to_end_with_early_media_through_the_relay() {
    let site = site(
        "[media]\nbind_address = \"127.0.0.1\"\nport_min = 41400\nport_max = 41499\n\
         anchor_onnet = true\n",
    );
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_prack_183.xml");
    assert_ok("caller", call(&site, &server, "uac_prack.xml", "bob"));
    assert_ok("callee", bob.wait());
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!((c.final_code, c.hangup_by.as_str()), (200, "caller"));
    assert!(c.ringing_ms.is_some(), "{c:?}");
    server.stop();
}

/// The callee requires 100rel, the caller does not know it: we PRACK the callee, and the
/// caller gets the 183 unreliably (no `RSeq`), with the early media SDP.
#[test]
fn callee_requires_100rel_caller_does_not() {
    let site = site("");
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_prack_183.xml");
    assert_ok(
        "caller",
        call(&site, &server, "uac_call_early_media.xml", "bob"),
    );
    assert_ok("callee", bob.wait());
    assert_eq!(cdrs(&site, 1)[0].final_code, 200);
    server.stop();
}

/// Session timers with a test floor (`min_se = 2`): the caller refreshes its leg with UPDATE
/// every 2 s (Session-Expires: 6, so the leg expires 4 s after a refresh), we refresh the
/// callee's leg (it said `refresher=uac`) at 3 s: the call outlives its expiry and ends with
/// the caller's BYE after 6 s.
#[test]
fn session_refreshes_keep_the_call_up() {
    let site = site("[calls]\nmin_se = 2\nsession_expires = 4\n");
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_session_refresh.xml");
    assert_ok(
        "caller",
        call(&site, &server, "uac_session_refresh.xml", "bob"),
    );
    assert_ok("callee", bob.wait());
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!(c.hangup_by, "caller", "{c:?}");
    assert!(
        c.duration_ms >= 5_500,
        "the refreshes kept the call up past its 4 s expiry: {c:?}"
    );
    server.stop();
}

/// Both ends vanish after the answer: the caller asked to refresh (Session-Expires: 4) and
/// never does, the callee took the refresher role and never does. At the expiry (4 - 4/3 s
/// after the answer) both legs get BYE and the CDR says `session-timer`.
#[test]
fn missing_refresh_tears_the_call_down_with_bye_to_both_legs() {
    let site = site("[calls]\nmin_se = 2\nsession_expires = 4\n");
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_session_vanish.xml");
    let started = Instant::now();
    assert_ok(
        "caller",
        call(&site, &server, "uac_session_silent.xml", "bob"),
    );
    assert_ok("callee", bob.wait());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "ended by the session timer, not by max_duration"
    );
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!(c.hangup_by, "session-timer", "{c:?}");
    assert!(
        (2_500..6_000).contains(&c.duration_ms),
        "expired about 3 s after the answer: {c:?}"
    );
    server.stop();
}

/// A `Session-Expires` below the default `Min-SE` (90 s, the RFC 4028 floor) gets 422 with
/// `Min-SE: 90` (after the digest challenge).
#[test]
fn too_small_session_expires_gets_422_with_min_se() {
    let site = site("");
    let server = site.start();
    let (ok, out) = Sipp::new(&site, "uac_expect_422.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .run();
    assert!(ok, "caller (expects 422 with Min-SE: 90):\n{out}");
    server.stop();
}
