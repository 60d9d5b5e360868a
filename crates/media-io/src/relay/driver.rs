//! The relay thread's loop (see the [parent module](super)): epoll over the relay sockets,
//! `recvmmsg` per ready socket, each datagram to the relay table or a bridged call's gateway,
//! the timers, and the events to the B2BUA.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::relay::{Action, RelayEvent};
use mio::{Events, Poll, Token};
use nix::sys::socket::{MultiHeaders, SockaddrStorage};
use tokio::sync::mpsc;

use super::{gateway, Shared, MAX_SLEEP, RECV_BATCH, WAKER};
use crate::batch::{for_family, RecvBufs};

pub(super) struct Driver {
    pub(super) shared: Arc<Shared>,
    pub(super) poll: Poll,
    pub(super) socket_is_v6: bool,
    pub(super) events_tx: mpsc::Sender<RelayEvent>,
    pub(super) pending_events: VecDeque<RelayEvent>,
    pub(super) rx: RecvBufs<RECV_BATCH>,
    pub(super) rx_headers: MultiHeaders<SockaddrStorage>,
}

impl Driver {
    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.sleep_time();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media relay: poll failed, stopping");
                return;
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {
                        if self.shared.shutdown.load(Ordering::Acquire) {
                            tracing::info!("media relay stopped");
                            return;
                        }
                    }
                    Token(i) => self.drain(i),
                }
            }
            self.timers();
        }
    }

    fn sleep_time(&self) -> Duration {
        let now = Instant::now();
        let mut d = self
            .shared
            .lock()
            .table
            .poll_timeout()
            .map_or(MAX_SLEEP, |t| t.saturating_duration_since(now))
            .min(MAX_SLEEP);
        if let Some(t) = self.shared.lock().gateways.next_deadline() {
            d = d.min(t.saturating_duration_since(now));
        }
        if !self.pending_events.is_empty() {
            d = d.min(Duration::from_millis(50));
        }
        d
    }

    /// Reads everything queued on socket `i` and relays it.
    fn drain(&mut self, i: usize) {
        let mut guard = self.shared.lock();
        let core = &mut *guard;
        let Some(fd) = core
            .sockets
            .get(i)
            .and_then(|s| s.as_ref())
            .map(|s| s.as_raw_fd())
        else {
            return;
        };
        let port = core.first_port + i as u16;
        loop {
            let n = match self.rx.recv(fd, &mut self.rx_headers) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(port, error = %e, "relay recv failed");
                    return;
                }
            };
            let now = Instant::now();
            let (mut relayed, mut bytes) = (0u64, 0u64);
            for k in 0..n {
                let (data, src) = self.rx.get(k);
                let Some(src) = src else { continue };
                if core.gateways.owns(port) {
                    // terminated by the gateway (ICE, DTLS, SRTP or plain RTP): not a drop
                    let (_, b) = gateway::packet(core, now, port, src, data, self.socket_is_v6);
                    relayed += 1;
                    bytes += b;
                    continue;
                }
                let Action::Forward(t) = core.table.handle_packet(now, port, src, data) else {
                    continue;
                };
                let Some(to) = for_family(t.to, self.socket_is_v6) else {
                    continue;
                };
                let j = usize::from(t.from_port - core.first_port);
                if let Some(s) = core.sockets.get(j).and_then(|s| s.as_ref()) {
                    match s.send_to(data, to) {
                        Ok(_) => {
                            relayed += 1;
                            bytes += data.len() as u64;
                        }
                        Err(e) => {
                            tracing::trace!(from_port = t.from_port, %to, error = %e, "relay send failed");
                        }
                    }
                }
            }
            let c = &self.shared.counters;
            c.relayed.fetch_add(relayed, Ordering::Relaxed);
            c.relayed_bytes.fetch_add(bytes, Ordering::Relaxed);
            c.dropped.fetch_add(n as u64 - relayed, Ordering::Relaxed);
            if n < RECV_BATCH {
                // The queue was emptied: a new datagram raises a new edge.
                return;
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        {
            let mut core = self.shared.lock();
            if core.table.poll_timeout().is_some_and(|t| t <= now) {
                core.table.handle_timeout(now);
            }
            gateway::timers(&mut core, now, self.socket_is_v6);
            while let Some(e) = core.table.poll_event() {
                self.pending_events.push_back(e);
            }
        }
        while let Some(e) = self.pending_events.pop_front() {
            match self.events_tx.try_send(e) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(e)) => {
                    self.pending_events.push_front(e);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.pending_events.clear();
                    break;
                }
            }
        }
    }
}
