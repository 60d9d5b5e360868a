//! The admin HTTP API (axum): health, the local dialing plan softphones download, and the
//! push tokens apps hand in (voipswitch EMCD's `pn.ashx`).
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/health` | `200 {"status":"ok"}` |
//! | `GET /api/local-dialing-plan` | `200 [{"prefix":"44","server":"sip1.company.com"}, ...]`, ordered by prefix; `503 {"error":"..."}` when the database cannot answer |
//! | `POST /api/push-tokens` `{"instance":"<urn:uuid:...>","token":"...","platform":"apns","param":"..."}` (`param` optional) | `204` once stored for the **authenticated** login; `400 {"error":"...","field":"token"}` for a bad body; `401` + challenge; `403` disabled account; `503` database down |
//! | `DELETE /api/push-tokens` `{"instance":"<urn:uuid:...>"}` | `204` removed; `404` the device had no token; otherwise as `POST` |
//!
//! The push-token requests authenticate with the login's own SIP credentials (the
//! `clientsshared` password, realm = the registrar's realm): HTTP Digest (RFC 7616, MD5 and
//! SHA-256, `qop=auth`, `A2 = METHOD:request-uri`; nonces from a [`NonceKeeper`] of this API,
//! replays and expired nonces answered `401` with `stale=true`), or Basic when the TCP peer is
//! a loopback address (a TLS-terminating reverse proxy on this host). The login comes from
//! the credentials only: a body cannot name another login. Passwords and tokens are never
//! logged (a token only shortened).
//!
//! The server takes an already bound listener ([`serve`]), so tests bind `127.0.0.1:0`. It
//! reads the database on each request: the plan is small and fetched rarely (softphones at
//! start), and operators expect `ferroswitch local-plan add` to show at once. A stored or
//! removed push token is also sent on [`AdminState::push_changes`], so the SIP core can
//! update its cache without waiting for the database.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use registrar::{NonceCheck, NonceKeeper};
use serde::Serialize;
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::Credentials;
use store::{PushToken, Store};
use tokio::sync::mpsc;

use crate::clock::unix_ms;
use crate::push_fields::{self, unix_secs, FieldError};

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
    /// `POST /api/reload` (`reload_api.rs`); none: not served.
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
            reloader: None,
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

    fn nonces(&self) -> std::sync::MutexGuard<'_, NonceKeeper> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

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
    /// The request body's field at fault, for a `400` about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

/// An error answer: a status, `{"error": ...}` and, for a `401`, the challenges.
#[derive(Debug)]
struct Failure {
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
fn error(status: StatusCode, message: impl Into<String>) -> Failure {
    Failure {
        status,
        body: ApiError {
            error: message.into(),
            field: None,
        },
        challenges: Vec::new(),
    }
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

/// The largest push-token request body: a token is at most 1024 characters.
const PUSH_BODY_LIMIT: usize = 16 * 1024;

/// The digest algorithms challenged with, in this order (MD5 first: most HTTP clients take
/// the first challenge they know).
const ALGORITHMS: [Algorithm; 2] = [Algorithm::Md5, Algorithm::Sha256];

/// The admin API's routes, over `state`. Serve it with the peer's address as
/// [`ConnectInfo`] (as [`serve_with_shutdown`] does): Basic credentials depend on it.
pub(crate) fn router(state: AdminState) -> Router {
    let reload = crate::reload_api::router(state.reloader.clone());
    Router::new()
        .route("/api/health", get(health))
        .route("/api/local-dialing-plan", get(local_dialing_plan))
        .route("/metrics", get(metrics_text))
        .route(
            "/api/push-tokens",
            post(set_push_token)
                .delete(delete_push_token)
                .layer(DefaultBodyLimit::max(PUSH_BODY_LIMIT)),
        )
        .with_state(state)
        .merge(reload)
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

async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
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

/// What a push-token handler needs of the request besides its body.
struct RequestHead {
    peer: IpAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

/// `POST /api/push-tokens`.
async fn set_push_token(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Failure> {
    let head = RequestHead {
        peer: peer.ip(),
        method,
        uri,
        headers,
    };
    let login = authenticate(&state, &head).await?;
    let fields = JsonObject::parse(&body)?;
    let instance = push_fields::instance(fields.string("instance")?.unwrap_or_default())?;
    let token = fields.string("token")?.unwrap_or_default();
    push_fields::token(token)?;
    let platform = push_fields::platform(fields.string("platform")?.unwrap_or_default())?;
    let param = fields.string("param")?.unwrap_or_default();
    push_fields::param(param)?;
    let stored = PushToken {
        login,
        instance,
        token: token.to_owned(),
        platform,
        param: param.to_owned(),
        updated_at: unix_secs(),
    };
    if let Err(e) = state.store.set_push_token(&stored).await {
        tracing::warn!(login = %stored.login, error = %e, "admin API: cannot store a push token");
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the push token could not be stored: {e}"),
        ));
    }
    tracing::info!(
        login = %stored.login,
        instance = %stored.instance,
        platform = %stored.platform,
        token = %push_fields::shortened(&stored.token, 8),
        "push token set by the app"
    );
    notify(&state, stored);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/push-tokens`.
