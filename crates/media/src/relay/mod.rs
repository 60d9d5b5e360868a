//! The RTP relay table, sans-IO: which relay port belongs to which call, where to send what
//! arrives on it, the counters, and the inactivity timer.
//!
//! # Model
//!
//! A *session* is one call (keyed by a string the B2BUA chooses). It has one entry per SDP
//! m-line, and for each m-line one *port pair* per side: side [`Side::A`] faces the caller, side
//! [`Side::B`] the callee. A pair is an even RTP port `p` and the RTCP port `p + 1`; every relay
//! port belongs to exactly one session / side / m-line / component. What side A sends arrives on
//! A's pair and leaves from B's pair to B's address, and the other way round: each endpoint sees
//! one relay address, which it also sees as the source of what it receives (symmetric RTP).
//!
//! # Inputs and outputs
//!
//! | input | effect |
//! |---|---|
//! | [`RelayTable::allocate`] / [`RelayTable::allocate_with`] | creates the session / m-line if needed, gives the pair facing a side |
//! | [`RelayTable::set_remote`] / [`RelayTable::clear_remote`] | the address a side's SDP says it receives on |
//! | [`RelayTable::handle_packet`] | a datagram arrived on a relay port → [`Action::Forward`] or [`Action::Drop`] |
//! | [`RelayTable::handle_timeout`] | time passed → maybe [`RelayEvent::Inactive`] |
//! | [`RelayTable::end`] | the call is over → its ports go back to the allocator, final [`CallStats`] |
//!
//! Outputs are the [`Action`] returned by `handle_packet`, [`RelayTable::poll_event`] and
//! [`RelayTable::poll_timeout`]. Driver loop: feed packets and timeouts, then drain
//! `poll_event` until `None`, then sleep until `poll_timeout` (or the next packet). Time is an
//! [`Instant`] passed in by the caller (`now`); the table never reads the clock.
//!
//! # Latching (per side, m-line and component)
//!
//! ```text
//!   set_remote(sdp addr)        first packet from S            packet from S' != S
//!  ───────────────────▶ SDP ─────────────────────▶ LATCHED(S) ──────────────────────▶ dropped,
//!        ▲             (send to the SDP address)   (send to S)   unless S has been silent for
//!        │                                              │        `relatch_after`: LATCHED(S')
//!        └──────────── set_remote(different address) ◀─┘
//! ```
//!
//! Until a side has sent anything, what goes to it is sent to the address of its SDP. The source
//! of the first packet received from it (NAT: often not the SDP address) then becomes where its
//! media goes; packets from any other source are dropped, unless the latched source has been
//! silent for [`RelayConfig::relatch_after`], in which case the new source takes over (a phone
//! that changed network without a re-INVITE). A new SDP address for that side (re-INVITE) drops
//! the latch; a hold address (0.0.0.0) stops sending to that side but keeps the latch, so resuming
//! with the same address goes on as before.
//!
//! # RTCP
//!
//! RTCP arrives on `p + 1`, or on `p` with rtcp-mux (recognised by payload type 192..=223,
//! RFC 5761 §4). Mux is in effect for an m-line when no side's SDP lacks `a=rtcp-mux`; RTCP is
//! then sent to the peer's RTP address from the RTP port, otherwise to its RTCP address from
//! the RTCP port — so one side muxing and the other not also works.
//!
//! # Inactivity
//!
//! A session is inactive when no packet was accepted (from a latched or latching source,
//! relayed or not) in either direction for its timeout
//! ([`RelayConfig::inactivity_timeout`], or [`RelayTable::set_timeout`], e.g. longer while on
//! hold); the clock starts when the session is created. [`RelayEvent::Inactive`] is reported once;
//! if traffic resumes it is armed again.

mod ports;
mod rtp;
mod types;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use ports::PortAllocator;
pub use rtp::{static_clock_rate, DirectionStats};
pub use types::{
    Action, CallStats, Component, DropCause, EndedSession, MlineStats, RelayConfig, RelayError,
    RelayEvent, RemoteMedia, Side, Transmit,
};

use rtp::{classify, Kind, Receiver};

/// Most m-lines a session may have.
pub const MAX_MLINES: usize = 16;

#[derive(Debug, Clone, Copy)]
struct PortOwner {
    session: u32,
    mline: u16,
    side: Side,
    component: Component,
}

#[derive(Debug, Clone, Default)]
struct Latch {
    addr: Option<SocketAddr>,
    last_rx: Option<Instant>,
}

