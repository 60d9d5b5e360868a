//! The registrar's live bindings, from the SIP core (not the database: the core is the
//! truth, and the rows lag behind by the writer's batch).
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/registrations?login=L&transport=udp` (both optional) | `200 [binding, ...]` ordered by login |
//! | `GET /api/registrations/{login}` | `200 [binding, ...]` (`[]` when it has none) |
//! | `DELETE /api/registrations/{login}` | `200 {"removed":n}`, every binding of the login; `404` when it had none |
//! | `DELETE /api/registrations/{login}?key=K` | `200 {"removed":1}`, the binding whose `key` is K; `404` when none |
//!
//! A binding: `{"login","key","contact","transport","source","local","expires_in",
//! "instance","reg_id","user_agent","path"}`. A removed binding is gone from the registrar
//! at once (calls and messages no longer reach it) and from storage with the next write
//! batch; the device registers again at its next refresh.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sip_message::Transport;

use super::{error, param, query, AdminState, Failure};
use crate::operator::CoreRequest;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/registrations", get(list))
        .route("/api/registrations/{login}", get(of_login).delete(remove))
}

/// One binding as the API shows it.
#[derive(Debug, Serialize)]
struct Registration {
    login: String,
    key: String,
    contact: String,
    transport: &'static str,
    /// Where the REGISTER came from.
    source: String,
    /// Our socket it came to.
    local: String,
    /// Seconds left.
    expires_in: u32,
    instance: Option<String>,
    reg_id: Option<u32>,
    user_agent: Option<String>,
    path: Option<String>,
}

fn view(login: String, b: registrar::Binding, now: std::time::Instant) -> Registration {
    Registration {
        expires_in: b.remaining_secs(now),
        login,
        key: b.key,
        contact: b.contact,
        transport: b.source.transport.as_str(),
        source: b.source.remote.to_string(),
        local: b.source.local.to_string(),
        instance: b.instance,
        reg_id: b.reg_id,
        user_agent: b.user_agent,
        path: b.path,
    }
}

async fn list(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Registration>>, Failure> {
    let q = query(raw.as_deref(), &["login", "transport"])?;
    bindings(&state, param(&q, "login"), param(&q, "transport")).await
}

async fn bindings(
    state: &AdminState,
    login: Option<String>,
    transport: Option<String>,
) -> Result<Json<Vec<Registration>>, Failure> {
    let transport = match transport.as_deref() {
        None => None,
        Some(t) => Some(Transport::from_name(t).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                format!("unknown transport {t:?}: udp, tcp or tls"),
            )
        })?),
    };
    let mut all = state
        .core()?
        .ask(|reply| CoreRequest::Registrations { login, reply })
        .await?;
    all.retain(|(_, b)| transport.is_none_or(|t| b.source.transport == t));
    all.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key.cmp(&b.1.key)));
    let now = std::time::Instant::now();
    Ok(Json(
        all.into_iter().map(|(l, b)| view(l, b, now)).collect(),
    ))
}

async fn of_login(
    State(state): State<AdminState>,
    Path(login): Path<String>,
) -> Result<Json<Vec<Registration>>, Failure> {
    bindings(&state, Some(login), None).await
}

async fn remove(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>, Failure> {
    let key = param(&query(raw.as_deref(), &["key"])?, "key");
    let what = match &key {
        Some(k) => format!("{login} has no binding with key {k:?}"),
        None => format!("{login} has no binding"),
    };
    let removed = state
        .core()?
        .ask(|reply| CoreRequest::Unregister { login, key, reply })
        .await?;
    if removed == 0 {
        return Err(error(StatusCode::NOT_FOUND, what));
    }
    Ok(Json(serde_json::json!({ "removed": removed })))
}
