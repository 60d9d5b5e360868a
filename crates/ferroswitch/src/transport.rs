//! Transports: UDP sockets, TCP and TLS connections. Each inbound datagram/stream frame is
//! parsed and sanity-checked here (so a bad message costs only its own parse) and handed to the
//! dispatcher; the dispatcher sends through [`Transports::send`], which reuses the connection a
//! peer's request arrived on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sip_message::{ConnId, Framed, Message, MessageBuilder, Peer, StreamFramer, Transport};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A parsed, sanity-checked message and where it came from.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) msg: Message,
    pub(crate) from: Peer,
}

struct Conn {
    tx: mpsc::Sender<Bytes>,
    transport: Transport,
    remote: SocketAddr,
}

#[derive(Default)]
struct Inner {
    udp: Mutex<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    conns: Mutex<HashMap<ConnId, Conn>>,
    by_remote: Mutex<HashMap<(Transport, SocketAddr), ConnId>>,
    next_conn: AtomicU64,
}

/// The handle through which the dispatcher sends.
#[derive(Clone, Default)]
pub(crate) struct Transports {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports").finish_non_exhaustive()
    }
}

/// What became of a message given to [`Transports::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// On the socket, or queued for the connection's writer.
    Handed,
    /// Not sent: no socket, a datagram refused at once, or the connection's queue full.
    Failed,
    /// Not sent: no open connection to the TCP/TLS peer. Its flow is dead (RFC 5626 §4.4):
    /// we never open connections to devices.
    NoFlow,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Transports {
    /// Sends to a peer: UDP from the socket the peer talked to; TCP/TLS over the peer's
    /// connection (or any open connection to that address). Says whether the message was
    /// handed over; a failure is for the caller to report to the transaction layer.
    pub(crate) fn send(&self, to: &Peer, payload: &Bytes) -> Sent {
        crate::metrics::sip::sent(payload);
        match to.transport {
            Transport::Udp => {
                let sock = {
                    let udp = lock(&self.inner.udp);
                    udp.iter()
                        .find(|(a, _)| *a == to.local)
                        // a wildcard-bound socket: `to.local` holds the concrete address
                        .or_else(|| {
                            udp.iter().find(|(a, _)| {
                                a.ip().is_unspecified()
                                    && a.port() == to.local.port()
                                    && a.is_ipv4() == to.remote.is_ipv4()
                            })
                        })
                        .or_else(|| udp.iter().find(|(a, _)| a.is_ipv4() == to.remote.is_ipv4()))
                        .map(|(_, s)| s.clone())
                };
                let Some(sock) = sock else {
                    tracing::warn!(peer = %to, "no UDP socket to send from");
                    return Sent::Failed;
                };
                match sock.try_send_to(payload, to.remote) {
                    Ok(_) => Sent::Handed,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let remote = to.remote;
                        let payload = payload.clone();
                        tokio::spawn(async move {
                            if let Err(e) = sock.send_to(&payload, remote).await {
                                tracing::debug!(%remote, "UDP send failed: {e}");
                            }
                        });
                        Sent::Handed
                    }
                    Err(e) => {
                        tracing::debug!(peer = %to, "UDP send failed: {e}");
                        Sent::Failed
                    }
                }
            }
            Transport::Tcp | Transport::Tls => {
                let id = to
                    .conn
                    .filter(|c| lock(&self.inner.conns).contains_key(c))
                    .or_else(|| {
                        lock(&self.inner.by_remote)
                            .get(&(to.transport, to.remote))
                            .copied()
                    });
                let tx = id.and_then(|id| lock(&self.inner.conns).get(&id).map(|c| c.tx.clone()));
                match tx {
                    Some(tx) => {
                        if tx.try_send(payload.clone()).is_ok() {
                            Sent::Handed
                        } else {
                            tracing::warn!(peer = %to, "connection send queue full or closed; message dropped");
                            Sent::Failed
                        }
                    }
                    None => {
                        tracing::info!(peer = %to, "no open connection to peer; message dropped (the flow failed: the request fails at once)");
                        Sent::NoFlow
                    }
                }
            }
        }
    }

    fn register_conn(
        &self,
        transport: Transport,
        remote: SocketAddr,
        tx: mpsc::Sender<Bytes>,
    ) -> ConnId {
        let id = ConnId(self.inner.next_conn.fetch_add(1, Ordering::Relaxed) + 1);
        lock(&self.inner.conns).insert(
            id,
            Conn {
                tx,
                transport,
                remote,
            },
        );
        lock(&self.inner.by_remote).insert((transport, remote), id);
        id
    }

    fn drop_conn(&self, id: ConnId) {
        if let Some(c) = lock(&self.inner.conns).remove(&id) {
            let mut by = lock(&self.inner.by_remote);
            if by.get(&(c.transport, c.remote)) == Some(&id) {
                by.remove(&(c.transport, c.remote));
            }
        }
    }
}

