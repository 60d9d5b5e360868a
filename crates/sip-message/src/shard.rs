//! Which of N core shards owns a message (docs/architecture.md, "Core shards").
//!
//! Every shard runs its own transaction layer, calls, presence and messaging. A datagram lands
//! on whichever shard's socket the kernel picked (`SO_REUSEPORT` hashes the 4-tuple), so each
//! shard recomputes the owner from the message itself and hands a stranger to its owner once.
//! The key is one the owner can recompute for every message of a transaction or dialog:
//!
//! | message | key |
//! |---|---|
//! | a response | its top Via branch: ours, made by the shard that sent the request ([`crate::Ids::for_shard`]) |
//! | a request with a To tag (in a dialog) | the To tag: ours, made by the shard that owns the dialog |
//! | REGISTER | the To user (the login: its bindings, its stored messages) |
//! | SUBSCRIBE, PUBLISH, MESSAGE | the Request-URI user (the presentity, the recipient) |
//! | INVITE with `Replaces` | the replaced Call-ID (a parked call's pick-up goes to the call) |
//! | anything else (INVITE, CANCEL, OPTIONS, ...) | the Call-ID |
//!
//! CANCEL carries the INVITE's Call-ID and Request-URI, and the ACK of a non-2xx our To tag, so
//! a transaction never splits. A key's shard is a function of the key alone ([`index`]: our
//! own tokens carry it in their last digits, other keys are hashed), so the shard that owns a
//! login or a token is known to every shard without asking.

use crate::header::HeaderName;
use crate::{Message, Method};

/// FNV-1a, 64 bits, then splitmix64's finaliser: cheap on the short strings keyed here, and
/// the same in every process. FNV-1a alone spreads keys that differ in their last characters
/// badly over its high bits: `user1000`..`user2999` all had the same bit 32, so every one of
/// those logins went to one of two shards.
pub fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The shard of `key` among `count` (0 when `count` is 0 or 1).
///
/// A key of the shape of our tokens ([`crate::Ids`]: 16 lower-case hex digits, after the
/// branch's magic cookie or before the Call-ID's `@ferroswitch`) names its shard in its last 8
/// digits (their value modulo `count`, [`place`]), so a generator makes a token of its shard in
/// one draw; any other key (a login, a peer's Call-ID or tag) is hashed. A peer's key that
/// happens to have our shape is read the same way: the answer is still the same for every
/// message that carries it.
pub fn index(key: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    if let Some(low) = token_low_bits(key.as_bytes()) {
        return (u64::from(low) % count as u64) as usize;
    }
    // the high bits, so that the location table's buckets (the low bits) still spread one
    // shard's logins over all of them
    ((hash(key.as_bytes()) >> 32) % count as u64) as usize
}

/// `value` with its low 32 bits changed so that a token printed from it ([`crate::Ids`], 16
/// hex digits) is shard `shard`'s of `count` ([`index`]). The other bits, and most of the low
/// ones, are left as they were: a token keeps about 60 random bits.
pub fn place(value: u64, shard: usize, count: usize) -> u64 {
    if count <= 1 {
        return value;
    }
    let n = count as u64;
    debug_assert!(shard < count && n <= 1 << 32);
    // the largest multiple of n that fits in 32 bits, so that every placed value does too
    let slots = (1u64 << 32) / n.min(1 << 32);
    let low = (value & 0xffff_ffff) % slots * n + shard as u64;
    (value & !0xffff_ffff) | low
}

