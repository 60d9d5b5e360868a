//! Connections we open: TCP and TLS to gateways. A device always connects to us, but a
//! carrier's gateway waits for our connection. [`crate::transport::Transports::send`] comes
//! here when it has no open connection to a peer: if the peer is a gateway address the routing
//! tables named ([`Dialer::set_targets`]), a connection is registered at once (so that what
//! is sent meanwhile queues behind the first message), dialed, TLS-handshaken with the
//! gateway's domain as the name to verify (RFC 5922 §4), then read and written like an
//! accepted one. A failed connection drops what was queued and logs a WARN: the INVITE's
//! client transaction then ends by its timers and the call fails over to the next server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use sip_message::{Peer, Transport};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::conn_limits::{ConnState, REGISTERED, TRUSTED};
use crate::transport::Transports;

/// How long a TCP connect plus the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What we need to dial one gateway address.
#[derive(Clone)]
pub(crate) struct DialTarget {
    /// The name the TLS certificate must carry (the gateway's configured domain).
    pub(crate) server_name: String,
    /// The trust anchors for that gateway (TLS only).
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for DialTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialTarget")
            .field("server_name", &self.server_name)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The gateway addresses we may connect to, and what accepted connections get too.
pub(crate) struct Dialer {
    core: crate::shards::NetTx,
    idle: Duration,
    targets: Mutex<HashMap<(Transport, SocketAddr), DialTarget>>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Dialer {
    pub(crate) fn new(core: crate::shards::NetTx, idle: Duration) -> Self {
        Self {
            core,
            idle,
            targets: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the dialable addresses (the routing reload calls it with every gateway's).
    pub(crate) fn set_targets(&self, targets: HashMap<(Transport, SocketAddr), DialTarget>) {
        *lock(&self.targets) = targets;
    }

    fn target(&self, transport: Transport, remote: SocketAddr) -> Option<DialTarget> {
        lock(&self.targets).get(&(transport, remote)).cloned()
    }
}

/// Opens a connection to `to` and sends `payload` first; false when `to` is not a gateway
/// address (nothing is done then).
pub(crate) fn dial(
    transports: &Transports,
    dialer: &Arc<Dialer>,
    to: &Peer,
    payload: Bytes,
) -> bool {
    let Some(target) = dialer.target(to.transport, to.remote) else {
        return false;
    };
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let _ = tx.try_send(payload);
    // a connection we opened to a gateway is trusted: the limits for strangers do not apply
    let state = Arc::new(ConnState::default());
    state.mark(TRUSTED | REGISTERED);
    let id = transports.register_conn(to.transport, to.remote, tx.clone(), state.clone());
    tracing::debug!(peer = %to, conn = id.0, "connecting to the gateway");
    let to = Peer {
        conn: Some(id),
        ..*to
    };
    let (transports, dialer) = (transports.clone(), dialer.clone());
    tokio::spawn(async move {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to.remote)).await;
        let stream = match stream {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return failed(&transports, id, &to, &e.to_string()),
            Err(_) => return failed(&transports, id, &to, "connect timed out"),
        };
        let _ = stream.set_nodelay(true);
        let (core, idle) = (dialer.core.clone(), dialer.idle);
        match (to.transport, target.tls) {
            (Transport::Tls, Some(config)) => {
                let Ok(name) = ServerName::try_from(target.server_name.clone()) else {
                    return failed(
                        &transports,
                        id,
                        &to,
                        "the gateway's domain is not a TLS name",
                    );
                };
                let connector = tokio_rustls::TlsConnector::from(config);
                match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream)).await {
                    Ok(Ok(s)) => {
                        tracing::info!(peer = %to, conn = id.0, server_name = %target.server_name, "TLS connection to the gateway open");
                        crate::transport::run_stream(s, to, state, transports, core, idle, tx, rx)
                            .await;
                    }
                    Ok(Err(e)) => failed(&transports, id, &to, &format!("TLS handshake: {e}")),
                    Err(_) => failed(&transports, id, &to, "TLS handshake timed out"),
                }
            }
            (Transport::Tcp, _) => {
                tracing::info!(peer = %to, conn = id.0, "TCP connection to the gateway open");
                crate::transport::run_stream(stream, to, state, transports, core, idle, tx, rx)
                    .await;
            }
            _ => failed(&transports, id, &to, "no TLS settings for this gateway"),
        }
    });
    true
}

fn failed(transports: &Transports, id: sip_message::ConnId, to: &Peer, why: &str) {
    tracing::warn!(peer = %to, "connection to the gateway failed: {why}; its queued messages are dropped");
    transports.drop_conn(id);
}

/// The TLS client settings for a gateway: trust `ca_file`'s certificates, or the system's
/// trust store without one.
pub(crate) fn client_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA file {}", path.display()))?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .with_context(|| format!("{} is not PEM", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("{} holds no PEM certificate", path.display());
            }
            for c in certs {
                roots
                    .add(c)
                    .with_context(|| format!("a certificate of {}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
