//! A tiny lexer over an (unfolded) header value: tokens, quoted strings, LWS.

/// RFC 3261 `token` characters, as a table: the parser asks this for nearly every byte.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// RFC 3261 `token` characters.
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a str {
        &self.s[from..to]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Consume `c` (after optional LWS); true if it was there.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consume bytes while `f` holds; returns the run (possibly empty).
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    pub(crate) fn token(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let t = self.take_while(is_token);
        (!t.is_empty()).then_some(t)
    }

    /// A quoted string including its quotes; `None` if unterminated or absent.
    pub(crate) fn quoted(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let b = self.s.as_bytes();
        if b.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos;
        let mut i = self.pos + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => {
                    // quoted-pair: any char but CR/LF
                    if i + 1 >= b.len() || matches!(b[i + 1], b'\r' | b'\n') {
                        return None;
                    }
                    i += 2;
                }
                b'"' => {
                    self.pos = i + 1;
                    return Some(&self.s[start..self.pos]);
                }
                b'\r' | b'\n' => return None,
                _ => i += 1,
            }
        }
        None
    }
}

/// Splits a header value at top-level commas (outside quotes and `<>`), trimming LWS.
/// Empty elements are returned as empty strings so callers can refuse them.
pub(crate) fn split_commas(s: &str) -> impl Iterator<Item = &str> + '_ {
    let b = s.as_bytes();
    let mut start = 0usize;
    let mut i = 0usize;
    let mut done = s.trim().is_empty();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut in_quote = false;
        let mut in_angle = false;
        while i < b.len() {
            match b[i] {
                b'\\' if in_quote => i += 1,
                b'"' => in_quote = !in_quote,
                b'<' if !in_quote => in_angle = true,
                b'>' if !in_quote => in_angle = false,
                b',' if !in_quote && !in_angle => {
                    let item = s[start..i].trim_matches(|c| c == ' ' || c == '\t');
                    i += 1;
                    start = i;
                    return Some(item);
                }
                _ => {}
            }
            i += 1;
        }
        done = true;
        Some(s[start..].trim_matches(|c| c == ' ' || c == '\t'))
    })
}

/// Removes the quotes and quoted-pair escapes of a quoted string.
pub(crate) fn unquote(q: &str) -> std::borrow::Cow<'_, str> {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    if !inner.contains('\\') {
        return inner.into();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}
