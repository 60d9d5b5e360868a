//! The routing tables, what `ferroswitch route|gateway|group ...` do, with the same checks
//! (`crate::routing_cli`). The running server reads the tables again within 10 s.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/routing/routes` | `200 [{"id","prefix","priority","action","description"}, ...]` |
//! | `POST /api/routing/routes` `{"prefix","action","priority"?,"description"?}` | `201 {"id":n,...}` (the action in its canonical form) |
//! | `DELETE /api/routing/routes/{id}` | `204`; `404` |
//! | `GET /api/routing/gateways` | `200 [{"name","address","transport","caller_id","enabled"}, ...]` |
//! | `PUT /api/routing/gateways/{name}` `{"address","transport"?,"caller_id"?,"enabled"?}` | `200 gateway` (added or replaced) |
//! | `DELETE /api/routing/gateways/{name}` | `204`; `404` |
//! | `GET /api/routing/groups` | `200 [{"login","members","step_delay","max_steps"}, ...]` |
//! | `PUT /api/routing/groups/{login}` `{"members":[...],"step_delay"?,"max_steps"?}` | `200 group` |
//! | `DELETE /api/routing/groups/{login}` | `204`; `404` |

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use store::{GatewayRow, NewPlanEntry, RingGroupRow};

use super::{db_failure, error, json_body, AdminState, Failure};
use crate::accounts::check_login;
use crate::routing_cli::{check_gateway_name, check_prefix, parse_gateway_address, ACTION_FORMS};

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/routing/routes", get(list_routes).post(add_route))
        .route("/api/routing/routes/{id}", delete(delete_route))
        .route("/api/routing/gateways", get(list_gateways))
        .route(
            "/api/routing/gateways/{name}",
            put(put_gateway).delete(delete_gateway),
        )
        .route("/api/routing/groups", get(list_groups))
        .route(
            "/api/routing/groups/{login}",
            put(put_group).delete(delete_group),
        )
}

fn bad(e: anyhow::Error) -> Failure {
    error(StatusCode::BAD_REQUEST, format!("{e:#}"))
}

fn not_found(what: String) -> Failure {
    error(StatusCode::NOT_FOUND, what)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteBody {
    prefix: String,
    action: String,
    #[serde(default)]
    priority: i32,
    description: Option<String>,
}

/// A table changed: the running server re-reads the routing tables now, not at its next
/// 10 s poll (no server behind this API, as in some tests: nothing to tell).
fn routing_changed(state: &AdminState) {
    if let Some(r) = &state.reloader {
        r.routing_changed();
    }
}

async fn list_routes(State(state): State<AdminState>) -> Result<Json<Vec<Value>>, Failure> {
    let rows = state
        .store
        .list_dial_plan()
        .await
        .map_err(|e| db_failure("reading the dialing plan", &e))?;
    Ok(Json(
        rows.into_iter()
            .map(|r| {
                json!({"id": r.id, "prefix": r.prefix, "priority": r.priority,
                       "action": r.action, "description": r.description})
            })
            .collect(),
    ))
}

async fn add_route(
    State(state): State<AdminState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Failure> {
    let b: RouteBody = json_body(body)?;
    check_prefix(&b.prefix).map_err(bad)?;
    let action: dialplan::Action = b.action.parse().map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "bad action {:?}: {e}; expected one of {ACTION_FORMS}",
                b.action
            ),
        )
    })?;
    let entry = NewPlanEntry {
        prefix: b.prefix,
        priority: b.priority,
        action: action.to_string(),
        description: b.description.filter(|d| !d.is_empty()),
    };
    let id = state
        .store
        .add_plan_entry(&entry)
        .await
        .map_err(|e| db_failure("adding the route", &e))?;
    routing_changed(&state);
    tracing::info!(id, prefix = %entry.prefix, action = %entry.action, "route added through the admin API");
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": id, "prefix": entry.prefix, "priority": entry.priority,
                    "action": entry.action, "description": entry.description}),
        ),
    ))
}

async fn delete_route(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let id: i64 = id
        .parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, format!("{id:?} is not a route id")))?;
    match state.store.delete_plan_entry(id).await {
        Ok(true) => {
            routing_changed(&state);
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(not_found(format!("no route with id {id}"))),
        Err(e) => Err(db_failure("deleting the route", &e)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayBody {
    address: String,
    transport: Option<String>,
    caller_id: Option<String>,
    enabled: Option<bool>,
}

fn gateway_json(g: &GatewayRow) -> Value {
    json!({"name": g.name, "address": g.address, "transport": g.transport,
           "caller_id": g.caller_id, "enabled": g.enabled})
}

async fn list_gateways(State(state): State<AdminState>) -> Result<Json<Vec<Value>>, Failure> {
    let rows = state
        .store
        .list_gateways()
        .await
        .map_err(|e| db_failure("reading the gateways", &e))?;
    Ok(Json(rows.iter().map(gateway_json).collect()))
}

async fn put_gateway(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let b: GatewayBody = json_body(body)?;
    check_gateway_name(&name).map_err(bad)?;
    let addr = parse_gateway_address(&b.address).map_err(bad)?;
    let transport = match b
        .transport
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("udp") => "udp",
        Some("tcp") => "tcp",
        Some("tls") => "tls",
        Some("auto") => "auto",
        Some(t) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("transport {t:?}: udp, tcp, tls or auto"),
            ))
        }
    };
    if let Some(c) = &b.caller_id {
        check_login(c).map_err(|e| bad(e.context("caller_id")))?;
    }
    let row = GatewayRow {
        name,
        address: addr.to_string(),
        transport: transport.to_owned(),
        caller_id: b.caller_id,
        enabled: b.enabled.unwrap_or(true),
    };
    state
        .store
        .upsert_gateway(&row)
        .await
        .map_err(|e| db_failure("storing the gateway", &e))?;
    routing_changed(&state);
    tracing::info!(gateway = %row.name, address = %row.address, "gateway stored through the admin API");
    Ok(Json(gateway_json(&row)))
}

