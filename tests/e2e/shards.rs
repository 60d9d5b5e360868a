//! Core shards (docs/architecture.md "Core shards"): with `--shards 2` the server reads two
//! `SO_REUSEPORT` sockets on its UDP port, each driving its own dispatcher, and calls between
//! phones on random source ports (so that the kernel spreads them over both sockets, and the
//! messages of one call land on both) still connect, end and write their CDRs.

use crate::calls::{assert_ok, call, cdrs, device};
use crate::harness::Site;
use crate::push::SDP;
use crate::ua::{Ua, REALM};
use sip_message::Method;

/// How many UDP sockets process `pid` holds on `port`.
fn udp_sockets_on(pid: u32, port: u16) -> usize {
    crate::harness::udp_sockets_of(pid)
        .into_iter()
        .filter(|p| *p == port)
        .count()
}

/// A server of two shards (metrics on the admin API) and a UDP socket to talk to it. The site
/// must live as long as the server.
fn two_shards_and_a_socket() -> (Site, crate::harness::Server, std::net::UdpSocket) {
    let site = Site::with_sections("[admin]\nlisten = \"127.0.0.1:0\"\n");
    let server = site.start_with(&["--shards", "2"]);
    server.assert_shards(2);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    (site, server, sock)
}

/// Sends `request` from `sock` to the server's UDP port and reads the answer.
fn exchange(sock: &std::net::UdpSocket, server: &crate::harness::Server, request: &str) -> String {
    sock.send_to(request.as_bytes(), server.udp).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no answer to {request}: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Requests handed over between the shards so far: (after their parse, unparsed).
fn request_handoffs(server: &crate::harness::Server) -> (f64, f64) {
    let m = crate::metrics::scrape(server);
    let handed = |parsed| {
        crate::metrics::get(
            &m,
            "ferroswitch_shard_handoffs_total",
            &[("parsed", parsed), ("message", "request")],
        )
    };
    (handed("yes"), handed("no"))
}

/// Hand-offs of requests and of responses after `CALLS` calls between phones on ports of their
/// own, through a server of two shards, with the kernel's steering program or without.
const CALLS: usize = 12;

/// Hand-offs counted by `ferroswitch_shard_handoffs_total` after the calls.
struct Handed {
    /// Requests handed over unparsed (the raw scan's).
    requests: f64,
    /// Requests handed over after their parse.
    parsed_requests: f64,
    /// Responses handed over (unparsed).
    responses: f64,
    /// INVITEs kept on the shard they landed on (merged: `ferroswitch_shard_kept_invites_total`).
    kept: f64,
}

fn calls_through_two_shards(steering: bool) -> Handed {
    calls_through_shards(2, steering, "auto")
}

/// As [`calls_through_two_shards`], with `shards` shards driven as `--shard-merge` says.
fn calls_through_shards(shards: usize, steering: bool, merge: &str) -> Handed {
    // the admin API for the metrics
    let site = Site::with_sections("[admin]\nlisten = \"127.0.0.1:0\"\n");
    if !steering {
        let cfg = std::fs::read_to_string(site.config()).unwrap();
        let cfg = cfg.replacen("node_id = ", "udp_steering = false\nnode_id = ", 1);
        std::fs::write(site.config(), cfg).unwrap();
    }
    site.add_account("alice", "wonderland");
    for i in 0..CALLS {
        site.add_account(&format!("bob{i}"), "builder");
    }
    let count = shards.to_string();
    let server = site.start_with(&["--shards", &count, "--shard-merge", merge]);
    server.assert_shards(shards);
    assert_eq!(
        udp_sockets_on(server.pid(), server.udp.port()),
        shards,
        "one SO_REUSEPORT socket per shard"
    );
    // each callee registers from a port of its own, then answers; each caller too: the
    // 4-tuples differ, so the kernel spreads them over both shards' sockets
    for i in 0..CALLS {
        let callee = format!("bob{i}");
        let bob = device(&site, &server, &callee, "builder", "uas_answer.xml");
        assert_ok("caller", call(&site, &server, "uac_call.xml", &callee));
        assert_ok("callee", bob.wait());
    }
    // the datagrams that landed on the other shard's socket went to their owner (or, without
    // credentials, were challenged there)
    let m = crate::metrics::scrape(&server);
    let handed = |parsed, message| {
        crate::metrics::get(
            &m,
            "ferroswitch_shard_handoffs_total",
            &[("parsed", parsed), ("message", message)],
        )
    };
    assert_eq!(
        handed("yes", "response"),
        0.0,
        "responses are read by the raw scan"
    );
    // a dozen calls fit one core: `auto` keeps the shards on one task
    assert!(
        m.contains_key(&("ferroswitch_shards_merged".to_owned(), Vec::new())),
        "the merge gauge is exported"
    );
    assert_eq!(
        crate::metrics::get(&m, "ferroswitch_shards_merged", &[]),
        if merge == "never" { 0.0 } else { 1.0 },
        "--shard-merge {merge}"
    );
    let rows = cdrs(&site, CALLS);
    assert_eq!(rows.len(), CALLS, "{rows:?}");
    assert!(
        rows.iter()
            .all(|c| c.final_code == 200 && c.hangup_by == "caller"),
        "{rows:?}"
    );
    server.stop();
    Handed {
        requests: handed("no", "request"),
        parsed_requests: handed("yes", "request"),
        responses: handed("no", "response"),
        kept: crate::metrics::get(&m, "ferroswitch_shard_kept_invites_total", &[]),
    }
}

/// The callee's answers carry our Via branch, so the kernel gives them to the socket of the
/// shard that owns the call (docs/architecture.md "Core shards", kernel steering): none is
/// handed over. The callers' authenticated INVITEs are keyed by their Call-IDs, which the
/// kernel cannot read, so some land on the other shard (each call's with odds of one half: all
/// twelve on their owner by chance, 1 in 4,096); so do some of the callees' authenticated
/// REGISTERs. A dozen calls fit one core, so the shards are merged on one task (`auto`): such
/// an INVITE stays where it landed, its call lives there, and a REGISTER is parsed where it
/// landed and handed over parsed: no raw scan first. The first INVITE and REGISTER, without
/// credentials, are challenged where they land, and the ACK of a 407 stays there too.
#[test]
fn two_shards_share_the_port_and_connect_every_call() {
    let handed = calls_through_two_shards(true);
    assert!(
        handed.kept > 0.0,
        "merged: no INVITE kept on the shard it landed on"
    );
    assert!(
        handed.parsed_requests > 0.0,
        "merged: no REGISTER with credentials handed over after its parse"
    );
    assert_eq!(
        handed.requests, 0.0,
        "merged: a request handed over by the raw scan"
    );
    assert_eq!(
        handed.responses, 0.0,
        "responses handed over despite the steering"
    );
}

/// At this rate the shards stay merged on one task (`shard_drive.rs`); with `--shard-merge
/// never` each has a task of its own from the start, as under load: every call connects the
/// same, the answers still steered. Split, a request with credentials that landed on the other
/// shard goes there unparsed (the raw scan reads its key), so that the parse is its owner's
/// work, on its owner's core.
#[test]
fn shards_on_tasks_of_their_own_connect_every_call() {
    let handed = calls_through_shards(2, true, "never");
    assert!(
        handed.requests > 0.0,
        "split: no request with credentials handed over unparsed"
    );
    assert_eq!(
        handed.parsed_requests, 0.0,
        "split: a request handed over after its parse"
    );
    assert_eq!(handed.kept, 0.0, "split: an INVITE kept where it landed");
    assert_eq!(
        handed.responses, 0.0,
        "responses handed over despite the steering"
    );
}

/// Any number of shards, not only two: with three the steering program reads a branch's or a
/// Contact's shard modulo 3 and returns one of three sockets, and every token a shard makes
/// names it modulo 3. Every call connects and no answer is handed over, merged on one task and
/// on a task each.
#[test]
fn three_shards_connect_every_call() {
    for merge in ["auto", "never"] {
        let handed = calls_through_shards(3, true, merge);
        assert_eq!(
            handed.responses, 0.0,
            "--shard-merge {merge}: responses handed over despite the steering"
        );
    }
}

/// Without the steering program (`udp_steering = false`) the kernel hashes the callee's
/// 4-tuple, and the answers of the calls whose owner is the other shard are handed over (none
/// of twelve by chance: 1 in 4,096).
#[test]
fn without_udp_steering_answers_are_handed_over() {
    let handed = calls_through_two_shards(false);
    assert!(
        handed.responses > 0.0,
        "no response handed over without the steering"
    );
}

#[test]
fn one_shard_when_asked() {
    let site = Site::new();
    let server = site.start_with(&["--shards", "1"]);
    assert_eq!(udp_sockets_on(server.pid(), server.udp.port()), 1);
    assert!(!server.startup_log.iter().any(|l| l.contains("SIP core in")));
    server.stop();
}

/// A second server on the first one's UDP port fails to start, with shards as without: its
/// `SO_REUSEPORT` sockets must not join the first server's group (same user, same port) and
/// take half of its datagrams.
#[test]
fn a_second_server_on_a_sharded_port_is_refused() {
    let first = Site::new();
    let server = first.start_with(&["--shards", "2"]);
    let second = Site::new();
    let port = server.udp.port().to_string();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .arg("-c")
        .arg(second.config())
        .args(["run", "--shards", "2", "--sip", &port, "--admin", "off"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ferroswitch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second server started on udp port {port} beside the first");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(udp_sockets_on(server.pid(), server.udp.port()), 2);
    server.stop();
}

/// A request whose Request-URI names one shard (`;shard=N`, which the kernel steers by) while
/// its To tag names the other is answered all the same: the shard the kernel gives it takes it
/// as steered to it and parses it at once (no raw scan first), then the check after the parse
/// hands it, parsed, to the owner its To tag names. Without the steered fast path the raw scan
/// would have handed it over unparsed.
#[test]
fn a_request_steered_to_the_wrong_shard_reaches_its_owner() {
    let (_site, server, sock) = two_shards_and_a_socket();
    let me = sock.local_addr().unwrap();
    let port = server.udp.port();
    for (steered, owner) in [(0, 1), (1, 0)] {
        // our tokens' shape: the last 8 hex digits, modulo 2, name the shard
        let tag = format!("{owner:016x}");
        let call_id = format!("wrong-shard-{steered}@e2e");
        let request = format!(
            "OPTIONS sip:alice@127.0.0.1:{port};shard={steered} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-wrong-{steered};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:bob@127.0.0.1>;tag=e2e{steered}\r\n\
             To: <sip:alice@127.0.0.1>;tag={tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let answer = exchange(&sock, &server, &request);
        assert!(answer.starts_with("SIP/2.0 "), "{answer}");
        assert!(answer.contains(&call_id), "{answer}");
    }
    let (parsed, unparsed) = request_handoffs(&server);
    assert_eq!(parsed, 2.0, "each handed over after its parse");
    assert_eq!(unparsed, 0.0, "none handed over by the raw scan");
    server.stop();
}

/// An INVITE or a REGISTER without credentials is challenged on the shard it landed on, not
/// handed to the shard its Call-ID or login names: no transaction exists for it anywhere, and
/// the 407's To tag names the shard that answered, so the ACK of the 407, from the same
/// 4-tuple, lands there and stays. Here the INVITE's Request-URI carries `;shard=N` (the
/// kernel steering program then gives it to shard N's socket) and its Call-ID names the other
/// shard: without the challenge where it landed, the INVITE would be handed over, and the ACK
/// with it by the tag. The REGISTERs of one login go to both shards' sockets the same way:
/// one of them lands on the shard that does not own the login.
#[test]
fn a_request_without_credentials_is_challenged_where_it_landed() {
    let (_site, server, sock) = two_shards_and_a_socket();
    let me = sock.local_addr().unwrap();
    let port = server.udp.port();
    for (landed, owner) in [(0usize, 1usize), (1, 0)] {
        // our tokens' shape: the last 8 hex digits, modulo 2, name the shard
        let call_id = format!("{owner:016x}@ferroswitch");
        let head = |method: &str, to_tag: &str| {
            // the ACK of the 407 has the INVITE's branch; the OPTIONS a branch of its own
            let branch = if method == "OPTIONS" { "-options" } else { "" };
            format!(
                "{method} sip:alice@127.0.0.1:{port};shard={landed} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {me};branch=z9hG4bK-landed-{landed}{branch};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:bob@127.0.0.1>;tag=e2e{landed}\r\n\
                 To: <sip:alice@127.0.0.1>{to_tag}\r\n\
                 Call-ID: {call_id}\r\n\
                 CSeq: 1 {method}\r\n"
            )
        };
        let invite = format!(
            "{}Contact: <sip:bob@{me}>\r\nContent-Length: 0\r\n\r\n",
            head("INVITE", "")
        );
        let answer = exchange(&sock, &server, &invite);
        assert!(answer.starts_with("SIP/2.0 407 "), "{answer}");
        let tag = answer
            .lines()
            .find(|l| l.starts_with("To:"))
            .and_then(|l| l.split(";tag=").nth(1))
            .expect("a To tag on the 407")
            .trim()
            .to_owned();
        let named = u64::from_str_radix(&tag[tag.len() - 8..], 16).unwrap() % 2;
        assert_eq!(
            named as usize, landed,
            "the 407's tag {tag} names the shard that answered"
        );
        let to_tag = format!(";tag={tag}");
        let ack = format!("{}Content-Length: 0\r\n\r\n", head("ACK", &to_tag));
        sock.send_to(ack.as_bytes(), server.udp).unwrap();
        // nothing answers an ACK: an OPTIONS in the same dialog, read after it from the same
        // socket, is answered once the ACK has been dealt with
        let options = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", &to_tag));
        let answer = exchange(&sock, &server, &options);
        assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
        assert!(answer.contains("OPTIONS"), "{answer}");
    }
    for landed in 0..2 {
        let register = format!(
            "REGISTER sip:127.0.0.1:{port};shard={landed} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-register-{landed};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@127.0.0.1>;tag=r{landed}\r\n\
             To: <sip:alice@127.0.0.1>\r\n\
             Call-ID: register-{landed}@e2e\r\n\
             CSeq: 1 REGISTER\r\n\
             Contact: <sip:alice@{me}>\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let answer = exchange(&sock, &server, &register);
        assert!(answer.starts_with("SIP/2.0 401 "), "{answer}");
        assert!(answer.contains("WWW-Authenticate: Digest"), "{answer}");
    }
    let (parsed, unparsed) = request_handoffs(&server);
    assert_eq!(parsed, 0.0, "a request handed over after its parse");
    assert_eq!(unparsed, 0.0, "a request handed over by the raw scan");
    server.stop();
}

/// A server of two shards driven as `merge` says (`--shard-merge`, or `shard_merge` in the file
/// for `file:VALUE`), bob registered, alice ready to call.
fn two_shards_alice_and_bob(merge: &str) -> (Site, crate::harness::Server, Ua, Ua) {
    let site = Site::with_sections("[admin]\nlisten = \"127.0.0.1:0\"\n");
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = match merge.strip_prefix("file:") {
        Some(m) => {
            let cfg = std::fs::read_to_string(site.config()).unwrap();
            let cfg = cfg.replacen(
                "node_id = ",
                &format!("shard_merge = \"{m}\"\nnode_id = "),
                1,
            );
            std::fs::write(site.config(), cfg).unwrap();
            site.start_with(&["--shards", "2"])
        }
        None => site.start_with(&["--shards", "2", "--shard-merge", merge]),
    };
    server.assert_shards(2);
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(300);
    let alice = Ua::new(server.udp, "alice", "wonderland");
    (site, server, alice, bob)
}

/// A call from alice to bob, ringing: her INVITE lands on shard `landed` (the Request-URI's
/// `;shard=N`: the kernel's steering program puts it, its CANCEL and the ACK of a 487 on shard
/// N's socket; `None`: the kernel's hash of her 4-tuple picks it) and its Call-ID names shard
/// `owner`.
struct Ringing {
    call_id: String,
    uri: String,
    via: String,
    seq: u32,
    from_tag: String,
    /// alice's INVITE as she sent it (to send it again).
    sent: String,
    /// The INVITE as bob got it.
    at_bob: sip_message::Message,
}

fn ringing(
    server: &crate::harness::Server,
    alice: &mut Ua,
    bob: &mut Ua,
    name: &str,
    (landed, owner): (Option<usize>, usize),
) -> Ringing {
    let call_id = (0..)
        .map(|i| format!("{name}-{landed:?}-{i}@phone"))
        .find(|c| sip_message::shard::index(c, 2) == owner)
        .unwrap();
    let port = server.udp.port();
    let uri = match landed {
        Some(n) => format!("sip:bob@127.0.0.1:{port};shard={n}"),
        // left to the kernel's hash of alice's 4-tuple
        None => format!("sip:bob@127.0.0.1:{port}"),
    };
    let (via, seq, from_tag, sent) = alice.invite_unanswered(&uri, &call_id, SDP);
    let at_bob = bob.expect_request("INVITE", 5);
    bob.answer(&at_bob, 180);
    let _ = alice.wait(5, |m| {
        m.status() == Some(180) && m.call_id() == Some(&call_id)
    });
    Ringing {
        call_id,
        uri,
        via,
        seq,
        from_tag,
        sent,
        at_bob,
    }
}

/// alice cancels the ringing call: 200 for her CANCEL, bob cancelled (he answers 200 and
/// 487), 487 for her INVITE, which she ACKs.
fn cancel(server: &crate::harness::Server, alice: &mut Ua, bob: &mut Ua, r: &Ringing, what: &str) {
    let (uri, via, call_id, seq) = (&r.uri, &r.via, &r.call_id, r.seq);
    let from = format!("From: <sip:alice@{REALM}>;tag={}", r.from_tag);
    let cancel = format!(
        "CANCEL {uri} SIP/2.0\r\nVia: {via}\r\n{from}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
         CSeq: {seq} CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    alice.sock.send_to(cancel.as_bytes(), server.udp).unwrap();
    let of = |method: Method| {
        let call_id = call_id.clone();
        move |m: &sip_message::Message| {
            m.status().is_some_and(|s| s >= 200)
                && m.call_id() == Some(call_id.as_str())
                && m.cseq().is_ok_and(|c| c.method == method)
        }
    };
    let ok = alice.wait(5, of(Method::Cancel));
    assert_eq!(ok.status(), Some(200), "{what}: {ok:?}");
    let cancelled = bob.expect_request("CANCEL", 5);
    bob.answer(&cancelled, 200);
    bob.answer(&r.at_bob, 487);
    let last = alice.wait(5, of(Method::Invite));
    assert_eq!(last.status(), Some(487), "{what}: {last:?}");
    let to_tag = last.to_tag().expect("a To tag on the 487");
    let ack = format!(
        "ACK {uri} SIP/2.0\r\nVia: {via}\r\n{from}\r\nTo: <{uri}>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {seq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    alice.sock.send_to(ack.as_bytes(), server.udp).unwrap();
}

fn kept_invites(server: &crate::harness::Server) -> f64 {
    let m = crate::metrics::scrape(server);
    crate::metrics::get(&m, "ferroswitch_shard_kept_invites_total", &[])
}

/// While the shards are merged on one task, an INVITE whose Call-ID names the other shard
/// stays on the shard whose socket it landed on (docs/architecture.md "Core shards"): its call
/// lives there, and its CANCEL, which carries only that Call-ID, finds its transaction there
/// (200, the callee cancelled, 487), with no request handed over. Split (`--shard-merge
/// never`) both go to the Call-ID's shard as before.
#[test]
fn merged_an_invite_stays_where_it_landed_and_its_cancel_finds_it() {
    for merge in ["always", "never"] {
        let (_site, server, mut alice, mut bob) = two_shards_alice_and_bob(merge);
        let before = request_handoffs(&server);
        for shards in [(Some(0), 1), (Some(1), 0)] {
            let call = ringing(&server, &mut alice, &mut bob, merge, shards);
            cancel(&server, &mut alice, &mut bob, &call, merge);
        }
        let after = request_handoffs(&server);
        let kept = kept_invites(&server);
        if merge == "always" {
            assert_eq!(kept, 2.0, "each INVITE kept where it landed");
            assert_eq!(after, before, "merged: a request handed over");
        } else {
            assert_eq!(kept, 0.0, "split: an INVITE kept where it landed");
            // (parsed where they landed: the steering program named that shard)
            assert!(
                after.0 >= before.0 + 4.0,
                "split: the INVITEs and their CANCELs go to their Call-ID's shard: {before:?} {after:?}"
            );
        }
        server.stop();
    }
}

/// An INVITE kept where it landed and refused there (a `Require` nobody supports: 420): the
/// refusal's To tag names the shard that kept it, so the ACK, routed by that tag, reaches the
/// INVITE's transaction there, which then stops sending the refusal again (Timer G: after
/// 0.5, 1 and 2 s). Named after the Call-ID's shard, the ACK went there and the 420 came
/// back again and again.
#[test]
fn merged_the_ack_of_a_kept_invites_refusal_reaches_it() {
    let (_site, server, mut alice, _bob) = two_shards_alice_and_bob("always");
    let call_id = (0..)
        .map(|i| format!("refused-{i}@phone"))
        .find(|c| sip_message::shard::index(c, 2) == 1)
        .unwrap();
    let uri = format!("sip:bob@127.0.0.1:{};shard=0", server.udp.port());
    let (via, seq, from_tag) = (
        format!("SIP/2.0/UDP {};branch=z9hG4bKrefused;rport", alice.local),
        1,
        "refused",
    );
    // refused before any challenge
    let invite = format!(
        "INVITE {uri} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:alice@{REALM}>;tag={from_tag}\r\n\
         To: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: {seq} INVITE\r\nMax-Forwards: 70\r\n\
         Require: x-nothing\r\nContent-Length: 0\r\n\r\n"
    );
    alice.sock.send_to(invite.as_bytes(), server.udp).unwrap();
    let is_final = |m: &sip_message::Message| {
        m.status().is_some_and(|s| s >= 200)
            && m.call_id() == Some(call_id.as_str())
            && m.cseq().is_ok_and(|c| c.seq == seq)
    };
    let refused = alice.wait(5, is_final);
    assert_eq!(refused.status(), Some(420), "{refused:?}");
    let to_tag = refused.to_tag().expect("a To tag").to_owned();
    assert_eq!(
        sip_message::shard::index(&to_tag, 2),
        0,
        "the tag names the shard that kept it"
    );
    assert_eq!(kept_invites(&server), 1.0);
    let ack = format!(
        "ACK {uri} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:alice@{REALM}>;tag={from_tag}\r\n\
         To: <{uri}>;tag={to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {seq} ACK\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    alice.sock.send_to(ack.as_bytes(), server.udp).unwrap();
    assert!(
        alice.try_wait(3, is_final).is_none(),
        "the 420 was sent again: its ACK did not reach the INVITE's transaction"
    );
    server.stop();
}

/// A call whose INVITE a shard kept while the shards were merged is still its own once they
/// split (here a reload sets `shard_merge = "never"`): while split, that shard parses an
/// INVITE or a CANCEL that lands on it and keeps what its INVITE transaction matches. The
/// INVITE sent again gets its last provisional again (bob sees no second INVITE), and the
/// CANCEL is answered 200 and ends the call, where the Call-ID's shard would have answered
/// 481 and taken the INVITE for a new call.
#[test]
fn after_a_split_the_cancel_of_a_kept_invite_still_finds_it() {
    let (site, server, mut alice, mut bob) = two_shards_alice_and_bob("file:always");
    // the shard alice's datagrams land on (the kernel hashes her 4-tuple): the one that
    // challenges an INVITE without credentials, whose To tag names it
    let uri = format!("sip:bob@127.0.0.1:{}", server.udp.port());
    let probe = format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKprobe;rport\r\n\
         From: <sip:alice@{REALM}>;tag=probe\r\nTo: <{uri}>\r\nCall-ID: probe@phone\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        alice.local
    );
    alice.sock.send_to(probe.as_bytes(), server.udp).unwrap();
    let challenge = alice.wait(5, |m| m.call_id() == Some("probe@phone"));
    assert_eq!(challenge.status(), Some(407), "{challenge:?}");
    let landed = sip_message::shard::index(challenge.to_tag().expect("a To tag"), 2);
    // her INVITE without `;shard`: parsed where it landed only by the split's rule
    let call = ringing(&server, &mut alice, &mut bob, "split", (None, 1 - landed));
    assert_eq!(kept_invites(&server), 1.0, "kept where it landed");
    // split by a reload; a merged task looks at the setting on its turns, which a request
    // makes (OPTIONS, answered by whichever shard)
    let cfg = std::fs::read_to_string(site.config()).unwrap();
    std::fs::write(
        site.config(),
        cfg.replace("shard_merge = \"always\"", "shard_merge = \"never\""),
    )
    .unwrap();
    server.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut pinger = Ua::new(server.udp, "alice", "wonderland");
    loop {
        let m = crate::metrics::scrape(&server);
        if crate::metrics::get(&m, "ferroswitch_shards_merged", &[]) == 0.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still merged after the reload"
        );
        let uri = format!("sip:127.0.0.1:{}", server.udp.port());
        let _ = pinger.request("OPTIONS", &uri, &uri, "", None, None);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let before = request_handoffs(&server);
    alice
        .sock
        .send_to(call.sent.as_bytes(), server.udp)
        .unwrap();
    // (the 100 Trying of the first sending waits in alice's queue: a 180 is what counts)
    let again = alice.try_wait(5, |m| {
        m.status() == Some(180) && m.call_id() == Some(&call.call_id)
    });
    assert!(
        again.is_some(),
        "the INVITE's transaction did not answer it again"
    );
    assert!(
        bob.try_wait(1, |m| m.method() == Some(&Method::Invite))
            .is_none(),
        "the INVITE sent again was taken for a new call"
    );
    cancel(&server, &mut alice, &mut bob, &call, "split");
    assert_eq!(request_handoffs(&server), before, "a request handed over");
    assert_eq!(kept_invites(&server), 1.0, "split: no new INVITE kept");
    server.stop();
}
