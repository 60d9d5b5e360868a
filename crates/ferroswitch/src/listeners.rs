//! Binds every listener the config names — SIP (UDP, TCP, TLS, WS, WSS), STUN and the admin API —
//! before anything else happens at start (no database opened, no certificate generated), so a
//! busy port stops the server at once with an error that says which setting to change.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;
use ferroswitch_config::{Config, Origin, Transport};
use tokio::net::{TcpListener, UdpSocket};

/// A bound SIP UDP socket.
#[derive(Debug)]
pub(crate) struct BoundUdp {
    pub(crate) socket: Arc<UdpSocket>,
    /// Core shards 1.. read these: `SO_REUSEPORT` sockets on the same address (`shards.rs`).
    pub(crate) more: Vec<Arc<UdpSocket>>,
    /// The address the socket is bound to.
    pub(crate) local: SocketAddr,
    /// The address put in our Via, Record-Route and Contact instead (1:1 NAT), if configured.
    pub(crate) advertise: Option<SocketAddr>,
}

/// A bound SIP TCP or TLS listener.
#[derive(Debug)]
pub(crate) struct BoundStream {
    pub(crate) listener: TcpListener,
    pub(crate) transport: Transport,
    pub(crate) advertise: Option<SocketAddr>,
    /// WebSocket listeners: the browser origins allowed (see [`crate::ws`]).
    pub(crate) allowed_origins: Vec<String>,
}

/// Every socket the server listens on, bound.
#[derive(Debug, Default)]
pub(crate) struct Bound {
    pub(crate) udp: Vec<BoundUdp>,
    pub(crate) streams: Vec<BoundStream>,
    pub(crate) stun: Option<UdpSocket>,
    pub(crate) admin: Option<TcpListener>,
    /// The call-control API (`[api]`).
    pub(crate) api: Option<TcpListener>,
}

/// Binds every listener of `config`; the first that fails stops the start with an error naming
/// the setting (file, line, key — or the command-line option) to change.
pub(crate) async fn bind_all(config: &Config, shards: usize) -> anyhow::Result<Bound> {
    let mut bound = Bound::default();
    for l in &config.listeners {
        let fail = |e: std::io::Error| {
            bind_error(&config.source, &e, l.transport.as_str(), l.addr, &l.origin)
        };
        match l.transport {
            Transport::Udp => {
                // A socket with SO_REUSEPORT joins any group of the same user on that port:
                // another ferroswitch's (port 0 may even pick one). So the address is taken
                // first without it: a busy port fails here as with one shard, and port 0 gets a
                // port nobody holds; with shards, they then bind that address.
                let first = crate::transport::bind_udp(l.addr, false).map_err(fail)?;
                let socket = if shards > 1 {
                    let local = first.local_addr().map_err(fail)?;
                    drop(first);
                    crate::transport::bind_udp(local, true).map_err(fail)?
                } else {
                    first
                };
                let local = socket.local_addr().map_err(fail)?;
                // the other shards' sockets on the same (now concrete) address
                let mut more = Vec::with_capacity(shards.saturating_sub(1));
                for _ in 1..shards {
                    more.push(Arc::new(
                        crate::transport::bind_udp(local, true).map_err(fail)?,
                    ));
                }
                // the kernel reads our tokens off most of a call's datagrams and gives them
                // to their shard's socket; without the program it hashes the 4-tuple alone
                let steer = if config.udp_steering { shards } else { 1 };
                match crate::transport::steer_udp(&socket, steer) {
                    Ok(true) => {
                        tracing::debug!(%local, shards, "udp datagrams steered to their shard")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(%local, "udp datagrams not steered to their core shard (SO_ATTACH_REUSEPORT_CBPF: {e}): each shard hands a stranger to its owner, which costs CPU")
                    }
                }
                bound.udp.push(BoundUdp {
                    socket: Arc::new(socket),
                    more,
                    local,
                    advertise: l.advertise.map(|a| a.addr(local)),
                });
            }
            transport => {
                let listener = TcpListener::bind(l.addr).await.map_err(fail)?;
                let local = listener.local_addr().map_err(fail)?;
                bound.streams.push(BoundStream {
                    listener,
                    transport,
                    advertise: l.advertise.map(|a| a.addr(local)),
                    allowed_origins: l.allowed_origins.clone(),
                });
            }
        }
    }
    if let Some(stun) = &config.stun {
        let socket = UdpSocket::bind(stun.addr)
            .await
            .map_err(|e| bind_error(&config.source, &e, "STUN", stun.addr, &stun.origin))?;
        bound.stun = Some(socket);
    }
    if let Some(admin) = &config.admin {
        let listener = TcpListener::bind(admin.listen).await.map_err(|e| {
            bind_error(&config.source, &e, "admin API", admin.listen, &admin.origin)
        })?;
        bound.admin = Some(listener);
    }
    if let Some(api) = &config.api {
        let listener = TcpListener::bind(api.listen).await.map_err(|e| {
            bind_error(
                &config.source,
                &e,
                "call-control API",
                api.listen,
                &api.origin,
            )
        })?;
        bound.api = Some(listener);
    }
    Ok(bound)
}

/// "cannot listen on udp 0.0.0.0:5060: Address already in use (os error 98): another program
/// (or another ferroswitch) holds this port; change listener[0].address
/// (etc/ferroswitch.toml:21), or override it for this run: ferroswitch run --sip PORT"
fn bind_error(
    file: &Path,
    e: &std::io::Error,
    what: &str,
    addr: SocketAddr,
    origin: &Origin,
) -> anyhow::Error {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another program (or another ferroswitch) holds this port; "
        }
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need root or CAP_NET_BIND_SERVICE; "
        }
        std::io::ErrorKind::AddrNotAvailable => "this host has no such address; ",
        _ => "",
    };
    let flag = crate::run_options::flag_for(what);
    let change = match origin.describe(file) {
        Some(setting) => format!("change {setting}"),
        None => format!("change it in {}", file.display()),
    };
    let hint = match flag {
        _ if matches!(origin, Origin::CommandLine { .. }) => change,
        Some(flag) => format!("{change}, or override it for this run: ferroswitch run {flag}"),
        None => change,
    };
    anyhow!("cannot listen on {what} {addr}: {e}: {why}{hint}")
}
