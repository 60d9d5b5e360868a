//! `/api/api-clients`: the call-control API's OAuth clients (docs/api.md), the same checks as
//! `ferroswitch api-client`. The secret is answered once, at creation; never listed.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{error, json_body, AdminState, Failure};

fn store_failure(what: &str, e: &store::StoreError) -> Failure {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what} failed: {e}"),
    )
}

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/api-clients", get(list).post(add))
        .route("/api/api-clients/{client_id}", delete(remove))
}

#[derive(Debug, Serialize)]
struct ClientView {
    client_id: String,
    scope: String,
    created_at: i64,
    /// Only in the answer to `POST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    client_id: String,
    /// Logins, space or comma separated; `*` for all.
    scope: String,
    /// Default: 32 random bytes in hex.
    secret: Option<String>,
}

async fn list(State(state): State<AdminState>) -> Result<Json<Vec<ClientView>>, Failure> {
    let clients = state
        .store
        .list_api_clients()
        .await
        .map_err(|e| store_failure("listing API clients", &e))?;
    Ok(Json(
        clients
            .into_iter()
            .map(|c| ClientView {
                client_id: c.client_id,
                scope: c.scope,
                created_at: c.created_at,
                secret: None,
            })
            .collect(),
    ))
}

async fn add(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ClientView>), Failure> {
    let req: NewClient = json_body(body)?;
    let secret = req
        .secret
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
    crate::api::clients::check_new(&req.client_id, &req.scope, &secret)
        .map_err(|m| error(StatusCode::BAD_REQUEST, m))?;
    let exists = state
        .store
        .get_api_client(&req.client_id)
        .await
        .map_err(|e| store_failure("reading API clients", &e))?;
    if exists.is_some() {
        return Err(error(
            StatusCode::CONFLICT,
            format!("API client {:?} exists; DELETE it first", req.client_id),
        ));
    }
    let c = crate::api::clients::add(&state.store, &req.client_id, &req.scope, &secret)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")))?;
    tracing::info!(client = %c.client_id, "API client added through the admin API");
    Ok((
        StatusCode::CREATED,
        Json(ClientView {
            client_id: c.client_id,
            scope: c.scope,
            created_at: c.created_at,
            secret: Some(secret),
        }),
    ))
}

async fn remove(
    State(state): State<AdminState>,
    Path(client_id): Path<String>,
) -> Result<StatusCode, Failure> {
    match state.store.remove_api_client(&client_id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(error(StatusCode::NOT_FOUND, "no such API client")),
        Err(e) => Err(store_failure("removing the API client", &e)),
    }
}
