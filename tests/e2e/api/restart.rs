//! Registration sessions and channels survive a restart (migration 0012): the real binary is
//! stopped and started again on the same database and the same JWT key; the client's token
//! still works, its registration session is there with its expiry and still makes the login
//! reachable (an incoming call reaches the API on the restored WebSocket and webhook
//! channels), and a session whose token expired meanwhile is gone.

use std::time::Duration;

use futures_util::StreamExt as _;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use super::{api_addr, site, webhook_server, Api, JWT_KEY};
use crate::calls::{free_port, Sipp};

#[test]
fn sessions_and_channels_survive_a_restart_on_the_same_database() {
    let site = site("");
    let server = site.start();
    // one runtime for the whole test: the webhook server and the HTTP client outlive a phase
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (hook_addr, posts) = rt.block_on(webhook_server());
    let (reg, expires_at, short, ws_id, api) = rt.block_on(async {
        let api = Api::connect(&server).await;
        let (reg, ch) = api.registered_with_channel().await;
        let expires_at = reg["expires_at"].as_u64().unwrap();
        let reg = reg["id"].as_str().unwrap().to_owned();
        let ws_id = ch["id"].as_str().unwrap().to_owned();
        api.webhook(hook_addr).await;
        // a session made with a token that expires in 2 s (signed with the server's key)
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims =
            json!({"iss": "ferroswitch", "sub": "crm", "scope": "alice", "iat": now, "exp": now + 2});
        let brief = Api {
            token: encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(JWT_KEY.as_bytes()),
            )
            .unwrap(),
            base: api.base.clone(),
            http: api.http.clone(),
        };
        let short = brief.register().await["id"].as_str().unwrap().to_owned();
        (reg, expires_at, short, ws_id, api)
    });
    server.stop();
    std::thread::sleep(Duration::from_secs(3));

    let server = site.start();
    assert!(
        server
            .startup_log
            .iter()
            .any(|l| l.contains("API channels restored")),
        "{:?}",
        server.startup_log
    );
    rt.block_on(async {
        let mut posts = posts;
        // the same token, the new listener
        let api = Api {
            base: format!("http://{}", api_addr(&server)),
            ..api
        };
        let (s, v) = api
            .send(reqwest::Method::GET, &format!("/session/{reg}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["expires_at"].as_u64(), Some(expires_at));
        let (s, _) = api
            .send(reqwest::Method::GET, &format!("/session/{short}"), None)
            .await;
        assert_eq!(s, 404, "the session whose token expired is gone");
        let (s, v) = api.send(reqwest::Method::GET, "/channels", None).await;
        assert_eq!(s, 200);
        let kinds: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.len(), 2, "{v}");
        assert!(kinds.contains(&"websocket") && kinds.contains(&"webhook"));
        let url = v
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == ws_id.as_str())
            .and_then(|c| c["url"].as_str())
            .expect("the websocket channel")
            .to_owned();
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();

        // the restored session still makes alice reachable: bob's call is announced on both
        // channels and declined through the API
        let bob = Sipp::new(&site, "uac_expect_603.xml", free_port())
            .rows(&["bob;builder;alice"])
            .target(server.udp);
        let bob = tokio::task::spawn_blocking(move || bob.run());
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event on the restored websocket channel")
            .unwrap()
            .unwrap();
        let ev: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
        assert_eq!(ev["event"], "incoming_call", "{ev}");
        let call = ev["session"].as_str().unwrap().to_owned();
        let (body, _) = tokio::time::timeout(Duration::from_secs(10), posts.recv())
            .await
            .expect("a post on the restored webhook channel")
            .unwrap();
        assert!(body.contains("incoming_call"), "{body}");
        let (s, _) = api
            .send(reqwest::Method::DELETE, &format!("/session/{call}"), None)
            .await;
        assert_eq!(s, 204);
        let (ok, out) = bob.await.unwrap();
        assert!(ok, "bob should get 603:\n{out}");
        // de-registering removes it for good
        let (s, _) = api
            .send(reqwest::Method::DELETE, &format!("/session/{reg}"), None)
            .await;
        assert_eq!(s, 204);
    });
    server.stop();
    let server = site.start();
    rt.block_on(async {
        let api = Api::connect(&server).await;
        let (s, _) = api
            .send(reqwest::Method::GET, &format!("/session/{reg}"), None)
            .await;
        assert_eq!(s, 404);
    });
    server.stop();
}
