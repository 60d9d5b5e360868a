//! The operator's billing routes (bearer token): tariffs, billed accounts with their
//! balances, credits and debits with a reason (the ledger). Plans and reports are in
//! [`super::billing_plans`]. The same checks as `ferroswitch billing ...` (`billing_cli.rs`,
//! `billing_ops.rs`); a running server picks the writes up (ledger lines within a second,
//! tariffs and accounts within 10 s, see docs/billing.md).
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/billing/tariffs` | `200 [tariff, ...]` (without rows, with `rows`: their count) |
//! | `GET /api/billing/tariffs/{name}` | `200 tariff` with `rows: [row, ...]`; `404` |
//! | `PUT /api/billing/tariffs/{name}?currency=EUR&rounding_decimals=6&rounding_mode=up&bill_onnet=false` CSV body (the voipswitch export) | `200 {"tariff","prefixes"}`: created or its rows replaced; `400 {"error":"line 3: voice_rate: ..."}` and nothing written |
//! | `DELETE /api/billing/tariffs/{name}` | `204`; `404`; `409` while billed accounts use it (they are named) |
//! | `GET /api/billing/accounts` | `200 [account, ...]` |
//! | `GET /api/billing/accounts/{login}` | `200 account`; `404` not billed |
//! | `PUT /api/billing/accounts/{login}` `{"tariff","kind"?:"prepaid"\|"postpaid","credit_limit"?,"currency"?}` | `200 account` (a new one starts at 0; the balance of an existing one is kept) |
//! | `POST /api/billing/accounts/{login}/credit` (or `/debit`) `{"amount":"10.50","reason":"top-up"}` | `200 {"login","balance","balance_micros","currency","ledger":line}`; `404` not billed |
//! | `GET /api/billing/accounts/{login}/ledger?after=ID&limit=N` | `200 [line, ...]` oldest first |
//!
//! Amounts are decimal strings in the account's currency (`"0.0125"`, at most 6 decimals),
//! shown again as `..._micros` integers (millionths). A credit or debit changes the balance
//! and writes its ledger line in one transaction.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use billing::Money;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{BillingAccountRow, LedgerEntry, TariffDeletion, TariffRecord, TariffRowRecord};

use super::{db_failure, error, json_body, param, query, AdminState, Failure};
use crate::billing_ops::{import_tariff, ImportError, TariffSettings};
use crate::clock::unix_ms;

/// The largest tariff CSV (some 100,000 prefixes).
const CSV_LIMIT: usize = 16 * 1024 * 1024;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/billing/tariffs", get(list_tariffs))
        .route(
            "/api/billing/tariffs/{name}",
            get(one_tariff)
                .put(put_tariff)
                .delete(delete_tariff)
                .layer(DefaultBodyLimit::max(CSV_LIMIT)),
        )
        .route("/api/billing/accounts", get(list_accounts))
        .route(
            "/api/billing/accounts/{login}",
            get(one_account).put(put_account),
        )
        .route("/api/billing/accounts/{login}/credit", post(credit))
        .route("/api/billing/accounts/{login}/debit", post(debit))
        .route("/api/billing/accounts/{login}/ledger", get(ledger))
}

pub(super) fn money(m: i64) -> String {
    Money(m).to_string()
}

fn tariff_json(t: &TariffRecord) -> Value {
    json!({
        "name": t.name, "currency": t.currency, "rounding_decimals": t.rounding_decimals,
        "rounding_mode": t.rounding_mode, "utc_offset_minutes": t.utc_offset_minutes,
        "bill_onnet": t.bill_onnet,
    })
}

fn hhmm(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn row_json(r: &TariffRowRecord) -> Value {
    json!({
        "prefix": r.prefix, "description": r.description, "iso": r.iso,
        "price": money(r.price_micros), "price_micros": r.price_micros,
        "connection_fee": r.fee_micros.map(money), "connection_fee_micros": r.fee_micros,
        "increments": format!("{}/{}", r.inc_first, r.inc_next),
        "min_duration": r.min_duration,
        "from": hhmm(r.from_minute), "to": hhmm(r.to_minute),
    })
}

pub(super) fn ledger_json(l: &LedgerEntry) -> Value {
    json!({
        "id": l.id, "login": l.login, "at_ms": l.at_ms, "kind": l.kind,
        "amount": money(l.amount_micros), "amount_micros": l.amount_micros,
        "balance_after": money(l.balance_after_micros),
        "balance_after_micros": l.balance_after_micros,
        "reason": l.reason, "call": l.call_id,
    })
}

async fn tariff_named(state: &AdminState, name: &str) -> Result<TariffRecord, Failure> {
    match state.store.tariff_by_name(name).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no tariff named {name:?}"),
        )),
        Err(e) => Err(db_failure("reading tariffs", &e)),
    }
}

async fn list_tariffs(State(state): State<AdminState>) -> Result<Json<Vec<Value>>, Failure> {
    let tariffs = state
        .store
        .list_tariffs()
        .await
        .map_err(|e| db_failure("reading tariffs", &e))?;
    let mut out = Vec::with_capacity(tariffs.len());
    for t in &tariffs {
        let rows = state
            .store
            .tariff_rows(t.id)
            .await
            .map_err(|e| db_failure("reading tariff rows", &e))?;
        let mut v = tariff_json(t);
        v["rows"] = rows.len().into();
        out.push(v);
    }
    Ok(Json(out))
}

async fn one_tariff(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, Failure> {
    let t = tariff_named(&state, &name).await?;
    let rows = state
        .store
        .tariff_rows(t.id)
        .await
        .map_err(|e| db_failure("reading tariff rows", &e))?;
    let mut v = tariff_json(&t);
    v["rows"] = rows.iter().map(row_json).collect();
    Ok(Json(v))
}

fn flag(text: &str, name: &str) -> Result<bool, Failure> {
    match text {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            format!("{name}={text:?}: true or false"),
        )),
    }
}

async fn put_tariff(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let q = query(
        uri.query(),
        &[
            "currency",
            "rounding_decimals",
            "rounding_mode",
            "bill_onnet",
        ],
    )?;
    let mut settings = TariffSettings::default();
    if let Some(c) = param(&q, "currency") {
        settings.currency = c;
    }
    if let Some(d) = param(&q, "rounding_decimals") {
        settings.rounding_decimals = d.parse().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!("rounding_decimals={d:?}: 0 to 6"),
            )
        })?;
    }
    if let Some(m) = param(&q, "rounding_mode") {
        settings.rounding_mode = m;
    }
    if let Some(b) = param(&q, "bill_onnet") {
        settings.bill_onnet = flag(&b, "bill_onnet")?;
    }
    let bytes = body.map_err(|r| error(r.status(), format!("the CSV could not be read: {r}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the CSV is not UTF-8: {e}"),
        )
    })?;
    match import_tariff(&state.store, &name, text, &settings).await {
        Ok(n) => {
            tracing::info!(tariff = %name, prefixes = n, "tariff imported through the admin API");
            Ok(Json(json!({"tariff": name, "prefixes": n})))
        }
        Err(ImportError::Invalid(e)) => Err(error(StatusCode::BAD_REQUEST, e)),
        Err(ImportError::Store(e)) => Err(db_failure("importing the tariff", &e)),
    }
}

async fn delete_tariff(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<StatusCode, Failure> {
    match state.store.delete_tariff(&name).await {
        Ok(TariffDeletion::Deleted) => {
            tracing::info!(tariff = %name, "tariff deleted through the admin API");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(TariffDeletion::NotFound) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no tariff named {name:?}"),
        )),
        Ok(TariffDeletion::InUse(logins)) => Err(error(
            StatusCode::CONFLICT,
            format!(
                "tariff {name} is used by {} billed account(s) ({}): give them another tariff first",
                logins.len(),
                logins.join(", ")
            ),
        )),
        Err(e) => Err(db_failure("deleting the tariff", &e)),
    }
}

fn account_json(a: &BillingAccountRow, tariff: Option<&str>) -> Value {
    json!({
        "login": a.login, "tariff": tariff, "kind": a.kind, "currency": a.currency,
        "balance": money(a.balance_micros), "balance_micros": a.balance_micros,
        "credit_limit": money(a.credit_limit_micros),
        "credit_limit_micros": a.credit_limit_micros,
    })
}

async fn tariff_names(state: &AdminState) -> Result<Vec<TariffRecord>, Failure> {
    state
        .store
        .list_tariffs()
        .await
        .map_err(|e| db_failure("reading tariffs", &e))
}

fn name_of(tariffs: &[TariffRecord], id: i64) -> Option<&str> {
    tariffs.iter().find(|t| t.id == id).map(|t| t.name.as_str())
}

async fn list_accounts(State(state): State<AdminState>) -> Result<Json<Vec<Value>>, Failure> {
    let tariffs = tariff_names(&state).await?;
    let all = state
        .store
        .list_billing_accounts()
        .await
        .map_err(|e| db_failure("reading billed accounts", &e))?;
    Ok(Json(
        all.iter()
            .map(|a| account_json(a, name_of(&tariffs, a.tariff_id)))
            .collect(),
    ))
}

pub(super) async fn billed(state: &AdminState, login: &str) -> Result<BillingAccountRow, Failure> {
    match state.store.billing_account(login).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("{login} is not billed (PUT /api/billing/accounts/{login} with a tariff)"),
        )),
        Err(e) => Err(db_failure("reading the billed account", &e)),
    }
}

async fn one_account(
    State(state): State<AdminState>,
    Path(login): Path<String>,
) -> Result<Json<Value>, Failure> {
    let a = billed(&state, &login).await?;
    let tariffs = tariff_names(&state).await?;
    Ok(Json(account_json(&a, name_of(&tariffs, a.tariff_id))))
}

/// An amount field: a decimal string, or a JSON number (read from its text, never as a float).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Amount {
    Text(String),
    Number(serde_json::Number),
}

impl Amount {
    fn money(&self, field: &str) -> Result<Money, Failure> {
        let text = match self {
            Self::Text(t) => t.clone(),
            Self::Number(n) => n.to_string(),
        };
        text.parse::<Money>()
            .map_err(|e| error(StatusCode::BAD_REQUEST, format!("{field}: {e}")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    tariff: String,
    kind: Option<String>,
    credit_limit: Option<Amount>,
    currency: Option<String>,
}

async fn put_account(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let b: AccountBody = json_body(body)?;
    let tariff = tariff_named(&state, &b.tariff).await?;
    let limit = b
        .credit_limit
        .as_ref()
        .map(|l| l.money("credit_limit"))
        .transpose()?
        .unwrap_or(Money::ZERO);
    if limit.is_negative() {
        return Err(error(StatusCode::BAD_REQUEST, "credit_limit: not below 0"));
    }
    let kind = b.kind.as_deref().unwrap_or("prepaid");
    if kind != "prepaid" && kind != "postpaid" {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("kind {kind:?}: prepaid or postpaid"),
        ));
    }
    if kind == "prepaid" && limit != Money::ZERO {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "credit_limit is for postpaid accounts",
        ));
    }
    match state.store.get_account(&login).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no account {login:?}"),
            ))
        }
        Err(e) => return Err(db_failure("reading the account", &e)),
    }
    let currency = b.currency.unwrap_or_else(|| tariff.currency.clone());
    state
        .store
        .set_billing_account(&BillingAccountRow {
            login: login.clone(),
            tariff_id: tariff.id,
            kind: kind.into(),
            balance_micros: 0,
            credit_limit_micros: limit.micros(),
            currency,
        })
        .await
        .map_err(|e| db_failure("billing the account", &e))?;
    tracing::info!(%login, tariff = %tariff.name, kind, "account billed through the admin API");
    let a = billed(&state, &login).await?;
    Ok(Json(account_json(&a, Some(&tariff.name))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    amount: Amount,
    reason: String,
}

async fn credit(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    adjust(&state, &login, json_body(body)?, 1).await
}

async fn debit(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    adjust(&state, &login, json_body(body)?, -1).await
}

/// A credit (`sign` 1) or debit (-1): the balance and its ledger line in one transaction.
async fn adjust(
    state: &AdminState,
    login: &str,
    b: AdjustBody,
    sign: i64,
) -> Result<Json<Value>, Failure> {
    let amount = b.amount.money("amount")?;
    if amount.micros() <= 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "amount: give a positive amount (credit or debit says the direction)",
        ));
    }
    let reason = b.reason.trim();
    if reason.is_empty() || reason.len() > 255 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "reason: say why, in 1 to 255 characters",
        ));
    }
    let after = state
        .store
        .adjust_balance(login, sign * amount.micros(), reason, unix_ms() as i64)
        .await
        .map_err(|e| db_failure("changing the balance", &e))?;
    if after.is_none() {
        return Err(billed(state, login)
            .await
            .err()
            .unwrap_or_else(|| error(StatusCode::NOT_FOUND, format!("{login} is not billed"))));
    }
    let a = billed(state, login).await?;
    // the line just written: the newest of the account
    let lines = state
        .store
        .ledger(Some(login), 0, u32::MAX)
        .await
        .map_err(|e| db_failure("reading the ledger", &e))?;
    let line = lines
        .iter()
        .rev()
        .find(|l| l.reason == reason && l.amount_micros == sign * amount.micros());
    tracing::info!(%login, amount = %Money(sign * amount.micros()), reason, "balance changed through the admin API");
    Ok(Json(json!({
        "login": login, "currency": a.currency,
        "balance": money(a.balance_micros), "balance_micros": a.balance_micros,
        "ledger": line.map(ledger_json),
    })))
}

async fn ledger(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    uri: Uri,
) -> Result<Json<Vec<Value>>, Failure> {
    let q = query(uri.query(), &["after", "limit"])?;
    let number = |name: &str, default: i64| -> Result<i64, Failure> {
        param(&q, name).map_or(Ok(default), |v| {
            v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("{name}={v:?}: a whole number"),
                )
            })
        })
    };
    let after = number("after", 0)?;
    let limit = u32::try_from(number("limit", 1000)?.min(10_000)).unwrap_or(10_000);
    billed(&state, &login).await?;
    let lines = state
        .store
        .ledger(Some(&login), after, limit)
        .await
        .map_err(|e| db_failure("reading the ledger", &e))?;
    Ok(Json(lines.iter().map(ledger_json).collect()))
}
