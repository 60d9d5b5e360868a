//! The Request-URI of a call sent to voicemail (the built-in service or an outside server):
//! whose mailbox and why (RFC 4458 `target` and `cause` URI parameters), and the `msgN` suffix
//! of `950msgN` kept; and the numbers of the built-in voicemail service (`950`, `950msgN`,
//! `750` behind an access prefix).

use crate::route::{Decision, Routed};
use crate::{Caller, Directory};

/// The user part the built-in voicemail service reads from `number` (after the caller's
/// tech-prefix rule): `950`, `950msgN` or `750` behind one of `prefixes` (`""`: none), e.g.
/// `onnet950msg230` → `950msg230`. Anything else (`9501`, `750x`) is not one.
pub fn access_number<'a>(number: &'a str, prefixes: &[String]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| {
        let rest = number.strip_prefix(p.as_str())?;
        let ok = rest == "950"
            || rest == "750"
            || rest.strip_prefix("950msg").is_some_and(|n| {
                !n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit())
            });
        ok.then_some(rest)
    })
}

/// A call to the built-in voicemail's numbers, when the directory has the service and the
/// caller is an authenticated account (a trusted peer's From could name anyone, and the
/// service takes the B-leg From, which the B2BUA sets to the authenticated login, as the
/// owner).
pub(crate) fn builtin_route(caller: &Caller, number: &str, dir: &dyn Directory) -> Option<Routed> {
    if caller.trusted {
        return None;
    }
    let (uri, peer) = dir.voicemail_number(number)?;
    Some(Routed {
        decision: Decision::Service {
            uri: uri.clone(),
            peer,
        },
        callee: uri,
        routed: number.to_owned(),
        route: "service",
    })
}

/// RFC 4458 §3.2 `cause` for the final answer of the callee's branches: busy (486, and a
/// decline, 600/603, which voipswitch treats as busy), no reply (408: the no-answer timer, a
/// CANCEL we sent), not reachable (503: push wake-up timed out), else unavailable (480).
pub(crate) fn cause_of(code: u16) -> u16 {
    match code {
        486 | 600 | 603 => 486,
        408 | 487 => 408,
        503 => 503,
        _ => 480,
    }
}

/// Appends `;cause=N` (replacing none: a URI from the account has no cause of its own).
pub(crate) fn with_cause(uri: &str, cause: u16) -> String {
    if uri.contains(";cause=") {
        return uri.to_owned();
    }
    insert_param(uri, &format!(";cause={cause}"))
}

/// Appends `;target=sip:LOGIN%40HOST` (RFC 4458: the original target, `@` escaped), unless the
/// URI already has a target.
pub fn with_target(uri: &str, login: &str, host: &str) -> String {
    if uri.contains(";target=") {
        return uri.to_owned();
    }
    insert_param(uri, &format!(";target=sip:{login}%40{host}"))
}

/// The URI with `suffix` appended to its user part: `sip:950@vm` + `msg230` is
/// `sip:950msg230@vm`; a URI without a user part gets `suffix` as its user.
pub(crate) fn with_user_suffix(uri: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        return uri.to_owned();
    }
    let Some(colon) = uri.find(':') else {
        return uri.to_owned();
    };
    match uri.find('@') {
        Some(at) => format!("{}{suffix}{}", &uri[..at], &uri[at..]),
        None => format!("{}{suffix}@{}", &uri[..=colon], &uri[colon + 1..]),
    }
}

/// URI parameters go before any `?headers`.
fn insert_param(uri: &str, param: &str) -> String {
    match uri.find('?') {
        Some(q) => format!("{}{param}{}", &uri[..q], &uri[q..]),
        None => format!("{uri}{param}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_numbers() {
        let p = ["".to_owned(), "onnet".to_owned()];
        assert_eq!(access_number("onnet950msg230", &p), Some("950msg230"));
        assert_eq!(access_number("onnet750", &p), Some("750"));
        assert_eq!(access_number("950", &p), Some("950"));
        assert_eq!(access_number("onnet950", &p), Some("950"));
        for no in [
            "9501",
            "750x",
            "onnet950msg",
            "onnet950msgx",
            "int950",
            "onnet",
            "",
        ] {
            assert_eq!(access_number(no, &p), None, "{no}");
        }
        assert_eq!(access_number("950", &["onnet".to_owned()]), None);
    }

    #[test]
    fn rfc_4458_parameters_and_the_message_suffix() {
        assert_eq!(
            with_cause(
                &with_target("sip:vm@10.0.0.5:5080", "alice", "example.com"),
                cause_of(603)
            ),
            "sip:vm@10.0.0.5:5080;target=sip:alice%40example.com;cause=486"
        );
        assert_eq!(
            with_cause("sip:vm@h?X=1", cause_of(487)),
            "sip:vm@h;cause=408?X=1"
        );
        assert_eq!(with_cause("sip:vm@h;cause=302", 486), "sip:vm@h;cause=302");
        assert_eq!(
            with_target("sip:vm@h;target=x", "a", "b"),
            "sip:vm@h;target=x"
        );
        assert_eq!(cause_of(480), 480);
        assert_eq!(cause_of(503), 503);
        assert_eq!(
            with_user_suffix("sip:950@10.0.0.5:5080", "msg230"),
            "sip:950msg230@10.0.0.5:5080"
        );
        assert_eq!(
            with_user_suffix("sip:10.0.0.5", "msg1"),
            "sip:msg1@10.0.0.5"
        );
        assert_eq!(with_user_suffix("sip:950@h", ""), "sip:950@h");
    }
}
