//! Digest authentication of any request (RFC 3261 §22, RFC 7616/8760): REGISTER is challenged
//! with 401/`WWW-Authenticate`, everything a proxy or B2BUA judges (INVITE, MESSAGE, SUBSCRIBE,
//! PUBLISH) with 407/`Proxy-Authenticate`. Both share the registrar's nonce keeper, so a nonce
//! issued for one request kind is good for the other and replay protection covers both.

use std::time::Instant;

use bytes::Bytes;
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Credentials, HeaderName, Message, Peer};

use crate::error::{self, AuthRejection, CredentialsProblem, ForbiddenReason};
use crate::nonce::NonceCheck;
use crate::register::{Account, Registrar, SERVER};

/// Which pair of headers carries the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// 401 `WWW-Authenticate` / `Authorization` (a registrar).
    Www,
    /// 407 `Proxy-Authenticate` / `Proxy-Authorization` (a proxy or B2BUA).
    Proxy,
}

impl AuthKind {
    fn challenge_header(self) -> &'static str {
        match self {
            Self::Www => "WWW-Authenticate",
            Self::Proxy => "Proxy-Authenticate",
        }
    }

    fn credentials(self, req: &Message) -> Option<sip_message::Result<Credentials<'_>>> {
        match self {
            Self::Www => req.authorization(),
            Self::Proxy => req.proxy_authorization(),
        }
    }

    /// Whether the credentials header of this kind names a scheme other than Digest (RFC 4475
    /// regaut01): such credentials are not ours to judge, so they get a fresh challenge.
    fn foreign_scheme(self, req: &Message) -> bool {
        let name = match self {
            Self::Www => HeaderName::Authorization,
            Self::Proxy => HeaderName::ProxyAuthorization,
        };
        req.header(&name).is_some_and(|v| {
            let scheme = v.trim_start().split([' ', '\t', ',']).next().unwrap_or("");
            !scheme.eq_ignore_ascii_case("Digest")
        })
    }
}

/// The credentials of one kind that a request carries, parsed once. The driver asks whom
/// they name ([`Self::username`]) and whether they deserve an account lookup
/// ([`Registrar::credentials_worth_judging`]), then hands the same value to
/// [`Registrar::authenticate`] or [`Registrar::handle_register`]: the header is parsed once
/// per request, not once per question.
#[derive(Debug)]
pub struct Presented<'m> {
    kind: AuthKind,
    creds: Option<sip_message::Result<Credentials<'m>>>,
}

impl<'m> Presented<'m> {
    /// The `Authorization` (`Www`) or `Proxy-Authorization` (`Proxy`) credentials of `req`.
    pub fn new(req: &'m Message, kind: AuthKind) -> Self {
        Self {
            kind,
            creds: kind.credentials(req),
        }
    }

    pub fn kind(&self) -> AuthKind {
        self.kind
    }

    /// The digest username, when the credentials parse.
    pub fn username(&self) -> Option<&str> {
        match &self.creds {
            Some(Ok(c)) => Some(&c.username),
            _ => None,
        }
    }
}

/// A request that did not authenticate, with the response that tells the peer so.
#[derive(Debug)]
#[must_use]
pub struct Rejection {
    pub response: Bytes,
    /// Why: a challenge (answer it statelessly), bad credentials (400) or forbidden (403).
    pub reason: AuthRejection,
}

impl Rejection {
    /// The status code of [`Self::response`].
    pub fn status(&self) -> u16 {
        self.reason.status()
    }
}

impl Registrar {
    /// The login whose account the driver must have at hand to judge this request: the digest
    /// username of the credentials of `kind`, when there are any.
    pub fn credentials_username(req: &Message, kind: AuthKind) -> Option<String> {
        Presented::new(req, kind).username().map(str::to_owned)
    }

    /// Whether the request's credentials of `kind` are worth the account they name: Digest,
    /// our realm, and a nonce we issued that is neither stale nor replayed (its HMAC checks
    /// out). Otherwise [`Self::authenticate`] answers a challenge whatever the account, so the
    /// driver need not look it up (nor read it from a database for an attacker's made-up
    /// username).
    pub fn credentials_worth_judging(&self, now: Instant, presented: &Presented<'_>) -> bool {
        let Some(Ok(creds)) = &presented.creds else {
            return false;
        };
        if !creds.is_digest() || creds.realm != self.cfg.realm {
            return false;
        }
        let qop_auth = creds
            .qop
            .as_deref()
            .is_some_and(|q| q.eq_ignore_ascii_case("auth"));
        let nc = creds.nc.filter(|_| qop_auth);
        self.nonces.verify(now, &creds.nonce, nc) == NonceCheck::Valid
    }

