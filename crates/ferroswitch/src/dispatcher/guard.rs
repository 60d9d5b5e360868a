//! Checks a new (out-of-dialog) request passes before anything else looks at it: the option
//! tags it requires (RFC 3261 §8.2.2.3). In-dialog requests are the dialog's business (the
//! B2BUA relays `Require` end to end).

use super::*;
use sip_message::HeaderName;

/// The option tags this server implements, as `Supported` lists them (an OPTIONS answer):
/// `path` (RFC 3327) and `outbound` (RFC 5626) by the registrar, `eventlist` (RFC 4662) by
/// presence. Notably not `100rel`, `timer`, `gruu` or `replaces`.
pub(super) const SUPPORTED: &str = "path, outbound, eventlist";

/// The option tags of `Require` that are not in [`SUPPORTED`], in order, without repeats.
pub(super) fn unsupported_options(msg: &Message) -> Vec<&str> {
    let mut bad: Vec<&str> = Vec::new();
    for tag in msg.header_list(&HeaderName::Require) {
        let known = SUPPORTED.split(", ").any(|s| s.eq_ignore_ascii_case(tag));
        if !known && !tag.is_empty() && !bad.iter().any(|b| b.eq_ignore_ascii_case(tag)) {
            bad.push(tag);
        }
    }
    bad
}

impl Dispatcher {
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
            MessageBuilder::response_to(msg, 420, Some(&msg.stable_tag()), Some(from.remote));
        b.header("Unsupported", bad.join(", "))
            .header("Server", SERVER);
        self.respond(now, key, b.finish());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(require: &str) -> Message {
        let text = format!(
            "OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{require}Content-Length: 0\r\n\r\n"
        );
        Message::parse(bytes::Bytes::from(text)).unwrap()
    }

    #[test]
    fn unknown_options_are_listed_known_ones_pass() {
        assert!(unsupported_options(&req("")).is_empty());
        assert!(unsupported_options(&req("Require: outbound, PATH\r\n")).is_empty());
        assert!(unsupported_options(&req("Require: eventlist\r\n")).is_empty());
        // RFC 4475 bext01
        assert_eq!(
            unsupported_options(&req(
                "Require: nothingSupportsThis, nothingSupportsThisEither\r\n"
            )),
            ["nothingSupportsThis", "nothingSupportsThisEither"]
        );
        assert_eq!(
            unsupported_options(&req("Require: 100rel, path\r\nRequire: foo, 100rel\r\n")),
            ["100rel", "foo"]
        );
    }
}