async fn delete_push_token(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Failure> {
    let head = RequestHead {
        peer: peer.ip(),
        method,
        uri,
        headers,
    };
    let login = authenticate(&state, &head).await?;
    let fields = JsonObject::parse(&body)?;
    let instance = push_fields::instance(fields.string("instance")?.unwrap_or_default())?;
    let at = unix_secs();
    match state.store.delete_push_token(&login, &instance, at).await {
        Ok(true) => {
            tracing::info!(%login, %instance, "push token removed by the app");
            notify(
                &state,
                PushToken {
                    login,
                    instance,
                    token: String::new(),
                    platform: String::new(),
                    param: String::new(),
                    updated_at: at,
                },
            );
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(error(
            StatusCode::NOT_FOUND,
            format!("device {instance} of {login} has no push token"),
        )),
        Err(e) => {
            tracing::warn!(%login, error = %e, "admin API: cannot remove a push token");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the push token could not be removed: {e}"),
            ))
        }
    }
}

/// Hands a stored change to the SIP core, if one listens.
fn notify(state: &AdminState, change: PushToken) {
    if let Some(tx) = &state.push_changes {
        if tx.send(change).is_err() {
            tracing::debug!("admin API: nobody takes push token changes any more");
        }
    }
}

/// A request body that must be a JSON object.
struct JsonObject(serde_json::Map<String, serde_json::Value>);

