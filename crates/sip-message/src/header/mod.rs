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
            fn known(name: &[u8]) -> Option<Self> {
                $(
                    if name.eq_ignore_ascii_case($canon.as_bytes()) $( || name.eq_ignore_ascii_case($compact.as_bytes()) )? {
                        return Some(Self::$variant);
                    }
                )*
                None
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
    /// Recognises full names case-insensitively and the RFC 3261 compact forms.
    pub fn from_bytes(name: &[u8]) -> Self {
        Self::known(name).unwrap_or_else(|| Self::Other(Bytes::copy_from_slice(name)))
    }

    /// Like [`Self::from_bytes`] but keeps an unknown name as a slice of `name` (no copy).
    pub(crate) fn from_shared(name: Bytes) -> Self {
        Self::known(&name).unwrap_or(Self::Other(name))
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
