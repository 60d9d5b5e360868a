//! The RTP relay driver: one OS thread, one epoll loop (mio), one UDP socket per relay port, the
//! [`RelayTable`] deciding where each datagram goes.
//!
//! # Structure
//!
//! ```text
//!  B2BUA task ──offer/answer/end──▶ RelayHandle ──lock──▶ Core { RelayTable, sockets, SDP state }
//!                                     binds / registers / closes sockets itself
//!  relay thread: loop { epoll_wait ─▶ per ready socket: lock, recvmmsg, table.handle_packet per
//!                       datagram, send_to from the socket facing the destination, unlock;
//!                       table.handle_timeout ─▶ RelayEvent ─▶ tokio mpsc }
//! ```
//!
//! The handle's methods never wait for the driver: they take the core's lock, which the relay
//! thread holds only while it relays the datagrams of one socket (a few system calls, tens of
//! microseconds at most). Sockets are bound, registered with the poller and closed by the
//! handle under that lock, so a port released by `end` is free again at once.
//!
//! Sockets: per m-line and side an RTP socket on an even port and an RTCP socket on the next
//! port — the RTCP one is only bound while RTCP multiplexing is not agreed (an SDP without
//! `a=rtcp-mux`), but its port is always reserved.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::relay::{CallStats, RelayConfig, RelayEvent, RelayTable, Side, MAX_MLINES};
use media::sdp::{add_relay_candidate, anchor, Sdp};
use mio::net::UdpSocket;
use mio::{Interest, Poll, Registry, Token, Waker};
use tokio::sync::mpsc;

mod driver;
mod fork;
mod gateway;

use crate::batch::{headers, RecvBufs};
use crate::{MediaConfig, MediaError, Mode};
use driver::Driver;

const WAKER: Token = Token(usize::MAX);
/// Datagrams read per `recvmmsg` on one relay socket (a socket rarely has more than one queued:
/// each carries one stream at 50 packets/s).
const RECV_BATCH: usize = 8;
/// Longest the driver sleeps without looking at the timers and the event queue.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The RTP relay. See [`Relay::start`].
#[derive(Debug)]
pub struct Relay {
    _private: (),
}

impl Relay {
    /// Starts the relay thread. Returns the handle the B2BUA uses and the receiver of relay
    /// events. Fails on a bad configuration (`InvalidInput`: empty port range, no address to
    /// advertise) or when the thread or the poller cannot be created. The thread stops when the
    /// last clone of the handle is dropped.
    pub fn start(config: MediaConfig) -> io::Result<(RelayHandle, mpsc::Receiver<RelayEvent>)> {
        let public_ip = match config.public_ip {
            Some(ip) => ip,
            None if !config.bind_ip.is_unspecified() => config.bind_ip,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "media: public_ip is required when bind_ip is unspecified",
                ))
            }
        };
        let table = RelayTable::new(RelayConfig {
            port_min: config.port_min,
            port_max: config.port_max,
            inactivity_timeout: config.inactivity_timeout,
            relatch_after: config.relatch_after,
        })
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let first_port = table.allocator().first_port();
        let pairs = table.allocator().capacity();
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let registry = poll.registry().try_clone()?;
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                table,
                calls: HashMap::new(),
                sockets: (0..pairs * 2).map(|_| None).collect(),
                first_port,
                registry,
                gateways: gateway::Gateways::default(),
            }),
            waker,
            shutdown: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            counters: Arc::default(),
        });
        let (tx, rx) = mpsc::channel(config.event_capacity.max(1));
        let cpu = config.cpu;
        let thread_shared = Arc::clone(&shared);
        let socket_is_v6 = config.bind_ip.is_ipv6();
        thread::Builder::new()
            .name("ferro-media-relay".to_owned())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    pin_to_cpu(cpu);
                }
                // Built here: the recvmmsg headers hold raw pointers and are not `Send`.
                let driver = Driver {
                    shared: Arc::clone(&thread_shared),
                    poll,
                    socket_is_v6,
                    events_tx: tx,
                    pending_events: VecDeque::new(),
                    rx: RecvBufs::new(),
                    rx_headers: headers(RECV_BATCH),
                };
                // Marks the relay stopped however the loop ends (shutdown, error, panic).
                let _stopped = StoppedOnDrop(thread_shared);
                driver.run();
            })?;
        tracing::info!(
            %public_ip,
            bind_ip = %config.bind_ip,
            ports = %format!("{}-{}", first_port, first_port as usize + pairs * 2 - 1),
            "media relay started"
        );
        let handle = RelayHandle {
            inner: Arc::new(HandleInner {
                shared,
                public_ip,
                public_ip_v6: config.public_ip_v6.filter(|_| config.bind_ip.is_ipv6()),
                bind_ip: config.bind_ip,
                inactivity_timeout_ms: AtomicU64::new(millis(config.inactivity_timeout)),
                hold_timeout: config.hold_timeout,
            }),
        };
        Ok((handle, rx))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

