//! Access tokens of the call-control API: OAuth 2.0 client credentials (RFC 6749 §4.4) in,
//! an HS256 JWT out; every other route checks the bearer token and its scope.
//!
//! The key comes from `[api] jwt_key`; tokens carry its id (`kid`, 8 hex digits of its
//! SHA-256) so that after a rotation tokens signed with `jwt_previous_key` are still accepted
//! until they expire. Client secrets are stored as argon2id PHC strings (`api_clients`).

use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferroswitch_config::ApiSettings;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{unauthorized, ApiFailure, ApiState};

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    /// The client id.
    pub(crate) sub: String,
    /// The logins the client may act for, space separated; `*` for all.
    pub(crate) scope: String,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
}

impl Claims {
    /// Whether the token may act for `login`.
    pub(crate) fn allows(&self, login: &str) -> bool {
        self.scope.split(' ').any(|s| s == "*" || s == login)
    }
}

const ISSUER: &str = "ferroswitch";

/// The signing key and the one before the last rotation.
pub(crate) struct Keys {
    current: (String, Vec<u8>),
    previous: Option<(String, Vec<u8>)>,
    lifetime_s: u64,
}

fn key_id(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..4])
}

pub(crate) fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keys {
    pub(crate) fn new(api: &ApiSettings) -> Self {
        let k = |s: &str| (key_id(s), s.as_bytes().to_vec());
        Self {
            current: k(api.jwt_key.expose()),
            previous: api.jwt_previous_key.as_ref().map(|p| k(p.expose())),
            lifetime_s: api.token_lifetime.as_secs(),
        }
    }

    /// A token for `client` with `scope`, valid for the configured lifetime.
    pub(crate) fn issue(&self, client: &str, scope: &str) -> (String, Claims) {
        let now = unix_s();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: client.into(),
            scope: scope.into(),
            iat: now,
            exp: now + self.lifetime_s,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.0.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&self.current.1))
                .unwrap_or_default();
        (token, claims)
    }

    /// The claims of a valid token: signed by the current or previous key, not expired.
    pub(crate) fn verify(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = match header.kid.as_deref() {
            Some(kid) if kid == self.current.0 => &self.current.1,
            Some(kid) => &self.previous.as_ref().filter(|p| p.0 == kid)?.1,
            None => &self.current.1,
        };
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &v)
            .ok()
            .map(|d| d.claims)
    }
}

/// The claims of the request's bearer token, or 401.
pub(crate) fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<Claims, ApiFailure> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(unauthorized)?;
    state.keys.verify(token.trim()).ok_or_else(unauthorized)
}

/// The verified `claims`, checked to allow `login` (403 otherwise).
pub(crate) fn in_scope(claims: Claims, login: &str) -> Result<Claims, ApiFailure> {
    if !claims.allows(login) {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            format!("Forbidden: the token's scope does not include {login:?}"),
        ));
    }
    Ok(claims)
}

/// An argon2id PHC string of `secret`.
pub(crate) fn hash_secret(secret: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the secret: {e}"))
}

/// Whether `secret` matches the stored PHC string.
pub(crate) fn secret_matches(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// The answer of `POST /oauth/token` (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenAnswer {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds.
    expires_in: u64,
    /// The logins the token may act for, space separated (`*`: all).
    scope: String,
}

/// `POST /oauth/token` form fields (JSON is accepted too).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    /// `client_credentials`.
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            let v = v.replace('+', " ");
            String::from_utf8_lossy(&sip_message::percent_decode(&v)).into_owned()
        })
    })
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// OAuth 2.0 client credentials: a short-lived bearer token.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials, client_id, client_secret (or HTTP Basic)"),
    responses(
        (status = 200, description = "a bearer token", body = TokenAnswer),
        (status = 400, description = "unsupported grant_type", body = super::ErrorBody),
        (status = 401, description = "Unauthorized: invalid credentials", body = super::ErrorBody),
    )
)]
pub(crate) async fn token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiFailure> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let req = if is_json {
        serde_json::from_slice::<TokenRequest>(&body)
            .map_err(|e| ApiFailure::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?
    } else {
        let text = String::from_utf8_lossy(&body);
        TokenRequest {
            grant_type: form_field(&text, "grant_type"),
            client_id: form_field(&text, "client_id"),
            client_secret: form_field(&text, "client_secret"),
        }
    };
    if req.grant_type.as_deref() != Some("client_credentials") {
        return Err(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type: only client_credentials",
        ));
    }
    let (id, secret) = match (req.client_id, req.client_secret) {
        (Some(i), Some(s)) => (i, s),
        _ => basic_credentials(&headers).ok_or_else(unauthorized)?,
    };
    let client = state
        .store
        .get_api_client(&id)
        .await
        .map_err(|e| ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let Some(client) = client else {
        return Err(unauthorized());
    };
    let hash = client.secret_hash.clone();
    let ok = tokio::task::spawn_blocking(move || secret_matches(&secret, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::warn!(client = %id, "API token refused: wrong secret");
        return Err(unauthorized());
    }
    let (token, claims) = state.keys.issue(&client.client_id, &client.scope);
    Ok(Json(TokenAnswer {
        access_token: token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        scope: claims.scope,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroswitch_config::ApiKey;

    fn settings(key: &str, previous: Option<&str>) -> ApiSettings {
        let mut s = ApiSettings::new("127.0.0.1:1".parse().unwrap(), ApiKey::new(key));
        s.jwt_previous_key = previous.map(ApiKey::new);
        s
    }

    #[test]
    fn tokens_verify_across_one_rotation_and_not_when_forged() {
        let old = Keys::new(&settings(&"a".repeat(32), None));
        let (t, _) = old.issue("app", "alice bob");
        assert_eq!(old.verify(&t).unwrap().scope, "alice bob");
        let rotated = Keys::new(&settings(&"b".repeat(32), Some(&"a".repeat(32))));
        assert!(
            rotated.verify(&t).is_some(),
            "the previous key is still accepted"
        );
        let later = Keys::new(&settings(&"c".repeat(32), Some(&"b".repeat(32))));
        assert!(later.verify(&t).is_none(), "two rotations later it is not");
        let forged = Keys::new(&settings(&"x".repeat(32), None));
        let (f, _) = forged.issue("app", "*");
        assert!(old.verify(&f).is_none());
        assert!(old.verify("garbage").is_none());
    }

    #[test]
    fn secrets_hash_and_verify() {
        let h = hash_secret("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(secret_matches("s3cret", &h));
        assert!(!secret_matches("wrong", &h));
        assert!(!secret_matches("s3cret", "not a hash"));
    }

    #[test]
    fn scope_allows_listed_logins_or_all() {
        let c = |s: &str| Claims {
            iss: ISSUER.into(),
            sub: "x".into(),
            scope: s.into(),
            iat: 0,
            exp: 0,
        };
        assert!(c("alice bob").allows("bob"));
        assert!(!c("alice bob").allows("carol"));
        assert!(c("*").allows("carol"));
    }
}
