//! Registrar bindings: the `location` table, keyed by (login, binding_key).
//!
//! The registrar keeps bindings in memory and is the authority while it runs; the driver writes
//! its changes here in batches ([`Store::apply_binding_changes`]) and loads them back at start
//! ([`Store::load_bindings`]), so bindings survive a restart and other nodes can see which node
//! holds a device's flow.

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// One binding (one contact of one login) as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRecord {
    /// SIP login (address-of-record user part).
    pub login: String,
    /// The registrar's identity of this binding: instance + reg-id, or the contact URI.
    pub binding_key: String,
    /// The full Contact URI.
    pub contact: String,
    /// `+sip.instance`, if the device sent one.
    pub instance: Option<String>,
    /// RFC 5626 `reg-id`, if sent.
    pub reg_id: Option<i64>,
    /// Contact `q` × 1000, if sent.
    pub q_milli: Option<i64>,
    /// Expiry, epoch seconds.
    pub expires_at: i64,
    /// Call-ID of the REGISTER that created or refreshed the binding.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: i64,
    /// `ip:port` the REGISTER came from (IPv6 in brackets).
    pub received: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// Our socket it arrived on, `ip:port`.
    pub local_addr: String,
    /// Which ferroswitch node holds the flow.
    pub node_id: String,
    /// Path header value (RFC 3327), if any.
    pub path: Option<String>,
    /// User-Agent, if any.
    pub user_agent: Option<String>,
    /// Last write, epoch seconds.
    pub updated_at: i64,
}

/// One change to the stored bindings.
// Most changes are upserts: boxing the record would add an allocation per change for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// Insert, or replace every field of the binding with the same (login, binding_key).
    Upsert(BindingRecord),
    /// Remove one binding (no error if absent).
    Remove {
        /// SIP login.
        login: String,
        /// The binding's key.
        binding_key: String,
    },
    /// Remove every binding of a login (`Contact: *`, account deleted).
    RemoveAll {
        /// SIP login.
        login: String,
    },
}

const BINDING_COLUMNS: &str = "login, binding_key, contact, instance, reg_id, q_milli, \
     expires_at, call_id, cseq, received, transport, local_addr, node_id, path, user_agent, \
     updated_at";
const BINDING_COLUMN_COUNT: usize = 16;
/// Every column but the key: what an upsert overwrites.
const BINDING_UPDATE_COLUMNS: [&str; BINDING_COLUMN_COUNT - 2] = [
    "contact",
    "instance",
    "reg_id",
    "q_milli",
    "expires_at",
    "call_id",
    "cseq",
    "received",
    "transport",
    "local_addr",
    "node_id",
    "path",
    "user_agent",
    "updated_at",
];
/// Rows per multi-row upsert: 16 × 250 = 4000 placeholders, well under SQLite's 32766.
const UPSERT_CHUNK: usize = 250;
/// Keys per grouped `DELETE`.
const DELETE_CHUNK: usize = 200;

impl BindingRecord {
    fn check(&self) -> Result<(), StoreError> {
        limits::check_login(&self.login)?;
        limits::check("binding_key", &self.binding_key, limits::BINDING_KEY)?;
        limits::check("contact", &self.contact, limits::CONTACT)?;
        limits::check_opt("instance", self.instance.as_deref(), limits::INSTANCE)?;
        limits::check("call_id", &self.call_id, limits::CALL_ID)?;
        limits::check("received", &self.received, limits::ADDR)?;
        limits::check("transport", &self.transport, limits::TRANSPORT)?;
        limits::check("local_addr", &self.local_addr, limits::ADDR)?;
        limits::check("node_id", &self.node_id, limits::NODE_ID)?;
        limits::check_opt("path", self.path.as_deref(), limits::PATH)?;
        limits::check_opt("user_agent", self.user_agent.as_deref(), limits::USER_AGENT)
    }
}

