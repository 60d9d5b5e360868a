//! A tiny SIP user agent over a raw UDP socket for the presence and messaging tests: sends
//! requests (answering 401/407 challenges with MD5 digest), receives the server's requests
//! (NOTIFY, MESSAGE) and answers them. Also a tiny HTTP server standing in for the operator
//! API.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, HeaderName, Message, MessageBuilder};

pub(crate) const REALM: &str = "ferroswitch.test";

/// One user's UDP socket.
pub(crate) struct Ua {
    pub(crate) sock: UdpSocket,
    pub(crate) login: String,
    password: String,
    server: SocketAddr,
    pub(crate) local: SocketAddr,
    /// Messages received while waiting for something else.
    queue: VecDeque<Message>,
    seq: u32,
    nc: u32,
    /// The digest algorithm it answers challenges with (MD5 unless set).
    pub(crate) alg: Algorithm,
}

impl Ua {
    pub(crate) fn new(server: SocketAddr, login: &str, password: &str) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = sock.local_addr().unwrap();
        Self {
            sock,
            login: login.to_owned(),
            password: password.to_owned(),
            server,
            local,
            queue: VecDeque::new(),
            seq: 0,
            nc: 0,
            alg: Algorithm::Md5,
        }
    }

    /// Talks to another server address (the same server after a restart).
    pub(crate) fn retarget(&mut self, server: SocketAddr) {
        self.server = server;
    }

    fn token(&mut self) -> String {
        self.seq += 1;
        format!("{}{}x{}", self.login, self.seq, rand::random::<u32>())
    }

    /// Sends a request and returns its final response, answering one challenge (401 or
    /// 407) with credentials. `headers` are extra header lines (each ending with CRLF).
    /// `call` = (Call-ID, From tag, CSeq number, To tag) to send it within a dialog.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn request(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        headers: &str,
        body: Option<(&str, &[u8])>,
        call: Option<(&str, &str, u32, Option<&str>)>,
    ) -> Message {
        let fresh_call = self.token();
        let fresh_tag = self.token();
        let (call_id, from_tag, mut cseq, to_tag) =
            call.unwrap_or((&fresh_call, &fresh_tag, 1, None));
        let mut auth = String::new();
        for _ in 0..2 {
            let branch = format!("z9hG4bK{}", self.token());
            let to_hdr = match to_tag {
                Some(t) => format!("<{to}>;tag={t}"),
                None => format!("<{to}>"),
            };
            let mut text = format!(
                "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch};rport\r\n\
                 From: <sip:{}@{REALM}>;tag={from_tag}\r\nTo: {to_hdr}\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContact: <sip:{}@{}>\r\n{headers}{auth}",
                self.local, self.login, self.login, self.local
            );
            match body {
                Some((ct, b)) => {
                    text.push_str(&format!(
                        "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                        b.len()
                    ));
                    let mut bytes = text.into_bytes();
                    bytes.extend_from_slice(b);
                    self.sock.send_to(&bytes, self.server).unwrap();
                }
                None => {
                    text.push_str("Content-Length: 0\r\n\r\n");
                    self.sock.send_to(text.as_bytes(), self.server).unwrap();
                }
            }
            let r = self.wait(10, |m| {
                m.status().is_some_and(|s| s >= 200)
                    && m.cseq().is_ok_and(|c| c.seq == cseq)
                    && m.call_id() == Some(call_id)
            });
            let status = r.status().unwrap();
            if status != 401 && status != 407 {
                return r;
            }
            let (challenge_hdr, auth_hdr) = if status == 401 {
                (HeaderName::WwwAuthenticate, "Authorization")
            } else {
                (HeaderName::ProxyAuthenticate, "Proxy-Authorization")
            };
            let ch = r
                .header_values(&challenge_hdr)
                .map(|v| Challenge::parse(v).unwrap())
                .find(|c| {
                    c.algorithm
                        .as_deref()
                        .map_or(self.alg == Algorithm::Md5, |a| a == self.alg.name())
                })
                .unwrap_or_else(|| panic!("a {} challenge", self.alg.name()));
            auth = self.credentials(auth_hdr, &ch, method, uri);
            cseq += 1;
        }
        panic!("{method} challenged twice");
    }

    /// The `auth_hdr` header line answering challenge `ch` for `method` to `uri`.
    fn credentials(
        &mut self,
        auth_hdr: &str,
        ch: &Challenge<'_>,
        method: &str,
        uri: &str,
    ) -> String {
        self.nc += 1;
        let login = (self.login.as_str(), self.password.as_str());
        credentials(self.alg, login, self.nc, auth_hdr, ch, (method, uri))
    }

    /// An INVITE of Call-ID `call_id` to `uri` with an SDP offer: sent, challenged (407),
    /// sent again with credentials; returns without waiting for its final response (the call
    /// rings). The second INVITE's (Via, CSeq number, From tag), for its CANCEL, and its bytes
    /// (to send it again).
    pub(crate) fn invite_unanswered(
        &mut self,
        uri: &str,
        call_id: &str,
        sdp: &str,
    ) -> (String, u32, String, String) {
        let from_tag = self.token();
        let mut auth = String::new();
        for cseq in 1..=2 {
            let branch = self.token();
            let via = format!("SIP/2.0/UDP {};branch=z9hG4bK{branch};rport", self.local);
            let text = format!(
                "INVITE {uri} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:{}@{REALM}>;tag={from_tag}\r\n\
                 To: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nMax-Forwards: 70\r\n\
                 Contact: <sip:{}@{}>\r\n{auth}Content-Type: application/sdp\r\n\
                 Content-Length: {}\r\n\r\n{sdp}",
                self.login,
                self.login,
                self.local,
                sdp.len()
            );
            self.sock.send_to(text.as_bytes(), self.server).unwrap();
            if cseq == 2 {
                return (via, cseq, from_tag, text);
            }
            let r = self.wait(10, |m| {
                m.status().is_some_and(|s| s >= 200) && m.call_id() == Some(call_id)
            });
            assert_eq!(r.status(), Some(407), "{r:?}");
            let ch = r
                .header_values(&HeaderName::ProxyAuthenticate)
                .map(|v| Challenge::parse(v).unwrap())
                .find(|c| c.algorithm.as_deref().is_none_or(|a| a == "MD5"))
                .expect("an MD5 challenge");
            auth = self.credentials("Proxy-Authorization", &ch, "INVITE", uri);
        }
        unreachable!("the second INVITE returns")
    }

    /// REGISTER with `expires`; asserts the 200.
    pub(crate) fn register(&mut self, expires: u32) -> Message {
        let uri = format!("sip:{REALM}");
        let to = format!("sip:{}@{REALM}", self.login);
        let r = self.request(
            "REGISTER",
            &uri,
            &to,
            &format!("Expires: {expires}\r\n"),
            None,
            None,
        );
        assert_eq!(r.status(), Some(200), "REGISTER {}: {r:?}", self.login);
        r
    }

    /// A MESSAGE to `to_user`; returns the final response.
    pub(crate) fn message(&mut self, to_user: &str, text: &str) -> Message {
        let uri = format!("sip:{to_user}@{REALM}");
        self.request(
            "MESSAGE",
            &uri,
            &uri.clone(),
            "",
            Some(("text/plain;charset=utf-8", text.as_bytes())),
            None,
        )
    }

    /// The next message matching `pred` within `secs`, keeping others for later.
    pub(crate) fn wait(&mut self, secs: u64, pred: impl Fn(&Message) -> bool) -> Message {
        self.try_wait(secs, pred)
            .unwrap_or_else(|| panic!("{}: nothing matching within {secs} s", self.login))
    }

    pub(crate) fn try_wait(
        &mut self,
        secs: u64,
        pred: impl Fn(&Message) -> bool,
    ) -> Option<Message> {
        if let Some(i) = self.queue.iter().position(&pred) {
            return self.queue.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut buf = [0u8; 65_536];
        while Instant::now() < deadline {
            let Ok(n) = self.sock.recv(&mut buf) else {
                continue;
            };
            let Ok(m) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            if pred(&m) {
                return Some(m);
            }
            self.queue.push_back(m);
        }
        None
    }

    /// The next request of `method` from the server.
    pub(crate) fn expect_request(&mut self, method: &str, secs: u64) -> Message {
        self.wait(secs, |m| m.method().is_some_and(|x| x.as_str() == method))
    }

    /// Answers a request from the server.
    pub(crate) fn answer(&mut self, req: &Message, code: u16) {
        let mut b = MessageBuilder::response_to(req, code, Some("uatag"), None);
        b.header("Content-Length", 0);
        let bytes = b.finish();
        self.sock.send_to(&bytes, self.server).unwrap();
    }
}

