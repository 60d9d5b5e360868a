//! Notification channels: where a login's call events go.
//!
//! - `websocket`: `POST /channels` returns a `ws(s)://` URL (on `[api] public_url`) whose path
//!   holds the channel's random id, the capability the app connects with (browsers cannot set
//!   headers on a WebSocket); each event is one text frame of JSON with the channel's
//!   sequence number `seq`. Events sent while no socket is connected are kept (bounded,
//!   [`super::backlog`]) and replayed on the next connection, or from `?since=SEQ`.
//! - `webhook`: each event is POSTed as JSON to the app's URL with
//!   `X-Ferroswitch-Signature: sha256=<hex HMAC-SHA256 of the body with the channel's secret>`;
//!   a failure (no answer in 5 s, or not 2xx) is retried 4 times with a doubling backoff
//!   from 250 ms, in order (one delivery task per channel).
//! - `pns`: incoming calls go through the operator's push hook (`[push_service]`) as an
//!   `incoming_call` push event naming the login's devices with push tokens, `call_id` the
//!   voice session's id; other events are not pushed. Without a push hook: 400.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use b2bua::third_party::ApiEvent;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{broadcast, mpsc};
use utoipa::ToSchema;

use super::backlog::{Backlog, Numbered};
use super::token::{authorize, in_scope};
use super::{random_id, ApiFailure, ApiState};

/// The signature header of webhook posts.
pub(crate) const SIGNATURE_HEADER: &str = "x-ferroswitch-signature";

enum Sink {
    WebSocket(Arc<Mutex<Backlog>>),
    Webhook(mpsc::UnboundedSender<Arc<str>>),
    Pns,
}

struct Channel {
    login: String,
    client: String,
    kind: &'static str,
    url: Option<String>,
    sink: Sink,
}

/// Every channel, by id.
#[derive(Clone, Default)]
pub(crate) struct Hub {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// The push hook and the store (its devices' tokens), for `pns` channels.
    push: Option<(hooks::HookClient, store::Store)>,
}

/// One event as the channels carry it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventBody {
    /// `call_status` for every status change, `incoming_call` for an incoming call.
    event: &'static str,
    /// The voice session (`call-N`).
    session: String,
    login: String,
    /// `incoming_call`: who calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<String>,
    /// A name of the status table (docs/api.md).
    status: &'static str,
    /// The SIP response behind the status, when one.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The SDP answer (endpoint calls, `connected`), or the caller's offer (`incoming_call`).
    #[serde(skip_serializing_if = "Option::is_none")]
    sdp: Option<String>,
    /// Epoch milliseconds.
    time_ms: u128,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Channel>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn with_push(push: Option<(hooks::HookClient, store::Store)>) -> Self {
        Self {
            channels: Arc::default(),
            push,
        }
    }

    /// Hands `ev` to every channel of its login.
    pub(crate) fn publish(&self, ev: &ApiEvent) {
        let body = EventBody {
            event: if ev.caller.is_some() {
                "incoming_call"
            } else {
                "call_status"
            },
            session: format!("call-{}", ev.call),
            login: ev.login.clone(),
            caller: ev.caller.clone(),
            status: ev.status.name(),
            code: ev.code,
            reason: ev.reason.clone(),
            sdp: ev.sdp.clone(),
            time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
        };
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&body) else {
            return;
        };
        let text: Arc<str> = serde_json::Value::Object(fields.clone()).to_string().into();
        let mut push = false;
        for ch in self.lock().values().filter(|c| c.login == ev.login) {
            match &ch.sink {
                Sink::WebSocket(backlog) => {
                    lock(backlog).push(&fields);
                }
                Sink::Webhook(tx) => {
                    let _ = tx.send(text.clone());
                }
                Sink::Pns => push = true,
            }
        }
        if let (true, Some(caller), Some((hook, store))) = (push, &ev.caller, &self.push) {
            tokio::spawn(push_incoming(
                hook.clone(),
                store.clone(),
                caller.clone(),
                ev.login.clone(),
                format!("call-{}", ev.call),
            ));
        }
    }
}

fn lock(b: &Mutex<Backlog>) -> std::sync::MutexGuard<'_, Backlog> {
    b.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fans the agent's events out to the channels.
pub(crate) async fn fan_out(hub: Hub, mut events: mpsc::UnboundedReceiver<ApiEvent>) {
    while let Some(ev) = events.recv().await {
        hub.publish(&ev);
    }
}

/// `POST /channels` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewChannel {
    /// `websocket`, `webhook` or `pns`.
    #[serde(rename = "type")]
    kind: String,
    /// Whose events: a login in the token's scope.
    login: String,
    /// `webhook`: where to POST (http or https).
    url: Option<String>,
}

