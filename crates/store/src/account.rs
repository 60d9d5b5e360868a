//! Accounts: the `clientsshared` table (voipswitch's name), stored as digest HA1 values
//! ([`Secret`]), and the `account_changes` log every account write adds to (see
//! [`Store::account_changes_since`]).

use futures_util::TryStreamExt as _;
use std::collections::HashSet;
use std::fmt;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, now_epoch_secs, sql, Store, StoreError};

/// How an account's SIP password is stored: the digest HA1 values for one realm (Kamailio's
/// `subscriber.ha1` / `ha1b`), and the plain password only when the operator keeps it. The
/// caller computes them (the `ferroswitch` binary, with the registrar's realm): this crate
/// knows no digest. An HA1 is as good as the password for its realm: never logged.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret {
    /// The realm the HA1 values were computed for.
    pub realm: String,
    /// `MD5(login:realm:password)`, lower-case hex.
    pub ha1: String,
    /// `SHA-256(login:realm:password)`, lower-case hex.
    pub ha1b: String,
    /// The plain password, when kept (`database.keep_plain_passwords`); stored as `''`
    /// otherwise.
    pub password: Option<String>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("realm", &self.realm)
            .field("ha1", &"***")
            .field("ha1b", &"***")
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Secret {
    fn check(&self) -> Result<(), StoreError> {
        limits::check("ha1_realm", &self.realm, limits::REALM)?;
        limits::check("ha1", &self.ha1, limits::HA1)?;
        limits::check("ha1b", &self.ha1b, limits::HA1)?;
        limits::check_opt("password", self.password.as_deref(), limits::PASSWORD)
    }

    fn plain(&self) -> &str {
        self.password.as_deref().unwrap_or_default()
    }
}

/// An account to create or import. `tech_prefix` and `enabled` take the table defaults
/// (`''`, enabled) on insert and are left alone on an import update.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// SIP login (user part): a phone number, a username or an id; never assumed to be digits.
    pub login: String,
    /// Its credentials as stored.
    pub secret: Secret,
    /// Display name used as the From display name of calls.
    pub display_name: Option<String>,
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// `id_client`.
    pub id: i64,
    /// SIP login.
    pub login: String,
    /// Its credentials as stored (a row from before HA1 values, not hashed yet, has empty
    /// HA1 values and its plain password).
    pub secret: Secret,
    /// Display name.
    pub display_name: Option<String>,
    /// Tech-prefix rule (voipswitch syntax, e.g. `DP:int-> OR onnet`), `''` for none.
    pub tech_prefix: String,
    /// Whether the account may register and call.
    pub enabled: bool,
    /// Where unanswered, busy or declined calls to this account go (a `sip:` URI), if anywhere.
    pub voicemail_uri: Option<String>,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Its answering rules in order (`answering_rules`), read with it so the call path needs
    /// no query of its own; empty: the default.
    pub answering_rules: Vec<crate::AnsweringRuleRow>,
}

/// Changes to an account's settings for [`Store::update_account`]: `None` leaves a field as
/// it is. The password has its own call ([`Store::set_secret`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountUpdate {
    /// `Some(None)` clears the display name.
    pub display_name: Option<Option<String>>,
    /// Tech-prefix rule (voipswitch syntax, checked by the caller with the `dialplan` crate);
    /// `Some("")` removes it.
    pub tech_prefix: Option<String>,
    /// `Some(None)` turns the voicemail route off.
    pub voicemail_uri: Option<Option<String>>,
    /// Enable or disable the account.
    pub enabled: Option<bool>,
}

impl AccountUpdate {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.tech_prefix.is_none()
            && self.voicemail_uri.is_none()
            && self.enabled.is_none()
    }

    fn check(&self) -> Result<(), StoreError> {
        if let Some(d) = &self.display_name {
            limits::check_opt("display_name", d.as_deref(), limits::DISPLAY_NAME)?;
        }
        if let Some(t) = &self.tech_prefix {
            limits::check("tech_prefix", t, limits::TECH_PREFIX)?;
        }
        if let Some(Some(uri)) = &self.voicemail_uri {
            if uri.is_empty() {
                return Err(StoreError::Empty {
                    field: "voicemail_uri",
                });
            }
            limits::check("voicemail_uri", uri, limits::VOICEMAIL_URI)?;
        }
        Ok(())
    }
}