#[derive(Debug, Clone, Default)]
struct SideState {
    port: Option<u16>,
    remote: Option<RemoteMedia>,
    /// Last remote RTP / RTCP addresses that were not hold addresses.
    last_rtp: Option<SocketAddr>,
    last_rtcp: Option<SocketAddr>,
    rtp: Latch,
    rtcp: Latch,
    /// What this side sent.
    rx: Receiver,
}

#[derive(Debug, Clone, Default)]
struct Mline {
    sides: [SideState; 2],
    clock_rates: Vec<(u8, u32)>,
}

impl Mline {
    fn mux(&self) -> bool {
        self.sides
            .iter()
            .all(|s| s.remote.is_none_or(|r| r.rtcp_mux))
    }
}

#[derive(Debug)]
struct Session {
    call: String,
    generation: u32,
    mlines: Vec<Mline>,
    last_activity: Instant,
    timeout: Duration,
    inactive_reported: bool,
    /// Deadline of this session's newest entry in the timer heap, if it has not fired yet.
    scheduled: Option<Instant>,
}

/// The relay table. See the [module documentation](self).
#[derive(Debug)]
pub struct RelayTable {
    config: RelayConfig,
    allocator: PortAllocator,
    first_port: u16,
    owners: Vec<Option<PortOwner>>,
    sessions: Vec<Option<Session>>,
    free_slots: Vec<u32>,
    generations: Vec<u32>,
    by_call: HashMap<String, u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    events: VecDeque<RelayEvent>,
}

