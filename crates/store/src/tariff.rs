//! Billing configuration: `tariffs`, `tariff_rows`, `billing_accounts`, `plans`,
//! `account_plans` (migration 0006). Money is integer micro-units; the rating itself is the
//! `billing` crate's, which the binary feeds from these rows.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{sql, Store, StoreError};

/// A tariff as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffRecord {
    pub id: i64,
    pub name: String,
    pub currency: String,
    pub rounding_decimals: i64,
    /// `up`, `half-up` or `down`.
    pub rounding_mode: String,
    pub utc_offset_minutes: i64,
    pub bill_onnet: bool,
}

/// One row of a tariff (a whole-day row when `from_minute`/`to_minute` are 0/1440, else a
/// time-of-day variant of the same prefix's row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffRowRecord {
    pub prefix: String,
    pub description: String,
    pub iso: Option<String>,
    pub from_minute: i64,
    pub to_minute: i64,
    pub price_micros: i64,
    /// `None` on a variant: the whole-day row's fee.
    pub fee_micros: Option<i64>,
    pub inc_first: i64,
    pub inc_next: i64,
    pub min_duration: i64,
}

/// A billed account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAccountRow {
    pub login: String,
    pub tariff_id: i64,
    /// `prepaid` or `postpaid`.
    pub kind: String,
    pub balance_micros: i64,
    pub credit_limit_micros: i64,
    pub currency: String,
}

/// A plan for sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    pub id: i64,
    pub name: String,
    /// Comma-separated prefixes.
    pub prefixes: String,
    pub seconds: i64,
    pub days: i64,
    pub price_micros: i64,
}

/// A plan an account holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPlanRow {
    pub id: i64,
    pub login: String,
    pub plan: String,
    pub prefixes: String,
    pub seconds_left: i64,
    pub valid_from_ms: i64,
    pub valid_until_ms: i64,
}

const ROW_COLUMNS: &str = "prefix, description, iso, from_minute, to_minute, price_micros, \
     fee_micros, inc_first, inc_next, min_duration";

fn tariff_from(row: &AnyRow) -> Result<TariffRecord, sqlx::Error> {
    Ok(TariffRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        currency: row.try_get("currency")?,
        rounding_decimals: row.try_get("rounding_decimals")?,
        rounding_mode: row.try_get("rounding_mode")?,
        utc_offset_minutes: row.try_get("utc_offset_minutes")?,
        bill_onnet: row.try_get::<i64, _>("bill_onnet")? != 0,
    })
}

fn row_from(row: &AnyRow) -> Result<TariffRowRecord, sqlx::Error> {
    Ok(TariffRowRecord {
        prefix: row.try_get("prefix")?,
        description: row.try_get("description")?,
        iso: row.try_get("iso")?,
        from_minute: row.try_get("from_minute")?,
        to_minute: row.try_get("to_minute")?,
        price_micros: row.try_get("price_micros")?,
        fee_micros: row.try_get("fee_micros")?,
        inc_first: row.try_get("inc_first")?,
        inc_next: row.try_get("inc_next")?,
        min_duration: row.try_get("min_duration")?,
    })
}

fn account_from(row: &AnyRow) -> Result<BillingAccountRow, sqlx::Error> {
    Ok(BillingAccountRow {
        login: row.try_get("login")?,
        tariff_id: row.try_get("tariff_id")?,
        kind: row.try_get("kind")?,
        balance_micros: row.try_get("balance_micros")?,
        credit_limit_micros: row.try_get("credit_limit_micros")?,
        currency: row.try_get("currency")?,
    })
}

