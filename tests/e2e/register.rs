//! Registration end to end with SIPp over UDP, TCP and TLS (stunnel in front of SIPp).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{block, require_tool, sipp_query, MariaDb, Site};

#[test]
fn udp_register_with_digest_challenge() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let server = site.start();
    let (ok, out) = site.sipp("register.xml", server.udp, "u1", &["alice;wonderland"]);
    assert!(ok, "sipp failed:\n{out}");
    let b = site.wait_bindings("alice's binding", |b| b.len() == 1);
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
    let (ok, out) = site.sipp("register.xml", server.tcp, "t1", &["bob;builder"]);
    assert!(ok, "sipp failed:\n{out}");
    let b = site.wait_bindings("bob's tcp binding", |b| b.len() == 1);
    assert_eq!(b[0].transport, "tcp");
}

#[test]
fn tls_register_through_stunnel() {
    require_tool("stunnel");
    let site = Site::new();
    site.add_account("carol", "secret");
    let server = site.start();
    // stunnel: plain TCP on a free local port → TLS to the server
    let port = crate::harness::free_port();
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
    let (ok, out) = site.sipp("register.xml", target, "t1", &["carol;secret"]);
    let _ = stunnel.kill();
    let _ = stunnel.wait();
    assert!(ok, "sipp over stunnel failed:\n{out}");
    let b = site.wait_bindings("carol's tls binding", |b| b.len() == 1);
    assert_eq!(b[0].transport, "tls", "binding must record the TLS flow");
}

#[test]
fn wrong_password_is_forbidden_and_short_expiry_is_423() {
    let site = Site::new();
    site.add_account("dave", "right");
    let server = site.start();
    let (ok, out) = site.sipp(
        "register_wrong_password.xml",
        server.udp,
        "u1",
        &["dave;wrong"],
    );
    assert!(ok, "expected 401 then 403:\n{out}");
    let (ok, out) = site.sipp(
        "register_short_expiry.xml",
        server.udp,
        "u1",
        &["dave;right"],
    );
    assert!(ok, "expected 401 then 423:\n{out}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        site.bindings().is_empty(),
        "refused registrations must not create bindings"
    );
}

#[test]
fn two_devices_then_contact_star_removes_all() {
    let site = Site::new();
    site.add_account("erin", "pw1");
    let server = site.start();
    let (ok, out) = site.sipp(
        "register_instance.xml",
        server.udp,
        "u1",
        &[
            "erin;pw1;00000000-0000-0000-0000-00000000000a",
            "erin;pw1;00000000-0000-0000-0000-00000000000b",
        ],
    );
    assert!(ok, "{out}");
    let b = site.wait_bindings("two instances", |b| b.len() == 2);
    let mut inst: Vec<_> = b.iter().filter_map(|r| r.instance.clone()).collect();
    inst.sort();
    assert_eq!(
        inst,
        [
            "<urn:uuid:00000000-0000-0000-0000-00000000000a>",
            "<urn:uuid:00000000-0000-0000-0000-00000000000b>"
        ]
    );
    // every instance ever seen is kept in aa_ue_instance
    let seen = block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let i = s.list_instances("erin").await.unwrap();
        s.close().await;
        i
    });
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (ok, out) = site.sipp("unregister_all.xml", server.udp, "u1", &["erin;pw1"]);
    assert!(ok, "{out}");
    site.wait_bindings("no bindings after Contact: *", |b| b.is_empty());
}

#[test]
fn bindings_survive_a_restart() {
    let site = Site::new();
    site.add_account("frank", "pw");
    let server = site.start();
    let (ok, out) = site.sipp("register.xml", server.udp, "u1", &["frank;pw"]);
    assert!(ok, "{out}");
    let b = site.wait_bindings("frank's binding", |b| b.len() == 1);
    let contact = b[0].contact.clone();
    server.stop();

    let server = site.start();
    // a REGISTER without Contact lists the bindings the server holds in memory
    let (ok, out) = sipp_query(
        site.dir.path(),
        server.udp,
        "frank;pw",
        &regex_escape(&contact),
    );
    assert!(ok, "after restart the 200 must list {contact}:\n{out}");
    server.stop();
}

