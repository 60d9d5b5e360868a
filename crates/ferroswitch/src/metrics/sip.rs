//! SIP traffic counters on the hot path: pre-registered handles indexed by method and code
//! class, so counting a message is a table index and an atomic add (no registry lookup, no
//! allocation). Outgoing messages are classified from their bytes (first line, CSeq), incoming
//! ones from the parsed [`Message`].

use super::Handles;
use sip_message::{HeaderName, Message, Method, Transport};

/// Method label values; the last one stands for every extension method.
pub(crate) const METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "REFER",
    "OTHER",
];
const OTHER: usize = METHODS.len() - 1;

/// Code class label values, for 1xx..6xx.
pub(crate) const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// Transport label values, in [`transport_index`] order.
pub(crate) const TRANSPORTS: [&str; 5] = ["udp", "tcp", "tls", "ws", "wss"];

pub(crate) fn transport_index(t: Transport) -> usize {
    match t {
        Transport::Udp => 0,
        Transport::Tcp => 1,
        Transport::Tls => 2,
        Transport::Ws => 3,
        Transport::Wss => 4,
    }
}

fn method_index(m: &Method) -> usize {
    match m {
        Method::Invite => 0,
        Method::Ack => 1,
        Method::Bye => 2,
        Method::Cancel => 3,
        Method::Register => 4,
        Method::Options => 5,
        Method::Info => 6,
        Method::Update => 7,
        Method::Prack => 8,
        Method::Subscribe => 9,
        Method::Notify => 10,
        Method::Publish => 11,
        Method::Message => 12,
        Method::Refer => 13,
        _ => OTHER,
    }
}

/// The method label index of a method token (case-sensitive, as RFC 3261 says).
fn token_index(token: &[u8]) -> usize {
    METHODS[..OTHER]
        .iter()
        .position(|m| m.as_bytes() == token)
        .unwrap_or(OTHER)
}

/// The code class index of a status code; `None` outside 100..=699.
pub(crate) fn class_index(code: u16) -> Option<usize> {
    (100..700)
        .contains(&code)
        .then(|| usize::from(code / 100 - 1))
}

/// The method of a CSeq header value (`1 INVITE`).
fn cseq_method(value: &[u8]) -> usize {
    let mut it = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    let _seq = it.next();
    it.next().map_or(OTHER, token_index)
}

const N_METHODS: usize = METHODS.len();
const N_RESPONSES: usize = METHODS.len() * CLASSES.len();

static REQUESTS_IN: Handles<N_METHODS> =
    Handles::new(|i| metrics::counter!(super::REQUESTS_RECEIVED, "method" => METHODS[i]));
static REQUESTS_OUT: Handles<N_METHODS> =
    Handles::new(|i| metrics::counter!(super::REQUESTS_SENT, "method" => METHODS[i]));
static RESPONSES_IN: Handles<N_RESPONSES> = Handles::new(|i| {
    metrics::counter!(super::RESPONSES_RECEIVED,
        "method" => METHODS[i / CLASSES.len()], "code_class" => CLASSES[i % CLASSES.len()])
});
static RESPONSES_OUT: Handles<N_RESPONSES> = Handles::new(|i| {
    metrics::counter!(super::RESPONSES_SENT,
        "method" => METHODS[i / CLASSES.len()], "code_class" => CLASSES[i % CLASSES.len()])
});
static DROPPED: Handles<3> = Handles::new(
    |i| metrics::counter!(super::DROPPED, "reason" => ["unparsable", "malformed", "shard_busy"][i]),
);
static HANDOFFS: Handles<4> = Handles::new(|i| {
    metrics::counter!(super::SHARD_HANDOFFS,
        "parsed" => ["no", "yes"][i / 2], "message" => ["request", "response"][i % 2])
});

static KEPT: Handles<1> = Handles::new(|_| metrics::counter!(super::SHARD_KEPT));

