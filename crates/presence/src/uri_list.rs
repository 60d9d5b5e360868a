//! URI lists in SUBSCRIBE (RFC 5367): the subscriber names the resources of its list in a
//! `application/resource-lists+xml` body (RFC 4826) with `Content-Disposition:
//! recipient-list` and `Require: recipient-list-subscribe`, sent to a list server URI
//! (linphone: its `rls_uri`). linphone compresses the body (`Content-Encoding: deflate`, a
//! zlib stream as in HTTP), so that coding is undone here, bounded.
//!
//! What this module reads: every `<entry uri="...">` of the document, at any depth of nested
//! `<list>`s, in document order; `<entry-ref>` and `<external>` point at documents elsewhere
//! (XCAP) and are skipped. Each URI's user part is the login it names; a URI without a user
//! part (or not `sip:`/`sips:`) names nobody here and is skipped. The URI itself is kept as
//! written: it is what the subscriber will look its buddy up by in the RLMI document.

use sip_message::{HeaderName, Message};

use crate::reply::{header_ci, media_type};

/// The option tag of RFC 5367.
pub const RECIPIENT_LIST_SUBSCRIBE: &str = "recipient-list-subscribe";
/// The media type of the body (RFC 4826).
pub(crate) const RESOURCE_LISTS_TYPE: &str = "application/resource-lists+xml";
const RESOURCE_LISTS_NS: &str = "urn:ietf:params:xml:ns:resource-lists";
/// Largest list document accepted, after decompression.
pub(crate) const MAX_LIST_BODY: usize = 256 * 1024;
/// Most XML nodes accepted in one list document.
const NODES_LIMIT: u32 = 20_000;

/// One resource the subscriber named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedResource {
    /// The user part of the URI, unescaped: the login.
    pub login: String,
    /// The URI as the subscriber wrote it (echoed in RLMI `<resource uri>`).
    pub uri: String,
}

/// Why a URI-list body was refused; each maps to a response code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriListError {
    /// `415` with `Accept: application/resource-lists+xml`.
    #[error("the URI list must be application/resource-lists+xml, not {0:?}")]
    MediaType(String),
    /// `415` with `Accept-Encoding: deflate`.
    #[error("content coding {0:?} is not supported (only deflate)")]
    Encoding(String),
    /// `413`.
    #[error("the URI list is larger than {max} bytes")]
    TooLarge { max: usize },
    /// `400`.
    #[error("bad URI list: {0}")]
    Malformed(String),
}

impl UriListError {
    /// The response code for this failure.
    pub fn status(&self) -> u16 {
        match self {
            Self::MediaType(_) | Self::Encoding(_) => 415,
            Self::TooLarge { .. } => 413,
            Self::Malformed(_) => 400,
        }
    }
}

/// Whether the request asks for RFC 5367 list handling (`Require: recipient-list-subscribe`).
pub(crate) fn requested(req: &Message) -> bool {
    req.has_option_tag(&HeaderName::Require, RECIPIENT_LIST_SUBSCRIBE)
}

/// The resources named by the request's URI-list body: `Ok(None)` when it has no body (an
/// in-dialog refresh keeps its list), else the list (possibly empty).
pub(crate) fn from_request(req: &Message) -> Result<Option<Vec<RequestedResource>>, UriListError> {
    let body = req.body();
    if body.is_empty() {
        return Ok(None);
    }
    let ct = req.content_type().map(media_type).unwrap_or_default();
    if ct != RESOURCE_LISTS_TYPE {
        return Err(UriListError::MediaType(ct));
    }
    if let Some(d) = header_ci(req, "Content-Disposition") {
        let kind = d.split(';').next().unwrap_or("").trim();
        if !kind.eq_ignore_ascii_case("recipient-list") {
            return Err(UriListError::Malformed(format!(
                "Content-Disposition {kind:?}: want recipient-list"
            )));
        }
    }
    let mut codings: Vec<String> = req
        .header_list(&HeaderName::ContentEncoding)
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    let text = match codings.len() {
        0 => body.to_vec(),
        1 if codings[0] == "deflate" => inflate(body)?,
        _ => return Err(UriListError::Encoding(codings.swap_remove(0))),
    };
    if text.len() > MAX_LIST_BODY {
        return Err(UriListError::TooLarge { max: MAX_LIST_BODY });
    }
    let text = std::str::from_utf8(&text)
        .map_err(|_| UriListError::Malformed("the document is not UTF-8".into()))?;
    parse(text).map(Some)
}

