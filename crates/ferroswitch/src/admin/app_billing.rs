//! The apps' balance and rates (voipswitch EMCD's `balance.ashx` and `rates.ashx`),
//! authenticated with the login's own SIP credentials exactly as the push tokens are
//! ([`super::push_tokens::authenticate`]: HTTP Digest, or Basic from loopback). A login only
//! ever sees its own account and its own tariff: nothing in the request names another.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/balance` | `200 {"login","balance":"7.50","balance_micros":7500000,"currency":"EUR","type":"prepaid","credit_limit":"0.00","credit_limit_micros":0,"tariff"}`; `404` the account is not billed |
//! | `GET /api/rates?country=GB` | `200 {"country":"GB","currency","rates":[{"description","prefixes":[...],"price","price_micros","connection_fee","connection_fee_micros","increments":"30/6","min_duration","time_of_day":[{"from","to","price","price_micros"}]}, ...]}`: the tariff's rows with that ISO code, rows of one description and price grouped under it; rows without an ISO code are never shown |
//! | `GET /api/rates?number=0044207946` | `200 {"number","rated_number","onnet","free","prefix","description","iso","price",...,"currency"}`: the rate a call to that number is charged at now (its time-of-day price), after the login's tech-prefix `DP:` rules and the dialing plan's strip/prepend, as the B2BUA rates the call; an ONNET number (a user, ring group or service) is `"free":true` unless the tariff rates ONNET calls; `404` no route or no tariff row for it |
//!
//! Both: `401` + challenge, `403` disabled account, `400` a bad query, `503` database down.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use billing::{Money, Tariff, TariffRow};
use dialplan::Action;
use serde_json::{json, Value};

use super::billing::money;
use super::push_tokens::{authenticate, RequestHead};
use super::{db_failure, error, param, query, AdminState, Failure};
use crate::clock::unix_ms;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/balance", get(balance))
        .route("/api/rates", get(rates))
}

/// The authenticated login's billed account, or `404`.
async fn own_account(state: &AdminState, login: &str) -> Result<store::BillingAccountRow, Failure> {
    match state.store.billing_account(login).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("account {login} has no balance: it is not billed"),
        )),
        Err(e) => Err(db_failure("reading the balance", &e)),
    }
}

/// The tariff of `account`, as the rating core sees it.
async fn own_tariff(
    state: &AdminState,
    account: &store::BillingAccountRow,
) -> Result<Tariff, Failure> {
    let records = state
        .store
        .list_tariffs()
        .await
        .map_err(|e| db_failure("reading tariffs", &e))?;
    let Some(t) = records.iter().find(|t| t.id == account.tariff_id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("the tariff of {} does not exist", account.login),
        ));
    };
    let rows = state
        .store
        .tariff_rows(t.id)
        .await
        .map_err(|e| db_failure("reading tariff rows", &e))?;
    crate::billing_load::tariff(t, &rows).map_err(|e| {
        tracing::warn!(tariff = %t.name, error = %e, "apps' rates: a tariff cannot be read");
        error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
    })
}

fn head(peer: SocketAddr, method: Method, uri: Uri, headers: HeaderMap) -> RequestHead {
    RequestHead {
        peer: peer.ip(),
        method,
        uri,
        headers,
    }
}

