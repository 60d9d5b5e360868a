//! The admin HTTP API (axum): health and the local dialing plan softphones download.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/health` | `200 {"status":"ok"}` |
//! | `GET /api/local-dialing-plan` | `200 [{"prefix":"44","server":"sip1.company.com"}, ...]`, ordered by prefix; `503 {"error":"..."}` when the database cannot answer |
//!
//! The server takes an already bound listener ([`serve`]), so tests bind `127.0.0.1:0`. It
//! reads the database on each request: the plan is small and fetched rarely (softphones at
//! start), and operators expect `ferroswitch local-plan add` to show at once.

use std::future::Future;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use store::Store;

/// `GET /api/health`.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
}

/// One entry of `GET /api/local-dialing-plan`.
#[derive(Debug, Serialize)]
struct LocalPlanEntry {
    prefix: String,
    server: String,
}

/// The body of an error answer.
#[derive(Debug, Serialize)]
struct ApiError {
    error: String,
}

/// The admin API's routes, over `store`.
pub(crate) fn router(store: Store) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/local-dialing-plan", get(local_dialing_plan))
        .with_state(store)
}

/// Serves the admin API on `listener` until the process ends.
pub(crate) async fn serve(listener: tokio::net::TcpListener, store: Store) -> std::io::Result<()> {
    serve_with_shutdown(listener, store, std::future::pending()).await
}

/// Serves the admin API on `listener` until `shutdown` completes, then lets requests in
/// flight finish.
pub(crate) async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn local_dialing_plan(State(store): State<Store>) -> Response {
    match store.list_local_plan().await {
        Ok(rows) => Json(
            rows.into_iter()
                .map(|r| LocalPlanEntry {
                    prefix: r.prefix,
                    server: r.server,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "admin API: cannot read the local dialing plan");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ApiError {
                    error: format!("the local dialing plan is unavailable: {e}"),
                }),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use store::LocalPlanRow;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A migrated SQLite store in a temporary directory.
    async fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ferro.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    /// Starts the API on 127.0.0.1:0; returns its address.
    async fn start(store: Store) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, store));
        addr
    }

    /// One HTTP/1.1 GET over a fresh connection: (status, content type, body).
    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            conn.read_to_end(&mut raw),
        )
        .await
        .expect("the server answers and closes")
        .unwrap();
        let text = String::from_utf8(raw).expect("UTF-8 answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let content_type = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        (status, content_type, body.to_owned())
    }

    #[tokio::test]
    async fn health_says_ok() {
        let (_dir, store) = sqlite_store().await;
        let addr = start(store).await;
        let (status, content_type, body) = get(addr, "/api/health").await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/json");
        assert_eq!(body, r#"{"status":"ok"}"#);
        let (status, _, _) = get(addr, "/api/nothing-here").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn local_dialing_plan_is_served_from_the_database_in_prefix_order() {
        let (_dir, store) = sqlite_store().await;
        let addr = start(store.clone()).await;
        let (status, _, body) = get(addr, "/api/local-dialing-plan").await;
        assert_eq!((status, body.as_str()), (200, "[]"));

        for (prefix, server) in [
            ("48", "sip2.company.com"),
            ("44", "sip1.company.com"),
            ("4420", "[2001:db8::1]:5060"),
        ] {
            store
                .add_local_plan(&LocalPlanRow {
                    prefix: prefix.to_owned(),
                    server: server.to_owned(),
                })
                .await
                .unwrap();
        }
        // Read per request: a change shows at once.
        let (status, content_type, body) = get(addr, "/api/local-dialing-plan").await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            body,
            r#"[{"prefix":"44","server":"sip1.company.com"},{"prefix":"4420","server":"[2001:db8::1]:5060"},{"prefix":"48","server":"sip2.company.com"}]"#
        );
    }

    #[tokio::test]
    async fn a_database_error_is_a_503_with_a_json_reason() {
        let (_dir, store) = sqlite_store().await;
        let addr = start(store.clone()).await;
        store.close().await;
        let (status, content_type, body) = get(addr, "/api/local-dialing-plan").await;
        assert_eq!(status, 503);
        assert_eq!(content_type, "application/json");
        assert!(
            body.starts_with(r#"{"error":"the local dialing plan is unavailable: database list_local_plan failed"#),
            "{body}"
        );
        // Health does not touch the database.
        assert_eq!(get(addr, "/api/health").await.0, 200);
    }

    #[tokio::test]
    async fn serve_with_shutdown_stops_when_told() {
        let (_dir, store) = sqlite_store().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_with_shutdown(listener, store, async {
            stopped.await.ok();
        }));
        assert_eq!(get(addr, "/api/health").await.0, 200);
        stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "listener closed"
        );
    }
}
