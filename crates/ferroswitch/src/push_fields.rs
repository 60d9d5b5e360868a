//! What the fields of a push token must look like when the app (admin API, `POST
//! /api/push-tokens`) or the operator (`ferroswitch push add`) gives them. Both edges check
//! here, so a token accepted by one is accepted by the other, and each says which field is
//! wrong before anything reaches the database.
//!
//! The store checks the column lengths again; these checks add the form: an instance is a
//! `+sip.instance` value as the registrar stores it (`<urn:...>`), a platform a lowercase
//! RFC 8599 `pn-provider`-like name, a token and a param free of control characters.

use std::fmt;

/// A field that is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// The field's name as the API's JSON and the CLI's help call it.
    pub(crate) field: &'static str,
    pub(crate) reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

fn bad(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field,
        reason: reason.into(),
    }
}

/// Not empty and at most `max` characters.
fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    let len = value.chars().count();
    if len > max {
        return Err(bad(
            field,
            format!("is {len} characters long, at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// The device's `+sip.instance` in the form the registrar stores it: `<urn:...>`. A bare
/// `urn:...` is accepted and given its angle brackets, so that it names the same device as
/// the app's REGISTER.
pub(crate) fn instance(value: &str) -> Result<String, FieldError> {
    const FIELD: &str = "instance";
    let value = if value.starts_with("urn:") {
        format!("<{value}>")
    } else {
        value.to_owned()
    };
    check_len(FIELD, &value, store::limits::INSTANCE)?;
    let inner = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .filter(|v| {
            v.len() > 4
                && v[..4].eq_ignore_ascii_case("urn:")
                && v.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"<>\"".contains(&b))
        });
    if inner.is_none() {
        return Err(bad(
            FIELD,
            "must be the device's +sip.instance, a URN in angle brackets \
             (<urn:uuid:00000000-0000-1000-8000-000A95A0E128>)",
        ));
    }
    Ok(value)
}

/// The token the push platform gave the app (APNs device token, FCM registration token):
/// printable ASCII without spaces.
pub(crate) fn token(value: &str) -> Result<(), FieldError> {
    const FIELD: &str = "token";
    check_len(FIELD, value, store::limits::PUSH_TOKEN)?;
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            FIELD,
            "must be printable ASCII without spaces (the token as the push platform gave it)",
        ));
    }
    Ok(())
}

/// The push platform (`apns`, `apns-voip`, `fcm`, ...), returned in lowercase like the
/// registrar keeps an RFC 8599 `pn-provider`.
pub(crate) fn platform(value: &str) -> Result<String, FieldError> {
    const FIELD: &str = "platform";
    check_len(FIELD, value, store::limits::PUSH_PLATFORM)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(bad(
            FIELD,
            "must be letters, digits, `-`, `_` or `.` (apns, apns-voip, fcm)",
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// The RFC 8599 `pn-param` (e.g. the APNs topic); may be empty.
pub(crate) fn param(value: &str) -> Result<(), FieldError> {
    const FIELD: &str = "param";
    if value.is_empty() {
        return Ok(());
    }
    check_len(FIELD, value, store::limits::PUSH_PARAM)?;
    if value.chars().any(char::is_control) {
        return Err(bad(FIELD, "must not contain control characters"));
    }
    Ok(())
}

/// A token shortened for logs and listings: its first `n` characters and `…` (the whole
/// token when it is that short). A token is a credential of the app: never show it whole.
pub(crate) fn shortened(token: &str, n: usize) -> String {
    match token.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &token[..i]),
        None => token.to_owned(),
    }
}

/// Now in epoch seconds: the `updated_at` of a token set or removed now.
pub(crate) fn unix_secs() -> i64 {
    i64::try_from(crate::clock::unix_ms() / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances() {
        let uuid = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
        assert_eq!(instance(uuid).unwrap(), uuid);
        assert_eq!(
            instance("urn:uuid:00000000-0000-1000-8000-000A95A0E128").unwrap(),
            uuid,
            "a bare URN gets its angle brackets"
        );
        assert_eq!(
            instance("<URN:gsma:imei:35209900-176148-1>").unwrap(),
            "<URN:gsma:imei:35209900-176148-1>"
        );
        assert_eq!(instance("").unwrap_err().reason, "must not be empty");
        for bad in [
            "uuid-1",
            "<>",
            "<urn:>",
            "<http://x>",
            "<urn:a b>",
            "<urn:a>b>",
            "<urn:a",
        ] {
            let e = instance(bad).unwrap_err();
            assert_eq!(e.field, "instance", "{bad}");
            assert!(e.reason.contains("angle brackets"), "{bad}: {e}");
        }
        let long = format!("<urn:{}>", "a".repeat(251));
        assert_eq!(
            instance(&long).unwrap_err().to_string(),
            "instance is 257 characters long, at most 255 are allowed"
        );
    }

    #[test]
    fn tokens_platforms_params() {
        token("7c1f0a:APA91b-_x/y+z=").unwrap();
        assert_eq!(
            token("").unwrap_err().to_string(),
            "token must not be empty"
        );
        assert!(token("ab cd")
            .unwrap_err()
            .reason
            .contains("printable ASCII"));
        assert!(token("é").is_err());
        assert!(token(&"a".repeat(1025))
            .unwrap_err()
            .reason
            .contains("1025"));
        token(&"a".repeat(1024)).unwrap();

        assert_eq!(platform("APNS-VoIP").unwrap(), "apns-voip");
        assert_eq!(platform("fcm").unwrap(), "fcm");
        assert!(platform("").is_err());
        assert!(platform("apns voip")
            .unwrap_err()
            .reason
            .contains("letters"));
        assert!(platform(&"a".repeat(33)).is_err());

        param("").unwrap();
        param("ABCD1234.com.example.app.voip").unwrap();
        assert!(param("a\nb").is_err());
        assert!(param(&"p".repeat(256)).is_err());
    }

    #[test]
    fn shortening() {
        assert_eq!(shortened("0123456789abcdefXYZ", 12), "0123456789ab…");
        assert_eq!(shortened("0123456789ab", 12), "0123456789ab");
        assert_eq!(shortened("ąęółśżźćń", 3), "ąęó…");
    }
}
