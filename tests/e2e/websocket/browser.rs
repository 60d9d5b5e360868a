//! The web phone in a real browser: Debian's `chromium`, headless, driven through
//! `chromedriver` (W3C WebDriver, with fantoccini) with a fake microphone. The page
//! registers over `wss`; it calls a SIPp phone (caller ID = the account's number; hold,
//! resume, DTMF, mute, hang up from the page) and is called by one while the account's other
//! device rings too (the page answers, SIPp hangs up); JsSIP used directly (no page) registers
//! and calls the page. A CDR row for each call. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/webphone/`.
//!
//! The first test runs without `[media]` (no WebRTC gateway): its SIPp phones answer and offer
//! DTLS-SRTP shaped SDP and no media flows; it proves signalling and the page's call status.
//! The others run with the gateway and count the page's audio packets.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::{listener, site};
use crate::calls::{cdrs, device, free_port, Running, Sipp};
use crate::harness::{optional_tool, Site};

/// The browser account: its login is its number (MSISDN).
pub(super) const NUMBER: &str = "4930555001";
pub(super) const PASSWORD: &str = "webphone1";

/// chromedriver on a loopback port; killed on drop.
pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub(crate) fn start() -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a browser test needs: chromedriver, a Chromium profile directory in the site's, a
/// runtime. `None` (a recorded skip; a failure under `FERRO_REQUIRE_TOOLS=1`) without
/// chromium and chromedriver.
pub(crate) fn chromium(site: &Site) -> Option<(Driver, PathBuf, tokio::runtime::Runtime)> {
    if !optional_tool("chromium", "chromium") || !optional_tool("chromedriver", "chromium-driver") {
        return None;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    Some((Driver::start(), site.dir.path().join("chromium"), rt))
}

pub(crate) async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("acceptInsecureCerts".into(), json!(true));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--ignore-certificate-errors",
                "--window-size=720,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session")
}

