//! Message sanity checks (Kamailio's `sanity` module in spirit): the typed validation a
//! request or response must pass before any module acts on it.

use crate::header::HeaderName;
use crate::message::{parse_u32, Message, StartLine};
use crate::{CSeq, ContactList, Error, NameAddr, Result, Scheme};

impl Message {
    /// Validates the start line and every header ferroswitch gives meaning to. A request that
    /// fails should get [`Error::status_code`] (400, 416 or 505) when it can be answered.
    pub fn sanity_check(&self) -> Result<()> {
        let version = match self.start_line() {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => *version,
        };
        if version != (2, 0) {
            return Err(Error::Version);
        }
        let call_id = self.call_id().ok_or(Error::Missing("Call-ID"))?;
        if call_id.is_empty() || call_id.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(Error::header("Call-ID", "empty or contains whitespace"));
        }
        let cseq = self.cseq()?;
        if let Some(method) = self.method() {
            let uri = self.request_uri()?;
            if uri.headers.is_some() {
                return Err(Error::Uri("Request-URI must not carry headers"));
            }
            if uri.scheme == Scheme::Tel && uri.user.is_none() {
                return Err(Error::Uri("empty tel URI"));
            }
            if &cseq.method != method {
                return Err(Error::CSeqMismatch {
                    cseq: cseq.method.as_str().to_owned(),
                    method: method.as_str().to_owned(),
                });
            }
        }
        let _: CSeq = cseq;
        let mut vias = 0;
        for v in self.vias() {
            let v = v?;
            if vias == 0 {
                self.note_branch(v.branch());
            }
            vias += 1;
        }
        if vias == 0 {
            return Err(Error::Missing("Via"));
        }
        let from = self.from_header()?;
        let to = self.to_header()?;
        self.note_tags(&to, &from);
        self.max_forwards()?;
        self.expires()?;
        if let Some(ContactList::Contacts(cs)) = self.contacts()? {
            for c in &cs {
                c.expires()?;
                c.q_milli()?;
            }
        }
        for name in [HeaderName::Route, HeaderName::RecordRoute, HeaderName::Path] {
            for v in self.header_list(&name) {
                NameAddr::parse(v, "Route")?;
            }
        }
        if let Some(d) = self.header(&HeaderName::Date) {
            check_date(d)?;
        }
        if let Some(r) = self.header(&HeaderName::RetryAfter) {
            let delta = r.split([';', '(']).next().unwrap_or("");
            parse_u32(delta, "Retry-After")?;
        }
        for w in self.header_list(&HeaderName::Warning) {
            let code = w.split(' ').next().unwrap_or("");
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::header("Warning", "warn-code is not 3 digits"));
            }
        }
        Ok(())
    }
}

impl Error {
    /// The status code a server answers a request with when it fails with this error.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Version => 505,
            Self::Uri("unsupported scheme") => 416,
            Self::TooLong { .. } => 513,
            _ => 400,
        }
    }
}

/// RFC 3261 §25.1 `SIP-date` (RFC 1123 date, GMT only): `Sat, 13 Nov 2010 23:29:00 GMT`.
fn check_date(d: &str) -> Result<()> {
    let bad = Error::header("Date", "not an RFC 1123 GMT date");
    let parts: Vec<&str> = d.split(' ').collect();
    let [wkday, day, month, year, time, zone] = parts.as_slice() else {
        return Err(bad);
    };
    let ok = matches!(
        *wkday,
        "Mon," | "Tue," | "Wed," | "Thu," | "Fri," | "Sat," | "Sun,"
    ) && day.len() == 2
        && day.bytes().all(|b| b.is_ascii_digit())
        && matches!(
            *month,
            "Jan"
                | "Feb"
                | "Mar"
                | "Apr"
                | "May"
                | "Jun"
                | "Jul"
                | "Aug"
                | "Sep"
                | "Oct"
                | "Nov"
                | "Dec"
        )
        && year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && time.len() == 8
        && time.bytes().enumerate().all(|(i, b)| {
            if i == 2 || i == 5 {
                b == b':'
            } else {
                b.is_ascii_digit()
            }
        })
        && *zone == "GMT";
    if ok {
        Ok(())
    } else {
        Err(bad)
    }
}