/// The value of the last 8 hex digits of a key of our tokens' shape (module doc of
/// [`crate::Ids`]): `[z9hG4bK]` 16 lower-case hex digits `[@ferroswitch]`.
pub(crate) fn token_low_bits(key: &[u8]) -> Option<u32> {
    let key = key
        .strip_prefix(crate::MAGIC_COOKIE.as_bytes())
        .unwrap_or(key);
    let key = key
        .strip_suffix(crate::ids::CALL_ID_HOST.as_bytes())
        .unwrap_or(key);
    let key: &[u8; 16] = key.try_into().ok()?;
    // every digit looked up, the misfits or-ed together: no branch per digit (this runs for
    // every datagram with several shards)
    let mut bad = 0u8;
    for &b in &key[..8] {
        bad |= HEX[usize::from(b)];
    }
    let mut low = 0u32;
    for &b in &key[8..] {
        let d = HEX[usize::from(b)];
        bad |= d;
        low = low << 4 | u32::from(d & 0x0f);
    }
    (bad & 0x80 == 0).then_some(low)
}

/// A lower-case hex digit's value, `0x80` for any other byte.
static HEX: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The key of a message (see the module doc); `None` when it has none of them (such a message
/// fails the sanity check anyway, and any shard answers it).
pub fn key(msg: &Message) -> Option<&str> {
    if !msg.is_request() {
        return msg.top_branch().or_else(|| msg.call_id());
    }
    if let Some(tag) = msg.to_tag() {
        return Some(tag);
    }
    match msg.method() {
        Some(Method::Register) => {
            if let Some(u) = non_empty(msg.to_user()) {
                return Some(u);
            }
        }
        Some(Method::Subscribe | Method::Publish | Method::Message) => {
            if let Some(u) = non_empty(msg.request_uri().ok().and_then(|u| u.user)) {
                return Some(u);
            }
        }
        Some(Method::Invite) => {
            if let Some(replaced) = msg
                .header(&HeaderName::Other("Replaces".into()))
                .and_then(|v| v.split(';').next())
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                return Some(replaced);
            }
        }
        _ => {}
    }
    msg.call_id()
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The shard that owns `msg` among `count`.
pub fn owner(msg: &Message, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    key(msg).map_or(0, |k| index(k, count))
}

/// The owner among `count` of a datagram still in its raw bytes: [`key`] found by a scan of the
/// start line and of the few headers it reads, without parsing the message. A datagram that
/// landed on another shard's socket is handed to its owner this way, before any parse: the
/// owner parses it on its own core. `None` when the scan is not sure (a folded header line, a
/// quoted display name, an escaped or `tel:` user, no key at all): the receiver then parses the
/// message and asks [`owner`]. Where both answer they agree on every message tested (the RFC
/// 4475 torture messages among them); the owner checks [`owner`] again after its parse all the
/// same, so a message on which they ever differed would still reach its owner, with one more hop.
pub fn peek_owner(datagram: &[u8], count: usize) -> Option<usize> {
    if count <= 1 {
        return Some(0);
    }
    peek_key(datagram).map(|k| index(k, count))
}

/// Whether the raw `datagram`'s headers may hold credentials (an `Authorization` or a
/// `Proxy-Authorization` header): `false` only when no line of its headers (up to the first
/// blank line, if any) starts with either name followed by a colon. A hint for where a request
/// is parsed (a request without credentials is challenged where it lands), never for what is
/// answered: that is the parse's.
///
/// Neither name has a compact form, and a header's name starts its line (a line that starts
/// with white space continues the one before), so the scan looks only where the name's `z`
/// could be: one `memchr2` pass, which every Via's `z9hG4bK` and few other bytes stop (the
/// line-by-line reading this replaced cost ~2,700 instructions a request).
pub fn may_carry_credentials(datagram: &[u8]) -> bool {
    const NAME: &[u8] = b"authorization";
    const Z: usize = 7; // where its `z` is
    for z in memchr::memchr2_iter(b'z', b'Z', datagram) {
        let Some(start) = z.checked_sub(Z) else {
            continue;
        };
        let Some(name) = datagram.get(start..start + NAME.len()) else {
            continue;
        };
        if !name.eq_ignore_ascii_case(NAME) {
            continue;
        }
        let before = &datagram[..start];
        let before = match before.len().checked_sub(6) {
            Some(p) if before[p..].eq_ignore_ascii_case(b"proxy-") => &before[..p],
            _ => before,
        };
        let after = &datagram[start + NAME.len()..];
        let colon = after.iter().find(|&&c| !matches!(c, b' ' | b'\t'));
        if before.ends_with(b"\n") && colon == Some(&b':') {
            // a header line, unless a blank line before it ended the headers (it is the body's)
            return !blank_line(&datagram[..start]);
        }
    }
    false
}

/// Whether `head` holds a blank line (CRLF or LF endings): one pass over its line ends (two
/// `memmem::find`, which build a searcher each, cost ~2,000 instructions a request).
fn blank_line(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| match head.get(i + 1) {
        Some(b'\n') => true,
        Some(b'\r') => head.get(i + 2) == Some(&b'\n'),
        _ => false,
    })
}

