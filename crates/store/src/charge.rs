//! Money moving: `billing_ledger`, `billing_reservations` and the rated CDR, each charge in
//! ONE transaction with its CDR (migration 0006).
//!
//! Exactly once: a call is charged in the transaction that writes its ledger row with the
//! call's key (`node_id:call-id`). [`Store::insert_rated_cdrs`] charges a call only when no
//! ledger row has its key yet, and deletes its reservation in the same transaction; the
//! settlement of a reservation left by a crash goes through the same path. Whichever comes
//! first charges; the other writes nothing more.

use std::borrow::Cow;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::cdr::{fitted, insert_cdr_rows};
use crate::{sql, CdrRow, Store, StoreError};

/// A rated call in progress, as the reservation row keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    /// `node_id:call-id`: the ledger's key for the call.
    pub call_key: String,
    pub node_id: String,
    pub call_id: String,
    pub login: String,
    pub number: String,
    pub tariff_id: i64,
    pub prefix: String,
    pub price_micros: i64,
    pub fee_micros: i64,
    pub inc_first: i64,
    pub inc_next: i64,
    pub min_duration: i64,
    pub rounding_decimals: i64,
    pub rounding_mode: String,
    pub bundle_id: Option<i64>,
    pub bundle_seconds: Option<i64>,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub max_ms: i64,
    /// Last time the node said the call was alive (heartbeat).
    pub seen_ms: i64,
}

/// What a rated call costs, written with its CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRow {
    pub call_key: String,
    pub login: String,
    pub cost_micros: i64,
    pub rate_micros: i64,
    pub tariff_prefix: String,
    pub billed_seconds: i64,
    /// Plan row and the seconds of it used.
    pub bundle: Option<(i64, i64)>,
    pub at_ms: i64,
    /// Ledger kind: `call`, or `settle` for a reservation settled at start.
    pub kind: &'static str,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    pub login: String,
    pub at_ms: i64,
    pub amount_micros: i64,
    pub balance_after_micros: i64,
    pub kind: String,
    pub reason: String,
    pub call_id: Option<String>,
}

/// How a report groups the rated calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportBy {
    Account,
    /// UTC day, `YYYY-MM-DD`... as the day number since the epoch (the CLI prints it).
    Day,
    /// Tariff prefix.
    Destination,
}

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// Login, day number since 1970-01-01 (UTC), or tariff prefix.
    pub key: String,
    pub calls: i64,
    /// Answer to end, summed.
    pub duration_ms: i64,
    pub billed_seconds: i64,
    pub cost_micros: i64,
}

const RESERVATION_COLUMNS: &str = "call_key, node_id, call_id, login, number, tariff_id, prefix, \
     price_micros, fee_micros, inc_first, inc_next, min_duration, rounding_decimals, \
     rounding_mode, bundle_id, bundle_seconds, start_ms, answer_ms, max_ms, seen_ms";

fn reservation_from(row: &AnyRow) -> Result<ReservationRow, sqlx::Error> {
    Ok(ReservationRow {
        call_key: row.try_get("call_key")?,
        node_id: row.try_get("node_id")?,
        call_id: row.try_get("call_id")?,
        login: row.try_get("login")?,
        number: row.try_get("number")?,
        tariff_id: row.try_get("tariff_id")?,
        prefix: row.try_get("prefix")?,
        price_micros: row.try_get("price_micros")?,
        fee_micros: row.try_get("fee_micros")?,
        inc_first: row.try_get("inc_first")?,
        inc_next: row.try_get("inc_next")?,
        min_duration: row.try_get("min_duration")?,
        rounding_decimals: row.try_get("rounding_decimals")?,
        rounding_mode: row.try_get("rounding_mode")?,
        bundle_id: row.try_get("bundle_id")?,
        bundle_seconds: row.try_get("bundle_seconds")?,
        start_ms: row.try_get("start_ms")?,
        answer_ms: row.try_get("answer_ms")?,
        max_ms: row.try_get("max_ms")?,
        seen_ms: row.try_get("seen_ms")?,
    })
}

/// Moves `login`'s balance by `amount` (negative: a debit) and writes the ledger line, on
/// `tx`. Returns the balance after, or `None` when the account is not billed.
pub(crate) async fn debit(
    tx: &mut Transaction<'static, Any>,
    login: &str,
    amount: i64,
    kind: &str,
    reason: &str,
    call_key: Option<&str>,
    at_ms: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE billing_accounts SET balance_micros = balance_micros + ? WHERE login = ?",
    )
    .bind(amount)
    .bind(login)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(None);
    }
    let after: i64 =
        sqlx::query_scalar("SELECT balance_micros FROM billing_accounts WHERE login = ?")
            .bind(login)
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query(
        "INSERT INTO billing_ledger (login, at_ms, amount_micros, balance_after_micros, kind, \
         reason, call_id) VALUES (?,?,?,?,?,?,?)",
    )
    .bind(login)
    .bind(at_ms)
    .bind(amount)
    .bind(after)
    .bind(kind)
    .bind(reason)
    .bind(call_key)
    .execute(&mut **tx)
    .await?;
    Ok(Some(after))
}