/// An INVITE kept on the shard whose socket it landed on, not handed to its Call-ID's shard
/// (the shards were merged on one task; `dispatcher/shard.rs` `kept_where_landed`).
pub(crate) fn kept_where_landed() {
    KEPT.get(0).increment(1);
}

/// A message that passed parse and sanity at the edge.
pub(crate) fn received(msg: &Message) {
    if let Some(m) = msg.method() {
        REQUESTS_IN.get(method_index(m)).increment(1);
    } else if let Some(class) = msg.status().and_then(class_index) {
        let method = msg
            .header(&HeaderName::CSeq)
            .map_or(OTHER, |v| cseq_method(v.as_bytes()));
        RESPONSES_IN
            .get(method * CLASSES.len() + class)
            .increment(1);
    }
}

/// A message that could not be parsed.
pub(crate) fn unparsable() {
    DROPPED.get(0).increment(1);
}

/// A datagram handed to its owner shard (`shards.rs`): unparsed (its owner read from its raw
/// bytes), or `parsed` (the raw scan was not sure); a request or a `response` (with the
/// kernel's steering program few responses are: `sip_message::steer`).
pub(crate) fn handed_off(parsed: bool, response: bool) {
    HANDOFFS
        .get(usize::from(parsed) * 2 + usize::from(response))
        .increment(1);
}

/// A datagram for a shard whose queue was full, dropped.
pub(crate) fn handoff_dropped() {
    DROPPED.get(2).increment(1);
}

/// A message that failed the sanity check (dropped, or refused with 4xx/5xx).
pub(crate) fn malformed() {
    DROPPED.get(1).increment(1);
}

/// What an outgoing message is, from its bytes: `(method, Some(class))` for a response,
/// `(method, None)` for a request; `None` when it is neither (a keep-alive).
pub(crate) fn classify(payload: &[u8]) -> Option<(usize, Option<usize>)> {
    if let Some(rest) = payload.strip_prefix(b"SIP/2.0 ") {
        let code = rest
            .get(..3)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u16>().ok())?;
        let class = class_index(code)?;
        let method = cseq_of(payload).map_or(OTHER, cseq_method);
        return Some((method, Some(class)));
    }
    let sp = memchr::memchr(b' ', payload)?;
    Some((token_index(&payload[..sp]), None))
}

/// The CSeq header value of a message's bytes: `CSeq:` as we and nearly everyone write it,
/// else any case.
fn cseq_of(payload: &[u8]) -> Option<&[u8]> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    // built once: a searcher's setup would otherwise be paid per message
    static HEAD_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));
    static CSEQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\nCSeq:"));
    let head_end = HEAD_END.find(payload).unwrap_or(payload.len());
    let head = &payload[..head_end];
    let start = match CSEQ.find(head) {
        Some(i) => i + 6,
        None => {
            head.windows(6)
                .position(|w| w[0] == b'\n' && w[1..].eq_ignore_ascii_case(b"cseq:"))?
                + 6
        }
    };
    let value = &head[start..];
    let end = memchr::memchr(b'\r', value).unwrap_or(value.len());
    Some(&value[..end])
}

/// A message handed to a socket or connection.
pub(crate) fn sent(payload: &[u8]) {
    match classify(payload) {
        Some((method, Some(class))) => RESPONSES_OUT
            .get(method * CLASSES.len() + class)
            .increment(1),
        Some((method, None)) => REQUESTS_OUT.get(method).increment(1),
        None => {}
    }
}

/// What the location table holds, by transport.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Registrations {
    pub(crate) users: usize,
    pub(crate) users_by_transport: [usize; TRANSPORTS.len()],
    pub(crate) contacts_by_transport: [usize; TRANSPORTS.len()],
}

