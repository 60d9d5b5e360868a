//! Text helpers for the documents the core writes: XML escaping and resource URIs.

use std::fmt::Write as _;

/// Appends `s` escaped for XML text and attribute values (both quote kinds escaped).
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

pub(crate) fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    push_escaped(&mut out, s);
    out
}

/// The canonical URI of a login: `sip:{user}@{domain}`, with the user part percent-escaped
/// where RFC 3261 §25.1 does not allow a character in `user` (logins are digits, names or
/// sequential ids, but nothing is assumed).
pub fn login_uri(login: &str, domain: &str) -> String {
    let mut out = String::with_capacity(login.len() + domain.len() + 5);
    out.push_str("sip:");
    for b in login.bytes() {
        let allowed = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b';'
                    | b'?'
                    | b'/'
            );
        if allowed {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out.push('@');
    out.push_str(domain);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_uris() {
        assert_eq!(escaped(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(
            login_uri("447700900123", "ex.com"),
            "sip:447700900123@ex.com"
        );
        assert_eq!(login_uri("j doe@x", "ex.com"), "sip:j%20doe%40x@ex.com");
    }
}
