//! Device instances: the `aa_ue_instance` table. Every `+sip.instance` ever seen for a login is
//! kept, with when it was first and last seen.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// "This instance of this login was seen at `at`" (e.g. in a REGISTER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSeen {
    /// SIP login.
    pub login: String,
    /// The `+sip.instance` value as sent, e.g. `<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>`.
    pub instance: String,
    /// Epoch seconds.
    pub at: i64,
}

/// A stored instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    /// `aa_ue_instance.id` (what `push_device_token.instance_id` points to).
    pub id: i64,
    /// SIP login.
    pub login: String,
    /// The `+sip.instance` value.
    pub instance: String,
    /// Epoch seconds of the first sighting.
    pub first_seen: i64,
    /// Epoch seconds of the latest sighting.
    pub last_seen: i64,
}

/// Rows per multi-row upsert.
const TOUCH_CHUNK: usize = 500;

fn instance_from_row(row: &AnyRow) -> Result<InstanceRecord, sqlx::Error> {
    Ok(InstanceRecord {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        instance: row.try_get("instance")?,
        first_seen: row.try_get("first_seen")?,
        last_seen: row.try_get("last_seen")?,
    })
}

impl Store {
    /// Records sightings, in one transaction: a new (login, instance) gets
    /// `first_seen = last_seen = at`; a known one gets `last_seen = at` (for repeats within
    /// `seen`, the later entry wins) and keeps its `first_seen`.
    pub async fn touch_instances(&self, seen: &[InstanceSeen]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        for s in seen {
            limits::check_login(&s.login)?;
            limits::check("instance", &s.instance, limits::INSTANCE)?;
        }
        let err = StoreError::query("touch_instances");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        for chunk in seen.chunks(TOUCH_CHUNK) {
            let statement = format!(
                "INSERT INTO aa_ue_instance (login, instance, first_seen, last_seen) VALUES {}{}",
                sql::values_tuples(chunk.len(), 4),
                sql::upsert_tail(self.backend, &["login", "instance"], &["last_seen"])
            );
            let mut q = sqlx::query(&statement);
            for s in chunk {
                q = q
                    .bind(s.login.as_str())
                    .bind(s.instance.as_str())
                    .bind(s.at)
                    .bind(s.at);
            }
            q.execute(&mut *tx).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }

    /// The instances seen for a login, oldest first.
    pub async fn list_instances(&self, login: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        let op = "list_instances";
        let rows = sqlx::query(
            "SELECT id, login, instance, first_seen, last_seen FROM aa_ue_instance \
             WHERE login = ? ORDER BY first_seen, id",
        )
        .bind(login)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(instance_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }
}
