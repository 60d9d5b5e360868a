//! The client machines: INVITE (RFC 3261 §17.1.1 with the RFC 6026 Accepted state) and
//! non-INVITE (§17.1.2).

use std::time::Duration;

use bytes::Bytes;
use sip_message::{HeaderName, Message, MessageBuilder, Method, Peer};
use tracing::{debug, trace};

use crate::key::ClientKey;
use crate::timer::TimerKind;
use crate::transaction::{ClientInvite, ClientNonInvite, Fate, Machine, Out, Transaction};
use crate::Event;

/// Timer D: at least 32 s on unreliable transports, and no shorter than the server's Timer H
/// window when T1 is raised.
fn timer_d(out: &Out<'_>) -> Duration {
    Duration::from_secs(32).max(out.t1x64())
}

/// The ACK for a non-2xx final response to `invite` (RFC 3261 §17.1.1.3): the INVITE's
/// Request-URI, top Via only, Route set, From, Call-ID and CSeq number; To from the response.
///
/// `invite` is what the layer sent: [`Message::to_bytes`] of the TU's request, so one header
/// per line under its full canonical name with a trimmed value. The lines the ACK needs are
/// picked from those bytes; the INVITE is not parsed again.
pub(crate) fn build_ack(invite: &Bytes, response: &Message) -> Option<Bytes> {
    let head = invite.get(..invite.windows(4).position(|w| w == b"\r\n\r\n")?)?;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let start = std::str::from_utf8(lines.next()?).ok()?;
    let uri = start.strip_prefix("INVITE ")?.strip_suffix(" SIP/2.0")?;
    let (mut via, mut from, mut call_id, mut cseq) = (None, None, None, None);
    let mut routes = Vec::new();
    for line in lines {
        let line = std::str::from_utf8(line).ok()?;
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        match name {
            "Via" if via.is_none() => via = Some(value.split(',').next()?.trim_end()),
            "Route" => routes.push(value),
            "From" => from = Some(value),
            "Call-ID" => call_id = Some(value),
            "CSeq" => cseq = value.split_ascii_whitespace().next(),
            _ => {}
        }
    }
    let mut b = MessageBuilder::request(&Method::Ack, uri);
    b.header("Via", via?);
    for route in routes {
        b.header("Route", route);
    }
    b.header("Max-Forwards", 70);
    b.header("From", from?);
    b.header("To", response.header(&HeaderName::To)?);
    b.header("Call-ID", call_id?);
    b.header("CSeq", format_args!("{} ACK", cseq?));
    Some(b.finish())
}

impl Transaction {
    /// Starts a client transaction: the first transmission and its timers.
    pub(crate) fn start_client(&mut self, out: &mut Out<'_>) {
        self.resend(out);
        let (t1, t1x64) = (out.cfg.t1, out.t1x64());
        let (retransmit, timeout) = match self.machine {
            Machine::ClientInvite { .. } => (TimerKind::A, TimerKind::B),
            _ => (TimerKind::E, TimerKind::F),
        };
        if !self.reliable() {
            self.arm_retransmit(out, retransmit, t1);
        }
        self.arm_expire(out, timeout, t1x64);
    }

    /// The TU sent a CANCEL for this INVITE client transaction.
    pub(crate) fn on_cancel_sent(&mut self, out: &mut Out<'_>) {
        if let Machine::ClientInvite { state, cancelled } = &mut self.machine {
            *cancelled = true;
            // In Calling, Timer B already bounds the wait; Proceeding has no timer of its own.
            if *state == ClientInvite::Proceeding && self.expire.is_none() {
                let t1x64 = out.t1x64();
                self.arm_expire(out, TimerKind::CancelGuard, t1x64);
            }
        }
    }

