//! The HTTP side of a reload: `POST /api/reload` on the admin listener, and the client the
//! `ferroswitch reload` command uses to call it.
//!
//! | answer | body |
//! |---|---|
//! | 200 | `{"applied": [keys], "needs_restart": [keys]}` ([`ReloadReport`]) |
//! | 400 | `{"error": "file:line: key: message"}`: the config was refused, the running one stays |
//! | 404 | no reloader (the API runs without a server, as in some tests) |

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::reload::ReloadReport;

/// The environment variable the CLI reads a bearer token for the admin API from.
pub(crate) const TOKEN_ENV: &str = "FERROSWITCH_ADMIN_TOKEN";

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
    let addr = match (admin, &config.admin) {
        (Some(a), _) => a,
        (None, Some(a)) if a.listen.port() != 0 => {
            let mut addr = a.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            addr
        }
        (None, Some(_)) => bail!(
            "admin.listen in {} has port 0: pass the server's admin address with --admin",
            config.source.display()
        ),
        (None, None) => bail!(
            "{} has no [admin] section: the reload goes through the admin API (or send SIGHUP to the server)",
            config.source.display()
        ),
    };
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let (status, body) = post_empty(addr, "/api/reload", token.as_deref()).await?;
    match status {
        200 => {
            let report: ReloadReport = serde_json::from_str(&body)
                .with_context(|| format!("unexpected answer from {addr}: {body}"))?;
            println!("reloaded {}", config.source.display());
            println!("applied: {}", list(&report.applied));
            println!("needs a restart: {}", list(&report.needs_restart));
            Ok(())
        }
        400 => {
            let error = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or(body);
            bail!("the server refused the config (it keeps running with the old one): {error}")
        }
        401 | 403 => bail!(
            "the admin API at {addr} refused the request ({status}): set {TOKEN_ENV} to its token"
        ),
        _ => bail!("the admin API at {addr} answered {status}: {body}"),
    }
}

fn list(keys: &[String]) -> String {
    if keys.is_empty() {
        "-".to_owned()
    } else {
        keys.join(", ")
    }
}

/// A bodiless HTTP/1.1 POST on loopback; returns the status and the body.
async fn post_empty(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| {
                format!("connecting to the admin API at {addr} (is the server running?)")
            })?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .with_context(|| format!("no answer from the admin API at {addr} within 30 s"))??;
    parse_response(&raw).with_context(|| format!("reading the answer of {addr}"))
}

/// Status and body of a `Connection: close` HTTP/1.1 response (axum sends small JSON bodies
/// with a Content-Length; a chunked one is refused).
fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no end of the response head")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .context("no status code")?;
    if head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    }) {
        bail!("chunked answers are not read");
    }
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_give_status_and_body() {
        let raw = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{\"error\":\"x\"}";
        assert_eq!(
            parse_response(raw).unwrap(),
            (400, "{\"error\":\"x\"}".to_owned())
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
