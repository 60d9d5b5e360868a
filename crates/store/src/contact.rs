//! The local buddy lists: the `contacts` table, one row per (owner, buddy).
//!
//! A resource-list SUBSCRIBE (RFC 4662) to one's own list gets the buddies from the operator's
//! buddy-list hook; with no hook configured, from here.

use futures_util::TryStreamExt as _;
use sqlx::Row;

use crate::{limits, Store, StoreError};

impl Store {
    /// Adds `buddy` to `owner`'s buddy list. `false` if it is on the list already.
    pub async fn add_contact(&self, owner: &str, buddy: &str) -> Result<bool, StoreError> {
        limits::check_non_empty("owner", owner, limits::LOGIN)?;
        limits::check_non_empty("buddy", buddy, limits::LOGIN)?;
        let result = sqlx::query("INSERT INTO contacts (owner, buddy) VALUES (?, ?)")
            .bind(owner)
            .bind(buddy)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(source) => Err(StoreError::Query {
                op: "add_contact",
                source,
            }),
        }
    }

    /// Removes `buddy` from `owner`'s buddy list. `false` if it was not on it.
    pub async fn remove_contact(&self, owner: &str, buddy: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM contacts WHERE owner = ? AND buddy = ?")
            .bind(owner)
            .bind(buddy)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("remove_contact"))?;
        Ok(result.rows_affected() > 0)
    }

    /// `owner`'s buddies, ordered by login (byte order, the same on both backends); empty when
    /// the owner has none.
    pub async fn list_contacts(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let op = "list_contacts";
        let mut rows = sqlx::query("SELECT buddy FROM contacts WHERE owner = ? ORDER BY buddy")
            .bind(owner)
            .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(row.try_get("buddy").map_err(StoreError::query(op))?);
        }
        Ok(out)
    }
}