async fn delete_gateway(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<StatusCode, Failure> {
    match state.store.delete_gateway(&name).await {
        Ok(true) => {
            routing_changed(&state);
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(not_found(format!("no gateway {name:?}"))),
        Err(e) => Err(db_failure("deleting the gateway", &e)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    members: Vec<String>,
    #[serde(default)]
    step_delay: u32,
    #[serde(default)]
    max_steps: u32,
}

fn group_json(g: &RingGroupRow) -> Value {
    json!({"login": g.login, "members": g.members, "step_delay": g.step_delay_s,
           "max_steps": g.max_steps})
}

async fn list_groups(State(state): State<AdminState>) -> Result<Json<Vec<Value>>, Failure> {
    let rows = state
        .store
        .list_ring_groups()
        .await
        .map_err(|e| db_failure("reading the ring groups", &e))?;
    Ok(Json(rows.iter().map(group_json).collect()))
}

async fn put_group(
    State(state): State<AdminState>,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let b: GroupBody = json_body(body)?;
    check_login(&login).map_err(bad)?;
    if b.members.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "members must not be empty"));
    }
    let members: Vec<String> = b.members.iter().map(|m| m.trim().to_owned()).collect();
    for m in &members {
        check_login(m).map_err(|e| bad(e.context(format!("member {m:?}"))))?;
    }
    let row = RingGroupRow {
        login,
        members,
        step_delay_s: b.step_delay,
        max_steps: b.max_steps,
    };
    state
        .store
        .upsert_ring_group(&row)
        .await
        .map_err(|e| db_failure("storing the ring group", &e))?;
    routing_changed(&state);
    tracing::info!(group = %row.login, "ring group stored through the admin API");
    Ok(Json(group_json(&row)))
}

async fn delete_group(
    State(state): State<AdminState>,
    Path(login): Path<String>,
) -> Result<StatusCode, Failure> {
    match state.store.delete_ring_group(&login).await {
        Ok(true) => {
            routing_changed(&state);
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(not_found(format!("no ring group {login:?}"))),
        Err(e) => Err(db_failure("deleting the ring group", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{request, sqlite_store, start_operator, AUTH};

    #[tokio::test]
    async fn routing_tables_crud_with_the_cli_checks() {
        let (_dir, store) = sqlite_store().await;
        let addr = start_operator(store.clone()).await;
        let call = |method: &'static str, path: &'static str, body: &'static str| async move {
            request(addr, method, path, &[AUTH], body).await
        };
        let (status, _, body) = call(
            "POST",
            "/api/routing/routes",
            r#"{"prefix":"00","action":"gateway:gw1  strip=2","priority":1}"#,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert!(
            body.contains(r#""action":"gateway:gw1 strip=2""#),
            "canonical: {body}"
        );
        let (status, _, body) = call(
            "POST",
            "/api/routing/routes",
            r#"{"prefix":"1","action":"fly"}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("expected one of"), "{body}");
        let rows = store.list_dial_plan().await.unwrap();
        assert_eq!(rows.len(), 1);
        let (status, _, body) = call(
            "PUT",
            "/api/routing/gateways/gw1",
            r#"{"address":"192.0.2.10:5060","caller_id":"4800"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, _, _) = call(
            "PUT",
            "/api/routing/gateways/gw1",
            r#"{"address":"no where"}"#,
        )
        .await;
        assert_eq!(status, 400);
        let (status, _, body) = call(
            "PUT",
            "/api/routing/groups/sales",
            r#"{"members":["alice","bob"],"step_delay":5}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (_, _, body) = call("GET", "/api/routing/groups", "").await;
        assert!(body.contains(r#""members":["alice","bob"]"#), "{body}");
        assert_eq!(call("DELETE", "/api/routing/gateways/gw1", "").await.0, 204);
        assert_eq!(call("DELETE", "/api/routing/gateways/gw1", "").await.0, 404);
        assert_eq!(call("DELETE", "/api/routing/groups/sales", "").await.0, 204);
        let path = format!("/api/routing/routes/{}", rows[0].id);
        assert_eq!(request(addr, "DELETE", &path, &[AUTH], "").await.0, 204);
        assert!(store.list_dial_plan().await.unwrap().is_empty());
    }
}
