//! The Request-URI of a call sent to voicemail (the built-in service or an outside server):
//! whose mailbox and why (RFC 4458 `target` and `cause` URI parameters), and the `msgN` suffix
//! of `950msgN` kept.

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
