//! Typed facts read once per message: the To and From tags, the To user and the top Via
//! branch.
//!
//! Every stage of the request pipeline asks these (sanity, transaction matching, merged-request
//! detection, the dispatcher's in-dialog test, `response_to`, `stable_tag`, the dialogs).
//! Parsing a name-addr each time cost a URI parse and two vectors per question; the first
//! answer is kept here, as offsets into the header value (which the message owns), so the
//! later ones are a header lookup and a slice. [`Message::sanity_check`] fills them while it
//! validates, so a sanity-checked message never parses these headers again.

use std::sync::OnceLock;

use crate::header::HeaderName;
use crate::{Message, NameAddr, Result};

/// Where a tag (or branch) sits in its header value: `None` when there is none, or when the
/// header does not parse.
type At = Option<(u32, u32)>;

#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    to_tag: OnceLock<At>,
    to_user: OnceLock<At>,
    from_tag: OnceLock<At>,
    branch: OnceLock<At>,
}

/// The offsets of `part` in `whole`, when it is a slice of it.
fn offsets(whole: &str, part: &str) -> Option<(u32, u32)> {
    let a = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let b = a.checked_add(part.len())?;
    if b > whole.len() {
        return None;
    }
    Some((u32::try_from(a).ok()?, u32::try_from(b).ok()?))
}

/// Remembers `part` (a slice of `value`, or nothing) in `cell`, unless something is there.
fn remember(cell: &OnceLock<At>, value: &str, part: Option<&str>) {
    let at = match part {
        None => None,
        // not a slice of the value (cannot happen: the views borrow the value): keep nothing
        Some(p) => match offsets(value, p) {
            Some(at) => Some(at),
            None => return,
        },
    };
    let _ = cell.set(at);
}

/// The cached slice of `value`, or `read(value)` once, remembered.
fn cached<'s>(
    cell: &OnceLock<At>,
    value: &'s str,
    read: impl FnOnce(&'s str) -> Option<&'s str>,
) -> Option<&'s str> {
    if let Some(at) = cell.get() {
        return at.and_then(|(a, b)| value.get(a as usize..b as usize));
    }
    let part = read(value);
    remember(cell, value, part);
    part
}

impl Message {
    /// The To tag; `None` when To has none (or To is missing or malformed, which
    /// [`Self::sanity_check`] refuses). Parsed once per message.
    pub fn to_tag(&self) -> Option<&str> {
        let v = self.header(&HeaderName::To)?;
        cached(&self.facts.to_tag, v, |v| {
            NameAddr::parse(v, "To").ok().and_then(|n| n.tag())
        })
    }

    /// The user part of the To URI as written (not unescaped); `None` when it has none. Parsed
    /// once per message: a REGISTER's shard is its To user ([`crate::shard::key`]).
    pub fn to_user(&self) -> Option<&str> {
        let v = self.header(&HeaderName::To)?;
        cached(&self.facts.to_user, v, |v| {
            NameAddr::parse(v, "To").ok().and_then(|n| n.uri.user)
        })
    }

    /// The From tag, like [`Self::to_tag`].
    pub fn from_tag(&self) -> Option<&str> {
        let v = self.header(&HeaderName::From)?;
        cached(&self.facts.from_tag, v, |v| {
            NameAddr::parse(v, "From").ok().and_then(|n| n.tag())
        })
    }

    /// The `branch` of the top Via; `None` without one (or with a malformed top Via).
    pub fn top_branch(&self) -> Option<&str> {
        let v = self.header(&HeaderName::Via)?;
        cached(&self.facts.branch, v, |v| {
            crate::Via::parse_list(v)
                .next()
                .and_then(Result::ok)
                .and_then(|via| via.branch())
        })
    }

    /// Records what [`Self::sanity_check`] parsed anyway: the tags of To and From.
    pub(crate) fn note_tags(&self, to: &NameAddr<'_>, from: &NameAddr<'_>) {
        if let Some(v) = self.header(&HeaderName::To) {
            remember(&self.facts.to_tag, v, to.tag());
            remember(&self.facts.to_user, v, to.uri.user);
        }
        if let Some(v) = self.header(&HeaderName::From) {
            remember(&self.facts.from_tag, v, from.tag());
        }
    }

    /// Records the top Via's branch that [`Self::sanity_check`] parsed anyway.
    pub(crate) fn note_branch(&self, branch: Option<&str>) {
        if let Some(v) = self.header(&HeaderName::Via) {
            remember(&self.facts.branch, v, branch);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::Message;

    fn parse(raw: &str) -> Message {
        Message::parse(Bytes::from(raw.replace('\n', "\r\n"))).unwrap()
    }

    /// What the typed views say, read the long way.
    fn long_way(m: &Message) -> (Option<String>, Option<String>, Option<String>, Option<u32>) {
        (
            m.to_header().ok().and_then(|t| t.tag().map(str::to_owned)),
            m.from_header()
                .ok()
                .and_then(|f| f.tag().map(str::to_owned)),
            m.top_via().ok().and_then(|v| v.branch().map(str::to_owned)),
            crate::CSeq::parse(m.header(&crate::HeaderName::CSeq).unwrap_or(""))
                .ok()
                .map(|c| c.seq),
        )
    }

    fn cached(m: &Message) -> (Option<String>, Option<String>, Option<String>, Option<u32>) {
        (
            m.to_tag().map(str::to_owned),
            m.from_tag().map(str::to_owned),
            m.top_branch().map(str::to_owned),
            m.cseq().ok().map(|c| c.seq),
        )
    }

    #[test]
    fn facts_agree_with_the_typed_views_before_and_after_sanity() {
        let raws = [
            "INVITE sip:b@x SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bKa, SIP/2.0/UDP g;branch=z9hG4bKb\n\
             f: \"A;tag=no\" <sip:a@x;tag=uri>;tag=fromtag\nt: <sip:b@x>\ni: c\nCSeq: 7 INVITE\n\n",
            "BYE sip:b@x SIP/2.0\nVia: SIP/2.0/TCP h:5070 ; branch = z9hG4bKc ; rport\n\
             From: <sip:a@x>;TAG=F1\nTo: sip:b@x;tag=T1\nCall-ID: c\nCSeq: 8 BYE\n\n",
            "OPTIONS sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\nTo: <sip:b@x>\n\
             Call-ID: c\nCSeq: 9 OPTIONS\n\n",
            // malformed To: no tag is reported, and nothing else breaks
            "OPTIONS sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKd\nFrom: <sip:a@x>;tag=1\n\
             To: <sip:b@x\nCall-ID: c\nCSeq: x OPTIONS\n\n",
        ];
        for raw in raws {
            let fresh = parse(raw);
            assert_eq!(cached(&fresh), long_way(&fresh), "{raw}");
            // asked twice: the remembered answer
            assert_eq!(cached(&fresh), long_way(&fresh), "{raw}");
            let to_user = |m: &Message| {
                m.to_header()
                    .ok()
                    .and_then(|t| t.uri.user.map(str::to_owned))
            };
            assert_eq!(fresh.to_user().map(str::to_owned), to_user(&fresh), "{raw}");
            let checked = parse(raw);
            let _ = checked.sanity_check();
            assert_eq!(cached(&checked), long_way(&checked), "{raw}");
            assert_eq!(
                checked.to_user().map(str::to_owned),
                to_user(&checked),
                "{raw}"
            );
            // a clone keeps the answers
            assert_eq!(cached(&checked.clone()), long_way(&checked), "{raw}");
        }
    }
}
