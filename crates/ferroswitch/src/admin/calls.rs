//! The calls the SIP core holds, and hanging one up.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/calls` (`?state=ringing\|parked\|answered` optional) | `200 [call, ...]` by id |
//! | `DELETE /api/calls/{id}` | `204` once ended (BYE to both legs of an answered call; a ringing one is CANCELled and its caller gets 480); `404` no such call |
//!
//! A call: `{"id","state","parked","caller","dialed","callee","route","age_s","answered_s"}`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::{error, param, query, AdminState, Failure};
use crate::operator::CoreRequest;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/calls", get(list))
        .route("/api/calls/{id}", axum::routing::delete(hang_up))
}

/// One call as the API shows it.
#[derive(Debug, Serialize)]
struct CallView {
    id: u64,
    state: &'static str,
    parked: bool,
    caller: String,
    dialed: String,
    callee: String,
    route: &'static str,
    /// Seconds since the INVITE.
    age_s: u64,
    /// Seconds since the answer.
    answered_s: Option<u64>,
}

async fn list(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<CallView>>, Failure> {
    let wanted = param(&query(raw.as_deref(), &["state"])?, "state");
    if let Some(s) = wanted.as_deref() {
        if !matches!(s, "ringing" | "parked" | "answered") {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("unknown state {s:?}: ringing, parked or answered"),
            ));
        }
    }
    let calls = state.core()?.calls().await?;
    Ok(Json(
        calls
            .into_iter()
            .filter(|c| match wanted.as_deref() {
                Some("parked") => c.parked,
                Some(s) => c.state == s,
                None => true,
            })
            .map(|c| CallView {
                id: c.id,
                state: c.state,
                parked: c.parked,
                caller: c.caller,
                dialed: c.dialed,
                callee: c.callee,
                route: c.route,
                age_s: c.age.as_secs(),
                answered_s: c.answered_for.map(|d| d.as_secs()),
            })
            .collect(),
    ))
}

async fn hang_up(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let id: u64 = id.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not a call id (see GET /api/calls)"),
        )
    })?;
    let ended = state
        .core()?
        .ask(|reply| CoreRequest::HangUp { id, reply })
        .await?;
    if ended {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(error(StatusCode::NOT_FOUND, format!("no call {id}")))
    }
}
