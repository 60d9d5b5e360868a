//! The HTTP side of a reload: `POST /api/reload` on the admin listener, and the client the
//! `ferroswitch reload` command uses to call it.
//!
//! | answer | body |
//! |---|---|
//! | 200 | `{"applied": [keys], "needs_restart": [keys]}` ([`ReloadReport`]) |
//! | 400 | `{"error": "file:line: key: message"}`: the config was refused, the running one stays |
//! | 404 | no reloader (the API runs without a server, as in some tests) |

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::reload::ReloadReport;

#[derive(Debug, Serialize)]
struct ApiError {
    error: String,
}

/// `POST /api/reload`: 404 when the API runs without a server (as in some tests).
pub(crate) async fn reload(State(state): State<crate::admin::AdminState>) -> Response {
    let Some(reloader) = state.reloader else {
        let error = "no server to reload here".to_owned();
        return (StatusCode::NOT_FOUND, Json(ApiError { error })).into_response();
    };
    match reloader.reload().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(ApiError {
                error: e.to_string(),
            }),
        )
            .into_response(),
    }
}

/// `ferroswitch reload`: asks the running server (its admin API at `admin`, else the
/// config's `admin.listen`) to reload its config, and prints what it applied.
pub(crate) async fn run(
    config: &ferroswitch_config::Config,
    admin: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let client = crate::ops_cli::AdminClient::new_at(config, admin)?;
    let answer = client.post("/api/reload").await.context(
        "the server did not reload (a refused config leaves it running with the old one)",
    )?;
    let report: ReloadReport = serde_json::from_value(answer.clone())
        .with_context(|| format!("unexpected answer: {answer}"))?;
    println!("reloaded {}", config.source.display());
    println!("applied: {}", list(&report.applied));
    println!("needs a restart: {}", list(&report.needs_restart));
    Ok(())
}

fn list(keys: &[String]) -> String {
    if keys.is_empty() {
        "-".to_owned()
    } else {
        keys.join(", ")
    }
}
