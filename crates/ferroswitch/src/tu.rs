//! Which transaction user started each client transaction: the dispatcher's transaction
//! layer with one key → TU map beside it, so a response, a timeout or a transport error goes
//! back to the TU that sent the request with one lookup, instead of being offered to each TU
//! in turn.
//!
//! The map is filled where requests start ([`Transactions::send_request`], called by the
//! [`TxOut`](crate::calls::TxOut) lent to a TU, which carries the TU's tag) and emptied by
//! the answer that ends the transaction. Only client transactions count: ACKs go out with
//! `send_stateless` and the layer's retransmissions reuse their transaction's key.

use std::collections::{HashMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::time::Instant;

use sip_message::{Message, Method, Peer};
use sip_transaction::{ClientKey, TransactionLayer, TxError};

/// A transaction user of the dispatcher: who gets the answers of a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tu {
    /// NOTIFYs (`presence_io.rs`).
    Presence,
    /// Forwarded MESSAGEs (`messaging_io.rs`).
    Messaging,
    /// The B2BUA: INVITE, CANCEL, BYE, in-dialog requests it relays or sends.
    Calls,
}

/// How long, in T1s, the key of an INVITE answered 2xx is kept: twice Timer M (64·T1), so
/// a 2xx read just as Timer M is due still finds its TU.
const LINGER_T1: u32 = 128;

#[derive(Debug)]
struct Owner {
    tu: Tu,
    /// An INVITE: its 2xx may come again (retransmissions, other forks) until Timer M.
    invite: bool,
    /// Answered 2xx: in [`Transactions::lingering`].
    accepted: bool,
}

/// The transaction layer with the TU of every client transaction started through it. It
/// derefs to the layer for everything else (messages in, timers, responses, transmits);
/// `send_request` takes the TU, so no request starts without one.
pub(crate) struct Transactions {
    layer: TransactionLayer,
    owners: HashMap<ClientKey, Owner>,
    /// INVITEs answered 2xx, with when their key may go: the layer passes every 2xx up
    /// until its Timer M (64·T1 after the first) ends the transaction, and the B2BUA ACKs
    /// each.
    lingering: VecDeque<(Instant, ClientKey)>,
}

impl Transactions {
    pub(crate) fn new(layer: TransactionLayer) -> Self {
        Self {
            layer,
            owners: HashMap::new(),
            lingering: VecDeque::new(),
        }
    }

    /// Starts a client transaction for `tu` ([`TransactionLayer::send_request`]).
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        request: Message,
        to: Peer,
        tu: Tu,
    ) -> Result<ClientKey, TxError> {
        let invite = request.method() == Some(&Method::Invite);
        let key = self.layer.send_request(now, request, to)?;
        self.owners.insert(
            key,
            Owner {
                tu,
                invite,
                accepted: false,
            },
        );
        Ok(key)
    }

    /// The TU an answer of client transaction `key` goes to; `None` for a key we did not
    /// start (or forgot). `status` is the response's code, 408 for a timeout, 503 for a
    /// transport error: a final one ends the transaction and the key is forgotten, but for a
    /// 2xx to an INVITE, kept until the layer can pass no more of them.
    pub(crate) fn owner(&mut self, now: Instant, key: ClientKey, status: u16) -> Option<Tu> {
        while let Some(&(until, k)) = self.lingering.front() {
            if until > now {
                break;
            }
            self.lingering.pop_front();
            self.owners.remove(&k);
        }
        let owner = self.owners.get_mut(&key)?;
        let tu = owner.tu;
        if status < 200 {
            return Some(tu);
        }
        if owner.invite && (200..300).contains(&status) {
            if !owner.accepted {
                owner.accepted = true;
                let linger = self.layer.config().t1 * LINGER_T1;
                self.lingering.push_back((now + linger, key));
            }
        } else {
            self.owners.remove(&key);
        }
        Some(tu)
    }

    /// Client transactions with a TU on record (for tests and gauges).
    #[cfg(test)]
    fn owned(&self) -> usize {
        self.owners.len()
    }
}

impl Deref for Transactions {
    type Target = TransactionLayer;

    fn deref(&self) -> &TransactionLayer {
        &self.layer
    }
}