impl Store {
    /// A credit (positive) or debit (negative) by the operator, with its reason, in the
    /// ledger. Returns the new balance, `None` for an account that is not billed.
    pub async fn adjust_balance(
        &self,
        login: &str,
        amount_micros: i64,
        reason: &str,
        at_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let err = StoreError::query("adjust_balance");
        let kind = if amount_micros >= 0 {
            "credit"
        } else {
            "debit"
        };
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let after = debit(&mut tx, login, amount_micros, kind, reason, None, at_ms)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(after)
    }

    /// Ledger lines after id `after` (all logins or one), oldest first, at most `limit`.
    pub async fn ledger(
        &self,
        login: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let filter = if login.is_some() {
            " AND login = ?"
        } else {
            ""
        };
        let statement = format!(
            "SELECT id, login, at_ms, amount_micros, balance_after_micros, kind, reason, call_id \
             FROM billing_ledger WHERE id > ?{filter} ORDER BY id LIMIT ?"
        );
        let mut q = sqlx::query(&statement).bind(after);
        if let Some(l) = login {
            q = q.bind(l);
        }
        q = q.bind(i64::from(limit));
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("ledger"))?;
        rows.iter()
            .map(|row| {
                Ok(LedgerEntry {
                    id: row.try_get("id")?,
                    login: row.try_get("login")?,
                    at_ms: row.try_get("at_ms")?,
                    amount_micros: row.try_get("amount_micros")?,
                    balance_after_micros: row.try_get("balance_after_micros")?,
                    kind: row.try_get("kind")?,
                    reason: row.try_get("reason")?,
                    call_id: row.try_get("call_id")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("ledger"))
    }

    /// Writes (or rewrites) reservation rows: a rated call authorized, or answered.
    pub async fn put_reservations(&self, rows: &[ReservationRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let err = StoreError::query("put_reservations");
        let tail = sql::upsert_tail(
            self.backend,
            &["call_key"],
            &["answer_ms", "max_ms", "seen_ms"],
        );
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        for r in rows {
            sqlx::query(&format!(
                "INSERT INTO billing_reservations ({RESERVATION_COLUMNS}) VALUES {}{tail}",
                sql::values_tuples(1, 20)
            ))
            .bind(&r.call_key)
            .bind(&r.node_id)
            .bind(&r.call_id)
            .bind(&r.login)
            .bind(&r.number)
            .bind(r.tariff_id)
            .bind(&r.prefix)
            .bind(r.price_micros)
            .bind(r.fee_micros)
            .bind(r.inc_first)
            .bind(r.inc_next)
            .bind(r.min_duration)
            .bind(r.rounding_decimals)
            .bind(&r.rounding_mode)
            .bind(r.bundle_id)
            .bind(r.bundle_seconds)
            .bind(r.start_ms)
            .bind(r.answer_ms)
            .bind(r.max_ms)
            .bind(r.seen_ms)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }

    /// The heartbeat: every reservation of `node_id` is alive at `now_ms`.
    pub async fn touch_reservations(&self, node_id: &str, now_ms: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("UPDATE billing_reservations SET seen_ms = ? WHERE node_id = ?")
                .bind(now_ms)
                .bind(node_id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("touch_reservations"))?
                .rows_affected(),
        )
    }

    /// The reservations of `node_id` (at start: those a crash left).
    pub async fn reservations(&self, node_id: &str) -> Result<Vec<ReservationRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM billing_reservations WHERE node_id = ? \
             ORDER BY start_ms"
        ))
        .bind(node_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reservations"))?;
        rows.iter()
            .map(reservation_from)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("reservations"))
    }

