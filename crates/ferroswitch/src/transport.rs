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

use crate::conn_limits::{Buffered, ConnState, Guard, IpSlot, StreamLimits, REGISTERED};
use crate::metrics::limits::Closed;
use crate::striped::Striped;

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
    state: Arc<ConnState>,
}

#[derive(Default)]
struct Inner {
    /// Every shard sends through these on its per-message path: lock stripes, not one mutex.
    conns: Striped<ConnId, Conn>,
    by_remote: Striped<(Transport, SocketAddr), ConnId>,
    next_conn: AtomicU64,
    /// Connection limits ([`crate::conn_limits`]).
    guard: Arc<Guard>,
    /// Connections we may open ourselves (gateways), see [`crate::outbound`].
    dialer: Mutex<Option<Arc<crate::outbound::Dialer>>>,
}

/// The handle through which the dispatcher sends.
#[derive(Clone, Default)]
pub(crate) struct Transports {
    inner: Arc<Inner>,
    /// The UDP sockets this handle sends from: each core shard has its own (`SO_REUSEPORT`
    /// sockets on the same addresses, [`Self::for_shard`]); the connections are shared.
    udp: Arc<UdpSockets>,
}

/// The UDP sockets one handle sends from, by local address.
type UdpSockets = Mutex<Vec<(SocketAddr, Arc<UdpSocket>)>>;

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
    /// A handle for another core shard: the same connections, UDP sockets of its own (none
    /// until [`add_udp`]).
    pub(crate) fn for_shard(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            udp: Arc::default(),
        }
    }

    /// Sends to a peer: UDP from the socket the peer talked to; TCP/TLS over the peer's
    /// connection (or any open connection to that address). Says whether the message was
    /// handed over; a failure is for the caller to report to the transaction layer.
    pub(crate) fn send(&self, to: &Peer, payload: &Bytes) -> Sent {
        crate::metrics::sip::sent(payload);
        match to.transport {
            Transport::Udp => {
                let sock = {
                    let udp = lock(&self.udp);
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
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                let conns = &self.inner.conns;
                let tx = to
                    .conn
                    .and_then(|id| conns.read(&id, |c| c.tx.clone()))
                    .or_else(|| {
                        let id = self
                            .inner
                            .by_remote
                            .read(&(to.transport, to.remote), |id| *id)?;
                        conns.read(&id, |c| c.tx.clone())
                    });
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
                        let dialer = lock(&self.inner.dialer).clone();
                        if dialer
                            .is_some_and(|d| crate::outbound::dial(self, &d, to, payload.clone()))
                        {
                            return Sent::Handed;
                        }
                        tracing::info!(peer = %to, "no open connection to peer; message dropped (the flow failed: the request fails at once)");
                        Sent::NoFlow
                    }
                }
            }
        }
    }

    /// Marks connection `conn` (if any: UDP peers have none) with [`crate::conn_limits`]
    /// flags: it carried an authenticated request, or a registration.
    pub(crate) fn mark(&self, conn: Option<ConnId>, flags: u8) {
        if let Some(c) = conn.and_then(|id| self.inner.conns.read(&id, |c| c.state.clone())) {
            c.mark(flags);
        }
    }

    /// The connection limits every stream transport (TCP, TLS, WebSocket) shares.
    pub(crate) fn guard(&self) -> &Arc<Guard> {
        &self.inner.guard
    }

    /// New connection limits (a reload).
    pub(crate) fn set_stream_limits(&self, limits: StreamLimits) {
        self.inner.guard.set_limits(limits);
    }

    /// Tells up to `max` untrusted connections to close, the longest idle first (file
    /// descriptors ran out); returns how many.
    pub(crate) fn shed_untrusted(&self, max: usize) -> usize {
        let now = tokio::time::Instant::now();
        let guard = &self.inner.guard;
        let mut idle: Vec<_> = self.inner.conns.collect(|c| {
            (!c.state.trusted()).then(|| (guard.idle_for(&c.state, now), c.state.clone()))
        });
        idle.sort_by_key(|c| std::cmp::Reverse(c.0));
        idle.truncate(max);
        for (_, c) in &idle {
            c.close.notify_one();
        }
        idle.len()
    }

    /// Lets [`Self::send`] open connections to the gateways `dialer` knows.
    pub(crate) fn set_dialer(&self, dialer: Arc<crate::outbound::Dialer>) {
        *lock(&self.inner.dialer) = Some(dialer);
    }

    pub(crate) fn register_conn(
        &self,
        transport: Transport,
        remote: SocketAddr,
        tx: mpsc::Sender<Bytes>,
        state: Arc<ConnState>,
    ) -> ConnId {
        let id = ConnId(self.inner.next_conn.fetch_add(1, Ordering::Relaxed) + 1);
        self.inner.conns.insert(
            id,
            Conn {
                tx,
                transport,
                remote,
                state,
            },
        );
        self.inner.by_remote.insert((transport, remote), id);
        id
    }

    pub(crate) fn drop_conn(&self, id: ConnId) {
        if let Some(c) = self.inner.conns.remove(&id) {
            // unless a newer connection from the same address took the entry over
            self.inner
                .by_remote
                .remove_if(&(c.transport, c.remote), |by| *by == id);
        }
    }
}

