//! The dialing plan: the `dialing_plan` table (prefix → action, by priority).
//!
//! The store keeps the action as text; the `dialplan` crate parses it (and the CLI validates it
//! with that parser before it gets here), so a row read back can still be refused at load time
//! with an error that names its id.

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// A dialing-plan entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlanEntry {
    /// The leading part of the routed number this entry is for; `""` matches every number.
    pub prefix: String,
    /// Among entries with the same prefix, lower values are tried first.
    pub priority: i32,
    /// The action, in the `dialplan` crate's text form (`user-lookup`, `gateway:gw1,gw2 strip=2`,
    /// `service:sip:...`, `voicemail:sip:...`, `ring-group:NAME`, `reject:CODE`).
    pub action: String,
    /// Free text for the operator.
    pub description: Option<String>,
}

/// A stored dialing-plan entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntryRow {
    /// `dialing_plan.id`, what `delete_plan_entry` takes.
    pub id: i64,
    /// See [`NewPlanEntry::prefix`].
    pub prefix: String,
    /// See [`NewPlanEntry::priority`].
    pub priority: i32,
    /// See [`NewPlanEntry::action`].
    pub action: String,
    /// See [`NewPlanEntry::description`].
    pub description: Option<String>,
}

impl NewPlanEntry {
    fn check(&self) -> Result<(), StoreError> {
        limits::check("prefix", &self.prefix, limits::PREFIX)?;
        if self.action.trim().is_empty() {
            return Err(StoreError::Empty { field: "action" });
        }
        limits::check("action", &self.action, limits::ACTION)?;
        limits::check_opt(
            "description",
            self.description.as_deref(),
            limits::DESCRIPTION,
        )
    }
}

fn plan_entry_from_row(row: &AnyRow) -> Result<PlanEntryRow, sqlx::Error> {
    Ok(PlanEntryRow {
        id: row.try_get("id")?,
        prefix: row.try_get("prefix")?,
        priority: row.try_get("priority")?,
        action: row.try_get("action")?,
        description: row.try_get("description")?,
    })
}

impl Store {
    /// Adds an entry to the dialing plan and returns its id. Several entries may share a prefix
    /// (and a priority): the plan keeps them all.
    pub async fn add_plan_entry(&self, entry: &NewPlanEntry) -> Result<i64, StoreError> {
        entry.check()?;
        let err = StoreError::query("add_plan_entry");
        // The Any driver does not report SQLite's rowid: ask the connection that inserted.
        let mut conn = self.pool.acquire().await.map_err(&err)?;
        sqlx::query(
            "INSERT INTO dialing_plan (prefix, priority, action, description) VALUES (?, ?, ?, ?)",
        )
        .bind(entry.prefix.as_str())
        .bind(entry.priority)
        .bind(entry.action.as_str())
        .bind(entry.description.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(&err)?;
        sqlx::query_scalar::<_, i64>(sql::last_insert_id(self.backend))
            .fetch_one(&mut *conn)
            .await
            .map_err(&err)
    }

    /// The whole dialing plan, ordered by prefix (byte order), then priority, then id (the order
    /// entries were added in).
    pub async fn list_dial_plan(&self) -> Result<Vec<PlanEntryRow>, StoreError> {
        let op = "list_dial_plan";
        let mut rows = sqlx::query(
            "SELECT id, prefix, priority, action, description FROM dialing_plan \
             ORDER BY prefix, priority, id",
        )
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(plan_entry_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }

    /// Deletes the entry with this id. `false` if there is none.
    pub async fn delete_plan_entry(&self, id: i64) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM dialing_plan WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete_plan_entry"))?;
        Ok(result.rows_affected() > 0)
    }
}
