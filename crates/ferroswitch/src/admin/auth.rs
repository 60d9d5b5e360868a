//! The operator routes' bearer token (`[admin] token` or `token_file`), checked by a layer
//! over the whole router: a request to any `/api` path but the [`PUBLIC`] ones needs
//! `Authorization: Bearer <token>`, compared in constant time (SHA-256 of both sides, then
//! [`digest::eq_hex`]: equal lengths, no early exit). `401` for a missing or wrong token;
//! `403` on every operator route while no token is configured (the API is closed until the
//! operator sets one). Paths outside `/api` (`/metrics`) are not concerned: the listener is
//! on loopback.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sip_message::digest::{self, Algorithm};

use super::{error, AdminState, Failure};

/// `/api` paths served without the token: health (monitoring), the local dialing plan
/// (softphones download it), and the push tokens, balance and rates (apps, with their SIP
/// credentials).
const PUBLIC: [&str; 5] = [
    "/api/health",
    "/api/local-dialing-plan",
    "/api/push-tokens",
    "/api/balance",
    "/api/rates",
];

/// The layer's check: lets the request through, or answers it.
pub(super) async fn bearer(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path == "/api" || path.starts_with("/api/")) || PUBLIC.contains(&path) {
        return next.run(req).await;
    }
    match check(&state, req.headers().get(AUTHORIZATION)) {
        Ok(()) => next.run(req).await,
        Err(f) => {
            tracing::warn!(
                path,
                status = f.status.as_u16(),
                "admin API: operator request refused"
            );
            f.into_response()
        }
    }
}

/// Whether `authorization` carries the configured token.
fn check(state: &AdminState, authorization: Option<&HeaderValue>) -> Result<(), Failure> {
    let Some(token) = &state.token else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "the operator API is closed: no token is configured; put one in a file \
             (e.g. `openssl rand -hex 32 > /etc/ferroswitch/admin.token`), set \
             `token_file = \"/etc/ferroswitch/admin.token\"` in the [admin] section \
             (XML: <param name=\"token-file\" ...>) and restart",
        ));
    };
    let given = authorization.and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("Bearer").then(|| rest.trim())
    });
    let Some(given) = given else {
        return Err(unauthorized(
            "an `Authorization: Bearer <token>` header is required",
        ));
    };
    if same(given, token.expose()) {
        Ok(())
    } else {
        Err(unauthorized("wrong token"))
    }
}

/// Constant-time equality of two secrets of any lengths.
fn same(a: &str, b: &str) -> bool {
    let hash = |s: &str| Algorithm::Sha256.hash_hex(&[s.as_bytes()]);
    digest::eq_hex(&hash(a), &hash(b))
}

fn unauthorized(why: &str) -> Failure {
    Failure {
        challenges: vec![HeaderValue::from_static(
            "Bearer realm=\"ferroswitch admin\"",
        )],
        ..error(StatusCode::UNAUTHORIZED, why)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{request, sqlite_store, start, state};
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    #[test]
    fn tokens_compare_whole() {
        assert!(same(TOKEN, TOKEN));
        assert!(!same(TOKEN, "0123456789abcdef012"));
        assert!(!same(TOKEN, "0123456789abcdef0124"));
        assert!(!same("", TOKEN));
    }

    #[tokio::test]
    async fn operator_routes_need_the_token_public_ones_do_not() {
        let (_dir, store) = sqlite_store().await;
        let mut s = state(store);
        s.token = Some(ferroswitch_config::AdminToken::new(TOKEN));
        let addr = start(s).await;
        let good = format!("Bearer {TOKEN}");
        for (headers, status) in [
            (vec![], 401),
            (vec![("Authorization", "Bearer wrong-token-0000000")], 401),
            (vec![("Authorization", "Basic YTpi")], 401),
            (vec![("Authorization", good.as_str())], 200),
        ] {
            let (got, content_type, body) =
                request(addr, "GET", "/api/version", &headers, "").await;
            assert_eq!(
                (got, content_type.as_str()),
                (status, "application/json"),
                "{body}"
            );
            if status == 401 {
                assert!(body.starts_with(r#"{"error":"#), "{body}");
            }
        }
        // an unknown /api path is refused before it is found missing
        assert_eq!(request(addr, "GET", "/api/nothing", &[], "").await.0, 401);
        for path in ["/api/health", "/api/local-dialing-plan", "/metrics"] {
            assert_ne!(request(addr, "GET", path, &[], "").await.0, 401, "{path}");
        }
        // a body over the limit, with the token: 413 as JSON
        let big = format!("{{\"login\":\"{}\"}}", "x".repeat(super::super::BODY_LIMIT));
        let (status, content_type, body) = request(
            addr,
            "POST",
            "/api/accounts",
            &[("Authorization", good.as_str())],
            &big,
        )
        .await;
        assert_eq!(
            (status, content_type.as_str()),
            (413, "application/json"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn without_a_token_operator_routes_are_closed() {
        let (_dir, store) = sqlite_store().await;
        let addr = start(state(store)).await;
        let (status, _, body) = request(
            addr,
            "GET",
            "/api/version",
            &[("Authorization", "Bearer anything-at-all-000")],
            "",
        )
        .await;
        assert_eq!(status, 403);
        assert!(body.contains("token_file"), "{body}");
        assert_eq!(request(addr, "GET", "/api/health", &[], "").await.0, 200);
    }
}
