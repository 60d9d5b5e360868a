//! OFFNET gateways: the `gateways` table, keyed by name (what the plan's `gateway:` actions
//! list).

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// A gateway: a SIP peer that OFFNET calls are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRow {
    /// The name the dialing plan uses (`gateway:NAME,...`).
    pub name: String,
    /// `ip:port`, IPv6 in brackets (`[2001:db8::5]:5060`). The store does not parse it; the
    /// CLI and the loader do.
    pub address: String,
    /// `udp` or `tcp` (the table default is `udp`).
    pub transport: String,
    /// When set, replaces the From user part of calls sent through this gateway.
    pub caller_id: Option<String>,
    /// A disabled gateway is skipped (the next one in the action's list is tried).
    pub enabled: bool,
}

impl GatewayRow {
    fn check(&self) -> Result<(), StoreError> {
        if self.name.is_empty() {
            return Err(StoreError::Empty {
                field: "gateway name",
            });
        }
        limits::check("gateway name", &self.name, limits::GATEWAY_NAME)?;
        if self.address.is_empty() {
            return Err(StoreError::Empty {
                field: "gateway address",
            });
        }
        limits::check("gateway address", &self.address, limits::ADDR)?;
        if self.transport.is_empty() {
            return Err(StoreError::Empty {
                field: "gateway transport",
            });
        }
        limits::check("gateway transport", &self.transport, limits::TRANSPORT)?;
        limits::check_opt("caller_id", self.caller_id.as_deref(), limits::CALLER_ID)
    }
}

fn gateway_from_row(row: &AnyRow) -> Result<GatewayRow, sqlx::Error> {
    Ok(GatewayRow {
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        transport: row.try_get("transport")?,
        caller_id: row.try_get("caller_id")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
    })
}

impl Store {
    /// Creates a gateway, or replaces every field of the one with the same name.
    pub async fn upsert_gateway(&self, gateway: &GatewayRow) -> Result<(), StoreError> {
        gateway.check()?;
        let statement = format!(
            "INSERT INTO gateways (name, address, transport, caller_id, enabled) \
             VALUES (?, ?, ?, ?, ?){}",
            sql::upsert_tail(
                self.backend,
                &["name"],
                &["address", "transport", "caller_id", "enabled"]
            )
        );
        sqlx::query(&statement)
            .bind(gateway.name.as_str())
            .bind(gateway.address.as_str())
            .bind(gateway.transport.as_str())
            .bind(gateway.caller_id.as_deref())
            .bind(i64::from(gateway.enabled))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("upsert_gateway"))?;
        Ok(())
    }

    /// Every gateway, ordered by name (byte order).
    pub async fn list_gateways(&self) -> Result<Vec<GatewayRow>, StoreError> {
        let op = "list_gateways";
        let mut rows = sqlx::query(
            "SELECT name, address, transport, caller_id, enabled FROM gateways ORDER BY name",
        )
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(gateway_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }

    /// Deletes a gateway. `false` if there is no such name. Dialing-plan entries that name it
    /// are not changed.
    pub async fn delete_gateway(&self, name: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM gateways WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete_gateway"))?;
        Ok(result.rows_affected() > 0)
    }
}