    /// A response matched this client transaction.
    pub(crate) fn on_response(&mut self, out: &mut Out<'_>, response: Message, from: Peer) -> Fate {
        let Some(code) = response.status() else {
            return Fate::Keep;
        };
        let key = ClientKey(out.id);
        let t1x64 = out.t1x64();
        match self.machine {
            Machine::ClientInvite {
                state: ClientInvite::Calling | ClientInvite::Proceeding,
                cancelled,
            } => {
                self.stop_retransmit();
                match code {
                    100..=199 => {
                        if self.machine
                            != (Machine::ClientInvite {
                                state: ClientInvite::Proceeding,
                                cancelled,
                            })
                        {
                            self.machine = Machine::ClientInvite {
                                state: ClientInvite::Proceeding,
                                cancelled,
                            };
                            // Timer B only runs in Calling.
                            self.stop_expire();
                            if cancelled {
                                self.arm_expire(out, TimerKind::CancelGuard, t1x64);
                            }
                        }
                        out.event(Event::Response {
                            key,
                            response,
                            from,
                        });
                        Fate::Keep
                    }
                    200..=299 => {
                        self.machine = Machine::ClientInvite {
                            state: ClientInvite::Accepted,
                            cancelled,
                        };
                        self.stored = Bytes::new();
                        self.arm_expire(out, TimerKind::M, t1x64);
                        out.event(Event::Response {
                            key,
                            response,
                            from,
                        });
                        Fate::Keep
                    }
                    _ => {
                        self.machine = Machine::ClientInvite {
                            state: ClientInvite::Completed,
                            cancelled,
                        };
                        match build_ack(&self.stored, &response) {
                            Some(ack) => {
                                self.stored = ack;
                                self.resend(out);
                            }
                            None => {
                                debug!(id = %out.id, "could not build the ACK for a non-2xx final response");
                                self.stored = Bytes::new();
                            }
                        }
                        self.stop_expire();
                        out.event(Event::Response {
                            key,
                            response,
                            from,
                        });
                        let d = timer_d(out);
                        self.linger(out, TimerKind::D, d)
                    }
                }
            }
            Machine::ClientInvite {
                state: ClientInvite::Completed,
                ..
            } => {
                if code >= 300 {
                    trace!(id = %out.id, "final response retransmission: ACK sent again");
                    self.resend(out);
                }
                Fate::Keep
            }
            Machine::ClientInvite {
                state: ClientInvite::Accepted,
                ..
            } => {
                // 2xx retransmissions and 2xx from other forks: the TU (dialog) ACKs each.
                if (200..300).contains(&code) {
                    out.event(Event::Response {
                        key,
                        response,
                        from,
                    });
                }
                Fate::Keep
            }
            Machine::ClientNonInvite(ClientNonInvite::Trying | ClientNonInvite::Proceeding) => {
                if code < 200 {
                    // Timer E keeps its pending deadline and is re-armed with T2 when it fires.
                    self.machine = Machine::ClientNonInvite(ClientNonInvite::Proceeding);
                    out.event(Event::Response {
                        key,
                        response,
                        from,
                    });
                    Fate::Keep
                } else {
                    self.machine = Machine::ClientNonInvite(ClientNonInvite::Completed);
                    self.stop_retransmit();
                    self.stop_expire();
                    self.stored = Bytes::new();
                    out.event(Event::Response {
                        key,
                        response,
                        from,
                    });
                    let t4 = out.cfg.t4;
                    self.linger(out, TimerKind::K, t4)
                }
            }
            Machine::ClientNonInvite(ClientNonInvite::Completed) => Fate::Keep,
            Machine::ServerInvite(_) | Machine::ServerNonInvite(_) => Fate::Keep,
        }
    }

    /// A client timer fired (the caller disarmed it).
    pub(crate) fn on_client_timer(&mut self, out: &mut Out<'_>, kind: TimerKind) -> Fate {
        let key = ClientKey(out.id);
        match (kind, self.machine) {
            (
                TimerKind::A,
                Machine::ClientInvite {
                    state: ClientInvite::Calling,
                    ..
                },
            ) => {
                trace!(id = %out.id, "Timer A: INVITE sent again");
                self.resend(out);
                let next = self.interval * 2;
                self.arm_retransmit(out, TimerKind::A, next);
                Fate::Keep
            }
            (
                TimerKind::E,
                Machine::ClientNonInvite(
                    state @ (ClientNonInvite::Trying | ClientNonInvite::Proceeding),
                ),
            ) => {
                trace!(id = %out.id, "Timer E: request sent again");
                self.resend(out);
                let next = match state {
                    ClientNonInvite::Trying => (self.interval * 2).min(out.cfg.t2),
                    _ => out.cfg.t2,
                };
                self.arm_retransmit(out, TimerKind::E, next);
                Fate::Keep
            }
            (TimerKind::B | TimerKind::F | TimerKind::CancelGuard, _) => {
                debug!(id = %out.id, ?kind, "client transaction timed out");
                out.event(Event::Timeout { key });
                Fate::Terminate
            }
            (TimerKind::D | TimerKind::K | TimerKind::M, _) => Fate::Terminate,
            _ => Fate::Keep,
        }
    }
}
