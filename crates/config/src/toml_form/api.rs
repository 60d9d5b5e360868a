//! The TOML `[api]` section.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Addr, Parsed, Recorder};
use crate::api::{ApiKey, ApiSettings};
use crate::validate::Field;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    listen: Spanned<Parsed<Addr>>,
    public_url: Option<Spanned<String>>,
    jwt_key: Spanned<String>,
    jwt_previous_key: Option<Spanned<String>>,
    /// Seconds.
    token_lifetime: Option<Spanned<u32>>,
}

pub(super) fn api(a: RawApi, at: &mut Recorder<'_>) -> ApiSettings {
    let origin = at.origin(&a.listen, "api.listen");
    let listen = at.take(a.listen, Field::ApiListen, "api.listen").0 .0;
    let key = ApiKey::new(at.take(a.jwt_key, Field::ApiJwtKey, "api.jwt_key"));
    let mut api = ApiSettings::new(listen, key);
    api.origin = origin;
    api.public_url = at.take_opt(a.public_url, Field::ApiPublicUrl, "api.public_url");
    api.jwt_previous_key = at
        .take_opt(
            a.jwt_previous_key,
            Field::ApiJwtPreviousKey,
            "api.jwt_previous_key",
        )
        .map(ApiKey::new);
    if let Some(s) = at.take_opt(
        a.token_lifetime,
        Field::ApiTokenLifetime,
        "api.token_lifetime",
    ) {
        api.token_lifetime = Duration::from_secs(s.into());
    }
    api
}