/// Parses one message; answers 400/505 itself when a request is malformed but answerable.
/// Returns the message when it should go on to the dispatcher.
fn accept_message(raw: Bytes, from: &Peer, reply: impl FnOnce(Bytes)) -> Option<Message> {
    let msg = match Message::parse(raw) {
        Ok(m) => m,
        Err(e) => {
            crate::metrics::sip::unparsable();
            tracing::debug!(peer = %from, "dropping unparsable message: {e}");
            return None;
        }
    };
    if let Err(e) = msg.sanity_check() {
        crate::metrics::sip::malformed();
        if msg.is_request()
            && msg.method() != Some(&sip_message::Method::Ack)
            && msg.top_via().is_ok()
        {
            let code = e.status_code();
            let mut b = MessageBuilder::response_to(&msg, code, None, Some(from.remote));
            b.header(
                "Warning",
                format_args!("399 ferroswitch \"{}\"", e.to_string().replace('"', "'")),
            );
            tracing::debug!(peer = %from, status = code, "refusing malformed request: {e}");
            let response = b.finish();
            crate::metrics::sip::sent(&response);
            reply(response);
        } else {
            tracing::debug!(peer = %from, "dropping malformed message: {e}");
        }
        return None;
    }
    crate::metrics::sip::received(&msg);
    Some(msg)
}

pub(crate) fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Large buffers absorb load bursts instead of dropping datagrams.
    let _ = s.set_recv_buffer_size(16 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Registers a bound UDP socket for sending; the dispatcher reads it (see
/// [`crate::dispatcher::Dispatcher::run`]).
pub(crate) fn add_udp(
    transports: &Transports,
    sock: Arc<UdpSocket>,
) -> std::io::Result<SocketAddr> {
    let local = sock.local_addr()?;
    lock(&transports.inner.udp).push((local, sock));
    Ok(local)
}

/// Registers `public` (a listener's advertised address, 1:1 NAT) as another name of a bound
/// UDP socket: messages to peers whose `local` is the public address leave from that socket.
pub(crate) fn add_udp_alias(transports: &Transports, public: SocketAddr, sock: Arc<UdpSocket>) {
    lock(&transports.inner.udp).push((public, sock));
}

/// The address we are reached at by `remote` through a socket bound to `local`: `local` itself,
/// unless it is a wildcard (0.0.0.0 / ::), then the source address the kernel's routing picks
/// for `remote` (found once per remote address with a connected, never-used UDP socket, then
/// cached). This is what goes into our Via sent-by and Contact: a peer cannot answer 0.0.0.0.
pub(crate) fn concrete_local(local: SocketAddr, remote: SocketAddr) -> SocketAddr {
    use std::cell::RefCell;
    use std::net::IpAddr;
    thread_local! {
        static ROUTES: RefCell<HashMap<IpAddr, IpAddr>> = RefCell::new(HashMap::new());
    }
    if !local.ip().is_unspecified() {
        return local;
    }
    let ip = ROUTES.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(ip) = r.get(&remote.ip()) {
            return *ip;
        }
        let found = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0))
            .and_then(|s| s.connect(remote).and_then(|()| s.local_addr()))
            .map_or(local.ip(), |a| a.ip());
        if r.len() >= 65_536 {
            r.clear();
        }
        r.insert(remote.ip(), found);
        found
    });
    SocketAddr::new(ip, local.port())
}

