//! The `[api]` section: the call-control API for applications (docs/api.md).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::Origin;

/// The call-control API listener (OAuth client credentials, sessions, channels, calls).
///
/// It serves plain HTTP on a loopback address; applications reach it over HTTPS through the
/// operator's reverse proxy (the same choice as the admin API), which also carries the
/// WebSocket upgrade. `public_url` is the address the proxy publishes: the `ws(s)://` URLs of
/// WebSocket channels are built on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiSettings {
    /// A loopback address.
    pub listen: SocketAddr,
    /// Where `listen` was given (named when the port is busy).
    pub origin: Origin,
    /// The public base URL (`https://api.example.com`); default `http://{listen}`.
    pub public_url: Option<String>,
    /// The HS256 key that signs the access tokens (at least [`ApiKey::MIN_LEN`] characters).
    pub jwt_key: ApiKey,
    /// The key before the last rotation: tokens it signed are still accepted until they expire.
    pub jwt_previous_key: Option<ApiKey>,
    /// How long an access token (and the sessions created with it) lives. Default 1 h; 60 s to
    /// 24 h.
    pub token_lifetime: Duration,
}

impl ApiSettings {
    /// The default of [`ApiSettings::token_lifetime`].
    pub const TOKEN_LIFETIME_DEFAULT: Duration = Duration::from_secs(3600);

    pub fn new(listen: SocketAddr, jwt_key: ApiKey) -> Self {
        Self {
            listen,
            origin: Origin::Unknown,
            public_url: None,
            jwt_key,
            jwt_previous_key: None,
            token_lifetime: Self::TOKEN_LIFETIME_DEFAULT,
        }
    }

    /// The public base URL without a trailing `/`.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// A token-signing key. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The shortest key accepted (HS256 wants 256 bits).
    pub const MIN_LEN: usize = 32;

    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}
