//! `;name[=value]` parameter lists of URIs and headers.

use crate::cursor::{is_token, Cursor};
use crate::uri::uri_param_char_ok;
use crate::{Error, Result};

/// Parameters in order, as borrowed `(name, value)` pairs. Values keep their quotes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'a>(Vec<(&'a str, Option<&'a str>)>);

impl<'a> Params<'a> {
    /// Parameters of a URI: `;a=b;c` with no whitespace.
    pub(crate) fn parse_uri(s: &'a str) -> Result<Self> {
        let mut out = Vec::new();
        if s.is_empty() {
            return Ok(Self(out));
        }
        let s = s
            .strip_prefix(';')
            .ok_or(Error::Uri("junk before parameters"))?;
        for p in s.split(';') {
            let (n, v) = match p.bytes().position(|b| b == b'=') {
                Some(i) => (&p[..i], Some(&p[i + 1..])),
                None => (p, None),
            };
            if n.is_empty() || !uri_param_char_ok(n) || v.is_some_and(|v| !uri_param_char_ok(v)) {
                return Err(Error::Uri("bad parameter"));
            }
            out.push((n, v));
        }
        Ok(Self(out))
    }

    /// Header parameters: `*( SEMI generic-param )` with LWS allowed around `;` and `=`.
    /// Consumes from the cursor until something that is not a parameter.
    pub(crate) fn parse_header(c: &mut Cursor<'a>, header: &'static str) -> Result<Self> {
        let mut out = Vec::new();
        while c.eat(b';') {
            let name = c.token().ok_or(Error::header(header, "empty parameter"))?;
            let value = if c.eat(b'=') {
                c.skip_ws();
                if c.peek() == Some(b'"') {
                    Some(
                        c.quoted()
                            .ok_or(Error::header(header, "unterminated quoted string"))?,
                    )
                } else {
                    let v = c.take_while(|b| is_token(b) || matches!(b, b':' | b'[' | b']'));
                    if v.is_empty() {
                        return Err(Error::header(header, "empty parameter value"));
                    }
                    Some(v)
                }
            } else {
                None
            };
            out.push((name, value));
        }
        Ok(Self(out))
    }

    /// `Some(value)` when the parameter is present (`Some(None)` for a flag); case-insensitive.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
