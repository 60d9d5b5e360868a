//! Test harness: run a test body once per backend, each on its own fresh database.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use sqlx::{Connection, Executor};
use store::{Backend, Store};

/// The MariaDB server the tests use; `test` is a database every MariaDB install has.
pub(crate) const MARIADB_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// What a test body gets: a migrated store on a fresh database, and that database's URL (to
/// reopen it, or to look at tables directly).
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) url: String,
}

impl Ctx {
    pub(crate) fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// A separate raw pool on the same database, for checks the store API does not offer.
    pub(crate) async fn raw(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::pool::PoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .expect("raw connection to the test database")
    }

    /// `SELECT COUNT(*) ...` through a raw connection.
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        let pool = self.raw().await;
        let n = sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        pool.close().await;
        n
    }
}

/// Runs `body` on SQLite, then on MariaDB (each with a fresh, migrated database that is
/// removed afterwards, even if the body panics).
pub(crate) async fn each_backend<F, Fut>(test: &str, body: F)
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // SQLite: a file two directories below a temp dir (the store must create them).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("var/lib/ferro.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("open SQLite");
    store.migrate().await.expect("migrate SQLite");
    let outcome = tokio::spawn(body(Ctx { store, url })).await;
    drop(dir);
    if let Err(e) = outcome {
        eprintln!("{test}: failed on SQLite");
        std::panic::resume_unwind(e.into_panic());
    }

    // MariaDB: a uniquely named database per test run.
    let Some(mut admin) = mariadb_admin(test).await else {
        return;
    };
    let name = format!("ferro_t_{:016x}", rand::thread_rng().gen::<u64>());
    admin
        .execute(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4").as_str())
        .await
        .expect("CREATE DATABASE");
    let url = format!("mysql://root@127.0.0.1:3306/{name}");
    let prepared = async {
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        Ok::<_, store::StoreError>(store)
    }
    .await;
    let outcome = match prepared {
        Ok(store) => tokio::spawn(body(Ctx {
            store,
            url: url.clone(),
        }))
        .await
        .map_err(|e| e.into_panic()),
        Err(e) => Err(Box::new(format!("open/migrate MariaDB: {e}")) as Box<_>),
    };
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .expect("DROP DATABASE");
    admin.close().await.ok();
    if let Err(panic) = outcome {
        eprintln!("{test}: failed on MariaDB");
        std::panic::resume_unwind(panic);
    }
}

/// Runs `body` with the URL of a fresh, empty (not migrated) database: an SQLite file, then a
/// new MariaDB database. Both are removed afterwards, even if the body panics.
pub(crate) async fn each_empty_database<F, Fut>(test: &str, body: F)
where
    F: Fn(Backend, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("ferro.db").display());
    let outcome = tokio::spawn(body(Backend::Sqlite, url)).await;
    drop(dir);
    if let Err(e) = outcome {
        eprintln!("{test}: failed on SQLite");
        std::panic::resume_unwind(e.into_panic());
    }

    let Some(mut admin) = mariadb_admin(test).await else {
        return;
    };
    let name = format!("ferro_t_{:016x}", rand::thread_rng().gen::<u64>());
    admin
        .execute(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4").as_str())
        .await
        .expect("CREATE DATABASE");
    let url = format!("mysql://root@127.0.0.1:3306/{name}");
    let outcome = tokio::spawn(body(Backend::MySql, url)).await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .expect("DROP DATABASE");
    admin.close().await.ok();
    if let Err(e) = outcome {
        eprintln!("{test}: failed on MariaDB");
        std::panic::resume_unwind(e.into_panic());
    }
}

/// An admin connection to MariaDB, or `None` (after a loud message) if there is none and
/// `FERRO_REQUIRE_MARIADB` is not `1`.
pub(crate) async fn mariadb_admin(test: &str) -> Option<sqlx::MySqlConnection> {
    let connect = sqlx::MySqlConnection::connect(MARIADB_ADMIN_URL);
    let error = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(conn)) => return Some(conn),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out after 5 s".to_owned(),
    };
    if std::env::var("FERRO_REQUIRE_MARIADB").as_deref() == Ok("1") {
        panic!("{test}: MariaDB required (FERRO_REQUIRE_MARIADB=1) but unreachable at 127.0.0.1:3306: {error}");
    }
    skipped(&format!("{test}: no MariaDB at 127.0.0.1:3306 ({error})"));
    None
}

/// A loud skip, recorded for scripts/test's summary (`test_support::skipped`).
pub(crate) fn skipped(why: &str) {
    test_support::skipped("store", why);
}

/// A binding with every optional field set.
pub(crate) fn full_binding(login: &str, key: &str) -> store::BindingRecord {
    store::BindingRecord {
        login: login.to_owned(),
        binding_key: key.to_owned(),
        contact: format!(
            "<sip:{login}@[2001:db8::7]:52311;transport=tls;ob>;+sip.instance=\"{key}\""
        ),
        instance: Some("<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>".to_owned()),
        reg_id: Some(1),
        q_milli: Some(500),
        expires_at: 1_900_000_000,
        call_id: "a84b4c76e66710@pc33.example.com".to_owned(),
        cseq: 314_159,
        received: "[2001:db8::7]:52311".to_owned(),
        transport: "tls".to_owned(),
        local_addr: "[2001:db8::1]:5061".to_owned(),
        node_id: "node-a".to_owned(),
        path: Some("<sip:edge.example.com;lr;ob>".to_owned()),
        user_agent: Some("Zoë Phone/2.1 😀".to_owned()),
        updated_at: 1_899_996_400,
    }
}

/// A binding with every optional field `None`.
pub(crate) fn bare_binding(login: &str, key: &str) -> store::BindingRecord {
    store::BindingRecord {
        login: login.to_owned(),
        binding_key: key.to_owned(),
        contact: format!("sip:{login}@192.0.2.4:5060"),
        instance: None,
        reg_id: None,
        q_milli: None,
        expires_at: 1_700_000_000,
        call_id: "1-2-3@192.0.2.4".to_owned(),
        cseq: 1,
        received: "192.0.2.4:5060".to_owned(),
        transport: "udp".to_owned(),
        local_addr: "192.0.2.1:5060".to_owned(),
        node_id: "node-b".to_owned(),
        path: None,
        user_agent: None,
        updated_at: 1_699_996_400,
    }
}

pub(crate) fn account(
    login: &str,
    password: &str,
    display_name: Option<&str>,
) -> store::NewAccount {
    store::NewAccount {
        login: login.to_owned(),
        secret: secret(password),
        display_name: display_name.map(str::to_owned),
    }
}

/// Stand-in credentials for `password` (this crate stores what it is given; the binary
/// computes real HA1 values): `md5:PASSWORD` and `sha:PASSWORD`, no plain password.
pub(crate) fn secret(password: &str) -> store::Secret {
    store::Secret {
        realm: "ferro.test".to_owned(),
        ha1: format!("md5:{password}"),
        ha1b: format!("sha:{password}"),
        password: None,
    }
}

/// The password [`secret`] stood in for, read back from a stored account.
pub(crate) fn pw(a: &store::Account) -> &str {
    assert_eq!(
        a.secret.ha1b.strip_prefix("sha:"),
        a.secret.ha1.strip_prefix("md5:")
    );
    a.secret.ha1.strip_prefix("md5:").unwrap_or(&a.secret.ha1)
}