impl RelayTable {
    /// A table over the configured port range.
    pub fn new(config: RelayConfig) -> Result<Self, RelayError> {
        let allocator = PortAllocator::new(config.port_min, config.port_max)?;
        let first_port = allocator.first_port();
        let owners = vec![None; allocator.capacity() * 2];
        Ok(Self {
            config,
            allocator,
            first_port,
            owners,
            sessions: Vec::new(),
            free_slots: Vec::new(),
            generations: Vec::new(),
            by_call: HashMap::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Sessions created from now on time out after `timeout` of silence (a config reload);
    /// sessions that exist keep theirs until [`Self::set_timeout`].
    pub fn set_inactivity_timeout(&mut self, timeout: Duration) {
        self.config.inactivity_timeout = timeout;
    }

    /// The port allocator (read-only view: capacity, free pairs).
    pub fn allocator(&self) -> &PortAllocator {
        &self.allocator
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.by_call.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.by_call.is_empty()
    }

    /// Whether a session exists for `call`.
    pub fn contains(&self, call: &str) -> bool {
        self.by_call.contains_key(call)
    }

    /// The RTP port facing `side` on `mline`, if allocated.
    pub fn port(&self, call: &str, side: Side, mline: usize) -> Option<u16> {
        self.session(call)?.mlines.get(mline)?.sides[side.idx()].port
    }

    /// [`RelayTable::allocate_with`] accepting every port.
    pub fn allocate(
        &mut self,
        now: Instant,
        call: &str,
        side: Side,
        mline: usize,
    ) -> Result<u16, RelayError> {
        self.allocate_with(now, call, side, mline, |_| true)
    }

    /// Returns the RTP port facing `side` on `mline` of `call` (RTCP: + 1), creating the session
    /// and the m-line when needed and allocating a pair the first time. A pair is only taken if
    /// `usable(rtp_port)` agrees (the driver binds its sockets there); the same port is returned
    /// for the life of the session (re-INVITEs reuse it).
    pub fn allocate_with(
        &mut self,
        now: Instant,
        call: &str,
        side: Side,
        mline: usize,
        usable: impl FnMut(u16) -> bool,
    ) -> Result<u16, RelayError> {
        if mline >= MAX_MLINES {
            return Err(RelayError::TooManyMlines {
                mline,
                max: MAX_MLINES,
            });
        }
        let slot = match self.by_call.get(call) {
            Some(&s) => s,
            None => self.create(now, call),
        };
        let session = self.sessions[slot as usize]
            .as_mut()
            .ok_or_else(|| RelayError::UnknownCall(call.to_owned()))?;
        if session.mlines.len() <= mline {
            session.mlines.resize_with(mline + 1, Mline::default);
        }
        if let Some(p) = session.mlines[mline].sides[side.idx()].port {
            return Ok(p);
        }
        let port = self
            .allocator
            .allocate_with(usable)
            .ok_or(RelayError::PortsExhausted)?;
        session.mlines[mline].sides[side.idx()].port = Some(port);
        let i = usize::from(port - self.first_port);
        let owner = |component| PortOwner {
            session: slot,
            mline: mline as u16,
            side,
            component,
        };
        self.owners[i] = Some(owner(Component::Rtp));
        self.owners[i + 1] = Some(owner(Component::Rtcp));
        Ok(port)
    }

    fn create(&mut self, now: Instant, call: &str) -> u32 {
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.sessions.push(None);
                self.generations.push(0);
                (self.sessions.len() - 1) as u32
            }
        };
        let generation = self.generations[slot as usize];
        let timeout = self.config.inactivity_timeout;
        self.sessions[slot as usize] = Some(Session {
            call: call.to_owned(),
            generation,
            mlines: Vec::new(),
            last_activity: now,
            timeout,
            inactive_reported: false,
            scheduled: Some(now + timeout),
        });
        self.by_call.insert(call.to_owned(), slot);
        self.timers.push(Reverse((now + timeout, slot, generation)));
        slot
    }

    /// Records where `side` receives `mline` according to its SDP. A different RTP (or RTCP)
    /// address than before drops that latch; a hold address keeps it.
    pub fn set_remote(
        &mut self,
        call: &str,
        side: Side,
        mline: usize,
        remote: RemoteMedia,
    ) -> Result<(), RelayError> {
        let s = self.side_mut(call, side, mline)?;
        if !remote.is_hold() {
            if s.last_rtp != Some(remote.rtp) {
                s.rtp = Latch::default();
            }
            if s.last_rtcp != Some(remote.rtcp_addr()) {
                s.rtcp = Latch::default();
            }
            s.last_rtp = Some(remote.rtp);
            s.last_rtcp = Some(remote.rtcp_addr());
        }
        s.remote = Some(remote);
        Ok(())
    }

    /// `side` disabled `mline` (port 0): nothing is sent to it there any more.
    pub fn clear_remote(&mut self, call: &str, side: Side, mline: usize) -> Result<(), RelayError> {
        let s = self.side_mut(call, side, mline)?;
        s.remote = None;
        s.last_rtp = None;
        s.last_rtcp = None;
        s.rtp = Latch::default();
        s.rtcp = Latch::default();
        Ok(())
    }

    /// Clock rates of dynamic payload types of `mline` (from `a=rtpmap`), for jitter.
    pub fn set_clock_rates(
        &mut self,
        call: &str,
        mline: usize,
        rates: &[(u8, u32)],
    ) -> Result<(), RelayError> {
        let m = self.mline_mut(call, mline)?;
        for &(pt, rate) in rates {
            match m.clock_rates.iter_mut().find(|(p, _)| *p == pt) {
                Some(e) => e.1 = rate,
                None => m.clock_rates.push((pt, rate)),
            }
        }
        Ok(())
    }

    /// Changes the inactivity timeout of one session (e.g. longer while on hold).
    pub fn set_timeout(&mut self, call: &str, timeout: Duration) -> Result<(), RelayError> {
        let slot = *self
            .by_call
            .get(call)
            .ok_or_else(|| RelayError::UnknownCall(call.to_owned()))?;
        if let Some(s) = self.sessions[slot as usize].as_mut() {
            s.timeout = timeout;
            let deadline = s.last_activity + timeout;
            // A later deadline is picked up when the pending entry fires; only an earlier one
            // needs an entry of its own.
            if !s.inactive_reported && s.scheduled.is_none_or(|d| deadline < d) {
                self.timers.push(Reverse((deadline, slot, s.generation)));
                s.scheduled = Some(deadline);
            }
        }
        Ok(())
    }

    /// The address media for `side` is sent to right now on `mline` / `component`: the latched
    /// source, else the SDP address.
    pub fn destination(
        &self,
        call: &str,
        side: Side,
        mline: usize,
        component: Component,
    ) -> Option<SocketAddr> {
        let s = &self.session(call)?.mlines.get(mline)?.sides[side.idx()];
        match component {
            Component::Rtp => s.rtp.addr.or(s.remote.map(|r| r.rtp)),
            Component::Rtcp => s.rtcp.addr.or(s.remote.map(|r| r.rtcp_addr())),
        }
    }

    /// The latched source of `side` on `mline` / `component`, if any.
    pub fn latched(
        &self,
        call: &str,
        side: Side,
        mline: usize,
        component: Component,
    ) -> Option<SocketAddr> {
        let s = &self.session(call)?.mlines.get(mline)?.sides[side.idx()];
        match component {
            Component::Rtp => s.rtp.addr,
            Component::Rtcp => s.rtcp.addr,
        }
    }

    /// A datagram of `packet` bytes arrived on our `local_port` from `source` at `now`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        local_port: u16,
        source: SocketAddr,
        packet: &[u8],
    ) -> Action {
        let Some(owner) = local_port
            .checked_sub(self.first_port)
            .and_then(|i| self.owners.get(usize::from(i)).copied().flatten())
        else {
            return Action::Drop(DropCause::UnknownPort);
        };
        let relatch_after = self.config.relatch_after;
        let Some(session) = self.sessions[owner.session as usize].as_mut() else {
            return Action::Drop(DropCause::UnknownPort);
        };
        let Some(m) = session.mlines.get_mut(usize::from(owner.mline)) else {
            return Action::Drop(DropCause::UnknownPort);
        };
        let mux = m.mux();
        let kind = match owner.component {
            Component::Rtcp => Kind::Rtcp,
            Component::Rtp => classify(packet),
        };
        // RTCP "stream" (component 2 traffic) vs everything else on component 1.
        let rtcp_stream = kind == Kind::Rtcp;
        let (x, y) = match owner.side {
            Side::A => {
                let [a, b] = &mut m.sides;
                (a, b)
            }
            Side::B => {
                let [a, b] = &mut m.sides;
                (b, a)
            }
        };
        let latch = if owner.component == Component::Rtcp || (rtcp_stream && !mux) {
            &mut x.rtcp
        } else {
            &mut x.rtp
        };
        match latch.addr {
            Some(a) if a == source => {}
            Some(_)
                if latch
                    .last_rx
                    .is_some_and(|t| now.saturating_duration_since(t) < relatch_after) =>
            {
                x.rx.stats.dropped += 1;
                return Action::Drop(DropCause::NotLatchedSource);
            }
            _ => latch.addr = Some(source),
        }
        latch.last_rx = Some(now);
        // Anything accepted from the latched source is activity, relayed or not (a side on hold
        // may still send while nothing goes to it).
        session.last_activity = now;
        if session.inactive_reported {
            session.inactive_reported = false;
            let deadline = now + session.timeout;
            self.timers
                .push(Reverse((deadline, owner.session, session.generation)));
            session.scheduled = Some(deadline);
        }

        let Some(y_port) = y.port else {
            x.rx.stats.dropped += 1;
            return Action::Drop(DropCause::NoPeerPort);
        };
        let Some(remote) = y.remote else {
            x.rx.stats.dropped += 1;
            return Action::Drop(DropCause::NoPeerAddress);
        };
        if remote.is_hold() {
            x.rx.stats.dropped += 1;
            return Action::Drop(DropCause::PeerOnHold);
        }
        let (from_port, to) = if rtcp_stream && !mux {
            (
                y_port + 1,
                y.rtcp.addr.unwrap_or_else(|| remote.rtcp_addr()),
            )
        } else {
            (y_port, y.rtp.addr.unwrap_or(remote.rtp))
        };
        if to.port() == 0 {
            x.rx.stats.dropped += 1;
            return Action::Drop(DropCause::PeerOnHold);
        }
        let clock_rates = &m.clock_rates;
        x.rx.record(kind, packet, now, |pt| {
            clock_rates
                .iter()
                .find(|(p, _)| *p == pt)
                .map_or_else(|| static_clock_rate(pt), |(_, r)| *r)
        });
        Action::Forward(Transmit { from_port, to })
    }