/// Parses one message; answers 400/505 itself when a request is malformed but answerable.
/// Returns the message when it should go on to the dispatcher.
pub(crate) fn accept_message(
    raw: Bytes,
    from: &Peer,
    reply: impl FnOnce(Bytes),
) -> Option<Message> {
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
            b.warning(&e);
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

/// Binds a UDP socket; with `shared`, with `SO_REUSEPORT`, so that each core shard binds its
/// own on the same address and the kernel spreads the datagrams over them (by 4-tuple).
pub(crate) fn bind_udp(addr: SocketAddr, shared: bool) -> std::io::Result<UdpSocket> {
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
    if shared {
        s.set_reuse_port(true)?;
    }
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Gives the `SO_REUSEPORT` group of `socket` (socket `i` of the group bound by shard `i`) the
/// steering program of `count` shards (`sip_message::steer`): the kernel then puts a datagram
/// it can place on its owner's socket instead of the one its 4-tuple hashes to. `Ok(false)`
/// with one shard (no group).
///
/// The one `unsafe` block of the server: no safe wrapper (socket2, nix) has this option.
#[allow(unsafe_code)]
pub(crate) fn steer_udp(socket: &UdpSocket, count: usize) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let Some(prog) = sip_message::steer::program(count) else {
        return Ok(false);
    };
    let mut filter: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `filter`, alive for the call; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            std::ptr::addr_of!(fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(true)
}

/// Registers a bound UDP socket for sending; the dispatcher reads it (see
/// [`crate::dispatcher::Dispatcher::run`]).
pub(crate) fn add_udp(
    transports: &Transports,
    sock: Arc<UdpSocket>,
) -> std::io::Result<SocketAddr> {
    let local = sock.local_addr()?;
    lock(&transports.udp).push((local, sock));
    Ok(local)
}

/// Registers `public` (a listener's advertised address, 1:1 NAT) as another name of a bound
/// UDP socket: messages to peers whose `local` is the public address leave from that socket.
pub(crate) fn add_udp_alias(transports: &Transports, public: SocketAddr, sock: Arc<UdpSocket>) {
    lock(&transports.udp).push((public, sock));
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
    accept_datagram_bytes(sock, local, Bytes::copy_from_slice(data), remote)
}

/// A SIP datagram already copied out of the receive buffer (one another shard read and handed
/// over): parsed and checked as [`accept_datagram`] does.
pub(crate) fn accept_datagram_bytes(
    sock: &UdpSocket,
    local: SocketAddr,
    data: Bytes,
    remote: SocketAddr,
) -> Option<Inbound> {
    let from = Peer {
        transport: Transport::Udp,
        remote,
        local: concrete_local(local, remote),
        conn: None,
    };
    let msg = accept_message(data, &from, |r| {
        let _ = sock.try_send_to(&r, remote);
    })?;
    Some(Inbound { msg, from })
}

/// Accepts TCP (or, with `tls`, TLS) connections, at most `[security] connections_per_ip` from
/// one address. A connection that carries a registration and stays silent for `idle` (no
/// message, no keep-alive) is closed; others after `idle_timeout` without a message (see
/// [`crate::conn_limits`]). With `advertise` (1:1 NAT) the connections' local address — what
/// our Via, Record-Route and Contact name — is the public one. Out of file descriptors, the
/// listener sheds idle untrusted connections and closes the pending one
/// ([`crate::fd_reserve`]), logging once per [`ACCEPT_LOG_EVERY`].
pub(crate) async fn serve_tcp(
    listener: TcpListener,
    tls: Option<crate::reload::TlsConfig>,
    transports: Transports,
    core: crate::shards::NetTx,
    idle: Duration,
    advertise: Option<SocketAddr>,
) {
    let local = listener.local_addr().ok();
    crate::fd_reserve::keep();
    let mut accept_log = crate::fd_reserve::LogEvery::new(ACCEPT_LOG_EVERY);
    let mut refused_log = crate::fd_reserve::LogEvery::new(ACCEPT_LOG_EVERY);
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                accept_failed(&listener, &transports, &mut accept_log, e).await;
                continue;
            }
        };
        let Some(slot) = transports.inner.guard.admit(remote.ip()) else {
            crate::metrics::limits::conn_refused(crate::metrics::limits::Refused::PerIp);
            if let Some(held_back) = refused_log.tick(tokio::time::Instant::now()) {
                tracing::info!(?local, source = %remote.ip(), held_back, "connection refused: too many connections from this address (security.connections_per_ip)");
            }
            continue;
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
                    Some(slot),
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
                            serve_stream(
                                s,
                                Transport::Tls,
                                local,
                                remote,
                                transports,
                                core,
                                idle,
                                Some(slot),
                            )
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

/// How often the `accept failed` line is logged at most, per listener.
pub(crate) const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);
/// Untrusted connections closed at once when file descriptors run out.
pub(crate) const SHED_AT_ONCE: usize = 16;

/// A failed `accept` on a stream listener (TCP, TLS, WS, WSS): out of file descriptors, the
/// untrusted connections are shed and one pending connection is accepted and closed on the
/// spare descriptor (`fd_reserve.rs`); the failure is logged at most every
/// [`ACCEPT_LOG_EVERY`], and the loop pauses before its next `accept`.
pub(crate) async fn accept_failed(
    listener: &TcpListener,
    transports: &Transports,
    log: &mut crate::fd_reserve::LogEvery,
    e: std::io::Error,
) {
    let exhausted = crate::fd_reserve::exhausted(&e);
    let mut shed = 0;
    if exhausted {
        shed = transports.shed_untrusted(SHED_AT_ONCE);
        if crate::fd_reserve::accept_and_close(listener).await {
            crate::metrics::limits::conn_refused(crate::metrics::limits::Refused::FdLimit);
        }
    }
    if let Some(held_back) = log.tick(tokio::time::Instant::now()) {
        let local = listener.local_addr().ok();
        tracing::warn!(?local, shed, held_back, "accept failed: {e}");
    }
    let pause = if exhausted { 10 } else { 50 };
    tokio::time::sleep(Duration::from_millis(pause)).await;
}

/// Waits for a closed connection's writer task to flush, at most 5 s: a peer that reads
/// nothing must not keep the descriptor.
pub(crate) async fn finish_writer(writer: tokio::task::JoinHandle<()>) {
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "the connection's own parts; a struct would only rename them"
)]
async fn serve_stream<S>(
    stream: S,
    transport: Transport,
    local: SocketAddr,
    remote: SocketAddr,
    transports: Transports,
    core: crate::shards::NetTx,
    idle: Duration,
    slot: Option<IpSlot>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let state = Arc::new(ConnState::default());
    let id = transports.register_conn(transport, remote, tx.clone(), state.clone());
    tracing::debug!(%remote, conn = id.0, %transport, "connection open");
    let peer = Peer {
        transport,
        remote,
        local,
        conn: Some(id),
    };
    run_stream(stream, peer, state, transports, core, idle, tx, rx).await;
    drop(slot);
}

