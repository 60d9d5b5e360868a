//! The call-control API end to end (docs/api.md): the real binary with an `[api]` listener,
//! an HTTP client (reqwest) that gets a token, creates a registration session, opens a
//! WebSocket channel (tokio-tungstenite) and a webhook channel (a real HTTP server here),
//! and places click-to-calls between a SIPp phone of the login and SIPp callees.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use hmac::{Hmac, Mac as _};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use crate::calls::{free_port, register_device, Sipp};
use crate::harness::{block, Server, Site};

mod browser;
mod replay;
mod restart;

const JWT_KEY: &str = "e2e-api-key-0123456789abcdef0123456789";

fn site(extra: &str) -> Site {
    let site = Site::with_sections(&format!(
        "[api]\nlisten = \"127.0.0.1:0\"\njwt_key = \"{JWT_KEY}\"\ntoken_lifetime = 600\n\n{extra}"
    ));
    for (login, pw) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "singer"),
    ] {
        site.add_account(login, pw);
    }
    let (ok, out, err) = site.cli(&[
        "api-client",
        "add",
        "crm",
        "--scope",
        "alice",
        "--secret",
        "crm-secret-0123456789",
    ]);
    assert!(ok, "api-client add: {out}{err}");
    site
}

fn api_addr(server: &Server) -> SocketAddr {
    server
        .startup_log
        .iter()
        .find_map(|l| l.split("listening on api ").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the api listener in the log")
}

struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
}

/// `POST /oauth/token` with client `crm`'s credentials as a form, `secret` as its secret.
async fn token_request(http: &reqwest::Client, base: &str, secret: &str) -> reqwest::Response {
    http.post(format!("{base}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id=crm&client_secret={secret}"
        ))
        .send()
        .await
        .unwrap()
}

