//! The rules of `[[trunk]]` (TOML) / `<trunk>` (XML) entries, shared by both formats: a
//! gateway name once, credentials whole, CA file paths resolved against the config file's
//! directory. Errors name the entry's line through its [`Origin`].

use std::path::Path;

use crate::model::Trunk;
use crate::origin::Origin;
use crate::ConfigError;

fn fail(path: &Path, origin: &Origin, field: &str, message: String) -> ConfigError {
    let (line, key) = match origin {
        Origin::File { line, key } => (*line, format!("{key}.{field}")),
        _ => (1, format!("trunk.{field}")),
    };
    ConfigError::invalid(path, line, key, message)
}

pub(crate) fn check(trunks: &mut [Trunk], path: &Path, base: &Path) -> Result<(), ConfigError> {
    for i in 0..trunks.len() {
        let t = &trunks[i];
        let ok_name = !t.gateway.is_empty()
            && t.gateway.len() <= 64
            && t.gateway
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok_name {
            return Err(fail(
                path,
                &t.origin,
                "gateway",
                format!(
                    "{:?} is not a gateway name (1 to 64 letters, digits, '.', '_' or '-', as in \
                     `ferroswitch gateway add NAME`)",
                    t.gateway
                ),
            ));
        }
        if let Some(first) = trunks[..i].iter().find(|o| o.gateway == t.gateway) {
            let at = match &first.origin {
                Origin::File { line, .. } => format!(" (first at line {line})"),
                _ => String::new(),
            };
            return Err(fail(
                path,
                &t.origin,
                "gateway",
                format!("gateway {:?} has a second trunk entry{at}", t.gateway),
            ));
        }
        if t.username.is_empty() != t.password.is_empty() {
            return Err(fail(
                path,
                &t.origin,
                if t.username.is_empty() {
                    "username"
                } else {
                    "password"
                },
                "give both username and password (or neither, for a gateway that does not \
                 challenge)"
                    .into(),
            ));
        }
        for (field, value) in [("username", &t.username), ("password", &t.password)] {
            if value.chars().any(char::is_control) || value.contains('"') {
                return Err(fail(
                    path,
                    &t.origin,
                    field,
                    "may not contain '\"' or control characters".into(),
                ));
            }
        }
        let t = &mut trunks[i];
        if let Some(ca) = &t.tls_ca_file {
            t.tls_ca_file = Some(crate::validate::resolve(base, ca));
        }
    }
    Ok(())
}