impl JsonObject {
    fn parse(body: &[u8]) -> Result<Self, Failure> {
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
    fn string(&self, field: &'static str) -> Result<Option<&str>, FieldError> {
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

/// Whether Basic credentials are accepted from `peer`: only over loopback, where a
/// TLS-terminating reverse proxy on this host forwards them (Basic sends the password).
fn basic_allowed_from(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

/// The login whose SIP credentials the request carries, or the answer to send: `401` with a
/// digest challenge (missing, wrong or stale credentials), `400` (malformed ones), `403`
/// (disabled account), `503` (database down).
async fn authenticate(state: &AdminState, head: &RequestHead) -> Result<String, Failure> {
    let Some(value) = head.headers.get(AUTHORIZATION) else {
        return Err(challenge(state, false, "credentials required"));
    };
    let Ok(value) = value.to_str() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the Authorization header is not ASCII",
        ));
    };
    let value = value.trim();
    let scheme = value.split(' ').next().unwrap_or_default();
    if scheme.eq_ignore_ascii_case("Basic") {
        authenticate_basic(state, head.peer, value[scheme.len()..].trim()).await
    } else if scheme.eq_ignore_ascii_case("Digest") {
        authenticate_digest(state, head, value).await
    } else {
        Err(challenge(state, false, "use Digest credentials"))
    }
}

async fn authenticate_basic(
    state: &AdminState,
    peer: IpAddr,
    encoded: &str,
) -> Result<String, Failure> {
    if !basic_allowed_from(peer) {
        tracing::warn!(%peer, "admin API: Basic credentials refused from a peer that is not loopback");
        return Err(challenge(
            state,
            false,
            "Basic credentials are accepted only through a local reverse proxy; use Digest",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|d| String::from_utf8(d).ok());
    let Some((login, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "malformed Basic credentials: expected base64 of LOGIN:PASSWORD",
        ));
    };
    let account = account(state, login, peer).await?;
    // compare hashes: equal-length inputs to a constant-time comparison
    let hash = |p: &str| Algorithm::Sha256.hash_hex(&[p.as_bytes()]);
    if !digest::eq_hex(&hash(&account.password), &hash(password)) {
        return Err(wrong_password(state, login, peer));
    }
    enabled(account)
}

async fn authenticate_digest(
    state: &AdminState,
    head: &RequestHead,
    value: &str,
) -> Result<String, Failure> {
    let Ok(creds) = Credentials::parse(value) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "malformed Digest credentials (RFC 7616: username, realm, nonce, uri, response, \
             qop, nc, cnonce)",
        ));
    };
    if *creds.realm != *state.realm {
        return Err(challenge(state, false, "wrong realm"));
    }
    // no `algorithm` parameter means MD5
    let Some(alg) = creds
        .algorithm
        .as_deref()
        .map_or(Some(Algorithm::Md5), Algorithm::from_name)
    else {
        return Err(challenge(state, false, "unsupported digest algorithm"));
    };
    let qop_auth = match creds.qop.as_deref() {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => match (creds.nc, creds.cnonce.as_deref()) {
            (Some(nc), Some(cnonce)) => Some((format!("{nc:08x}"), cnonce)),
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "qop=auth needs nc and cnonce",
                ))
            }
        },
        Some(_) => return Err(error(StatusCode::BAD_REQUEST, "unsupported qop")),
    };
    // RFC 7616 §3.4.6: the digest covers the request-target this request was sent to
    let target = head.uri.path_and_query().map_or("/", |p| p.as_str());
    let absolute = head.uri.scheme().is_some() && head.uri == *creds.uri;
    if *creds.uri != *target && !absolute {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the digest uri does not match the request target",
        ));
    }
    let nc = qop_auth.as_ref().and(creds.nc);
    // judged now, recorded only once the response is proved right: a wrong guess must not
    // use up counts of the legitimate user
    let verdict = state.nonces().verify(unix_ms(), &creds.nonce, nc);
    match verdict {
        NonceCheck::Valid => {}
        NonceCheck::Stale | NonceCheck::Replayed => {
            return Err(challenge(state, true, "stale nonce"))
        }
        NonceCheck::Invalid => return Err(challenge(state, false, "unknown nonce")),
    }
    let account = account(state, &creds.username, head.peer).await?;
    let expected = digest::response(
        alg,
        &alg.ha1(&creds.username, &state.realm, &account.password),
        &ResponseParams {
            method: head.method.as_str(),
            uri: &creds.uri,
            nonce: &creds.nonce,
            qop_auth: qop_auth.as_ref().map(|(nc, cn)| (nc.as_str(), *cn)),
        },
    );
    if !digest::eq_hex(&expected, &creds.response) {
        return Err(wrong_password(state, &creds.username, head.peer));
    }
    let recorded = state.nonces().check(unix_ms(), &creds.nonce, nc);
    if recorded != NonceCheck::Valid {
        // another request with the same count got in between
        return Err(challenge(state, true, "stale nonce"));
    }
    enabled(account)
}

/// The account named by the credentials; an unknown login is answered like a wrong password.
async fn account(state: &AdminState, login: &str, peer: IpAddr) -> Result<store::Account, Failure> {
    match state.store.get_account(login).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(wrong_password(state, login, peer)),
        Err(e) => {
            tracing::warn!(error = %e, "admin API: cannot read an account to authenticate");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("accounts are unavailable: {e}"),
            ))
        }
    }
}

/// `401` for credentials that do not prove `login`, logged without them.
fn wrong_password(state: &AdminState, login: &str, peer: IpAddr) -> Failure {
    tracing::warn!(login = ?login, %peer, "admin API: wrong password or unknown login");
    challenge(state, false, "wrong login or password")
}

fn enabled(account: store::Account) -> Result<String, Failure> {
    if account.enabled {
        Ok(account.login)
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            format!("account {} is disabled", account.login),
        ))
    }
}

