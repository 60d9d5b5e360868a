//! The test bench: a real transaction layer (no sockets) under the messaging core; the bench
//! plays the driver (drains the actions, reports back) and the devices (answer forwards).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use messaging::{
    Action, Deferred, Destination, Device, Devices, Messaging, Sender, Status, Text, ROUND_BATCH,
};
use sip_message::{Message, MessageBuilder, Peer, Transport};
use sip_transaction::{ClientKey, Event, Outbox, ServerKey, TimerConfig, TransactionLayer};

pub(crate) fn peer(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        remote: SocketAddr::from(([127, 0, 0, 1], port)),
        local: SocketAddr::from(([127, 0, 0, 1], 5060)),
        conn: None,
    }
}

/// A test bench: a real transaction layer (server side for the sender's MESSAGE, client
/// side for the forwards), the accounts and their devices.
pub(crate) struct Bench {
    pub(crate) tx: TransactionLayer,
    /// The transaction layer's clock; it never moves (nothing here waits for a timer).
    pub(crate) now: Instant,
    pub(crate) m: Messaging,
    pub(crate) accounts: Accounts,
}

/// The core's answer timeout in these tests.
pub(crate) const ANSWER_AFTER: Duration = Duration::from_secs(4);

/// The accounts and their devices, as the location table would give them.
pub(crate) struct Accounts(HashMap<String, Vec<Device>>);

impl Devices for Accounts {
    fn devices(&self, login: &str) -> Option<Vec<Device>> {
        self.0.get(login).cloned()
    }
}

/// A recipient that has devices or not, whatever the accounts say.
pub(crate) struct Online(pub(crate) bool);

impl Devices for Online {
    fn devices(&self, _login: &str) -> Option<Vec<Device>> {
        Some(vec![])
    }
    fn online(&self, _login: &str) -> bool {
        self.0
    }
}

/// The driver's outbox over the transaction layer.
pub(crate) struct Out<'a> {
    pub(crate) tx: &'a mut TransactionLayer,
    pub(crate) now: Instant,
}

impl Outbox for Out<'_> {
    fn respond(&mut self, key: &ServerKey, response: Bytes) {
        self.tx.respond(self.now, key, response).unwrap();
    }
    fn send_request(&mut self, request: Message, to: Peer) -> Option<ClientKey> {
        self.tx.send_request(self.now, request, to).ok()
    }
    fn send_stateless(&mut self, payload: Bytes, to: Peer) {
        self.tx.send_stateless(payload, to);
    }
}

impl Bench {
    /// alice and bob exist, have no device, and are known to have no stored message.
    pub(crate) fn new() -> Self {
        let mut accounts = HashMap::new();
        accounts.insert("alice".to_owned(), vec![]);
        accounts.insert("bob".to_owned(), vec![]);
        let mut b = Self {
            tx: TransactionLayer::with_seed(TimerConfig::default(), 7),
            now: Instant::now(),
            m: Messaging::new("example.com", 1),
            accounts: Accounts(accounts),
        };
        b.m.set_answer_timeout(ANSWER_AFTER);
        b.asked("alice");
        b.asked("bob");
        b
    }

    /// A delivery round of `login` finds no stored message: from then on the core knows it
    /// has none (tests start from there), so a MESSAGE for it goes straight to its devices.
    fn asked(&mut self, login: &str) {
        self.m.registered(login, true);
        assert_eq!(
            self.actions(),
            vec![Action::FetchPending {
                login: login.into(),
                limit: ROUND_BATCH
            }]
        );
        let mut out = Out {
            tx: &mut self.tx,
            now: self.now,
        };
        self.m
            .pending_fetched(login, Ok(vec![]), &self.accounts, &mut out);
        assert!(self.actions().is_empty());
        assert!(self.wire().is_empty());
    }

