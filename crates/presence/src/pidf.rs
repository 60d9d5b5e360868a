//! PIDF (RFC 3863) documents: validation of published ones, composition of several devices'
//! publications into one document, and the documents the server writes itself (closed,
//! reachable by push).
//!
//! # Composition rule
//!
//! A login may have several live publications (one per device, each with its own entity-tag).
//! Watchers see one document, built like this:
//!
//! 1. The publications are ordered newest first by the time their body last changed (a refresh
//!    without a body does not count; ties go to the later-created publication).
//! 2. The newest document is the base: its root attributes (except `entity`), namespace
//!    declarations, notes, `dm:person`/`dm:device` elements and extensions are kept as
//!    published, byte for byte.
//! 3. Tuples are merged by `id`: for each tuple id the newest publication that has it wins;
//!    tuples whose id the base lacks are inserted after the base's last tuple (PIDF wants
//!    tuples before notes and extensions), each carrying the namespace declarations that were
//!    in scope in its own document, so prefixes keep their meaning. A tuple without an id is
//!    always kept.
//! 4. Everything else of the older documents (their notes, person and device elements) is
//!    dropped: person-level data describes the human, and the newest statement wins.
//! 5. `entity` becomes the login's canonical URI (`sip:{login}@{domain}`), whatever the
//!    device wrote, so a device cannot speak for another presentity and every watcher sees
//!    the same entity.
//!
//! The document is "open" when one of its tuples has `<status><basic>open</basic>`.

use bytes::Bytes;

use crate::xml::{escaped, push_escaped};

pub(crate) const PIDF_NS: &str = "urn:ietf:params:xml:ns:pidf";
pub(crate) const PIDF_TYPE: &str = "application/pidf+xml";
/// The tuple id of the tuple the server adds for a buddy reachable by push.
pub const PUSH_TUPLE_ID: &str = "ferroswitch-push";
/// The note of that tuple.
pub const PUSH_NOTE: &str = "push";
const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// Most XML nodes accepted in one published document (a guard against huge trees).
const NODES_LIMIT: u32 = 10_000;

/// Why a published body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PidfError {
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("body is not well-formed XML: {0}")]
    Xml(String),
    #[error("root element is not a PIDF <presence>")]
    NotPidf,
}

fn parse(text: &str) -> Result<roxmltree::Document<'_>, PidfError> {
    roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: NODES_LIMIT,
        },
    )
    .map_err(|e| PidfError::Xml(e.to_string()))
}

/// Checks that a PUBLISH body is a PIDF document.
pub fn validate(body: &[u8]) -> Result<(), PidfError> {
    let text = std::str::from_utf8(body).map_err(|_| PidfError::NotUtf8)?;
    let doc = parse(text)?;
    let root = doc.root_element();
    if root.tag_name().name() != "presence" || root.tag_name().namespace() != Some(PIDF_NS) {
        return Err(PidfError::NotPidf);
    }
    Ok(())
}

/// One login's document as watchers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Composed {
    pub(crate) body: Bytes,
    pub(crate) open: bool,
    /// Byte offset just after the last tuple (or where the first one would go): where a
    /// push tuple is inserted.
    tuples_end: usize,
}

/// A publication's body and its age, for [`compose`].
pub(crate) struct Source<'a> {
    pub(crate) body: &'a [u8],
    /// When the body last changed and a tie-breaker (creation order).
    pub(crate) order: (std::time::Instant, u64),
}

fn is_pidf(node: &roxmltree::Node<'_, '_>, local: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == local
        && node.tag_name().namespace() == Some(PIDF_NS)
}

fn tuple_is_open(tuple: &roxmltree::Node<'_, '_>) -> bool {
    tuple
        .children()
        .filter(|n| is_pidf(n, "status"))
        .flat_map(|s| s.children().filter(|n| is_pidf(n, "basic")))
        .any(|b| b.text().is_some_and(|t| t.trim() == "open"))
}

/// The length of the element start tag at the beginning of `s` (up to and including `>`).
fn start_tag_len(s: &str) -> usize {
    let mut quote = None;
    for (i, b) in s.bytes().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    s.len()
}

