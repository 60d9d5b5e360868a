//! Why the registrar refused a request: one enum per decision, each variant mapped to its status
//! code ([`AuthRejection::status`], [`RegisterError::status`]) and, through `Display`, to the
//! text of the `Warning: 399` header its response carries. Responses are built from these enums
//! only, so the driver can branch on the variant instead of on numbers.

use std::fmt;

use bytes::Bytes;
use sip_message::{Message, MessageBuilder, Peer};

use crate::auth::AuthKind;
use crate::register::SERVER;

/// Why a request did not authenticate (RFC 3261 §22, RFC 7616).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No credentials we accept (none, of another realm, an algorithm not offered, a nonce we
    /// did not issue), or a stale or replayed nonce (`stale`): a fresh challenge, 401 or 407
    /// by `kind`. A challenge is cheap to compute again, so the driver may answer it
    /// statelessly.
    #[error("{}", if *stale { "stale nonce" } else { "authentication required" })]
    Challenge { kind: AuthKind, stale: bool },
    /// Credentials that cannot be judged: 400.
    #[error("{problem}")]
    BadCredentials { problem: CredentialsProblem },
    /// Credentials judged and refused: 403.
    #[error("{reason}")]
    Forbidden { reason: ForbiddenReason },
}

impl AuthRejection {
    /// The status code of the response.
    pub fn status(&self) -> u16 {
        match self {
            Self::Challenge {
                kind: AuthKind::Www,
                ..
            } => 401,
            Self::Challenge {
                kind: AuthKind::Proxy,
                ..
            } => 407,
            Self::BadCredentials { .. } => 400,
            Self::Forbidden { .. } => 403,
        }
    }
}

/// What is wrong with credentials that cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsProblem {
    /// The `Authorization` / `Proxy-Authorization` header does not parse.
    #[error("malformed credentials")]
    Malformed,
    /// `qop=auth` without `nc` or `cnonce`.
    #[error("qop=auth needs nc and cnonce")]
    QopWithoutCount,
    /// A `qop` other than `auth`.
    #[error("unsupported qop")]
    UnsupportedQop { qop: String },
}

/// Why judged credentials were refused. The two "bad credentials" cases give the peer the
/// same text: it does not learn whether the login exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForbiddenReason {
    /// The digest username names no account the driver knows.
    #[error("bad credentials")]
    UnknownAccount { login: String },
    /// The digest response does not match: a wrong password (or a digest computed over
    /// another method or URI).
    #[error("bad credentials")]
    WrongPassword { login: String },
    /// The credentials are right but the account is disabled.
    #[error("account disabled")]
    AccountDisabled { login: String },
}

/// Why a REGISTER was refused (RFC 3261 §10.3, RFC 8599).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Authentication failed or must happen first.
    #[error(transparent)]
    Auth(#[from] AuthRejection),
    /// A header the registrar reads (`To`, `Contact`, `Expires`) does not parse: 400.
    #[error("{}", bad_header_text(header))]
    BadHeader { header: &'static str },
    /// A Contact's parameter (`expires`, `q`) does not parse: 400.
    #[error("bad {param}")]
    BadContactParam { param: &'static str },
    /// The To URI is not the authenticated login's (third-party registration is not
    /// allowed): 403.
    #[error("To user does not match the authenticated login")]
    ToMismatch { to: String, login: String },
    /// `Contact: *` with an `Expires` other than 0: 400.
    #[error("Contact: * needs Expires: 0")]
    StarNeedsExpiresZero,
    /// A binding asked for fewer than `min` seconds: 423 with `Min-Expires` (and no
    /// `Warning`).
    #[error("interval too brief: {asked}s asked, at least {min}s")]
    MinExpires { min: u32, asked: u32 },
    /// The login would hold more than `max` bindings: 403.
    #[error("too many contacts")]
    TooManyContacts { max: usize },
    /// A Contact names an RFC 8599 push provider (`pn-provider`, lowercase) this server does
    /// not serve: 555 with `Feature-Caps` listing those it does (`served`).
    #[error("push provider {provider} is not served")]
    PushProviderNotServed {
        provider: String,
        served: Vec<String>,
    },
}

/// The `Warning` text of [`RegisterError::BadHeader`] (the To one always said "bad").
fn bad_header_text(header: &str) -> impl fmt::Display + '_ {
    struct Text<'a>(&'a str);
    impl fmt::Display for Text<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                "To" => f.write_str("bad To"),
                h => write!(f, "malformed {h}"),
            }
        }
    }
    Text(header)
}

impl RegisterError {
    /// The status code of the response.
    pub fn status(&self) -> u16 {
        match self {
            Self::Auth(a) => a.status(),
            Self::BadHeader { .. } | Self::BadContactParam { .. } | Self::StarNeedsExpiresZero => {
                400
            }
            Self::ToMismatch { .. } | Self::TooManyContacts { .. } => 403,
            Self::MinExpires { .. } => 423,
            Self::PushProviderNotServed { .. } => 555,
        }
    }

    /// The response to `req` that says so. Not for authentication: challenges need a nonce
    /// and [`crate::Registrar::authenticate`] builds its own responses.
    pub(crate) fn response(&self, req: &Message, from: Peer) -> Bytes {
        let mut b = reply(req, from, self.status());
        match self {
            Self::MinExpires { min, .. } => {
                b.header("Min-Expires", min).header("Server", SERVER);
            }
            Self::PushProviderNotServed { served, .. } => {
                b.header("Server", SERVER);
                for p in served {
                    b.header("Feature-Caps", format_args!("*;+sip.pns=\"{p}\""));
                }
                warning(&mut b, self);
            }
            _ => {
                b.header("Server", SERVER);
                warning(&mut b, self);
            }
        }
        b.finish()
    }
}

/// A response to `req` with `code`, the request's stable To tag and `received` for `from`.
pub(crate) fn reply(req: &Message, from: Peer, code: u16) -> MessageBuilder {
    reply_tagged(req, from, code, &req.stable_tag())
}

/// [`reply`] with the To tag `tag`.
pub(crate) fn reply_tagged(req: &Message, from: Peer, code: u16, tag: &str) -> MessageBuilder {
    MessageBuilder::response_to(req, code, Some(tag), Some(from.remote))
}

/// `Server` and a `Warning: 399` with `reason`: the response to a refusal without extra headers.
pub(crate) fn refusal(req: &Message, from: Peer, code: u16, reason: &dyn fmt::Display) -> Bytes {
    let mut b = reply(req, from, code);
    b.header("Server", SERVER);
    warning(&mut b, reason);
    b.finish()
}

fn warning(b: &mut MessageBuilder, reason: &dyn fmt::Display) {
    b.warning(reason);
}
