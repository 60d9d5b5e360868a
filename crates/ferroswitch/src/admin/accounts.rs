//! Accounts CRUD, what `ferroswitch account ...` does, for provisioning systems. The same
//! checks as the CLI; passwords are stored as HA1 values for the registrar's realm (see
//! `crate::secrets`) and never shown. Each write is applied to the running SIP core before
//! the answer (see `crate::account_sync`): the next REGISTER, INVITE or MESSAGE sees it.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/accounts` | `200 [account, ...]` by login |
//! | `GET /api/accounts/{login}` | `200 account`; `404` |
//! | `POST /api/accounts` `{"login","password","display_name"?}` | `201 account`; `409` when the login exists |
//! | `PATCH /api/accounts/{login}` `{"password"?,"display_name"?,"tech_prefix"?,"voicemail_uri"?,"enabled"?}` (`""` clears a text field) | `200 account`; `404` |
//! | `DELETE /api/accounts/{login}` | `204` (its bindings go too); `404` |
//! | `POST /api/accounts/sync` | `204` once the SIP core applied the account changes in storage (what the CLI calls after its writes) |
//! | `POST /api/accounts/import` `[{"login","password","display_name"?}, ...]` (up to 8 MiB) | `200 {"inserted":n,"updated":m}` |
//!
//! An account: `{"login","display_name","tech_prefix","voicemail_uri","enabled","created_at"}`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use store::{AccountUpdate, NewAccount, StoreError};

use super::{db_failure, error, json_body, AdminState, Failure};
use crate::accounts::{check_login, check_tech_prefix, check_voicemail_uri};

/// The largest import body (some 50,000 accounts).
const IMPORT_LIMIT: usize = 8 * 1024 * 1024;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/accounts", get(list).post(add))
        .route("/api/accounts/sync", post(sync))
        .route(
            "/api/accounts/import",
            post(import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
        )
        .route(
            "/api/accounts/{login}",
            get(one).patch(change).delete(remove),
        )
}

/// An account as the API shows it (never its credentials).
#[derive(Debug, Serialize)]
struct AccountView {
    login: String,
    display_name: Option<String>,
    tech_prefix: String,
    voicemail_uri: Option<String>,
    enabled: bool,
    created_at: i64,
}

impl From<store::Account> for AccountView {
    fn from(a: store::Account) -> Self {
        Self {
            login: a.login,
            display_name: a.display_name,
            tech_prefix: a.tech_prefix,
            voicemail_uri: a.voicemail_uri,
            enabled: a.enabled,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBody {
    login: String,
    password: String,
    display_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    password: Option<String>,
    display_name: Option<String>,
    tech_prefix: Option<String>,
    voicemail_uri: Option<String>,
    enabled: Option<bool>,
}

fn bad(e: anyhow::Error) -> Failure {
    error(StatusCode::BAD_REQUEST, format!("{e:#}"))
}

/// `400` for what the store refuses as input, `503` for the database.
fn store_failure(what: &str, e: &StoreError) -> Failure {
    if e.is_transient() {
        db_failure(what, e)
    } else {
        error(StatusCode::BAD_REQUEST, format!("{what}: {e}"))
    }
}

impl AdminState {
    fn new_account(&self, b: NewBody) -> Result<NewAccount, Failure> {
        check_login(&b.login).map_err(bad)?;
        if b.password.is_empty() {
            return Err(error(StatusCode::BAD_REQUEST, "password must not be empty"));
        }
        Ok(NewAccount {
            secret: crate::secrets::secret(
                &b.login,
                &self.realm,
                &b.password,
                self.keep_plain_passwords,
            ),
            login: b.login,
            display_name: b.display_name.filter(|d| !d.is_empty()),
        })
    }

    async fn view(&self, login: &str) -> Result<AccountView, Failure> {
        match self.store.get_account(login).await {
            Ok(Some(a)) => Ok(a.into()),
            Ok(None) => Err(error(
                StatusCode::NOT_FOUND,
                format!("no account {login:?}"),
            )),
            Err(e) => Err(db_failure("reading the account", &e)),
        }
    }
}

async fn list(State(state): State<AdminState>) -> Result<Json<Vec<AccountView>>, Failure> {
    let all = state
        .store
        .list_accounts()
        .await
        .map_err(|e| db_failure("listing accounts", &e))?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

async fn one(
    State(state): State<AdminState>,
    Path(login): Path<String>,
) -> Result<Json<AccountView>, Failure> {
    state.view(&login).await.map(Json)
}

async fn add(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AccountView>), Failure> {
    let account = state.new_account(json_body(body)?)?;
    match state.store.add_account(&account).await {
        Ok(()) => {}
        Err(StoreError::AccountExists { login }) => {
            return Err(error(
                StatusCode::CONFLICT,
                format!("account {login:?} exists; PATCH it to change it"),
            ))
        }
        Err(e) => return Err(store_failure("adding the account", &e)),
    }
    tracing::info!(login = %account.login, "account added through the admin API");
    state.accounts_changed().await;
    Ok((StatusCode::CREATED, Json(state.view(&account.login).await?)))
}

async fn change(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AccountView>, Failure> {
    let b: ChangeBody = json_body(body)?;
    let update = AccountUpdate {
        display_name: b.display_name.map(|d| Some(d).filter(|d| !d.is_empty())),
        tech_prefix: b
            .tech_prefix
            .as_deref()
            .map(check_tech_prefix)
            .transpose()
            .map_err(bad)?,
        voicemail_uri: match b.voicemail_uri.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(uri) => Some(Some(check_voicemail_uri(uri).map_err(bad)?)),
        },
        enabled: b.enabled,
    };
    if update.is_empty() && b.password.is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "nothing to change: give password, display_name, tech_prefix, voicemail_uri or enabled",
        ));
    }
    let not_found = || error(StatusCode::NOT_FOUND, format!("no account {login:?}"));
    if let Some(password) = &b.password {
        if password.is_empty() {
            return Err(error(StatusCode::BAD_REQUEST, "password must not be empty"));
        }
        let secret =
            crate::secrets::secret(&login, &state.realm, password, state.keep_plain_passwords);
        match state.store.set_secret(&login, &secret).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found()),
            Err(e) => return Err(store_failure("setting the password", &e)),
        }
    }
    if !update.is_empty() {
        match state.store.update_account(&login, &update).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found()),
            Err(e) => return Err(store_failure("changing the account", &e)),
        }
    }
    tracing::info!(%login, password = b.password.is_some(), "account changed through the admin API");
    state.accounts_changed().await;
    state.view(&login).await.map(Json)
}

