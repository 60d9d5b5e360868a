//! Dead flows: a message the transports could not hand over goes back to the transaction
//! layer, so the request fails at once (RFC 3261 §8.1.3.1, §18.4: as a 503) instead of at
//! its 32 s timer; a TCP/TLS device without an open connection has lost its flow (RFC 5626
//! §4.4: we never connect to devices), and its bindings on that flow are dropped.

use sip_message::{Message, Transport};
use sip_transaction::{Event, Transmit};

use super::Dispatcher;
use crate::persist::Write;
use crate::transport::Sent;
use registrar::BindingChange;

impl Dispatcher {
    /// Sends one message of the transaction layer; a failure is reported back to it.
    pub(super) fn transmit(&mut self, t: Transmit) {
        match self.transports.send(&t.to, &t.payload) {
            Sent::Handed => {}
            Sent::Failed => {
                self.tx.handle_send_error(&t);
            }
            Sent::NoFlow => {
                self.tx.handle_send_error(&t);
                self.flow_failed(&t);
            }
        }
    }

    /// The TCP/TLS flow `t` was for is gone: the bindings of the request's target (the To
    /// user, as the B2BUA and messaging address devices) registered over it are dropped.
    fn flow_failed(&mut self, t: &Transmit) {
        if t.to.transport == Transport::Udp {
            return;
        }
        let Ok(msg) = Message::parse(t.payload.clone()) else {
            return;
        };
        if !msg.is_request() {
            return;
        }
        let Some(login) = msg
            .to_header()
            .ok()
            .and_then(|h| h.uri.user.map(str::to_owned))
        else {
            return;
        };
        let dead: Vec<String> = self
            .registrar
            .location()
            .lookup(&login, std::time::Instant::now())
            .iter()
            .filter(|b| b.source.transport == t.to.transport && b.source.remote == t.to.remote)
            .map(|b| b.key.clone())
            .collect();
        for key in dead {
            if self.registrar.location().remove(&login, &key) {
                tracing::info!(%login, binding = %key, peer = %t.to, "flow failed: binding dropped (RFC 5626 §4.4)");
                let _ = self.writes.send(Write::Binding(BindingChange::Remove {
                    login: login.clone(),
                    key,
                }));
            }
        }
    }

    /// [`Event::TransportError`]: the TU that sent the request acts as on a 503.
    pub(super) fn transport_error(&mut self, now: std::time::Instant, ev: Event) {
        let Event::TransportError { key } = ev else {
            return;
        };
        self.client_answer(now, key, super::Answer::TransportError);
    }
}
