//! A call forking to a browser and a plain phone at once (`relay/fork.rs`): each kind of branch
//! gets its own offer, the kind that answers keeps its media path, the other one is released.

use media::sdp::Sdp;
use media_io::{Mode, RelayHandle, Side};

use crate::gateway::{phone_answer, phone_to_browser, sock, start, Browser};

/// The caller's plain offer (PCMA, telephone-event) from `port`.
fn caller_offer(port: u16) -> String {
    format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\n"
    )
}

/// A plain caller's offer forks to a phone and a browser: the phone's branch gets the relay's
/// plain offer, the browser's the gateway's WebRTC offer (once per call). Returns both.
fn fork(relay: &RelayHandle, call: &str, caller: &str) -> (String, String) {
    let to_phone = relay
        .offer(call, Side::A, caller.as_bytes(), Mode::Anchor)
        .unwrap();
    assert!(!relay.is_bridged(call));
    let same = relay
        .branch_offer(call, false, caller.as_bytes(), &to_phone, Mode::Anchor)
        .unwrap();
    assert_eq!(same, None, "a plain branch gets the plain offer");
    let to_browser = relay
        .branch_offer(call, true, caller.as_bytes(), &to_phone, Mode::Anchor)
        .unwrap()
        .expect("a browser branch gets an offer of its own");
    let again = relay
        .branch_offer(call, true, caller.as_bytes(), &to_phone, Mode::Anchor)
        .unwrap();
    assert_eq!(
        again.as_ref(),
        Some(&to_browser),
        "one gateway for every browser"
    );
    let to_phone = String::from_utf8(to_phone.to_vec()).unwrap();
    let to_browser = String::from_utf8(to_browser.to_vec()).unwrap();
    assert!(to_phone.contains(" RTP/AVP ") && !to_phone.contains("fingerprint"));
    for w in [
        "UDP/TLS/RTP/SAVPF",
        "a=ice-lite",
        "a=fingerprint:",
        "a=setup:actpass",
    ] {
        assert!(to_browser.contains(w), "{w} missing in {to_browser}");
    }
    assert_eq!(relay.sessions(), 2, "the call and its browser offer");
    (to_phone, to_browser)
}

#[test]
fn the_phone_answers_a_fork_and_the_browser_offer_is_released() {
    let relay = start(31900, 8);
    let caller = sock();
    let offer = caller_offer(caller.local_addr().unwrap().port());
    fork(&relay, "f1", &offer);
    relay.branch_won("f1", false);
    assert_eq!(relay.sessions(), 1, "the gateway's session is gone");
    assert!(!relay.is_bridged("f1"));
    let phone = sock();
    let to_caller = relay
        .answer(
            "f1",
            Side::B,
            phone_answer(phone.local_addr().unwrap().port()).as_bytes(),
            Mode::Anchor,
        )
        .unwrap();
    // plain to plain through the relay: the caller's packet reaches the phone
    let relay_a = Sdp::parse(&to_caller).unwrap().remote_media(0).unwrap().rtp;
    let mut p = vec![0x80, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
    p.extend_from_slice(&[0xd5; 160]);
    caller.send_to(&p, relay_a).unwrap();
    phone.set_nonblocking(false).unwrap();
    phone
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 400];
    let (n, _) = phone.recv_from(&mut buf).expect("RTP relayed to the phone");
    assert_eq!(&buf[..n], &p[..]);
    relay.end("f1");
    assert_eq!(relay.sessions(), 0);
    assert_eq!(relay.free_port_pairs(), 8);
}

#[test]
fn the_browser_answers_a_fork_and_keeps_the_gateway() {
    let relay = start(31920, 8);
    let phone = sock();
    let offer = caller_offer(phone.local_addr().unwrap().port());
    let (_, to_browser) = fork(&relay, "f2", &offer);
    let (mut browser, answer) = Browser::answering(&to_browser);
    relay.branch_won("f2", true);
    assert_eq!(relay.sessions(), 1, "the plain offer's session is gone");
    assert!(relay.is_bridged("f2"), "the gateway is the call's now");
    let to_caller = relay
        .answer("f2", Side::B, answer.as_bytes(), Mode::Anchor)
        .unwrap();
    let text = std::str::from_utf8(&to_caller).unwrap();
    assert!(text.contains(" RTP/AVP 8 96\r\n"), "{text}");
    let relay_plain = Sdp::parse(&to_caller).unwrap().remote_media(0).unwrap().rtp;
    let (received, sent) = phone_to_browser(&relay, "f2", &phone, relay_plain, &mut browser);
    assert!(received >= 20, "browser got {received} of {sent}");
    relay.end("f2");
    assert_eq!(relay.sessions(), 0);
    assert!(!relay.is_bridged("f2"));
    assert_eq!(relay.free_port_pairs(), 8);
}

#[test]
fn a_call_ended_while_forking_releases_both_offers() {
    let relay = start(31940, 8);
    fork(&relay, "f3", &caller_offer(4000));
    relay.end("f3");
    assert_eq!(relay.sessions(), 0);
    assert_eq!(relay.free_port_pairs(), 8);
}
