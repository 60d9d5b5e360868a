//! The API demo page (`/demo/` on the `[api]` listener) in headless Chromium: the browser
//! drives its calls through the call-control API — a token, a WebRTC registration session, a
//! WebSocket channel, its `RTCPeerConnection`'s offer in `POST /session` and the answer in the
//! `connected` event; an incoming call's offer in the `incoming_call` event, answered with
//! `PUT …/status` — and its media goes through the relay's WebRTC gateway to plain SIPp phones
//! (PCMU, echoing; their scenarios fail on any WebRTC attribute).

use std::time::Duration;

use fantoccini::Client;
use serde_json::Value;

use super::{api_addr, site};
use crate::calls::{cdrs, free_port, Sipp};
use crate::websocket::browser::{
    browser, chromium, click, fill, screenshot, wait_audio, wait_text,
};

/// The demo page's peer connection, as a script expression.
const PC: &str = "window.apiPhone.pc";

/// The page's events of `session`, as `status` or `status:code`.
async fn page_statuses(c: &Client, session: &str) -> Vec<String> {
    let evs = c
        .execute("return window.apiPhone.events", vec![])
        .await
        .expect("the page's events");
    evs.as_array()
        .expect("an array")
        .iter()
        .filter(|e| e["session"] == session)
        .map(|e: &Value| match e["code"].as_u64() {
            Some(code) => format!("{}:{code}", e["status"].as_str().unwrap_or("?")),
            None => e["status"].as_str().unwrap_or("?").to_owned(),
        })
        .collect()
}

async fn session(c: &Client) -> String {
    let s = c
        .execute("return window.apiPhone.session", vec![])
        .await
        .expect("the page's session");
    s.as_str().expect("a live session").to_owned()
}

#[test]
fn the_api_demo_page_calls_and_answers_with_webrtc_media_through_the_gateway() {
    let site = site("[media]\nbind_address = \"127.0.0.1\"\nport_min = 43000\nport_max = 43099\n");
    let Some((driver, profile, rt)) = chromium(&site) else {
        return;
    };
    let server = site.start();
    let api = api_addr(&server);
    rt.block_on(async {
        let c = browser(&driver, &profile).await;
        c.goto(&format!("http://{api}/demo/")).await.unwrap();
        wait_text(&c, "#reg-status", 10, |t| t == "not connected").await;
        fill(&c, "#client-id", "crm").await;
        fill(&c, "#client-secret", "crm-secret-0123456789").await;
        fill(&c, "#user", "alice").await;
        click(&c, "#register").await;
        wait_text(&c, "#reg-status", 10, |t| t == "connected").await;
        screenshot(&c, "api-1-connected").await;

        // the page calls bob's plain phone (PCMU only; it echoes the RTP it gets)
        let bob = tokio::task::block_in_place(|| crate::webrtc::phone(&site, &server));
        fill(&c, "#number", "bob").await;
        click(&c, "#call").await;
        wait_text(&c, "#call-status", 20, |t| t == "in call").await;
        let call = session(&c).await;
        wait_audio(&c, PC, 15, "the API page calling a plain phone").await;
        screenshot(&c, "api-2-in-call").await;
        click(&c, "#hangup").await;
        wait_text(&c, "#call-status", 10, |t| {
            t == "ended: terminating (local_hangup)"
        })
        .await;
        assert_eq!(
            page_statuses(&c, &call).await,
            [
                "initial",
                "progressing",
                "ringing:180",
                "connected:200",
                "terminating"
            ]
        );
        let (ok, out) = tokio::task::block_in_place(|| bob.wait());
        assert!(ok, "bob (plain phone called through the API):\n{out}");

        // bob's plain phone calls alice: the gateway's WebRTC offer reaches the page in the
        // incoming_call event, the page answers through the API, bob hangs up
        let caller = tokio::task::block_in_place(|| {
            Sipp::new(&site, "uac_call_talk_then_bye.xml", free_port())
                .rows(&["bob;builder;alice"])
                .target(server.udp)
                .args(&["-mp", &crate::calls::media_port().to_string(), "-rtp_echo"])
                .spawn()
        });
        wait_text(&c, "#call-status", 15, |t| t == "incoming call from bob").await;
        let incoming = session(&c).await;
        let offer = c
            .execute("return window.apiPhone.offer", vec![])
            .await
            .unwrap();
        let offer = offer.as_str().unwrap_or_default();
        assert!(
            offer.contains("UDP/TLS/RTP/SAVPF") && offer.contains("a=fingerprint:"),
            "the gateway's WebRTC offer: {offer}"
        );
        screenshot(&c, "api-3-incoming").await;
        click(&c, "#answer").await;
        wait_text(&c, "#call-status", 10, |t| t == "in call").await;
        wait_audio(&c, PC, 4, "the API page called by a plain phone").await;
        wait_text(&c, "#call-status", 15, |t| {
            t == "ended: terminating (remote_hangup)"
        })
        .await;
        assert_eq!(
            page_statuses(&c, &incoming).await,
            ["initial", "connected:200", "terminating"]
        );
        let (ok, out) = tokio::task::block_in_place(|| caller.wait());
        assert!(ok, "bob (plain phone calling the API page):\n{out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.close().await.unwrap();
    });
    let rows = cdrs(&site, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r.final_code, 200, "{r:?}");
        assert!(r.media_a_packets.unwrap_or(0) >= 50, "{r:?}");
        assert!(r.media_b_packets.unwrap_or(0) >= 50, "{r:?}");
    }
    server.stop();
}