/// The key of [`key`] read from raw bytes; `None` when not sure (see [`peek_owner`]).
pub fn peek_key(datagram: &[u8]) -> Option<&str> {
    let mut lines = Lines(datagram);
    let start = lines.next()?;
    let response = start.starts_with(b"SIP/");
    let (method, ruri) = if response {
        (&b""[..], &b""[..])
    } else {
        let mut parts = start.splitn(3, |&b| b == b' ');
        let (m, u, v) = (parts.next()?, parts.next()?, parts.next()?);
        if !v.starts_with(b"SIP/") || u.is_empty() {
            return None;
        }
        (m, u)
    };
    // an INVITE's key may be its Replaces header, wherever it is: the scan goes on to the end
    // of the headers only when the bytes hold the name at all
    let replaces_here = method == b"INVITE"
        && (memchr::memmem::find(datagram, b"eplaces").is_some()
            || memchr::memmem::find(datagram, b"EPLACES").is_some());
    let (mut via, mut to, mut call_id, mut replaces) = (None, None, None, None);
    for line in lines {
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            return None; // a folded line: the parser joins it
        }
        // only Via, To, Call-ID and Replaces (and their compact forms) are read: a line that
        // starts otherwise is passed over without looking for its colon
        if !matches!(line[0] | 0x20, b'v' | b't' | b'i' | b'c' | b'r') {
            continue;
        }
        let colon = memchr::memchr(b':', line)?;
        let (name, value) = (trim(&line[..colon]), trim(&line[colon + 1..]));
        let is = |long: &[u8], short: u8| {
            name.eq_ignore_ascii_case(&[short]) || name.eq_ignore_ascii_case(long)
        };
        if response {
            if is(b"via", b'v') {
                via = Some(value);
                break; // a response's key is its top Via's branch
            }
            if is(b"call-id", b'i') {
                call_id = call_id.or(Some(value));
            }
            continue;
        }
        if is(b"to", b't') {
            to = to.or(Some(value));
        } else if is(b"call-id", b'i') {
            call_id = call_id.or(Some(value));
        } else if replaces_here && name.eq_ignore_ascii_case(b"replaces") {
            replaces = replaces.or(Some(value));
        }
        if to.is_some() && call_id.is_some() && !replaces_here {
            break;
        }
    }
    if response {
        return match via {
            Some(v) => match top_branch(v)? {
                Some(branch) => text(branch),
                None => call_id.and_then(text), // no branch: (never ours) its Call-ID
            },
            // the Call-ID may come after a Via the loop did not reach: not sure
            None => None,
        };
    }
    let to = to?;
    let (to_uri, to_params) = name_addr(to)?;
    if let Some(tag) = param(to_params, b"tag")? {
        return text(tag);
    }
    let user = match method {
        b"REGISTER" => uri_user(to_uri)?,
        b"SUBSCRIBE" | b"PUBLISH" | b"MESSAGE" => uri_user(ruri)?,
        b"INVITE" => {
            if let Some(r) = replaces {
                let replaced = trim(r.split(|&b| b == b';').next().unwrap_or_default());
                if !replaced.is_empty() {
                    return text(replaced);
                }
            }
            None
        }
        _ => None,
    };
    match user {
        Some(u) if !u.is_empty() => text(u),
        _ => call_id.filter(|c| !c.is_empty()).and_then(text),
    }
}

