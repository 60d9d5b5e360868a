//! `/session`: the seed's one path for both kinds of session.
//!
//! - A **registration** (RACM) session: `POST /session {"type":"registration","login":..}`
//!   makes the login usable from the app; it lives as long as the token that created it and
//!   `PUT /session/{id}` with a newer token extends it; `DELETE` ends it.
//! - A **voice** session: `POST /session {"type":"voice","login":..,"destination":..}` places
//!   a call, click-to-call without `sdp` (the login's own devices ring first), from the API
//!   endpoint with `sdp` (the offer; the answer comes in the `connected` event). It needs a
//!   live registration session of the login. `PUT /session/{id}/status` changes it, `DELETE`
//!   hangs up, `GET /session` and `GET /session/{id}` read calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use b2bua::third_party::{ApiCallInfo, CallKind, CommandError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::agent::Action;
use super::token::{authorize, in_scope, unix_s, Claims};
use super::{random_id, ApiFailure, ApiState};

/// A registration session.
#[derive(Debug, Clone)]
struct Registration {
    login: String,
    client: String,
    /// Epoch seconds: the token's expiry.
    expires_at: u64,
    /// The endpoint is a browser (`"endpoint": "webrtc"`).
    webrtc: bool,
}

/// The registration sessions, by id.
#[derive(Clone, Default)]
pub(crate) struct Registrations {
    map: Arc<Mutex<HashMap<String, Registration>>>,
}

impl Registrations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Registration>> {
        let mut m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let now = unix_s();
        m.retain(|_, r| r.expires_at > now);
        m
    }

    /// Whether `login` has a live registration session.
    pub(crate) fn has_login(&self, login: &str) -> bool {
        self.lock().values().any(|r| r.login == login)
    }
}

/// `POST /session` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSession {
    /// `registration` (default) or `voice`.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    /// The login (in the token's scope).
    login: String,
    /// `voice`: the number or login to call.
    destination: Option<String>,
    /// `voice` from the API endpoint: the SDP offer. Without it, click-to-call.
    sdp: Option<String>,
    /// `registration`: what the app's endpoint speaks, `rtp` (default: plain RTP, its SDP
    /// passes unchanged) or `webrtc` (a browser: calls to it are offered ICE + DTLS-SRTP by
    /// the relay's WebRTC gateway).
    endpoint: Option<String>,
}

/// A session as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionInfo {
    /// `reg-...` for a registration, `call-N` for a voice session.
    id: String,
    /// `registration` or `voice`.
    #[serde(rename = "type")]
    kind: &'static str,
    login: String,
    /// Registration: epoch seconds when it ends (with its token).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    /// Voice: the destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
    /// Voice: `click_to_call` or `endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    /// Voice: a name of the status table.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

fn voice_info(c: &ApiCallInfo) -> SessionInfo {
    SessionInfo {
        id: format!("call-{}", c.id),
        kind: "voice",
        login: c.login.clone(),
        expires_at: None,
        destination: Some(c.destination.clone()),
        mode: Some(match c.kind {
            CallKind::ClickToCall => "click_to_call",
            CallKind::Endpoint => "endpoint",
            CallKind::Incoming => "incoming",
        }),
        status: Some(c.status.name()),
    }
}

fn call_id(id: &str) -> Option<u64> {
    id.strip_prefix("call-")?.parse().ok()
}

fn agent_failure(e: CommandError) -> ApiFailure {
    let status = match e {
        CommandError::NoSuchCall => StatusCode::NOT_FOUND,
        CommandError::NotConnected | CommandError::Over => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiFailure::new(status, e.to_string())
}

fn gone() -> ApiFailure {
    ApiFailure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the call agent did not answer",
    )
}

