//! [`StoreError`]: what failed, and whether retrying later can help.

use std::path::PathBuf;

use crate::Backend;

/// An error from the store. Messages name the operation and what to do; URLs in them are
/// redacted (no password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL is not one the store understands.
    #[error(
        "unsupported database URL `{url}`: use sqlite:///abs/path.db, sqlite://relative.db \
         or mysql://user:password@host:3306/database"
    )]
    BadUrl {
        /// The URL, password redacted.
        url: String,
    },

    /// The directory for the SQLite file could not be created.
    #[error("cannot create directory {} for the SQLite database: {source}; check the path and permissions", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The SQLite file could not be created or made private (mode 0600).
    #[error("cannot create or protect the SQLite database file {}: {source}; check the path and permissions", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The database could not be opened or reached.
    #[error(
        "cannot connect to database {url_redacted}: {source}; check that the server is running, \
         the URL (host, port, database, user) and the credentials"
    )]
    Connect {
        /// The URL, password redacted.
        url_redacted: String,
        /// Why.
        source: sqlx::Error,
    },

    /// Applying the schema migrations failed.
    #[error(
        "cannot apply the {backend} schema migrations: {source}; if a migration is marked dirty or \
         modified, restore the database or fix `_sqlx_migrations` by hand before restarting"
    )]
    Migrate {
        /// Which migration set.
        backend: Backend,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },

    /// `add_account` with a login that is already taken.
    #[error("account `{login}` already exists; use `passwd` to change its password")]
    AccountExists {
        /// The login.
        login: String,
    },

    /// A value is longer than its column allows (see [`crate::limits`]).
    #[error("{field} is {len} characters long, at most {max} are allowed")]
    TooLong {
        /// Column name.
        field: &'static str,
        /// The limit, in characters.
        max: usize,
        /// The value's length, in characters.
        len: usize,
    },

    /// A binary value (a body) is larger than the store accepts (see
    /// [`crate::limits::BODY_BYTES`]).
    #[error("{field} is {len} bytes long, at most {max} are allowed")]
    TooLarge {
        /// Column name.
        field: &'static str,
        /// The limit, in bytes.
        max: usize,
        /// The value's size, in bytes.
        len: usize,
    },

    /// An empty login.
    #[error("the login is empty")]
    EmptyLogin,

    /// A new login (also the digest auth name) with a character SIP URIs cannot carry as
    /// typed: browser phones and many softphones build `sip:LOGIN@domain` from it, and the
    /// registration or call then never completes.
    #[error(
        "login {login:?} contains {what}: a login is also the SIP user and auth name, and \
         phones (the web phone included) cannot register or call with it; use letters, digits \
         and . - _ + only"
    )]
    BadLogin { login: String, what: &'static str },

    /// A value that must not be empty is empty (gateway name or address, plan action, ...).
    #[error("{field} is empty")]
    Empty {
        /// Column name.
        field: &'static str,
    },

    /// A ring group's member list is not acceptable.
    #[error("ring group `{group}`: member `{member}` {reason}")]
    BadRingGroupMember {
        /// The group's login.
        group: String,
        /// The member as given.
        member: String,
        /// What is wrong with it (`is empty`, `contains a comma`, `is listed twice`, ...).
        reason: &'static str,
    },

    /// Row `row` (0-based) of an import is not acceptable; nothing was imported.
    #[error("import row {row}: {source}; nothing was imported")]
    ImportRow {
        /// 0-based index into the rows passed to `import_accounts`.
        row: usize,
        /// Why.
        source: Box<StoreError>,
    },

    /// A query failed.
    #[error("database {op} failed: {source}")]
    Query {
        /// The store operation (`add_account`, `apply_binding_changes`, ...).
        op: &'static str,
        /// Why.
        source: sqlx::Error,
    },
}

impl StoreError {
    /// Adapter for `map_err`: wraps a sqlx error as [`StoreError::Query`] for operation `op`.
    pub(crate) fn query(op: &'static str) -> impl Fn(sqlx::Error) -> Self {
        move |source| Self::Query { op, source }
    }

    /// True when the database is unreachable or temporarily unable to serve (connection lost,
    /// I/O error, pool timeout, lock wait timeout, deadlock, SQLite busy): the caller should log,
    /// keep its in-memory state and retry later. False for bad input, schema problems and bugs.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { source, .. } | Self::Query { source, .. } => sqlx_is_transient(source),
            Self::Migrate { source, .. } => match source {
                sqlx::migrate::MigrateError::Execute(e) => sqlx_is_transient(e),
                _ => false,
            },
            Self::CreateDir { source, .. } | Self::CreateFile { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut
            ),
            Self::ImportRow { source, .. } => source.is_transient(),
            Self::BadUrl { .. }
            | Self::AccountExists { .. }
            | Self::TooLong { .. }
            | Self::TooLarge { .. }
            | Self::EmptyLogin
            | Self::BadLogin { .. }
            | Self::Empty { .. }
            | Self::BadRingGroupMember { .. } => false,
        }
    }
}

/// MySQL/MariaDB server error numbers that mean "try again".
const MYSQL_TRANSIENT: &[&str] = &[
    "1040", // ER_CON_COUNT_ERROR: too many connections
    "1047", // ER_UNKNOWN_COM_ERROR: Galera node not ready (WSREP has not yet prepared node)
    "1053", // ER_SERVER_SHUTDOWN
    "1205", // ER_LOCK_WAIT_TIMEOUT
    "1213", // ER_LOCK_DEADLOCK (also Galera certification conflicts)
    "1927", // ER_CONNECTION_KILLED (MariaDB)
    "2006", // CR_SERVER_GONE_ERROR
    "2013", // CR_SERVER_LOST
];
/// SQLite primary result codes that mean "try again": SQLITE_BUSY, SQLITE_LOCKED.
const SQLITE_TRANSIENT: &[u32] = &[5, 6];

fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Extended result codes carry the primary code in the low byte.
                code.parse::<u32>()
                    .is_ok_and(|c| SQLITE_TRANSIENT.contains(&(c & 0xff)))
            } else {
                MYSQL_TRANSIENT.contains(&code.as_ref())
            }
        }
        _ => false,
    }
}