struct StoppedOnDrop(Arc<Shared>);

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        self.0.stopped.store(true, Ordering::Release);
    }
}

fn pin_to_cpu(cpu: usize) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    match set
        .set(cpu)
        .and_then(|()| sched_setaffinity(Pid::from_raw(0), &set))
    {
        Ok(()) => tracing::info!(cpu, "media relay thread pinned"),
        Err(e) => tracing::warn!(cpu, error = %e, "media relay thread could not be pinned"),
    }
}

/// The B2BUA's handle on the relay: cheap to clone, `Send + Sync`, every method synchronous
/// and non-blocking (it takes a lock the relay thread only holds while relaying the datagrams
/// of one socket).
#[derive(Clone)]
pub struct RelayHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayHandle")
            .field("public_ip", &self.inner.public_ip)
            .field("bind_ip", &self.inner.bind_ip)
            .finish_non_exhaustive()
    }
}

struct HandleInner {
    shared: Arc<Shared>,
    public_ip: IpAddr,
    public_ip_v6: Option<IpAddr>,
    bind_ip: IpAddr,
    /// In ms: a config reload changes it ([`RelayHandle::set_inactivity_timeout`]).
    inactivity_timeout_ms: AtomicU64,
    hold_timeout: Duration,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
    }
}

struct Shared {
    core: Mutex<Core>,
    waker: Waker,
    shutdown: AtomicBool,
    stopped: AtomicBool,
    counters: Arc<RelayCounters>,
}

/// Totals over all sessions since the relay started, added once per received batch by the relay
/// thread; read them at any time through [`RelayHandle::counters`].
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Datagrams forwarded to the other side.
    pub relayed: AtomicU64,
    /// Bytes of those datagrams.
    pub relayed_bytes: AtomicU64,
    /// Datagrams received and not forwarded (unknown port, unlatched source, peer on hold or
    /// unknown, send failed).
    pub dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Core {
    table: RelayTable,
    /// What the SDPs of each call said, per m-line and side: `a=rtcp-mux` and hold.
    calls: HashMap<String, CallSdpState>,
    /// Indexed by `port - first_port`.
    sockets: Vec<Option<UdpSocket>>,
    first_port: u16,
    registry: Registry,
    /// The WebRTC gateways of bridged calls (see [`gateway`]).
    gateways: gateway::Gateways,
}

impl Core {
    fn has_socket(&self, port: u16) -> bool {
        self.sockets[usize::from(port - self.first_port)].is_some()
    }

    /// Registers a bound socket for `port` with the poller.
    fn add_socket(&mut self, port: u16, socket: std::net::UdpSocket) {
        let i = usize::from(port - self.first_port);
        let mut s = UdpSocket::from_std(socket);
        if let Err(e) = self.registry.register(&mut s, Token(i), Interest::READABLE) {
            tracing::warn!(port, error = %e, "relay socket not registered");
            return;
        }
        if let Some(mut old) = self.sockets[i].replace(s) {
            let _ = self.registry.deregister(&mut old);
        }
    }

    /// Ends the session of `call` (relay table, gateway, SDP state): its ports are released
    /// and their sockets closed; its final counters.
    fn end_session(&mut self, call: &str) -> Option<CallStats> {
        self.calls.remove(call);
        let bridged = self.gateways.remove(call);
        let mut ended = self.table.end(call)?;
        for &p in &ended.ports {
            self.close_socket(p);
            self.close_socket(p + 1);
        }
        if let Some((browser, g)) = bridged {
            gateway::merge_stats(&mut ended.stats, browser, g);
        }
        Some(ended.stats)
    }

    /// Deregisters and closes the socket of `port`, if any.
    fn close_socket(&mut self, port: u16) {
        let i = usize::from(port - self.first_port);
        if let Some(mut s) = self.sockets[i].take() {
            let _ = self.registry.deregister(&mut s);
        }
    }
}

#[derive(Debug, Default)]
struct CallSdpState {
    mux: Vec<[Option<bool>; 2]>,
    hold: [bool; 2],
    /// Per side: IPv6 (true) or IPv4, from its signalling ([`RelayHandle::set_peer_family`])
    /// or else from its own SDP's addresses.
    v6: [Option<bool>; 2],
    /// Per side: a WebRTC endpoint or not, from its signalling ([`RelayHandle::set_peer_webrtc`]).
    webrtc: [Option<bool>; 2],
    /// The offer the call's branches of the other kind got (a fork to browsers and plain
    /// phones at once, see [`fork`]), until a branch answers.
    fork: Option<fork::Alternative>,
}

fn side_idx(s: Side) -> usize {
    match s {
        Side::A => 0,
        Side::B => 1,
    }
}

