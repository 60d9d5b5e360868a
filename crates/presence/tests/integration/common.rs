//! The test rig: a virtual clock, a harness that plays the driver (lends an outbox over a
//! real transaction layer, drains actions), test user agents that build SUBSCRIBE/PUBLISH the
//! way phones do, and a small multipart parser.

use std::net::SocketAddr;
pub(crate) use std::time::{Duration, Instant};

use bytes::Bytes;
use presence::{
    Action, Buddy, Origin, Persist, PresenceConfig, PresenceServer, PublicationRow, SubscriptionKey,
};
use sip_message::{Message, Peer, Transport};
use sip_transaction::{ClientKey, Event, Outbox, ServerKey, TimerConfig, TransactionLayer};

pub(crate) const DOMAIN: &str = "ex.com";

pub(crate) fn config() -> PresenceConfig {
    PresenceConfig {
        domain: DOMAIN.into(),
        ..PresenceConfig::default()
    }
}

pub(crate) fn peer(port: u16) -> Peer {
    Peer {
        transport: Transport::Tls,
        remote: SocketAddr::from(([192, 0, 2, 10], port)),
        local: SocketAddr::from(([198, 51, 100, 1], 5061)),
        conn: Some(sip_message::ConnId(u64::from(port))),
    }
}

pub(crate) fn origin(port: u16) -> Origin {
    Origin {
        peer: peer(port),
        sent_by: "198.51.100.1:5061".into(),
        contact: "<sip:198.51.100.1:5061;transport=tls>".into(),
    }
}

/// What the core wrote, as a peer reads it: responses come as bytes, NOTIFYs as the message
/// the transaction layer sends as it is (its bytes parse to the same request).
pub(crate) trait Wire {
    fn parsed(&self) -> Message;
}

impl Wire for Bytes {
    fn parsed(&self) -> Message {
        Message::parse(self.clone()).expect("the core writes messages that parse")
    }
}

impl Wire for Message {
    fn parsed(&self) -> Message {
        let again = self.to_bytes().parsed();
        assert_eq!(again.start_line(), self.start_line());
        assert_eq!(
            again.headers(),
            self.headers(),
            "the NOTIFY as built and as sent"
        );
        assert_eq!(again.body(), self.body());
        again
    }
}

pub(crate) fn parse(b: &impl Wire) -> Message {
    b.parsed()
}

/// A header value by name, case-insensitively.
pub(crate) fn header(m: &Message, name: &str) -> Option<String> {
    m.headers()
        .iter()
        .find(|h| h.name.matches(name))
        .map(|h| h.value().to_owned())
}

pub(crate) fn body_text(m: &Message) -> String {
    String::from_utf8(m.body().to_vec()).unwrap()
}

/// A NOTIFY as it went through the outbox.
#[derive(Debug, Clone)]
pub(crate) struct Notify {
    /// Its client transaction: answer it with [`Harness::answer`].
    pub(crate) key: ClientKey,
    pub(crate) to: Peer,
    pub(crate) request: Message,
    /// It says `Subscription-State: terminated`.
    pub(crate) terminated: bool,
    /// The watcher's login: the NOTIFY's To user.
    pub(crate) watcher: String,
}

/// The outbox the harness lends: NOTIFYs start client transactions in a real layer (which
/// hands out their keys) and are recorded; responses are recorded as bytes.
struct Rec<'a> {
    tx: &'a mut TransactionLayer,
    now: Instant,
    notifies: &'a mut Vec<Notify>,
    responses: &'a mut Vec<Bytes>,
}

impl Outbox for Rec<'_> {
    fn respond(&mut self, _key: &ServerKey, response: Bytes) {
        self.responses.push(response);
    }

    fn send_request(&mut self, request: Message, to: Peer) -> Option<ClientKey> {
        let key = self
            .tx
            .send_request(self.now, request.clone(), to)
            .expect("the layer takes every NOTIFY");
        while self.tx.poll_transmit().is_some() {}
        let terminated =
            header(&request, "Subscription-State").is_some_and(|s| s.starts_with("terminated"));
        let watcher = request
            .to_header()
            .ok()
            .and_then(|t| t.uri.user.map(str::to_owned))
            .unwrap_or_default();
        self.notifies.push(Notify {
            key,
            to,
            request,
            terminated,
            watcher,
        });
        Some(key)
    }

    fn send_stateless(&mut self, _payload: Bytes, _to: Peer) {
        panic!("presence sends nothing outside a transaction");
    }
}

