//! A SIP user agent over a WebSocket (tokio-tungstenite), shaped like a browser stack: its Via
//! and Contact name a random `.invalid` host, it registers with `+sip.instance` and `reg-id`
//! (RFC 5626 outbound), and everything it receives comes over its one WebSocket.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use sip_message::digest::Algorithm;
use sip_message::{Challenge, HeaderName, Message, MessageBuilder};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use crate::ua::REALM;

type Stream = tokio_util_stream::Either;

mod tokio_util_stream {
    //! A plain or TLS client stream behind one type.
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub(crate) enum Either {
        Plain(tokio::net::TcpStream),
        Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
    }

    impl AsyncRead for Either {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_read(cx, buf),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            }
        }
    }

    impl AsyncWrite for Either {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_write(cx, buf),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            }
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_flush(cx),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            }
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_shutdown(cx),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            }
        }
    }
}

/// How to open the WebSocket.
pub(crate) struct Dial<'a> {
    pub(crate) addr: SocketAddr,
    /// The server's certificate (PEM) for `wss`; `None` for `ws`.
    pub(crate) ca: Option<&'a Path>,
    /// `Sec-WebSocket-Protocol`, if any.
    pub(crate) protocol: Option<&'a str>,
    pub(crate) origin: Option<&'a str>,
}

impl Dial<'_> {
    /// Opens the WebSocket: the stream, or the handshake's error (an HTTP refusal included).
    pub(crate) async fn open(&self) -> Result<WebSocketStream<Stream>, tungstenite::Error> {
        let tcp = TcpStream::connect(self.addr).await?;
        let (stream, scheme) = match self.ca {
            None => (Stream::Plain(tcp), "ws"),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                let pem = std::fs::read(ca).expect("server certificate");
                use rustls::pki_types::pem::PemObject as _;
                for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                    roots.add(c.unwrap()).unwrap();
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let cfg = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
                let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
                    .connect(name, tcp)
                    .await?;
                (Stream::Tls(Box::new(tls)), "wss")
            }
        };
        let mut req = format!("{scheme}://{}/", self.addr).into_client_request()?;
        if let Some(p) = self.protocol {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        if let Some(o) = self.origin {
            req.headers_mut().insert("Origin", o.parse().unwrap());
        }
        let (ws, resp) = tokio_tungstenite::client_async(req, stream).await?;
        assert_eq!(
            resp.headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            self.protocol.filter(|p| p.contains("sip")).map(|_| "sip"),
            "the server echoes the sip sub-protocol"
        );
        Ok(ws)
    }
}

/// One browser-like user agent on its own WebSocket.
pub(crate) struct WsUa {
    rt: tokio::runtime::Runtime,
    ws: WebSocketStream<Stream>,
    pub(crate) login: String,
    password: String,
    /// `WS` or `WSS`, as in its Via.
    transport: &'static str,
    /// Its `.invalid` host.
    pub(crate) host: String,
    instance: String,
    queue: VecDeque<Message>,
    seq: u32,
    nc: u32,
    /// Set once the server closed the WebSocket.
    pub(crate) closed: bool,
}

impl WsUa {
    pub(crate) fn connect(dial: &Dial<'_>, login: &str, password: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ws = rt.block_on(dial.open()).expect("WebSocket opens");
        let r: u32 = rand::random();
        Self {
            rt,
            ws,
            login: login.to_owned(),
            password: password.to_owned(),
            transport: if dial.ca.is_some() { "WSS" } else { "WS" },
            host: format!("{r:08x}.invalid"),
            instance: format!("urn:uuid:5c6b4e2a-0000-4000-8000-{:012x}", r),
            queue: VecDeque::new(),
            seq: 0,
            nc: 0,
            closed: false,
        }
    }

    fn token(&mut self) -> String {
        self.seq += 1;
        format!("{}{}w{}", self.login, self.seq, rand::random::<u32>())
    }

    /// Sends raw bytes as one WebSocket text message.
    pub(crate) fn send_raw(&mut self, text: String) {
        let r = self.rt.block_on(self.ws.send(WsMessage::text(text)));
        if r.is_err() {
            self.closed = true;
        }
    }

    pub(crate) fn contact(&self) -> String {
        format!("<sip:{}@{};transport=ws;ob>", self.login, self.host)
    }

    /// Sends a request and returns its final response, answering one digest challenge.
    pub(crate) fn request(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        headers: &str,
        body: Option<(&str, &[u8])>,
    ) -> Message {
        self.request_as(method, uri, to, headers, body, None)
    }