    /// Media of `call` went through at `now` outside [`RelayTable::handle_packet`] (the WebRTC
    /// gateway terminates its datagrams itself): the session is not idle.
    pub fn note_activity(&mut self, now: Instant, call: &str) {
        let Some(&slot) = self.by_call.get(call) else {
            return;
        };
        let Some(session) = self.sessions[slot as usize].as_mut() else {
            return;
        };
        session.last_activity = now;
        if session.inactive_reported {
            session.inactive_reported = false;
            let deadline = now + session.timeout;
            self.timers
                .push(Reverse((deadline, slot, session.generation)));
            session.scheduled = Some(deadline);
        }
    }

    /// The earliest instant at which [`RelayTable::handle_timeout`] has something to do (it may
    /// find nothing: timers are re-checked lazily).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Time has come to `now`: reports sessions idle for their timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, slot, generation))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(s) = self.sessions[slot as usize].as_mut() else {
                continue;
            };
            if s.generation != generation || s.inactive_reported {
                continue;
            }
            if s.scheduled == Some(deadline) {
                s.scheduled = None;
            }
            let real = s.last_activity + s.timeout;
            if real <= now {
                s.inactive_reported = true;
                s.scheduled = None;
                self.events.push_back(RelayEvent::Inactive {
                    call: s.call.clone(),
                });
            } else if s.scheduled.is_none() {
                self.timers.push(Reverse((real, slot, generation)));
                s.scheduled = Some(real);
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// Current counters of `call`.
    pub fn stats(&self, call: &str) -> Option<CallStats> {
        Some(stats_of(self.session(call)?))
    }

    /// Gives the session of `from` the name `to` (ports, latches and counters kept; its events
    /// name `to` from now on). False when `from` has no session or `to` already has one.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        if self.by_call.contains_key(to) {
            return false;
        }
        let Some(slot) = self.by_call.remove(from) else {
            return false;
        };
        if let Some(s) = self.sessions[slot as usize].as_mut() {
            s.call = to.to_owned();
        }
        self.by_call.insert(to.to_owned(), slot);
        true
    }

    /// Ends the session: its ports go back to the allocator (the driver closes the sockets of
    /// the returned ports) and its final counters are returned.
    pub fn end(&mut self, call: &str) -> Option<EndedSession> {
        let slot = self.by_call.remove(call)?;
        let session = self.sessions[slot as usize].take()?;
        self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
        self.free_slots.push(slot);
        let mut ports = Vec::new();
        for m in &session.mlines {
            for s in &m.sides {
                if let Some(p) = s.port {
                    let i = usize::from(p - self.first_port);
                    self.owners[i] = None;
                    self.owners[i + 1] = None;
                    self.allocator.release(p);
                    ports.push(p);
                }
            }
        }
        Some(EndedSession {
            stats: stats_of(&session),
            ports,
        })
    }

    fn session(&self, call: &str) -> Option<&Session> {
        let slot = *self.by_call.get(call)?;
        self.sessions[slot as usize].as_ref()
    }

    fn mline_mut(&mut self, call: &str, mline: usize) -> Result<&mut Mline, RelayError> {
        if mline >= MAX_MLINES {
            return Err(RelayError::TooManyMlines {
                mline,
                max: MAX_MLINES,
            });
        }
        let slot = *self
            .by_call
            .get(call)
            .ok_or_else(|| RelayError::UnknownCall(call.to_owned()))?;
        let s = self.sessions[slot as usize]
            .as_mut()
            .ok_or_else(|| RelayError::UnknownCall(call.to_owned()))?;
        if s.mlines.len() <= mline {
            s.mlines.resize_with(mline + 1, Mline::default);
        }
        Ok(&mut s.mlines[mline])
    }

    fn side_mut(
        &mut self,
        call: &str,
        side: Side,
        mline: usize,
    ) -> Result<&mut SideState, RelayError> {
        Ok(&mut self.mline_mut(call, mline)?.sides[side.idx()])
    }
}