/// A channel as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelInfo {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    login: String,
    /// `websocket`: the URL to connect to; `webhook`: where events are posted.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// `webhook`, on creation only: the HMAC-SHA256 key of the signature header (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// Creates a notification channel.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = NewChannel,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "created", body = ChannelInfo),
        (status = 400, description = "bad body", body = super::ErrorBody),
        (status = 401, description = "Unauthorized: invalid credentials", body = super::ErrorBody),
        (status = 403, description = "login outside the token's scope", body = super::ErrorBody),

    ))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let req: NewChannel = super::json_body(&body)?;
    let claims = in_scope(claims, &req.login)?;
    let (url, secret) = match req.kind.as_str() {
        "websocket" => (None, None),
        "webhook" => {
            let url = req
                .url
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
            let Some(url) = url else {
                return Err(ApiFailure::new(
                    StatusCode::BAD_REQUEST,
                    "a webhook channel needs an http:// or https:// url",
                ));
            };
            (Some(url), Some(hex::encode(rand::random::<[u8; 32]>())))
        }
        "pns" => {
            if state.hub.push.is_none() {
                return Err(ApiFailure::new(
                    StatusCode::BAD_REQUEST,
                    "pns channels need the push hook: no [push_service] is configured",
                ));
            }
            (None, None)
        }
        other => {
            return Err(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                format!("unknown channel type {other:?}: websocket, webhook or pns"),
            ))
        }
    };
    let row = store::ApiChannel {
        id: random_id(),
        kind: req.kind,
        login: req.login,
        client_id: claims.sub,
        url,
        secret,
        created_at: i64::try_from(super::token::unix_s()).unwrap_or(i64::MAX),
    };
    state
        .store
        .add_api_channel(&row)
        .await
        .map_err(super::store_failure)?;
    let mut info = state
        .hub
        .open(&row, &state)
        .ok_or_else(|| ApiFailure::new(StatusCode::BAD_REQUEST, "not a channel"))?;
    info.secret = row.secret;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

impl Hub {
    /// Opens the channel `row` (new, or stored before a restart): its sink, and for a
    /// webhook its delivery task. Returns what the API shows of it; `None` (logged) for a
    /// stored row that makes no channel (a kind we do not know, a webhook without url).
    pub(crate) fn open(&self, row: &store::ApiChannel, state: &ApiState) -> Option<ChannelInfo> {
        let (kind, url, sink): (&'static str, _, _) = match (row.kind.as_str(), &row.url) {
            ("webhook", Some(url)) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let secret = row.secret.clone().unwrap_or_default();
                tokio::spawn(deliver(state.http.clone(), url.clone(), secret, rx));
                ("webhook", Some(url.clone()), Sink::Webhook(tx))
            }
            ("pns", _) => ("pns", None, Sink::Pns),
            ("websocket", _) => {
                let ws = state.ws_base.clone() + "/channels/" + &row.id + "/ws";
                let backlog = Arc::new(Mutex::new(Backlog::from_clock()));
                ("websocket", Some(ws), Sink::WebSocket(backlog))
            }
            (kind, _) => {
                tracing::warn!(channel = %row.id, kind, "api_channels row skipped: not a websocket, webhook with url or pns channel");
                return None;
            }
        };
        self.lock().insert(
            row.id.clone(),
            Channel {
                login: row.login.clone(),
                client: row.client_id.clone(),
                kind,
                url: url.clone(),
                sink,
            },
        );
        Some(ChannelInfo {
            id: row.id.clone(),
            kind,
            login: row.login.clone(),
            url,
            secret: None,
        })
    }
}

/// Lists the client's channels.
#[utoipa::path(get, path = "/channels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = [ChannelInfo]), (status = 401, body = super::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<Vec<ChannelInfo>>, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let mut out: Vec<ChannelInfo> = state
        .hub
        .lock()
        .iter()
        .filter(|(_, c)| c.client == claims.sub)
        .map(|(id, c)| ChannelInfo {
            id: id.clone(),
            kind: c.kind,
            login: c.login.clone(),
            url: c.url.clone(),
            secret: None,
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(out))
}

/// Deletes a channel.
#[utoipa::path(delete, path = "/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "channel id")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let mine = matches!(state.hub.lock().get(&id), Some(c) if c.client == claims.sub);
    if !mine {
        return Err(ApiFailure::new(StatusCode::NOT_FOUND, "no such channel"));
    }
    state
        .store
        .remove_api_channel(&id)
        .await
        .map_err(super::store_failure)?;
    state.hub.lock().remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `?since=SEQ` of a channel's WebSocket.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct Since {
    /// Replay the kept events after this `seq` (default: those no socket has taken yet).
    since: Option<u64>,
}

