//! `POST`/`DELETE /api/push-tokens`: the push tokens apps hand in (voipswitch EMCD's
//! `pn.ashx`).
//!
//! | request | answer |
//! |---|---|
//! | `POST /api/push-tokens` `{"instance":"<urn:uuid:...>","token":"...","platform":"apns","param":"..."}` (`param` optional) | `204` once stored for the **authenticated** login; `400 {"error":"...","field":"token"}` for a bad body; `401` + challenge; `403` disabled account; `503` database down |
//! | `DELETE /api/push-tokens` `{"instance":"<urn:uuid:...>"}` | `204` removed; `404` the device had no token; otherwise as `POST` |
//!
//! The push-token requests authenticate with the login's own SIP credentials (the
//! `clientsshared` HA1 values, realm = the registrar's realm): HTTP Digest (RFC 7616, MD5 and
//! SHA-256, `qop=auth`, `A2 = METHOD:request-uri`; nonces from a [`registrar::NonceKeeper`] of this API,
//! replays and expired nonces answered `401` with `stale=true`), or Basic when the TCP peer is
//! a loopback address (a TLS-terminating reverse proxy on this host). The login comes from
//! the credentials only: a body cannot name another login. Passwords and tokens are never
//! logged (a token only shortened). A stored or removed push token is also sent on
//! [`AdminState::push_changes`], so the SIP core can update its cache without waiting for
//! the database. The apps' balance and rates (`app_billing.rs`) authenticate the same way,
//! through [`authenticate`].

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use base64::Engine as _;
use registrar::NonceCheck;
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::Credentials;
use store::PushToken;

use super::{error, AdminState, Failure, JsonObject};
use crate::push_fields::{self, unix_secs};

/// The largest push-token request body: a token is at most 1024 characters.
pub(super) const PUSH_BODY_LIMIT: usize = 16 * 1024;

/// The digest algorithms challenged with, in this order (MD5 first: most HTTP clients take
/// the first challenge they know).
const ALGORITHMS: [Algorithm; 2] = [Algorithm::Md5, Algorithm::Sha256];

/// What a handler authenticated with SIP credentials needs of the request besides its body
/// (here and in `app_billing.rs`).
pub(super) struct RequestHead {
    pub(super) peer: IpAddr,
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
}

/// `POST /api/push-tokens`.
pub(super) async fn set_push_token(
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
pub(super) async fn delete_push_token(
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

/// Whether Basic credentials are accepted from `peer`: only over loopback, where a
/// TLS-terminating reverse proxy on this host forwards them (Basic sends the password).
fn basic_allowed_from(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

/// The login whose SIP credentials the request carries, or the answer to send: `401` with a
/// digest challenge (missing, wrong or stale credentials), `400` (malformed ones), `403`
/// (disabled account), `503` (database down).
pub(super) async fn authenticate(
    state: &AdminState,
    head: &RequestHead,
) -> Result<String, Failure> {
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
    // compare the HA1 values: equal-length inputs to a constant-time comparison
    let stored = crate::secrets::ha1(&account, &state.realm).unwrap_or_default();
    let given = crate::secrets::ha1_of(Algorithm::Sha256, login, &state.realm, password);
    if stored.sha256.is_empty() || !digest::eq_hex(&stored.sha256, &given) {
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
    let verdict = state
        .nonces()
        .verify(std::time::Instant::now(), &creds.nonce, nc);
    match verdict {
        NonceCheck::Valid => {}
        NonceCheck::Stale | NonceCheck::Replayed => {
            return Err(challenge(state, true, "stale nonce"))
        }
        NonceCheck::Invalid => return Err(challenge(state, false, "unknown nonce")),
    }
    let account = account(state, &creds.username, head.peer).await?;
    let ha1 = crate::secrets::ha1(&account, &state.realm).unwrap_or_default();
    if ha1.get(alg).is_empty() {
        return Err(wrong_password(state, &creds.username, head.peer));
    }
    let expected = digest::response(
        alg,
        ha1.get(alg),
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
    let recorded = state
        .nonces()
        .check(std::time::Instant::now(), &creds.nonce, nc);
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
    let nonce = state.nonces().issue(std::time::Instant::now());
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
    use registrar::NonceKeeper;
    use store::{NewAccount, Store};
    use tokio::sync::mpsc;

    use super::super::tests::{request, sqlite_store, start, state, REALM};
    use super::*;

    /// A store with the account `alice`/`secret` (and `dave`, disabled).
    async fn store_with_accounts() -> (tempfile::TempDir, Store) {
        let (dir, store) = sqlite_store().await;
        for login in ["alice", "dave"] {
            store
                .add_account(&NewAccount {
                    login: login.to_owned(),
                    secret: crate::secrets::secret(login, REALM, "secret", false),
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
        let foreign = NonceKeeper::new(b"other", 30_000).issue(std::time::Instant::now());
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
