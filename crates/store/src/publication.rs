//! Presence publications (RFC 3903): the `presence_publications` table, keyed by entity-tag.
//!
//! The `presence` core keeps publications in memory and is the authority while it runs; it
//! emits write-through changes (`Persist` actions) that the driver turns into
//! [`PublicationChange`]s and applies here in batches ([`Store::apply_publication_changes`]).
//! At start the driver loads the live rows back ([`Store::load_publications`]) and hands them to
//! the core's `restore`, so a phone's next refresh after a restart still matches its
//! entity-tag. Times are milliseconds since the Unix epoch (wall clock).
//!
//! Every refresh or modification issues a new entity-tag, so a change names the row it
//! replaces. The store applies a batch by its net effect per entity-tag, which is what applying
//! the changes one by one gives (each change touches only its own entity-tags): a replaced or
//! removed tag is deleted, a written one is upserted. That makes a replacement robust when the
//! old row is already gone (purged, or removed by another node), and a batch safe to apply
//! twice.

use std::collections::HashMap;

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// One publication (one device's PIDF document under one entity-tag) as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPublication {
    /// The presentity's login.
    pub login: String,
    /// The current entity-tag (`SIP-ETag`).
    pub etag: String,
    /// Absolute expiry, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// When the body last changed, ms since the Unix epoch (a refresh does not change it).
    pub modified_at_ms: i64,
    /// The PIDF document as published (at most [`limits::BODY_BYTES`]).
    pub body: Vec<u8>,
}

/// One change to the stored publications (the core's `Persist` action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicationChange {
    /// Write `row` under `row.etag`. With `replaces`, the publication was refreshed or modified
    /// and its previous entity-tag is gone: the row under `replaces` is deleted (no error if it
    /// is already absent; the new row is written either way).
    Upsert {
        /// The publication as it is now.
        row: StoredPublication,
        /// The entity-tag it had before, if it is a refresh or modification.
        replaces: Option<String>,
    },
    /// Delete the publication with this entity-tag (no error if absent).
    Remove {
        /// The presentity (informational: the entity-tag alone identifies the row).
        login: String,
        /// Its entity-tag.
        etag: String,
    },
}

const PUBLICATION_COLUMNS: &str = "etag, login, expires_at_ms, modified_at_ms, body, node_id";
const PUBLICATION_COLUMN_COUNT: usize = 6;
/// Every column but the key: what an upsert overwrites.
const PUBLICATION_UPDATE_COLUMNS: [&str; PUBLICATION_COLUMN_COUNT - 1] = [
    "login",
    "expires_at_ms",
    "modified_at_ms",
    "body",
    "node_id",
];
/// Rows per multi-row upsert, at most.
const UPSERT_CHUNK: usize = 200;
/// Body bytes per multi-row upsert, at most (a single larger body goes alone): keeps a statement
/// well under MySQL's `max_allowed_packet`.
const UPSERT_CHUNK_BYTES: usize = 2 * 1024 * 1024;
/// Entity-tags per grouped `DELETE`.
const DELETE_CHUNK: usize = 200;

impl StoredPublication {
    fn check(&self, node_id: &str) -> Result<(), StoreError> {
        limits::check_login(&self.login)?;
        limits::check_non_empty("etag", &self.etag, limits::ETAG)?;
        limits::check("node_id", node_id, limits::NODE_ID)?;
        limits::check_bytes("publication body", &self.body, limits::BODY_BYTES)
    }
}

fn publication_from_row(row: &AnyRow) -> Result<StoredPublication, sqlx::Error> {
    Ok(StoredPublication {
        login: row.try_get("login")?,
        etag: row.try_get("etag")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        modified_at_ms: row.try_get("modified_at_ms")?,
        body: row.try_get("body")?,
    })
}

/// The net effect of a batch: per entity-tag, the row to write (`Some`) or delete (`None`),
/// in order of first mention.
fn net_effect(changes: &[PublicationChange]) -> Vec<(&str, Option<&StoredPublication>)> {
    fn put<'a>(
        index: &mut HashMap<&'a str, usize>,
        out: &mut Vec<(&'a str, Option<&'a StoredPublication>)>,
        etag: &'a str,
        row: Option<&'a StoredPublication>,
    ) {
        match index.get(etag) {
            Some(&i) => out[i].1 = row,
            None => {
                index.insert(etag, out.len());
                out.push((etag, row));
            }
        }
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<(&str, Option<&StoredPublication>)> = Vec::new();
    for change in changes {
        match change {
            PublicationChange::Upsert { row, replaces } => {
                if let Some(old) = replaces.as_deref().filter(|old| *old != row.etag) {
                    put(&mut index, &mut out, old, None);
                }
                put(&mut index, &mut out, &row.etag, Some(row));
            }
            PublicationChange::Remove { etag, .. } => put(&mut index, &mut out, etag, None),
        }
    }
    out
}

/// Splits rows into multi-row upserts of at most [`UPSERT_CHUNK`] rows and about
/// [`UPSERT_CHUNK_BYTES`] of bodies.
fn upsert_chunks<'a>(rows: &[&'a StoredPublication]) -> Vec<Vec<&'a StoredPublication>> {
    let mut chunks: Vec<Vec<&StoredPublication>> = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let fits = chunks.last().is_some_and(|c| {
            c.len() < UPSERT_CHUNK && bytes + row.body.len() <= UPSERT_CHUNK_BYTES
        });
        if !fits {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += row.body.len();
        if let Some(c) = chunks.last_mut() {
            c.push(row);
        }
    }
    chunks
}

