//! `GET /demo/`: the API demo page (`webphone/api.html` + `api.js`, embedded by
//! [`crate::webphone`]) on the API's own origin, so that its `fetch`es and its channel's
//! WebSocket need no CORS. It gets a token, registers a WebRTC endpoint, opens a WebSocket
//! channel and places or answers calls with its `RTCPeerConnection`'s SDP (docs/api.md).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `/demo/` and `/demo/{file}`.
pub(crate) async fn page(file: Option<Path<String>>) -> Response {
    let path = match &file {
        Some(Path(f)) => format!("/demo/{f}"),
        None => "/demo/".to_owned(),
    };
    let Some((content_type, body)) = crate::webphone::api_demo_file(&path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::webphone::CONTENT_SECURITY_POLICY),
    );
    r
}
