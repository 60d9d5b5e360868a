//! `store`: ferroswitch's SQL storage, the layer between the sans-IO cores and the database.
//!
//! The cores (`registrar`, `presence`, `b2bua`, ...) never touch SQL: they work on in-memory
//! state and emit changes. The drivers in the `ferroswitch` binary persist those changes through
//! a [`Store`] (write-through, batched) and load them back at start, so the SIP path never waits
//! on the database for a read. Dependencies point down: this crate knows the cores' record
//! shapes; nothing below it knows about SQL.
//!
//! # Backends
//! SQLite (a file, the embedded default) or MariaDB/MySQL (several nodes sharing one database,
//! possibly a Galera cluster), chosen by URL:
//!
//! | URL | backend |
//! |---|---|
//! | `sqlite:///var/lib/ferroswitch/ferro.db` | SQLite, absolute path |
//! | `sqlite://data/ferro.db`, `sqlite:data/ferro.db` | SQLite, relative to the working directory |
//! | `mysql://user:pass@127.0.0.1:3306/ferro` (or `mariadb://`) | MariaDB / MySQL |
//!
//! There is one code path, over [`sqlx::AnyPool`]; column types are limited to what the Any
//! driver reads on both backends (signed integers for numbers, booleans and epoch seconds;
//! text as `TEXT` on SQLite and `VARCHAR` on MySQL; bodies as `BLOB` / `MEDIUMBLOB`). Where the SQL dialects differ (upserts,
//! write transactions, bounded deletes) a small helper in `sql.rs` branches on [`Backend`].
//!
//! SQLite is opened create-if-missing (the parent directory too) with `journal_mode=WAL`,
//! `synchronous=NORMAL`, `busy_timeout=5000` and `foreign_keys=ON`; write transactions use
//! `BEGIN IMMEDIATE` so concurrent writers wait on the busy timeout instead of failing.
//!
//! # Schema and migrations
//! Numbered files under `sql/sqlite/` and `sql/mysql/` (same tables and columns), embedded at
//! compile time with [`sqlx::migrate!`] and applied by [`Store::migrate`] through sqlx's
//! migrator over the Any pool (it records them in `_sqlx_migrations`; on MySQL it holds an
//! advisory lock so nodes starting together apply them once).
//!
//! Tables: `clientsshared` (accounts), `aa_ue_instance` (device instances), `push_device_token`
//! (push tokens, see [`PushToken`]) and `location` (registrar bindings);
//! for calls (`0002_calls`): `dialing_plan` (prefix → action text, parsed by the `dialplan`
//! crate), `gateways`, `ring_groups`, `local_dialing_plan` (prefix → SIP server, served to
//! softphones) and `cdr` (one row per call attempt), plus `clientsshared.voicemail_uri`;
//! for presence and messaging (`0003_presence_messaging`): `presence_publications` (PUBLISH
//! state, per entity-tag), `sms_inbox` (every MESSAGE with its status; deferred ones wait
//! there for the recipient to register), `contacts` (the local buddy lists) and
//! `voicemail_boxes` (voicemail counts for message-summary); for push wake-up (`0004_push`):
//! `push_device_token.param` (RFC 8599 `pn-param`), one token per instance, tombstones for
//! removed tokens, and `cdr.wakeup_ms`; for accounts at rest (`0005_account_secrets`):
//! `clientsshared.ha1`, `ha1b`, `ha1_realm` (digest HA1 values instead of the plain
//! password, see [`Secret`]) and `account_changes` (the log running servers poll); for
//! billing (`0006_billing`): `tariffs`, `tariff_rows`, `billing_accounts`, `billing_ledger`,
//! `billing_reservations`, `plans`, `account_plans` and the CDR's `cost_micros`,
//! `rate_micros`, `tariff_prefix`, `billed_seconds` (`tariff.rs`, `charge.rs`).
//!
//! # Errors
//! [`StoreError`] says what failed and what to do; it never prints a password from a URL.
//! [`StoreError::is_transient`] tells a database outage (retry later) from a bug or bad input.

mod account;
mod answering;
mod api_client;
mod api_session;
mod billing_admin;
mod binding;
mod cdr;
mod charge;
mod contact;
mod db_url;
mod dial_plan;
mod error;
mod gateway;
mod instance;
pub mod limits;
mod local_plan;
mod message;
mod publication;
mod push;
mod ring_group;
mod sql;
mod tariff;
mod voicemail;
mod voicemessage;

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

