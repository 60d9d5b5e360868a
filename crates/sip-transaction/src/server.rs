//! The server machines: INVITE (RFC 3261 §17.2.1 with the RFC 6026 Accepted state) and
//! non-INVITE (§17.2.2).

use bytes::Bytes;
use sip_message::{HeaderName, Message, MessageBuilder, Peer};
use tracing::{debug, trace};

use crate::key::ServerKey;
use crate::timer::TimerKind;
use crate::transaction::{Fate, Machine, Out, ServerInvite, ServerNonInvite, Transaction};
use crate::{Event, TxError};

/// A response the layer itself builds (100 Trying, 200 to CANCEL, 481, 482): copied Via (top
/// one with `received`/`rport` for the source address, RFC 3581), From, To (+ tag), Call-ID,
/// CSeq; Timestamp echoed in a 100 (RFC 3261 §8.2.6.1).
pub(crate) fn layer_response(req: &Message, code: u16, to_tag: Option<&str>, from: &Peer) -> Bytes {
    let mut b = MessageBuilder::response_to(req, code, to_tag, Some(from.remote));
    if code == 100 {
        if let Some(ts) = req.header(&HeaderName::Timestamp) {
            b.header("Timestamp", ts);
        }
    }
    b.finish()
}

impl Transaction {
    /// A retransmission of the request that created this server transaction.
    pub(crate) fn on_request_retransmission(&mut self, out: &mut Out<'_>) -> Fate {
        match self.machine {
            // Proceeding: the last provisional; Completed: the final response.
            Machine::ServerInvite(ServerInvite::Proceeding | ServerInvite::Completed)
            | Machine::ServerNonInvite(ServerNonInvite::Proceeding | ServerNonInvite::Completed) => {
                trace!(id = %out.id, "request retransmission: response sent again");
                self.resend(out);
            }
            // Trying: absorbed (RFC 3261 §17.2.2); Confirmed/Accepted: absorbed (RFC 6026).
            _ => trace!(id = %out.id, "request retransmission absorbed"),
        }
        Fate::Keep
    }

    /// An ACK matched this (INVITE server) transaction.
    pub(crate) fn on_ack(&mut self, out: &mut Out<'_>, ack: Message, from: Peer) -> Fate {
        match self.machine {
            Machine::ServerInvite(ServerInvite::Completed) => {
                self.machine = Machine::ServerInvite(ServerInvite::Confirmed);
                self.stop_retransmit();
                self.stored = Bytes::new();
                let t4 = out.cfg.t4;
                self.linger(out, TimerKind::I, t4)
            }
            // RFC 6026 §7.1: an ACK matching an Accepted transaction goes to the TU.
            Machine::ServerInvite(ServerInvite::Accepted) => {
                out.event(Event::Ack { request: ack, from });
                Fate::Keep
            }
            _ => Fate::Keep,
        }
    }

    /// The TU (or the layer) answers this server transaction.
    pub(crate) fn on_respond(
        &mut self,
        out: &mut Out<'_>,
        code: u16,
        response: Bytes,
    ) -> Result<Fate, TxError> {
        let t1x64 = out.t1x64();
        match self.machine {
            Machine::ServerInvite(ServerInvite::Proceeding) => {
                out.send(self.peer, response.clone());
                match code {
                    100..=199 => self.stored = response,
                    200..=299 => {
                        // RFC 6026: the TU retransmits the 2xx; INVITE retransmissions are
                        // absorbed and the ACK passed up until Timer L.
                        self.machine = Machine::ServerInvite(ServerInvite::Accepted);
                        self.stored = Bytes::new();
                        self.arm_expire(out, TimerKind::L, t1x64);
                    }
                    _ => {
                        self.machine = Machine::ServerInvite(ServerInvite::Completed);
                        self.stored = response;
                        if !self.reliable() {
                            let t1 = out.cfg.t1;
                            self.arm_retransmit(out, TimerKind::G, t1);
                        }
                        self.arm_expire(out, TimerKind::H, t1x64);
                    }
                }
                Ok(Fate::Keep)
            }
            // Retransmissions of the 2xx (and 2xx for other forks) pass through.
            Machine::ServerInvite(ServerInvite::Accepted) if (200..300).contains(&code) => {
                out.send(self.peer, response);
                Ok(Fate::Keep)
            }
            Machine::ServerNonInvite(ServerNonInvite::Trying | ServerNonInvite::Proceeding) => {
                if code < 200 {
                    out.send(self.peer, response.clone());
                    self.stored = response;
                    self.machine = Machine::ServerNonInvite(ServerNonInvite::Proceeding);
                    Ok(Fate::Keep)
                } else {
                    self.machine = Machine::ServerNonInvite(ServerNonInvite::Completed);
                    // Replaces the TU guard.
                    let fate = self.linger(out, TimerKind::J, t1x64);
                    self.stored = match fate {
                        // Kept for 64·T1: a copy of exactly its length, so that the builder's
                        // spare capacity is freed once the transmit is sent.
                        Fate::Keep => Bytes::copy_from_slice(&response),
                        Fate::Terminate => Bytes::new(),
                    };
                    out.send(self.peer, response);
                    Ok(fate)
                }
            }
            _ => Err(TxError::ResponseAfterFinal { status: code }),
        }
    }

    /// A server timer fired (the caller disarmed it).
    pub(crate) fn on_server_timer(&mut self, out: &mut Out<'_>, kind: TimerKind) -> Fate {
        match (kind, self.machine) {
            (TimerKind::G, Machine::ServerInvite(ServerInvite::Completed)) => {
                trace!(id = %out.id, "Timer G: final response sent again");
                self.resend(out);
                let next = (self.interval * 2).min(out.cfg.t2);
                self.arm_retransmit(out, TimerKind::G, next);
                Fate::Keep
            }
            (TimerKind::H, Machine::ServerInvite(ServerInvite::Completed)) => {
                debug!(id = %out.id, "Timer H: no ACK for the final response");
                if !self.by_layer {
                    out.event(Event::AckTimeout {
                        key: ServerKey(out.id),
                    });
                }
                Fate::Terminate
            }
            (TimerKind::TuGuard, _) => {
                debug!(id = %out.id, "no final response from the TU within 64*T1: transaction dropped");
                Fate::Terminate
            }
            (TimerKind::I | TimerKind::J | TimerKind::L, _) => Fate::Terminate,
            _ => Fate::Keep,
        }
    }
}
