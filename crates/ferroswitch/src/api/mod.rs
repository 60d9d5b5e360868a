//! The call-control API for applications (axum, its own listener `[api]`; docs/api.md): the
//! BYON seed's REST sessions, notification channels and call status events.
//!
//! - [`token`]: `POST /oauth/token` (client credentials → HS256 JWT), the bearer check and
//!   the scope (which logins a client may act for);
//! - [`sessions`]: `/session`: registration sessions and voice sessions (calls);
//! - [`channels`]: `/channels`: websocket, webhook (HMAC-signed) notification channels;
//! - [`backlog`]: a WebSocket channel's numbered events, kept for a client that reconnects;
//! - [`agent`]: the driver of the SIP agent that places the calls through the switch
//!   (`b2bua::third_party`);
//! - [`openapi`]: the OpenAPI 3 document generated from the handlers, `GET /api/openapi.json`;
//! - [`clients`]: `ferroswitch api-client add|list|remove` and the admin API's routes;
//! - [`demo`]: `GET /demo/`, the demo page that drives a WebRTC call through this API.
//!
//! Every error is `{"error": "..."}` with its status; a missing, wrong, forged or expired
//! token is `401 {"error":"Unauthorized: invalid credentials"}`.

pub(crate) mod agent;
mod backlog;
pub(crate) mod channels;
pub(crate) mod clients;
mod demo;
mod openapi;
mod sessions;
pub(crate) mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ferroswitch_config::ApiSettings;
use serde::de::DeserializeOwned;
use serde::Serialize;
use store::Store;
use tokio::sync::mpsc;
use utoipa::ToSchema;

/// The largest request body (an SDP offer fits many times).
const BODY_LIMIT: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) store: Store,
    pub(crate) keys: Arc<token::Keys>,
    pub(crate) registrations: sessions::Registrations,
    pub(crate) hub: channels::Hub,
    pub(crate) agent: agent::AgentLink,
    pub(crate) http: reqwest::Client,
    /// `ws://host:port` or `wss://host` (from `public_url`), for WebSocket channel URLs.
    pub(crate) ws_base: String,
    /// The SIP core, for the bindings of registration sessions.
    pub(crate) core: crate::operator::CoreLink,
    /// The agent's socket and the switch's UDP socket: the binding's flow.
    pub(crate) agent_addr: SocketAddr,
    pub(crate) switch: SocketAddr,
}

/// An error body.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: String,
}

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    status: StatusCode,
    message: String,
}

impl ApiFailure {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// The seed's exception for a wrong, forged or expired token or credentials.
pub(crate) fn unauthorized() -> ApiFailure {
    ApiFailure::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized: invalid credentials",
    )
}

/// A database write failed: 503, logged.
pub(crate) fn store_failure(e: store::StoreError) -> ApiFailure {
    tracing::warn!("call-control API: database: {e}");
    ApiFailure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is unavailable",
    )
}

/// A JSON body, or 400 naming what is wrong.
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiFailure> {
    serde_json::from_slice(body)
        .map_err(|e| ApiFailure::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// 128 random bits in hex: ids that are also capabilities (WebSocket URLs).
pub(crate) fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The WebSocket base URL: `public_url` with ws(s), else the bound address.
fn ws_base(api: &ApiSettings, bound: SocketAddr) -> String {
    let base = match &api.public_url {
        Some(_) => api.base_url(),
        None => format!("http://{bound}"),
    };
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base
    }
}

/// Loads the registration sessions (the live ones) and channels stored before a restart.
async fn restore(state: &ApiState) {
    match state
        .store
        .live_api_sessions(i64::try_from(token::unix_s()).unwrap_or(i64::MAX))
        .await
    {
        Ok(rows) => {
            for row in &rows {
                sessions::restore(state, row);
            }
            if !rows.is_empty() {
                tracing::info!(count = rows.len(), "API registration sessions restored");
            }
        }
        Err(e) => tracing::warn!("API registration sessions not restored: {e}"),
    }
    match state.store.list_api_channels().await {
        Ok(rows) => {
            let opened = rows
                .iter()
                .filter_map(|row| state.hub.open(row, state))
                .count();
            if opened > 0 {
                tracing::info!(count = opened, "API channels restored");
            }
        }
        Err(e) => tracing::warn!("API channels not restored: {e}"),
    }
}

pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/oauth/token", post(token::token))
        .route("/session", post(sessions::create).get(sessions::list))
        .route(
            "/session/{id}",
            get(sessions::read)
                .put(sessions::refresh)
                .delete(sessions::delete),
        )
        .route("/session/{id}/status", put(sessions::change))
        .route("/channels", post(channels::create).get(channels::list))
        .route("/channels/{id}", axum::routing::delete(channels::delete))
        .route("/channels/{id}/ws", get(channels::websocket))
        .route("/api/openapi.json", get(openapi::document))
        .route("/demo", get(|| demo::page(None)))
        .route("/demo/", get(|| demo::page(None)))
        .route("/demo/{file}", get(|p| demo::page(Some(p))))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Starts the API: the agent (its socket beside the switch's first UDP socket), the event
/// fan-out and the HTTP server on `listener`. Returns the agent's address for the dispatcher
/// to trust.
pub(crate) async fn start(
    listener: tokio::net::TcpListener,
    api: &ApiSettings,
    store: Store,
    switch: SocketAddr,
    domain: String,
    core: crate::operator::CoreLink,
    push_hook: Option<hooks::HookClient>,
) -> anyhow::Result<SocketAddr> {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (agent, agent_addr) = agent::spawn(switch, domain, events_tx).await?;
    let hub = channels::Hub::with_push(push_hook.map(|h| (h, store.clone())));
    tokio::spawn(channels::fan_out(hub.clone(), events_rx));
    let state = ApiState {
        store,
        keys: Arc::new(token::Keys::new(api)),
        registrations: sessions::Registrations::default(),
        hub,
        agent,
        http: reqwest::Client::new(),
        ws_base: ws_base(api, listener.local_addr()?),
        core,
        agent_addr,
        switch,
    };
    restore(&state).await;
    tracing::info!("listening on api {}", listener.local_addr()?);
    tracing::info!(agent = %agent_addr, "API call agent on udp {agent_addr}");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state)).await {
            tracing::error!("call-control API stopped: {e}");
        }
    });
    Ok(agent_addr)
}