fn stats_of(s: &Session) -> CallStats {
    let mut out = CallStats::default();
    for m in &s.mlines {
        let ms = MlineStats {
            a_to_b: m.sides[0].rx.stats,
            b_to_a: m.sides[1].rx.stats,
        };
        out.a_to_b.merge(&ms.a_to_b);
        out.b_to_a.merge(&ms.b_to_a);
        out.mlines.push(ms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mux_needs_every_known_side() {
        let mut m = Mline::default();
        assert!(m.mux());
        m.sides[0].remote = Some(RemoteMedia {
            rtcp_mux: true,
            ..RemoteMedia::new("1.2.3.4:5".parse().unwrap())
        });
        assert!(m.mux());
        m.sides[1].remote = Some(RemoteMedia::new("1.2.3.4:6".parse().unwrap()));
        assert!(!m.mux());
    }

    #[test]
    fn a_renamed_session_keeps_its_ports_under_the_new_name() {
        let mut t = RelayTable::new(RelayConfig {
            port_min: 30000,
            port_max: 30009,
            inactivity_timeout: Duration::from_secs(60),
            relatch_after: Duration::from_secs(5),
        })
        .unwrap();
        let now = Instant::now();
        let p = t.allocate(now, "7#alt", Side::B, 0).unwrap();
        t.allocate(now, "7", Side::B, 0).unwrap();
        assert!(!t.rename("7#alt", "7"), "the name is taken");
        t.end("7").unwrap();
        assert!(t.rename("7#alt", "7"));
        assert!(!t.contains("7#alt"));
        assert_eq!(t.port("7", Side::B, 0), Some(p));
        assert_eq!(t.end("7").unwrap().ports, vec![p]);
        assert!(!t.rename("7", "8"), "no session left");
    }
}