impl Store {
    /// Applies a batch of changes in one transaction (all or nothing), with the same result as
    /// applying them in order (see the module docs). `node_id` is the node whose presence core
    /// made the changes: written rows are marked with it. Every row is checked against
    /// [`crate::limits`] before anything is written.
    pub async fn apply_publication_changes(
        &self,
        node_id: &str,
        changes: &[PublicationChange],
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        for change in changes {
            if let PublicationChange::Upsert { row, .. } = change {
                row.check(node_id)?;
            }
        }
        let net = net_effect(changes);
        let deletes: Vec<&str> = net
            .iter()
            .filter(|(_, row)| row.is_none())
            .map(|(etag, _)| *etag)
            .collect();
        let writes: Vec<&StoredPublication> = net.iter().filter_map(|(_, row)| *row).collect();

        let err = StoreError::query("apply_publication_changes");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        for chunk in deletes.chunks(DELETE_CHUNK) {
            let statement = format!(
                "DELETE FROM presence_publications WHERE etag IN {}",
                sql::in_list(chunk.len())
            );
            let mut q = sqlx::query(&statement);
            for etag in chunk {
                q = q.bind(*etag);
            }
            q.execute(&mut *tx).await.map_err(&err)?;
        }
        for chunk in upsert_chunks(&writes) {
            let statement = format!(
                "INSERT INTO presence_publications ({PUBLICATION_COLUMNS}) VALUES {}{}",
                sql::values_tuples(chunk.len(), PUBLICATION_COLUMN_COUNT),
                sql::upsert_tail(self.backend, &["etag"], &PUBLICATION_UPDATE_COLUMNS)
            );
            let mut q = sqlx::query(&statement);
            for r in chunk {
                q = q
                    .bind(r.etag.as_str())
                    .bind(r.login.as_str())
                    .bind(r.expires_at_ms)
                    .bind(r.modified_at_ms)
                    .bind(r.body.as_slice())
                    .bind(node_id);
            }
            q.execute(&mut *tx).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }

    /// The publications still live at `now_ms` (`expires_at_ms > now_ms`), of every node or
    /// only those written by `node_id`. Ordered by (login, modified_at_ms, etag).
    pub async fn load_publications(
        &self,
        now_ms: i64,
        node_id: Option<&str>,
    ) -> Result<Vec<StoredPublication>, StoreError> {
        let op = "load_publications";
        let node_filter = if node_id.is_some() {
            " AND node_id = ?"
        } else {
            ""
        };
        let statement = format!(
            "SELECT {PUBLICATION_COLUMNS} FROM presence_publications \
             WHERE expires_at_ms > ?{node_filter} ORDER BY login, modified_at_ms, etag"
        );
        let mut q = sqlx::query(&statement).bind(now_ms);
        if let Some(node) = node_id {
            q = q.bind(node);
        }
        let mut rows = q.fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(publication_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }

    /// Deletes publications with `expires_at_ms <= now_ms` (of every node); returns how many.
    pub async fn purge_expired_publications(&self, now_ms: i64) -> Result<u64, StoreError> {
        let total = sql::purge_expired(
            &self.pool,
            self.backend,
            "presence_publications",
            "expires_at_ms",
            now_ms,
        )
        .await
        .map_err(StoreError::query("purge_expired_publications"))?;
        if total > 0 {
            tracing::debug!(purged = total, "expired presence publications purged");
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(etag: &str, body_len: usize) -> StoredPublication {
        StoredPublication {
            login: "alice".into(),
            etag: etag.into(),
            expires_at_ms: 0,
            modified_at_ms: 0,
            body: vec![b'x'; body_len],
        }
    }

    fn upsert(etag: &str, replaces: Option<&str>) -> PublicationChange {
        PublicationChange::Upsert {
            row: publication(etag, 1),
            replaces: replaces.map(str::to_owned),
        }
    }

    fn remove(etag: &str) -> PublicationChange {
        PublicationChange::Remove {
            login: "alice".into(),
            etag: etag.into(),
        }
    }

    #[test]
    fn net_effect_is_the_last_change_per_entity_tag() {
        let changes = [
            upsert("e1", None),
            upsert("e2", Some("e1")), // refresh: e1 gone
            upsert("e3", Some("e2")), // again: e2 gone
            upsert("f1", None),
            remove("f1"),
            remove("g1"),
            upsert("g1", None),       // re-added after a removal: written
            upsert("h1", Some("h1")), // replacing itself: just written
        ];
        let net: Vec<(&str, Option<&str>)> = net_effect(&changes)
            .into_iter()
            .map(|(etag, row)| (etag, row.map(|r| r.etag.as_str())))
            .collect();
        assert_eq!(
            net,
            [
                ("e1", None),
                ("e2", None),
                ("e3", Some("e3")),
                ("f1", None),
                ("g1", Some("g1")),
                ("h1", Some("h1")),
            ]
        );
    }

    #[test]
    fn upsert_chunks_are_bounded_by_rows_and_bytes() {
        let small: Vec<StoredPublication> =
            (0..450).map(|i| publication(&i.to_string(), 10)).collect();
        let refs: Vec<&StoredPublication> = small.iter().collect();
        let sizes: Vec<usize> = upsert_chunks(&refs).iter().map(Vec::len).collect();
        assert_eq!(sizes, [200, 200, 50]);

        // 900 KiB each: two fit in 2 MiB, the third starts a new statement.
        let big: Vec<StoredPublication> = (0..5)
            .map(|i| publication(&i.to_string(), 900 * 1024))
            .collect();
        let refs: Vec<&StoredPublication> = big.iter().collect();
        let sizes: Vec<usize> = upsert_chunks(&refs).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(upsert_chunks(&[]).is_empty());
    }
}
