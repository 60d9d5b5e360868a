//! The few places where SQLite and MySQL SQL differ, each decided once here, plus placeholder
//! lists shared by both (`?` on both).

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row as _, Transaction};

use crate::Backend;

/// `(?,?,?),(?,?,?)`: `rows` tuples of `cols` placeholders, for a multi-row `VALUES`.
pub(crate) fn values_tuples(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * (2 * cols + 2));
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            s.push('?');
        }
        s.push(')');
    }
    s
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

/// The id the last `INSERT` on this connection generated (an `AUTOINCREMENT` /
/// `AUTO_INCREMENT` column). Run it on the connection that inserted.
pub(crate) fn last_insert_id(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT last_insert_rowid()",
        Backend::MySql => "SELECT CAST(LAST_INSERT_ID() AS SIGNED)",
    }
}

/// Rows per slice of a bounded delete on MySQL.
const DELETE_SLICE: u64 = 5000;

/// `DELETE FROM {table} WHERE {column} <= ?` for purging expired rows. MySQL deletes in bounded
/// slices (each its own statement; repeat while a slice comes back full) so a large purge never
/// makes one huge Galera write-set; SQLite has no `DELETE ... LIMIT` by default.
pub(crate) fn purge_expired_sql(
    backend: Backend,
    table: &str,
    column: &str,
) -> (String, Option<u64>) {
    let base = format!("DELETE FROM {table} WHERE {column} <= ?");
    match backend {
        Backend::Sqlite => (base, None),
        Backend::MySql => (format!("{base} LIMIT {DELETE_SLICE}"), Some(DELETE_SLICE)),
    }
}

/// Runs [`purge_expired_sql`] (slice after slice on MySQL) and returns how many rows went.
pub(crate) async fn purge_expired(
    pool: &AnyPool,
    backend: Backend,
    table: &str,
    column: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let (statement, slice) = purge_expired_sql(backend, table, column);
    let mut total = 0;
    loop {
        let n = sqlx::query(&statement)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        total += n;
        match slice {
            Some(limit) if n >= limit => continue,
            _ => break,
        }
    }
    Ok(total)
}

/// Reads an integer column into a narrower or unsigned type; a stored value that does not fit
/// (written by hand, say) is a decode error naming the column, not a silent wrap.
pub(crate) fn int_column<T>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error>
where
    T: TryFrom<i64>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let value: i64 = row.try_get(column)?;
    T::try_from(value).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    })
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
    fn purges_are_sliced_on_mysql_only() {
        assert_eq!(
            purge_expired_sql(Backend::Sqlite, "location", "expires_at"),
            (
                "DELETE FROM location WHERE expires_at <= ?".to_owned(),
                None
            )
        );
        assert_eq!(
            purge_expired_sql(Backend::MySql, "t", "c"),
            (
                "DELETE FROM t WHERE c <= ? LIMIT 5000".to_owned(),
                Some(5000)
            )
        );
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
