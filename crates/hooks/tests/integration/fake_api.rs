//! A fake operator API: a real HTTP server on 127.0.0.1:0 that records every request and
//! answers from a script of canned responses.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// One request as the fake API saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) json: serde_json::Value,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Canned {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) delay: Duration,
    pub(crate) location: Option<String>,
}

impl Canned {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            delay: Duration::ZERO,
            location: None,
        }
    }

    pub(crate) fn json(body: &str) -> Self {
        Self {
            body: body.to_owned(),
            ..Self::status(200)
        }
    }

    pub(crate) fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Canned>>>,
    fallback: Canned,
}

pub(crate) struct FakeApi {
    pub(crate) addr: SocketAddr,
    shared: Shared,
}

async fn answer(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    s.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        authorization: h("authorization"),
        content_type: h("content-type"),
        json: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    });
    let canned = s
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| s.fallback.clone());
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let status = StatusCode::from_u16(canned.status).unwrap();
    let mut resp = (status, [("content-type", "application/json")], canned.body).into_response();
    if let Some(l) = canned.location {
        resp.headers_mut().insert("location", l.parse().unwrap());
    }
    resp
}

impl FakeApi {
    /// Starts the server; it answers from `script` in order, then with `fallback`.
    pub(crate) async fn start(script: Vec<Canned>, fallback: Canned) -> Self {
        let shared = Shared {
            seen: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            fallback,
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

/// `Basic base64(user:password)`, computed independently of the client.
pub(crate) fn basic(user: &str, password: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc4648_vectors() {
    assert_eq!(
        basic("Aladdin", "open sesame"),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(basic("a", "b"), "Basic YTpi");
}
