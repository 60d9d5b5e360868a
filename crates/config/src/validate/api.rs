//! The rules of the `[api]` section.

use std::time::Duration;

use super::{Check, Field};
use crate::api::{ApiKey, ApiSettings};
use crate::ConfigError;

impl Check<'_> {
    pub(super) fn api(&self, api: &ApiSettings) -> Result<(), ConfigError> {
        let ip = api.listen.ip();
        if !ip.is_loopback() {
            return Err(self.fail(
                &[Field::ApiListen],
                format!(
                    "{ip} is not a loopback address: the API serves plain HTTP, publish it over \
                     HTTPS through a reverse proxy (docs/api.md) and bind it to 127.0.0.1 or [::1]"
                ),
            ));
        }
        for (field, key) in [
            (Field::ApiJwtKey, Some(&api.jwt_key)),
            (Field::ApiJwtPreviousKey, api.jwt_previous_key.as_ref()),
        ] {
            if let Some(k) = key {
                let k = k.expose();
                if k.len() < ApiKey::MIN_LEN || !k.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(self.fail(
                        &[field],
                        format!(
                            "a token key must be at least {} visible ASCII characters without \
                             spaces (e.g. the output of `openssl rand -hex 32`)",
                            ApiKey::MIN_LEN
                        ),
                    ));
                }
            }
        }
        if api.jwt_previous_key.as_ref() == Some(&api.jwt_key) {
            return Err(self.fail(
                &[Field::ApiJwtPreviousKey],
                "must differ from jwt_key (it is the key before the rotation)",
            ));
        }
        if let Some(u) = &api.public_url {
            let ok = (u.starts_with("https://") || u.starts_with("http://"))
                && !u.contains(char::is_whitespace);
            if !ok {
                return Err(self.fail(
                    &[Field::ApiPublicUrl],
                    "must be an http:// or https:// URL (the address the reverse proxy publishes)",
                ));
            }
        }
        let lifetime = api.token_lifetime;
        if lifetime < Duration::from_secs(60) || lifetime > Duration::from_secs(86_400) {
            return Err(self.fail(
                &[Field::ApiTokenLifetime],
                format!("{} s is out of range: 60 to 86400", lifetime.as_secs()),
            ));
        }
        Ok(())
    }
}
