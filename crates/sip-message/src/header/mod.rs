//! Header names (full and compact forms) and the typed header views.

pub(crate) mod auth;
pub(crate) mod cseq;
pub(crate) mod name_addr;
pub(crate) mod params;
pub(crate) mod via;

use bytes::Bytes;

macro_rules! header_names {
    ($( $variant:ident => $canon:literal $(, $compact:literal)? ;)*) => {
        /// A header name: the ones ferroswitch reads are variants, others are kept verbatim.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $variant, )*
            /// Any other header, name as written.
            Other(Bytes),
        }

        impl HeaderName {
            /// The reference lookup: every name in turn. [`Self::known`] must agree with it.
            #[cfg(test)]
            fn known_linear(name: &[u8]) -> Option<Self> {
                $(
                    if name.eq_ignore_ascii_case($canon.as_bytes()) $( || name.eq_ignore_ascii_case($compact.as_bytes()) )? {
                        return Some(Self::$variant);
                    }
                )*
                None
            }

            /// Every known name: `(variant, full name, compact form)`.
            #[cfg(test)]
            fn all_known() -> Vec<(Self, &'static str, Option<&'static str>)> {
                vec![$( (Self::$variant, $canon, None $(.or(Some($compact)))?), )*]
            }

            /// The canonical full name used when printing.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $canon, )*
                    Self::Other(b) => std::str::from_utf8(b).unwrap_or("X-Invalid"),
                }
            }
        }
    };
}

header_names! {
    Via => "Via", "v";
    From => "From", "f";
    To => "To", "t";
    CallId => "Call-ID", "i";
    CSeq => "CSeq";
    Contact => "Contact", "m";
    MaxForwards => "Max-Forwards";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    ContentLength => "Content-Length", "l";
    ContentType => "Content-Type", "c";
    ContentEncoding => "Content-Encoding", "e";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    Route => "Route";
    RecordRoute => "Record-Route";
    Supported => "Supported", "k";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Allow => "Allow";
    AllowEvents => "Allow-Events", "u";
    Event => "Event", "o";
    SubscriptionState => "Subscription-State";
    Path => "Path";
    UserAgent => "User-Agent";
    Server => "Server";
    Subject => "Subject", "s";
    Date => "Date";
    RetryAfter => "Retry-After";
    Warning => "Warning";
    ReferTo => "Refer-To", "r";
    ReferredBy => "Referred-By", "b";
    Timestamp => "Timestamp";
    Accept => "Accept";
}

impl HeaderName {
    /// Recognises full names case-insensitively and the RFC 3261 compact forms, dispatching on
    /// the length first so that a name is compared with at most a handful of candidates.
    pub(crate) fn known(name: &[u8]) -> Option<Self> {
        let is = |canon: &str| name.eq_ignore_ascii_case(canon.as_bytes());
        let found = match name.len() {
            // compact forms (RFC 3261 §7.3.3, RFC 3265, RFC 3515, RFC 3892)
            1 => match name[0] | 0x20 {
                b'v' => Self::Via,
                b'f' => Self::From,
                b't' => Self::To,
                b'i' => Self::CallId,
                b'm' => Self::Contact,
                b'l' => Self::ContentLength,
                b'c' => Self::ContentType,
                b'e' => Self::ContentEncoding,
                b'k' => Self::Supported,
                b'u' => Self::AllowEvents,
                b'o' => Self::Event,
                b's' => Self::Subject,
                b'r' => Self::ReferTo,
                b'b' => Self::ReferredBy,
                _ => return None,
            },
            2 if is("To") => Self::To,
            3 if is("Via") => Self::Via,
            4 => match name[0] | 0x20 {
                b'f' if is("From") => Self::From,
                b'c' if is("CSeq") => Self::CSeq,
                b'p' if is("Path") => Self::Path,
                b'd' if is("Date") => Self::Date,
                _ => return None,
            },
            5 => match name[0] | 0x20 {
                b'r' if is("Route") => Self::Route,
                b'a' if is("Allow") => Self::Allow,
                b'e' if is("Event") => Self::Event,
                _ => return None,
            },
            6 => match name[0] | 0x20 {
                b's' if is("Server") => Self::Server,
                b'a' if is("Accept") => Self::Accept,
                _ => return None,
            },
            7 => match name[0] | 0x20 {
                b'c' if is("Call-ID") => Self::CallId,
                b'c' if is("Contact") => Self::Contact,
                b'e' if is("Expires") => Self::Expires,
                b'r' if is("Require") => Self::Require,
                b's' if is("Subject") => Self::Subject,
                b'w' if is("Warning") => Self::Warning,
                _ => return None,
            },
            8 if is("Refer-To") => Self::ReferTo,
            9 => match name[0] | 0x20 {
                b's' if is("Supported") => Self::Supported,
                b't' if is("Timestamp") => Self::Timestamp,
                _ => return None,
            },
            10 if is("User-Agent") => Self::UserAgent,
            11 => match name[0] | 0x20 {
                b'm' if is("Min-Expires") => Self::MinExpires,
                b'u' if is("Unsupported") => Self::Unsupported,
                b'r' if is("Retry-After") => Self::RetryAfter,
                b'r' if is("Referred-By") => Self::ReferredBy,
                _ => return None,
            },
            12 => match name[0] | 0x20 {
                b'm' if is("Max-Forwards") => Self::MaxForwards,
                b'c' if is("Content-Type") => Self::ContentType,
                b'r' if is("Record-Route") => Self::RecordRoute,
                b'a' if is("Allow-Events") => Self::AllowEvents,
                _ => return None,
            },
            13 => match name[0] | 0x20 {
                b'a' if is("Authorization") => Self::Authorization,
                b'p' if is("Proxy-Require") => Self::ProxyRequire,
                _ => return None,
            },
            14 if is("Content-Length") => Self::ContentLength,
            16 => match name[0] | 0x20 {
                b'c' if is("Content-Encoding") => Self::ContentEncoding,
                b'w' if is("WWW-Authenticate") => Self::WwwAuthenticate,
                _ => return None,
            },
            18 => match name[0] | 0x20 {
                b'p' if is("Proxy-Authenticate") => Self::ProxyAuthenticate,
                b's' if is("Subscription-State") => Self::SubscriptionState,
                _ => return None,
            },
            19 if is("Proxy-Authorization") => Self::ProxyAuthorization,
            _ => return None,
        };
        Some(found)
    }

