//! The dispatcher's guards: sources throttled for password guessing are dropped before the
//! transaction layer sees their requests ([`crate::security::AuthThrottle`]); failed
//! authentications are logged, counted and fed to that throttle; and a new (out-of-dialog)
//! request must require only option tags we implement (RFC 3261 §8.2.2.3; in-dialog requests
//! are the dialog's business: the B2BUA relays `Require` end to end).
//!
//! The failure log line is a stable interface (fail2ban reads it, `etc/fail2ban/`):
//! `WARN ferroswitch::security: auth failed source=<ip> login="<login>" method=<METHOD>
//! reason=<wrong_password|unknown_account|account_disabled|bad_credentials>`.

use super::*;
use crate::security::{Failure, Limits};
use registrar::ForbiddenReason;
use sip_message::HeaderName;

/// The option tags this server implements, as `Supported` lists them (an OPTIONS answer):
/// `path` (RFC 3327) and `outbound` (RFC 5626) by the registrar, `eventlist` (RFC 4662) by
/// presence, `replaces` (RFC 3891) by the B2BUA, which picks a parked call up with an INVITE
/// carrying `Replaces` (a woken phone sends `Require: replaces` with it, as RFC 3891 §6.1
/// says it should), `100rel` (RFC 3262) and `timer` (RFC 4028) by the B2BUA, per leg
/// (`b2bua/src/call/prack.rs`, `session_timer.rs`), `recipient-list-subscribe` (RFC 5367, a
/// SUBSCRIBE naming its list's resources in the body, as linphone sends it) by presence.
/// Notably not `gruu`.
pub(super) const SUPPORTED: &str =
    "path, outbound, eventlist, replaces, 100rel, timer, recipient-list-subscribe";

/// Option tags that only one method implements (`Require` of another method gets 420).
const METHOD_OPTIONS: &[(&str, Method)] = &[("recipient-list-subscribe", Method::Subscribe)];

/// The option tags of `Require` that are not in [`SUPPORTED`], in order, without repeats.
pub(super) fn unsupported_options(msg: &Message) -> Vec<&str> {
    let mut bad: Vec<&str> = Vec::new();
    for tag in msg.header_list(&HeaderName::Require) {
        let known = SUPPORTED.split(", ").any(|s| s.eq_ignore_ascii_case(tag))
            && METHOD_OPTIONS
                .iter()
                .all(|(t, m)| !t.eq_ignore_ascii_case(tag) || msg.method() == Some(m));
        if !known && !tag.is_empty() && !bad.iter().any(|b| b.eq_ignore_ascii_case(tag)) {
            bad.push(tag);
        }
    }
    bad
}

impl Dispatcher {
    /// When sources are throttled for failed authentications (`[security]`).
    pub(crate) fn with_auth_limits(mut self, limits: Limits) -> Self {
        self.auth_throttle.set_limits(limits);
        self
    }

    /// Whether an inbound message goes on to the transaction layer: requests of a throttled
    /// source are dropped unanswered (responses to our own requests always pass).
    pub(super) fn admits(&mut self, now: Instant, msg: &Message, from: &Peer) -> bool {
        if !msg.is_request() || self.auth_throttle.admits(now, from.remote.ip()) {
            return true;
        }
        let method = msg.method().map_or("?", |m| m.as_str());
        tracing::debug!(target: "ferroswitch::security", source = %from.remote.ip(), method, "request of a throttled source dropped");
        crate::metrics::auth_dropped();
        false
    }

