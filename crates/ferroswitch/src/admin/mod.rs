//! The admin HTTP API (axum), documented for operators in `docs/admin-api.md`. Its routes by
//! concern:
//!
//! - here: the state, the router, serving, error answers and JSON bodies, `GET /api/health`,
//!   `GET /api/version`, `GET /api/local-dialing-plan` and `GET /metrics`;
//! - [`auth`]: the bearer token every other `/api` route needs (a layer over the whole
//!   router, so a route added anywhere is covered unless listed as public there);
//! - [`push_tokens`]: the push tokens apps hand in, authenticated with the login's own SIP
//!   credentials (HTTP Digest);
//! - [`registrations`], [`calls`]: the SIP core's bindings and calls, asked over
//!   [`CoreLink`] (the core runs in the dispatcher task);
//! - [`accounts`], [`routing`]: the tables the CLI manages, with the same checks;
//! - [`billing`], [`billing_plans`]: tariffs, balances and the ledger, plans, reports;
//! - [`app_billing`]: the apps' `GET /api/balance` and `GET /api/rates` (SIP credentials).
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/health` | `200 {"status":"ok","database":"ok","write_queue":0}`; `"status":"degraded"` and the database error when it does not answer within 1 s |
//! | `GET /api/version` | `200 {"name":"ferroswitch","version":"0.1.0"}` |
//! | `GET /api/local-dialing-plan` | `200 [{"prefix":"44","server":"sip1.company.com"}, ...]`, ordered by prefix; `503 {"error":"..."}` when the database cannot answer |
//!
//! Request bodies are JSON, at most [`BODY_LIMIT`] bytes (`413` beyond); every error is
//! `{"error": "..."}` with its status.
//!
//! The server takes an already bound listener ([`serve`]), so tests bind `127.0.0.1:0`. It
//! reads the database on each request: the plan is small and fetched rarely (softphones at
//! start), and operators expect `ferroswitch local-plan add` to show at once.

mod accounts;
mod answering;
mod api_clients;
mod app_billing;
mod auth;
mod billing;
mod billing_plans;
mod calls;
mod push_tokens;
mod registrations;
mod routing;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use registrar::NonceKeeper;
use serde::de::DeserializeOwned;
use serde::Serialize;
use store::{PushToken, Store};
use tokio::sync::mpsc;

use crate::account_sync::AccountSync;
use crate::operator::{CoreLink, NoAnswer};
use crate::persist::QueueDepth;
use crate::push_fields::FieldError;

/// What the admin API's handlers share.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) store: Store,
    /// The registrar's realm: apps authenticate with their SIP credentials.
    pub(crate) realm: Arc<str>,
    /// Issues and checks this API's digest nonces (its own, not the SIP core's).
    pub(crate) nonces: Arc<Mutex<NonceKeeper>>,
    /// Where a stored push token goes after the database write (a removal as the stored
    /// tombstone: empty token, platform and param), for the SIP core's cache.
    pub(crate) push_changes: Option<mpsc::UnboundedSender<PushToken>>,
    /// Renders the process's metrics for `GET /metrics` (none: 404).
    pub(crate) metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The operator routes' bearer token (none: they answer 403).
    pub(crate) token: Option<ferroswitch_config::AdminToken>,
    /// The SIP core, for bindings and calls (none: those routes answer 503).
    pub(crate) core: Option<CoreLink>,
    /// Makes account changes take effect at once (none: within the poll, 1 s).
    pub(crate) account_sync: Option<AccountSync>,
    /// The storage writer's backlog, for health.
    pub(crate) write_queue: QueueDepth,
    /// Store plain passwords beside the HA1 values (`database.keep_plain_passwords`).
    pub(crate) keep_plain_passwords: bool,
    /// `POST /api/reload` (`reload_api.rs`); none: 404.
    pub(crate) reloader: Option<Arc<crate::reload::Reloader>>,
}

impl AdminState {
    /// The API's state over `store`, challenging in `realm` with nonces valid for
    /// `nonce_lifetime_ms`.
    pub(crate) fn new(
        store: Store,
        realm: &str,
        nonce_lifetime_ms: u64,
        push_changes: Option<mpsc::UnboundedSender<PushToken>>,
    ) -> Self {
        let secret: [u8; 32] = rand::random();
        Self {
            store,
            realm: realm.into(),
            nonces: Arc::new(Mutex::new(NonceKeeper::new(&secret, nonce_lifetime_ms))),
            push_changes,
            metrics: None,
            token: None,
            reloader: None,
            core: None,
            account_sync: None,
            write_queue: QueueDepth::default(),
            keep_plain_passwords: false,
        }
    }

    /// The operator routes: their token, the SIP core, the account sync driver, the
    /// writer's backlog and whether plain passwords are kept.
    pub(crate) fn with_operator(
        mut self,
        token: Option<ferroswitch_config::AdminToken>,
        core: Option<CoreLink>,
        account_sync: Option<AccountSync>,
        write_queue: QueueDepth,
        keep_plain_passwords: bool,
    ) -> Self {
        self.token = token;
        self.core = core;
        self.account_sync = account_sync;
        self.write_queue = write_queue;
        self.keep_plain_passwords = keep_plain_passwords;
        self
    }

    /// The SIP core, or `503`.
    fn core(&self) -> Result<&CoreLink, Failure> {
        self.core.as_ref().ok_or_else(|| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the SIP core is not running in this process",
            )
        })
    }

    /// Applies account changes now (after a write), so the next request sees them.
    async fn accounts_changed(&self) {
        if let Some(sync) = &self.account_sync {
            if !sync.now().await {
                tracing::warn!("admin API: the SIP core did not confirm an account change within 2 s (it applies it at its next poll)");
            }
        }
    }

    /// Serves `GET /metrics` from `handle`.
    pub(crate) fn with_metrics(
        mut self,
        handle: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Self {
        self.metrics = handle;
        self
    }

    pub(super) fn nonces(&self) -> std::sync::MutexGuard<'_, NonceKeeper> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `GET /api/health`.
#[derive(Debug, Serialize)]
struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    status: &'static str,
    /// `ok` or why not.
    database: String,
    /// Writes waiting for the storage writer.
    write_queue: usize,
}

/// The largest request body of the operator routes.
pub(super) const BODY_LIMIT: usize = 64 * 1024;

/// One entry of `GET /api/local-dialing-plan`.
#[derive(Debug, Serialize)]
struct LocalPlanEntry {
    prefix: String,
    server: String,
}

/// The body of an error answer.
#[derive(Debug, Serialize)]
pub(super) struct ApiError {
    error: String,
    /// The request body's field at fault, for a `400` about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

/// An error answer: a status, `{"error": ...}` and, for a `401`, the challenges.
#[derive(Debug)]
pub(super) struct Failure {
    status: StatusCode,
    body: ApiError,
    /// `WWW-Authenticate` values.
    challenges: Vec<HeaderValue>,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        for c in self.challenges {
            headers.append(WWW_AUTHENTICATE, c);
        }
        (self.status, headers, Json(self.body)).into_response()
    }
}

/// An error answer: `status` with `{"error": message}`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Failure {
    Failure {
        status,
        body: ApiError {
            error: message.into(),
            field: None,
        },
        challenges: Vec::new(),
    }
}

impl From<NoAnswer> for Failure {
    fn from(e: NoAnswer) -> Self {
        error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

/// `503` for a database error, logged.
pub(super) fn db_failure(what: &str, e: &store::StoreError) -> Failure {
    tracing::warn!(error = %e, "admin API: {what} failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what} failed: {e}"),
    )
}

/// A JSON request body as `T`: `413` beyond [`BODY_LIMIT`], `400` for what does not parse
/// (naming the field serde names).
pub(super) fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Failure> {
    let bytes = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            error(
                status,
                format!("the request body is larger than {BODY_LIMIT} bytes"),
            )
        } else {
            error(status, format!("the request body could not be read: {r}"))
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// The query string's `name=value` pairs, percent-decoded; `400` for a name not in
/// `allowed` or a value that is not UTF-8.
pub(super) fn query(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, Failure> {
    let mut out = Vec::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !allowed.contains(&name) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown query parameter {name:?} (known: {})",
                    allowed.join(", ")
                ),
            ));
        }
        let value = String::from_utf8(sip_message::percent_decode(value).into_owned())
            .map_err(|_| error(StatusCode::BAD_REQUEST, format!("{name} is not UTF-8")))?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// The value of `name` among `pairs`.
pub(super) fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

impl From<FieldError> for Failure {
    fn from(e: FieldError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ApiError {
                error: e.to_string(),
                field: Some(e.field),
            },
            challenges: Vec::new(),
        }
    }
}

/// The admin API's routes, over `state`. Serve it with the peer's address as
/// [`ConnectInfo`] (as [`serve_with_shutdown`] does): Basic credentials depend on it.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/version", get(version))
        .route("/api/local-dialing-plan", get(local_dialing_plan))
        .route("/metrics", get(metrics_text))
        .route(
            "/api/push-tokens",
            post(push_tokens::set_push_token)
                .delete(push_tokens::delete_push_token)
                .layer(DefaultBodyLimit::max(push_tokens::PUSH_BODY_LIMIT)),
        )
        .merge(registrations::routes())
        .merge(calls::routes())
        .merge(accounts::routes())
        .merge(answering::routes())
        .merge(api_clients::routes())
        .merge(routing::routes())
        .merge(app_billing::routes())
        .merge(billing::routes())
        .merge(billing_plans::routes())
        .route("/api/reload", post(crate::reload_api::reload))
        // Every route above (and any added later) passes the bearer check, which lets only
        // the public paths through without the token (see `auth`).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::bearer,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the admin API on `listener` until the process ends.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
) -> std::io::Result<()> {
    serve_with_shutdown(listener, state, std::future::pending()).await
}

/// Serves the admin API on `listener` until `shutdown` completes, then lets requests in
/// flight finish.
pub(crate) async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics_text(State(state): State<AdminState>) -> Response {
    match &state.metrics {
        Some(h) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            h.render(),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "metrics are not recorded").into_response(),
    }
}

async fn health(State(state): State<AdminState>) -> Json<Health> {
    let database =
        match tokio::time::timeout(std::time::Duration::from_secs(1), state.store.ping()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => format!("unreachable: {e}"),
            Err(_) => "unreachable: no answer within 1 s".to_owned(),
        };
    Json(Health {
        status: if database == "ok" { "ok" } else { "degraded" },
        database,
        write_queue: state.write_queue.get(),
    })
}

/// `GET /api/version`.
async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": "ferroswitch",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn local_dialing_plan(State(state): State<AdminState>) -> Response {
    match state.store.list_local_plan().await {
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
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the local dialing plan is unavailable: {e}"),
            )
            .into_response()
        }
    }
}

/// A request body that must be a JSON object.
pub(super) struct JsonObject(serde_json::Map<String, serde_json::Value>);

impl JsonObject {
    pub(super) fn parse(body: &[u8]) -> Result<Self, Failure> {
        match serde_json::from_slice(body) {
            Ok(serde_json::Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(error(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object, e.g. {\"instance\": \"<urn:uuid:...>\", \
                 \"token\": \"...\", \"platform\": \"apns\"}",
            )),
            Err(e) => Err(error(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON: {e}"),
            )),
        }
    }

    /// A string field; `None` when absent or `null`. Fields not asked for are ignored.
    pub(super) fn string(&self, field: &'static str) -> Result<Option<&str>, FieldError> {
        match self.0.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(FieldError {
                field,
                reason: "must be a string".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::net::SocketAddr;

    use store::LocalPlanRow;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    pub(super) const REALM: &str = "ferro.test";

    /// A migrated SQLite store in a temporary directory.
    pub(super) async fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ferro.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    pub(super) fn state(store: Store) -> AdminState {
        AdminState::new(store, REALM, 30_000, None)
    }

    /// The operator token of [`start_operator`], as a request header.
    pub(super) const AUTH: (&str, &str) = ("Authorization", "Bearer 0123456789abcdef0123");

    /// Starts the API over `store` with the operator token of [`AUTH`]; returns its address.
    pub(super) async fn start_operator(store: Store) -> SocketAddr {
        let mut s = state(store);
        s.token = Some(ferroswitch_config::AdminToken::new("0123456789abcdef0123"));
        start(s).await
    }

    /// Starts the API on 127.0.0.1:0; returns its address.
    pub(super) async fn start(state: AdminState) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, state));
        addr
    }

    /// One HTTP/1.1 GET over a fresh connection: (status, content type, body).
    pub(super) async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        request(addr, "GET", path, &[], "").await
    }

    /// One HTTP/1.1 request over a fresh connection: (status, content type, body).
    pub(super) async fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
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
        let addr = start(state(store)).await;
        let (status, content_type, body) = get(addr, "/api/health").await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/json");
        assert_eq!(body, r#"{"status":"ok","database":"ok","write_queue":0}"#);
        let (status, _, _) = get(addr, "/nothing-here").await;
        assert_eq!(status, 404);
        // an unknown /api path is an operator path: closed without a token
        let (status, _, _) = get(addr, "/api/nothing-here").await;
        assert_eq!(status, 403);
    }

    #[tokio::test]
    async fn local_dialing_plan_is_served_from_the_database_in_prefix_order() {
        let (_dir, store) = sqlite_store().await;
        let addr = start(state(store.clone())).await;
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
        let addr = start(state(store.clone())).await;
        store.close().await;
        let (status, content_type, body) = get(addr, "/api/local-dialing-plan").await;
        assert_eq!(status, 503);
        assert_eq!(content_type, "application/json");
        assert!(
            body.starts_with(r#"{"error":"the local dialing plan is unavailable: database list_local_plan failed"#),
            "{body}"
        );
        // Health says so, and still answers.
        let (status, _, body) = get(addr, "/api/health").await;
        assert_eq!(status, 200);
        assert!(
            body.starts_with(r#"{"status":"degraded","database":"unreachable: "#),
            "{body}"
        );
    }

    #[tokio::test]
    async fn serve_with_shutdown_stops_when_told() {
        let (_dir, store) = sqlite_store().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_with_shutdown(listener, state(store), async {
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
