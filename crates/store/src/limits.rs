//! Column length limits, in characters, as declared in `sql/mysql/` (`VARCHAR(n)`).
//!
//! SQLite would store longer text, but the store checks these on both backends so that an
//! account or binding accepted on one is accepted on the other. Callers at the edge (CLI,
//! registrar driver) can check them first to give their own message.

use crate::StoreError;

/// `clientsshared.login`, `aa_ue_instance.login`, `location.login`.
pub const LOGIN: usize = 128;
/// `clientsshared.password`.
pub const PASSWORD: usize = 255;
/// `clientsshared.display_name`.
pub const DISPLAY_NAME: usize = 255;
/// `aa_ue_instance.instance`, `location.instance` (the `+sip.instance` value).
pub const INSTANCE: usize = 255;
/// `location.binding_key`.
pub const BINDING_KEY: usize = 512;
/// `location.contact`.
pub const CONTACT: usize = 2048;
/// `location.call_id`.
pub const CALL_ID: usize = 255;
/// `location.received`, `location.local_addr` (`ip:port`, IPv6 in brackets).
pub const ADDR: usize = 64;
/// `location.transport`.
pub const TRANSPORT: usize = 8;
/// `location.node_id`.
pub const NODE_ID: usize = 64;
/// `location.path`.
pub const PATH: usize = 4096;
/// `location.user_agent`.
pub const USER_AGENT: usize = 255;

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

/// A login must be non-empty and fit [`LOGIN`].
pub(crate) fn check_login(login: &str) -> Result<(), StoreError> {
    if login.is_empty() {
        return Err(StoreError::EmptyLogin);
    }
    check("login", login, LOGIN)
}

pub(crate) fn check_opt(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), StoreError> {
    value.map_or(Ok(()), |v| check(field, v, max))
}