impl Store {
    async fn fetch_all<'q, T>(
        &self,
        op: &'static str,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        f: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        rows.iter()
            .map(f)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// Creates a tariff (or updates its settings when the name exists); returns its id.
    pub async fn upsert_tariff(&self, t: &TariffRecord) -> Result<i64, StoreError> {
        let err = StoreError::query("upsert_tariff");
        let tail = sql::upsert_tail(
            self.backend,
            &["name"],
            &[
                "currency",
                "rounding_decimals",
                "rounding_mode",
                "utc_offset_minutes",
                "bill_onnet",
            ],
        );
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        sqlx::query(&format!(
            "INSERT INTO tariffs (name, currency, rounding_decimals, rounding_mode, \
             utc_offset_minutes, bill_onnet) VALUES (?,?,?,?,?,?){tail}"
        ))
        .bind(&t.name)
        .bind(&t.currency)
        .bind(t.rounding_decimals)
        .bind(&t.rounding_mode)
        .bind(t.utc_offset_minutes)
        .bind(i64::from(t.bill_onnet))
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM tariffs WHERE name = ?")
            .bind(&t.name)
            .fetch_one(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(id)
    }

    pub async fn list_tariffs(&self) -> Result<Vec<TariffRecord>, StoreError> {
        self.fetch_all(
            "list_tariffs",
            sqlx::query(
                "SELECT id, name, currency, rounding_decimals, rounding_mode, \
                 utc_offset_minutes, bill_onnet FROM tariffs ORDER BY id",
            ),
            tariff_from,
        )
        .await
    }

    pub async fn tariff_by_name(&self, name: &str) -> Result<Option<TariffRecord>, StoreError> {
        Ok(self
            .list_tariffs()
            .await?
            .into_iter()
            .find(|t| t.name == name))
    }

    /// Replaces every row of tariff `id` with `rows`, in one transaction.
    pub async fn replace_tariff_rows(
        &self,
        id: i64,
        rows: &[TariffRowRecord],
    ) -> Result<(), StoreError> {
        let err = StoreError::query("replace_tariff_rows");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        sqlx::query("DELETE FROM tariff_rows WHERE tariff_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        for chunk in rows.chunks(500) {
            let statement = format!(
                "INSERT INTO tariff_rows (tariff_id, {ROW_COLUMNS}) VALUES {}",
                sql::values_tuples(chunk.len(), 11)
            );
            let mut q = sqlx::query(&statement);
            for r in chunk {
                q = q
                    .bind(id)
                    .bind(&r.prefix)
                    .bind(&r.description)
                    .bind(r.iso.as_deref())
                    .bind(r.from_minute)
                    .bind(r.to_minute)
                    .bind(r.price_micros)
                    .bind(r.fee_micros)
                    .bind(r.inc_first)
                    .bind(r.inc_next)
                    .bind(r.min_duration);
            }
            q.execute(&mut *tx).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }

    /// The rows of tariff `id`, by prefix then start minute.
    pub async fn tariff_rows(&self, id: i64) -> Result<Vec<TariffRowRecord>, StoreError> {
        self.fetch_all(
            "tariff_rows",
            sqlx::query(&format!(
                "SELECT {ROW_COLUMNS} FROM tariff_rows WHERE tariff_id = ? \
                 ORDER BY prefix, from_minute"
            ))
            .bind(id),
            row_from,
        )
        .await
    }

    /// Adds or replaces the billing of an account (not its balance when it exists: balances
    /// move through [`Store::adjust_balance`] and calls only).
    pub async fn set_billing_account(&self, a: &BillingAccountRow) -> Result<(), StoreError> {
        let tail = sql::upsert_tail(
            self.backend,
            &["login"],
            &["tariff_id", "kind", "credit_limit_micros", "currency"],
        );
        sqlx::query(&format!(
            "INSERT INTO billing_accounts (login, tariff_id, kind, balance_micros, \
             credit_limit_micros, currency) VALUES (?,?,?,?,?,?){tail}"
        ))
        .bind(&a.login)
        .bind(a.tariff_id)
        .bind(&a.kind)
        .bind(a.balance_micros)
        .bind(a.credit_limit_micros)
        .bind(&a.currency)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("set_billing_account"))?;
        Ok(())
    }

    pub async fn billing_account(
        &self,
        login: &str,
    ) -> Result<Option<BillingAccountRow>, StoreError> {
        Ok(self
            .fetch_all(
                "billing_account",
                sqlx::query(
                    "SELECT login, tariff_id, kind, balance_micros, credit_limit_micros, \
                     currency FROM billing_accounts WHERE login = ?",
                )
                .bind(login),
                account_from,
            )
            .await?
            .pop())
    }

    pub async fn list_billing_accounts(&self) -> Result<Vec<BillingAccountRow>, StoreError> {
        self.fetch_all(
            "list_billing_accounts",
            sqlx::query(
                "SELECT login, tariff_id, kind, balance_micros, credit_limit_micros, currency \
                 FROM billing_accounts ORDER BY login",
            ),
            account_from,
        )
        .await
    }

    /// Adds or updates a plan for sale; returns its id.
    pub async fn upsert_plan(&self, p: &PlanRow) -> Result<i64, StoreError> {
        let err = StoreError::query("upsert_plan");
        let tail = sql::upsert_tail(
            self.backend,
            &["name"],
            &["prefixes", "seconds", "days", "price_micros"],
        );
        sqlx::query(&format!(
            "INSERT INTO plans (name, prefixes, seconds, days, price_micros) \
             VALUES (?,?,?,?,?){tail}"
        ))
        .bind(&p.name)
        .bind(&p.prefixes)
        .bind(p.seconds)
        .bind(p.days)
        .bind(p.price_micros)
        .execute(&self.pool)
        .await
        .map_err(&err)?;
        sqlx::query_scalar("SELECT id FROM plans WHERE name = ?")
            .bind(&p.name)
            .fetch_one(&self.pool)
            .await
            .map_err(&err)
    }

    pub async fn list_plans(&self) -> Result<Vec<PlanRow>, StoreError> {
        self.fetch_all(
            "list_plans",
            sqlx::query(
                "SELECT id, name, prefixes, seconds, days, price_micros FROM plans ORDER BY id",
            ),
            |row| {
                Ok(PlanRow {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    prefixes: row.try_get("prefixes")?,
                    seconds: row.try_get("seconds")?,
                    days: row.try_get("days")?,
                    price_micros: row.try_get("price_micros")?,
                })
            },
        )
        .await
    }

    /// Gives plan `plan` to `login` from `now_ms` for the plan's days; its price (if any) is
    /// debited in the same transaction (ledger kind `plan`). Returns the `account_plans` id, or
    /// `None` when the plan or the billed account does not exist.
    pub async fn assign_plan(
        &self,
        login: &str,
        plan: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let err = StoreError::query("assign_plan");
        let Some(p) = self
            .list_plans()
            .await?
            .into_iter()
            .find(|p| p.name == plan)
        else {
            return Ok(None);
        };
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let Some(balance) = crate::charge::debit(
            &mut tx,
            login,
            -p.price_micros,
            "plan",
            &format!("plan {}", p.name),
            None,
            now_ms,
        )
        .await
        .map_err(&err)?
        else {
            return Ok(None);
        };
        let _ = balance;
        sqlx::query(
            "INSERT INTO account_plans (login, plan_id, seconds_left, valid_from_ms, \
             valid_until_ms) VALUES (?,?,?,?,?)",
        )
        .bind(login)
        .bind(p.id)
        .bind(p.seconds)
        .bind(now_ms)
        .bind(now_ms + p.days * 86_400_000)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        let id: i64 = sqlx::query_scalar(sql::last_insert_id(self.backend))
            .fetch_one(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Some(id))
    }

    /// Every plan held (by every account, or one), with the plan's name and prefixes.
    pub async fn account_plans(
        &self,
        login: Option<&str>,
    ) -> Result<Vec<AccountPlanRow>, StoreError> {
        let mut statement = "SELECT a.id, a.login, p.name, p.prefixes, a.seconds_left, \
             a.valid_from_ms, a.valid_until_ms FROM account_plans a \
             JOIN plans p ON p.id = a.plan_id"
            .to_owned();
        if login.is_some() {
            statement.push_str(" WHERE a.login = ?");
        }
        statement.push_str(" ORDER BY a.id");
        let mut q = sqlx::query(&statement);
        if let Some(l) = login {
            q = q.bind(l);
        }
        self.fetch_all("account_plans", q, |row| {
            Ok(AccountPlanRow {
                id: row.try_get("id")?,
                login: row.try_get("login")?,
                plan: row.try_get("name")?,
                prefixes: row.try_get("prefixes")?,
                seconds_left: row.try_get("seconds_left")?,
                valid_from_ms: row.try_get("valid_from_ms")?,
                valid_until_ms: row.try_get("valid_until_ms")?,
            })
        })
        .await
    }
}
