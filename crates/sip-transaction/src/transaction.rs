//! One transaction: the state of one of the four machines plus what every machine needs (the
//! peer, the message kept for retransmission, two timer slots). The machines themselves are in
//! [`crate::server`] and [`crate::client`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::Peer;

use crate::key::{Fp, TxId};
use crate::timer::{TimerKind, TimerTable};
use crate::{Event, TimerConfig, Transmit};

/// INVITE server transaction states (RFC 3261 §17.2.1, RFC 6026 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerInvite {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

/// Non-INVITE server transaction states (RFC 3261 §17.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerNonInvite {
    Trying,
    Proceeding,
    Completed,
}

/// INVITE client transaction states (RFC 3261 §17.1.1, RFC 6026 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientInvite {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

/// Non-INVITE client transaction states (RFC 3261 §17.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientNonInvite {
    Trying,
    Proceeding,
    Completed,
}

/// Which of the four RFC 3261 machines, in which state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the RFC's names: (Server|Client)(Non)Invite
pub(crate) enum Machine {
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
    /// `cancelled`: the TU sent a CANCEL for this INVITE.
    ClientInvite {
        state: ClientInvite,
        cancelled: bool,
    },
    ClientNonInvite(ClientNonInvite),
}

impl Machine {
    pub(crate) fn is_server(self) -> bool {
        matches!(self, Self::ServerInvite(_) | Self::ServerNonInvite(_))
    }

    /// Whether a server transaction has sent its final response.
    pub(crate) fn final_sent(self) -> bool {
        matches!(
            self,
            Self::ServerInvite(
                ServerInvite::Completed | ServerInvite::Confirmed | ServerInvite::Accepted
            ) | Self::ServerNonInvite(ServerNonInvite::Completed)
        )
    }
}

/// What becomes of a transaction after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Fate {
    Keep,
    Terminate,
}

/// One live transaction. Kept small: the matching key is a fingerprint, the only message kept
/// is the one that may have to be sent again.
#[derive(Debug)]
pub(crate) struct Transaction {
    pub(crate) machine: Machine,
    /// Matching fingerprint (key of the layer's index).
    pub(crate) fp: Fp,
    /// Merged-request fingerprint while a server transaction has no final response.
    pub(crate) merge_fp: Option<Fp>,
    /// Server: where the request came from (responses go back there, RFC 3581).
    /// Client: where the request goes.
    pub(crate) peer: Peer,
    /// Server: the last response sent (empty once nothing can ask for it again).
    /// Client: the request (INVITE, or the ACK once a non-2xx final arrived).
    pub(crate) stored: Bytes,
    pub(crate) retransmit: Option<Instant>,
    pub(crate) interval: Duration,
    /// The expiry timer's deadline and kind (`expire_kind` is meaningless when `None`).
    pub(crate) expire: Option<Instant>,
    pub(crate) expire_kind: TimerKind,
    /// A server transaction the layer answered itself (481, 482, 200 to CANCEL): the TU never
    /// saw its key, so it hears nothing of it.
    pub(crate) by_layer: bool,
}

/// The outputs and context one input needs: the clock, the configuration and the queues.
pub(crate) struct Out<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a TimerConfig,
    pub(crate) id: TxId,
    pub(crate) timers: &'a mut TimerTable,
    pub(crate) transmits: &'a mut VecDeque<Transmit>,
    pub(crate) events: &'a mut VecDeque<Event>,
}

impl Out<'_> {
    pub(crate) fn send(&mut self, to: Peer, payload: Bytes) {
        self.transmits.push_back(Transmit { to, payload });
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// 64·T1, the lifetime bound of Timers B, F, H, J, L, M.
    pub(crate) fn t1x64(&self) -> Duration {
        self.cfg.t1 * 64
    }
}

impl Transaction {
    pub(crate) fn new(machine: Machine, fp: Fp, peer: Peer, stored: Bytes) -> Self {
        Self {
            machine,
            fp,
            merge_fp: None,
            peer,
            stored,
            retransmit: None,
            interval: Duration::ZERO,
            expire: None,
            expire_kind: TimerKind::B,
            by_layer: false,
        }
    }

    pub(crate) fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }

    /// Sends the stored message to the peer again.
    pub(crate) fn resend(&self, out: &mut Out<'_>) {
        if !self.stored.is_empty() {
            out.send(self.peer, self.stored.clone());
        }
    }

    pub(crate) fn arm_retransmit(
        &mut self,
        out: &mut Out<'_>,
        kind: TimerKind,
        interval: Duration,
    ) {
        self.retransmit = Some(out.timers.push(out.now, interval, out.id, kind));
        self.interval = interval;
    }

    pub(crate) fn stop_retransmit(&mut self) {
        self.retransmit = None;
    }

    pub(crate) fn arm_expire(&mut self, out: &mut Out<'_>, kind: TimerKind, after: Duration) {
        self.expire = Some(out.timers.push(out.now, after, out.id, kind));
        self.expire_kind = kind;
    }

    pub(crate) fn stop_expire(&mut self) {
        self.expire = None;
    }

    /// Whether a heap entry `(at, kind)` is this transaction's armed timer.
    pub(crate) fn is_armed(&self, at: Instant, kind: TimerKind) -> bool {
        if kind.is_retransmit() {
            self.retransmit == Some(at)
        } else {
            self.expire == Some(at) && self.expire_kind == kind
        }
    }

    /// Disarms the timer that is firing (the caller checked [`Self::is_armed`]).
    pub(crate) fn disarm(&mut self, kind: TimerKind) {
        if kind.is_retransmit() {
            self.retransmit = None;
        } else {
            self.expire = None;
        }
    }

    /// Moves to a terminal-waiting state: on a reliable transport the wait is zero, so the
    /// transaction ends now; otherwise `kind` is armed for `after`.
    pub(crate) fn linger(&mut self, out: &mut Out<'_>, kind: TimerKind, after: Duration) -> Fate {
        if self.reliable() || after.is_zero() {
            Fate::Terminate
        } else {
            self.arm_expire(out, kind, after);
            Fate::Keep
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod size_tests {
    /// Per-transaction memory matters at hundreds of thousands of live transactions.
    #[test]
    fn transaction_stays_small() {
        assert!(
            size_of::<super::Transaction>() <= 216,
            "{}",
            size_of::<super::Transaction>()
        );
        assert!(size_of::<crate::timer::Entry>() <= 32);
    }
}