/// The WebSocket of a `websocket` channel (the URL `POST /channels` gave).
#[utoipa::path(get, path = "/channels/{id}/ws", tag = "channels",
    params(("id" = String, Path, description = "channel id"), Since),
    responses((status = 101, description = "WebSocket: one JSON text frame per event, the \
        events missed first"),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn websocket(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(since): Query<Since>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiFailure> {
    let backlog = match state.hub.lock().get(&id).map(|c| &c.sink) {
        Some(Sink::WebSocket(b)) => b.clone(),
        _ => {
            return Err(ApiFailure::new(
                StatusCode::NOT_FOUND,
                "no such websocket channel",
            ))
        }
    };
    tracing::debug!(channel = %id, since = ?since.since, "API channel connected");
    Ok(upgrade.on_upgrade(move |socket| pump(socket, backlog, since.since)))
}

/// Sends `backlog`'s missed events, then the live ones, marking each as taken.
async fn pump(mut socket: WebSocket, backlog: Arc<Mutex<Backlog>>, since: Option<u64>) {
    let (missed, mut rx) = lock(&backlog).connect(since);
    let mut last = since.unwrap_or(0);
    for ev in missed {
        if !forward(&mut socket, &backlog, ev, &mut last).await {
            return;
        }
    }
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    if !forward(&mut socket, &backlog, ev, &mut last).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // too slow for the live feed: catch up from the kept events
                    tracing::debug!(behind = n, "API websocket channel catching up");
                    let (missed, live) = lock(&backlog).connect(Some(last));
                    rx = live;
                    for ev in missed {
                        if !forward(&mut socket, &backlog, ev, &mut last).await {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            m = socket.recv() => match m {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Sends one event unless it is not newer than `last`; false when the socket is gone.
async fn forward(
    socket: &mut WebSocket,
    backlog: &Mutex<Backlog>,
    (seq, text): Numbered,
    last: &mut u64,
) -> bool {
    if seq <= *last {
        return true;
    }
    if socket
        .send(WsMessage::Text(text.as_ref().into()))
        .await
        .is_err()
    {
        return false;
    }
    *last = seq;
    lock(backlog).taken(seq);
    true
}

/// The signature header's value for `body`.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

const ATTEMPTS: u32 = 5;

async fn deliver(
    http: reqwest::Client,
    url: String,
    secret: String,
    mut rx: mpsc::UnboundedReceiver<Arc<str>>,
) {
    while let Some(body) = rx.recv().await {
        let sig = signature(&secret, body.as_bytes());
        let mut backoff = Duration::from_millis(250);
        for attempt in 1..=ATTEMPTS {
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, &sig)
                .body(body.as_bytes().to_vec())
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => break,
                other => {
                    let why = match other {
                        Ok(resp) => resp.status().to_string(),
                        Err(e) => e.to_string(),
                    };
                    if attempt == ATTEMPTS {
                        tracing::warn!(%url, "webhook event dropped after {ATTEMPTS} attempts: {why}");
                    } else {
                        tracing::debug!(%url, attempt, "webhook post failed: {why}");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                }
            }
        }
    }
}

/// An `incoming_call` push event for `login`'s devices with push tokens.
async fn push_incoming(
    hook: hooks::HookClient,
    store: store::Store,
    caller: String,
    login: String,
    session: String,
) {
    let devices = match store.list_push_tokens(Some(&login)).await {
        Ok(list) => list
            .into_iter()
            .map(|t| hooks::PushDevice {
                instance: t.instance,
                token: t.token,
                platform: t.platform,
                param: t.param,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(%login, "pns channel: reading push tokens: {e}");
            Vec::new()
        }
    };
    let event = hooks::PushEvent::incoming_call(hooks::CallEvent::new(
        hooks::Party::new(caller, None),
        login.clone(),
        session,
        (String::new(), String::new()),
        devices,
    ));
    if let Err(e) = hook.push(&event).await {
        tracing::warn!(%login, "pns channel: push hook: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A server that answers 503 to the first post and 204 to the next; reports each
    /// request's signature header and body.
    async fn flaky_server() -> (String, mpsc::UnboundedReceiver<(u32, String)>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                n += 1;
                let mut buf = vec![0u8; 8192];
                let mut len = 0;
                let text = loop {
                    len += s.read(&mut buf[len..]).await.unwrap();
                    let t = String::from_utf8_lossy(&buf[..len]).into_owned();
                    if let Some((head, body)) = t.split_once("\r\n\r\n") {
                        let want: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= want {
                            break t;
                        }
                    }
                };
                let _ = tx.send((n, text));
                let answer: &[u8] = if n == 1 {
                    b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = s.write_all(answer).await;
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn a_failed_webhook_post_is_retried_with_the_same_signature() {
        let (url, mut seen) = flaky_server().await;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver(reqwest::Client::new(), url, "k3y".into(), rx));
        let body: Arc<str> = r#"{"event":"call_status"}"#.into();
        tx.send(body.clone()).unwrap();
        let want = signature("k3y", body.as_bytes());
        for attempt in 1..=2 {
            let (n, text) = tokio::time::timeout(Duration::from_secs(5), seen.recv())
                .await
                .expect("a post")
                .unwrap();
            assert_eq!(n, attempt);
            assert!(
                text.to_ascii_lowercase()
                    .contains(&format!("{SIGNATURE_HEADER}: {want}")),
                "{text}"
            );
            assert!(text.ends_with(&*body));
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(700), seen.recv())
                .await
                .is_err(),
            "no third post after the 204"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