/// `GET /api/balance`.
async fn balance(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, Failure> {
    let login = authenticate(&state, &head(peer, method, uri.clone(), headers)).await?;
    query(uri.query(), &[])?;
    let a = own_account(&state, &login).await?;
    let tariff = state
        .store
        .list_tariffs()
        .await
        .map_err(|e| db_failure("reading tariffs", &e))?
        .into_iter()
        .find(|t| t.id == a.tariff_id)
        .map(|t| t.name);
    Ok(Json(json!({
        "login": a.login,
        "balance": money(a.balance_micros), "balance_micros": a.balance_micros,
        "currency": a.currency,
        "type": a.kind,
        "credit_limit": money(a.credit_limit_micros),
        "credit_limit_micros": a.credit_limit_micros,
        "tariff": tariff,
    })))
}

/// `GET /api/rates?country=ISO` or `?number=...`.
async fn rates(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, Failure> {
    let login = authenticate(&state, &head(peer, method, uri.clone(), headers)).await?;
    let q = query(uri.query(), &["country", "number"])?;
    let (country, number) = (param(&q, "country"), param(&q, "number"));
    let a = own_account(&state, &login).await?;
    match (country, number) {
        (Some(iso), None) => {
            let iso = iso.trim().to_ascii_uppercase();
            if iso.len() != 2 || !iso.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("country={iso:?}: an ISO 3166 alpha-2 code such as GB"),
                ));
            }
            let tariff = own_tariff(&state, &a).await?;
            Ok(Json(json!({
                "country": iso,
                "currency": a.currency,
                "rates": by_country(&tariff, &iso),
            })))
        }
        (None, Some(number)) => {
            let tariff = own_tariff(&state, &a).await?;
            by_number(&state, &login, &a.currency, &tariff, &number).await
        }
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "give either country=ISO (e.g. GB) or number=... (the dialled number)",
        )),
    }
}

fn bands_json(row: &TariffRow) -> Vec<Value> {
    row.bands
        .iter()
        .map(|b| {
            let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            json!({
                "from": hhmm(b.from_minute), "to": hhmm(b.to_minute),
                "price": b.price_per_min.to_string(), "price_micros": b.price_per_min.micros(),
                "connection_fee": b.connection_fee.map(|f| f.to_string()),
            })
        })
        .collect()
}

/// The rows with ISO code `iso`, those of one description, price, fee and increments as one
/// entry listing their prefixes (the seed: "rates associated with descriptions"), in the order
/// of their first prefix.
fn by_country(tariff: &Tariff, iso: &str) -> Vec<Value> {
    let mut groups: Vec<(&TariffRow, Vec<&str>)> = Vec::new();
    for row in tariff.rows_for_country(iso) {
        let same = groups.iter_mut().find(|(g, _)| {
            g.description == row.description
                && g.price_per_min == row.price_per_min
                && g.connection_fee == row.connection_fee
                && g.increments == row.increments
                && g.min_duration == row.min_duration
                && g.bands == row.bands
        });
        match same {
            Some((_, prefixes)) => prefixes.push(&row.prefix),
            None => groups.push((row, vec![&row.prefix])),
        }
    }
    groups
        .into_iter()
        .map(|(row, prefixes)| {
            json!({
                "description": row.description,
                "prefixes": prefixes,
                "price": row.price_per_min.to_string(),
                "price_micros": row.price_per_min.micros(),
                "connection_fee": row.connection_fee.to_string(),
                "connection_fee_micros": row.connection_fee.micros(),
                "increments": row.increments.to_string(),
                "min_duration": row.min_duration,
                "time_of_day": bands_json(row),
            })
        })
        .collect()
}

/// Spaces, dashes, dots and brackets people type in a number; everything else is kept (the
/// tech-prefix rules may expect a `+`).
fn cleaned(number: &str) -> String {
    number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'))
        .collect()
}

/// The number a call to `dialed` is rated by and whether it stays ONNET, as the B2BUA
/// decides it (`b2bua::route::decide`): the `DP:` rules, then the dialing plan; a gateway
/// route's strip/prepend applies; a user is rated by its login.
pub(crate) fn rated_number(
    tech: &dialplan::TechPrefix,
    plan: &dialplan::DialPlan,
    dialed: &str,
) -> Result<(String, bool), String> {
    let r = dialplan::resolve(tech, plan, dialed).map_err(|e| e.to_string())?;
    match &r.entry().action {
        Action::Gateway { .. } => Ok((
            r.target_number()
                .map_or_else(|| r.number().to_owned(), |c| c.into_owned()),
            false,
        )),
        Action::UserLookup => Ok((r.rest().to_owned(), true)),
        Action::Service { .. } | Action::RingGroup { .. } => Ok((r.number().to_owned(), true)),
        Action::Reject { code } => Err(format!(
            "the dialing plan rejects calls to {} ({code})",
            r.number()
        )),
    }
}

