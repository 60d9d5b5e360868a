//! `name-addr` / `addr-spec` headers: From, To, Contact, Route, Record-Route, Path.

use crate::cursor::{is_token, is_ws, split_commas, unquote, Cursor};
use crate::header::params::Params;
use crate::uri::Uri;
use crate::{Error, Result};

/// `["display name"] <uri> ;params` or `uri ;params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written (quoted strings keep their quotes); see [`Self::display_name`].
    pub display: Option<&'a str>,
    pub uri: Uri<'a>,
    /// Header parameters (`tag`, `expires`, `q`, `+sip.instance`, `reg-id`, ...).
    pub params: Params<'a>,
    /// Whether the URI was enclosed in `<>`.
    pub angle: bool,
}

impl<'a> NameAddr<'a> {
    pub fn parse(s: &'a str, header: &'static str) -> Result<Self> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let mut display = None;
        let angle;
        let uri_s;
        if c.peek() == Some(b'"') {
            display = Some(
                c.quoted()
                    .ok_or(Error::header(header, "unterminated quoted string"))?,
            );
            c.skip_ws();
            if c.peek() != Some(b'<') {
                return Err(Error::header(header, "display name without <uri>"));
            }
        }
        if display.is_none() && c.peek() != Some(b'<') {
            // an unquoted display name (tokens and LWS) before `<`; anything else is an addr-spec
            let save = c.clone();
            let start = c.pos();
            c.take_while(|b| is_token(b) || is_ws(b));
            if c.peek() == Some(b'<') {
                let d = c.slice(start, c.pos()).trim_end_matches([' ', '\t']);
                display = (!d.is_empty()).then_some(d);
            } else {
                c = save;
            }
        }
        if c.peek() == Some(b'<') {
            let rest = c.rest();
            let close = rest.find('>').ok_or(Error::header(header, "missing >"))?;
            uri_s = &rest[1..close];
            c = Cursor::new(&rest[close + 1..]);
            angle = true;
        } else {
            let start = c.pos();
            c.take_while(|b| !matches!(b, b';' | b' ' | b'\t' | b','));
            uri_s = c.slice(start, c.pos());
            angle = false;
        }
        let uri = Uri::parse(uri_s).map_err(|_| Error::header(header, "bad URI"))?;
        if !angle && (uri.headers.is_some() || uri_s.contains('?')) {
            return Err(Error::header(
                header,
                "URI with headers must be enclosed in <>",
            ));
        }
        let params = Params::parse_header(&mut c, header)?;
        c.skip_ws();
        if !c.is_empty() {
            return Err(Error::header(header, "junk after value"));
        }
        Ok(Self {
            display,
            uri,
            params,
            angle,
        })
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.display.map(unquote)
    }

    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
}

/// One entry of a `Contact` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact<'a>(pub NameAddr<'a>);

impl<'a> Contact<'a> {
    /// The `expires` parameter; `Err` when present but not a 32-bit delta-seconds value.
    pub fn expires(&self) -> Result<Option<u32>> {
        match self.0.params.get("expires") {
            None => Ok(None),
            Some(Some(v))
                if !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) =>
            {
                v.parse::<u32>()
                    .map(Some)
                    .map_err(|_| Error::header("Contact", "expires out of range"))
            }
            Some(_) => Err(Error::header("Contact", "bad expires parameter")),
        }
    }

    /// `q` as thousandths (`q=0.5` → 500); `Err` when malformed or above 1.
    pub fn q_milli(&self) -> Result<Option<u16>> {
        let Some(v) = self.0.params.get("q") else {
            return Ok(None);
        };
        let v = v.ok_or(Error::header("Contact", "q without value"))?;
        let bad = Error::header("Contact", "bad q value");
        let (int, frac) = match v.split_once('.') {
            Some((i, f)) => (i, f),
            None => (v, ""),
        };
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        let mut f: u16 = 0;
        for (i, b) in frac.bytes().enumerate() {
            f += u16::from(b - b'0') * [100, 10, 1][i];
        }
        let q = match int {
            "0" => f,
            "1" if f == 0 => 1000,
            _ => return Err(bad),
        };
        Ok(Some(q))
    }

    /// `+sip.instance` without its quotes, e.g. `<urn:uuid:...>`.
    pub fn instance(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.0.params.get("+sip.instance").flatten().map(unquote)
    }

    pub fn reg_id(&self) -> Option<u32> {
        self.0
            .params
            .get("reg-id")
            .flatten()
            .and_then(|v| v.parse().ok())
    }
}

