//! The web phone: a page that registers over `wss` with JsSIP and places, answers and
//! controls calls. Its files are embedded in the binary and served by the WebSocket listeners
//! to plain HTTP `GET`s (see [`crate::ws`]): on a `wss` listener the page and its SIP
//! WebSocket share one origin, which is what the default origin check allows. JsSIP is
//! vendored by `scripts/vendor-jssip` (licences in `LICENSES-jssip.txt`); SIP.js by
//! `scripts/vendor-sipjs`, served with `/sipjs.html`, a page that loads SIP.js alone.
//!
//! The API demo page (`api.html`, `api.js`: a call driven through the call-control API, its
//! media through the WebRTC gateway; docs/api.md) is embedded here too and served under
//! `/demo/` by the `[api]` listener (`crate::api::demo`), on the API's own origin.

/// One embedded file: path, content type, bytes.
struct File {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const FILES: &[File] = &[
    File {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../webphone/index.html"),
    },
    File {
        path: "/phone.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../webphone/phone.js"),
    },
    File {
        path: "/phone.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../webphone/phone.css"),
    },
    File {
        path: "/jssip.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../webphone/jssip.min.js"),
    },
    File {
        path: "/LICENSES-jssip.txt",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../webphone/LICENSES-jssip.txt"),
    },
    File {
        path: "/sipjs.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../webphone/sipjs.html"),
    },
    File {
        path: "/sipjs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../webphone/sipjs.js"),
    },
    File {
        path: "/sip.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../webphone/sip.min.js"),
    },
    File {
        path: "/LICENSE-sipjs.txt",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../webphone/LICENSE-sipjs.txt"),
    },
];

/// The API demo page's files, served under `/demo/` on the `[api]` listener.
const API_DEMO: &[File] = &[
    File {
        path: "/demo/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../webphone/api.html"),
    },
    File {
        path: "/demo/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../webphone/api.js"),
    },
    File {
        path: "/demo/phone.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../webphone/phone.css"),
    },
];

/// Scripts only from the page's own files; WebSockets and microphone streams allowed.
pub(crate) const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; connect-src 'self' ws: wss:; \
     media-src 'self' blob: mediastream:";

/// The API demo page's file at `path` (`/demo/`, `/demo/api.js`, ...): content type, bytes.
pub(crate) fn api_demo_file(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/demo" || path == "/demo/api.html" {
        "/demo/"
    } else {
        path
    };
    API_DEMO
        .iter()
        .find(|f| f.path == path)
        .map(|f| (f.content_type, f.body))
}

/// The whole HTTP response (the connection closes after it) to a `GET` (or `HEAD`) of `path`.
pub(crate) fn respond(path: &str, head_only: bool) -> Vec<u8> {
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let path = if path == "/index.html" { "/" } else { path };
    let (status, content_type, body): (&str, &str, &[u8]) =
        match FILES.iter().find(|f| f.path == path) {
            Some(f) => ("200 OK", f.content_type, f.body),
            None => ("404 Not Found", "text/plain; charset=utf-8", b"not found\n"),
        };
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        r.extend_from_slice(body);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_its_scripts() {
        let page = String::from_utf8(respond("/?x=1", false)).unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("text/html"));
        assert!(page.contains("jssip.min.js"));
        let js = respond("/jssip.min.js", true);
        let js = String::from_utf8_lossy(&js);
        assert!(
            js.contains("text/javascript") && js.ends_with("\r\n\r\n"),
            "HEAD: no body"
        );
        assert!(
            String::from_utf8_lossy(&respond("/../etc/passwd", false)).starts_with("HTTP/1.1 404")
        );
    }

    #[test]
    fn serves_sipjs_alone_with_its_licence() {
        let page = String::from_utf8(respond("/sipjs.html", false)).unwrap();
        assert!(
            page.contains("/sip.min.js") && !page.contains("jssip"),
            "{page}"
        );
        let js = String::from_utf8_lossy(&respond("/sip.min.js", false)).into_owned();
        assert!(js.contains("text/javascript") && js.contains("SIP.js v"));
        let licence = String::from_utf8_lossy(&respond("/LICENSE-sipjs.txt", false)).into_owned();
        assert!(licence.contains("MIT License"));
    }

    #[test]
    fn the_api_demo_page_is_found_under_demo() {
        let (ct, page) = api_demo_file("/demo/").unwrap();
        assert!(ct.starts_with("text/html"));
        assert!(String::from_utf8_lossy(page).contains("/demo/api.js"));
        assert_eq!(api_demo_file("/demo").unwrap().1, page);
        assert!(api_demo_file("/demo/api.js").is_some());
        assert!(
            api_demo_file("/demo/jssip.min.js").is_none(),
            "no SIP on that page"
        );
        assert!(api_demo_file("/phone.js").is_none());
    }
}