async fn by_number(
    state: &AdminState,
    login: &str,
    currency: &str,
    tariff: &Tariff,
    number: &str,
) -> Result<Json<Value>, Failure> {
    let dialed = cleaned(number);
    if dialed.is_empty() || dialed.len() > 64 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "number: the dialled number, 1 to 64 characters",
        ));
    }
    let account = match state.store.get_account(login).await {
        Ok(a) => a,
        Err(e) => return Err(db_failure("reading the account", &e)),
    };
    let tech = account
        .and_then(|a| dialplan::TechPrefix::parse(&a.tech_prefix).ok())
        .unwrap_or_default();
    let plan_rows: Vec<(String, i32, String)> = state
        .store
        .list_dial_plan()
        .await
        .map_err(|e| db_failure("reading the dialing plan", &e))?
        .into_iter()
        .map(|r| (r.prefix, r.priority, r.action))
        .collect();
    let plan = crate::calls::dial_plan(&plan_rows);
    let (rated, onnet) =
        rated_number(&tech, &plan, &dialed).map_err(|e| error(StatusCode::NOT_FOUND, e))?;
    let mut out = json!({
        "number": number, "rated_number": rated, "onnet": onnet, "currency": currency,
    });
    if onnet && !tariff.bill_onnet {
        out["free"] = true.into();
        return Ok(Json(out));
    }
    let row = tariff.row(&rated);
    let quote = tariff.quote(&rated, unix_ms());
    let (Some(row), Some(quote)) = (row, quote) else {
        if onnet {
            // an ONNET number no row prices stays free (docs/billing.md)
            out["free"] = true.into();
            return Ok(Json(out));
        }
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no rate for {rated}: calls to it are not allowed by the tariff"),
        ));
    };
    out["free"] = false.into();
    out["prefix"] = row.prefix.clone().into();
    out["description"] = row.description.clone().into();
    out["iso"] = row.iso.clone().into();
    out["price"] = quote.price_per_min.to_string().into();
    out["price_micros"] = quote.price_per_min.micros().into();
    out["connection_fee"] = quote.connection_fee.to_string().into();
    out["connection_fee_micros"] = quote.connection_fee.micros().into();
    out["increments"] = quote.increments.to_string().into();
    out["min_duration"] = quote.min_duration.into();
    out["time_of_day"] = bands_json(row).into();
    let _ = Money::ZERO;
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rated_number_is_the_b2buas() {
        let plan = crate::calls::dial_plan(&[
            ("00".into(), 0, "gateway:gw strip=2".into()),
            ("9".into(), 0, "gateway:gw strip=1 prepend=44".into()),
            ("onnet".into(), 0, "user-lookup".into()),
            ("950".into(), 0, "service:sip:vm@127.0.0.1:5080".into()),
            ("666".into(), 0, "reject:403".into()),
        ]);
        let none = dialplan::TechPrefix::default();
        assert_eq!(
            rated_number(&none, &plan, "004420"),
            Ok(("4420".into(), false))
        );
        assert_eq!(
            rated_number(&none, &plan, "920"),
            Ok(("4420".into(), false))
        );
        assert_eq!(
            rated_number(&none, &plan, "onnetbob"),
            Ok(("bob".into(), true))
        );
        assert_eq!(rated_number(&none, &plan, "950"), Ok(("950".into(), true)));
        assert!(rated_number(&none, &plan, "6660").is_err());
        assert!(rated_number(&none, &plan, "77").is_err(), "no route");
        let tech: dialplan::TechPrefix = "DP:+->00".parse().unwrap();
        assert_eq!(
            rated_number(&tech, &plan, &cleaned("+44 (20) 7946-0000")),
            Ok(("442079460000".into(), false))
        );
    }
}
