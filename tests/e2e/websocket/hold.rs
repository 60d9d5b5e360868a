//! Hold across the WebRTC gateway, both ways, without a browser: alice, a plain SIPp phone
//! (PCMU, echoing), talks to bob's web phone (a WebSocket client with a str0m WebRTC agent).
//! Alice holds (`sendonly`) and resumes: bob's web phone gets WebRTC re-offers saying so, and
//! alice's answers say what the browser answered (her scenario checks `recvonly`, then
//! `sendrecv`). Then the web phone holds and resumes: alice gets plain re-INVITEs with
//! `sendonly` and `sendrecv` (checked by her scenario). Audio flows again after each resume.

use str0m::format::Codec;
use str0m::media::Direction;

use super::fork::{site, web_phone};
use crate::calls::{cdrs, free_port, Sipp};
use crate::webrtc::Browser;

/// Sends one second of PCMU from the browser; returns how many frames came back (alice echoes).
fn echo(browser: &mut Browser) -> usize {
    let before = browser.got_back(Codec::PCMU, &[0x2a; 160]);
    browser.send(Codec::PCMU, 50, || vec![0x2a; 160]);
    browser.run(300);
    browser.got_back(Codec::PCMU, &[0x2a; 160]) - before
}

#[test]
fn hold_and_resume_cross_the_webrtc_gateway_both_ways() {
    let site = site(42900);
    let server = site.start();
    let mut web = web_phone(&server);
    let alice = Sipp::new(&site, "uac_call_hold_media.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .args(&["-mp", &crate::calls::media_port().to_string(), "-rtp_echo"])
        .spawn();
    let invite = web.expect_request("INVITE", 10);
    let (mut browser, answer) = Browser::answering(invite.body());
    web.answer(&invite, 200, Some(&answer));
    web.expect_request("ACK", 10);
    browser.connect();
    assert!(echo(&mut browser) >= 20, "no audio before the hold");

    // alice holds, then resumes: WebRTC re-offers to the web phone with her direction
    for (dir, answered) in [("sendonly", "recvonly"), ("sendrecv", "sendrecv")] {
        let re = web.expect_request("INVITE", 10);
        let offer = String::from_utf8_lossy(re.body()).into_owned();
        assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "{offer}");
        assert!(
            offer.contains(&format!("a={dir}")),
            "a={dir} expected:\n{offer}"
        );
        let answer = browser.reanswer(re.body());
        assert!(answer.contains(&format!("a={answered}")), "{answer}");
        web.answer(&re, 200, Some(&answer));
        web.expect_request("ACK", 10);
        browser.run(100);
    }
    assert!(echo(&mut browser) >= 20, "no audio after alice resumed");

    // the web phone holds, then resumes: alice's scenario checks the directions she gets
    for (cseq, dir, answered) in [
        (1, Direction::SendOnly, "recvonly"),
        (2, Direction::SendRecv, "sendrecv"),
    ] {
        let offer = browser.reoffer(dir);
        let ok = web.request_in_dialog(&invite, "INVITE", cseq, Some(&offer));
        assert_eq!(ok.status(), Some(200), "{ok:?}");
        let answer = String::from_utf8_lossy(ok.body()).into_owned();
        assert!(answer.contains(&format!("a={answered}")), "{answer}");
        browser.answer(ok.body());
        browser.run(100);
    }
    assert!(
        echo(&mut browser) >= 20,
        "no audio after the web phone resumed"
    );

    let bye = web.expect_request("BYE", 10);
    web.answer(&bye, 200, None);
    let (ok, out) = alice.wait();
    assert!(
        ok,
        "alice (directions of the answers and re-INVITEs she got):\n{out}"
    );
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "{rows:?}");
    server.stop();
}