/// Reads and writes a connection registered as `from.conn` (accepted, or opened by
/// [`crate::outbound`]) until it closes, stays silent for `idle` or breaks a limit of
/// [`crate::conn_limits`] (`state` says what it may); then forgets it.
#[allow(
    clippy::too_many_arguments,
    reason = "the connection's own parts; a struct would only rename them"
)]
pub(crate) async fn run_stream<S>(
    stream: S,
    from: Peer,
    state: Arc<ConnState>,
    transports: Transports,
    core: crate::shards::NetTx,
    idle: Duration,
    tx: mpsc::Sender<Bytes>,
    mut rx: mpsc::Receiver<Bytes>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (transport, remote) = (from.transport, from.remote);
    let Some(id) = from.conn else { return };
    let (mut rd, mut wr) = tokio::io::split(stream);
    let guard = transports.inner.guard.clone();
    guard.touch(&state, tokio::time::Instant::now());
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut buf = BytesMut::with_capacity(8192);
    let mut framer = StreamFramer::new();
    let mut held = Buffered::new(guard.clone());
    // when the first byte of the message in progress came
    let mut started: Option<tokio::time::Instant> = None;
    let closed: Option<Closed> = 'read: loop {
        let limits = guard.limits();
        let now = tokio::time::Instant::now();
        let idle_for = if state.flags() & REGISTERED != 0 {
            idle
        } else {
            limits.idle_timeout
        };
        let mut deadline = now + idle_for.saturating_sub(guard.idle_for(&state, now));
        let mut why = Closed::Idle;
        if let Some(t) = started {
            if t + limits.message_timeout < deadline {
                deadline = t + limits.message_timeout;
                why = Closed::MessageTimeout;
            }
        }
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, rd.read_buf(&mut buf)) => r,
            () = state.close.notified() => break 'read Some(Closed::Shed),
        };
        match read {
            Ok(Ok(0) | Err(_)) => break None,
            Ok(Ok(_)) => {}
            Err(_) => break Some(why),
        }
        let now = tokio::time::Instant::now();
        let mut framed = false;
        loop {
            match framer.next(&buf) {
                Ok(Framed::Ping(n)) => {
                    let _ = buf.split_to(n);
                    let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                    // a keep-alive keeps a registered device's flow, not an idle stranger
                    if state.flags() & REGISTERED != 0 {
                        guard.touch(&state, now);
                    }
                    framed = true;
                }
                Ok(Framed::Pong(n)) => {
                    let _ = buf.split_to(n);
                    framed = true;
                }
                Ok(Framed::Message(n)) => {
                    if !state.trusted() && n > limits.unauthenticated_message_max {
                        break 'read Some(Closed::TooLarge);
                    }
                    let raw = buf.split_to(n).freeze();
                    guard.touch(&state, now);
                    framed = true;
                    if let Some(msg) = accept_message(raw, &from, |r| {
                        let _ = tx.try_send(r);
                    }) {
                        if core.send(Inbound { msg, from }).await.is_err() {
                            break 'read None;
                        }
                    }
                }
                Err(sip_message::Error::Incomplete) => break,
                Err(e) => {
                    tracing::info!(%remote, conn = id.0, %transport, "closing {transport} connection: unframeable stream: {e}");
                    break 'read None;
                }
            }
        }
        if buf.is_empty() {
            started = None;
        } else if framed || started.is_none() {
            started = Some(now);
        }
        let total = held.set(buf.len());
        if let Some(why) = crate::conn_limits::judge(&limits, state.trusted(), buf.len(), total) {
            break Some(why);
        }
    };
    if let Some(why) = closed {
        crate::metrics::limits::conn_closed(why);
        let trusted = state.trusted();
        match why {
            Closed::Idle => {
                tracing::debug!(%remote, conn = id.0, %transport, trusted, "closing {transport} connection: idle")
            }
            _ => {
                tracing::info!(%remote, conn = id.0, %transport, trusted, buffered = buf.len(), reason = why.as_str(), "closing {transport} connection")
            }
        }
    }
    drop(held);
    drop(buf);
    transports.drop_conn(id);
    drop(tx);
    finish_writer(writer).await;
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

    /// A registered device's connection silent for the idle time is closed (and forgotten);
    /// traffic, even a CRLFCRLF keep-alive, keeps it open.
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
            crate::shards::NetTx::new(vec![core_tx]),
            Duration::from_secs(60),
            None,
        ));
        tokio::task::yield_now().await;
        t.mark(Some(ConnId(1)), REGISTERED);
        tokio::time::sleep(Duration::from_secs(50)).await;
        client.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        client.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\r\n");
        tokio::time::sleep(Duration::from_secs(50)).await;
        assert!(!task.is_finished(), "a keep-alive restarts the idle time");
        assert!(t
            .inner
            .by_remote
            .read(&(Transport::Tcp, remote), |_| ())
            .is_some());
        tokio::time::sleep(Duration::from_secs(20)).await;
        task.await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(
            client.read_to_end(&mut rest).await.unwrap(),
            0,
            "closed by the server"
        );
        assert!(
            t.inner
                .by_remote
                .read(&(Transport::Tcp, remote), |_| ())
                .is_none(),
            "forgotten"
        );
    }

    /// Starts a connection task on a duplex pipe with `limits`; registered flows idle 3600 s.
    fn connect(
        limits: StreamLimits,
    ) -> (
        Transports,
        tokio::io::DuplexStream,
        tokio::task::JoinHandle<()>,
        mpsc::Receiver<Inbound>,
    ) {
        let t = Transports::default();
        t.set_stream_limits(limits);
        let (core_tx, core_rx) = mpsc::channel(4);
        let (client, server) = tokio::io::duplex(1 << 20);
        let task = tokio::spawn(serve_stream(
            server,
            Transport::Tcp,
            "127.0.0.1:5060".parse().unwrap(),
            "192.0.2.9:5555".parse().unwrap(),
            t.clone(),
            crate::shards::NetTx::new(vec![core_tx]),
            Duration::from_secs(3600),
            None,
        ));
        (t, client, task, core_rx)
    }

    const OPTIONS: &str = "OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.9:5555;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    /// A connection that carries no registration is closed `idle_timeout` after its last
    /// message; its keep-alives are answered but do not keep it.
    #[tokio::test(start_paused = true)]
    async fn unregistered_connections_idle_out_despite_pings() {
        use tokio::io::AsyncWriteExt as _;
        let (_t, mut client, task, mut core) = connect(StreamLimits {
            idle_timeout: Duration::from_secs(30),
            ..StreamLimits::default()
        });
        tokio::time::sleep(Duration::from_secs(20)).await;
        client.write_all(OPTIONS.as_bytes()).await.unwrap();
        assert!(core.recv().await.is_some());
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            client.write_all(b"\r\n\r\n").await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!task.is_finished(), "29 s after the message");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(task.is_finished(), "31 s after the message, pings or not");
    }

    /// A message trickled a byte a second is cut off `message_timeout` after its first byte.
    #[tokio::test(start_paused = true)]
    async fn a_slow_message_is_cut_off_at_its_deadline() {
        use tokio::io::AsyncWriteExt as _;
        let (t, mut client, task, _core) = connect(StreamLimits {
            message_timeout: Duration::from_secs(10),
            ..StreamLimits::default()
        });
        let started = tokio::time::Instant::now();
        for b in OPTIONS.as_bytes().iter().take(40) {
            if client.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if task.is_finished() {
                break;
            }
        }
        assert!(task.is_finished());
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took <= Duration::from_secs(12),
            "{took:?}"
        );
        assert_eq!(t.inner.guard.buffered(), 0, "its buffer is given back");
    }

    /// Before authentication a message may be `unauthenticated_message_max` bytes; after, the
    /// parser's limits apply.
    #[tokio::test(start_paused = true)]
    async fn big_messages_need_a_trusted_connection() {
        use tokio::io::AsyncWriteExt as _;
        let body = "x".repeat(8000);
        let big = OPTIONS.replace(
            "Content-Length: 0",
            &format!("Content-Type: text/plain\r\nContent-Length: {}", body.len()),
        ) + &body;
        let limits = StreamLimits {
            unauthenticated_message_max: 4096,
            ..StreamLimits::default()
        };
        let (_t, mut client, task, mut core) = connect(limits);
        client.write_all(OPTIONS.as_bytes()).await.unwrap();
        assert!(core.recv().await.is_some(), "a small one passes");
        client.write_all(big.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(task.is_finished(), "a big one closes the connection");
        assert!(core.try_recv().is_err());

        let (t, mut client, task, mut core) = connect(limits);
        tokio::task::yield_now().await;
        t.mark(Some(ConnId(1)), crate::conn_limits::TRUSTED);
        client.write_all(big.as_bytes()).await.unwrap();
        assert!(core.recv().await.is_some(), "trusted: passes");
        assert!(!task.is_finished());
    }

    /// Above the global cap on buffered bytes, an untrusted connection holding part of a
    /// message is closed.
    #[tokio::test(start_paused = true)]
    async fn the_global_buffer_cap_closes_untrusted_connections() {
        use tokio::io::AsyncWriteExt as _;
        let (t, mut client, task, _core) = connect(StreamLimits {
            buffered_max: 1000,
            ..StreamLimits::default()
        });
        // another connection's share, already buffered
        let mut other = Buffered::new(t.inner.guard.clone());
        other.set(900);
        client.write_all(&OPTIONS.as_bytes()[..150]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(task.is_finished());
        assert_eq!(t.inner.guard.buffered(), 900);
    }

    /// Out of file descriptors: the untrusted connection idle longest is told to close.
    #[tokio::test(start_paused = true)]
    async fn shedding_picks_untrusted_connections() {
        let (t, _client, task, _core) = connect(StreamLimits::default());
        tokio::task::yield_now().await;
        assert_eq!(t.shed_untrusted(16), 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(task.is_finished());
        let (t, _client, task, _core) = connect(StreamLimits::default());
        tokio::task::yield_now().await;
        t.mark(Some(ConnId(1)), crate::conn_limits::TRUSTED);
        assert_eq!(t.shed_untrusted(16), 0);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!task.is_finished());
    }

    /// A request to a device goes over the connection it registered on; when that connection
    /// is gone, over another open connection to the same address; otherwise nowhere.
    #[test]
    fn sends_over_the_registered_flow() {
        let t = Transports::default();
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, mut rx2) = mpsc::channel(4);
        let st = || Arc::new(ConnState::default());
        let c1 = t.register_conn(
            Transport::Tls,
            "192.0.2.1:40000".parse().unwrap(),
            tx1,
            st(),
        );
        let c2 = t.register_conn(
            Transport::Tls,
            "192.0.2.2:40000".parse().unwrap(),
            tx2,
            st(),
        );
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

/// The kernel runs the steering program as `sip_message::steer::run` does: real sockets.
#[cfg(test)]
mod steering_tests {
    use std::time::Duration;

    use sip_message::{steer, Ids};

    use super::*;

    /// `count` sockets of one `SO_REUSEPORT` group on a free port of 127.0.0.1, steered or not.
    fn group(count: usize, steered: bool) -> Vec<UdpSocket> {
        let first = bind_udp("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let local = first.local_addr().unwrap();
        drop(first);
        let socks: Vec<_> = (0..count).map(|_| bind_udp(local, true).unwrap()).collect();
        if steered {
            assert!(steer_udp(&socks[0], count).unwrap());
        }
        socks
    }

    /// Datagrams each of whose owner the program can read, sent from 40 source ports; returns
    /// how many reached the socket of their owner, and how many arrived in all.
    async fn send_owned(socks: &[UdpSocket], count: usize) -> (usize, usize) {
        let to = socks[0].local_addr().unwrap();
        let mut sent = Vec::new();
        for k in 0..40usize {
            let shard = k % count;
            let mut ids = Ids::for_shard(k as u64, shard, count);
            let msg = if k % 2 == 0 {
                format!("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP {to};branch={};rport=5060\r\nFrom: <sip:alice@example.com>;tag=1928301774\r\nTo: <sip:bob@example.com>;tag=a6c85cf\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", ids.branch())
            } else {
                format!("BYE sip:alice@{to};shard={shard} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKk{k}\r\nFrom: <sip:bob@example.com>;tag=a6c85cf\r\nTo: <sip:alice@example.com>;tag={}\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n", 40000 + k, ids.tag())
            };
            let prog = steer::program(count).unwrap();
            assert_eq!(steer::steered(&prog, msg.as_bytes(), count), Some(shard));
            let from = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            from.send_to(msg.as_bytes(), to).await.unwrap();
            sent.push((msg, shard));
        }
        let (mut on_owner, mut arrived) = (0, 0);
        let mut buf = vec![0u8; 2048];
        for (i, s) in socks.iter().enumerate() {
            while let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(300), s.recv_from(&mut buf)).await
            {
                arrived += 1;
                let got = &buf[..n];
                let (_, owner) = sent.iter().find(|(m, _)| m.as_bytes() == got).unwrap();
                on_owner += usize::from(*owner == i);
            }
        }
        (on_owner, arrived)
    }

    #[tokio::test]
    async fn the_kernel_gives_each_datagram_to_the_socket_of_the_shard_the_program_names() {
        for count in [2, 3] {
            let (on_owner, arrived) = send_owned(&group(count, true), count).await;
            assert_eq!((on_owner, arrived), (40, 40), "{count} shards");
            // without it the 4-tuple hash puts some elsewhere (all 40 by chance: < 1e-7)
            let (on_owner, arrived) = send_owned(&group(count, false), count).await;
            assert_eq!(arrived, 40);
            assert!(
                on_owner < 40,
                "{count} shards, no program: {on_owner} on their owner"
            );
        }
    }

    #[tokio::test]
    async fn one_shard_gets_no_program() {
        let s = bind_udp("127.0.0.1:0".parse().unwrap(), false).unwrap();
        assert!(!steer_udp(&s, 1).unwrap());
    }
}