/// A `Contact` header value: `*` or a list of contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactList<'a> {
    Star,
    Contacts(Vec<Contact<'a>>),
}

impl<'a> ContactList<'a> {
    pub fn parse(value: &'a str) -> Result<Self> {
        if value.trim() == "*" {
            return Ok(Self::Star);
        }
        let mut v = Vec::new();
        for item in split_commas(value) {
            if item.is_empty() {
                return Err(Error::header("Contact", "empty list element"));
            }
            v.push(Contact(NameAddr::parse(item, "Contact")?));
        }
        Ok(Self::Contacts(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse(
            "\"Alice \\\"A\\\"\" <sip:alice@example.com>;tag=1928",
            "From",
        )
        .unwrap();
        assert_eq!(n.display_name().unwrap(), "Alice \"A\"");
        assert_eq!(n.tag(), Some("1928"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323", "From").unwrap();
        assert_eq!(n.display, Some("caller"));
        let n = NameAddr::parse("sip:bob@example.com ; tag = 99", "To").unwrap();
        assert_eq!(n.tag(), Some("99"));
        assert!(!n.angle);
        let n =
            NameAddr::parse("<sip:bob@example.com;transport=tcp>;expires=60", "Contact").unwrap();
        assert_eq!(n.uri.transport_param(), Some("tcp"));
        assert_eq!(n.params.get("expires"), Some(Some("60")));
    }

    #[test]
    fn addr_spec_with_angle_in_a_quoted_parameter() {
        let n = NameAddr::parse("sip:bob@example.com;tag=1;note=\"<b>\"", "To").unwrap();
        assert!(!n.angle);
        assert_eq!(n.display, None);
        assert_eq!(n.tag(), Some("1"));
        assert_eq!(n.params.get("note"), Some(Some("\"<b>\"")));
        let n = NameAddr::parse("Bob Smith <sip:bob@example.com>", "To").unwrap();
        assert_eq!(n.display, Some("Bob Smith"));
        let n = NameAddr::parse("<sip:bob@example.com>;x=\"a,b\"", "To").unwrap();
        assert_eq!(n.params.get("x"), Some(Some("\"a,b\"")));
    }

    #[test]
    fn rejects() {
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "\"Joe\" <sip:joe@example.org>;;,,;;,;",
        ] {
            assert!(ContactList::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contact_params() {
        let ContactList::Contacts(c) = ContactList::parse(
            "<sip:a@192.0.2.1:5060>;expires=3600;q=0.7;+sip.instance=\"<urn:uuid:0001>\";reg-id=1, <sip:b@h>;q=1",
        )
        .unwrap() else {
            panic!("not a list")
        };
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].expires(), Ok(Some(3600)));
        assert_eq!(c[0].q_milli(), Ok(Some(700)));
        assert_eq!(c[0].instance().unwrap(), "<urn:uuid:0001>");
        assert_eq!(c[0].reg_id(), Some(1));
        assert_eq!(c[1].q_milli(), Ok(Some(1000)));
        assert_eq!(ContactList::parse(" * ").unwrap(), ContactList::Star);
        let ContactList::Contacts(c) =
            ContactList::parse("<sip:a@h>;expires=280297596632815").unwrap()
        else {
            panic!()
        };
        assert!(c[0].expires().is_err());
    }
}