/// Creates a registration or a voice session.
#[utoipa::path(post, path = "/session", tag = "sessions", request_body = NewSession,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "created", body = SessionInfo),
        (status = 400, body = super::ErrorBody),
        (status = 401, description = "Unauthorized: invalid credentials", body = super::ErrorBody),
        (status = 403, description = "login outside the scope, or no registration session", body = super::ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let req: NewSession = super::json_body(&body)?;
    let claims = in_scope(claims, &req.login)?;
    match req.kind.as_deref().unwrap_or("registration") {
        "registration" => {
            let webrtc = match req.endpoint.as_deref().unwrap_or("rtp") {
                "rtp" => false,
                "webrtc" => true,
                other => {
                    return Err(ApiFailure::new(
                        StatusCode::BAD_REQUEST,
                        format!("unknown endpoint {other:?}: rtp or webrtc"),
                    ))
                }
            };
            register(&state, &claims, req.login, webrtc).await
        }
        "voice" => voice(&state, req).await,
        other => Err(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            format!("unknown session type {other:?}: registration or voice"),
        )),
    }
}

/// Points `login` at the API agent until `expires_at` (epoch s), or removes that binding.
/// A WebRTC endpoint's contact carries `endpoint=webrtc`: the B2BUA then tells the relay
/// the callee is a browser (`b2bua::route`), and a plain caller's offer reaches the app as
/// the gateway's WebRTC offer.
fn bind(state: &ApiState, id: &str, login: &str, expires_at: Option<u64>, webrtc: bool) {
    let key = format!("api-{id}");
    let binding = expires_at.map(|exp| {
        let endpoint = if webrtc { ";endpoint=webrtc" } else { "" };
        Box::new(registrar::Binding {
            key: key.clone(),
            contact: format!(
                "sip:{login}@{};api-session={id}{endpoint}",
                state.agent_addr
            ),
            instance: None,
            reg_id: None,
            q_milli: None,
            // the token's wall-clock expiry as the registrar's monotonic time
            expires_at: std::time::Instant::now()
                + std::time::Duration::from_secs(exp.saturating_sub(unix_s())),
            call_id: id.to_owned(),
            cseq: 1,
            source: sip_message::Peer {
                transport: sip_message::Transport::Udp,
                remote: state.agent_addr,
                local: state.switch,
                conn: None,
            },
            reach: registrar::Reach::Flow,
            path: None,
            user_agent: Some("ferroswitch-api".into()),
            updated_at: std::time::Instant::now(),
        })
    });
    let r = state.core.tell(crate::operator::CoreRequest::ApiBinding {
        login: login.to_owned(),
        key,
        binding,
    });
    if r.is_err() {
        tracing::warn!(session = %id, "the SIP core is gone: binding not changed");
    }
}

async fn register(
    state: &ApiState,
    claims: &Claims,
    login: String,
    webrtc: bool,
) -> Result<Response, ApiFailure> {
    let id = format!("reg-{}", random_id());
    let row = store::ApiSession {
        id: id.clone(),
        login: login.clone(),
        client_id: claims.sub.clone(),
        endpoint: if webrtc { "webrtc" } else { "rtp" }.to_owned(),
        expires_at: i64::try_from(claims.exp).unwrap_or(i64::MAX),
    };
    state
        .store
        .add_api_session(&row)
        .await
        .map_err(super::store_failure)?;
    restore(state, &row);
    tracing::info!(session = %id, %login, client = %claims.sub, "API registration session");
    let info = SessionInfo {
        id,
        kind: "registration",
        login,
        expires_at: Some(claims.exp),
        destination: None,
        mode: None,
        status: None,
    };
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// Makes the registration session `row` live (new, or stored before a restart): the map
/// entry and the login's binding to the agent.
pub(crate) fn restore(state: &ApiState, row: &store::ApiSession) {
    let expires_at = u64::try_from(row.expires_at).unwrap_or(0);
    let webrtc = row.endpoint == "webrtc";
    bind(state, &row.id, &row.login, Some(expires_at), webrtc);
    state.registrations.lock().insert(
        row.id.clone(),
        Registration {
            login: row.login.clone(),
            client: row.client_id.clone(),
            expires_at,
            webrtc,
        },
    );
}

async fn voice(state: &ApiState, req: NewSession) -> Result<Response, ApiFailure> {
    let Some(destination) = req.destination else {
        return Err(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "a voice session needs a destination",
        ));
    };
    if !state.registrations.has_login(&req.login) {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            format!(
                "no registration session for {:?}: POST /session first",
                req.login
            ),
        ));
    }
    let action = match req.sdp {
        Some(sdp) => Action::FromEndpoint {
            login: req.login,
            destination,
            sdp,
        },
        None => Action::ClickToCall {
            login: req.login,
            destination,
        },
    };
    let id = state
        .agent
        .act(action)
        .await
        .map_err(|_| gone())?
        .map_err(agent_failure)?;
    let info = state.agent.get(id).await.map_err(|_| gone())?;
    let info = info.ok_or_else(|| ApiFailure::new(StatusCode::NOT_FOUND, "no such call"))?;
    Ok((StatusCode::CREATED, Json(voice_info(&info))).into_response())
}

