//! Registration end to end with SIPp over UDP, TCP and TLS (stunnel in front of SIPp).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{require_tool, scenario, sipp, Site};

async fn bindings(site: &Site) -> Vec<store::BindingRecord> {
    let s = store::Store::connect(&site.db_url).await.expect("open db");
    let b = s.load_bindings(None).await.expect("load bindings");
    s.close().await;
    b
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Writes failures are flushed asynchronously: poll the database until `pred` holds.
fn wait_bindings(
    site: &Site,
    what: &str,
    pred: impl Fn(&[store::BindingRecord]) -> bool,
) -> Vec<store::BindingRecord> {
    for _ in 0..100 {
        let b = block(bindings(site));
        if pred(&b) {
            return b;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: database holds {:#?}", block(bindings(site)));
}

#[test]
fn udp_register_with_digest_challenge() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let server = site.start();
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register.xml"),
        server.udp,
        "u1",
        &["alice;wonderland"],
    );
    assert!(ok, "sipp failed:\n{out}");
    let b = wait_bindings(&site, "alice's binding", |b| b.len() == 1);
    assert_eq!(b[0].login, "alice");
    assert_eq!(b[0].transport, "udp");
    assert!(
        b[0].contact.starts_with("sip:alice@127.0.0.1:"),
        "{}",
        b[0].contact
    );
    assert!(b[0].received.starts_with("127.0.0.1:"));
    assert_eq!(b[0].node_id, "test1");
    server.stop();
}

#[test]
fn tcp_register() {
    let site = Site::new();
    site.add_account("bob", "builder");
    let server = site.start();
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register.xml"),
        server.tcp,
        "t1",
        &["bob;builder"],
    );
    assert!(ok, "sipp failed:\n{out}");
    let b = wait_bindings(&site, "bob's tcp binding", |b| b.len() == 1);
    assert_eq!(b[0].transport, "tcp");
}

#[test]
fn tls_register_through_stunnel() {
    require_tool("stunnel");
    let site = Site::new();
    site.add_account("carol", "secret");
    let server = site.start();
    // stunnel: plain TCP on a free local port → TLS to the server
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = site.dir.path().join("stunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\n[sip]\nclient = yes\naccept = 127.0.0.1:{port}\nconnect = {}\nverifyChain = no\n",
            server.tls
        ),
    )
    .unwrap();
    let mut stunnel = Command::new("stunnel")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stunnel");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "stunnel did not start");
    let target = format!("127.0.0.1:{port}").parse().unwrap();
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register.xml"),
        target,
        "t1",
        &["carol;secret"],
    );
    let _ = stunnel.kill();
    let _ = stunnel.wait();
    assert!(ok, "sipp over stunnel failed:\n{out}");
    let b = wait_bindings(&site, "carol's tls binding", |b| b.len() == 1);
    assert_eq!(b[0].transport, "tls", "binding must record the TLS flow");
}

#[test]
fn wrong_password_is_forbidden_and_short_expiry_is_423() {
    let site = Site::new();
    site.add_account("dave", "right");
    let server = site.start();
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register_wrong_password.xml"),
        server.udp,
        "u1",
        &["dave;wrong"],
    );
    assert!(ok, "expected 401 then 403:\n{out}");
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register_short_expiry.xml"),
        server.udp,
        "u1",
        &["dave;right"],
    );
    assert!(ok, "expected 401 then 423:\n{out}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        block(bindings(&site)).is_empty(),
        "refused registrations must not create bindings"
    );
}