/// Plays the driver: feeds inputs with an outbox, collects every output by kind.
pub(crate) struct Harness {
    pub(crate) server: PresenceServer,
    pub(crate) now: Instant,
    tx: TransactionLayer,
    /// The server transaction every request is answered on (the outbox records responses,
    /// so one real key does for all).
    server_key: ServerKey,
    responses: Vec<Bytes>,
    pub(crate) notifies: Vec<Notify>,
    pub(crate) fetch_buddies: Vec<(SubscriptionKey, String)>,
    pub(crate) fetch_state: Vec<(&'static str, String)>,
    pub(crate) persisted: Vec<Persist>,
}

/// Calls `$call` on the harness' server with `$out`, an outbox over its layer, then drains
/// the actions.
macro_rules! with_out {
    ($h:expr, |$server:ident, $out:ident| $call:expr) => {{
        let h = &mut *$h;
        let $server = &mut h.server;
        let mut rec = Rec {
            tx: &mut h.tx,
            now: h.now,
            notifies: &mut h.notifies,
            responses: &mut h.responses,
        };
        let $out = &mut rec;
        let r = $call;
        h.drain();
        r
    }};
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with(config())
    }

    pub(crate) fn with(cfg: PresenceConfig) -> Self {
        let now = Instant::now();
        let mut tx = TransactionLayer::with_seed(TimerConfig::default(), 3);
        let options = Message::parse(Bytes::from_static(
            b"OPTIONS sip:x@ex.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKh\r\n\
              From: <sip:x@ex.com>;tag=1\r\nTo: <sip:x@ex.com>\r\nCall-ID: h\r\n\
              CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        tx.handle_message(now, options, peer(1));
        let Some(Event::Request { key, .. }) = tx.poll_event() else {
            panic!("no request event");
        };
        Self {
            server: PresenceServer::new(cfg, 42),
            now,
            tx,
            server_key: key,
            responses: vec![],
            notifies: vec![],
            fetch_buddies: vec![],
            fetch_state: vec![],
            persisted: vec![],
        }
    }

    pub(crate) fn drain(&mut self) {
        while let Some(a) = self.server.poll_action() {
            match a {
                Action::FetchBuddies {
                    subscription,
                    login,
                } => self.fetch_buddies.push((subscription, login)),
                Action::FetchState { package, login } => self.fetch_state.push((package, login)),
                Action::Persist(p) => self.persisted.push(p),
                other => panic!("unexpected action {other:?}"),
            }
        }
    }

    /// Moves the clock, firing every timer due on the way (in deadline order).
    pub(crate) fn advance(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while let Some(t) = self.server.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            let now = self.now;
            with_out!(self, |s, out| s.handle_timeout(now, out));
        }
        self.now = end;
    }

    /// The one response the last input sent.
    fn response(&mut self) -> Message {
        let [r] = std::mem::take(&mut self.responses)
            .try_into()
            .unwrap_or_else(|v: Vec<Bytes>| panic!("{} responses", v.len()));
        parse(&r)
    }

    pub(crate) fn subscribe(
        &mut self,
        ua: &mut Ua,
        req: Message,
    ) -> (Message, Option<SubscriptionKey>) {
        let (resp, sub) = self.subscribe_as(&ua.login.clone(), ua.port, req);
        if let (Some(200), None) = (resp.status(), &ua.to_tag) {
            ua.to_tag = resp
                .to_header()
                .ok()
                .and_then(|t| t.tag().map(str::to_owned));
        }
        (resp, sub)
    }

    /// A SUBSCRIBE from `login` over the flow of `port`.
    pub(crate) fn subscribe_as(
        &mut self,
        login: &str,
        port: u16,
        req: Message,
    ) -> (Message, Option<SubscriptionKey>) {
        let (now, key, origin) = (self.now, self.server_key, origin(port));
        let sub = with_out!(self, |s, out| s
            .handle_subscribe(now, key, login, &req, &origin, out));
        (self.response(), sub)
    }

    pub(crate) fn publish(&mut self, login: &str, req: Message) -> Message {
        let (now, key) = (self.now, self.server_key);
        with_out!(self, |s, out| s.handle_publish(
            now,
            key,
            login,
            &req,
            peer(7000),
            out
        ));
        self.response()
    }

    pub(crate) fn take_notifies(&mut self) -> Vec<Notify> {
        std::mem::take(&mut self.notifies)
    }

    /// Takes the NOTIFYs sent so far and answers each with 200.
    pub(crate) fn ack(&mut self) -> Vec<Notify> {
        let n = self.take_notifies();
        self.answer(&n, 200);
        n
    }

    /// Answers every NOTIFY taken with `status`.
    pub(crate) fn answer(&mut self, notifies: &[Notify], status: u16) {
        for n in notifies {
            assert!(self.answer_one(n, status), "a NOTIFY of the core's");
        }
    }

    /// Answers one NOTIFY with `status`: whether the core took it as one of its own.
    pub(crate) fn answer_one(&mut self, n: &Notify, status: u16) -> bool {
        let now = self.now;
        with_out!(self, |s, out| s.response(now, n.key, status, out))
    }

    pub(crate) fn buddies(&mut self, key: SubscriptionKey, buddies: &[(&str, bool)]) {
        let list = buddies.iter().map(|(l, p)| Buddy::new(*l, *p)).collect();
        let now = self.now;
        with_out!(self, |s, out| s.buddies_fetched(now, key, list, out));
    }

    /// [`PresenceServer::set_message_summary`] with the harness' outbox.
    pub(crate) fn summary(&mut self, login: &str, summary: presence::MessageSummary) {
        let now = self.now;
        with_out!(self, |s, out| s
            .set_message_summary(now, login, summary, out));
    }

    /// [`PresenceServer::set_message_summary_with_details`] with the harness' outbox.
    pub(crate) fn summary_with_details(
        &mut self,
        login: &str,
        summary: presence::MessageSummary,
        details: Vec<presence::MessageDetail>,
    ) {
        let now = self.now;
        with_out!(self, |s, out| s.set_message_summary_with_details(
            now, login, summary, details, out
        ));
    }

    /// [`PresenceServer::remote_publications`] with the harness' outbox.
    pub(crate) fn remote(&mut self, rows: Vec<PublicationRow>, gone: &[String]) {
        let now = self.now;
        with_out!(self, |s, out| s.remote_publications(now, rows, gone, out));
    }

    /// The `presence_publications` table after the persisted writes, applied in order.
    pub(crate) fn table(&self) -> Vec<PublicationRow> {
        let mut rows: Vec<PublicationRow> = Vec::new();
        for p in &self.persisted {
            match p {
                Persist::Upsert { row, replaces } => {
                    if let Some(old) = replaces {
                        rows.retain(|r| &r.etag != old);
                    }
                    rows.retain(|r| r.etag != row.etag);
                    rows.push(row.clone());
                }
                Persist::Remove { etag, .. } => rows.retain(|r| &r.etag != etag),
                other => panic!("unexpected persist {other:?}"),
            }
        }
        rows
    }
}

/// A phone: one dialog's worth of identifiers.
pub(crate) struct Ua {
    pub(crate) login: String,
    pub(crate) port: u16,
    pub(crate) call_id: String,
    pub(crate) from_tag: String,
    pub(crate) cseq: u32,
    pub(crate) to_tag: Option<String>,
    pub(crate) branch: u32,
}

impl Ua {
    pub(crate) fn new(login: &str, port: u16) -> Self {
        Self {
            login: login.into(),
            port,
            call_id: format!("cid-{login}-{port}"),
            from_tag: format!("ft{port}"),
            cseq: 0,
            to_tag: None,
            branch: 0,
        }
    }