/// Lists the voice sessions of the token's logins.
#[utoipa::path(get, path = "/session", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = [SessionInfo]), (status = 401, body = super::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<Vec<SessionInfo>>, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let calls = state.agent.list().await.map_err(|_| gone())?;
    Ok(Json(
        calls
            .iter()
            .filter(|c| claims.allows(&c.login))
            .map(voice_info)
            .collect(),
    ))
}

/// Reads one session.
#[utoipa::path(get, path = "/session/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = SessionInfo), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn read(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let not_found = || ApiFailure::new(StatusCode::NOT_FOUND, "no such session");
    if let Some(n) = call_id(&id) {
        let c = state
            .agent
            .get(n)
            .await
            .map_err(|_| gone())?
            .ok_or_else(not_found)?;
        if !claims.allows(&c.login) {
            return Err(not_found());
        }
        return Ok(Json(voice_info(&c)));
    }
    let r = state
        .registrations
        .lock()
        .get(&id)
        .cloned()
        .ok_or_else(not_found)?;
    if r.client != claims.sub {
        return Err(not_found());
    }
    Ok(Json(SessionInfo {
        id,
        kind: "registration",
        login: r.login,
        expires_at: Some(r.expires_at),
        destination: None,
        mode: None,
        status: None,
    }))
}

/// Refreshes a registration session with the request's (newer) token.
#[utoipa::path(put, path = "/session/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "registration session id")),
    responses((status = 200, body = SessionInfo), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn refresh(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let mut r = state
        .registrations
        .lock()
        .get(&id)
        .filter(|r| r.client == claims.sub && claims.allows(&r.login))
        .cloned()
        .ok_or_else(|| ApiFailure::new(StatusCode::NOT_FOUND, "no such registration session"))?;
    r.expires_at = r.expires_at.max(claims.exp);
    state
        .store
        .refresh_api_session(&id, i64::try_from(r.expires_at).unwrap_or(i64::MAX))
        .await
        .map_err(super::store_failure)?;
    bind(&state, &id, &r.login, Some(r.expires_at), r.webrtc);
    if let Some(live) = state.registrations.lock().get_mut(&id) {
        live.expires_at = r.expires_at;
    }
    Ok(Json(SessionInfo {
        id,
        kind: "registration",
        login: r.login.clone(),
        expires_at: Some(r.expires_at),
        destination: None,
        mode: None,
        status: None,
    }))
}

/// Ends a session: de-registers, or hangs the call up.
#[utoipa::path(delete, path = "/session/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 204), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    if let Some(n) = call_id(&id) {
        own_call(&state, &claims, n).await?;
        state
            .agent
            .act(Action::HangUp(n))
            .await
            .map_err(|_| gone())?
            .map_err(agent_failure)?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let r = state
        .registrations
        .lock()
        .get(&id)
        .filter(|r| r.client == claims.sub)
        .cloned()
        .ok_or_else(|| ApiFailure::new(StatusCode::NOT_FOUND, "no such session"))?;
    state
        .store
        .remove_api_session(&id)
        .await
        .map_err(super::store_failure)?;
    bind(&state, &id, &r.login, None, r.webrtc);
    state.registrations.lock().remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

async fn own_call(state: &ApiState, claims: &Claims, n: u64) -> Result<(), ApiFailure> {
    let c = state.agent.get(n).await.map_err(|_| gone())?;
    match c {
        Some(c) if claims.allows(&c.login) => Ok(()),
        _ => Err(ApiFailure::new(StatusCode::NOT_FOUND, "no such call")),
    }
}

/// `PUT /session/{id}/status` body: one of `status`, `dtmf`, `transfer_to`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusChange {
    /// `hold`, `resumed`, `terminating` (hang up, or decline an incoming call) or
    /// `connected` (answer an incoming call, with `sdp`).
    status: Option<String>,
    /// `connected`: the SDP answer to the caller's offer.
    sdp: Option<String>,
    /// DTMF digits to send (0-9, *, #, A-D), as SIP INFO `application/dtmf-relay`.
    dtmf: Option<String>,
    /// Blind transfer: the number or login the destination is referred to (REFER).
    transfer_to: Option<String>,
}