    /// Checks the request's credentials (`presented`, parsed from `req`) against `account`
    /// (the account named by the digest username, looked up by the driver; `None` if
    /// unknown). On success returns the account; otherwise the challenge (fresh or
    /// `stale=true`) or the 400/403 to send, with why.
    pub fn authenticate<'a>(
        &mut self,
        now: Instant,
        req: &Message,
        presented: &Presented<'_>,
        from: Peer,
        account: Option<&'a Account>,
    ) -> Result<&'a Account, Rejection> {
        let kind = presented.kind;
        let refuse = |reason: AuthRejection| Rejection {
            response: error::refusal(req, from, reason.status(), &reason),
            reason,
        };
        let bad = |problem| refuse(AuthRejection::BadCredentials { problem });
        let forbidden = |reason| refuse(AuthRejection::Forbidden { reason });
        let Some(creds) = &presented.creds else {
            return Err(self.challenge(now, req, from, kind, false));
        };
        let Ok(creds) = creds else {
            if kind.foreign_scheme(req) {
                return Err(self.challenge(now, req, from, kind, false));
            }
            return Err(bad(CredentialsProblem::Malformed));
        };
        if !creds.is_digest() || creds.realm != self.cfg.realm {
            return Err(self.challenge(now, req, from, kind, false));
        }
        // no `algorithm` parameter means MD5, which must have been offered like any other
        let alg = match creds
            .algorithm
            .as_deref()
            .map_or(Some(Algorithm::Md5), Algorithm::from_name)
        {
            Some(a) if self.cfg.algorithms.contains(&a) => a,
            _ => return Err(self.challenge(now, req, from, kind, false)),
        };
        let qop_auth = match creds.qop.as_deref() {
            None => false,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                if creds.nc.is_none() || creds.cnonce.is_none() {
                    return Err(bad(CredentialsProblem::QopWithoutCount));
                }
                true
            }
            Some(q) => {
                return Err(bad(CredentialsProblem::UnsupportedQop {
                    qop: q.to_owned(),
                }))
            }
        };
        let nc = creds.nc.filter(|_| qop_auth);
        // Judge the nonce now but record its count only once the response is proved right:
        // a wrong guess must not use up counts of the legitimate user.
        let judged = match self.nonces.judge_for_record(now, &creds.nonce, nc) {
            Ok(j) => j,
            Err(NonceCheck::Stale | NonceCheck::Replayed) => {
                return Err(self.challenge(now, req, from, kind, true))
            }
            Err(_) => return Err(self.challenge(now, req, from, kind, false)),
        };
        let Some(account) = account.filter(|a| a.login == creds.username) else {
            return Err(forbidden(ForbiddenReason::UnknownAccount {
                login: creds.username.to_string(),
            }));
        };
        let nc_hex = nc.map(|n| format!("{n:08x}"));
        let ha1 = account.ha1.get(alg);
        let method = req.method().map_or("", |m| m.as_str());
        let expected = digest::response(
            alg,
            ha1,
            &ResponseParams {
                method,
                uri: &creds.uri,
                nonce: &creds.nonce,
                qop_auth: match (&nc_hex, creds.cnonce.as_deref()) {
                    (Some(nc), Some(cn)) => Some((nc.as_str(), cn)),
                    _ => None,
                },
            },
        );
        if ha1.is_empty() || !digest::eq_hex(&expected, &creds.response) {
            return Err(forbidden(ForbiddenReason::WrongPassword {
                login: account.login.clone(),
            }));
        }
        self.nonces.record(judged);
        if !account.enabled {
            return Err(forbidden(ForbiddenReason::AccountDisabled {
                login: account.login.clone(),
            }));
        }
        Ok(account)
    }

    /// A fresh challenge of `kind`, one header per configured algorithm.
    pub fn challenge(
        &mut self,
        now: Instant,
        req: &Message,
        from: Peer,
        kind: AuthKind,
        stale: bool,
    ) -> Rejection {
        let nonce = self.nonces.issue(now);
        let reason = AuthRejection::Challenge { kind, stale };
        // the To tag names this shard: a challenge is answered where the request landed
        // (statelessly, for an INVITE, on whichever shard read it), and its ACK comes back there
        let (shard, shards) = self.shard;
        let tag = req.stable_tag_for(shard, shards);
        let mut b = error::reply_tagged(req, from, reason.status(), &tag);
        // Browser stacks (JsSIP 3.x) keep only the last challenge header of a response and give
        // up unless it is MD5: over WebSocket the order is reversed, so that MD5 (when
        // configured, and the only algorithm browsers' stacks do) comes last.
        let mut algorithms: Vec<_> = self.cfg.algorithms.iter().collect();
        if from.transport.is_websocket() {
            algorithms.reverse();
        }
        for alg in algorithms {
            b.header(
                kind.challenge_header(),
                format_args!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
                    self.cfg.realm,
                    alg.name(),
                    if stale { ", stale=true" } else { "" }
                ),
            );
        }
        b.header("Server", SERVER);
        Rejection {
            response: b.finish(),
            reason,
        }
    }
}