// Debug without the password: accounts end up in logs.
impl fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAccount")
            .field("login", &self.login)
            .field("secret", &self.secret)
            .field("display_name", &self.display_name)
            .finish()
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("secret", &self.secret)
            .field("display_name", &self.display_name)
            .field("tech_prefix", &self.tech_prefix)
            .field("enabled", &self.enabled)
            .field("voicemail_uri", &self.voicemail_uri)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What an [`Store::import_accounts`] did. A row whose login already existed (or appeared
/// earlier in the same import) counts as updated, even if nothing changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New logins.
    pub inserted: u64,
    /// Rows that overwrote an existing login's credentials and display name.
    pub updated: u64,
}

/// Rows per multi-row `INSERT` (and per transaction) in an import.
const IMPORT_CHUNK: usize = 1000;

const ACCOUNT_COLUMNS: &str = "id_client, login, password, ha1, ha1b, ha1_realm, display_name, \
     tech_prefix, enabled, voicemail_uri, created_at";

impl NewAccount {
    fn check(&self) -> Result<(), StoreError> {
        limits::check_new_login(&self.login)?;
        self.secret.check()?;
        limits::check_opt(
            "display_name",
            self.display_name.as_deref(),
            limits::DISPLAY_NAME,
        )
    }
}

fn account_from_row(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: row.try_get("id_client")?,
        login: row.try_get("login")?,
        secret: {
            let password: String = row.try_get("password")?;
            Secret {
                realm: row.try_get("ha1_realm")?,
                ha1: row.try_get("ha1")?,
                ha1b: row.try_get("ha1b")?,
                password: (!password.is_empty()).then_some(password),
            }
        },
        display_name: row.try_get("display_name")?,
        tech_prefix: row.try_get("tech_prefix")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        voicemail_uri: row.try_get("voicemail_uri")?,
        created_at: row.try_get("created_at")?,
        answering_rules: Vec::new(),
    })
}

