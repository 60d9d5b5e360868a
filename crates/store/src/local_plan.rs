//! The local dialing plan: the `local_dialing_plan` table (voipswitch's
//! `api.local_dialing_plan`), prefix → SIP server. Softphones download it (admin HTTP API,
//! `GET /api/local-dialing-plan`) to pick their home server; ferroswitch does not route with it.

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// One prefix of the local dialing plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPlanRow {
    /// Number prefix (the key).
    pub prefix: String,
    /// The SIP server softphones with numbers under this prefix use, e.g. `sip1.company.com`.
    pub server: String,
}

impl LocalPlanRow {
    fn check(&self) -> Result<(), StoreError> {
        limits::check("prefix", &self.prefix, limits::PREFIX)?;
        if self.server.is_empty() {
            return Err(StoreError::Empty { field: "server" });
        }
        limits::check("server", &self.server, limits::SERVER)
    }
}

fn local_plan_from_row(row: &AnyRow) -> Result<LocalPlanRow, sqlx::Error> {
    Ok(LocalPlanRow {
        prefix: row.try_get("prefix")?,
        server: row.try_get("server")?,
    })
}

impl Store {
    /// Adds a prefix to the local dialing plan, or points an existing prefix at a new server.
    pub async fn add_local_plan(&self, row: &LocalPlanRow) -> Result<(), StoreError> {
        row.check()?;
        let statement = format!(
            "INSERT INTO local_dialing_plan (prefix, server) VALUES (?, ?){}",
            sql::upsert_tail(self.backend, &["prefix"], &["server"])
        );
        sqlx::query(&statement)
            .bind(row.prefix.as_str())
            .bind(row.server.as_str())
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("add_local_plan"))?;
        Ok(())
    }

    /// The local dialing plan, ordered by prefix (byte order).
    pub async fn list_local_plan(&self) -> Result<Vec<LocalPlanRow>, StoreError> {
        let op = "list_local_plan";
        let mut rows = sqlx::query("SELECT prefix, server FROM local_dialing_plan ORDER BY prefix")
            .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(local_plan_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }

    /// Deletes a prefix. `false` if it is not in the plan.
    pub async fn delete_local_plan(&self, prefix: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM local_dialing_plan WHERE prefix = ?")
            .bind(prefix)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete_local_plan"))?;
        Ok(result.rows_affected() > 0)
    }
}
