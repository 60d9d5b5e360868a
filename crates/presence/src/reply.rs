//! Building responses and reading the few headers `sip-message` does not name.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use sip_message::{Message, MessageBuilder};

pub(crate) const SERVER: &str = sip_message::PRODUCT;

/// Reason phrases `sip_message::reason_phrase` does not know.
fn own_reason(code: u16) -> Option<&'static str> {
    match code {
        412 => Some("Conditional Request Failed"),
        413 => Some("Request Entity Too Large"),
        _ => None,
    }
}

/// A response to `req` with Via/From/To/Call-ID/CSeq copied, `received`/`rport` for `src`
/// and a `Server` header. Add headers, then [`finish`].
pub(crate) fn response(
    req: &Message,
    code: u16,
    to_tag: Option<&str>,
    src: SocketAddr,
) -> MessageBuilder {
    let mut b = MessageBuilder::response_to(req, code, to_tag, Some(src));
    b.header("Server", SERVER);
    b
}

/// Ends a response (no body), fixing the reason phrase where ours is better.
pub(crate) fn finish(b: MessageBuilder, code: u16) -> Bytes {
    let bytes = b.finish();
    let Some(reason) = own_reason(code) else {
        return bytes;
    };
    let Some(eol) = bytes.windows(2).position(|w| w == b"\r\n") else {
        return bytes;
    };
    let mut out = BytesMut::with_capacity(bytes.len() + 32);
    out.put_slice(format!("SIP/2.0 {code} {reason}").as_bytes());
    out.put_slice(&bytes[eol..]);
    out.freeze()
}

/// A response with an optional `Warning: 399` text naming the fault.
pub(crate) fn simple(
    req: &Message,
    code: u16,
    to_tag: Option<&str>,
    src: SocketAddr,
    warning: Option<&str>,
) -> Bytes {
    let mut b = response(req, code, to_tag, src);
    if let Some(w) = warning {
        b.warning(w);
    }
    finish(b, code)
}

/// The first value of a header by name, case-insensitively (for names such as
/// `SIP-If-Match` that `HeaderName` keeps as `Other`).
pub(crate) fn header_ci<'m>(req: &'m Message, name: &str) -> Option<&'m str> {
    req.headers()
        .iter()
        .find(|h| h.name.matches(name))
        .map(|h| h.value().trim())
}

/// The media type of a `Content-Type`/`Accept` element, without parameters, lower-cased.
pub(crate) fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether an `Accept` element (a media range) allows `ty` (`type/subtype`).
pub(crate) fn range_allows(range: &str, ty: &str) -> bool {
    let range = media_type(range);
    if range == "*/*" || range == ty {
        return true;
    }
    match (range.strip_suffix("/*"), ty.split_once('/')) {
        (Some(major), Some((t, _))) => major == t,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_reason_phrases_replace_generic_ones() {
        let req = Message::parse(Bytes::from_static(
            b"PUBLISH sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 PUBLISH\r\n\r\n",
        ))
        .unwrap();
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let r = Message::parse(simple(&req, 412, Some("t"), src, None)).unwrap();
        assert_eq!(r.status(), Some(412));
        assert_eq!(r.reason(), Some("Conditional Request Failed"));
        assert_eq!(r.call_id(), Some("c"));
        let r = Message::parse(simple(&req, 489, Some("t"), src, Some("x"))).unwrap();
        assert_eq!(r.reason(), Some("Bad Event"));
        assert_eq!(
            header_ci(&req, "call-id"),
            Some("c"),
            "known names match too"
        );
    }

    #[test]
    fn media_ranges() {
        assert!(range_allows("application/*", "application/pidf+xml"));
        assert!(range_allows(
            " Application/PIDF+XML;q=0.5",
            "application/pidf+xml"
        ));
        assert!(range_allows("*/*", "multipart/related"));
        assert!(!range_allows("text/plain", "application/pidf+xml"));
    }
}
