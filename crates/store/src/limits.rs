//! Column length limits, in characters, as declared in `sql/mysql/` (`VARCHAR(n)`).
//!
//! SQLite would store longer text, but the store checks these on both backends so that an
//! account or binding accepted on one is accepted on the other. Callers at the edge (CLI,
//! registrar driver) can check them first to give their own message.

use crate::StoreError;

/// `clientsshared.login`, `aa_ue_instance.login`, `location.login`, `ring_groups.login` (and
/// each of its members), `presence_publications.login`, `sms_inbox.sender` and
/// `sms_inbox.recipient`, `contacts.owner` and `contacts.buddy`, `voicemail_boxes.login`.
pub const LOGIN: usize = 128;
/// `clientsshared.password`.
pub const PASSWORD: usize = 255;
/// `clientsshared.ha1` and `ha1b` (hex digests: 32 and 64 characters).
pub const HA1: usize = 64;
/// `clientsshared.ha1_realm`.
pub const REALM: usize = 255;
/// `clientsshared.display_name`.
pub const DISPLAY_NAME: usize = 255;
/// `aa_ue_instance.instance`, `location.instance` (the `+sip.instance` value).
pub const INSTANCE: usize = 255;
/// `push_device_token.token`.
pub const PUSH_TOKEN: usize = 1024;
/// `push_device_token.platform`.
pub const PUSH_PLATFORM: usize = 32;
/// `push_device_token.param`.
pub const PUSH_PARAM: usize = 255;
/// `location.binding_key`.
pub const BINDING_KEY: usize = 512;
/// `location.contact`.
pub const CONTACT: usize = 2048;
/// `location.call_id`, `cdr.call_id`, `sms_inbox.call_id`.
pub const CALL_ID: usize = 255;
/// `location.received`, `location.local_addr`, `gateways.address` (`ip:port`, IPv6 in brackets).
pub const ADDR: usize = 64;
/// `location.transport`, `gateways.transport`.
pub const TRANSPORT: usize = 8;
/// `location.node_id`, `cdr.node_id`, `presence_publications.node_id`.
pub const NODE_ID: usize = 64;
/// `location.path`.
pub const PATH: usize = 4096;
/// `location.user_agent`.
pub const USER_AGENT: usize = 255;
/// `clientsshared.tech_prefix`.
pub const TECH_PREFIX: usize = 255;
/// `clientsshared.voicemail_uri`.
pub const VOICEMAIL_URI: usize = 1024;
/// `dialing_plan.prefix`, `local_dialing_plan.prefix`.
pub const PREFIX: usize = 64;
/// `dialing_plan.action`.
pub const ACTION: usize = 1024;
/// `dialing_plan.description`.
pub const DESCRIPTION: usize = 255;
/// `gateways.name`, `cdr.gateway`.
pub const GATEWAY_NAME: usize = 64;
/// `gateways.caller_id`.
pub const CALLER_ID: usize = 128;
/// `ring_groups.members`: the members joined with `,`.
pub const MEMBERS: usize = 4096;
/// `local_dialing_plan.server`.
pub const SERVER: usize = 255;
/// `cdr.caller`, `cdr.callee`, `cdr.dialed`, `cdr.routed_number`.
pub const NUMBER: usize = 128;
/// `cdr.route`.
pub const ROUTE: usize = 255;
/// `cdr.hangup_by`.
pub const HANGUP_BY: usize = 16;
/// `presence_publications.etag` (the presence core issues 16 hex digits).
pub const ETAG: usize = 64;
/// `sms_inbox.content_type`.
pub const CONTENT_TYPE: usize = 255;
/// `presence_publications.body`, `sms_inbox.body`, in **bytes**. The columns (MEDIUMBLOB on
/// MySQL) would hold 16 MiB; 1 MiB keeps every statement well under the smallest default
/// `max_allowed_packet` (4 MiB on MySQL 5.7, 16 MiB on MariaDB, 64 MiB on MySQL 8); batches
/// of bodies are split so that no statement carries more than a few MiB. PIDF documents are at most 64 KiB (the presence core's limit) and MESSAGE bodies are
/// smaller still.
pub const BODY_BYTES: usize = 1024 * 1024;

