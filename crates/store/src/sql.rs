//! The few places where SQLite and MySQL SQL differ, each decided once here, plus placeholder
//! lists shared by both (`?` on both).

use sqlx::{Any, AnyPool, Transaction};

use crate::Backend;

/// `(?,?,?),(?,?,?)`: `rows` tuples of `cols` placeholders, for a multi-row `VALUES`.
pub(crate) fn values_tuples(rows: usize, cols: usize) -> String {
    let tuple = format!("({})", vec!["?"; cols].join(","));
    vec![tuple; rows].join(",")
}

/// `(?,?,?)`: a list of `n` placeholders for `IN`.
pub(crate) fn in_list(n: usize) -> String {
    format!("({})", vec!["?"; n].join(","))
}

/// The upsert tail of an `INSERT ... VALUES ...`: on a conflict on `key` (a unique key's
/// columns), overwrite `update` with the inserted row's values.
pub(crate) fn upsert_tail(backend: Backend, key: &[&str], update: &[&str]) -> String {
    match backend {
        Backend::Sqlite => {
            let set: Vec<String> = update.iter().map(|c| format!("{c}=excluded.{c}")).collect();
            format!(
                " ON CONFLICT({}) DO UPDATE SET {}",
                key.join(","),
                set.join(",")
            )
        }
        Backend::MySql => {
            let set: Vec<String> = update.iter().map(|c| format!("{c}=VALUES({c})")).collect();
            format!(" ON DUPLICATE KEY UPDATE {}", set.join(","))
        }
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing with
/// `SQLITE_BUSY` when it upgrades from reader to writer.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<Transaction<'static, Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::MySql => pool.begin().await,
    }
}

/// Deletes expired bindings. MySQL deletes in bounded slices (each its own statement) so a
/// large purge never makes one huge Galera write-set; SQLite has no `DELETE ... LIMIT` by default.
pub(crate) fn purge_expired_sql(backend: Backend) -> (&'static str, Option<u64>) {
    match backend {
        Backend::Sqlite => ("DELETE FROM location WHERE expires_at <= ?", None),
        Backend::MySql => (
            "DELETE FROM location WHERE expires_at <= ? LIMIT 5000",
            Some(5000),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(values_tuples(2, 3), "(?,?,?),(?,?,?)");
        assert_eq!(in_list(3), "(?,?,?)");
    }

    #[test]
    fn upserts_per_backend() {
        assert_eq!(
            upsert_tail(Backend::Sqlite, &["a", "b"], &["c", "d"]),
            " ON CONFLICT(a,b) DO UPDATE SET c=excluded.c,d=excluded.d"
        );
        assert_eq!(
            upsert_tail(Backend::MySql, &["a", "b"], &["c", "d"]),
            " ON DUPLICATE KEY UPDATE c=VALUES(c),d=VALUES(d)"
        );
    }
}
