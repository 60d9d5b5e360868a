//! The HTTP side of a WebSocket listener, sans I/O: what to answer to a request head. An
//! upgrade to WebSocket must ask for the `sip` sub-protocol (RFC 7118 §4.1; echoed in the 101)
//! and come from an allowed origin; a plain `GET` is a request for the web phone page
//! ([`crate::webphone`]).

/// The most a request head may hold; more is refused with 431.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// The answer to one request head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Switch to WebSocket: write `response` (the 101), then speak WebSocket.
    Upgrade { response: Vec<u8> },
    /// A plain HTTP request for `path` (`head_only` for HEAD): the web phone's files.
    Page { path: String, head_only: bool },
    /// Refuse with `response` (then close); `why` is logged.
    Refuse {
        response: Vec<u8>,
        why: &'static str,
    },
}

/// Where the head ends (the length including the blank line), once it is complete.
pub(crate) fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Which browser origins may open SIP WebSockets on a listener (`listener.allowed_origins`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins {
    /// Lower-cased `scheme://host[:port]`, or `*`. Empty: only the listener's own origin.
    allowed: Vec<String>,
}

impl Origins {
    pub(crate) fn new(allowed: &[String]) -> Self {
        Self {
            allowed: allowed.iter().map(|o| o.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether a request with `origin` (none: not a browser) and `host` may upgrade. With no
    /// list configured, a browser must come from the page this listener serves (same scheme,
    /// host and port as the request's Host).
    fn allows(&self, origin: Option<&str>, host: Option<&str>, secure: bool) -> bool {
        let Some(origin) = origin else {
            // RFC 6455 §10.2: Origin protects browsers' users; other clients do not send it
            return true;
        };
        let origin = origin.trim().to_ascii_lowercase();
        if self.allowed.is_empty() {
            let scheme = if secure { "https://" } else { "http://" };
            return host.is_some_and(|h| {
                origin
                    .strip_prefix(scheme)
                    .is_some_and(|authority| authority == h.trim().to_ascii_lowercase())
            });
        }
        self.allowed.iter().any(|a| a == "*" || *a == origin)
    }
}

/// Judges one complete request head (`head`, up to and including its blank line) received on
/// a WebSocket listener (`secure`: wss, over TLS).
pub(crate) fn judge(head: &[u8], secure: bool, origins: &Origins) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return refuse(400, "Bad Request", "malformed HTTP request", "");
        }
    }
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("/").to_owned();
    let get = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let has_token = |name: &str, token: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let upgrade = has_token("upgrade", "websocket");
    if !upgrade {
        return match method {
            "GET" => Answer::Page {
                path,
                head_only: false,
            },
            "HEAD" => Answer::Page {
                path,
                head_only: true,
            },
            _ => refuse(
                405,
                "Method Not Allowed",
                "HTTP method other than GET/HEAD",
                "Allow: GET, HEAD\r\n",
            ),
        };
    }
    if method != "GET" || !has_token("connection", "upgrade") {
        return refuse(400, "Bad Request", "malformed WebSocket upgrade", "");
    }
    if get("sec-websocket-version").map(str::trim) != Some("13") {
        return refuse(
            426,
            "Upgrade Required",
            "unsupported WebSocket version",
            "Sec-WebSocket-Version: 13\r\n",
        );
    }
    let Some(key) = get("sec-websocket-key").map(str::trim) else {
        return refuse(400, "Bad Request", "no Sec-WebSocket-Key", "");
    };
    if !has_token("sec-websocket-protocol", "sip") {
        return refuse(
            400,
            "Bad Request",
            "WebSocket without the sip sub-protocol (RFC 7118)",
            "",
        );
    }
    if !origins.allows(get("origin"), get("host"), secure) {
        return refuse(
            403,
            "Forbidden",
            "WebSocket from an origin not in listener.allowed_origins",
            "",
        );
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Answer::Upgrade {
        response: format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
        )
        .into_bytes(),
    }
}

/// A refusal: status line, `extra` headers, and `why` as a plain-text body.
fn refuse(code: u16, reason: &str, why: &'static str, extra: &str) -> Answer {
    Answer::Refuse {
        response: format!(
            "HTTP/1.1 {code} {reason}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{why}\n",
            why.len() + 1
        )
        .into_bytes(),
        why,
    }
}

/// The 431 for a head longer than [`MAX_HEAD`].
pub(crate) fn too_large() -> Vec<u8> {
    match refuse(
        431,
        "Request Header Fields Too Large",
        "request head too large",
        "",
    ) {
        Answer::Refuse { response, .. } => response,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(protocol: &str, origin: Option<&str>) -> Vec<u8> {
        let mut h = String::from(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
        if !protocol.is_empty() {
            h.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
        }
        if let Some(o) = origin {
            h.push_str(&format!("Origin: {o}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    }

    fn status(a: &Answer) -> u16 {
        match a {
            Answer::Upgrade { .. } => 101,
            Answer::Page { .. } => 200,
            Answer::Refuse { response, .. } => std::str::from_utf8(&response[9..12])
                .unwrap()
                .parse()
                .unwrap(),
        }
    }

    /// RFC 7118 §4.1: the `sip` sub-protocol is required and echoed; the accept key is
    /// RFC 6455's.
    #[test]
    fn the_sip_subprotocol_is_required_and_echoed() {
        let none = Origins::default();
        let a = judge(&upgrade("sip", None), true, &none);
        let Answer::Upgrade { response } = a else {
            panic!("{a:?}")
        };
        let r = String::from_utf8(response).unwrap();
        assert!(r.starts_with("HTTP/1.1 101 "), "{r}");
        assert!(r.contains("Sec-WebSocket-Protocol: sip\r\n"), "{r}");
        assert!(r.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert_eq!(
            status(&judge(&upgrade("chat, sip", None), true, &none)),
            101
        );
        assert_eq!(status(&judge(&upgrade("chat", None), true, &none)), 400);
        assert_eq!(status(&judge(&upgrade("", None), true, &none)), 400);
    }

    /// No list: the listener's own origin only; a list: its origins; `*`: any.
    #[test]
    fn origins_are_checked() {
        let none = Origins::default();
        let own = Some("https://127.0.0.1:8443");
        assert_eq!(status(&judge(&upgrade("sip", own), true, &none)), 101);
        let other = Some("https://evil.example");
        assert_eq!(status(&judge(&upgrade("sip", other), true, &none)), 403);
        // the right host over the wrong scheme is another origin
        let plain = Some("http://127.0.0.1:8443");
        assert_eq!(status(&judge(&upgrade("sip", plain), true, &none)), 403);
        let list = Origins::new(&["https://Phone.Example".to_owned()]);
        assert_eq!(
            status(&judge(
                &upgrade("sip", Some("https://phone.example")),
                true,
                &list
            )),
            101
        );
        assert_eq!(status(&judge(&upgrade("sip", other), true, &list)), 403);
        assert_eq!(status(&judge(&upgrade("sip", own), true, &list)), 403);
        let any = Origins::new(&["*".to_owned()]);
        assert_eq!(status(&judge(&upgrade("sip", other), true, &any)), 101);
    }

    #[test]
    fn plain_requests_are_pages_and_bad_ones_refused() {
        let o = Origins::default();
        assert_eq!(
            judge(b"GET /phone.js HTTP/1.1\r\nHost: x\r\n\r\n", true, &o),
            Answer::Page {
                path: "/phone.js".into(),
                head_only: false
            }
        );
        assert_eq!(status(&judge(b"POST / HTTP/1.1\r\n\r\n", true, &o)), 405);
        assert_eq!(
            status(&judge(b"\x16\x03\x01garbage\r\n\r\n", true, &o)),
            400
        );
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n\r\nxy"), Some(18));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n"), None);
    }
}