/// Undoes `Content-Encoding: deflate`: a zlib stream (RFC 1950) as HTTP and belle-sip send it,
/// or a raw deflate stream (RFC 1951) as some HTTP stacks do; never more than
/// [`MAX_LIST_BODY`] bytes come out.
fn inflate(body: &[u8]) -> Result<Vec<u8>, UriListError> {
    use miniz_oxide::inflate::{DecompressError, TINFLStatus};
    let limited = |r: Result<Vec<u8>, DecompressError>| match r {
        Ok(v) => Ok(v),
        Err(e) if e.status == TINFLStatus::HasMoreOutput => {
            Err(UriListError::TooLarge { max: MAX_LIST_BODY })
        }
        Err(e) => Err(UriListError::Malformed(format!("deflate: {:?}", e.status))),
    };
    let zlib = limited(miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(
        body,
        MAX_LIST_BODY,
    ));
    match zlib {
        Err(UriListError::Malformed(_)) => limited(
            miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_LIST_BODY),
        ),
        other => other,
    }
}

/// Reads a resource-lists document (RFC 4826 §3): every `<entry uri>` in document order.
pub fn parse(text: &str) -> Result<Vec<RequestedResource>, UriListError> {
    let doc = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: NODES_LIMIT,
        },
    )
    .map_err(|e| UriListError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "resource-lists"
        || root.tag_name().namespace() != Some(RESOURCE_LISTS_NS)
    {
        return Err(UriListError::Malformed(
            "root element is not <resource-lists>".into(),
        ));
    }
    let mut out = Vec::new();
    for n in root.descendants() {
        if !n.is_element()
            || n.tag_name().name() != "entry"
            || n.tag_name().namespace() != Some(RESOURCE_LISTS_NS)
        {
            continue;
        }
        let Some(uri) = n.attribute("uri").map(str::trim) else {
            return Err(UriListError::Malformed("<entry> without uri".into()));
        };
        if let Some(login) = login_of(uri) {
            out.push(RequestedResource {
                login,
                uri: uri.to_owned(),
            });
        }
    }
    Ok(out)
}