/// The lines of a message, without their CR LF (a bare LF also ends one).
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.0) {
            Some(i) => (&self.0[..i], &self.0[i + 1..]),
            None => (self.0, &b""[..]),
        };
        self.0 = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

fn trim(b: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t');
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

/// A name-addr or addr-spec split into its URI and its header parameters (after `;`, the first
/// one included); `None` for a quoted display name (which may hold `<`, `;` or `,`).
fn name_addr(v: &[u8]) -> Option<(&[u8], &[u8])> {
    if v.contains(&b'"') {
        return None;
    }
    match v.iter().position(|&b| b == b'<') {
        Some(open) => {
            let close = open + v[open..].iter().position(|&b| b == b'>')?;
            Some((&v[open + 1..close], &v[close + 1..]))
        }
        None => {
            let semi = v.iter().position(|&b| b == b';').unwrap_or(v.len());
            Some((&v[..semi], &v[semi..]))
        }
    }
}

/// The value of parameter `name` among `;`-separated `params`: `Some(None)` when it is absent,
/// `None` when not sure (a value that is quoted or empty).
fn param<'a>(params: &'a [u8], name: &[u8]) -> Option<Option<&'a [u8]>> {
    for p in params.split(|&b| b == b';').skip(1) {
        let (n, v) = match p.iter().position(|&b| b == b'=') {
            Some(eq) => (trim(&p[..eq]), trim(&p[eq + 1..])),
            None => (trim(p), &b""[..]),
        };
        if n.eq_ignore_ascii_case(name) {
            if v.is_empty() || v.contains(&b'"') {
                return None;
            }
            return Some(Some(v));
        }
    }
    Some(None)
}

/// The branch of the first Via of a header line: `Some(None)` when it has none.
fn top_branch(via: &[u8]) -> Option<Option<&[u8]>> {
    if via.contains(&b'"') || via.contains(&b'(') {
        return None;
    }
    let first = via.split(|&b| b == b',').next().unwrap_or_default();
    param(first, b"branch")
}