impl DerefMut for Transactions {
    fn deref_mut(&mut self) -> &mut TransactionLayer {
        &mut self.layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use bytes::Bytes;
    use sip_message::{MessageBuilder, Transport};
    use sip_transaction::{Event, TimerConfig};

    fn peer() -> Peer {
        Peer {
            transport: Transport::Udp,
            remote: "127.0.0.1:5070".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
        }
    }

    fn request(method: &str, branch: &str) -> Message {
        Message::parse(Bytes::from(format!(
            "{method} sip:bob@127.0.0.1:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\n\
             To: <sip:bob@example.com>\r\nCall-ID: {branch}\r\nCSeq: 1 {method}\r\n\
             Contact: <sip:alice@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    /// The peer answers `req` with `code`: the layer's event for it, as the dispatcher
    /// gets it.
    fn answer(t: &mut Transactions, now: Instant, req: &Message, code: u16) -> Option<Event> {
        let resp = MessageBuilder::response_to(req, code, Some("b"), None).finish();
        t.handle_message(now, Message::parse(resp).unwrap(), peer());
        t.poll_event()
    }

    fn routed(t: &mut Transactions, now: Instant, ev: Option<Event>) -> Option<Tu> {
        match ev {
            Some(Event::Response { key, response, .. }) => {
                t.owner(now, key, response.status().unwrap())
            }
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn answers_go_to_the_tu_that_sent_the_request_once() {
        let now = Instant::now();
        let mut t = Transactions::new(TransactionLayer::with_seed(TimerConfig::default(), 1));
        let message = request("MESSAGE", "m");
        let notify = request("NOTIFY", "n");
        let bye = request("BYE", "b");
        let m = t.send_request(now, message.clone(), peer(), Tu::Messaging);
        t.send_request(now, notify.clone(), peer(), Tu::Presence)
            .unwrap();
        t.send_request(now, bye.clone(), peer(), Tu::Calls).unwrap();

        let ev = answer(&mut t, now, &message, 180);
        assert_eq!(routed(&mut t, now, ev), Some(Tu::Messaging));
        let ev = answer(&mut t, now, &message, 200);
        assert_eq!(routed(&mut t, now, ev), Some(Tu::Messaging));
        let ev = answer(&mut t, now, &notify, 481);
        assert_eq!(routed(&mut t, now, ev), Some(Tu::Presence));
        let ev = answer(&mut t, now, &bye, 200);
        assert_eq!(routed(&mut t, now, ev), Some(Tu::Calls));

        // the final answers ended them: their keys are forgotten
        assert_eq!(t.owned(), 0);
        assert_eq!(t.owner(now, m.unwrap(), 200), None);
    }

    #[test]
    fn a_timeout_or_a_transport_error_ends_the_transaction_too() {
        let now = Instant::now();
        let mut t = Transactions::new(TransactionLayer::with_seed(TimerConfig::default(), 2));
        let a = t
            .send_request(now, request("MESSAGE", "a"), peer(), Tu::Messaging)
            .unwrap();
        let b = t
            .send_request(now, request("NOTIFY", "b"), peer(), Tu::Presence)
            .unwrap();
        assert_eq!(t.owner(now, a, 408), Some(Tu::Messaging));
        assert_eq!(t.owner(now, b, 503), Some(Tu::Presence));
        assert_eq!(t.owner(now, a, 408), None);
        assert_eq!(t.owner(now, b, 503), None);
        assert_eq!(t.owned(), 0);
    }

    #[test]
    fn a_key_nobody_sent_through_the_map_has_no_tu() {
        let now = Instant::now();
        let mut t = Transactions::new(TransactionLayer::with_seed(TimerConfig::default(), 3));
        // started on the layer itself, past the map
        let req = request("OPTIONS", "o");
        let layer: &mut TransactionLayer = &mut t;
        layer.send_request(now, req.clone(), peer()).unwrap();
        let ev = answer(&mut t, now, &req, 200);
        assert_eq!(routed(&mut t, now, ev), None);
    }

    #[test]
    fn an_invite_keeps_its_tu_for_every_2xx_until_timer_m() {
        let now = Instant::now();
        let mut t = Transactions::new(TransactionLayer::with_seed(TimerConfig::default(), 4));
        let invite = request("INVITE", "i");
        let key = t
            .send_request(now, invite.clone(), peer(), Tu::Calls)
            .unwrap();
        let ev = answer(&mut t, now, &invite, 200);
        assert_eq!(routed(&mut t, now, ev), Some(Tu::Calls));
        // another fork's 2xx, later: the B2BUA still gets it (to ACK and BYE it)
        let later = now + Duration::from_secs(1);
        let fork = MessageBuilder::response_to(&invite, 200, Some("fork2"), None).finish();
        t.handle_message(later, Message::parse(fork).unwrap(), peer());
        let ev = t.poll_event();
        assert_eq!(routed(&mut t, later, ev), Some(Tu::Calls));
        assert_eq!(t.owned(), 1);
        // once the layer can pass no more, the key goes
        let gone = now + t.config().t1 * LINGER_T1;
        assert_eq!(t.owner(gone, key, 200), None);
        assert_eq!(t.owned(), 0);
    }

    #[test]
    fn a_non_2xx_final_to_an_invite_forgets_it_at_once() {
        let now = Instant::now();
        let mut t = Transactions::new(TransactionLayer::with_seed(TimerConfig::default(), 5));
        let invite = request("INVITE", "j");
        let key = t
            .send_request(now, invite.clone(), peer(), Tu::Calls)
            .unwrap();
        let ev = answer(&mut t, now, &invite, 486);
        assert_eq!(routed(&mut t, now, ev), Some(Tu::Calls));
        assert_eq!(t.owner(now, key, 486), None);
    }
}