fn binding_from_row(row: &AnyRow) -> Result<BindingRecord, sqlx::Error> {
    Ok(BindingRecord {
        login: row.try_get("login")?,
        binding_key: row.try_get("binding_key")?,
        contact: row.try_get("contact")?,
        instance: row.try_get("instance")?,
        reg_id: row.try_get("reg_id")?,
        q_milli: row.try_get("q_milli")?,
        expires_at: row.try_get("expires_at")?,
        call_id: row.try_get("call_id")?,
        cseq: row.try_get("cseq")?,
        received: row.try_get("received")?,
        transport: row.try_get("transport")?,
        local_addr: row.try_get("local_addr")?,
        node_id: row.try_get("node_id")?,
        path: row.try_get("path")?,
        user_agent: row.try_get("user_agent")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Runs of consecutive changes of one kind: within a run order does not matter (or, for
/// upserts, a multi-row `INSERT` applies rows in order), so each run becomes a few statements.
enum Run<'a> {
    Upserts(Vec<&'a BindingRecord>),
    Removes(Vec<(&'a str, &'a str)>),
    RemoveAlls(Vec<&'a str>),
}

fn runs(changes: &[BindingChange]) -> Vec<Run<'_>> {
    let mut out: Vec<Run<'_>> = Vec::new();
    for change in changes {
        match (change, out.last_mut()) {
            (BindingChange::Upsert(r), Some(Run::Upserts(v))) => v.push(r),
            (BindingChange::Upsert(r), _) => out.push(Run::Upserts(vec![r])),
            (BindingChange::Remove { login, binding_key }, Some(Run::Removes(v))) => {
                v.push((login, binding_key));
            }
            (BindingChange::Remove { login, binding_key }, _) => {
                out.push(Run::Removes(vec![(login, binding_key)]));
            }
            (BindingChange::RemoveAll { login }, Some(Run::RemoveAlls(v))) => v.push(login),
            (BindingChange::RemoveAll { login }, _) => out.push(Run::RemoveAlls(vec![login])),
        }
    }
    out
}

impl Store {
    /// Every stored binding, or only those held by `node_id`, expired ones included (the
    /// caller filters by its own clock). Ordered by (login, binding_key).
    pub async fn load_bindings(
        &self,
        node_id: Option<&str>,
    ) -> Result<Vec<BindingRecord>, StoreError> {
        let op = "load_bindings";
        let all = format!("SELECT {BINDING_COLUMNS} FROM location ORDER BY login, binding_key");
        let one = format!(
            "SELECT {BINDING_COLUMNS} FROM location WHERE node_id = ? ORDER BY login, binding_key"
        );
        let query = match node_id {
            Some(node) => sqlx::query(&one).bind(node),
            None => sqlx::query(&all),
        };
        // decoded one row at a time (see `list_accounts`)
        let mut rows = query.fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(binding_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }

    /// Applies a batch of changes in order, in one transaction: all or nothing. Consecutive
    /// upserts go in multi-row upserts, consecutive removes in grouped deletes. Every record is
    /// checked against [`crate::limits`] before anything is written.
    pub async fn apply_binding_changes(&self, changes: &[BindingChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        for change in changes {
            if let BindingChange::Upsert(r) = change {
                r.check()?;
            }
        }
        let err = StoreError::query("apply_binding_changes");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        for run in runs(changes) {
            match run {
                Run::Upserts(records) => {
                    for chunk in records.chunks(UPSERT_CHUNK) {
                        // as long as the chunk: one row under light load, not 500
                        let statement = upsert_bindings_sql(self, chunk.len());
                        let mut q = sqlx::query(&statement);
                        for r in chunk {
                            q = q
                                .bind(r.login.as_str())
                                .bind(r.binding_key.as_str())
                                .bind(r.contact.as_str())
                                .bind(r.instance.as_deref())
                                .bind(r.reg_id)
                                .bind(r.q_milli)
                                .bind(r.expires_at)
                                .bind(r.call_id.as_str())
                                .bind(r.cseq)
                                .bind(r.received.as_str())
                                .bind(r.transport.as_str())
                                .bind(r.local_addr.as_str())
                                .bind(r.node_id.as_str())
                                .bind(r.path.as_deref())
                                .bind(r.user_agent.as_deref())
                                .bind(r.updated_at);
                        }
                        q.execute(&mut *tx).await.map_err(&err)?;
                    }
                }
                Run::Removes(keys) => {
                    for chunk in keys.chunks(DELETE_CHUNK) {
                        let statement = format!(
                            "DELETE FROM location WHERE {}",
                            vec!["(login = ? AND binding_key = ?)"; chunk.len()].join(" OR ")
                        );
                        let mut q = sqlx::query(&statement);
                        for (login, key) in chunk {
                            q = q.bind(*login).bind(*key);
                        }
                        q.execute(&mut *tx).await.map_err(&err)?;
                    }
                }
                Run::RemoveAlls(logins) => {
                    for chunk in logins.chunks(DELETE_CHUNK) {
                        let statement = format!(
                            "DELETE FROM location WHERE login IN {}",
                            sql::in_list(chunk.len())
                        );
                        let mut q = sqlx::query(&statement);
                        for login in chunk {
                            q = q.bind(*login);
                        }
                        q.execute(&mut *tx).await.map_err(&err)?;
                    }
                }
            }
        }
        tx.commit().await.map_err(&err)
    }

    /// Deletes bindings with `expires_at <= now_epoch`; returns how many.
    pub async fn purge_expired_bindings(&self, now_epoch: i64) -> Result<u64, StoreError> {
        let total = sql::purge_expired(
            &self.pool,
            self.backend,
            "location",
            "expires_at",
            now_epoch,
        )
        .await
        .map_err(StoreError::query("purge_expired_bindings"))?;
        if total > 0 {
            tracing::debug!(purged = total, "expired bindings purged");
        }
        Ok(total)
    }
}

fn upsert_bindings_sql(store: &Store, rows: usize) -> String {
    format!(
        "INSERT INTO location ({BINDING_COLUMNS}) VALUES {}{}",
        sql::values_tuples(rows, BINDING_COLUMN_COUNT),
        sql::upsert_tail(
            store.backend,
            &["login", "binding_key"],
            &BINDING_UPDATE_COLUMNS
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remove(k: &str) -> BindingChange {
        BindingChange::Remove {
            login: "a".into(),
            binding_key: k.into(),
        }
    }

    #[test]
    fn runs_group_consecutive_changes_of_one_kind() {
        let rec = BindingRecord {
            login: "a".into(),
            binding_key: "k".into(),
            contact: "sip:a@h".into(),
            instance: None,
            reg_id: None,
            q_milli: None,
            expires_at: 0,
            call_id: "c".into(),
            cseq: 1,
            received: "1.2.3.4:5".into(),
            transport: "udp".into(),
            local_addr: "5.6.7.8:5060".into(),
            node_id: "n".into(),
            path: None,
            user_agent: None,
            updated_at: 0,
        };
        let changes = vec![
            BindingChange::Upsert(rec.clone()),
            BindingChange::Upsert(rec.clone()),
            remove("k"),
            remove("j"),
            BindingChange::RemoveAll { login: "a".into() },
            BindingChange::Upsert(rec),
        ];
        let shape: Vec<(char, usize)> = runs(&changes)
            .iter()
            .map(|r| match r {
                Run::Upserts(v) => ('u', v.len()),
                Run::Removes(v) => ('r', v.len()),
                Run::RemoveAlls(v) => ('a', v.len()),
            })
            .collect();
        assert_eq!(shape, [('u', 2), ('r', 2), ('a', 1), ('u', 1)]);
    }
}