/// The login a `sip:`/`sips:` URI names: its user part, unescaped.
fn login_of(uri: &str) -> Option<String> {
    let u = sip_message::Uri::parse(uri).ok()?;
    if u.scheme == sip_message::Scheme::Tel {
        return None;
    }
    let user = u.user_unescaped()?;
    String::from_utf8(user.into_owned())
        .ok()
        .filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What linphonec 5.1 sends for a friend list with `[sip] rls_uri` set (decompressed).
    const LINPHONE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:ietf:params:xml:ns:resource-lists">
 <list>
  <entry uri="sip:bob@127.0.0.1:47002"/>
  <entry uri="sip:dave@127.0.0.1:47002"/>
 </list>
</resource-lists>
"#;

    fn names(v: &[RequestedResource]) -> Vec<(&str, &str)> {
        v.iter()
            .map(|r| (r.login.as_str(), r.uri.as_str()))
            .collect()
    }

    #[test]
    fn linphones_list_names_its_friends_with_their_uris() {
        let v = parse(LINPHONE).unwrap();
        assert_eq!(
            names(&v),
            [
                ("bob", "sip:bob@127.0.0.1:47002"),
                ("dave", "sip:dave@127.0.0.1:47002")
            ]
        );
    }

    #[test]
    fn nested_lists_refs_and_odd_uris() {
        let doc = r#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">
 <list name="friends"><entry uri="sips:a%20b@x.test"><display-name>A</display-name></entry>
  <list name="work"><entry uri="sip:447700900123@x.test;user=phone"/></list>
  <entry-ref ref="resource-lists/users/sip:x@y/index/~~/resource-lists/list%5b@name=%22l%22%5d"/>
  <external anchor="http://xcap.example.com/list"/>
  <entry uri="sip:x.test"/><entry uri="tel:+123"/>
 </list></resource-lists>"#;
        let v = parse(doc).unwrap();
        assert_eq!(
            names(&v),
            [
                ("a b", "sips:a%20b@x.test"),
                ("447700900123", "sip:447700900123@x.test;user=phone")
            ]
        );
    }

    #[test]
    fn bad_documents_are_refused() {
        for bad in [
            "<resource-lists>",
            "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>",
            "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list><entry/></list></resource-lists>",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"/>",
        ] {
            assert!(
                matches!(parse(bad), Err(UriListError::Malformed(_))),
                "{bad}"
            );
        }
    }

    fn subscribe(headers: &str, body: &[u8]) -> Message {
        let mut text = format!(
            "SUBSCRIBE sip:rls@x.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             From: <sip:carol@x.test>;tag=1\r\nTo: <sip:rls@x.test>\r\nCall-ID: c1\r\n\
             CSeq: 20 SUBSCRIBE\r\nEvent: presence\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        text.extend_from_slice(body);
        Message::parse(bytes::Bytes::from(text)).unwrap()
    }

    const LIST_HEADERS: &str = "Require: recipient-list-subscribe\r\nSupported: eventlist\r\n\
         Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n";

    #[test]
    fn deflated_bodies_are_inflated() {
        let zlib = miniz_oxide::deflate::compress_to_vec_zlib(LINPHONE.as_bytes(), 6);
        let req = subscribe(
            &format!("{LIST_HEADERS}Content-Encoding: deflate\r\n"),
            &zlib,
        );
        assert!(requested(&req));
        let v = from_request(&req).unwrap().unwrap();
        assert_eq!(v.len(), 2);
        // a raw deflate stream is taken too
        let raw = miniz_oxide::deflate::compress_to_vec(LINPHONE.as_bytes(), 6);
        let req = subscribe(&format!("{LIST_HEADERS}e: deflate\r\n"), &raw);
        assert_eq!(from_request(&req).unwrap().unwrap().len(), 2);
        // plain
        let req = subscribe(LIST_HEADERS, LINPHONE.as_bytes());
        assert_eq!(from_request(&req).unwrap().unwrap().len(), 2);
    }

    #[test]
    fn no_body_wrong_type_coding_or_size() {
        assert_eq!(from_request(&subscribe(LIST_HEADERS, b"")).unwrap(), None);
        let req = subscribe(
            "Content-Type: application/pidf+xml\r\n",
            LINPHONE.as_bytes(),
        );
        assert_eq!(from_request(&req).unwrap_err().status(), 415);
        let req = subscribe(
            &format!("{LIST_HEADERS}Content-Encoding: gzip\r\n"),
            LINPHONE.as_bytes(),
        );
        assert_eq!(
            from_request(&req).unwrap_err(),
            UriListError::Encoding("gzip".into())
        );
        let req = subscribe(
            &format!("{LIST_HEADERS}Content-Encoding: deflate\r\n"),
            b"not deflate at all",
        );
        assert_eq!(from_request(&req).unwrap_err().status(), 400);
        // a deflate bomb stops at the limit
        let bomb = miniz_oxide::deflate::compress_to_vec_zlib(&vec![b' '; 4 * MAX_LIST_BODY], 9);
        let req = subscribe(
            &format!("{LIST_HEADERS}Content-Encoding: deflate\r\n"),
            &bomb,
        );
        assert_eq!(
            from_request(&req).unwrap_err(),
            UriListError::TooLarge { max: MAX_LIST_BODY }
        );
        let req = subscribe(
            "Require: recipient-list-subscribe\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: render\r\n",
            LINPHONE.as_bytes(),
        );
        assert_eq!(from_request(&req).unwrap_err().status(), 400);
    }
}
