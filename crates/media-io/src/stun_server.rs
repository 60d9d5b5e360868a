//! The STUN listener: a tokio driver around [`media::stun::answer`] on one UDP socket.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use media::stun::{answer, StunOutcome};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::batch::{for_family, headers, send_batch, RecvBufs};
use nix::sys::socket::{MultiHeaders, SockaddrStorage};

/// Datagrams read (and responses written) per system call.
const BATCH: usize = 32;

/// Counters of a [`StunServer`].
#[derive(Debug, Default)]
pub struct StunCounters {
    /// Binding success responses sent.
    pub answered: AtomicU64,
    /// Error responses (400, 420) sent.
    pub errors: AtomicU64,
    /// Datagrams dropped (not STUN, not a request, bad fingerprint, or could not be sent).
    pub dropped: AtomicU64,
}

impl StunCounters {
    fn add(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// Serves STUN Binding on a UDP socket the caller has bound (port 3478 in production, port 0 in
/// tests). Reads and answers in batches (`recvmmsg` / `sendmmsg`).
#[derive(Debug)]
pub struct StunServer {
    socket: UdpSocket,
    counters: Arc<StunCounters>,
}

impl StunServer {
    /// Wraps a bound socket.
    pub fn new(socket: UdpSocket) -> Self {
        Self {
            socket,
            counters: Arc::default(),
        }
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Counters, readable while the server runs.
    pub fn counters(&self) -> Arc<StunCounters> {
        Arc::clone(&self.counters)
    }

    /// Serves until `shutdown` completes (then returns `Ok`), or until the socket fails.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        tokio::select! {
            r = self.serve() => r,
            () = shutdown => Ok(()),
        }
    }

    async fn serve(&self) -> io::Result<()> {
        let fd = self.socket.as_raw_fd();
        let is_v6 = self.socket.local_addr()?.is_ipv6();
        let mut rx = RecvBufs::<BATCH>::new();
        let mut out: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(128)).collect();
        let mut dests: Vec<SocketAddr> = Vec::with_capacity(BATCH);
        loop {
            self.socket.readable().await?;
            // The batch headers are not `Send`: they live only in this synchronous part.
            let mut rx_headers = headers(BATCH);
            let mut tx_headers = headers(BATCH);
            loop {
                let n = match self
                    .socket
                    .try_io(Interest::READABLE, || rx.recv(fd, &mut rx_headers))
                {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "stun: recv failed");
                        break;
                    }
                };
                dests.clear();
                let (mut answered, mut errors, mut dropped) = (0u64, 0u64, 0u64);
                for i in 0..n {
                    let (data, src) = rx.get(i);
                    let Some(src) = src else {
                        dropped += 1;
                        continue;
                    };
                    let buf = &mut out[dests.len()];
                    match answer(data, src, buf) {
                        StunOutcome::Success => answered += 1,
                        StunOutcome::Error { .. } => errors += 1,
                        _ => {
                            dropped += 1;
                            continue;
                        }
                    }
                    match for_family(src, is_v6) {
                        Some(to) => dests.push(to),
                        None => dropped += 1,
                    }
                }
                let msgs: Vec<(&[u8], SocketAddr)> = out
                    .iter()
                    .zip(&dests)
                    .map(|(b, a)| (b.as_slice(), *a))
                    .collect();
                let unsent = self.send_all(fd, &mut tx_headers, &msgs);
                let c = &self.counters;
                c.add(&c.answered, answered);
                c.add(&c.errors, errors);
                c.add(&c.dropped, dropped + unsent);
            }
        }
    }

    /// Sends `msgs` without waiting; what the socket refuses (its buffer full, an unreachable
    /// destination) is dropped — STUN clients retransmit. Returns how many were not sent.
    fn send_all(
        &self,
        fd: std::os::fd::RawFd,
        headers: &mut MultiHeaders<SockaddrStorage>,
        msgs: &[(&[u8], SocketAddr)],
    ) -> u64 {
        let mut done = 0;
        let mut failed = 0;
        while done < msgs.len() {
            match self.socket.try_io(Interest::WRITABLE, || {
                send_batch(fd, headers, &msgs[done..])
            }) {
                Ok(k) => done += k.max(1),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return failed + (msgs.len() - done) as u64;
                }
                Err(e) => {
                    // The first remaining destination failed: skip it, send the rest.
                    tracing::debug!(error = %e, to = %msgs[done].1, "stun: send failed");
                    done += 1;
                    failed += 1;
                }
            }
        }
        failed
    }
}