    /// A SUBSCRIBE to `resource` (new while `to_tag` is unset, then in-dialog).
    pub(crate) fn subscribe(
        &mut self,
        resource: &str,
        event: &str,
        expires: Option<u32>,
        extra: &[(&str, &str)],
    ) -> Message {
        self.subscribe_with_body(resource, event, expires, extra, b"")
    }

    /// A SUBSCRIBE with a body (an RFC 5367 URI list); `extra` gives its Content-Type.
    pub(crate) fn subscribe_with_body(
        &mut self,
        resource: &str,
        event: &str,
        expires: Option<u32>,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Message {
        self.cseq += 1;
        self.branch += 1;
        let to_tag = self
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let mut s = format!(
            "SUBSCRIBE sip:{resource}@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/TLS 10.0.0.{p}:{port};branch=z9hG4bK{login}{b};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"{login}\" <sip:{login}@{DOMAIN}>;tag={ft}\r\n\
             To: <sip:{resource}@{DOMAIN}>{to_tag}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} SUBSCRIBE\r\n\
             Contact: <sip:{login}@10.0.0.{p}:{port};transport=tls>\r\n\
             Event: {event}\r\n",
            p = self.port % 250,
            port = self.port,
            login = self.login,
            b = self.branch,
            ft = self.from_tag,
            cid = self.call_id,
            cseq = self.cseq,
        );
        if let Some(e) = expires {
            s.push_str(&format!("Expires: {e}\r\n"));
        }
        for (k, v) in extra {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = s.into_bytes();
        bytes.extend_from_slice(body);
        Message::parse(Bytes::from(bytes)).unwrap()
    }
}

static PUBLISH_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A PUBLISH for `login`'s presence.
pub(crate) fn publish(
    login: &str,
    if_match: Option<&str>,
    expires: Option<u32>,
    body: Option<&str>,
) -> Message {
    publish_with(
        login,
        if_match,
        expires,
        body,
        "application/pidf+xml",
        "presence",
    )
}

pub(crate) fn publish_with(
    login: &str,
    if_match: Option<&str>,
    expires: Option<u32>,
    body: Option<&str>,
    content_type: &str,
    event: &str,
) -> Message {
    let n = PUBLISH_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut s = format!(
        "PUBLISH sip:{login}@{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/TLS 10.0.0.9:7000;branch=z9hG4bKpub{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{login}@{DOMAIN}>;tag=p{n}\r\n\
         To: <sip:{login}@{DOMAIN}>\r\n\
         Call-ID: pub-{n}\r\n\
         CSeq: 1 PUBLISH\r\n\
         Event: {event}\r\n"
    );
    if let Some(e) = if_match {
        s.push_str(&format!("SIP-If-Match: {e}\r\n"));
    }
    if let Some(e) = expires {
        s.push_str(&format!("Expires: {e}\r\n"));
    }
    match body {
        Some(b) => s.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => s.push_str("Content-Length: 0\r\n\r\n"),
    }
    Message::parse(Bytes::from(s)).unwrap()
}

/// A PIDF document as a phone publishes it: one tuple, a note.
pub(crate) fn pidf(login: &str, tuple: &str, basic: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" entity=\"sip:{login}@10.0.0.9\">\
         <tuple id=\"{tuple}\"><status><basic>{basic}</basic></status></tuple>\
         <note>{note}</note>\
         <dm:person id=\"p1\"><dm:note>avatar=1700000000</dm:note></dm:person></presence>"
    )
}

/// `(tuple id, basic)` of every tuple of a PIDF document.
pub(crate) fn tuples(doc: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(doc).unwrap();
    let d = roxmltree::Document::parse(text).expect("well-formed PIDF");
    let root = d.root_element();
    assert_eq!(root.tag_name().name(), "presence");
    assert_eq!(
        root.tag_name().namespace(),
        Some("urn:ietf:params:xml:ns:pidf")
    );
    root.children()
        .filter(|n| n.tag_name().name() == "tuple")
        .map(|t| {
            let basic = t
                .descendants()
                .find(|n| n.tag_name().name() == "basic")
                .and_then(|b| b.text())
                .unwrap_or("")
                .to_owned();
            (t.attribute("id").unwrap_or("").to_owned(), basic)
        })
        .collect()
}

pub(crate) fn entity(doc: &[u8]) -> String {
    let text = std::str::from_utf8(doc).unwrap();
    let d = roxmltree::Document::parse(text).unwrap();
    d.root_element().attribute("entity").unwrap().to_owned()
}

/// One part of a multipart body.
#[derive(Debug)]
pub(crate) struct MimePart {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl MimePart {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The parameters of a `Content-Type` (`type`, `start`, `boundary`, ...), unquoted.
pub(crate) fn content_type_params(ct: &str) -> (String, Vec<(String, String)>) {
    let mut it = ct.split(';');
    let media = it.next().unwrap().trim().to_ascii_lowercase();
    let params = it
        .map(|p| {
            let (k, v) = p.split_once('=').expect("param=value");
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    (media, params)
}

/// Parses a multipart body (RFC 2046 §5.1.1): the delimiter is CRLF "--" boundary; the first
/// one may start the body; the close delimiter has "--" after it.
pub(crate) fn parse_multipart(boundary: &str, body: &[u8]) -> Vec<MimePart> {
    let delim = format!("--{boundary}");
    let text = body;
    let find = |from: usize, pat: &[u8]| {
        text[from..]
            .windows(pat.len())
            .position(|w| w == pat)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut pos = find(0, delim.as_bytes()).expect("first delimiter");
    assert!(pos == 0 || text[..pos].ends_with(b"\r\n"));
    loop {
        let after = pos + delim.len();
        if text[after..].starts_with(b"--") {
            break;
        }
        assert!(
            text[after..].starts_with(b"\r\n"),
            "CRLF after the delimiter"
        );
        let start = after + 2;
        let next_delim = format!("\r\n{delim}");
        let end = find(start, next_delim.as_bytes()).expect("a closing delimiter");
        let part = &text[start..end];
        let split = part
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part headers end with a blank line");
        let head = std::str::from_utf8(&part[..split]).unwrap();
        let headers = head
            .split("\r\n")
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        parts.push(MimePart {
            headers,
            body: part[split + 4..].to_vec(),
        });
        pos = end + 2;
    }
    parts
}

/// An RLMI `<list>` as read back: attributes and resources (uri, instance id, state, cid).
#[derive(Debug)]
pub(crate) struct Rlmi {
    pub(crate) uri: String,
    pub(crate) version: u32,
    pub(crate) full_state: bool,
    pub(crate) resources: Vec<(String, String, String, String)>,
}

pub(crate) fn parse_rlmi(doc: &[u8]) -> Rlmi {
    let text = std::str::from_utf8(doc).unwrap();
    let d = roxmltree::Document::parse(text).expect("well-formed RLMI");
    let list = d.root_element();
    assert_eq!(list.tag_name().name(), "list");
    assert_eq!(
        list.tag_name().namespace(),
        Some("urn:ietf:params:xml:ns:rlmi")
    );
    let resources = list
        .children()
        .filter(|n| n.tag_name().name() == "resource")
        .map(|r| {
            let i = r
                .children()
                .find(|n| n.tag_name().name() == "instance")
                .expect("an instance");
            (
                r.attribute("uri").unwrap().to_owned(),
                i.attribute("id").unwrap().to_owned(),
                i.attribute("state").unwrap().to_owned(),
                i.attribute("cid").unwrap().to_owned(),
            )
        })
        .collect();
    Rlmi {
        uri: list.attribute("uri").unwrap().to_owned(),
        version: list.attribute("version").unwrap().parse().unwrap(),
        full_state: list.attribute("fullState").unwrap() == "true",
        resources,
    }
}

/// A list NOTIFY taken apart and checked for consistency: the RLMI document and, per
/// resource URI, its PIDF part.
pub(crate) fn open_list_notify(m: &Message) -> (Rlmi, Vec<(String, Vec<u8>)>) {
    let (media, params) = content_type_params(m.content_type().expect("a body"));
    assert_eq!(media, "multipart/related");
    let param = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} parameter"))
    };
    assert_eq!(param("type"), "application/rlmi+xml");
    let boundary = param("boundary");
    let start = param("start");
    let parts = parse_multipart(&boundary, m.body());
    assert!(!parts.is_empty());
    // the root part is the RLMI document named by `start`
    // RFC 2045 writes Content-ID in angle brackets; URI-list NOTIFYs (linphone) leave them
    // out, as in the RLMI `cid`
    let bare = |v: &str| v.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert_eq!(
        parts[0].header("Content-ID").map(bare),
        Some(bare(start.as_str()))
    );
    assert!(parts[0]
        .header("Content-Type")
        .unwrap()
        .starts_with("application/rlmi+xml"));
    let rlmi = parse_rlmi(&parts[0].body);
    assert_eq!(
        rlmi.resources.len(),
        parts.len() - 1,
        "one part per resource"
    );
    let mut out = Vec::new();
    for (uri, _, state, cid) in &rlmi.resources {
        assert_eq!(state, "active");
        let part = parts[1..]
            .iter()
            .find(|p| p.header("Content-ID").map(bare).as_deref() == Some(cid.as_str()))
            .unwrap_or_else(|| panic!("no part with Content-ID <{cid}>"));
        assert!(part
            .header("Content-Type")
            .unwrap()
            .starts_with("application/pidf+xml"));
        out.push((uri.clone(), part.body.clone()));
    }
    (rlmi, out)
}
