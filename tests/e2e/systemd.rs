//! The systemd unit (`etc/ferroswitch.service`) and the server's side of it: the unit passes
//! `systemd-analyze verify` without a single warning, and the real binary tells the service
//! manager READY=1 once its listeners are up and STOPPING=1 on SIGTERM (`sd_notify`).

use std::io::{BufRead as _, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Site, BIN};

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/ferroswitch.service");

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    if !crate::harness::optional_tool("systemd-analyze", "systemd") {
        return;
    }
    let unit = std::fs::read_to_string(UNIT).expect("etc/ferroswitch.service");
    for must in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/ferroswitch",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
    ] {
        assert!(unit.lines().any(|l| l == must), "{must} missing");
    }
    let nofile: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE")
        .parse()
        .expect("a number");
    assert!(nofile >= 200_000, "room for 100k TLS connections: {nofile}");
    // verify checks that the binaries exist: point the unit at the one just built
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("ferroswitch.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/ferroswitch", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    // unknown keys and bad values are only warnings to systemd: none is allowed here
    assert!(
        text.trim().is_empty(),
        "systemd-analyze verify warned:\n{text}"
    );
}

#[test]
fn the_server_notifies_systemd_ready_and_stopping() {
    let site = Site::new();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&socket_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = Command::new(BIN)
        .arg("-c")
        .arg(site.config())
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferroswitch");
    let stderr = child.stderr.take().unwrap();
    let (tx, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a notification within 30 s");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    // READY=1 comes after every listener is bound
    let seen: Vec<String> = log.try_iter().collect();
    let listening = seen.iter().filter(|l| l.contains("listening on")).count();
    assert!(listening >= 3, "listeners before READY=1: {seen:#?}");

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let n = sock.recv(&mut buf).expect("STOPPING=1 after SIGTERM");
    let second = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(second.lines().any(|l| l == "STOPPING=1"), "{second:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no exit within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