/// `api_clients.client_id`.
pub const API_CLIENT_ID: usize = 64;
/// `api_clients.secret_hash` (a PHC string).
pub const API_SECRET_HASH: usize = 255;
/// `api_clients.scope`.
pub const API_SCOPE: usize = 1024;
/// `api_sessions.id`, `api_channels.id`.
pub const API_OBJECT_ID: usize = 64;
/// `api_sessions.endpoint`, `api_channels.kind`.
pub const API_KIND: usize = 16;
/// `api_channels.url`.
pub const API_URL: usize = 2048;

/// `Err(TooLong)` when `value` has more than `max` characters.
pub(crate) fn check(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    // Bytes bound characters from above: skip counting for the common short case.
    if value.len() <= max {
        return Ok(());
    }
    let len = value.chars().count();
    if len > max {
        return Err(StoreError::TooLong { field, max, len });
    }
    Ok(())
}

/// A new account's login: [`check_login`], and no space, control character, `<`, `>` or `"`
/// (voipswitch accepted them; SIP URIs built from them break, see [`StoreError::BadLogin`]).
pub(crate) fn check_new_login(login: &str) -> Result<(), StoreError> {
    check_login(login)?;
    let what = login.chars().find_map(|c| match c {
        ' ' => Some("a space"),
        c if c.is_whitespace() => Some("white space"),
        c if c.is_control() => Some("a control character"),
        '<' | '>' => Some("'<' or '>'"),
        '"' => Some("a double quote"),
        _ => None,
    });
    match what {
        Some(what) => Err(StoreError::BadLogin {
            login: login.to_owned(),
            what,
        }),
        None => Ok(()),
    }
}

/// A login must be non-empty and fit [`LOGIN`].
pub(crate) fn check_login(login: &str) -> Result<(), StoreError> {
    if login.is_empty() {
        return Err(StoreError::EmptyLogin);
    }
    check("login", login, LOGIN)
}

/// `Err(TooLarge)` when `value` has more than `max` bytes.
pub(crate) fn check_bytes(field: &'static str, value: &[u8], max: usize) -> Result<(), StoreError> {
    if value.len() > max {
        return Err(StoreError::TooLarge {
            field,
            max,
            len: value.len(),
        });
    }
    Ok(())
}

/// A value that must not be empty and must fit `max` characters.
pub(crate) fn check_non_empty(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::Empty { field });
    }
    check(field, value, max)
}

pub(crate) fn check_opt(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), StoreError> {
    value.map_or(Ok(()), |v| check(field, v, max))
}

/// `value` cut to at most `max` characters (on a character boundary), for values that come from
/// the network and must not make a whole batch fail (CDR fields).
pub(crate) fn truncate(value: &mut String, max: usize) {
    if value.len() <= max {
        return;
    }
    if let Some((at, _)) = value.char_indices().nth(max) {
        value.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WCS trap: logins phones cannot put in a SIP URI are refused with the reason.
    #[test]
    fn new_logins_with_spaces_or_angle_brackets_are_refused() {
        assert!(check_new_login("4930555001").is_ok());
        assert!(check_new_login("alice.smith-2").is_ok());
        for (bad, what) in [
            ("john smith", "a space"),
            ("<bob>", "'<' or '>'"),
            ("tab\tbed", "white space"),
            ("q\"uote", "a double quote"),
        ] {
            match check_new_login(bad) {
                Err(StoreError::BadLogin { what: w, .. }) => assert_eq!(w, what, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let e = check_new_login("a b").unwrap_err().to_string();
        assert!(e.contains("cannot register or call"), "{e}");
    }
}