    /// Expects the one action "store it deferred" and reports it stored; `online` says
    /// whether the recipient has devices now (the accounts say so too: `online`).
    pub(crate) fn stored_deferred(&mut self, online: bool) {
        let a = self.actions();
        let [Action::Store {
            job: Some(job),
            status: Status::Deferred,
            ..
        }] = a.as_slice()
        else {
            panic!("{a:?}");
        };
        let mut out = Out {
            tx: &mut self.tx,
            now: self.now,
        };
        let devices = Online(online);
        self.m.stored(*job, Ok(true), &devices, &mut out);
    }

    pub(crate) fn online(&mut self, login: &str, ports: &[u16]) {
        self.accounts.0.insert(
            login.to_owned(),
            ports
                .iter()
                .map(|p| Device {
                    contact: format!("sip:{login}@127.0.0.1:{p}"),
                    peer: peer(*p),
                    path: None,
                })
                .collect(),
        );
    }

    /// alice sends `body` to `to` (Call-ID `cid`): the server transaction's key.
    pub(crate) fn send(&mut self, to: &str, body: &str, cid: &str, dest: Destination) -> ServerKey {
        self.send_as(to, body, cid, dest, false)
    }

    /// Like [`Self::send`]; `system`: a trusted peer's system command.
    pub(crate) fn send_as(
        &mut self,
        to: &str,
        body: &str,
        cid: &str,
        dest: Destination,
        system: bool,
    ) -> ServerKey {
        let raw = format!(
            "MESSAGE sip:{to}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK{cid}\r\n\
             From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:{to}@example.com>\r\nCall-ID: {cid}\r\n\
             CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.tx.handle_message(
            self.now,
            Message::parse(Bytes::from(raw)).unwrap(),
            peer(6000),
        );
        let Some(Event::Request { key, request, from }) = self.tx.poll_event() else {
            panic!("no request event");
        };
        let mut out = Out {
            tx: &mut self.tx,
            now: self.now,
        };
        self.m.incoming(
            self.now,
            key,
            request,
            from,
            Sender {
                login: "alice".into(),
                display_name: Some("Alice".into()),
            },
            system,
            dest,
            &self.accounts,
            &mut out,
        );
        key
    }

    /// What went on the wire: (destination port, message).
    pub(crate) fn wire(&mut self) -> Vec<(u16, Message)> {
        let mut v = Vec::new();
        while let Some(t) = self.tx.poll_transmit() {
            v.push((t.to.remote.port(), Message::parse(t.payload).unwrap()));
        }
        v
    }

    pub(crate) fn actions(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(a) = self.m.poll_action() {
            out.push(a);
        }
        out
    }

    /// Every answer timer armed so far fires: the core's clock jumps past them.
    pub(crate) fn fire_timers(&mut self) {
        let _ = self.actions();
        let mut out = Out {
            tx: &mut self.tx,
            now: self.now,
        };
        self.m.handle_timeout(self.now + ANSWER_AFTER, &mut out);
        assert_eq!(self.m.poll_timeout(), None, "every timer fired");
    }

    /// The device at `port` answers `msg` with `code`.
    pub(crate) fn answer(&mut self, port: u16, msg: &Message, code: u16) {
        let resp = MessageBuilder::response_to(msg, code, Some("dev"), None).finish();
        self.tx
            .handle_message(self.now, Message::parse(resp).unwrap(), peer(port));
        while let Some(ev) = self.tx.poll_event() {
            if let Event::Response { key, response, .. } = ev {
                let mut out = Out {
                    tx: &mut self.tx,
                    now: self.now,
                };
                let status = response.status().unwrap();
                assert!(self.m.response(key, status, &self.accounts, &mut out));
            }
        }
    }
}

pub(crate) fn status_of(wire: &[(u16, Message)]) -> Vec<(u16, u16)> {
    wire.iter()
        .filter_map(|(p, m)| m.status().map(|s| (*p, s)))
        .collect()
}

pub(crate) fn deferred(id: i64, body: &str, attempts: u32) -> Deferred {
    Deferred {
        id,
        text: Text {
            sender: "alice".into(),
            display_name: None,
            recipient: "bob".into(),
            call_id: format!("s{id}"),
            cseq: 1,
            content_type: "text/plain".into(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        },
        attempts,
    }
}