/// [`concrete_local`] applied to a peer's local address.
pub(crate) fn concrete(mut peer: Peer) -> Peer {
    peer.local = concrete_local(peer.local, peer.remote);
    peer
}

/// Classifies one datagram: keep-alives are skipped, STUN Binding requests answered on `sock`;
/// anything else is parsed and sanity-checked, malformed requests answered on `sock`.
pub(crate) fn accept_datagram(
    sock: &UdpSocket,
    local: SocketAddr,
    data: &[u8],
    remote: SocketAddr,
) -> Option<Inbound> {
    if data.iter().all(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return None; // keep-alive
    }
    if data[0] <= 0x03 {
        // STUN shares the SIP socket (RFC 7983: a first byte of 0..3 is STUN, SIP starts with
        // a letter): Binding requests are answered here, anything else is dropped
        if let Some(resp) = crate::media::stun_on_sip_socket(data, remote) {
            let _ = sock.try_send_to(&resp, remote);
        }
        return None;
    }
    let from = Peer {
        transport: Transport::Udp,
        remote,
        local: concrete_local(local, remote),
        conn: None,
    };
    let msg = accept_message(Bytes::copy_from_slice(data), &from, |r| {
        let _ = sock.try_send_to(&r, remote);
    })?;
    Some(Inbound { msg, from })
}

/// Accepts TCP (or, with `tls`, TLS) connections. A connection that stays silent for `idle`
/// (no message, no keep-alive) is closed. With `advertise` (1:1 NAT) the connections' local
/// address — what our Via, Record-Route and Contact name — is the public one.
pub(crate) async fn serve_tcp(
    listener: TcpListener,
    tls: Option<crate::reload::TlsConfig>,
    transports: Transports,
    core: mpsc::Sender<Inbound>,
    idle: Duration,
    advertise: Option<SocketAddr>,
) {
    let local = listener.local_addr().ok();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(?local, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = advertise.unwrap_or_else(|| {
            stream
                .local_addr()
                .unwrap_or_else(|_| local.unwrap_or(remote))
        });
        let transports = transports.clone();
        let core = core.clone();
        match &tls {
            None => {
                tokio::spawn(serve_stream(
                    stream,
                    Transport::Tcp,
                    local,
                    remote,
                    transports,
                    core,
                    idle,
                ));
            }
            Some(config) => {
                // the config in force now: a reload swaps it for later handshakes only
                let acceptor = TlsAcceptor::from(config.load_full());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => {
                            crate::metrics::tls_handshake(crate::metrics::Handshake::Ok);
                            serve_stream(s, Transport::Tls, local, remote, transports, core, idle)
                                .await
                        }
                        Ok(Err(e)) => {
                            crate::metrics::tls_handshake(crate::metrics::Handshake::Failed);
                            tracing::info!(%remote, transport = "tls", "TLS handshake failed: {e}");
                        }
                        Err(_) => {
                            crate::metrics::tls_handshake(crate::metrics::Handshake::Timeout);
                            tracing::info!(%remote, transport = "tls", "TLS handshake timed out");
                        }
                    }
                });
            }
        }
    }
}

