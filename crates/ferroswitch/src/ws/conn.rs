//! One SIP flow over a WebSocket: one SIP message per WebSocket message (text or binary,
//! RFC 7118 §5), answered in text when the message is UTF-8. The server pings every
//! [`PING_EVERY`]; a registered flow from which nothing (not even a pong) came for
//! [`DEAD_AFTER`] is closed. The `[security]` limits of TCP apply: before authentication a
//! message may be `unauthenticated_message_max` bytes, an unregistered flow is closed after
//! `idle_timeout` without a message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use sip_message::{Peer, Transport};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::conn_limits::{ConnState, IpSlot, REGISTERED};
use crate::metrics::limits::Closed;
use crate::transport::{Inbound, Transports};

/// How often the server pings a WebSocket flow (browsers answer with a pong on their own).
pub(crate) const PING_EVERY: Duration = Duration::from_secs(20);
/// A registered flow silent this long (no message, no pong to our pings) is dead.
pub(crate) const DEAD_AFTER: Duration = Duration::from_secs(65);

/// Where a flow runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow {
    pub(crate) transport: Transport,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// The longest a registered flow may go without a SIP message (see `serve_tcp`).
    pub(crate) idle: Duration,
}

/// The framing limits: the SIP parser's (a head and a body), never more.
fn config() -> WebSocketConfig {
    let max = sip_message::MAX_HEAD + sip_message::MAX_BODY;
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Speaks WebSocket on `stream` (the 101 sent; `read` holds any bytes already read past the
/// request head) until the flow closes, then forgets it.
pub(crate) async fn run<S>(
    stream: S,
    read: Vec<u8>,
    flow: Flow,
    transports: Transports,
    core: crate::shards::NetTx,
    slot: IpSlot,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let ws = WebSocketStream::from_partially_read(stream, read, Role::Server, Some(config())).await;
    let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
    let state = Arc::new(ConnState::default());
    let Flow {
        transport, remote, ..
    } = flow;
    let id = transports.register_conn(transport, remote, tx.clone(), state.clone());
    let from = Peer {
        transport,
        remote,
        local: flow.local,
        conn: Some(id),
    };
    tracing::debug!(%remote, conn = id.0, %transport, "WebSocket flow open");
    let guard = transports.guard().clone();
    guard.touch(&state, tokio::time::Instant::now());
    let (mut sink, mut frames) = ws.split();
    let writer = tokio::spawn(async move {
        let start = tokio::time::Instant::now() + PING_EVERY;
        let mut ping = tokio::time::interval_at(start, PING_EVERY);
        loop {
            let m = tokio::select! {
                b = rx.recv() => match b {
                    Some(b) => frame(b),
                    None => break,
                },
                _ = ping.tick() => WsMessage::Ping(Bytes::new()),
            };
            if sink.send(m).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let closed: Option<Closed> = loop {
        let limits = guard.limits();
        let now = tokio::time::Instant::now();
        let registered = state.flags() & REGISTERED != 0;
        let idle_for = if registered {
            DEAD_AFTER.min(flow.idle)
        } else {
            limits.idle_timeout
        };
        let deadline = now + idle_for.saturating_sub(guard.idle_for(&state, now));
        let next = tokio::select! {
            r = tokio::time::timeout_at(deadline, frames.next()) => r,
            () = state.close.notified() => break Some(Closed::Shed),
        };
        let raw = match next {
            Err(_) => break Some(Closed::Idle),
            Ok(None | Some(Ok(WsMessage::Close(_)))) => break None,
            Ok(Some(Err(WsError::Capacity(e)))) => {
                tracing::info!(%remote, conn = id.0, %transport, "closing WebSocket flow: {e}");
                break Some(Closed::TooLarge);
            }
            Ok(Some(Err(e))) => {
                tracing::debug!(%remote, conn = id.0, %transport, "WebSocket flow broken: {e}");
                break None;
            }
            Ok(Some(Ok(WsMessage::Text(t)))) => Bytes::from(t),
            Ok(Some(Ok(WsMessage::Binary(b)))) => b,
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_)))) => {
                // a pong answers our ping: the browser is there, its flow lives
                if registered {
                    guard.touch(&state, tokio::time::Instant::now());
                }
                continue;
            }
        };
        if raw.iter().all(|&b| b == b'\r' || b == b'\n') {
            // a CRLF keep-alive some stacks send over WebSocket too
            if registered {
                guard.touch(&state, tokio::time::Instant::now());
            }
            continue;
        }
        if !state.trusted() && raw.len() > limits.unauthenticated_message_max {
            break Some(Closed::TooLarge);
        }
        guard.touch(&state, tokio::time::Instant::now());
        if let Some(msg) = crate::transport::accept_message(raw, &from, |r| {
            let _ = tx.try_send(r);
        }) {
            if core.send(Inbound { msg, from }).await.is_err() {
                break None;
            }
        }
    };
    if let Some(why) = closed {
        crate::metrics::limits::conn_closed(why);
        let trusted = state.trusted();
        tracing::info!(%remote, conn = id.0, %transport, trusted, reason = why.as_str(), "closing WebSocket flow");
    }
    transports.drop_conn(id);
    drop(tx);
    crate::transport::finish_writer(writer).await;
    drop(slot);
    tracing::debug!(%remote, conn = id.0, %transport, "WebSocket flow closed");
}

/// One outgoing SIP message as a WebSocket message: text when it is UTF-8 (what browsers'
/// stacks expect), binary otherwise.
fn frame(b: Bytes) -> WsMessage {
    match Utf8Bytes::try_from(b.clone()) {
        Ok(t) => WsMessage::Text(t),
        Err(_) => WsMessage::Binary(b),
    }
}