    /// Recognises full names case-insensitively and the RFC 3261 compact forms.
    pub fn from_bytes(name: &[u8]) -> Self {
        Self::known(name).unwrap_or_else(|| Self::Other(Bytes::copy_from_slice(name)))
    }

    /// Like [`Self::from_bytes`] for `buf[range]`, keeping an unknown name as a slice of `buf`
    /// (no copy; known names do not touch the buffer's reference count).
    pub(crate) fn from_shared(buf: &Bytes, range: std::ops::Range<usize>) -> Self {
        Self::known(&buf[range.clone()]).unwrap_or_else(|| Self::Other(buf.slice(range)))
    }

    /// Case-insensitive comparison with a name as text (full or compact form).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Other(b) => b.eq_ignore_ascii_case(name.as_bytes()),
            known => Self::known(name.as_bytes()).as_ref() == Some(known),
        }
    }

    /// Headers whose value is a comma-separated list that may be split into several lines.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            Self::Via
                | Self::Contact
                | Self::Route
                | Self::RecordRoute
                | Self::Path
                | Self::Supported
                | Self::Require
                | Self::ProxyRequire
                | Self::Unsupported
                | Self::Allow
                | Self::AllowEvents
                | Self::Accept
        )
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_variants(s: &str) -> [String; 4] {
        let alt: String = s
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        [
            s.to_owned(),
            s.to_ascii_lowercase(),
            s.to_ascii_uppercase(),
            alt,
        ]
    }

    #[test]
    fn every_known_name_and_compact_form_is_recognised() {
        for (variant, canon, compact) in HeaderName::all_known() {
            for n in case_variants(canon)
                .iter()
                .chain(compact.map(case_variants).iter().flatten())
            {
                assert_eq!(HeaderName::from_bytes(n.as_bytes()), variant, "{n}");
                assert!(variant.matches(n));
            }
            assert_eq!(variant.as_str(), canon);
        }
    }

    #[test]
    fn length_dispatch_agrees_with_the_linear_lookup() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for (_, canon, compact) in HeaderName::all_known() {
            for n in case_variants(canon)
                .iter()
                .chain(compact.map(case_variants).iter().flatten())
            {
                let b = n.as_bytes().to_vec();
                // near misses: one byte changed, one dropped, one added
                for i in 0..b.len() {
                    let mut m = b.clone();
                    m[i] ^= 0x01;
                    names.push(m);
                    let mut m = b.clone();
                    m.remove(i);
                    names.push(m);
                }
                let mut m = b.clone();
                m.push(b'x');
                names.push(m);
                names.push(b);
            }
        }
        for c in 0..=255u8 {
            names.push(vec![c]);
        }
        names.extend([&b""[..], b"X-Custom", b"P-Asserted-Identity"].map(<[u8]>::to_vec));
        for n in names {
            assert_eq!(
                HeaderName::known(&n),
                HeaderName::known_linear(&n),
                "{:?}",
                String::from_utf8_lossy(&n)
            );
        }
    }
}