impl Store {
    /// Creates an account, enabled, with no tech prefix.
    /// [`StoreError::AccountExists`] if the login is taken.
    pub async fn add_account(&self, a: &NewAccount) -> Result<(), StoreError> {
        a.check()?;
        let err = StoreError::query("add_account");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let result = sqlx::query(
            "INSERT INTO clientsshared \
             (login, password, ha1, ha1b, ha1_realm, display_name, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(a.login.as_str())
        .bind(a.secret.plain())
        .bind(a.secret.ha1.as_str())
        .bind(a.secret.ha1b.as_str())
        .bind(a.secret.realm.as_str())
        .bind(a.display_name.as_deref())
        .bind(now_epoch_secs())
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {
                record_change(&mut tx, &a.login).await.map_err(&err)?;
                tx.commit().await.map_err(&err)
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::AccountExists {
                    login: a.login.clone(),
                })
            }
            Err(source) => Err(StoreError::Query {
                op: "add_account",
                source,
            }),
        }
    }

    /// The account with this login, if any.
    pub async fn get_account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        let op = "get_account";
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM clientsshared WHERE login = ?"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        let Some(mut account) = row
            .as_ref()
            .map(account_from_row)
            .transpose()
            .map_err(StoreError::query(op))?
        else {
            return Ok(None);
        };
        account.answering_rules = self.answering_rules(login).await?;
        Ok(Some(account))
    }

    /// Every account, ordered by login (byte order, the same on both backends).
    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let op = "list_accounts";
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM clientsshared ORDER BY login");
        // rows are decoded one at a time: at start-up with 10^5 accounts, holding every raw
        // row next to its decoded copy would double the peak (and the allocator keeps it)
        let mut rows = sqlx::query(&sql).fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(account_from_row(&row).map_err(StoreError::query(op))?);
        }
        drop(rows);
        // both ordered by login: one pass hands each account its rules
        let mut rules = self.all_answering_rules().await?.into_iter().peekable();
        for a in &mut out {
            while rules.peek().is_some_and(|r| r.login < a.login) {
                rules.next();
            }
            while let Some(r) = rules.next_if(|r| r.login == a.login) {
                a.answering_rules.push(r);
            }
        }
        Ok(out)
    }

    /// Sets an account's credentials (a new password). `false` if there is no such login.
    pub async fn set_secret(&self, login: &str, secret: &Secret) -> Result<bool, StoreError> {
        secret.check()?;
        let err = StoreError::query("set_secret");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        // MySQL reports matched (not changed) rows: sqlx connects with CLIENT_FOUND_ROWS, so
        // setting the same password again still says `true`.
        let result = sqlx::query(
            "UPDATE clientsshared SET password = ?, ha1 = ?, ha1b = ?, ha1_realm = ? \
             WHERE login = ?",
        )
        .bind(secret.plain())
        .bind(secret.ha1.as_str())
        .bind(secret.ha1b.as_str())
        .bind(secret.realm.as_str())
        .bind(login)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        let found = result.rows_affected() > 0;
        if found {
            record_change(&mut tx, login).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(found)
    }

    /// Rewrites the rows that hold a plain password the operator does not keep, or no HA1
    /// values for `realm` yet (rows from before HA1 values, a voipswitch table, a changed
    /// realm with plain passwords kept): `derive(login, password)` gives the row's new
    /// [`Secret`]. Returns how many rows were rewritten; each is logged as a change.
    pub async fn hash_plain_passwords(
        &self,
        realm: &str,
        keep_plain: bool,
        derive: &(dyn Fn(&str, &str) -> Secret + Sync),
    ) -> Result<u64, StoreError> {
        let err = StoreError::query("hash_plain_passwords");
        let rows: Vec<(String, String)> = sqlx::query(
            "SELECT login, password FROM clientsshared WHERE password <> '' \
             AND (ha1 = '' OR ha1b = '' OR ha1_realm <> ? OR ? = 0)",
        )
        .bind(realm)
        .bind(i64::from(keep_plain))
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?
        .iter()
        .map(|r| Ok((r.try_get("login")?, r.try_get("password")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(&err)?;
        for chunk in rows.chunks(IMPORT_CHUNK) {
            let mut tx = sql::begin_write(&self.pool, self.backend)
                .await
                .map_err(&err)?;
            for (login, password) in chunk {
                let secret = derive(login, password);
                secret.check()?;
                sqlx::query(
                    "UPDATE clientsshared SET password = ?, ha1 = ?, ha1b = ?, ha1_realm = ? \
                     WHERE login = ?",
                )
                .bind(secret.plain())
                .bind(secret.ha1.as_str())
                .bind(secret.ha1b.as_str())
                .bind(secret.realm.as_str())
                .bind(login.as_str())
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
            }
            record_change(&mut tx, "").await.map_err(&err)?;
            tx.commit().await.map_err(&err)?;
        }
        Ok(rows.len() as u64)
    }

    /// Changes an account's display name, tech prefix, voicemail route and/or enabled flag;
    /// fields left `None` in `update` keep their value. `false` if there is no such login
    /// (an empty update only checks that the login exists).
    pub async fn update_account(
        &self,
        login: &str,
        update: &AccountUpdate,
    ) -> Result<bool, StoreError> {
        update.check()?;
        let op = "update_account";
        if update.is_empty() {
            let found = sqlx::query("SELECT 1 FROM clientsshared WHERE login = ?")
                .bind(login)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::query(op))?;
            return Ok(found.is_some());
        }
        let mut set = Vec::new();
        if update.display_name.is_some() {
            set.push("display_name = ?");
        }
        if update.tech_prefix.is_some() {
            set.push("tech_prefix = ?");
        }
        if update.voicemail_uri.is_some() {
            set.push("voicemail_uri = ?");
        }
        if update.enabled.is_some() {
            set.push("enabled = ?");
        }
        let statement = format!(
            "UPDATE clientsshared SET {} WHERE login = ?",
            set.join(", ")
        );
        let mut q = sqlx::query(&statement);
        if let Some(d) = &update.display_name {
            q = q.bind(d.as_deref());
        }
        if let Some(t) = &update.tech_prefix {
            q = q.bind(t.as_str());
        }
        if let Some(v) = &update.voicemail_uri {
            q = q.bind(v.as_deref());
        }
        if let Some(e) = update.enabled {
            q = q.bind(i64::from(e));
        }
        // MySQL reports matched rows (CLIENT_FOUND_ROWS, see `set_secret`): an update that
        // changes nothing still finds the login.
        let err = StoreError::query(op);
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let result = q.bind(login).execute(&mut *tx).await.map_err(&err)?;
        let found = result.rows_affected() > 0;
        if found {
            record_change(&mut tx, login).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(found)
    }

    /// Deletes an account and its bindings (`location` rows), in one transaction. The device
    /// instances seen for the login are kept (every instance ever seen is history).
    /// `false` if there is no such login.
    pub async fn delete_account(&self, login: &str) -> Result<bool, StoreError> {
        let err = StoreError::query("delete_account");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let deleted = sqlx::query("DELETE FROM clientsshared WHERE login = ?")
            .bind(login)
            .execute(&mut *tx)
            .await
            .map_err(&err)?
            .rows_affected();
        sqlx::query("DELETE FROM location WHERE login = ?")
            .bind(login)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        if deleted > 0 {
            record_change(&mut tx, login).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(deleted > 0)
    }

    /// Creates or updates accounts in bulk: a new login is inserted (enabled, no tech prefix);
    /// an existing one gets the row's credentials and display name. Each chunk logs one change
    /// that says "reload every account". Rows go in multi-row upserts
    /// of 1000, one transaction each; `on_progress(rows_done)` is called after each.
    ///
    /// Every row is checked before anything is written ([`StoreError::ImportRow`]). A database
    /// error mid-way leaves the chunks before it imported; running the import again is safe.
    pub async fn import_accounts(
        &self,
        rows: &[NewAccount],
        on_progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportReport, StoreError> {
        for (row, a) in rows.iter().enumerate() {
            a.check().map_err(|source| StoreError::ImportRow {
                row,
                source: Box::new(source),
            })?;
        }
        let err = StoreError::query("import_accounts");
        let created_at = now_epoch_secs();
        let upsert_full = upsert_accounts_sql(self, IMPORT_CHUNK);
        let mut report = ImportReport::default();
        let mut done = 0;
        for chunk in rows.chunks(IMPORT_CHUNK) {
            let distinct: HashSet<&str> = chunk.iter().map(|a| a.login.as_str()).collect();

            let mut tx = sql::begin_write(&self.pool, self.backend)
                .await
                .map_err(&err)?;
            // Existing logins, counted in the transaction that then writes them: exact on
            // SQLite (write lock held); on MySQL exact unless another client inserts the same
            // logins concurrently (the rows are still right, only the report's split moves).
            let count_sql = format!(
                "SELECT COUNT(*) FROM clientsshared WHERE login IN {}",
                sql::in_list(distinct.len())
            );
            let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
            for login in &distinct {
                count = count.bind(*login);
            }
            let existing = count.fetch_one(&mut *tx).await.map_err(&err)?;

            let tail_sql;
            let upsert = if chunk.len() == IMPORT_CHUNK {
                upsert_full.as_str()
            } else {
                tail_sql = upsert_accounts_sql(self, chunk.len());
                tail_sql.as_str()
            };
            let mut q = sqlx::query(upsert);
            for a in chunk {
                q = q
                    .bind(a.login.as_str())
                    .bind(a.secret.plain())
                    .bind(a.secret.ha1.as_str())
                    .bind(a.secret.ha1b.as_str())
                    .bind(a.secret.realm.as_str())
                    .bind(a.display_name.as_deref())
                    .bind(created_at);
            }
            q.execute(&mut *tx).await.map_err(&err)?;
            record_change(&mut tx, "").await.map_err(&err)?;
            tx.commit().await.map_err(&err)?;

            let inserted = distinct.len() as u64 - u64::try_from(existing).unwrap_or(0);
            report.inserted += inserted;
            report.updated += chunk.len() as u64 - inserted;
            done += chunk.len();
            on_progress(done);
        }
        tracing::info!(
            inserted = report.inserted,
            updated = report.updated,
            "accounts imported"
        );
        Ok(report)
    }
}

fn upsert_accounts_sql(store: &Store, rows: usize) -> String {
    format!(
        "INSERT INTO clientsshared \
         (login, password, ha1, ha1b, ha1_realm, display_name, created_at) VALUES {}{}",
        sql::values_tuples(rows, 7),
        sql::upsert_tail(
            store.backend,
            &["login"],
            &["password", "ha1", "ha1b", "ha1_realm", "display_name"]
        )
    )
}

/// One changed account (or, `login` empty, many), as the change log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// Increasing: read the rows after the last one seen.
    pub id: i64,
    /// The login that changed; `""`: many changed (an import), reload every account.
    pub login: String,
}

/// Logs a change of `login` (`""`: many) in the transaction that makes it.
pub(crate) async fn record_change(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    login: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO account_changes (login, changed_at) VALUES (?, ?)")
        .bind(login)
        .bind(now_epoch_secs())
        .execute(&mut **tx)
        .await
        .map(drop)
}

impl Store {
    /// The id of the newest account change (0 when there is none): where a server that just
    /// loaded every account starts reading the log.
    pub async fn last_account_change(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) FROM account_changes")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("last_account_change"))
    }

    /// The account changes after `after` (an id), oldest first, at most `limit`.
    pub async fn account_changes_since(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AccountChange>, StoreError> {
        let err = StoreError::query("account_changes_since");
        sqlx::query("SELECT id, login FROM account_changes WHERE id > ? ORDER BY id LIMIT ?")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(&err)?
            .iter()
            .map(|r| {
                Ok(AccountChange {
                    id: r.try_get("id")?,
                    login: r.try_get("login")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(&err)
    }

    /// Deletes the change log rows older than `before` (epoch seconds): every server has read
    /// them long ago. Returns how many went.
    pub async fn prune_account_changes(&self, before: i64) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM account_changes WHERE changed_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(StoreError::query("prune_account_changes"))
    }
}