async fn serve_stream<S>(
    stream: S,
    transport: Transport,
    local: SocketAddr,
    remote: SocketAddr,
    transports: Transports,
    core: mpsc::Sender<Inbound>,
    idle: Duration,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
    let id = transports.register_conn(transport, remote, tx.clone());
    tracing::debug!(%remote, conn = id.0, %transport, "connection open");
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let from = Peer {
        transport,
        remote,
        local,
        conn: Some(id),
    };
    let mut buf = BytesMut::with_capacity(8192);
    let mut framer = StreamFramer::new();
    'read: loop {
        match tokio::time::timeout(idle, rd.read_buf(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => {
                tracing::debug!(%remote, conn = id.0, %transport, "closing {transport} connection idle for {idle:?}");
                break;
            }
        }
        loop {
            match framer.next(&buf) {
                Ok(Framed::Ping(n)) => {
                    let _ = buf.split_to(n);
                    let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                }
                Ok(Framed::Pong(n)) => {
                    let _ = buf.split_to(n);
                }
                Ok(Framed::Message(n)) => {
                    let raw = buf.split_to(n).freeze();
                    if let Some(msg) = accept_message(raw, &from, |r| {
                        let _ = tx.try_send(r);
                    }) {
                        if core.send(Inbound { msg, from }).await.is_err() {
                            break 'read;
                        }
                    }
                }
                Err(sip_message::Error::Incomplete) => break,
                Err(e) => {
                    tracing::info!(%remote, conn = id.0, %transport, "closing {transport} connection: unframeable stream: {e}");
                    break 'read;
                }
            }
        }
    }
    transports.drop_conn(id);
    drop(tx);
    let _ = writer.await;
    tracing::debug!(%remote, conn = id.0, %transport, "connection closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(transport: Transport, remote: &str, conn: Option<ConnId>) -> Peer {
        Peer {
            transport,
            remote: remote.parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn,
        }
    }

    /// A connection silent for the idle time is closed (and forgotten); traffic, even a
    /// CRLFCRLF keep-alive, keeps it open.
    #[tokio::test(start_paused = true)]
    async fn silent_connections_are_closed() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let t = Transports::default();
        let (core_tx, _core_rx) = mpsc::channel(4);
        let (mut client, server) = tokio::io::duplex(4096);
        let remote: SocketAddr = "192.0.2.9:5555".parse().unwrap();
        let task = tokio::spawn(serve_stream(
            server,
            Transport::Tcp,
            "127.0.0.1:5060".parse().unwrap(),
            remote,
            t.clone(),
            core_tx,
            Duration::from_secs(60),
        ));
        tokio::time::sleep(Duration::from_secs(50)).await;
        client.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        client.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\r\n");
        tokio::time::sleep(Duration::from_secs(50)).await;
        assert!(!task.is_finished(), "a keep-alive restarts the idle time");
        assert!(lock(&t.inner.by_remote).contains_key(&(Transport::Tcp, remote)));
        tokio::time::sleep(Duration::from_secs(20)).await;
        task.await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(
            client.read_to_end(&mut rest).await.unwrap(),
            0,
            "closed by the server"
        );
        assert!(
            lock(&t.inner.by_remote)
                .get(&(Transport::Tcp, remote))
                .is_none(),
            "forgotten"
        );
    }

    /// A request to a device goes over the connection it registered on; when that connection
    /// is gone, over another open connection to the same address; otherwise nowhere.
    #[test]
    fn sends_over_the_registered_flow() {
        let t = Transports::default();
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, mut rx2) = mpsc::channel(4);
        let c1 = t.register_conn(Transport::Tls, "192.0.2.1:40000".parse().unwrap(), tx1);
        let c2 = t.register_conn(Transport::Tls, "192.0.2.2:40000".parse().unwrap(), tx2);
        t.send(
            &peer(Transport::Tls, "192.0.2.1:40000", Some(c1)),
            &Bytes::from_static(b"one"),
        );
        t.send(
            &peer(Transport::Tls, "192.0.2.2:40000", Some(c2)),
            &Bytes::from_static(b"two"),
        );
        assert_eq!(rx1.try_recv().unwrap(), Bytes::from_static(b"one"));
        assert_eq!(rx2.try_recv().unwrap(), Bytes::from_static(b"two"));
        // binding restored after a restart (no connection id): matched by transport + address
        t.send(
            &peer(Transport::Tls, "192.0.2.1:40000", None),
            &Bytes::from_static(b"three"),
        );
        assert_eq!(rx1.try_recv().unwrap(), Bytes::from_static(b"three"));
        // the connection closed: nothing is sent anywhere else
        t.drop_conn(c1);
        assert_eq!(
            t.send(
                &peer(Transport::Tls, "192.0.2.1:40000", Some(c1)),
                &Bytes::from_static(b"four"),
            ),
            Sent::NoFlow
        );
        assert!(rx1.try_recv().is_err());
        assert!(rx2.try_recv().is_err());
        // a TCP peer does not match a TLS connection to the same address
        assert_eq!(
            t.send(
                &peer(Transport::Tcp, "192.0.2.2:40000", None),
                &Bytes::from_static(b"five"),
            ),
            Sent::NoFlow
        );
        assert!(rx2.try_recv().is_err());
    }
}