/// The user of a `sip:`/`sips:` URI: `Some(None)` when it has none, `None` when not sure
/// (another scheme, an escape, a password, headers).
fn uri_user(uri: &[u8]) -> Option<Option<&[u8]>> {
    let uri = trim(uri);
    let colon = uri.iter().position(|&b| b == b':')?;
    let scheme = &uri[..colon];
    if !(scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips")) {
        return None;
    }
    let rest = &uri[colon + 1..];
    if rest
        .iter()
        .any(|b| matches!(b, b'%' | b'?' | b' ' | b'<' | b'>'))
    {
        return None;
    }
    let Some(at) = rest.iter().position(|&b| b == b'@') else {
        return Some(None);
    };
    let user = &rest[..at];
    if user.contains(&b':') || rest[at + 1..].contains(&b'@') {
        return None;
    }
    Some(Some(user))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::Ids;

    fn parse(raw: &str) -> Message {
        Message::parse(Bytes::from(raw.replace('\n', "\r\n"))).unwrap()
    }

    fn request(method: &str, ruri: &str, to: &str, extra: &str) -> Message {
        parse(&format!(
            "{method} {ruri} SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc\nFrom: <sip:alice@x>;tag=f1\nTo: {to}\nCall-ID: call-1@10.0.0.1\nCSeq: 1 {method}\n{extra}Content-Length: 0\n\n"
        ))
    }

    #[test]
    fn each_kind_of_message_is_keyed_by_what_its_owner_can_recompute() {
        let reg = request("REGISTER", "sip:x", "<sip:bob@x>", "");
        assert_eq!(key(&reg), Some("bob"));
        let sub = request("SUBSCRIBE", "sip:carol@x", "<sip:carol@x>", "");
        assert_eq!(key(&sub), Some("carol"));
        let msg = request("MESSAGE", "sip:dave@x", "<sip:someone@x>", "");
        assert_eq!(key(&msg), Some("dave"));
        let inv = request("INVITE", "sip:bob@x", "<sip:bob@x>", "");
        assert_eq!(key(&inv), Some("call-1@10.0.0.1"));
        let cancel = request("CANCEL", "sip:bob@x", "<sip:bob@x>", "");
        assert_eq!(
            key(&cancel),
            key(&inv),
            "a CANCEL goes where its INVITE went"
        );
        let in_dialog = request("BYE", "sip:bob@x", "<sip:bob@x>;tag=ours1", "");
        assert_eq!(key(&in_dialog), Some("ours1"));
        let pickup = request(
            "INVITE",
            "sip:alice@x",
            "<sip:alice@x>",
            "Replaces: parked-9@ferroswitch;to-tag=a;from-tag=b\n",
        );
        assert_eq!(key(&pickup), Some("parked-9@ferroswitch"));
        let resp = parse("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKours2\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
        assert_eq!(key(&resp), Some("z9hG4bKours2"));
    }

    #[test]
    fn the_tokens_a_shard_makes_come_back_to_it() {
        for count in [1, 2, 3, 4, 5, 32] {
            for shard in 0..count {
                let mut ids =
                    Ids::for_shard(u64::from(count as u32 * 7 + shard as u32), shard, count);
                for _ in 0..200 {
                    assert_eq!(index(&ids.tag(), count), shard);
                    assert_eq!(index(&ids.branch(), count), shard);
                    assert_eq!(index(&ids.call_id(), count), shard);
                }
            }
        }
    }

    #[test]
    fn a_placed_value_names_its_shard_and_keeps_its_high_bits() {
        let mut ids = Ids::new(3);
        for count in [2, 3, 7, 32, 64, 1_000, 65_537] {
            for _ in 0..200 {
                let v = ids.next_u64();
                let shard = (v >> 7) as usize % count;
                let placed = place(v, shard, count);
                assert_eq!(placed >> 32, v >> 32);
                for token in [
                    format!("{placed:016x}"),
                    format!("z9hG4bK{placed:016x}"),
                    format!("{placed:016x}@ferroswitch"),
                ] {
                    assert_eq!(index(&token, count), shard, "{token} of {count}");
                }
            }
        }
        // with one shard nothing is placed
        assert_eq!(place(0xdead_beef_1234_5678, 0, 1), 0xdead_beef_1234_5678);
    }

    #[test]
    fn keys_not_of_our_tokens_shape_are_hashed() {
        for key in [
            "0123456789abcde",   // 15 digits
            "0123456789abcdef0", // 17
            "0123456789ABCDEF",  // upper case
            "z9hG4bK0123456789abcdeg",
            "0123456789abcdef@pc33.atlanta.com",
            "alice",
        ] {
            let hashed = ((hash(key.as_bytes()) >> 32) % 32) as usize;
            assert_eq!(index(key, 32), hashed, "{key}");
        }
        assert_eq!(index("00000000ffffffff", 32), 0xffff_ffff % 32);
    }

    #[test]
    fn keys_spread_evenly() {
        let mut per = [0u32; 4];
        for i in 0..40_000 {
            per[index(&format!("{i}@10.0.0.{}", i % 7), 4)] += 1;
        }
        for n in per {
            assert!((9_000..11_000).contains(&n), "{per:?}");
        }
        assert_eq!(index("anything", 1), 0);
        assert_eq!(index("anything", 0), 0);
    }

    #[test]
    fn logins_that_differ_in_their_last_digits_spread_over_the_shards() {
        // extension numbers and `user1000`-style logins: with FNV-1a's bare high bits every
        // `user…` login went to one of 2 shards and `b…` ones 100 to 1,900
        for prefix in ["user", "u", "b", "", "+4930"] {
            for count in [2, 3, 4] {
                let mut per = vec![0u32; count];
                for i in 1000..3000 {
                    per[index(&format!("{prefix}{i}"), count)] += 1;
                }
                let fair = 2000 / count as u32;
                for n in &per {
                    assert!(
                        n * 10 > fair * 8 && n * 10 < fair * 12,
                        "{prefix:?} over {count}: {per:?}"
                    );
                }
            }
        }
    }

    /// Where [`peek_key`] answers, it says what [`key`] says of the parsed message; and
    /// where the parse finds credentials, [`may_carry_credentials`] says they may be there.
    fn agrees(raw: &[u8]) -> Option<bool> {
        use crate::HeaderName;
        let msg = Message::parse(Bytes::copy_from_slice(raw)).ok()?;
        let credentials = msg.header(&HeaderName::Authorization).is_some()
            || msg.header(&HeaderName::ProxyAuthorization).is_some();
        if credentials && !may_carry_credentials(raw) {
            return Some(false);
        }
        Some(match peek_key(raw) {
            Some(k) => Some(k) == key(&msg),
            None => true,
        })
    }

    #[test]
    fn the_raw_scan_agrees_with_the_parsed_key_on_the_torture_messages() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torture");
        let (mut parsed, mut sure) = (0, 0);
        for sub in ["valid", "invalid"] {
            for entry in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
                let path = entry.unwrap().path();
                let raw = std::fs::read(&path).unwrap();
                // the files are LF; on the wire they are CRLF
                let crlf = String::from_utf8_lossy(&raw)
                    .replace("\r\n", "\n")
                    .replace('\n', "\r\n");
                // and each with credentials after its start line, in one spelling or another
                let first = raw.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
                let header = [
                    &b"Authorization: Digest username=\"a\"\n"[..],
                    b"proxy-AUTHORIZATION \t: Digest username=\"a\"\r\n",
                ][parsed % 2];
                let with = [&raw[..first], header, &raw[first..]].concat();
                for bytes in [raw.clone(), crlf.into_bytes(), with] {
                    if let Some(ok) = agrees(&bytes) {
                        parsed += 1;
                        sure += usize::from(peek_key(&bytes).is_some());
                        assert!(ok, "{}: peek {:?}", path.display(), peek_key(&bytes));
                    }
                }
            }
        }
        assert!(parsed > 40, "only {parsed} torture messages parsed");
        assert!(sure > 20, "the scan was sure of only {sure} of {parsed}");
    }

    #[test]
    fn the_credentials_scan_never_misses_credentials_the_parse_finds() {
        use crate::HeaderName;
        let with = |extra: &str| {
            let raw = format!(
                "INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:bob@x>\r\n{extra}Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
            );
            may_carry_credentials(raw.as_bytes())
        };
        assert!(!with(""), "none");
        assert!(with("Proxy-Authorization: Digest username=\"a\"\r\n"));
        assert!(
            with("authorization : Digest username=\"a\"\r\n"),
            "any case, space"
        );
        assert!(with("PROXY-AUTHORIZATION:Digest x\r\n"));
        assert!(
            !with("Subject: a\r\n  folded\r\n"),
            "a folded line continues its header"
        );
        assert!(
            !with("Subject: a\r\n Authorization: b\r\n"),
            "a folded line is not a header"
        );
        assert!(
            !with("Subject: Authorization: b\r\n"),
            "the name in a value"
        );
        assert!(!with("X-Authorization-Hint: no\r\n"), "another header");
        // a body that looks like a header is not one
        let body = "INVITE sip:bob@x SIP/2.0\r\nTo: <sip:bob@x>\r\nContent-Length: 26\r\n\r\nAuthorization: Digest x\r\n";
        assert!(!may_carry_credentials(body.as_bytes()));
        assert!(
            !may_carry_credentials(body.replace("\r\n", "\n").as_bytes()),
            "LF line ends"
        );
        assert!(
            !may_carry_credentials(body.replace("\r\n\r\n", "\r\n\n").as_bytes()),
            "a bare LF blank line after a CRLF"
        );
        assert!(
            !may_carry_credentials(b"INVITE sip:bob@x SIP/2.0\r\nTo: <sip:b"),
            "cut short, none so far"
        );
        assert!(
            may_carry_credentials(b"INVITE sip:bob@x SIP/2.0\r\nAuthorization: D"),
            "cut short after them"
        );
        // wherever the parse finds credentials, the scan says so
        for extra in [
            "Authorization: Digest username=\"a\"\n",
            "Proxy-Authorization: Digest username=\"a\"\n",
            "proxy-authorization\t: Digest username=\"a\"\n",
            "Subject: x\nAUTHORIZATION: Digest username=\"a\"\n",
        ] {
            let raw = format!(
                "REGISTER sip:x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:bob@x>\n{extra}Call-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"
            )
            .replace('\n', "\r\n");
            let msg = Message::parse(Bytes::from(raw.clone())).unwrap();
            assert!(
                msg.header(&HeaderName::Authorization).is_some()
                    || msg.header(&HeaderName::ProxyAuthorization).is_some(),
                "{extra}"
            );
            assert!(may_carry_credentials(raw.as_bytes()), "{extra}");
        }
    }

    #[test]
    fn the_raw_scan_finds_the_owner_of_everyday_messages() {
        let cases = [
            request("REGISTER", "sip:x", "<sip:bob@x>", ""),
            request("SUBSCRIBE", "sip:carol@x", "<sip:carol@x>", ""),
            request("MESSAGE", "sip:dave@x", "\"Dave\" <sip:someone@x>", ""),
            request("PUBLISH", "sips:erin@x;transport=tls", "sip:erin@x", ""),
            request("INVITE", "sip:bob@x", "<sip:bob@x>", ""),
            request("CANCEL", "sip:bob@x", "<sip:bob@x>", ""),
            request("BYE", "sip:bob@x", "<sip:bob@x>;tag=ours1", ""),
            request("ACK", "sip:bob@x", "sip:bob@x ; tag = ours2", ""),
            request("INVITE", "sip:alice@x", "<sip:alice@x>", "Replaces: parked-9@ferroswitch;to-tag=a;from-tag=b\n"),
            request("OPTIONS", "sip:x", "<sip:x>", ""),
            request("INVITE", "tel:+4930123", "<tel:+4930123>", ""),
            parse("SIP/2.0 180 Ringing\nv: SIP/2.0/UDP 10.0.0.1;rport=5060;branch=z9hG4bKours2, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKtheirs\nf: <sip:a@x>;tag=1\nt: <sip:b@x>;tag=2\ni: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n"),
        ];
        let mut sure = 0;
        for msg in &cases {
            let raw = msg.to_bytes();
            let peeked = peek_key(&raw);
            if peeked.is_some() {
                sure += 1;
                assert_eq!(peeked, key(msg), "{}", String::from_utf8_lossy(&raw));
                assert_eq!(peek_owner(&raw, 3), Some(owner(msg, 3)));
            }
        }
        // a quoted display name is left to the parser; the rest is found (a tel: INVITE by
        // its Call-ID)
        assert_eq!(sure, cases.len() - 1);
        // and without the To header there is nothing to be sure of
        assert_eq!(peek_key(b"BYE sip:x SIP/2.0\r\ni: c\r\n\r\n"), None);
        assert_eq!(peek_owner(b"anything", 1), Some(0));
    }
}