/// `401` with a fresh nonce, one `WWW-Authenticate: Digest` per algorithm.
fn challenge(state: &AdminState, stale: bool, why: &str) -> Failure {
    let nonce = state.nonces().issue(unix_ms());
    let mut challenges = Vec::with_capacity(ALGORITHMS.len());
    for alg in ALGORITHMS {
        let value = format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}{}",
            state.realm,
            alg.name(),
            if stale { ", stale=true" } else { "" }
        );
        match HeaderValue::try_from(value) {
            Ok(v) => challenges.push(v),
            Err(_) => {
                tracing::error!(realm = %state.realm, "admin API: the realm cannot go in a header")
            }
        }
    }
    Failure {
        challenges,
        ..error(
            StatusCode::UNAUTHORIZED,
            format!("authentication required: {why}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use store::{LocalPlanRow, NewAccount};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const REALM: &str = "ferro.test";

    /// A migrated SQLite store in a temporary directory.
    async fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ferro.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    fn state(store: Store) -> AdminState {
        AdminState::new(store, REALM, 30_000, None)
    }

    /// Starts the API on 127.0.0.1:0; returns its address.
    async fn start(state: AdminState) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, state));
        addr
    }

    /// One HTTP/1.1 GET over a fresh connection: (status, content type, body).
    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        request(addr, "GET", path, &[], "").await
    }

    /// One HTTP/1.1 request over a fresh connection: (status, content type, body).
    async fn request(
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
        assert_eq!(body, r#"{"status":"ok"}"#);
        let (status, _, _) = get(addr, "/api/nothing-here").await;
        assert_eq!(status, 404);
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
        // Health does not touch the database.
        assert_eq!(get(addr, "/api/health").await.0, 200);
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

    /// A store with the account `alice`/`secret` (and `dave`, disabled).
    async fn store_with_accounts() -> (tempfile::TempDir, Store) {
        let (dir, store) = sqlite_store().await;
        for login in ["alice", "dave"] {
            store
                .add_account(&NewAccount {
                    login: login.to_owned(),
                    password: "secret".to_owned(),
                    display_name: None,
                })
                .await
                .unwrap();
        }
        store
            .update_account(
                "dave",
                &store::AccountUpdate {
                    enabled: Some(false),
                    ..store::AccountUpdate::default()
                },
            )
            .await
            .unwrap();
        (dir, store)
    }

    fn basic(login: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"))
        )
    }

    const BODY: &str = r#"{"instance":"<urn:uuid:1>","token":"tok-0123456789","platform":"APNS"}"#;

    #[tokio::test]
    async fn stored_and_removed_tokens_are_sent_to_the_sip_core() {
        let (_dir, store) = store_with_accounts().await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let addr = start(AdminState::new(store.clone(), REALM, 30_000, Some(tx))).await;
        let auth = basic("alice", "secret");
        let headers = [("Authorization", auth.as_str())];
        let (status, _, body) = request(addr, "POST", "/api/push-tokens", &headers, BODY).await;
        assert_eq!(status, 204, "{body}");
        let sent = rx.try_recv().expect("sent after the write");
        assert_eq!(
            (
                sent.login.as_str(),
                sent.instance.as_str(),
                sent.token.as_str(),
                sent.platform.as_str(),
                sent.param.as_str()
            ),
            ("alice", "<urn:uuid:1>", "tok-0123456789", "apns", "")
        );
        assert_eq!(
            store.list_push_tokens(Some("alice")).await.unwrap(),
            std::slice::from_ref(&sent)
        );

        let delete = r#"{"instance":"<urn:uuid:1>"}"#;
        let (status, _, _) = request(addr, "DELETE", "/api/push-tokens", &headers, delete).await;
        assert_eq!(status, 204);
        let removed = rx.try_recv().expect("the removal is sent too");
        assert_eq!(
            (
                removed.login.as_str(),
                removed.instance.as_str(),
                removed.token.as_str()
            ),
            ("alice", "<urn:uuid:1>", "")
        );
        assert!(removed.updated_at >= sent.updated_at);
        let (status, _, _) = request(addr, "DELETE", "/api/push-tokens", &headers, delete).await;
        assert_eq!(status, 404);
        assert!(rx.try_recv().is_err(), "nothing changed, nothing sent");

        // a refused request sends nothing
        let wrong = basic("alice", "guess");
        let (status, _, _) = request(
            addr,
            "POST",
            "/api/push-tokens",
            &[("Authorization", &wrong)],
            BODY,
        )
        .await;
        assert_eq!(status, 401);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn basic_is_accepted_over_loopback_only() {
        for ip in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(basic_allowed_from(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "192.0.2.7",
            "10.0.0.1",
            "2001:db8::1",
            "::ffff:192.0.2.7",
            "0.0.0.0",
        ] {
            assert!(!basic_allowed_from(ip.parse().unwrap()), "{ip}");
        }
    }

    fn head(peer: &str, authorization: &str, uri: &str) -> RequestHead {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        RequestHead {
            peer: peer.parse().unwrap(),
            method: Method::POST,
            uri: uri.parse().unwrap(),
            headers,
        }
    }

    /// The digest challenges of a 401, by algorithm name.
    fn challenges(r: &Failure) -> Vec<(String, String, bool)> {
        r.challenges
            .iter()
            .map(|v| {
                let c = sip_message::Challenge::parse(v.to_str().unwrap()).unwrap();
                assert_eq!((c.realm.as_ref(), c.qop.as_deref()), (REALM, Some("auth")));
                (
                    c.algorithm.unwrap().into_owned(),
                    c.nonce.into_owned(),
                    c.stale,
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn authentication_decisions() {
        let (_dir, store) = store_with_accounts().await;
        let state = state(store.clone());
        let path = "/api/push-tokens";

        // Basic: the right password from loopback; nothing from elsewhere
        let ok = basic("alice", "secret");
        assert_eq!(
            authenticate(&state, &head("127.0.0.1", &ok, path))
                .await
                .unwrap(),
            "alice"
        );
        let refused = authenticate(&state, &head("192.0.2.7", &ok, path))
            .await
            .unwrap_err();
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let c = challenges(&refused);
        assert_eq!(
            c.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["MD5", "SHA-256"]
        );
        assert_eq!(c[0].1, c[1].1, "one nonce for both");
        assert!(!c[0].2);
        let disabled = authenticate(&state, &head("127.0.0.1", &basic("dave", "secret"), path))
            .await
            .unwrap_err();
        assert_eq!(disabled.status, StatusCode::FORBIDDEN);
        let garbage = authenticate(&state, &head("127.0.0.1", "Basic !!!", path))
            .await
            .unwrap_err();
        assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

        // Digest over a non-loopback peer, SHA-256
        let nonce = challenges(&refused)[1].1.clone();
        let digest = |alg: Algorithm, nonce: &str, uri: &str, nc: &str, password: &str| {
            let ha1 = alg.ha1("alice", REALM, password);
            let response = digest::response(
                alg,
                &ha1,
                &ResponseParams {
                    method: "POST",
                    uri,
                    nonce,
                    qop_auth: Some((nc, "c0ffee")),
                },
            );
            format!(
                "Digest username=\"alice\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                 response=\"{response}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"c0ffee\"",
                alg.name()
            )
        };
        let good = digest(Algorithm::Sha256, &nonce, path, "00000001", "secret");
        assert_eq!(
            authenticate(&state, &head("192.0.2.7", &good, path))
                .await
                .unwrap(),
            "alice"
        );
        // the same count again: a replay, answered with a stale challenge
        let replay = authenticate(&state, &head("192.0.2.7", &good, path))
            .await
            .unwrap_err();
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
        assert!(challenges(&replay)[0].2, "stale=true");
        // a wrong password does not use up the next count
        let wrong = digest(Algorithm::Md5, &nonce, path, "00000002", "guess");
        let r = authenticate(&state, &head("192.0.2.7", &wrong, path))
            .await
            .unwrap_err();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(!challenges(&r)[0].2);
        let next = digest(Algorithm::Md5, &nonce, path, "00000002", "secret");
        assert_eq!(
            authenticate(&state, &head("192.0.2.7", &next, path))
                .await
                .unwrap(),
            "alice"
        );
        // a digest for another target is not one for this request
        let other = digest(Algorithm::Md5, &nonce, "/api/other", "00000003", "secret");
        let r = authenticate(&state, &head("192.0.2.7", &other, path))
            .await
            .unwrap_err();
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        // a nonce this API did not issue
        let foreign = NonceKeeper::new(b"other", 30_000).issue(unix_ms());
        let r = authenticate(
            &state,
            &head(
                "192.0.2.7",
                &digest(Algorithm::Md5, &foreign, path, "00000001", "secret"),
                path,
            ),
        )
        .await
        .unwrap_err();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(!challenges(&r)[0].2, "not stale: unknown");
        // no credentials, or another scheme: a challenge
        let mut h = head("127.0.0.1", "Bearer abc", path);
        let r = authenticate(&state, &h).await.unwrap_err();
        assert_eq!(challenges(&r).len(), 2);
        h.headers.clear();
        let r = authenticate(&state, &h).await.unwrap_err();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn push_token_requests_answer_503_when_the_database_is_down() {
        let (_dir, store) = store_with_accounts().await;
        let addr = start(state(store.clone())).await;
        store.close().await;
        let auth = basic("alice", "secret");
        let (status, content_type, body) = request(
            addr,
            "POST",
            "/api/push-tokens",
            &[("Authorization", &auth)],
            BODY,
        )
        .await;
        assert_eq!((status, content_type.as_str()), (503, "application/json"));
        assert!(body.starts_with(r#"{"error":"#), "{body}");
    }
}
