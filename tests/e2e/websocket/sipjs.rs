//! SIP.js (the vendored bundle, on `/sipjs.html`: no JsSIP, no page logic) in Chromium against
//! the server: it registers over `wss` as the browser account, calls a plain SIPp phone (PCMU,
//! echoing; its scenario fails on anything of WebRTC) and is called by one; both calls carry
//! audio both ways through the WebRTC gateway (`getStats()` packet counts) and end with a BYE
//! from each side in turn; a CDR with 200 for each.

use std::time::{Duration, Instant};

use serde_json::json;

use super::browser::{wait_audio, Rig, NUMBER, PASSWORD, PHONE_PC};
use crate::calls::cdrs;

/// Registers SIP.js over `url`; incoming calls are answered; `window.sipjs` is the state of the
/// current call, `window.testPc()` its RTCPeerConnection.
const START: &str = r#"
    const [url, user, password, done] = [arguments[0], arguments[1], arguments[2],
                                         arguments[arguments.length - 1]];
    window.sipjs = 'starting';
    const track = (session) => {
      window.session = session;
      session.stateChange.addListener((s) => { window.sipjs = s; });
    };
    window.testPc = () => window.session && window.session.sessionDescriptionHandler
      && window.session.sessionDescriptionHandler.peerConnection;
    const ua = new SIP.UserAgent({
      uri: SIP.UserAgent.makeURI('sip:' + user + '@127.0.0.1'),
      transportOptions: { server: url },
      authorizationUsername: user,
      authorizationPassword: password,
      sessionDescriptionHandlerFactoryOptions: {
        peerConnectionConfiguration: { iceServers: [] },
      },
      delegate: {
        onInvite: (invitation) => {
          track(invitation);
          invitation.accept({
            sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
          });
        },
      },
    });
    window.ua = ua;
    ua.start().then(() => {
      const reg = new SIP.Registerer(ua);
      reg.stateChange.addListener((s) => { if (s === 'Registered') done('registered'); });
      return reg.register({
        requestDelegate: { onReject: (r) => done('rejected: ' + r.message.statusCode) },
      });
    }).catch((e) => done('failed: ' + e));
"#;

/// Calls `target` with SIP.js.
const CALL: &str = r#"
    const target = SIP.UserAgent.makeURI(arguments[0]);
    const inviter = new SIP.Inviter(window.ua, target, {
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
    });
    window.session = inviter;
    inviter.stateChange.addListener((s) => { window.sipjs = s; });
    inviter.invite().catch((e) => { window.sipjs = 'failed: ' + e; });
"#;

async fn wait_state(c: &fantoccini::Client, want: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = c.execute("return window.sipjs", vec![]).await.unwrap();
        if s == json!(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "SIP.js call state {s}, {want} expected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn sipjs_registers_calls_and_is_called_with_media_through_the_gateway() {
    let Some(rig) = Rig::start(43000, "") else {
        return;
    };
    let (site, wss) = (&rig.site, rig.wss);
    rig.rt.block_on(async {
        let c = rig.browser().await;
        c.goto(&format!("https://{wss}/sipjs.html")).await.unwrap();
        let none = c.execute("return typeof JsSIP", vec![]).await.unwrap();
        assert_eq!(none, json!("undefined"), "SIP.js alone");
        let r = c
            .execute_async(
                START,
                vec![
                    json!(format!("wss://{wss}/")),
                    json!(NUMBER),
                    json!(PASSWORD),
                ],
            )
            .await
            .expect("SIP.js start");
        assert_eq!(r, json!("registered"));

        // SIP.js calls bob's plain phone
        let bob = rig.device("bob", "builder", "uas_answer_plain_from_webrtc.xml");
        c.execute(CALL, vec![json!("sip:bob@127.0.0.1")])
            .await
            .unwrap();
        wait_state(&c, "Established", 15).await;
        wait_audio(&c, PHONE_PC, 15, "SIP.js calling a plain phone").await;
        c.execute("window.session.bye()", vec![]).await.unwrap();
        wait_state(&c, "Terminated", 10).await;
        let (ok, out) = tokio::task::block_in_place(|| bob.wait());
        assert!(ok, "bob (called by SIP.js):\n{out}");

        // bob's plain phone calls SIP.js, which answers; bob hangs up
        let caller = rig.bob_calls("uac_call_talk_then_bye.xml", true);
        wait_state(&c, "Established", 15).await;
        wait_audio(&c, PHONE_PC, 4, "SIP.js called by a plain phone").await;
        wait_state(&c, "Terminated", 15).await;
        let (ok, out) = tokio::task::block_in_place(|| caller.wait());
        assert!(ok, "bob (calling SIP.js):\n{out}");
        c.close().await.unwrap();
    });
    let rows = cdrs(site, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r.final_code, 200, "{r:?}");
    }
}