    /// Drops a reservation that never got answered (nothing to charge).
    pub async fn release_reservation(&self, call_key: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM billing_reservations WHERE call_key = ?")
                .bind(call_key)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("release_reservation"))?
                .rows_affected()
                == 1,
        )
    }

    /// Writes rated CDRs, each with its charge, in ONE transaction: the CDR with its cost
    /// columns, the balance debited with its ledger line, the plan seconds used, the
    /// reservation deleted. A call whose key already has a ledger line is not charged again
    /// (its CDR is written without cost). Returns, per item, whether it was charged.
    pub async fn insert_rated_cdrs(
        &self,
        items: &[(CdrRow, ChargeRow)],
    ) -> Result<Vec<bool>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let err = StoreError::query("insert_rated_cdrs");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let mut charged = Vec::with_capacity(items.len());
        for (cdr, c) in items {
            sqlx::query("DELETE FROM billing_reservations WHERE call_key = ?")
                .bind(&c.call_key)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
            let seen: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM billing_ledger WHERE call_id = ? AND login = ?",
            )
            .bind(&c.call_key)
            .bind(&c.login)
            .fetch_one(&mut *tx)
            .await
            .map_err(&err)?;
            let rows: [Cow<'_, CdrRow>; 1] = [fitted(cdr)];
            insert_cdr_rows(&mut tx, &rows).await.map_err(&err)?;
            if seen > 0 {
                tracing::warn!(call = %c.call_key, "call already charged: not charged again");
                charged.push(false);
                continue;
            }
            let id: i64 = sqlx::query_scalar(sql::last_insert_id(self.backend))
                .fetch_one(&mut *tx)
                .await
                .map_err(&err)?;
            sqlx::query(
                "UPDATE cdr SET cost_micros = ?, rate_micros = ?, tariff_prefix = ?, \
                 billed_seconds = ? WHERE id = ?",
            )
            .bind(c.cost_micros)
            .bind(c.rate_micros)
            .bind(&c.tariff_prefix)
            .bind(c.billed_seconds)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
            let reason = format!("call to {}", cdr.routed_number);
            debit(
                &mut tx,
                &c.login,
                -c.cost_micros,
                c.kind,
                &reason,
                Some(&c.call_key),
                c.at_ms,
            )
            .await
            .map_err(&err)?;
            if let Some((plan, used)) = c.bundle {
                sqlx::query(
                    "UPDATE account_plans SET seconds_left = CASE WHEN seconds_left > ? \
                     THEN seconds_left - ? ELSE 0 END WHERE id = ?",
                )
                .bind(used)
                .bind(used)
                .bind(plan)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
            }
            charged.push(true);
        }
        tx.commit().await.map_err(&err)?;
        Ok(charged)
    }

    /// The cost of each CDR of `login` (micro-units; `None`: not rated), newest first.
    pub async fn cdr_costs(&self, login: &str) -> Result<Vec<Option<i64>>, StoreError> {
        sqlx::query_scalar("SELECT cost_micros FROM cdr WHERE caller = ? ORDER BY id DESC")
            .bind(login)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("cdr_costs"))
    }

    /// The sum of the costs in the CDRs of `login` (micro-units).
    pub async fn cdr_cost_total(&self, login: &str) -> Result<i64, StoreError> {
        let rows: Vec<Option<i64>> =
            sqlx::query_scalar("SELECT cost_micros FROM cdr WHERE caller = ?")
                .bind(login)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("cdr_cost_total"))?;
        Ok(rows.into_iter().flatten().sum())
    }

    /// Rated calls (with a cost) started in `[from_ms, to_ms)`, grouped.
    pub async fn billing_report(
        &self,
        by: ReportBy,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ReportLine>, StoreError> {
        let rows: Vec<(String, String, i64, i64, i64, i64)> = {
            let r = sqlx::query(
                "SELECT caller, tariff_prefix, start_ms, billed_seconds, cost_micros, \
                 duration_ms FROM cdr \
                 WHERE cost_micros IS NOT NULL AND start_ms >= ? AND start_ms < ? ORDER BY id",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("billing_report"))?;
            r.iter()
                .map(|row| {
                    Ok((
                        row.try_get("caller")?,
                        row.try_get::<Option<String>, _>("tariff_prefix")?
                            .unwrap_or_default(),
                        row.try_get("start_ms")?,
                        row.try_get::<Option<i64>, _>("billed_seconds")?
                            .unwrap_or_default(),
                        row.try_get("cost_micros")?,
                        row.try_get("duration_ms")?,
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("billing_report"))?
        };
        // grouped here, not in SQL: the day of an epoch-ms column is spelled differently by
        // the two backends, and a report is not a hot path
        let mut lines: std::collections::BTreeMap<String, ReportLine> = Default::default();
        for (caller, prefix, start, secs, cost, duration) in rows {
            let key = match by {
                ReportBy::Account => caller,
                ReportBy::Day => start.div_euclid(86_400_000).to_string(),
                ReportBy::Destination => prefix,
            };
            let l = lines.entry(key.clone()).or_insert(ReportLine {
                key,
                calls: 0,
                duration_ms: 0,
                billed_seconds: 0,
                cost_micros: 0,
            });
            l.calls += 1;
            l.duration_ms += duration;
            l.billed_seconds += secs;
            l.cost_micros += cost;
        }
        Ok(lines.into_values().collect())
    }
}
