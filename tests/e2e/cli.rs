//! The operator CLI: accounts, import, config check.

use std::time::Instant;

use crate::harness::Site;

#[test]
fn account_lifecycle() {
    let site = Site::new();
    site.add_account("henry", "pw1");
    let (ok, _, err) = site.cli(&["account", "add", "henry", "--password", "x"]);
    assert!(
        !ok && err.contains("henry"),
        "duplicate must fail naming the login: {err}"
    );
    let (ok, out, _) = site.cli(&[
        "account",
        "add",
        "ivy",
        "--password",
        "pw2",
        "--display-name",
        "Ivy League",
    ]);
    assert!(ok, "{out}");
    let (ok, out, _) = site.cli(&["account", "list"]);
    assert!(ok);
    assert!(
        out.contains("henry") && out.contains("Ivy League") && out.contains("2 account(s)"),
        "{out}"
    );
    let (ok, _, _) = site.cli(&["account", "passwd", "henry", "--password", "new"]);
    assert!(ok);
    let (ok, _, err) = site.cli(&["account", "passwd", "nobody", "--password", "new"]);
    assert!(!ok && err.contains("nobody"), "{err}");
    let (ok, _, _) = site.cli(&["account", "del", "ivy"]);
    assert!(ok);
    let (_, out, _) = site.cli(&["account", "list"]);
    assert!(
        !out.contains("ivy") && out.contains("1 account(s)"),
        "{out}"
    );
    let (ok, _, err) = site.cli(&["account", "add", "bad user", "--password", "x"]);
    assert!(!ok && err.contains("not a valid SIP user part"), "{err}");
}

#[test]
fn import_100k_accounts() {
    let site = Site::new();
    let csv = site.dir.path().join("accounts.csv");
    let mut text = String::from("login,password,display_name\n");
    for i in 0..100_000 {
        text.push_str(&format!("4812300{i:05},pw{i},User {i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let started = Instant::now();
    let (ok, out, err) = site.cli(&["account", "import", csv.to_str().unwrap()]);
    assert!(ok, "{err}");
    eprintln!(
        "import of 100,000 accounts took {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert!(out.contains("100000 new"), "{out}");
    let (_, out, _) = site.cli(&["account", "list"]);
    assert!(
        out.contains("100000 account(s)") && out.contains("481230099999"),
        "{}",
        &out[out.len().saturating_sub(200)..]
    );

    let bad = site.dir.path().join("bad.csv");
    std::fs::write(&bad, "ok1,pw\nonlylogin\n").unwrap();
    let (ok, _, err) = site.cli(&["account", "import", bad.to_str().unwrap()]);
    assert!(
        !ok && err.contains("bad.csv:2"),
        "error must name file and line: {err}"
    );
}

#[test]
fn check_validates_configs() {
    let site = Site::new();
    let (ok, out, err) = site.cli(&["check"]);
    assert!(ok, "{out}{err}");
    let bad = site.dir.path().join("bad.toml");
    std::fs::write(&bad, "[registrar]\nrealm = \"x\"\nmin_expirez = 5\n").unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["-c", bad.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.toml:3") && err.contains("min_expirez"),
        "must name file, line and key: {err}"
    );
    for sample in ["ferroswitch.toml", "voipswitch_config.xml"] {
        let p = format!("{}/../../etc/{sample}", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(crate::harness::BIN)
            .args(["-c", &p, "check"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sample}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