    /// [`Self::request`] with another Contact header value.
    fn request_as(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        headers: &str,
        body: Option<(&str, &[u8])>,
        contact: Option<&str>,
    ) -> Message {
        let contact = contact.map_or_else(|| self.contact(), str::to_owned);
        let call_id = self.token();
        let from_tag = self.token();
        let mut auth = String::new();
        for cseq in 1..=2 {
            let branch = format!("z9hG4bK{}", self.token());
            let mut text = format!(
                "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{} {};branch={branch}\r\n\
                 From: <sip:{}@{REALM}>;tag={from_tag}\r\nTo: <{to}>\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContact: {}\r\n{headers}{auth}",
                self.transport, self.host, self.login, contact
            );
            match body {
                Some((ct, b)) => text.push_str(&format!(
                    "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{}",
                    b.len(),
                    String::from_utf8_lossy(b)
                )),
                None => text.push_str("Content-Length: 0\r\n\r\n"),
            }
            self.send_raw(text);
            let cid = call_id.clone();
            let r = self.wait(10, |m| {
                m.status().is_some_and(|s| s >= 200)
                    && m.cseq().is_ok_and(|c| c.seq == cseq)
                    && m.call_id() == Some(&cid)
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
                .find(|c| c.algorithm.as_deref().is_none_or(|a| a == "MD5"))
                .expect("an MD5 challenge");
            self.nc += 1;
            let login = (self.login.as_str(), self.password.as_str());
            auth = crate::ua::credentials(
                Algorithm::Md5,
                login,
                self.nc,
                auth_hdr,
                &ch,
                (method, uri),
            );
        }
        panic!("{method} challenged twice");
    }

    /// REGISTER as a browser does: `.invalid` Contact, `+sip.instance`, `reg-id`, outbound.
    pub(crate) fn register(&mut self) -> Message {
        let contact = format!(
            "{};+sip.instance=\"<{}>\";reg-id=1;expires=600",
            self.contact(),
            self.instance
        );
        let to = format!("sip:{}@{REALM}", self.login);
        let headers = "Supported: path, outbound, gruu\r\n";
        let r = self.request_as(
            "REGISTER",
            &format!("sip:{REALM}"),
            &to,
            headers,
            None,
            Some(&contact),
        );
        assert_eq!(r.status(), Some(200), "REGISTER {}: {r:?}", self.login);
        r
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
        while Instant::now() < deadline && !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = self
                .rt
                .block_on(async { tokio::time::timeout(left, self.ws.next()).await });
            let raw = match next {
                Err(_) => break,
                Ok(None | Some(Err(_)) | Some(Ok(WsMessage::Close(_)))) => {
                    self.closed = true;
                    break;
                }
                Ok(Some(Ok(WsMessage::Text(t)))) => Bytes::from(t),
                Ok(Some(Ok(WsMessage::Binary(b)))) => b,
                Ok(Some(Ok(_))) => continue,
            };
            let Ok(m) = Message::parse(raw) else { continue };
            if pred(&m) {
                return Some(m);
            }
            self.queue.push_back(m);
        }
        None
    }

    pub(crate) fn expect_request(&mut self, method: &str, secs: u64) -> Message {
        self.wait(secs, |m| m.method().is_some_and(|x| x.as_str() == method))
    }

    /// Answers a request from the server (with an SDP body when given).
    pub(crate) fn answer(&mut self, req: &Message, code: u16, sdp: Option<&str>) {
        let mut b = MessageBuilder::response_to(req, code, Some("wstag"), None);
        b.header("Contact", self.contact());
        let bytes = match sdp {
            Some(s) => b.finish_with_body("application/sdp", s.as_bytes()),
            None => {
                b.header("Content-Length", 0);
                b.finish()
            }
        };
        self.send_raw(String::from_utf8(bytes.to_vec()).unwrap());
    }

    /// A request in the dialog of `invite`, which this UA answered (To tag `wstag`), e.g. a
    /// re-INVITE with `sdp`: its final response (a 2xx to an INVITE is ACKed).
    pub(crate) fn request_in_dialog(
        &mut self,
        invite: &Message,
        method: &str,
        cseq: u32,
        sdp: Option<&str>,
    ) -> Message {
        let target = invite
            .header(&HeaderName::Contact)
            .expect("Contact in the INVITE")
            .trim()
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
        let from = format!("{};tag=wstag", invite.header(&HeaderName::To).unwrap());
        let to = invite.header(&HeaderName::From).unwrap().to_owned();
        let call_id = invite.call_id().unwrap().to_owned();
        let (transport, host, contact) = (self.transport, self.host.clone(), self.contact());
        let head = |method: &str, branch: String| {
            format!(
                "{method} {target} SIP/2.0\r\nVia: SIP/2.0/{transport} {host};branch=z9hG4bK{branch}\r\n\
                 From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
                 Max-Forwards: 70\r\nContact: {contact}\r\n"
            )
        };
        let mut text = head(method, self.token());
        match sdp {
            Some(b) => text.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        self.send_raw(text);
        let cid = call_id.clone();
        let r = self.wait(10, |m| {
            m.status().is_some_and(|s| s >= 200)
                && m.cseq().is_ok_and(|c| c.seq == cseq)
                && m.call_id() == Some(&cid)
        });
        if method == "INVITE" && r.status().is_some_and(|s| s < 300) {
            let ack = head("ACK", self.token());
            self.send_raw(format!("{ack}Content-Length: 0\r\n\r\n"));
        }
        r
    }

    /// Waits for the server to close the WebSocket.
    pub(crate) fn wait_closed(&mut self, secs: u64) -> bool {
        let _ = self.try_wait(secs, |_| false);
        self.closed
    }
}
