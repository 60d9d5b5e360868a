//! The domain clients use: the host of `sip:{login}@{domain}` in relayed MESSAGEs, PIDF
//! entities, RLMI and MWI (and, when configured, in calls). `[registrar] domain` when set;
//! otherwise the host (and port) of the To URI clients name us with, the latest authenticated
//! REGISTER's, SUBSCRIBE's, PUBLISH's or MESSAGE's (not a trusted peer's), never the digest
//! realm: a client treats a From host it does not know as
//! another party, and resolves it to reply.

use std::fmt::Write as _;

use sip_message::Uri;

use super::Dispatcher;

/// The current domain and whether the operator fixed it.
#[derive(Debug, Default)]
pub(super) struct Domain {
    current: String,
    configured: bool,
    /// Where a REGISTER's host is written to be compared (no allocation per REGISTER).
    scratch: String,
}

impl Dispatcher {
    /// The domain at start: `configured`, or `fallback` (our first SIP address) until a
    /// client registers.
    pub(crate) fn with_domain(mut self, configured: Option<String>, fallback: String) -> Self {
        self.domain = Domain {
            configured: configured.is_some(),
            current: configured.unwrap_or(fallback),
            scratch: String::new(),
        };
        self.messaging.set_domain(&self.domain.current);
        self.presence.set_domain(&self.domain.current);
        self
    }

    /// After a successful REGISTER, or an authenticated SUBSCRIBE, PUBLISH or MESSAGE of a
    /// client: without a configured domain, the host of its To URI becomes the domain of
    /// relayed URIs.
    /// `to` is the request's To URI, as its handler parsed it.
    pub(super) fn learn_domain(&mut self, to: &Uri<'_>) {
        if self.domain.configured {
            return;
        }
        let host = &mut self.domain.scratch;
        host.clear();
        let _ = match to.port {
            Some(p) => write!(host, "{}:{p}", to.host),
            None => write!(host, "{}", to.host),
        };
        if host.is_empty() || *host == self.domain.current {
            return;
        }
        let host = host.clone();
        tracing::info!(domain = %host, "the domain of relayed URIs is the one clients register with");
        self.messaging.set_domain(&host);
        self.presence.set_domain(&host);
        self.domain.current = host;
    }
}