/// The same registrar flow on the local MariaDB (a fresh database per run), including a
/// restart. Skipped loudly when no MariaDB answers at 127.0.0.1:3306, unless
/// FERRO_REQUIRE_MARIADB=1 (CI) makes that a failure.
#[test]
fn mariadb_backend_registers_and_restores() {
    let Some(db) = MariaDb::create("ferro_e2e") else {
        return;
    };
    let site = Site::with_database(&format!("url = \"{}\"\n", db.url(3306)));
    site.add_account("kim", "pw");
    let server = site.start();
    let (ok, out) = site.sipp("register.xml", server.udp, "u1", &["kim;pw"]);
    assert!(ok, "{out}");
    let b = site.wait_bindings("kim's binding on MariaDB", |b| b.len() == 1);
    assert_eq!(b[0].login, "kim");
    server.stop();
    let server = site.start();
    let (ok, out) = sipp_query(
        site.dir.path(),
        server.udp,
        "kim;pw",
        &regex_escape(&b[0].contact),
    );
    assert!(
        ok,
        "after restart on MariaDB the 200 must list kim's contact:\n{out}"
    );
    server.stop();
}

/// Escapes the regular-expression metacharacters of a contact URI.
fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if ".+*?()[]{}|^$\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// A real softphone: baresip registers over TLS with MD5 digest (qop=auth), and the binding
/// records the TLS flow and the phone's User-Agent.
#[test]
fn baresip_registers_over_tls() {
    require_tool("baresip");
    let site = Site::with_registrar("algorithms = [\"MD5\"]\n");
    site.add_account("zoe", "s3cret");
    let server = site.start();
    let cfg = site.dir.path().join("baresip");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config"),
        "sip_listen 127.0.0.1:0\nsip_verify_server no\nmodule_path /usr/lib/baresip/modules\n\
         module account.so\naudio_player nil\naudio_source nil\n",
    )
    .unwrap();
    std::fs::write(
        cfg.join("accounts"),
        format!(
            "<sip:zoe@127.0.0.1;transport=tls>;auth_pass=s3cret;outbound=\"sip:{};transport=tls\";regint=600\n",
            server.tls
        ),
    )
    .unwrap();
    std::fs::write(cfg.join("contacts"), "").unwrap();
    let mut phone = Command::new("baresip")
        .arg("-f")
        .arg(&cfg)
        .args(["-t", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip");
    let b = site.wait_bindings("baresip's binding", |b| b.len() == 1);
    let _ = phone.kill();
    let _ = phone.wait();
    assert_eq!(b[0].login, "zoe");
    assert_eq!(b[0].transport, "tls");
    assert!(
        b[0].user_agent
            .as_deref()
            .is_some_and(|ua| ua.contains("baresip")),
        "{:?}",
        b[0].user_agent
    );
}

/// A REGISTER whose To names another login is refused with 403 at once, also when the
/// account's cache entry is old enough to be re-read: only refused credentials re-read the
/// account (a re-read here used to answer 401 stale first, burning the nonce count).
#[test]
fn to_naming_another_login_is_403_without_a_stale_challenge() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let server = site.start();
    // the account is cached at start; older than the 2 s re-check age
    std::thread::sleep(Duration::from_millis(2_200));
    let mut alice = crate::ua::Ua::new(server.udp, "alice", "wonderland");
    let r = alice.request(
        "REGISTER",
        &format!("sip:{}", crate::ua::REALM),
        &format!("sip:mallory@{}", crate::ua::REALM),
        "Expires: 60\r\n",
        None,
        None,
    );
    assert_eq!(r.status(), Some(403), "{r:?}");
    server.stop();
}