/// Counts the live (unexpired at `now`) contacts and the logins that have some.
pub(crate) fn count_registrations(
    location: &registrar::Location,
    now: std::time::Instant,
) -> Registrations {
    let mut r = Registrations::default();
    location.for_each_login(|_, list| {
        // the transports this login has a live contact on
        let mut on = [false; TRANSPORTS.len()];
        for b in list.iter().filter(|b| b.expires_at > now) {
            let t = transport_index(b.source.transport);
            r.contacts_by_transport[t] += 1;
            on[t] = true;
        }
        if on.contains(&true) {
            r.users += 1;
        }
        for (t, on) in on.iter().enumerate() {
            r.users_by_transport[t] += usize::from(*on);
        }
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_classes() {
        assert_eq!(class_index(100), Some(0));
        assert_eq!(class_index(199), Some(0));
        assert_eq!(class_index(200), Some(1));
        assert_eq!(class_index(302), Some(2));
        assert_eq!(class_index(401), Some(3));
        assert_eq!(class_index(503), Some(4));
        assert_eq!(class_index(699), Some(5));
        assert_eq!(class_index(99), None);
        assert_eq!(class_index(700), None);
        assert_eq!(CLASSES[class_index(487).unwrap()], "4xx");
    }

    #[test]
    fn outgoing_messages_are_classified_from_their_bytes() {
        let resp = b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(classify(resp), Some((4, Some(3))));
        let lower = b"SIP/2.0 180 Ringing\r\ncseq:  2   INVITE\r\n\r\n";
        assert_eq!(classify(lower), Some((0, Some(0))));
        // a CSeq in the body is not the header
        let no_cseq = b"SIP/2.0 200 OK\r\nVia: x\r\n\r\nCSeq: 1 BYE\r\n";
        assert_eq!(classify(no_cseq), Some((OTHER, Some(1))));
        let ext = b"SIP/2.0 200 OK\r\nCSeq: 1 FOO\r\n\r\n";
        assert_eq!(classify(ext), Some((OTHER, Some(1))));
        assert_eq!(
            classify(b"NOTIFY sip:a@b SIP/2.0\r\nCSeq: 3 NOTIFY\r\n\r\n"),
            Some((10, None))
        );
        assert_eq!(
            classify(b"FOO sip:a@b SIP/2.0\r\n\r\n"),
            Some((OTHER, None))
        );
        assert_eq!(classify(b"\r\n"), None);
        assert_eq!(classify(b"SIP/2.0 99 Odd\r\n\r\n"), None);
    }

    #[test]
    fn registrations_are_counted_by_transport() {
        use registrar::{Binding, Location};
        use sip_message::Peer;
        let t0 = std::time::Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        let binding = |key: &str, t: Transport, expires_at_ms: u64| Binding {
            key: key.to_owned(),
            contact: format!("<sip:{key}@192.0.2.1>"),
            instance: None,
            reg_id: None,
            q_milli: None,
            expires_at: at(expires_at_ms),
            call_id: "c".to_owned(),
            cseq: 1,
            source: Peer {
                transport: t,
                remote: "192.0.2.1:5060".parse().unwrap(),
                local: "127.0.0.1:5060".parse().unwrap(),
                conn: None,
            },
            reach: registrar::Reach::Flow,
            path: None,
            user_agent: None,
            updated_at: t0,
        };
        let loc = Location::new();
        loc.upsert("alice", binding("a1", Transport::Udp, 10_000));
        loc.upsert("alice", binding("a2", Transport::Tls, 10_000));
        loc.upsert("alice", binding("a3", Transport::Tls, 10_000));
        loc.upsert("bob", binding("b1", Transport::Tcp, 10_000));
        // expired, not purged yet: not counted
        loc.upsert("carol", binding("c1", Transport::Udp, 500));
        assert_eq!(
            count_registrations(&loc, at(1_000)),
            Registrations {
                users: 2,
                users_by_transport: [1, 1, 1, 0, 0],
                contacts_by_transport: [1, 1, 2, 0, 0],
            }
        );
    }
}
