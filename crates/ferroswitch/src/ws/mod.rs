//! SIP over WebSocket (RFC 7118): `ws` and `wss` listeners. Each accepted connection (TLS
//! first for `wss`, with the `[tls]` certificate in force, swapped by a reload like the TLS
//! listeners') sends one HTTP request head: an upgrade to WebSocket with the `sip`
//! sub-protocol from an allowed origin becomes a SIP flow ([`conn`]); a plain `GET` is
//! answered with a file of the web phone ([`crate::webphone`]) and the connection closed; any
//! other request is refused ([`handshake`]).
//!
//! A WebSocket flow is a connection like a TCP/TLS one (`[security]` limits apply, see
//! [`crate::conn_limits`]): the dispatcher sends over it through [`Transports::send`], requests
//! to devices registered over it go over it (browser stacks name `.invalid` hosts in their Via
//! and Contact: the registrar's flow routing never uses the Contact of a stream transport, see
//! `registrar::reach`), and when it closes, the bindings on it are dropped at the next
//! request (RFC 5626 §4.4).

pub(crate) mod conn;
pub(crate) mod handshake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sip_message::Transport;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::conn_limits::IpSlot;
use crate::transport::Transports;
use handshake::{Answer, Origins};

/// One WebSocket listener's settings.
#[derive(Clone)]
pub(crate) struct WsSettings {
    /// `Some` for `wss`: the TLS server config in force (a reload swaps it).
    pub(crate) tls: Option<crate::reload::TlsConfig>,
    pub(crate) origins: Arc<Origins>,
    /// The address our Via, Record-Route and Contact name (1:1 NAT), if not the bound one.
    pub(crate) advertise: Option<SocketAddr>,
    /// How long a registered flow may stay silent (see [`crate::transport::serve_tcp`]).
    pub(crate) idle: Duration,
}

/// Starts serving the bound `ws`/`wss` listener `b`; `tls` is the TLS server config in force
/// (`Some` whenever a `wss` listener exists: the config requires `[tls]` for it).
pub(crate) fn spawn(
    b: crate::listeners::BoundStream,
    tls: Option<crate::reload::TlsConfig>,
    transports: &Transports,
    core: &crate::shards::NetTx,
    idle: Duration,
) -> tokio::task::JoinHandle<()> {
    let secure = b.transport == ferroswitch_config::Transport::Wss;
    let settings = WsSettings {
        tls: if secure { tls } else { None },
        origins: Arc::new(Origins::new(&b.allowed_origins)),
        advertise: b.advertise,
        idle,
    };
    if b.allowed_origins.is_empty() {
        tracing::info!(
            "{} listener: browsers may open SIP WebSockets only from the page it serves (listener.allowed_origins is empty)",
            b.transport
        );
    }
    tokio::spawn(serve_ws(
        b.listener,
        settings,
        transports.clone(),
        core.clone(),
    ))
}

/// How long the TLS handshake and the HTTP request head may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections on a `ws`/`wss` listener, at most `[security] connections_per_ip`
/// from one address. Out of file descriptors, idle untrusted connections (of every stream
/// transport) are shed and the pending one is accepted and closed, as on TCP/TLS.
pub(crate) async fn serve_ws(
    listener: TcpListener,
    settings: WsSettings,
    transports: Transports,
    core: crate::shards::NetTx,
) {
    let bound = listener.local_addr().ok();
    crate::fd_reserve::keep();
    let mut accept_log = crate::fd_reserve::LogEvery::new(crate::transport::ACCEPT_LOG_EVERY);
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // out of file descriptors: as the TCP/TLS listeners do (fd_reserve.rs)
                crate::transport::accept_failed(&listener, &transports, &mut accept_log, e).await;
                continue;
            }
        };
        let Some(slot) = transports.guard().admit(remote.ip()) else {
            crate::metrics::limits::conn_refused(crate::metrics::limits::Refused::PerIp);
            tracing::debug!(?bound, source = %remote.ip(), "WebSocket connection refused: too many connections from this address (security.connections_per_ip)");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = settings.advertise.unwrap_or_else(|| {
            stream
                .local_addr()
                .unwrap_or_else(|_| bound.unwrap_or(remote))
        });
        let (settings, transports, core) = (settings.clone(), transports.clone(), core.clone());
        tokio::spawn(async move {
            let Some(config) = settings.tls.as_ref().map(|c| c.load_full()) else {
                let peer = (Transport::Ws, local, remote);
                return serve_http(stream, peer, settings, transports, core, slot).await;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(config).accept(stream))
                .await
            {
                Ok(Ok(s)) => {
                    crate::metrics::tls_handshake(crate::metrics::Handshake::Ok);
                    let peer = (Transport::Wss, local, remote);
                    serve_http(s, peer, settings, transports, core, slot).await;
                }
                Ok(Err(e)) => {
                    crate::metrics::tls_handshake(crate::metrics::Handshake::Failed);
                    tracing::info!(%remote, transport = "wss", "TLS handshake failed: {e}");
                }
                Err(_) => {
                    crate::metrics::tls_handshake(crate::metrics::Handshake::Timeout);
                    tracing::info!(%remote, transport = "wss", "TLS handshake timed out");
                }
            }
        });
    }
}

/// Reads the request head of one connection and acts on it: upgrade, page, or refusal.
async fn serve_http<S>(
    mut stream: S,
    (transport, local, remote): (Transport, SocketAddr, SocketAddr),
    settings: WsSettings,
    transports: Transports,
    core: crate::shards::NetTx,
    slot: IpSlot,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            if let Some(n) = handshake::head_len(&buf) {
                return Ok(n);
            }
            if buf.len() > handshake::MAX_HEAD {
                return Err(true);
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Err(false),
                Ok(_) => {}
            }
        }
    })
    .await;
    let n = match head {
        Ok(Ok(n)) => n,
        Ok(Err(true)) => {
            let _ = stream.write_all(&handshake::too_large()).await;
            let _ = stream.shutdown().await;
            return;
        }
        Ok(Err(false)) => return,
        Err(_) => {
            tracing::debug!(%remote, %transport, "no HTTP request head in time; closing");
            return;
        }
    };
    let rest = buf.split_off(n);
    match handshake::judge(&buf, transport == Transport::Wss, &settings.origins) {
        Answer::Refuse { response, why } => {
            tracing::info!(%remote, %transport, "WebSocket refused: {why}");
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        }
        Answer::Page { path, head_only } => {
            let response = crate::webphone::respond(&path, head_only);
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        }
        Answer::Upgrade { response } => {
            if stream.write_all(&response).await.is_err() {
                return;
            }
            let flow = conn::Flow {
                transport,
                local,
                remote,
                idle: settings.idle,
            };
            conn::run(stream, rest, flow, transports, core, slot).await;
        }
    }
}
