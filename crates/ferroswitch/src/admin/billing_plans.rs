//! The operator's billing routes for plans (bundles) and reports (bearer token); tariffs,
//! accounts and the ledger are in [`super::billing`].
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/billing/plans` | `200 [{"name","prefixes":[...],"seconds","days","price","price_micros"}, ...]` |
//! | `PUT /api/billing/plans/{name}` `{"prefixes":["44","33"],"seconds":6000,"days":30,"price"?:"5"}` | `200 plan`, created or changed |
//! | `GET /api/billing/accounts/{login}/plans` | `200 [{"id","plan","prefixes","seconds_left","valid_from_ms","valid_until_ms"}, ...]` |
//! | `POST /api/billing/accounts/{login}/plans` `{"plan":"UK 100"}` | `201 held plan` (its price debited, ledger kind `plan`); `404` no such plan or account not billed |
//! | `DELETE /api/billing/accounts/{login}/plans/{id}` | `204`; `404` (no refund: credit one if due) |
//! | `GET /api/billing/reports?by=account\|day\|destination&from=YYYY-MM-DD&to=YYYY-MM-DD` | `200 [{"key","calls","duration_seconds","billed_seconds","cost","cost_micros"}, ...]`: the rated CDRs started in those UTC days (`to` included; either open) |

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use store::{AccountPlanRow, PlanRow, ReportBy};

use super::billing::{billed, money};
use super::{db_failure, error, json_body, param, query, AdminState, Failure};
use crate::billing_ops::{day, day_range};
use crate::clock::unix_ms;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/billing/plans", get(list_plans))
        .route("/api/billing/plans/{name}", put(put_plan))
        .route(
            "/api/billing/accounts/{login}/plans",
            get(held_plans).post(assign_plan),
        )
        .route(
            "/api/billing/accounts/{login}/plans/{id}",
            delete(remove_plan),
        )
        .route("/api/billing/reports", get(report))
}

fn plan_json(p: &PlanRow) -> Value {
    json!({
        "name": p.name,
        "prefixes": p.prefixes.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "seconds": p.seconds, "days": p.days,
        "price": money(p.price_micros), "price_micros": p.price_micros,
    })
}

fn held_json(p: &AccountPlanRow) -> Value {
    json!({
        "id": p.id, "login": p.login, "plan": p.plan,
        "prefixes": p.prefixes.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "seconds_left": p.seconds_left, "valid_from_ms": p.valid_from_ms,
        "valid_until_ms": p.valid_until_ms,
    })
}

async fn list_plans(State(state): State<AdminState>) -> Result<Json<Vec<Value>>, Failure> {
    let plans = state
        .store
        .list_plans()
        .await
        .map_err(|e| db_failure("reading plans", &e))?;
    Ok(Json(plans.iter().map(plan_json).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    prefixes: Vec<String>,
    seconds: i64,
    days: i64,
    price: Option<String>,
}

async fn put_plan(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let b: PlanBody = json_body(body)?;
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    if name.trim().is_empty() || name.len() > 64 {
        return Err(bad("a plan name is 1 to 64 characters".into()));
    }
    if b.seconds <= 0 || b.days <= 0 {
        return Err(bad("seconds and days must be positive".into()));
    }
    if b.prefixes.is_empty()
        || b.prefixes
            .iter()
            .any(|p| p.is_empty() || p.contains(',') || p.contains(char::is_whitespace))
    {
        return Err(bad(
            "prefixes: a list of one or more prefixes, e.g. [\"44\", \"33\"]".into(),
        ));
    }
    let price: billing::Money = b
        .price
        .as_deref()
        .unwrap_or("0")
        .parse()
        .map_err(|e| bad(format!("price: {e}")))?;
    if price.is_negative() {
        return Err(bad("price: not below 0".into()));
    }
    let plan = PlanRow {
        id: 0,
        name: name.clone(),
        prefixes: b.prefixes.join(","),
        seconds: b.seconds,
        days: b.days,
        price_micros: price.micros(),
    };
    state
        .store
        .upsert_plan(&plan)
        .await
        .map_err(|e| db_failure("saving the plan", &e))?;
    tracing::info!(plan = %name, "plan saved through the admin API");
    Ok(Json(plan_json(&plan)))
}

async fn held_plans(
    State(state): State<AdminState>,
    Path(login): Path<String>,
) -> Result<Json<Vec<Value>>, Failure> {
    billed(&state, &login).await?;
    let held = state
        .store
        .account_plans(Some(&login))
        .await
        .map_err(|e| db_failure("reading held plans", &e))?;
    Ok(Json(held.iter().map(held_json).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    plan: String,
}

async fn assign_plan(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Failure> {
    let b: AssignBody = json_body(body)?;
    billed(&state, &login).await?;
    let id = match state
        .store
        .assign_plan(&login, &b.plan, unix_ms() as i64)
        .await
    {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no plan named {:?}", b.plan),
            ))
        }
        Err(e) => return Err(db_failure("assigning the plan", &e)),
    };
    tracing::info!(%login, plan = %b.plan, "plan assigned through the admin API");
    let held = state
        .store
        .account_plans(Some(&login))
        .await
        .map_err(|e| db_failure("reading held plans", &e))?;
    let p = held.iter().find(|p| p.id == id).map(held_json);
    Ok((StatusCode::CREATED, Json(p.unwrap_or(json!({"id": id})))))
}

async fn remove_plan(
    State(state): State<AdminState>,
    Path((login, id)): Path<(String, String)>,
) -> Result<StatusCode, Failure> {
    let missing = || error(StatusCode::NOT_FOUND, format!("{login} holds no plan {id}"));
    let Ok(n) = id.parse::<i64>() else {
        return Err(missing());
    };
    match state.store.remove_account_plan(&login, n).await {
        Ok(true) => {
            tracing::info!(%login, plan = n, "held plan removed through the admin API");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(missing()),
        Err(e) => Err(db_failure("removing the plan", &e)),
    }
}

async fn report(State(state): State<AdminState>, uri: Uri) -> Result<Json<Vec<Value>>, Failure> {
    let q = query(uri.query(), &["by", "from", "to"])?;
    let by = match param(&q, "by").as_deref() {
        Some("account") => ReportBy::Account,
        Some("day") => ReportBy::Day,
        Some("destination") => ReportBy::Destination,
        other => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("by={other:?}: account, day or destination"),
            ))
        }
    };
    let (from_ms, to_ms) = day_range(param(&q, "from").as_deref(), param(&q, "to").as_deref())
        .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let lines = state
        .store
        .billing_report(by, from_ms, to_ms)
        .await
        .map_err(|e| db_failure("reading the CDRs", &e))?;
    Ok(Json(
        lines
            .into_iter()
            .map(|l| {
                let key = match by {
                    ReportBy::Day => day(l.key.parse().unwrap_or(0)),
                    _ => l.key,
                };
                json!({
                    "key": key, "calls": l.calls,
                    "duration_seconds": l.duration_ms / 1000,
                    "billed_seconds": l.billed_seconds,
                    "cost": money(l.cost_micros), "cost_micros": l.cost_micros,
                })
            })
            .collect(),
    ))
}