/// The length of the qualified name after the `<` of a start tag.
fn qname_len(tag: &str) -> usize {
    tag[1..]
        .bytes()
        .position(|b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
        .unwrap_or(tag.len() - 1)
}

/// Prefixes declared on a start tag itself (`xmlns` for the default namespace).
fn declared_prefixes(tag: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = tag.as_bytes();
    let mut i = 0;
    while let Some(pos) = tag[i..].find("xmlns") {
        let at = i + pos;
        let before_ok = at > 0 && bytes[at - 1].is_ascii_whitespace();
        let rest = &tag[at + 5..];
        if before_ok {
            if let Some(r) = rest.strip_prefix(':') {
                let end = r
                    .bytes()
                    .position(|b| b == b'=' || b.is_ascii_whitespace())
                    .unwrap_or(r.len());
                out.push(&r[..end]);
            } else if rest.trim_start().starts_with('=') {
                out.push("");
            }
        }
        i = at + 5;
    }
    out
}

/// The raw text of an element with the namespace declarations in scope at it (and not on it)
/// added to its start tag, so it keeps its meaning when moved into another document.
fn detached(text: &str, node: &roxmltree::Node<'_, '_>, out: &mut String) {
    let raw = &text[node.range()];
    let tag_len = start_tag_len(raw);
    let name_end = 1 + qname_len(&raw[..tag_len]);
    let own = declared_prefixes(&raw[..tag_len]);
    out.push_str(&raw[..name_end]);
    for ns in node.namespaces() {
        let prefix = ns.name().unwrap_or("");
        if prefix == "xml" || own.contains(&prefix) {
            continue;
        }
        if prefix.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(prefix);
            out.push_str("=\"");
        }
        push_escaped(out, ns.uri());
        out.push('"');
    }
    out.push_str(&raw[name_end..]);
}