/// Changes a voice session: hold, resume, hang up, DTMF, blind transfer.
#[utoipa::path(put, path = "/session/{id}/status", tag = "sessions", request_body = StatusChange,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "voice session id (call-N)")),
    responses((status = 202, description = "sent; the outcome comes as an event", body = SessionInfo),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, description = "not connected", body = super::ErrorBody)))]
pub(crate) async fn change(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    let claims = authorize(&state, &headers)?;
    let req: StatusChange = super::json_body(&body)?;
    let n = call_id(&id).ok_or_else(|| ApiFailure::new(StatusCode::NOT_FOUND, "no such call"))?;
    own_call(&state, &claims, n).await?;
    if req.sdp.is_some() && req.status.as_deref() != Some("connected") {
        return Err(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "sdp goes with status connected",
        ));
    }
    let action = match (req.status.as_deref(), req.dtmf, req.transfer_to) {
        (Some("connected"), None, None) => match req.sdp {
            Some(sdp) => Action::Answer(n, sdp),
            None => {
                return Err(ApiFailure::new(
                    StatusCode::BAD_REQUEST,
                    "answering (status connected) needs the sdp answer",
                ))
            }
        },
        (Some("hold"), None, None) => Action::Hold(n),
        (Some("resumed"), None, None) => Action::Resume(n),
        (Some("terminating"), None, None) => Action::HangUp(n),
        (None, Some(d), None) => Action::Dtmf(n, d),
        (None, None, Some(t)) => Action::Transfer(n, t),
        (Some(s), None, None) => {
            return Err(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                format!("status {s:?} cannot be set: connected, hold, resumed or terminating"),
            ))
        }
        _ => {
            return Err(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "give exactly one of status, dtmf, transfer_to",
            ))
        }
    };
    state
        .agent
        .act(action)
        .await
        .map_err(|_| gone())?
        .map_err(agent_failure)?;
    let info = state.agent.get(n).await.map_err(|_| gone())?;
    let info = info.ok_or_else(|| ApiFailure::new(StatusCode::NOT_FOUND, "no such call"))?;
    Ok((StatusCode::ACCEPTED, Json(voice_info(&info))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_sessions_end_with_their_token() {
        let r = Registrations::default();
        let reg = |exp| Registration {
            login: "alice".into(),
            client: "crm".into(),
            expires_at: exp,
            webrtc: false,
        };
        r.lock().insert("old".into(), reg(unix_s() - 1));
        assert!(!r.has_login("alice"), "an expired token's session is gone");
        r.lock().insert("new".into(), reg(unix_s() + 60));
        assert!(r.has_login("alice"));
        assert!(!r.has_login("bob"));
    }
}