/// The `auth_hdr` header line (with its CRLF) answering challenge `ch` with `alg` for
/// `(login, password)`, nonce count `nc`, for `(method, uri)`.
pub(crate) fn credentials(
    alg: Algorithm,
    (login, password): (&str, &str),
    nc: u32,
    auth_hdr: &str,
    ch: &Challenge<'_>,
    (method, uri): (&str, &str),
) -> String {
    let nc = format!("{nc:08x}");
    let ha1 = alg.ha1(login, &ch.realm, password);
    let resp = digest::response(
        alg,
        &ha1,
        &ResponseParams {
            method,
            uri,
            nonce: &ch.nonce,
            qop_auth: Some((&nc, "c0ffee")),
        },
    );
    format!(
        "{auth_hdr}: Digest username=\"{login}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"c0ffee\"\r\n",
        ch.realm, ch.nonce, alg.name()
    )
}

/// A request the fake operator API received.
#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl HttpRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The operator API: a real HTTP/1.1 server on 127.0.0.1:0 that records every request and
/// answers with what `respond(path, body)` says (status, JSON body).
pub(crate) struct FakeApi {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<HttpRequest>>>,
}

type Responder = dyn Fn(&str, &str) -> (u16, String) + Send + Sync;

impl FakeApi {
    pub(crate) fn start(
        respond: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let s = s.clone();
                let respond = respond.clone();
                std::thread::spawn(move || serve(conn, &s, &*respond));
            }
        });
        Self { addr, seen }
    }

    pub(crate) fn requests(&self) -> Vec<HttpRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits up to `secs` for a request to `path`.
    pub(crate) fn wait_for(&self, path: &str, secs: u64) -> Option<HttpRequest> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(r) = self.requests().into_iter().find(|r| r.path == path) {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

fn serve(conn: std::net::TcpStream, seen: &Mutex<Vec<HttpRequest>>, respond: &Responder) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        let mut len = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let (status, answer) = respond(&path, &body);
        seen.lock().unwrap().push(HttpRequest {
            path,
            headers,
            body,
        });
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A PIDF document for `login`, open or closed, with a note.
pub(crate) fn pidf(login: &str, open: bool, note: &str) -> String {
    let basic = if open { "open" } else { "closed" };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:{login}@{REALM}\">\n\
         <tuple id=\"t1\"><status><basic>{basic}</basic></status><note>{note}</note></tuple>\n</presence>\n"
    )
}

/// Reads the sms_inbox rows to `recipient` (newest first).
pub(crate) fn messages(db_url: &str, recipient: &str) -> Vec<store::StoredMessage> {
    crate::harness::block(async {
        let s = store::Store::connect(db_url).await.unwrap();
        let r = s.list_messages(Some(recipient), 100).await.unwrap();
        s.close().await;
        r
    })
}

/// Waits up to 5 s for the rows to `recipient` to satisfy `pred`.
pub(crate) fn wait_messages(
    db_url: &str,
    recipient: &str,
    what: &str,
    pred: impl Fn(&[store::StoredMessage]) -> bool,
) -> Vec<store::StoredMessage> {
    for _ in 0..100 {
        let m = messages(db_url, recipient);
        if pred(&m) {
            return m;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: sms_inbox holds {:#?}", messages(db_url, recipient));
}