/// Composes a login's publications (see the module docs). `None` when no source parses.
pub(crate) fn compose(entity: &str, sources: &[Source<'_>]) -> Option<Composed> {
    let mut docs: Vec<((std::time::Instant, u64), &str, roxmltree::Document<'_>)> = sources
        .iter()
        .filter_map(|s| {
            let text = std::str::from_utf8(s.body).ok()?;
            let doc = parse(text).ok()?;
            let root = doc.root_element();
            is_pidf(&root, "presence").then_some((s.order, text, doc))
        })
        .collect();
    docs.sort_by_key(|d| std::cmp::Reverse(d.0));
    let (_, base_text, base) = docs.first()?;
    let root = base.root_element();
    let root_raw = &base_text[root.range()];
    let root_tag_len = start_tag_len(root_raw);
    let qname = &root_raw[1..1 + qname_len(&root_raw[..root_tag_len])];

    let mut out = String::with_capacity(base_text.len() + 256);
    out.push_str(XML_DECL);
    out.push('<');
    out.push_str(qname);
    for ns in root.namespaces() {
        match ns.name() {
            Some("xml") => continue,
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
                out.push_str("=\"");
            }
            None => out.push_str(" xmlns=\""),
        }
        push_escaped(&mut out, ns.uri());
        out.push('"');
    }
    for a in root.attributes() {
        if a.namespace().is_none() && a.name() == "entity" {
            continue;
        }
        out.push(' ');
        out.push_str(&base_text[a.range()]);
    }
    out.push_str(" entity=\"");
    push_escaped(&mut out, entity);
    out.push_str("\">");

    let base_tuples: Vec<_> = root.children().filter(|n| is_pidf(n, "tuple")).collect();
    let mut open = base_tuples.iter().any(tuple_is_open);
    let mut seen: Vec<&str> = base_tuples
        .iter()
        .filter_map(|t| t.attribute("id"))
        .collect();
    let mut extra = String::new();
    for (_, text, doc) in docs.iter().skip(1) {
        for t in doc
            .root_element()
            .children()
            .filter(|n| is_pidf(n, "tuple"))
        {
            if let Some(id) = t.attribute("id") {
                if seen.contains(&id) {
                    continue;
                }
                seen.push(id);
            }
            open |= tuple_is_open(&t);
            detached(text, &t, &mut extra);
        }
    }

    // the base's content, with the extra tuples after its last tuple
    let (inner_start, inner_end) = match (root.first_child(), root.last_child()) {
        (Some(f), Some(l)) => (f.range().start, l.range().end),
        _ => (0, 0),
    };
    let splice = base_tuples
        .last()
        .map_or(inner_start, |t| t.range().end)
        .max(inner_start);
    out.push_str(&base_text[inner_start..splice]);
    out.push_str(&extra);
    let tuples_end = out.len();
    out.push_str(&base_text[splice..inner_end]);
    out.push_str("</");
    out.push_str(qname);
    out.push('>');
    Some(Composed {
        body: Bytes::from(out),
        open,
        tuples_end,
    })
}

fn push_tuple(out: &mut String, xmlns: bool) {
    out.push_str("<tuple");
    if xmlns {
        out.push_str(" xmlns=\"");
        out.push_str(PIDF_NS);
        out.push('"');
    }
    out.push_str(" id=\"");
    out.push_str(PUSH_TUPLE_ID);
    out.push_str("\"><status><basic>open</basic></status><note>");
    out.push_str(PUSH_NOTE);
    out.push_str("</note></tuple>");
}

/// A composed document with the push tuple added (basic `open`, note `push`).
pub(crate) fn with_push(c: &Composed) -> Bytes {
    let mut out = String::with_capacity(c.body.len() + 160);
    // the composed body is our own UTF-8 text, and `tuples_end` is a char boundary in it
    let text = std::str::from_utf8(&c.body).unwrap_or("");
    out.push_str(&text[..c.tuples_end]);
    push_tuple(&mut out, true);
    out.push_str(&text[c.tuples_end..]);
    Bytes::from(out)
}

fn doc_with(entity: &str, inner: impl FnOnce(&mut String)) -> Bytes {
    let mut out = String::with_capacity(256);
    out.push_str(XML_DECL);
    out.push_str("<presence xmlns=\"");
    out.push_str(PIDF_NS);
    out.push_str("\" entity=\"");
    out.push_str(&escaped(entity));
    out.push_str("\">");
    inner(&mut out);
    out.push_str("</presence>");
    Bytes::from(out)
}

/// The document of a login with no publication and no push: one closed tuple.
pub(crate) fn closed_doc(entity: &str) -> Bytes {
    doc_with(entity, |out| {
        out.push_str("<tuple id=\"ferroswitch\"><status><basic>closed</basic></status></tuple>");
    })
}

/// The document of a login with no publication that can be woken by push.
pub(crate) fn push_doc(entity: &str) -> Bytes {
    doc_with(entity, |out| push_tuple(out, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "sip:alice@ex.com";

    fn doc(tuples: &str, extra: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@10.0.0.1">{tuples}{extra}</presence>"#
        )
    }

    fn tuple(id: &str, basic: &str) -> String {
        format!(
            r#"<tuple id="{id}"><status><basic>{basic}</basic></status><rpid:activities><rpid:away/></rpid:activities></tuple>"#
        )
    }

    fn composed(sources: &[(&str, u64)]) -> Composed {
        let t0 = std::time::Instant::now();
        let src: Vec<Source<'_>> = sources
            .iter()
            .enumerate()
            .map(|(i, (b, t))| Source {
                body: b.as_bytes(),
                order: (t0 + std::time::Duration::from_millis(*t), i as u64),
            })
            .collect();
        compose(ALICE, &src).expect("composes")
    }

    fn tuple_ids(body: &[u8]) -> Vec<(String, String)> {
        let text = std::str::from_utf8(body).unwrap();
        let d = roxmltree::Document::parse(text).unwrap();
        d.root_element()
            .children()
            .filter(|n| is_pidf(n, "tuple"))
            .map(|t| {
                let basic = t
                    .descendants()
                    .find(|n| is_pidf(n, "basic"))
                    .and_then(|b| b.text())
                    .unwrap_or("")
                    .to_owned();
                (t.attribute("id").unwrap_or("").to_owned(), basic)
            })
            .collect()
    }

    #[test]
    fn validates_pidf_and_refuses_others() {
        assert_eq!(validate(doc(&tuple("a", "open"), "").as_bytes()), Ok(()));
        assert_eq!(validate(b"<presence/>"), Err(PidfError::NotPidf));
        assert!(matches!(validate(b"<presence"), Err(PidfError::Xml(_))));
        assert_eq!(validate(&[0xff, 0xfe]), Err(PidfError::NotUtf8));
        let dtd =
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>";
        assert!(validate(dtd).is_err());
    }

    #[test]
    fn one_publication_is_kept_with_the_canonical_entity() {
        let d = doc(&tuple("a", "open"), "<note>hi</note>");
        let c = composed(&[(&d, 1)]);
        let text = std::str::from_utf8(&c.body).unwrap();
        assert!(c.open);
        assert!(text.contains(r#"entity="sip:alice@ex.com""#), "{text}");
        assert!(!text.contains("10.0.0.1"));
        assert!(text.contains("<note>hi</note>"));
        assert!(text.contains("<rpid:away/>"));
        let parsed = roxmltree::Document::parse(text).unwrap();
        assert_eq!(parsed.root_element().attribute("entity"), Some(ALICE));
    }

    #[test]
    fn tuples_merge_newest_per_id() {
        let phone = doc(
            &format!("{}{}", tuple("phone", "open"), tuple("shared", "open")),
            "<note>phone</note>",
        );
        let desk = doc(
            &format!("{}{}", tuple("desk", "closed"), tuple("shared", "closed")),
            "<note>desk</note>",
        );
        // desk is newer: its `shared` wins, phone's own tuple is added
        let c = composed(&[(&phone, 10), (&desk, 20)]);
        let ids = tuple_ids(&c.body);
        assert_eq!(
            ids,
            vec![
                ("desk".into(), "closed".into()),
                ("shared".into(), "closed".into()),
                ("phone".into(), "open".into())
            ]
        );
        assert!(c.open, "the phone tuple is open");
        let text = std::str::from_utf8(&c.body).unwrap();
        assert!(text.contains("<note>desk</note>") && !text.contains("<note>phone</note>"));
        // the moved tuple keeps the meaning of its rpid prefix
        let parsed = roxmltree::Document::parse(text).unwrap();
        let away = parsed
            .descendants()
            .filter(|n| n.tag_name().name() == "away")
            .count();
        assert_eq!(away, 3);
    }

    #[test]
    fn prefixes_bound_differently_in_two_documents_stay_apart() {
        let a = r#"<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:x="urn:one" entity="e"><p:tuple id="a"><p:status><p:basic>open</p:basic></p:status><x:v/></p:tuple></p:presence>"#;
        let b = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:x="urn:two" entity="e"><tuple id="b"><status><basic>closed</basic></status><x:v/></tuple></presence>"#;
        let c = composed(&[(a, 1), (b, 2)]);
        let text = std::str::from_utf8(&c.body).unwrap();
        let parsed = roxmltree::Document::parse(text).unwrap();
        let nss: Vec<_> = parsed
            .descendants()
            .filter(|n| n.tag_name().name() == "v")
            .map(|n| n.tag_name().namespace().unwrap_or(""))
            .collect();
        assert_eq!(nss, vec!["urn:two", "urn:one"]);
        assert!(c.open);
    }

    #[test]
    fn push_tuple_goes_after_the_tuples() {
        let d = doc(&tuple("a", "closed"), "<note>n</note>");
        let c = composed(&[(&d, 1)]);
        assert!(!c.open);
        let pushed = with_push(&c);
        let ids = tuple_ids(&pushed);
        assert_eq!(ids.last().unwrap(), &(PUSH_TUPLE_ID.into(), "open".into()));
        let text = std::str::from_utf8(&pushed).unwrap();
        assert!(text.find(PUSH_TUPLE_ID).unwrap() < text.find("<note>n</note>").unwrap());

        let empty = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="e"/>"#;
        let c = composed(&[(empty, 1)]);
        assert_eq!(tuple_ids(&with_push(&c)).len(), 1);
    }

    #[test]
    fn server_documents_parse() {
        assert_eq!(
            tuple_ids(&closed_doc("sip:a&b@x")),
            vec![("ferroswitch".into(), "closed".into())]
        );
        assert_eq!(
            tuple_ids(&push_doc(ALICE)),
            vec![(PUSH_TUPLE_ID.into(), "open".into())]
        );
    }
}