#[test]
fn two_devices_then_contact_star_removes_all() {
    let site = Site::new();
    site.add_account("erin", "pw1");
    let server = site.start();
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register_instance.xml"),
        server.udp,
        "u1",
        &[
            "erin;pw1;00000000-0000-0000-0000-00000000000a",
            "erin;pw1;00000000-0000-0000-0000-00000000000b",
        ],
    );
    assert!(ok, "{out}");
    let b = wait_bindings(&site, "two instances", |b| b.len() == 2);
    let mut inst: Vec<_> = b.iter().filter_map(|r| r.instance.clone()).collect();
    inst.sort();
    assert_eq!(
        inst,
        [
            "<urn:uuid:00000000-0000-0000-0000-00000000000a>",
            "<urn:uuid:00000000-0000-0000-0000-00000000000b>"
        ]
    );
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("unregister_all.xml"),
        server.udp,
        "u1",
        &["erin;pw1"],
    );
    assert!(ok, "{out}");
    wait_bindings(&site, "no bindings after Contact: *", |b| b.is_empty());
}

#[test]
fn bindings_survive_a_restart() {
    let site = Site::new();
    site.add_account("frank", "pw");
    let server = site.start();
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register.xml"),
        server.udp,
        "u1",
        &["frank;pw"],
    );
    assert!(ok, "{out}");
    let b = wait_bindings(&site, "frank's binding", |b| b.len() == 1);
    let contact = b[0].contact.clone();
    server.stop();

    let server = site.start();
    // a REGISTER without Contact lists the bindings the server holds in memory
    let query = std::fs::read_to_string(scenario("query.xml")).unwrap();
    let port = contact
        .rsplit(':')
        .next()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let q = site.dir.path().join("query-restart.xml");
    std::fs::write(
        &q,
        query.replace("[field2]", &format!("sip:frank@127.0.0.1:{port}")),
    )
    .unwrap();
    let (ok, out) = sipp(site.dir.path(), &q, server.udp, "u1", &["frank;pw"]);
    assert!(ok, "after restart the 200 must list {contact}:\n{out}");
    server.stop();
}

/// The same registrar flow on the local MariaDB (a fresh database per run), including a
/// restart. Skipped loudly when no MariaDB answers at 127.0.0.1:3306, unless
/// FERRO_REQUIRE_MARIADB=1 (CI) makes that a failure.
#[test]
fn mariadb_backend_registers_and_restores() {
    use sqlx::Connection as _;
    let admin = "mysql://root@127.0.0.1:3306/test";
    let db = format!("ferro_e2e_{}", std::process::id());
    let created = block(async {
        let mut c = sqlx::MySqlConnection::connect(admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
            .execute(&mut c)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut c)
            .await?;
        c.close().await
    });
    if let Err(e) = created {
        assert!(
            std::env::var("FERRO_REQUIRE_MARIADB").as_deref() != Ok("1"),
            "MariaDB required but unreachable: {e}"
        );
        eprintln!("SKIPPED (no MariaDB at 127.0.0.1:3306): {e}");
        return;
    }
    let url = format!("mysql://root@127.0.0.1:3306/{db}");
    let site = Site::with_database(&format!("url = \"{url}\"\n"));
    site.add_account("kim", "pw");
    let server = site.start();
    let (ok, out) = sipp(
        site.dir.path(),
        &scenario("register.xml"),
        server.udp,
        "u1",
        &["kim;pw"],
    );
    assert!(ok, "{out}");
    let b = wait_bindings(&site, "kim's binding on MariaDB", |b| b.len() == 1);
    assert_eq!(b[0].login, "kim");
    server.stop();
    let server = site.start();
    let query = std::fs::read_to_string(scenario("query.xml")).unwrap();
    let q = site.dir.path().join("query-maria.xml");
    std::fs::write(&q, query.replace("[field2]", "sip:kim@127.0.0.1")).unwrap();
    let (ok, out) = sipp(site.dir.path(), &q, server.udp, "u1", &["kim;pw"]);
    assert!(
        ok,
        "after restart on MariaDB the 200 must list kim's contact:\n{out}"
    );
    server.stop();
    let _ = block(async {
        let mut c = sqlx::MySqlConnection::connect(admin).await?;
        sqlx::query(&format!("DROP DATABASE {db}"))
            .execute(&mut c)
            .await?;
        c.close().await
    });
}