    /// A request was refused for its credentials (`rejection`): a judged failure (403, or 400
    /// for credentials that do not parse) is logged at WARN, counted and fed to the throttle.
    /// Challenges are not failures: a device answers them (a stale nonce, a nonce of an
    /// earlier process, the first request without credentials).
    pub(super) fn auth_failed(
        &mut self,
        now: Instant,
        msg: &Message,
        from: &Peer,
        rejection: &AuthRejection,
    ) {
        let (login, reason) = match rejection {
            AuthRejection::Forbidden { reason } => match reason {
                ForbiddenReason::WrongPassword { login } => (login.as_str(), "wrong_password"),
                ForbiddenReason::UnknownAccount { login } => (login.as_str(), "unknown_account"),
                ForbiddenReason::AccountDisabled { login } => (login.as_str(), "account_disabled"),
                _ => ("", "forbidden"),
            },
            AuthRejection::BadCredentials { .. } => ("", "bad_credentials"),
            _ => return,
        };
        let method = msg.method().map_or("?", |m| m.as_str());
        let source = from.remote.ip();
        // the login is the peer's text: quoted and escaped (`?`), and after `source`, so no
        // login can forge the address a log reader bans
        tracing::warn!(target: "ferroswitch::security", %source, login = ?login, %method, %reason, "auth failed");
        crate::metrics::auth_failed(method);
        if let Failure::Throttled { until } = self.auth_throttle.failed(now, source) {
            let ban_secs = until.duration_since(now).as_secs();
            tracing::warn!(target: "ferroswitch::security", %source, ban_secs, "auth throttled");
            // the kernel may give the source's next datagrams to another shard's socket, and a
            // request without credentials is challenged where it lands: every shard drops it
            if let Some(s) = &self.siblings {
                s.tell_others(|| Input::SourceThrottled { ip: source, until });
            }
        }
    }

    /// Answers 420 Bad Extension with `Unsupported` when a request requires option tags this
    /// server does not implement; `true` if it did.
    pub(super) fn refuse_bad_extension(
        &mut self,
        now: Instant,
        key: &ServerKey,
        msg: &Message,
        from: Peer,
    ) -> bool {
        let bad = unsupported_options(msg);
        if bad.is_empty() {
            return false;
        }
        let method = msg.method().map_or("?", |m| m.as_str());
        tracing::debug!(peer = %from, method, unsupported = %bad.join(", "), "420 Bad Extension");
        let mut b =
            MessageBuilder::response_to(msg, 420, Some(&self.answer_tag(msg)), Some(from.remote));
        b.header("Unsupported", bad.join(", ")).server();
        self.respond(now, key, b.finish());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(require: &str) -> Message {
        req_of("OPTIONS", require)
    }

    fn req_of(method: &str, require: &str) -> Message {
        let text = format!(
            "{method} sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{require}Content-Length: 0\r\n\r\n"
        );
        Message::parse(bytes::Bytes::from(text)).unwrap()
    }

    #[test]
    fn unknown_options_are_listed_known_ones_pass() {
        assert!(unsupported_options(&req("")).is_empty());
        assert!(unsupported_options(&req("Require: outbound, PATH\r\n")).is_empty());
        assert!(unsupported_options(&req("Require: eventlist\r\n")).is_empty());
        // the pick-up of a parked call (push wake-up)
        assert!(unsupported_options(&req("Require: replaces\r\n")).is_empty());
        // reliable provisionals and session timers (carriers, IMS clients)
        assert!(unsupported_options(&req("Require: 100rel, timer\r\n")).is_empty());
        // RFC 5367 is a SUBSCRIBE's business only
        assert_eq!(
            unsupported_options(&req("Require: recipient-list-subscribe\r\n")),
            ["recipient-list-subscribe"]
        );
        assert!(unsupported_options(&req_of(
            "SUBSCRIBE",
            "Require: recipient-list-subscribe\r\n"
        ))
        .is_empty());
        // RFC 4475 bext01
        assert_eq!(
            unsupported_options(&req(
                "Require: nothingSupportsThis, nothingSupportsThisEither\r\n"
            )),
            ["nothingSupportsThis", "nothingSupportsThisEither"]
        );
        assert_eq!(
            unsupported_options(&req("Require: gruu, path\r\nRequire: foo, gruu\r\n")),
            ["gruu", "foo"]
        );
    }
}
