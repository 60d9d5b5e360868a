//! The dispatcher's edge against floods (issue 12 item 2): every request is counted per
//! source IP before it is parsed or reaches the transaction layer ([`crate::flood`]), a source
//! over `[security] source_rate` is dropped for `source_ban` and logged once per ban; an
//! out-of-dialog INVITE without credentials is challenged statelessly, before any transaction
//! exists (no 100 Trying, no 407 retransmitted to an address that may be spoofed); and what
//! authenticated is told to the transports and the limiter (trusted connections, registered
//! addresses).
//!
//! The ban line is a stable interface like the auth failure line (`guard.rs`):
//! `WARN ferroswitch::security: source flooding, dropped source=<ip> rate=<n> ban_secs=<s>`.

use super::*;
use crate::conn_limits::{REGISTERED, TRUSTED};
use crate::flood::{SourceLimiter, Verdict};
use sip_message::HeaderName;

impl Dispatcher {
    /// The `[security]` settings in force: flood limits and connection limits.
    pub(crate) fn with_security(mut self, s: &ferroswitch_config::SecuritySettings) -> Self {
        self.set_security(s.into(), s.into());
        self
    }

    pub(super) fn set_security(
        &mut self,
        flood: crate::flood::Limits,
        streams: crate::conn_limits::StreamLimits,
    ) {
        self.flood.set_limits(flood);
        self.set_flood_exempt();
        self.transports.set_stream_limits(streams);
    }

    /// The sources the flood limit never counts: trusted peers and, with `[cluster]`, the other
    /// nodes' internal addresses (one node relays the requests of all its phones to another:
    /// their sum is no flood).
    pub(super) fn set_flood_exempt(&mut self) {
        let mut exempt = self.trusted.clone();
        if let Some(node) = &self.cluster {
            exempt.extend(node.nodes.iter().map(|a| a.ip()));
        }
        self.flood.set_exempt(exempt);
    }

    /// Whether a datagram from `ip` goes on (responses always do: they only match our own
    /// transactions). Called before parsing.
    pub(super) fn datagram_admitted(&mut self, now: Instant, data: &[u8], ip: IpAddr) -> bool {
        data.starts_with(b"SIP/2.0 ") || self.source_admitted(now, ip)
    }

    /// Counts a request from `ip`; `false`: drop it.
    pub(super) fn source_admitted(&mut self, now: Instant, ip: IpAddr) -> bool {
        match self.flood.check(now, ip) {
            Verdict::Pass => true,
            Verdict::Drop => {
                crate::metrics::limits::flood_dropped();
                false
            }
            Verdict::Banned { until } => {
                let ban_secs = until.duration_since(now).as_secs();
                let rate = self.flood.limits().rate;
                tracing::warn!(target: "ferroswitch::security", source = %ip, rate, ban_secs, "source flooding, dropped");
                crate::metrics::limits::flood_banned();
                crate::metrics::limits::flood_dropped();
                false
            }
        }
    }

    /// Answers an out-of-dialog INVITE that carries no credentials with a challenge, outside
    /// any transaction (Kamailio's `auth_challenge` before `t_newtran`); `true` if it did. A
    /// retransmission gets a fresh challenge; the ACK to the 407 matches nothing and is
    /// dropped. Trusted peers, requests the guard refuses (420) and a draining server go the
    /// stateful way.
    pub(super) fn challenged_statelessly(
        &mut self,
        now: Instant,
        msg: &Message,
        from: &Peer,
    ) -> bool {
        if self.challengeable(msg, from) != Some(AuthKind::Proxy) {
            return false;
        }
        self.challenge_statelessly(now, msg, from, AuthKind::Proxy);
        true
    }

    /// The challenge `msg` gets whatever else it carries: an out-of-dialog INVITE without
    /// `Proxy-Authorization` from a peer that is not trusted (above), or a REGISTER without
    /// `Authorization` (which `Dispatcher::register` challenges first thing, statelessly too:
    /// `respond_and_forget`); `None` for anything else, and while draining (503) or for a
    /// `Require` we lack (420).
    pub(super) fn challengeable(&self, msg: &Message, from: &Peer) -> Option<AuthKind> {
        let kind = match msg.method() {
            Some(Method::Invite)
                if msg.header(&HeaderName::ProxyAuthorization).is_none()
                    && !self.trusted_source(from) =>
            {
                AuthKind::Proxy
            }
            Some(Method::Register) if msg.header(&HeaderName::Authorization).is_none() => {
                AuthKind::Www
            }
            _ => return None,
        };
        (msg.to_tag().is_none() && !self.draining && guard::unsupported_options(msg).is_empty())
            .then_some(kind)
    }

    /// Sends `msg` a fresh challenge of `kind`, keeping nothing.
    pub(super) fn challenge_statelessly(
        &mut self,
        now: Instant,
        msg: &Message,
        from: &Peer,
        kind: AuthKind,
    ) {
        let r = self.registrar.challenge(now, msg, *from, kind, false);
        // the lines the owner's way logs (`Dispatcher::register`'s, for a REGISTER)
        match kind {
            AuthKind::Proxy => {
                tracing::debug!(status = r.status(), peer = %from, "INVITE challenged statelessly");
            }
            AuthKind::Www => {
                let login: Option<String> = None;
                tracing::debug!(status = r.status(), login = ?login, peer = %from, "REGISTER refused");
            }
        }
        self.transports.send(from, &r.response);
    }

    /// A REGISTER over `from` succeeded: its connection is trusted and carries a registration;
    /// its address may send more ([`crate::flood::REGISTERED_WEIGHT`]) while a binding lives.
    pub(super) fn registration_seen(
        &mut self,
        now: Instant,
        from: &Peer,
        changes: &[registrar::BindingChange],
    ) {
        self.transports.mark(from.conn, TRUSTED | REGISTERED);
        let longest = changes
            .iter()
            .filter_map(|c| match c {
                registrar::BindingChange::Upsert { binding, .. } => Some(binding.expires_at),
                _ => None,
            })
            .max();
        if let Some(until) = longest {
            let ip = from.remote.ip();
            if self.flood.registered(now, ip, until) {
                // the kernel may hand this address's datagrams to another shard's socket
                if let Some(s) = &self.siblings {
                    s.tell_others(|| Input::SourceRegistered { ip, until });
                }
            }
        }
    }

    /// A request over `from` authenticated (or came from a trusted peer): its connection is
    /// trusted.
    pub(super) fn authenticated_over(&self, from: &Peer) {
        if from.conn.is_some() {
            self.transports.mark(from.conn, TRUSTED);
        }
    }
}

/// A fresh limiter with the default settings (replaced by [`Dispatcher::with_security`]).
pub(super) fn default_limiter() -> SourceLimiter {
    SourceLimiter::new((&ferroswitch_config::SecuritySettings::default()).into())
}