pub use account::{Account, AccountChange, AccountUpdate, ImportReport, NewAccount, Secret};
pub use answering::{AnsweringRuleRow, PendingMail};
pub use api_client::ApiClient;
pub use api_session::{ApiChannel, ApiSession};
pub use billing_admin::TariffDeletion;
pub use binding::{BindingChange, BindingRecord};
pub use cdr::CdrRow;
pub use charge::{ChargeRow, LedgerEntry, ReportBy, ReportLine, ReservationRow};
pub use dial_plan::{NewPlanEntry, PlanEntryRow};
pub use error::StoreError;
pub use gateway::GatewayRow;
pub use instance::{InstanceRecord, InstanceSeen};
pub use local_plan::LocalPlanRow;
pub use message::{MessageStatus, NewMessage, StoredMessage};
pub use publication::{PublicationChange, StoredPublication};
pub use push::PushToken;
pub use ring_group::RingGroupRow;
pub use tariff::{AccountPlanRow, BillingAccountRow, PlanRow, TariffRecord, TariffRowRecord};
pub use voicemail::VoicemailCounts;
pub use voicemessage::{NewVoiceMessage, VoiceMessage, VoicemailUser};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An SQLite file (or `sqlite::memory:` for throwaway use).
    Sqlite,
    /// MariaDB or MySQL.
    MySql,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::MySql => "mysql",
        })
    }
}

/// A handle on the database: a connection pool. Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// SQLite connection pool size: WAL allows concurrent readers, writers are serialized anyway.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// MariaDB/MySQL connection pool size.
const MYSQL_MAX_CONNECTIONS: u32 = 16;
/// How long a caller waits for a pooled connection before [`StoreError::is_transient`] errors.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite `busy_timeout`, milliseconds.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../sql/sqlite");
static MYSQL_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../sql/mysql");

impl Store {
    /// Opens a pool on `url` (see the crate docs for the forms) and checks that one connection
    /// can be made. Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let target = db_url::DatabaseUrl::parse(url)?;
        let connect_err = |source| StoreError::Connect {
            url_redacted: target.redacted.clone(),
            source,
        };
        let pool = match target.backend {
            Backend::Sqlite => {
                if let Some(dir) = target.sqlite_parent_dir() {
                    create_private_dir(&dir).map_err(|source| StoreError::CreateDir {
                        path: dir.clone(),
                        source,
                    })?;
                }
                if let Some(file) = target.sqlite_file() {
                    make_private_file(file).map_err(|source| StoreError::CreateFile {
                        path: file.to_path_buf(),
                        source,
                    })?;
                }
                let in_memory = target.sqlite_in_memory();
                let mut options = AnyPoolOptions::new()
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(sqlite_pragmas().as_str()).await?;
                            Ok(())
                        })
                    });
                options = if in_memory {
                    // Every new connection to `:memory:` would be a new, empty database: keep one.
                    options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    options.max_connections(SQLITE_MAX_CONNECTIONS)
                };
                options
                    .connect(&target.driver_url)
                    .await
                    .map_err(connect_err)?
            }
            Backend::MySql => AnyPoolOptions::new()
                .max_connections(MYSQL_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(&target.driver_url)
                .await
                .map_err(connect_err)?,
        };
        tracing::debug!(url = %target.redacted, backend = %target.backend, "database pool open");
        Ok(Self {
            pool,
            backend: target.backend,
        })
    }

    /// Applies the embedded migrations for this backend that are not applied yet. Idempotent;
    /// safe to call from several nodes at once on MySQL (the migrator takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::MySql => &MYSQL_MIGRATOR,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: self.backend,
                source,
            })?;
        tracing::debug!(backend = %self.backend, "migrations applied");
        Ok(())
    }

    /// The backend behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Round-trips a trivial query; fails if the database is unreachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("ping"))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned. Later calls on any clone
    /// fail with a (non-transient) pool-closed error. Dropping every clone also closes the pool,
    /// but without waiting.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Pragmas run on every new SQLite connection (`foreign_keys=ON` is sqlx's default already).
/// Creates `dir` (and its parents) when missing; the last component mode 0700 on Unix: the
/// database holds the accounts' credentials.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

/// Creates the SQLite file mode 0600 before SQLite does (it gives its `-wal` and `-shm`
/// files the database file's mode), and takes group and other access away from an existing
/// database file and its companions.
fn make_private_file(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    drop(options.open(file)?);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            let path = std::path::PathBuf::from(name);
            if let Ok(meta) = std::fs::metadata(&path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
            }
        }
    }
    Ok(())
}

fn sqlite_pragmas() -> String {
    format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
         PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL;"
    )
}

/// Seconds since the Unix epoch, from the system clock (used only for `created_at`).
fn now_epoch_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A database URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    db_url::redact(url)
}