async fn remove(
    State(state): State<AdminState>,
    Path(login): Path<String>,
) -> Result<StatusCode, Failure> {
    match state.store.delete_account(&login).await {
        Ok(true) => {
            tracing::info!(%login, "account deleted through the admin API");
            state.accounts_changed().await;
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no account {login:?}"),
        )),
        Err(e) => Err(db_failure("deleting the account", &e)),
    }
}

async fn import(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let rows: Vec<NewBody> = json_body(body)?;
    let mut accounts = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let a = state.new_account(row).map_err(|mut f| {
            f.body.error = format!("row {i}: {}", f.body.error);
            f
        })?;
        accounts.push(a);
    }
    let report = state
        .store
        .import_accounts(&accounts, &mut |_| {})
        .await
        .map_err(|e| store_failure("importing accounts", &e))?;
    state.accounts_changed().await;
    Ok(Json(serde_json::json!({
        "inserted": report.inserted,
        "updated": report.updated,
    })))
}

async fn sync(State(state): State<AdminState>) -> StatusCode {
    state.accounts_changed().await;
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::super::tests::{request, sqlite_store, start_operator, AUTH, REALM};

    #[tokio::test]
    async fn accounts_crud_stores_ha1_values_and_never_shows_them() {
        let (_dir, store) = sqlite_store().await;
        let addr = start_operator(store.clone()).await;
        let call = |method: &'static str, path: &'static str, body: &'static str| async move {
            request(addr, method, path, &[AUTH], body).await
        };
        let (status, _, body) = call(
            "POST",
            "/api/accounts",
            r#"{"login":"carol","password":"c4rol","display_name":"Carol"}"#,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert!(!body.contains("c4rol") && !body.contains("ha1"), "{body}");
        let stored = store.get_account("carol").await.unwrap().unwrap();
        assert_eq!(stored.secret.password, None);
        assert_eq!(stored.secret.realm, REALM);
        assert_eq!(
            stored.secret.ha1,
            sip_message::digest::Algorithm::Md5.ha1("carol", REALM, "c4rol")
        );
        let (status, _, _) = call(
            "POST",
            "/api/accounts",
            r#"{"login":"carol","password":"x"}"#,
        )
        .await;
        assert_eq!(status, 409);
        for (body, field) in [
            (
                r#"{"login":"bad login","password":"x"}"#,
                "not a valid SIP user part",
            ),
            (r#"{"login":"dave","password":""}"#, "password"),
            (r#"{"login":"dave"}"#, "missing field `password`"),
            (
                r#"{"login":"dave","password":"x","admin":true}"#,
                "unknown field `admin`",
            ),
        ] {
            let (status, _, text) = request(addr, "POST", "/api/accounts", &[AUTH], body).await;
            assert_eq!(status, 400, "{body}: {text}");
            assert!(text.contains(field), "{body}: {text}");
        }
        let (status, _, body) = call(
            "PATCH",
            "/api/accounts/carol",
            r#"{"tech_prefix":"DP:00->48","enabled":false,"voicemail_uri":"sip:vm@10.0.0.5"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains(r#""enabled":false"#) && body.contains("DP:00->48"),
            "{body}"
        );
        let (status, _, body) =
            call("PATCH", "/api/accounts/carol", r#"{"tech_prefix":"??"}"#).await;
        assert_eq!(status, 400, "{body}");
        let (status, _, _) = call("PATCH", "/api/accounts/nobody", r#"{"enabled":true}"#).await;
        assert_eq!(status, 404);
        let (status, _, body) = call("GET", "/api/accounts", "").await;
        assert_eq!(status, 200);
        assert!(body.starts_with(r#"[{"login":"carol""#), "{body}");
        let (status, _, body) = call(
            "POST",
            "/api/accounts/import",
            r#"[{"login":"carol","password":"n3w"},{"login":"erin","password":"e"}]"#,
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"inserted":1,"updated":1}"#)
        );
        assert_eq!(call("DELETE", "/api/accounts/carol", "").await.0, 204);
        assert_eq!(call("DELETE", "/api/accounts/carol", "").await.0, 404);
        assert_eq!(call("GET", "/api/accounts/carol", "").await.0, 404);
    }
}
