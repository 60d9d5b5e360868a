//! Resource-list bodies (RFC 4662 §5): `multipart/related` with an RLMI document first and
//! one part per resource, tied together by Content-IDs.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ids::Tokens;
use crate::package::Body;
use crate::xml::push_escaped;

pub(crate) const RLMI_TYPE: &str = "application/rlmi+xml";
const RLMI_NS: &str = "urn:ietf:params:xml:ns:rlmi";
/// The right-hand side of the Content-IDs we make up.
const CID_DOMAIN: &str = "ferroswitch";

/// One resource of a list NOTIFY.
pub(crate) struct Part<'a> {
    pub(crate) uri: &'a str,
    pub(crate) instance: &'a str,
    pub(crate) body: Body,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    // bodies are text: the standard library's substring search is much faster than windows
    match (std::str::from_utf8(hay), std::str::from_utf8(needle)) {
        (Ok(h), Ok(n)) => h.contains(n),
        _ => hay.windows(needle.len()).any(|w| w == needle),
    }
}

/// Builds the multipart body; returns its `Content-Type` (with `type`, `start` and
/// `boundary`) and the bytes. `bare_cids` writes each part's Content-ID as `Content-Id:`
/// without the angle brackets of RFC 2045, i.e. exactly as the RLMI `cid` attribute:
/// liblinphone looks a part up by comparing header name and value as they are.
pub(crate) fn build(
    list_uri: &str,
    version: u32,
    full_state: bool,
    parts: &[Part<'_>],
    bare_cids: bool,
    tokens: &mut Tokens,
) -> (String, Bytes) {
    let nonce = tokens.hex();
    let rlmi_cid = format!("rlmi.{version}.{nonce}@{CID_DOMAIN}");
    let cids: Vec<String> = parts
        .iter()
        .map(|p| format!("{}.{version}.{nonce}@{CID_DOMAIN}", p.instance))
        .collect();

    let mut rlmi = String::with_capacity(160 + parts.len() * 120);
    rlmi.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<list xmlns=\"");
    rlmi.push_str(RLMI_NS);
    rlmi.push_str("\" uri=\"");
    push_escaped(&mut rlmi, list_uri);
    rlmi.push_str("\" version=\"");
    rlmi.push_str(&version.to_string());
    rlmi.push_str("\" fullState=\"");
    rlmi.push_str(if full_state { "true" } else { "false" });
    rlmi.push_str("\">\n");
    for (p, cid) in parts.iter().zip(&cids) {
        rlmi.push_str("<resource uri=\"");
        push_escaped(&mut rlmi, p.uri);
        rlmi.push_str("\"><instance id=\"");
        push_escaped(&mut rlmi, p.instance);
        rlmi.push_str("\" state=\"active\" cid=\"");
        push_escaped(&mut rlmi, cid);
        rlmi.push_str("\"/></resource>\n");
    }
    rlmi.push_str("</list>\n");

    // a boundary that occurs in no part (a published document could contain anything)
    let mut boundary = format!("fs-{nonce}");
    while contains(rlmi.as_bytes(), boundary.as_bytes())
        || parts
            .iter()
            .any(|p| contains(&p.body.bytes, boundary.as_bytes()))
    {
        boundary = format!("fs-{}", tokens.hex());
    }

    let size = rlmi.len()
        + parts
            .iter()
            .map(|p| p.body.bytes.len() + 160)
            .sum::<usize>()
        + 256;
    let mut out = BytesMut::with_capacity(size);
    let mut part = |cid: &str, ty: &str, body: &[u8]| {
        out.put_slice(b"--");
        out.put_slice(boundary.as_bytes());
        out.put_slice(b"\r\nContent-Transfer-Encoding: binary\r\n");
        if bare_cids {
            // belle-sip also matches the header name case-sensitively, as `Content-Id`
            out.put_slice(b"Content-Id: ");
            out.put_slice(cid.as_bytes());
        } else {
            out.put_slice(b"Content-ID: <");
            out.put_slice(cid.as_bytes());
            out.put_slice(b">");
        }
        out.put_slice(b"\r\nContent-Type: ");
        out.put_slice(ty.as_bytes());
        out.put_slice(b";charset=\"UTF-8\"\r\n\r\n");
        out.put_slice(body);
        out.put_slice(b"\r\n");
    };
    part(&rlmi_cid, RLMI_TYPE, rlmi.as_bytes());
    for (p, cid) in parts.iter().zip(&cids) {
        part(cid, p.body.content_type, &p.body.bytes);
    }
    out.put_slice(b"--");
    out.put_slice(boundary.as_bytes());
    out.put_slice(b"--\r\n");
    // the boundary is a token (`fs-` and hex digits): unquoted, as belle-sip (linphone) needs
    // it: it takes the quotes of a quoted boundary for part of it and finds no part
    let content_type = format!(
        "multipart/related;type=\"{RLMI_TYPE}\";start=\"<{rlmi_cid}>\";boundary={boundary}"
    );
    (content_type, out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_avoids_part_content() {
        let mut probe = Tokens::new(7);
        let nonce = probe.hex();
        let evil = Body {
            content_type: "application/pidf+xml",
            bytes: Bytes::from(format!("<x>--fs-{nonce}</x>")),
        };
        let mut t = Tokens::new(7);
        let (ct, body) = build(
            "sip:a@x",
            0,
            true,
            &[Part {
                uri: "sip:b@x",
                instance: "i1",
                body: evil,
            }],
            false,
            &mut t,
        );
        let boundary = ct.split("boundary=").nth(1).unwrap();
        assert!(
            boundary
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "an unquoted token: {boundary}"
        );
        assert_ne!(boundary, format!("fs-{nonce}"));
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text.matches(&format!("--{boundary}\r\n")).count(), 2);
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert!(ct.starts_with("multipart/related;type=\"application/rlmi+xml\";start=\"<rlmi.0."));
    }
}
