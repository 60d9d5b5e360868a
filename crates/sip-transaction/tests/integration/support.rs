//! Peers, messages and a virtual clock for driving the layer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::{ConnId, Message, MessageBuilder, Peer, Transport};
use sip_transaction::{Event, TimerConfig, TransactionLayer, Transmit};

/// The UA's public (NAT) address, as seen by the server.
pub(crate) const UA_PUBLIC: &str = "192.0.2.10:5062";
pub(crate) const LOCAL: &str = "198.51.100.1:5060";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn udp() -> Peer {
    Peer {
        transport: Transport::Udp,
        remote: addr(UA_PUBLIC),
        local: addr(LOCAL),
        conn: None,
    }
}

pub(crate) fn tcp() -> Peer {
    Peer {
        transport: Transport::Tcp,
        remote: addr(UA_PUBLIC),
        local: addr(LOCAL),
        conn: Some(ConnId(7)),
    }
}

pub(crate) fn layer() -> TransactionLayer {
    TransactionLayer::with_seed(TimerConfig::default(), 42)
}

pub(crate) fn parse(b: impl Into<Bytes>) -> Message {
    Message::parse(b.into()).unwrap()
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A request as a UA behind NAT sends it (private sent-by, `rport` asked for).
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: &'static str,
    pub(crate) uri: &'static str,
    pub(crate) branch: String,
    pub(crate) sent_by: &'static str,
    pub(crate) call_id: &'static str,
    pub(crate) from_tag: &'static str,
    pub(crate) to_tag: Option<&'static str>,
    pub(crate) cseq: u32,
    pub(crate) extra: Vec<(&'static str, &'static str)>,
}

impl Req {
    pub(crate) fn new(method: &'static str, branch: &str) -> Self {
        Self {
            method,
            uri: "sip:bob@example.com",
            branch: branch.to_owned(),
            sent_by: "10.0.0.5:5060",
            call_id: "call-1@10.0.0.5",
            from_tag: "ft1",
            to_tag: None,
            cseq: 1,
            extra: Vec::new(),
        }
    }

    pub(crate) fn cseq(mut self, n: u32) -> Self {
        self.cseq = n;
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.extra.push((name, value));
        self
    }

    pub(crate) fn with_to_tag(mut self, tag: &'static str) -> Self {
        self.to_tag = Some(tag);
        self
    }

    pub(crate) fn bytes(&self) -> Bytes {
        let mut b =
            MessageBuilder::request(&sip_message::Method::from_token(self.method), self.uri);
        b.header(
            "Via",
            format_args!("SIP/2.0/UDP {};branch={};rport", self.sent_by, self.branch),
        )
        .header("Max-Forwards", 70)
        .header(
            "From",
            format_args!("<sip:alice@example.com>;tag={}", self.from_tag),
        );
        match self.to_tag {
            Some(t) => b.header("To", format_args!("<sip:bob@example.com>;tag={t}")),
            None => b.header("To", "<sip:bob@example.com>"),
        };
        b.header("Call-ID", self.call_id)
            .header("CSeq", format_args!("{} {}", self.cseq, self.method));
        for (n, v) in &self.extra {
            b.header(n, v);
        }
        b.finish()
    }

    pub(crate) fn msg(&self) -> Message {
        parse(self.bytes())
    }
}

/// What came out of the layer, in order.
#[derive(Debug)]
pub(crate) enum Output {
    Sent(Transmit),
    Ev(Event),
}

pub(crate) fn transmits(l: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

pub(crate) fn events(l: &mut TransactionLayer) -> Vec<Event> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

/// Advances the virtual clock from deadline to deadline up to `t0 + until`, firing timers,
/// and records every output with its time since `t0`.
pub(crate) fn run_until(
    l: &mut TransactionLayer,
    t0: Instant,
    until: Duration,
) -> Vec<(Duration, Output)> {
    let mut out = Vec::new();
    while let Some(at) = l.poll_timeout() {
        if at > t0 + until {
            break;
        }
        assert!(at >= t0, "deadline before the start of the test");
        l.handle_timeout(at);
        let t = at - t0;
        out.extend(transmits(l).into_iter().map(|x| (t, Output::Sent(x))));
        out.extend(events(l).into_iter().map(|e| (t, Output::Ev(e))));
    }
    out
}

/// Times (ms since t0) of the transmits in a run.
pub(crate) fn sent_at(run: &[(Duration, Output)]) -> Vec<u64> {
    run.iter()
        .filter(|(_, o)| matches!(o, Output::Sent(_)))
        .map(|(t, _)| t.as_millis() as u64)
        .collect()
}

/// Times (ms since t0) and events of a run.
pub(crate) fn events_at(run: &[(Duration, Output)]) -> Vec<(u64, &Event)> {
    run.iter()
        .filter_map(|(t, o)| match o {
            Output::Ev(e) => Some((t.as_millis() as u64, e)),
            Output::Sent(_) => None,
        })
        .collect()
}

/// The first line of a payload.
pub(crate) fn first_line(b: &[u8]) -> &str {
    let s = std::str::from_utf8(b).unwrap();
    s.split("\r\n").next().unwrap()
}

/// Takes the single `Event::Request` from the layer.
pub(crate) fn take_request(
    l: &mut TransactionLayer,
) -> (sip_transaction::ServerKey, Message, Peer) {
    let evs = events(l);
    assert_eq!(evs.len(), 1, "{evs:?}");
    match evs.into_iter().next().unwrap() {
        Event::Request { key, request, from } => (key, request, from),
        other => panic!("expected a request, got {other:?}"),
    }
}

/// The response a TU builds (RFC 3581 `received`/`rport` from the source address).
pub(crate) fn tu_response(req: &Message, code: u16, from: &Peer) -> Bytes {
    MessageBuilder::response_to(req, code, Some("uas-tag"), Some(from.remote)).finish()
}

/// A response from a remote UAS to a request we sent.
pub(crate) fn remote_response(req: &Message, code: u16, to_tag: &str) -> Message {
    parse(MessageBuilder::response_to(req, code, Some(to_tag), None).finish())
}