fn bind(ip: IpAddr, port: u16) -> io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl RelayHandle {
    /// The address advertised in SDP.
    pub fn public_ip(&self) -> IpAddr {
        self.inner.public_ip
    }

    /// Handles the SDP offer coming from `from_side`: records where that side receives,
    /// allocates (or reuses) the ports facing the other side and returns the SDP to forward to
    /// it, rewritten according to `mode`. Creates the relay session on the first call for
    /// `call`. A re-INVITE's offer reuses the same ports.
    pub fn offer(
        &self,
        call: &str,
        from_side: Side,
        sdp: &[u8],
        mode: Mode,
    ) -> Result<Bytes, MediaError> {
        self.handle_sdp(call, from_side, sdp, mode, true)
    }

    /// Handles the SDP answer coming from `from_side` (the side that received the offer); same
    /// rewriting as [`RelayHandle::offer`]. It also settles RTCP multiplexing: mux is in effect
    /// only when both the offer and the answer have `a=rtcp-mux`.
    pub fn answer(
        &self,
        call: &str,
        from_side: Side,
        sdp: &[u8],
        mode: Mode,
    ) -> Result<Bytes, MediaError> {
        self.handle_sdp(call, from_side, sdp, mode, false)
    }

    /// Ends the relay session: its ports are released and their sockets closed; returns the
    /// final counters (`None` when no session exists for `call`).
    /// Calls whose media is offered or answered from now on time out after `timeout` of
    /// silence (a config reload); the sessions of other calls keep theirs.
    pub fn set_inactivity_timeout(&self, timeout: Duration) {
        self.inner
            .inactivity_timeout_ms
            .store(millis(timeout), Ordering::Relaxed);
        self.inner
            .shared
            .lock()
            .table
            .set_inactivity_timeout(timeout);
    }

    pub fn end(&self, call: &str) -> Option<CallStats> {
        let mut core = self.inner.shared.lock();
        if core.calls.get(call).is_some_and(|s| s.fork.is_some()) {
            // the branches' other offer was never answered
            core.end_session(&fork::alt_key(call));
        }
        core.end_session(call)
    }

    /// Tells which IP version `side` of `call` uses (its signalling address): the SDP sent
    /// to that side then names the relay by `public_ip_v6` or `public_ip`. Without it, a side's
    /// version is that of the addresses in its own SDP, and before that of the other side's.
    pub fn set_peer_family(&self, call: &str, side: Side, ipv6: bool) {
        let mut core = self.inner.shared.lock();
        core.calls.entry(call.to_owned()).or_default().v6[side_idx(side)] = Some(ipv6);
    }

    /// Current counters of `call`.
    pub fn stats(&self, call: &str) -> Option<CallStats> {
        self.inner.shared.lock().table.stats(call)
    }

    /// The relay's totals (shared: they keep counting).
    pub fn counters(&self) -> Arc<RelayCounters> {
        Arc::clone(&self.inner.shared.counters)
    }

    /// Number of relay sessions.
    pub fn sessions(&self) -> usize {
        self.inner.shared.lock().table.len()
    }

    /// Port pairs still free.
    pub fn free_port_pairs(&self) -> usize {
        self.inner.shared.lock().table.allocator().available()
    }

    fn handle_sdp(
        &self,
        call: &str,
        from: Side,
        sdp: &[u8],
        mode: Mode,
        offer: bool,
    ) -> Result<Bytes, MediaError> {
        if self.inner.shared.stopped.load(Ordering::Acquire) {
            return Err(MediaError::Stopped);
        }
        let mut parsed = Sdp::parse(sdp)?;
        if !offer && from == Side::B {
            // a fork's branch answering the other kind of offer (see [`fork`])
            match self.fork_route(call, &parsed) {
                fork::Route::Primary => {}
                fork::Route::Alternative(alt) => {
                    return self.handle_sdp(&alt, from, sdp, mode, false)
                }
                fork::Route::Unchanged => return Ok(Bytes::copy_from_slice(sdp)),
            }
        }
        // a WebRTC side bridged to a plain one: the gateway writes both SDPs
        if let Some(r) = self.gateway_sdp(call, from, sdp, &parsed, offer) {
            return r;
        }
        let ports = {
            let mut core = self.inner.shared.lock();
            let is_new = !core.table.contains(call);
            match self.apply(&mut core, call, from, &parsed) {
                Ok(ports) => ports,
                Err(e) => {
                    if is_new {
                        // Do not leave half a session behind.
                        drop(core);
                        self.end(call);
                    }
                    return Err(e);
                }
            }
        };
        let ip = self.advertised_to(call, from.other(), &parsed);
        match mode {
            Mode::Anchor => {
                anchor(&mut parsed, ip, &ports);
                add_relay_candidate(&mut parsed, ip, &ports);
            }
            Mode::CandidateOnly => {
                add_relay_candidate(&mut parsed, ip, &ports);
            }
        }
        Ok(Bytes::from(parsed.print()))
    }

    /// The relay address to write into the SDP going to `to`: of `to`'s IP version when the
    /// relay has both (see [`Self::set_peer_family`]), else `public_ip`.
    fn advertised_to(&self, call: &str, to: Side, from_sdp: &Sdp) -> IpAddr {
        let v4 = self.inner.public_ip;
        let Some(v6) = self.inner.public_ip_v6 else {
            return v4;
        };
        let sdp_v6 = |sdp: &Sdp| {
            let c = sdp
                .connection()
                .or_else(|| (0..sdp.media.len()).find_map(|i| sdp.media_connection(i)));
            c.and_then(media::sdp::Connection::ip)
                .map(|ip| ip.is_ipv6())
        };
        let mut core = self.inner.shared.lock();
        let st = core.calls.entry(call.to_owned()).or_default();
        let from = side_idx(to.other());
        if st.v6[from].is_none() {
            st.v6[from] = sdp_v6(from_sdp);
        }
        let to_v6 = st.v6[side_idx(to)].or(st.v6[from]).unwrap_or(false);
        if to_v6 {
            v6
        } else {
            v4
        }
    }

    /// Updates the table from one side's SDP; returns the relay port facing the other side per
    /// m-line (0 for disabled lines).
    fn apply(
        &self,
        core: &mut Core,
        call: &str,
        from: Side,
        sdp: &Sdp,
    ) -> Result<Vec<u16>, MediaError> {
        let now = Instant::now();
        let to = from.other();
        let bind_ip = self.inner.bind_ip;
        let n = sdp.media.len();
        if n > MAX_MLINES {
            return Err(media::RelayError::TooManyMlines {
                mline: n - 1,
                max: MAX_MLINES,
            }
            .into());
        }
        let mut ports = vec![0u16; n];
        let mut hold = false;
        for (i, m) in sdp.media.iter().enumerate() {
            let st = core.calls.entry(call.to_owned()).or_default();
            if st.mux.len() <= i {
                st.mux.resize(i + 1, [None; 2]);
            }
            if m.desc.port == 0 {
                st.mux[i][side_idx(from)] = None;
                if core.table.contains(call) {
                    core.table.clear_remote(call, from, i)?;
                }
                continue;
            }
            let mux = m.rtcp_mux();
            st.mux[i][side_idx(from)] = Some(mux);
            let need_rtcp = !st.mux[i].iter().all(|s| s.unwrap_or(true));
            hold |= sdp.is_hold(i) || sdp.direction(i) != media::sdp::Direction::SendRecv;

            let mut bound: Option<(std::net::UdpSocket, Option<std::net::UdpSocket>)> = None;
            let port = core.table.allocate_with(now, call, to, i, |p| {
                let rtp = match bind(bind_ip, p) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(port = p, error = %e, "relay port busy, trying the next");
                        return false;
                    }
                };
                let rtcp = if mux {
                    None
                } else {
                    match bind(bind_ip, p + 1) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            tracing::debug!(port = p + 1, error = %e, "relay port busy");
                            return false;
                        }
                    }
                };
                bound = Some((rtp, rtcp));
                true
            })?;
            if let Some((rtp, rtcp)) = bound {
                core.add_socket(port, rtp);
                if let Some(rtcp) = rtcp {
                    core.add_socket(port + 1, rtcp);
                }
            }
            ports[i] = port;
            match sdp.remote_media(i) {
                Some(r) => core.table.set_remote(call, from, i, r)?,
                None => core.table.clear_remote(call, from, i)?,
            }
            let rates = m.clock_rates();
            if !rates.is_empty() {
                core.table.set_clock_rates(call, i, &rates)?;
            }
            if need_rtcp {
                for side in [Side::A, Side::B] {
                    let Some(p) = core.table.port(call, side, i) else {
                        continue;
                    };
                    if core.has_socket(p + 1) {
                        continue;
                    }
                    match bind(bind_ip, p + 1) {
                        Ok(s) => core.add_socket(p + 1, s),
                        Err(e) => {
                            tracing::warn!(call, port = p + 1, error = %e, "RTCP port unavailable")
                        }
                    }
                }
            }
        }
        if core.table.contains(call) {
            let st = core.calls.entry(call.to_owned()).or_default();
            st.hold[side_idx(from)] = hold;
            let timeout = if st.hold.iter().any(|h| *h) {
                self.inner.hold_timeout
            } else {
                Duration::from_millis(self.inner.inactivity_timeout_ms.load(Ordering::Relaxed))
            };
            core.table.set_timeout(call, timeout)?;
        }
        Ok(ports)
    }
}