impl Api {
    async fn connect(server: &Server) -> Self {
        let base = format!("http://{}", api_addr(server));
        let http = reqwest::Client::new();
        let r = token_request(&http, &base, "crm-secret-0123456789").await;
        assert_eq!(r.status(), 200);
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["scope"], "alice");
        let token = v["access_token"].as_str().unwrap().to_owned();
        Self { base, http, token }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    /// A webhook channel for alice posting to `addr`: its secret.
    async fn webhook(&self, addr: SocketAddr) -> String {
        let (s, v) = self
            .post(
                "/channels",
                json!({"type": "webhook", "login": "alice", "url": format!("http://{addr}/events")}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["secret"].as_str().unwrap().to_owned()
    }

    /// A registration session for alice: its answer.
    async fn register(&self) -> Value {
        let (s, reg) = self
            .post(
                "/session",
                json!({"type": "registration", "login": "alice"}),
            )
            .await;
        assert_eq!(s, 201, "{reg}");
        assert!(reg["id"].as_str().unwrap().starts_with("reg-"));
        reg
    }

    /// A registration session for alice and a WebSocket channel: (the session's answer, the
    /// channel's answer).
    async fn registered_with_channel(&self) -> (Value, Value) {
        let reg = self.register().await;
        let (s, ch) = self
            .post("/channels", json!({"type": "websocket", "login": "alice"}))
            .await;
        assert_eq!(s, 201, "{ch}");
        assert!(ch["url"].as_str().unwrap().starts_with("ws://"), "{ch}");
        (reg, ch)
    }

    /// A registration session for alice and a WebSocket channel, connected.
    async fn ready(&self) -> Events {
        let (_, ch) = self.registered_with_channel().await;
        let url = ch["url"].as_str().unwrap().to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("ws connect");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (_, mut read) = ws.split();
            while let Some(Ok(m)) = read.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        Events(rx, Vec::new(), url)
    }

    async fn click_to_call(&self, destination: &str) -> String {
        let (s, v) = self
            .post(
                "/session",
                json!({"type": "voice", "login": "alice", "destination": destination}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["mode"], "click_to_call");
        v["id"].as_str().unwrap().to_owned()
    }
}

/// A connected WebSocket channel's events: (the receiver, events kept for later, its URL).
struct Events(mpsc::UnboundedReceiver<Value>, Vec<Value>, String);

impl Events {
    /// The statuses of `session` up to and including `last` (15 s at most); other sessions'
    /// events are kept for later calls.
    async fn until(&mut self, session: &str, last: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        let mut kept = Vec::new();
        for ev in std::mem::take(&mut self.1) {
            if seen.last().is_some_and(|e: &Value| e["status"] == last) || ev["session"] != session
            {
                kept.push(ev);
            } else {
                seen.push(ev);
            }
        }
        self.1 = kept;
        if seen.last().is_some_and(|e| e["status"] == last) {
            return seen;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.0.recv())
                .await
                .unwrap_or_else(|_| panic!("no {last} event for {session}; saw {seen:?}"))
                .expect("channel open");
            if ev["session"] != session {
                self.1.push(ev);
                continue;
            }
            let done = ev["status"] == last;
            seen.push(ev);
            if done {
                return seen;
            }
        }
    }
}

fn statuses(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .map(|e| match e["code"].as_u64() {
            Some(c) => format!("{}:{c}", e["status"].as_str().unwrap()),
            None => e["status"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// A phone of `login` (registered from a free port) running `scenario` in the background.
fn phone(
    site: &Site,
    server: &Server,
    login: &str,
    pw: &str,
    scenario: &str,
) -> crate::calls::Running {
    let port = free_port();
    register_device(site, server, login, pw, port);
    Sipp::new(site, scenario, port).spawn()
}

async fn sipp_ok(name: &str, r: crate::calls::Running) {
    let (ok, out) = tokio::task::spawn_blocking(move || r.wait()).await.unwrap();
    assert!(ok, "SIPp {name} failed:\n{out}");
}

#[test]
fn click_to_call_reports_statuses_and_controls_reach_the_callee() {
    let site = site("");
    let server = site.start();
    // alice's phone checks that hold and resume reach it too (a=inactive, a=sendrecv)
    let alice = phone(&site, &server, "alice", "wonderland", "uas_api_own_leg.xml");
    let bob = phone(&site, &server, "bob", "builder", "uas_api_controls.xml");
    block(async {
        let api = Api::connect(&server).await;
        let mut events = api.ready().await;
        let call = api.click_to_call("bob").await;
        let evs = events.until(&call, "connected").await;
        assert_eq!(
            statuses(&evs),
            ["initial", "progressing", "ringing:180", "connected:200"]
        );
        let (s, v) = api
            .send(reqwest::Method::GET, &format!("/session/{call}"), None)
            .await;
        assert_eq!((s, v["status"].as_str()), (200, Some("connected")));
        let (s, v) = api
            .put(
                &format!("/session/{call}/status"),
                json!({"status": "hold"}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
        events.until(&call, "hold").await;
        let (s, _) = api
            .put(
                &format!("/session/{call}/status"),
                json!({"status": "resumed"}),
            )
            .await;
        assert_eq!(s, 202);
        events.until(&call, "resumed").await;
        let (s, _) = api
            .put(&format!("/session/{call}/status"), json!({"dtmf": "5"}))
            .await;
        assert_eq!(s, 202);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (s, _) = api
            .put(
                &format!("/session/{call}/status"),
                json!({"transfer_to": "carol"}),
            )
            .await;
        assert_eq!(s, 202);
        let evs = events.until(&call, "terminating").await;
        assert_eq!(evs.last().unwrap()["reason"], "transferred");
        sipp_ok("bob (hold, resume, INFO, REFER)", bob).await;
        sipp_ok("alice's phone (hold and resume of her own leg)", alice).await;
        // bad input: a clear 400/409, never a crash
        let (s, v) = api
            .put(
                &format!("/session/{call}/status"),
                json!({"status": "hold"}),
            )
            .await;
        assert_eq!(s, 409, "{v}");
        let (s, _) = api
            .put(&format!("/session/{call}/status"), json!({"dtmf": "x"}))
            .await;
        assert!(s == 400 || s == 409);
        let (s, _) = api
            .post("/session", json!({"type": "voice", "login": "alice"}))
            .await;
        assert_eq!(s, 400);
    });
    server.stop();
}

/// A tiny HTTP server collecting the webhook's posts (body, signature header).
async fn webhook_server() -> (SocketAddr, mpsc::UnboundedReceiver<(String, String)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() < len {
                        continue;
                    }
                    let sig = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("x-ferroswitch-signature")
                                .then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let _ = tx.send((body[..len].to_owned(), sig));
                    let _ = s
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    buf.clear();
                }
            });
        }
    });
    (addr, rx)
}

#[test]
fn failures_map_to_their_statuses_on_websocket_and_signed_webhook() {
    let site = site("[calls]\ncall_timeout = 5\n");
    let server = site.start();
    block(async {
        let api = Api::connect(&server).await;
        let mut events = api.ready().await;
        let (hook_addr, mut posts) = webhook_server().await;
        let secret = api.webhook(hook_addr).await;
        let cases = [
            ("uas_486.xml", "bob", "busy", 486),
            ("uas_603.xml", "bob", "declined", 603),
            ("", "nobody", "not_found", 404),
            ("uas_ring_forever.xml", "bob", "no_answer", 480),
        ];
        let mut calls = Vec::new();
        for (scenario, dest, status, code) in cases {
            let alice = phone(&site, &server, "alice", "wonderland", "uas_answer.xml");
            let callee =
                (!scenario.is_empty()).then(|| phone(&site, &server, "bob", "builder", scenario));
            let call = api.click_to_call(dest).await;
            let evs = events.until(&call, status).await;
            let last = evs.last().unwrap();
            assert_eq!(
                last["code"].as_u64(),
                Some(code),
                "{dest} {status}: {evs:?}"
            );
            assert_eq!(last["reason"], "destination");
            sipp_ok("alice's phone (BYE after the failure)", alice).await;
            if let Some(c) = callee {
                sipp_ok(scenario, c).await;
            }
            calls.push((call, status));
        }
        // the webhook got the same events, each signed with the channel's secret
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut finals = Vec::new();
        while finals.len() < calls.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let (body, sig) = tokio::time::timeout(left, posts.recv())
                .await
                .expect("webhook posts")
                .unwrap();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(body.as_bytes());
            let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(sig, want, "a valid HMAC for {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            if ["busy", "declined", "not_found", "no_answer"]
                .contains(&v["status"].as_str().unwrap())
            {
                finals.push((
                    v["session"].as_str().unwrap().to_owned(),
                    v["status"].as_str().unwrap().to_owned(),
                ));
            }
        }
        let want: Vec<(String, String)> = calls
            .iter()
            .map(|(c, s)| (c.clone(), (*s).to_owned()))
            .collect();
        assert_eq!(finals, want);
    });
    server.stop();
}

#[test]
fn wrong_forged_and_expired_tokens_get_401() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let site = site("");
    let server = site.start();
    block(async {
        let base = format!("http://{}", api_addr(&server));
        let http = reqwest::Client::new();
        let r = token_request(&http, &base, "wrong-secret-000000").await;
        assert_eq!(r.status(), 401);
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["error"], "Unauthorized: invalid credentials");
        let api = Api::connect(&server).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = |exp: u64| json!({"iss": "ferroswitch", "sub": "crm", "scope": "*", "iat": exp - 600, "exp": exp});
        let expired = encode(
            &Header::default(),
            &claims(now - 5),
            &EncodingKey::from_secret(JWT_KEY.as_bytes()),
        )
        .unwrap();
        let forged = encode(
            &Header::default(),
            &claims(now + 600),
            &EncodingKey::from_secret(b"not-the-server-key-0123456789abcdef"),
        )
        .unwrap();
        for token in [expired.as_str(), forged.as_str(), "garbage", ""] {
            let r = http
                .post(format!("{base}/session"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(json!({"login": "alice"}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "token {token:?}");
            let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            assert_eq!(v["error"], "Unauthorized: invalid credentials");
        }
        // a valid token outside its scope: 403
        let (s, _) = api.post("/session", json!({"login": "bob"})).await;
        assert_eq!(s, 403);
        // a voice session needs a registration session first
        let (s, v) = api
            .post(
                "/session",
                json!({"type": "voice", "login": "alice", "destination": "bob"}),
            )
            .await;
        assert_eq!(s, 403, "{v}");
        // the OpenAPI document
        let r = http
            .get(format!("{base}/api/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["paths"]["/session/{id}/status"]["put"].is_object());
    });
    server.stop();
}

const ANSWER_SDP: &str = "v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[test]
fn an_incoming_call_is_announced_and_answered_through_the_api() {
    let site = site("");
    let server = site.start();
    incoming_calls_are_answered_through_the_api(&site, &server, 1);
    server.stop();
}

/// The API with two core shards (it no longer holds the server on one): its agent's requests,
/// its endpoint's bindings (written on the login's shard) and the calls to them cross the
/// shards like any phone's; four calls, their Call-IDs spread over both shards.
#[test]
fn with_two_shards_incoming_calls_are_announced_and_answered_through_the_api() {
    let site = site("");
    let server = site.start_with(&["--shards", "2"]);
    server.assert_shards(2);
    incoming_calls_are_answered_through_the_api(&site, &server, 4);
    server.stop();
}

/// bob calls alice `calls` times, one after another; alice's only endpoint is the API's
/// registration session, which sees each call announced and answers it.
fn incoming_calls_are_answered_through_the_api(site: &Site, server: &Server, calls: usize) {
    block(async {
        let api = Api::connect(server).await;
        let mut events = api.ready().await;
        for _ in 0..calls {
            let bob = Sipp::new(site, "uac_call.xml", free_port())
                .rows(&["bob;builder;alice"])
                .target(server.udp);
            let bob = tokio::task::spawn_blocking(move || bob.run());
            let ev = tokio::time::timeout(Duration::from_secs(10), events.0.recv())
                .await
                .expect("an incoming_call event")
                .unwrap();
            assert_eq!(ev["event"], "incoming_call", "{ev}");
            assert_eq!(ev["caller"], "bob");
            assert_eq!(ev["status"], "initial");
            assert!(
                ev["sdp"].as_str().unwrap().starts_with("v=0"),
                "the caller's offer: {ev}"
            );
            let call = ev["session"].as_str().unwrap().to_owned();
            let (s, v) = api
                .put(
                    &format!("/session/{call}/status"),
                    json!({"status": "connected", "sdp": ANSWER_SDP}),
                )
                .await;
            assert_eq!(s, 202, "{v}");
            let evs = events.until(&call, "terminating").await;
            assert_eq!(statuses(&evs), ["connected:200", "terminating"]);
            assert_eq!(evs.last().unwrap()["reason"], "remote_hangup");
            let (ok, out) = bob.await.unwrap();
            assert!(ok, "bob's call to alice failed:\n{out}");
        }
    });
}

#[test]
fn clients_are_managed_by_the_admin_api_and_the_cli() {
    const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef";
    let site = site(&format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n"
    ));
    let server = site.start();
    block(async {
        let admin = format!("http://{}", server.http.expect("admin listener"));
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{admin}/api/api-clients"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(json!({"client_id": "portal", "scope": "alice,bob"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["scope"], "alice bob");
        let secret = v["secret"].as_str().unwrap().to_owned();
        // the new client gets a token at once
        let base = format!("http://{}", api_addr(&server));
        let r = http
            .post(format!("{base}/oauth/token"))
            .basic_auth("portal", Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // listed without secrets, by the admin API and the CLI
        let r = http
            .get(format!("{admin}/api/api-clients"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(
            text.contains("\"portal\"") && !text.contains(&secret),
            "{text}"
        );
        let (ok, out, _) = site.cli(&["api-client", "list"]);
        assert!(ok && out.contains("portal") && out.contains("crm"), "{out}");
        let r = http
            .delete(format!("{admin}/api/api-clients/portal"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let (ok, _, _) = site.cli(&["api-client", "remove", "crm"]);
        assert!(ok);
        let (ok, _, err) = site.cli(&["api-client", "remove", "crm"]);
        assert!(!ok && err.contains("no API client crm"), "{err}");
        let (ok, _, err) = site.cli(&["api-client", "add", "x y", "--scope", "alice"]);
        assert!(!ok && err.contains("client_id"), "{err}");
    });
    server.stop();
}

/// The load figure (docs/benchmarks.md): `CALLS` click-to-calls placed through the API,
/// `PARALLEL` at a time, each connected then hung up; API-originated calls per second with
/// the failure count, and events per second on the one WebSocket channel. Run on purpose:
/// `cargo test -p ferroswitch --release --test e2e -- --ignored api::load`.
#[test]
#[ignore = "load figure, run on purpose"]
fn load_click_to_calls_per_second() {
    const CALLS: usize = 200;
    const PARALLEL: usize = 20;
    let site = site("[security]\nsource_rate = 0\n");
    let server = site.start();
    let m = CALLS.to_string();
    let (pa, pb) = (free_port(), free_port());
    register_device(&site, &server, "alice", "wonderland", pa);
    register_device(&site, &server, "bob", "builder", pb);
    let alice = Sipp::new(&site, "uas_answer.xml", pa)
        .args(&["-m", &m])
        .spawn();
    let bob = Sipp::new(&site, "uas_answer.xml", pb)
        .args(&["-m", &m])
        .spawn();
    block(async {
        let api = std::sync::Arc::new(Api::connect(&server).await);
        let mut events = api.ready().await;
        let started = Instant::now();
        let mut ids = Vec::new();
        for chunk in (0..CALLS).collect::<Vec<_>>().chunks(PARALLEL) {
            let mut set = tokio::task::JoinSet::new();
            for _ in chunk {
                let api = api.clone();
                set.spawn(async move { api.click_to_call("bob").await });
            }
            let mut batch = Vec::new();
            while let Some(id) = set.join_next().await {
                batch.push(id.unwrap());
            }
            for id in &batch {
                events.until(id, "connected").await;
            }
            ids.extend(batch);
        }
        let connected = started.elapsed();
        let mut n_events = 0usize;
        let mut failures = 0usize;
        for id in &ids {
            let (s, _) = api
                .send(reqwest::Method::DELETE, &format!("/session/{id}"), None)
                .await;
            if s != 204 {
                failures += 1;
            }
        }
        for id in &ids {
            n_events += events.until(id, "terminating").await.len();
        }
        let total = started.elapsed();
        let n_events = n_events + ids.len() * 4; // initial, progressing, ringing, connected
        println!(
            "API click-to-calls: {CALLS} ({PARALLEL} at a time) connected in {:.2} s = {:.1} calls/s, \
             {failures} failures; {n_events} events on one WebSocket channel in {:.2} s = {:.0} events/s",
            connected.as_secs_f64(),
            CALLS as f64 / connected.as_secs_f64(),
            total.as_secs_f64(),
            n_events as f64 / total.as_secs_f64()
        );
        assert_eq!(failures, 0);
        // the channel alone: a new socket replays its kept events
        let replay = Instant::now();
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}?since=0", events.2))
            .await
            .expect("ws connect");
        let mut replayed = 0usize;
        // 5 events per call, all 1,000 kept
        while replayed < 1000 {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(_))) => replayed += 1,
                other => panic!("replay stopped after {replayed}: {other:?}"),
            }
        }
        let replay = replay.elapsed();
        println!(
            "replay of {replayed} kept events to a new socket: {:.1} ms = {:.0} events/s",
            replay.as_secs_f64() * 1000.0,
            replayed as f64 / replay.as_secs_f64()
        );
    });
    let (ok, out) = alice.wait();
    assert!(ok, "alice's SIPp:\n{out}");
    let (ok, out) = bob.wait();
    assert!(ok, "bob's SIPp:\n{out}");
    server.stop();
}

#[test]
fn a_pns_channel_pushes_incoming_calls_through_the_push_hook_and_delete_declines() {
    // the operator's push API: the same collecting HTTP server as the webhook's, on a
    // runtime of its own (its port goes into the config before the server starts)
    let hook_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (hook_addr, mut pushes) = hook_rt.block_on(webhook_server());
    let hook_port = hook_addr.port();
    let site = site(&format!(
        "[push_service]\nipaddr = \"127.0.0.1\"\nport = {hook_port}\nservice = \"emc.ashx\"\n"
    ));
    let server = site.start();
    block(async {
        let api = Api::connect(&server).await;
        let mut events = api.ready().await;
        let (s, v) = api
            .post("/channels", json!({"type": "pns", "login": "alice"}))
            .await;
        assert_eq!(s, 201, "{v}");
        let bob = Sipp::new(&site, "uac_expect_603.xml", free_port())
            .rows(&["bob;builder;alice"])
            .target(server.udp);
        let bob = tokio::task::spawn_blocking(move || bob.run());
        let ev = tokio::time::timeout(Duration::from_secs(10), events.0.recv())
            .await
            .expect("an incoming_call event")
            .unwrap();
        assert_eq!(ev["event"], "incoming_call", "{ev}");
        let call = ev["session"].as_str().unwrap().to_owned();
        let (body, _) = tokio::time::timeout(Duration::from_secs(10), pushes.recv())
            .await
            .expect("a push hook post")
            .unwrap();
        let push: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(push["event"], "incoming_call", "{push}");
        assert_eq!(push["callee"], "alice");
        assert_eq!(push["caller"]["login"], "bob");
        assert_eq!(push["call_id"], call.as_str());
        let (s, _) = api
            .send(reqwest::Method::DELETE, &format!("/session/{call}"), None)
            .await;
        assert_eq!(s, 204);
        let evs = events.until(&call, "declined").await;
        assert_eq!(evs.last().unwrap()["code"], 603);
        let (ok, out) = bob.await.unwrap();
        assert!(ok, "bob should get 603:\n{out}");
    });
    server.stop();
    drop(hook_rt);
}

#[test]
fn a_call_from_the_api_endpoint_gets_the_answer_in_the_connected_event() {
    let site = site("");
    let server = site.start();
    let bob = phone(&site, &server, "bob", "builder", "uas_answer.xml");
    block(async {
        let api = Api::connect(&server).await;
        let mut events = api.ready().await;
        let (s, v) = api
            .post(
                "/session",
                json!({"type": "voice", "login": "alice", "destination": "bob", "sdp": ANSWER_SDP}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["mode"], "endpoint");
        let call = v["id"].as_str().unwrap().to_owned();
        let evs = events.until(&call, "connected").await;
        assert_eq!(
            statuses(&evs),
            ["initial", "progressing", "ringing:180", "connected:200"]
        );
        let sdp = evs.last().unwrap()["sdp"].as_str().unwrap().to_owned();
        assert!(sdp.contains("o=user1"), "bob's answer: {sdp}");
        let (s, _) = api
            .send(reqwest::Method::DELETE, &format!("/session/{call}"), None)
            .await;
        assert_eq!(s, 204);
        let evs = events.until(&call, "terminating").await;
        assert_eq!(evs.last().unwrap()["reason"], "local_hangup");
        sipp_ok("bob (BYE from the API)", bob).await;
        let (s, v) = api.send(reqwest::Method::GET, "/session", None).await;
        assert_eq!(s, 200);
        assert_eq!(v[0]["status"], "terminating", "{v}");
    });
    server.stop();
}
