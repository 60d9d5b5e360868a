//! An account's answering rules (docs/voicemail.md), what `ferroswitch rules ...` does, with
//! the same checks (`crate::answering_cli`). Each write is applied to the running SIP core's
//! account cache before the answer. Positions are 1-based; a rule is
//! `{"caller","when","action"}` (`*` or a caller-ID prefix; always, busy, no-answer,
//! unavailable; voicemail, forward:NUMBER, reject:CODE, ring:SECONDS).
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/accounts/{login}/answering-rules` | `200 {"login","default":bool,"rules":[{"position","caller","when","action"}, ...]}` |
//! | `PUT /api/accounts/{login}/answering-rules` `{"rules":[rule, ...]}` | `200` the list (replaced whole: reorder, clear) |
//! | `POST /api/accounts/{login}/answering-rules` `{"caller","when","action","position"?}` | `201` the list |
//! | `DELETE /api/accounts/{login}/answering-rules/{position}` | `200` the list; `404` |
//! | `POST /api/accounts/{login}/answering-rules/{position}/move` `{"to":M}` | `200` the list; `404` |
//!
//! `404` for an unknown account, `400` for a bad rule or position (the message says which).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use voicemail::rules::Rule;

use super::{db_failure, error, json_body, AdminState, Failure};
use crate::answering_cli::{self, Edit};

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route(
            "/api/accounts/{login}/answering-rules",
            get(list).put(replace).post(add),
        )
        .route(
            "/api/accounts/{login}/answering-rules/{position}",
            delete(remove),
        )
        .route(
            "/api/accounts/{login}/answering-rules/{position}/move",
            post(move_rule),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    caller: String,
    when: String,
    action: String,
    position: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesBody {
    rules: Vec<RuleBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    to: usize,
}

fn rule(b: &RuleBody) -> Result<Rule, Failure> {
    Rule::parse(&format!("{} {} {}", b.caller, b.when, b.action))
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))
}

fn body(login: &str, rules: &[Rule]) -> Json<Value> {
    let list: Vec<Value> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let text = r.to_string();
            let f: Vec<&str> = text.splitn(3, ' ').collect();
            json!({"position": i + 1, "caller": f[0], "when": f[1], "action": f[2]})
        })
        .collect();
    Json(json!({"login": login, "default": rules.is_empty(), "rules": list}))
}

/// 404 for an unknown account (the edit checks the rest).
async fn account(state: &AdminState, login: &str) -> Result<(), Failure> {
    crate::accounts::check_login(login)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    match state.store.get_account(login).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no such account {login}"),
        )),
        Err(e) => Err(db_failure("reading the account", &e)),
    }
}

async fn apply(state: &AdminState, login: &str, edit: Edit) -> Result<Json<Value>, Failure> {
    account(state, login).await?;
    let rules = answering_cli::edit(&state.store, login, edit)
        .await
        .map_err(|e| match e.downcast_ref::<store::StoreError>() {
            Some(db) => db_failure("storing the answering rules", db),
            None if e.to_string().starts_with("position") => {
                error(StatusCode::NOT_FOUND, format!("{e:#}"))
            }
            None => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        })?;
    state.accounts_changed().await;
    tracing::info!(%login, rules = rules.len(), "answering rules changed through the admin API");
    Ok(body(login, &rules))
}

async fn list(
    State(state): State<AdminState>,
    Path(login): Path<String>,
) -> Result<Json<Value>, Failure> {
    account(&state, &login).await?;
    let rules = answering_cli::list(&state.store, &login)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")))?;
    Ok(body(&login, &rules))
}

async fn replace(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let b: RulesBody = json_body(b)?;
    let rules = b.rules.iter().map(rule).collect::<Result<Vec<_>, _>>()?;
    apply(&state, &login, Edit::Replace(rules)).await
}

async fn add(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Failure> {
    let b: RuleBody = json_body(b)?;
    let r = rule(&b)?;
    let list = apply(
        &state,
        &login,
        Edit::Add {
            rule: r,
            at: b.position,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, list))
}

async fn remove(
    State(state): State<AdminState>,
    Path((login, position)): Path<(String, String)>,
) -> Result<Json<Value>, Failure> {
    let p = position_of(&position)?;
    apply(&state, &login, Edit::Remove(p)).await
}

async fn move_rule(
    State(state): State<AdminState>,
    Path((login, position)): Path<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let from = position_of(&position)?;
    let b: MoveBody = json_body(b)?;
    apply(&state, &login, Edit::Move { from, to: b.to }).await
}

fn position_of(text: &str) -> Result<usize, Failure> {
    text.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("{text:?} is not a rule position (1, 2, ...)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{request, sqlite_store, start_operator, AUTH};

    #[tokio::test]
    async fn rules_are_listed_added_moved_removed_and_replaced() {
        let (_dir, store) = sqlite_store().await;
        let addr = start_operator(store.clone()).await;
        let call = |method: &'static str, path: &'static str, body: &'static str| async move {
            request(addr, method, path, &[AUTH], body).await
        };
        let path = "/api/accounts/bob/answering-rules";
        let (status, _, _) = call("GET", path, "").await;
        assert_eq!(status, 404, "no account yet");
        let (status, _, body) = call(
            "POST",
            "/api/accounts",
            r#"{"login":"bob","password":"builder"}"#,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (status, _, body) = call("GET", path, "").await;
        assert_eq!(status, 200);
        assert!(body.contains(r#""default":true"#), "{body}");
        let (status, _, body) = call(
            "POST",
            path,
            r#"{"caller":"*","when":"busy","action":"voicemail"}"#,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (status, _, body) = call(
            "POST",
            path,
            r#"{"caller":"666","when":"always","action":"reject:603","position":1}"#,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert!(
            body.contains(r#"{"action":"reject:603","caller":"666","position":1,"when":"always"}"#),
            "{body}"
        );
        let (status, _, body) = call(
            "POST",
            "/api/accounts/bob/answering-rules/2/move",
            r#"{"to":1}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let rows = store.answering_rules("bob").await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
            ["voicemail", "reject:603"]
        );
        let (status, _, body) = call("DELETE", "/api/accounts/bob/answering-rules/5", "").await;
        assert_eq!(status, 404, "{body}");
        let (status, _, _) = call("DELETE", "/api/accounts/bob/answering-rules/1", "").await;
        assert_eq!(status, 200);
        assert_eq!(store.answering_rules("bob").await.unwrap().len(), 1);
        for bad in [
            r#"{"caller":"*","when":"later","action":"voicemail"}"#,
            r#"{"caller":"*","when":"busy","action":"ring:0"}"#,
            r#"{"caller":"*","when":"busy"}"#,
        ] {
            let (status, _, text) = request(addr, "POST", path, &[AUTH], bad).await;
            assert_eq!(status, 400, "{bad}: {text}");
        }
        let (status, _, body) = call(
            "PUT",
            path,
            r#"{"rules":[{"caller":"0048","when":"always","action":"forward:carol"},{"caller":"*","when":"no-answer","action":"voicemail"}]}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(store.answering_rules("bob").await.unwrap().len(), 2);
        let (status, _, _) = request(addr, "GET", path, &[], "").await;
        assert_eq!(status, 401, "bearer token required");
        let (status, _, _) = call("PUT", path, r#"{"rules":[]}"#).await;
        assert_eq!(status, 200);
        assert!(store.answering_rules("bob").await.unwrap().is_empty());
    }
}