pub(crate) async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (up to `secs`) until the element's text satisfies `pred`; returns it.
pub(crate) async fn wait_text(
    c: &Client,
    css: &str,
    secs: u64,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = text(c, css).await;
        if pred(&t) {
            return t;
        }
        if Instant::now() > deadline {
            let log = text(c, "#log").await;
            panic!("{css}: {t:?} after {secs} s; page log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

pub(crate) async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webphone");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

#[test]
fn the_web_phone_registers_calls_and_answers_in_chromium() {
    let site = site("");
    let Some((driver, profile, rt)) = chromium(&site) else {
        return;
    };
    site.add_account(NUMBER, PASSWORD);
    let server = site.start();
    let wss = listener(&server, "wss");
    rt.block_on(async {
        let c = browser(&driver, &profile).await;
        c.goto(&format!("https://{wss}/")).await.unwrap();
        wait_text(&c, "#reg-status", 10, |t| t == "not registered").await;
        screenshot(&c, "1-login").await;

        // the WCS trap: a login with a space is refused by the page, with the reason
        fill(&c, "#user", "john smith").await;
        fill(&c, "#password", PASSWORD).await;
        click(&c, "#register").await;
        wait_text(&c, "#login-error", 5, |t| t.contains("contains a space")).await;
        screenshot(&c, "2-login-refused").await;

        fill(&c, "#user", NUMBER).await;
        click(&c, "#register").await;
        wait_text(&c, "#reg-status", 15, |t| t == "registered").await;
        let rows = tokio::task::block_in_place(|| {
            site.wait_bindings("the page registered over wss", |b| {
                b.iter().any(|r| r.login == NUMBER && r.transport == "wss")
            })
        });
        let row = rows.iter().find(|r| r.login == NUMBER).unwrap();
        assert!(row.contact.contains(".invalid"), "{row:?}");
        screenshot(&c, "3-registered").await;

        // the page calls bob, a SIPp phone that checks the caller ID (the account's number)
        let bob = tokio::task::block_in_place(|| {
            device(&site, &server, "bob", "builder", "uas_webrtc_answer.xml")
        });
        fill(&c, "#number", "bob").await;
        click(&c, "#call").await;
        wait_text(&c, "#call-status", 20, |t| t == "in call").await;
        screenshot(&c, "4-in-call").await;
        click(&c, "#hold").await;
        wait_text(&c, "#call-status", 10, |t| t == "on hold").await;
        screenshot(&c, "5-on-hold").await;
        click(&c, "#hold").await;
        wait_text(&c, "#call-status", 10, |t| t == "in call").await;
        click(&c, "#keypad button[data-dtmf='5']").await;
        wait_text(&c, "#dtmf-sent", 5, |t| t == "5").await;
        click(&c, "#mute").await;
        wait_text(&c, "#mute", 5, |t| t == "Unmute").await;
        // the INFO reaches bob before the BYE
        tokio::time::sleep(Duration::from_millis(500)).await;
        click(&c, "#hangup").await;
        wait_text(&c, "#call-status", 10, |t| t.starts_with("ended")).await;
        let (ok, out) = tokio::task::block_in_place(|| bob.wait());
        assert!(ok, "bob (callee of the page):\n{out}");

        // bob calls the account: its other device (SIPp) rings too, the page answers, bob
        // hangs up
        let (other, caller) = tokio::task::block_in_place(|| {
            let other = device(&site, &server, NUMBER, PASSWORD, "uas_ring_cancelled.xml");
            let caller = Sipp::new(&site, "uac_webrtc_call.xml", free_port())
                .rows(&[&format!("bob;builder;{NUMBER}")])
                .target(server.udp)
                .spawn();
            (other, caller)
        });
        wait_text(&c, "#call-status", 15, |t| t == "incoming call from bob").await;
        screenshot(&c, "6-incoming").await;
        click(&c, "#answer").await;
        wait_text(&c, "#call-status", 10, |t| t == "in call").await;
        wait_text(&c, "#call-status", 15, |t| t.starts_with("ended")).await;
        let (ok, out) = tokio::task::block_in_place(|| caller.wait());
        assert!(ok, "bob (caller):\n{out}");
        let (ok, out) = tokio::task::block_in_place(|| other.wait());
        assert!(
            ok,
            "the account's other device (rang, then cancelled):\n{out}"
        );
        screenshot(&c, "7-ended").await;

        // JsSIP directly, without the page: bob registers over wss and calls the page
        let script = r#"
            const [url, done] = [arguments[0], arguments[arguments.length - 1]];
            const ua = new JsSIP.UA({
              sockets: [new JsSIP.WebSocketInterface(url)],
              uri: 'sip:bob@127.0.0.1', password: 'builder',
              register: true, session_timers: false,
            });
            window.direct = 'starting';
            ua.on('registered', () => {
              window.direct = 'registered';
              ua.call(arguments[1], {
                mediaConstraints: { audio: true, video: false },
                pcConfig: { iceServers: [] },
                eventHandlers: {
                  confirmed: () => { window.direct = 'confirmed'; },
                  ended: (e) => { window.direct = 'ended: ' + e.cause; },
                  failed: (e) => { window.direct = 'failed: ' + e.cause; },
                },
              });
              done('registered');
            });
            ua.on('registrationFailed', (e) => done('registration failed: ' + e.cause));
            ua.start();
            window.directUa = ua;
        "#;
        let r = c
            .execute_async(
                script,
                vec![
                    json!(format!("wss://{wss}/")),
                    json!(format!("sip:{NUMBER}@127.0.0.1")),
                ],
            )
            .await
            .expect("JsSIP script");
        assert_eq!(r, json!("registered"));
        wait_text(&c, "#call-status", 15, |t| t == "incoming call from bob").await;
        click(&c, "#answer").await;
        wait_text(&c, "#call-status", 10, |t| t == "in call").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let d = c.execute("return window.direct", vec![]).await.unwrap();
            if d == json!("confirmed") {
                break;
            }
            assert!(Instant::now() < deadline, "JsSIP's call: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        click(&c, "#hangup").await;
        wait_text(&c, "#call-status", 10, |t| t.starts_with("ended")).await;
        c.close().await.unwrap();
    });
    let rows = cdrs(&site, 3);
    assert!(rows.len() >= 3, "{rows:?}");
    for r in &rows[..3] {
        assert_eq!(r.final_code, 200, "{r:?}");
    }
    eprintln!("screenshots in {}", shots().display());
}

/// The web phone's `RTCPeerConnection` (JsSIP's), as a script expression.
pub(crate) const PHONE_PC: &str =
    "(window.testPc ? window.testPc() : (window.phone.session && window.phone.session.connection))";

/// The audio packet counts of the page's call, from `RTCPeerConnection.getStats()` of the
/// peer connection the script expression `pc` names: (inbound packets received, outbound
/// packets sent).
async fn audio_packets(c: &Client, pc: &str) -> (u64, u64) {
    let script = format!(
        r#"
        const done = arguments[arguments.length - 1];
        const pc = {pc};
        if (!pc) {{ done([0, 0]); return; }}
        pc.getStats().then((report) => {{
          let inbound = 0, outbound = 0;
          report.forEach((s) => {{
            if (s.kind === 'audio' && s.type === 'inbound-rtp') inbound = s.packetsReceived;
            if (s.kind === 'audio' && s.type === 'outbound-rtp') outbound = s.packetsSent;
          }});
          done([inbound, outbound]);
        }});
    "#
    );
    let r = c.execute_async(&script, vec![]).await.expect("getStats");
    (
        r[0].as_u64().unwrap_or_default(),
        r[1].as_u64().unwrap_or_default(),
    )
}

/// Waits up to `secs` for 50 audio packets each way in the page's call (one second of
/// 20 ms frames) on the peer connection `pc` (a script expression), failing with the counts
/// and the page's log.
pub(crate) async fn wait_audio(c: &Client, pc: &str, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (i, o) = audio_packets(c, pc).await;
        if i >= 50 && o >= 50 {
            eprintln!("{what}: {i} audio packets in, {o} out");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {i} audio packets in, {o} out; page log:\n{}",
            text(c, "#log").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the browser tests with the WebRTC gateway share: a server with a `wss` listener and
/// the relay on `port_min`..+99 (`media`: more `[media]` keys), the accounts `NUMBER` and bob,
/// chromedriver and a runtime. `None` (a recorded skip) without Chromium.
pub(super) struct Rig {
    pub(super) site: Site,
    pub(super) server: crate::harness::Server,
    pub(super) wss: std::net::SocketAddr,
    driver: Driver,
    pub(super) rt: tokio::runtime::Runtime,
}

impl Rig {
    pub(super) fn start(port_min: u16, media: &str) -> Option<Self> {
        let site = Site::with_sections(&format!(
            "[[listener]]\ntransport = \"wss\"\naddress = \"127.0.0.1:0\"\n\
             [media]\nbind_address = \"127.0.0.1\"\nport_min = {port_min}\nport_max = {}\n{media}",
            port_min + 99
        ));
        let (driver, _profile, rt) = chromium(&site)?;
        site.add_account(NUMBER, PASSWORD);
        site.add_account("bob", "builder");
        let server = site.start();
        let wss = listener(&server, "wss");
        Some(Self {
            site,
            server,
            wss,
            driver,
            rt,
        })
    }

    /// A plain SIPp device of `login` running `scenario` and echoing RTP (`block_in_place`:
    /// called from the runtime).
    pub(super) fn device(&self, login: &str, password: &str, scenario: &str) -> Running {
        tokio::task::block_in_place(|| {
            let port = free_port();
            crate::calls::register_device(&self.site, &self.server, login, password, port);
            Sipp::new(&self.site, scenario, port)
                .args(&["-mp", &crate::calls::media_port().to_string(), "-rtp_echo"])
                .spawn()
        })
    }

    /// bob's plain SIPp phone calling `NUMBER` with `scenario` (echoing RTP with `echo`).
    pub(super) fn bob_calls(&self, scenario: &str, echo: bool) -> Running {
        tokio::task::block_in_place(|| {
            let mp = crate::calls::media_port().to_string();
            let mut args = vec!["-mp", mp.as_str()];
            if echo {
                args.push("-rtp_echo");
            }
            Sipp::new(&self.site, scenario, free_port())
                .rows(&[&format!("bob;builder;{NUMBER}")])
                .target(self.server.udp)
                .args(&args)
                .spawn()
        })
    }

    /// A Chromium session.
    pub(super) async fn browser(&self) -> Client {
        browser(&self.driver, &self.site.dir.path().join("chromium")).await
    }

    /// A Chromium session on the web phone, registered as `NUMBER`.
    async fn page(&self) -> Client {
        let c = self.browser().await;
        c.goto(&format!("https://{}/", self.wss)).await.unwrap();
        wait_text(&c, "#reg-status", 10, |t| t == "not registered").await;
        fill(&c, "#user", NUMBER).await;
        fill(&c, "#password", PASSWORD).await;
        click(&c, "#register").await;
        wait_text(&c, "#reg-status", 15, |t| t == "registered").await;
        c
    }
}

/// Issue 18's media proof with a real browser: the page (Chromium, fake microphone) calls a
/// plain SIP phone (SIPp: its scenario fails on any WebRTC attribute in the INVITE, and it
/// echoes the RTP it gets). The relay's WebRTC gateway terminates ICE + DTLS-SRTP towards the
/// browser and sends plain RTP to the phone; the echo comes back to the browser as SRTP, which
/// `getStats()` counts as received audio packets. Then the other way: the plain phone calls
/// the page (the relay offers WebRTC to the browser branch), the page answers, the phone hangs
/// up.
#[test]
fn the_web_phone_talks_to_a_plain_phone_through_the_webrtc_gateway() {
    let Some(rig) = Rig::start(42600, "") else {
        return;
    };
    let site = &rig.site;
    rig.rt.block_on(async {
        let c = rig.page().await;

        let bob = rig.device("bob", "builder", "uas_answer_plain_from_webrtc.xml");
        fill(&c, "#number", "bob").await;
        click(&c, "#call").await;
        wait_text(&c, "#call-status", 20, |t| t == "in call").await;
        wait_audio(&c, PHONE_PC, 15, "the page calling a plain phone").await;
        screenshot(&c, "8-media-through-gateway").await;
        click(&c, "#hangup").await;
        wait_text(&c, "#call-status", 10, |t| t.starts_with("ended")).await;
        let (ok, out) = tokio::task::block_in_place(|| bob.wait());
        assert!(ok, "bob (plain phone, called by the page):\n{out}");

        // the other way: bob's plain phone (PCMU only, echoing) calls the page; the relay
        // offers the browser WebRTC, the page answers, audio flows both ways, bob hangs up
        let caller = rig.bob_calls("uac_call_talk_then_bye.xml", true);
        wait_text(&c, "#call-status", 15, |t| t == "incoming call from bob").await;
        click(&c, "#answer").await;
        wait_text(&c, "#call-status", 10, |t| t == "in call").await;
        wait_audio(&c, PHONE_PC, 4, "the page called by a plain phone").await;
        wait_text(&c, "#call-status", 15, |t| t.starts_with("ended")).await;
        let (ok, out) = tokio::task::block_in_place(|| caller.wait());
        assert!(ok, "bob (plain phone calling the page):\n{out}");
        c.close().await.unwrap();
    });
    let rows = cdrs(site, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r.final_code, 200, "{r:?}");
    }
}

/// "Rings on the phone and in the browser" with media: a plain SIPp phone (PCMU only) calls an
/// account that has the web phone (Chromium) and a plain SIPp device. Both ring, each with the
/// offer it understands (the device's scenario fails on anything of WebRTC). (a) The page
/// answers: audio both ways through the gateway (getStats), the device gets CANCEL. (b) The
/// device answers: RTP plain to plain through the relay (the caller plays a pcap, the device
/// echoes; the CDR counts both ways), the page's branch is cancelled.
#[test]
fn the_web_phone_and_a_plain_phone_ring_together_and_either_answers_with_media() {
    let Some(rig) = Rig::start(42700, "anchor_onnet = true\n") else {
        return;
    };
    let site = &rig.site;
    rig.rt.block_on(async {
        let c = rig.page().await;

        // (a) the page answers
        let phone = rig.device(NUMBER, PASSWORD, "uas_ring_cancelled_plain.xml");
        let caller = rig.bob_calls("uac_call_talk_then_bye.xml", true);
        wait_text(&c, "#call-status", 15, |t| t == "incoming call from bob").await;
        screenshot(&c, "9-fork-incoming").await;
        click(&c, "#answer").await;
        wait_text(&c, "#call-status", 10, |t| t == "in call").await;
        let (ok, out) = tokio::task::block_in_place(|| phone.wait());
        assert!(ok, "the plain device (plain offer, then CANCEL):\n{out}");
        wait_audio(&c, PHONE_PC, 4, "the page answering a fork").await;
        wait_text(&c, "#call-status", 15, |t| t.starts_with("ended")).await;
        let (ok, out) = tokio::task::block_in_place(|| caller.wait());
        assert!(ok, "bob (calling the page and the device):\n{out}");

        // (b) the device answers while the page rings
        let phone = rig.device(NUMBER, PASSWORD, "uas_answer_plain.xml");
        let caller = rig.bob_calls("uac_call_rtp.xml", false);
        wait_text(&c, "#call-status", 15, |t| t == "incoming call from bob").await;
        wait_text(&c, "#call-status", 10, |t| t.starts_with("failed")).await;
        let (ok, out) = tokio::task::block_in_place(|| caller.wait());
        assert!(ok, "bob (answered by the device):\n{out}");
        let (ok, out) = tokio::task::block_in_place(|| phone.wait());
        assert!(
            ok,
            "the plain device (plain offer, answered, echoing):\n{out}"
        );
        c.close().await.unwrap();
    });
    let rows = cdrs(site, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        // (b): the pcap's 10 packets, echoed
        assert_eq!(r.final_code, 200, "{r:?}");
        assert!(r.media_a_packets.unwrap_or(0) >= 10, "{r:?}");
        assert!(r.media_b_packets.unwrap_or(0) >= 10, "{r:?}");
    }
}
