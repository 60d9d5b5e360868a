//! The OpenAPI 3 document of the call-control API, generated from the handlers' annotations
//! (utoipa) and served at `GET /api/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{channels, sessions, token};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ferroswitch call-control API",
        description = "BYON-style REST sessions, notification channels and call status events (docs/api.md)."
    ),
    paths(
        token::token,
        sessions::create,
        sessions::list,
        sessions::read,
        sessions::refresh,
        sessions::delete,
        sessions::change,
        channels::create,
        channels::list,
        channels::delete,
        channels::websocket,
    ),
    components(schemas(
        token::TokenAnswer,
        token::TokenRequest,
        sessions::NewSession,
        sessions::SessionInfo,
        sessions::StatusChange,
        channels::NewChannel,
        channels::ChannelInfo,
        channels::EventBody,
        super::ErrorBody,
    )),
    modifiers(&Bearer),
    tags(
        (name = "auth", description = "OAuth 2.0 client credentials"),
        (name = "sessions", description = "registration and voice sessions"),
        (name = "channels", description = "notification channels"),
    )
)]
pub(crate) struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        }
    }
}

/// `GET /api/openapi.json`.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/oauth/token",
            "/session",
            "/session/{id}",
            "/session/{id}/status",
            "/channels",
            "/channels/{id}",
            "/channels/{id}/ws",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert_eq!(doc["openapi"].as_str().unwrap().chars().next(), Some('3'));
    }
}
