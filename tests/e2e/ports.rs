//! Ports at start: every listener is bound before the database or a certificate is made, a
//! busy port names the setting to change, `run` options move listeners for one run, and the
//! small CLI errors (a port out of range, a missing default config) say what to do.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Site, BIN};

/// A config on `udp` for SIP, with STUN and admin on `stun` and `admin`, data in `data/`.
fn write_config(dir: &Path, sip: &str, stun: &str, admin: &str) -> std::path::PathBuf {
    let path = dir.join("ferroswitch.toml");
    let text = format!(
        "[[listener]]\ntransport = \"udp\"\naddress = \"{sip}\"\n\n\
         [[listener]]\ntransport = \"tls\"\naddress = \"127.0.0.1:0\"\n\n\
         [tls]\ncertificate = \"data/tls/cert.pem\"\ngenerate_self_signed = true\n\n\
         [database]\ndata_dir = \"data\"\n\n[stun]\naddress = \"{stun}\"\n\n\
         [admin]\nlisten = \"{admin}\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `ferroswitch -c config args...`, killed after 20 s; returns its output and how long it
/// took.
fn run_bounded(config: &Path, args: &[&str], cwd: Option<&Path>) -> (Output, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(BIN);
    if !config.as_os_str().is_empty() {
        cmd.arg("-c").arg(config);
    }
    cmd.args(args)
        .env_remove("FERROSWITCH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_busy_port_names_the_setting_and_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let busy_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let busy_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = busy_udp.local_addr().unwrap().to_string();
    let tcp = busy_tcp.local_addr().unwrap().to_string();
    let data = dir.path().join("data");

    // the SIP port is taken
    let config = write_config(dir.path(), &udp, "127.0.0.1:0", "127.0.0.1:0");
    let (out, took) = run_bounded(&config, &["run"], None);
    let err = stderr(&out);
    assert!(!out.status.success(), "must fail: {err}");
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert!(
        err.contains(&format!("cannot listen on udp {udp}"))
            && err.contains("already in use")
            && err.contains(&format!(
                "change listener[0].address ({}:3)",
                config.display()
            ))
            && err.contains("ferroswitch run --sip PORT"),
        "the error must name the key, the file and the option: {err}"
    );
    assert!(
        !data.exists(),
        "no database nor certificate before the ports are bound"
    );

    // the STUN port (a UDP socket) and the admin port (TCP) are bound first too
    let config = write_config(dir.path(), "127.0.0.1:0", &udp, "127.0.0.1:0");
    let (out, _) = run_bounded(&config, &["run"], None);
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.contains("cannot listen on STUN")
            && err.contains("change stun.address (")
            && err.contains("--stun PORT|off"),
        "{err}"
    );
    let config = write_config(dir.path(), "127.0.0.1:0", "127.0.0.1:0", &tcp);
    let (out, _) = run_bounded(&config, &["run"], None);
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.contains("cannot listen on admin API")
            && err.contains("change admin.listen ("),
        "{err}"
    );
    assert!(
        !data.exists(),
        "no database nor certificate before the ports are bound"
    );

    // an option that moves onto a busy port names the option
    let (out, _) = run_bounded(
        &config,
        &["run", "--admin", "off", "--stun", "off", "--sip", &udp],
        None,
    );
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("change the --sip option"),
        "{err}"
    );
    assert!(!data.exists());
}

#[test]
fn run_options_move_listeners_for_one_run() {
    let busy_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let busy_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = busy_udp.local_addr().unwrap().to_string();
    let tcp = busy_tcp.local_addr().unwrap().to_string();
    // the file names busy ports for SIP, STUN and admin: the options move all of them
    let site = Site::with_sections(&format!(
        "[stun]\naddress = \"{udp}\"\n[admin]\nlisten = \"{tcp}\"\n"
    ));
    let text = std::fs::read_to_string(site.config())
        .unwrap()
        .replacen("127.0.0.1:0", &udp, 1);
    std::fs::write(site.config(), text).unwrap();
    let elsewhere = site.dir.path().join("second");
    let server = site.start_with(&[
        "--sip",
        "127.0.0.1:0",
        "--stun",
        "off",
        "--admin",
        "0",
        "--data-dir",
        elsewhere.to_str().unwrap(),
    ]);
    assert_ne!(server.udp.to_string(), udp);
    assert_eq!(server.stun, None, "--stun off");
    let http = server
        .http
        .expect("--admin 0 keeps the admin API on a fresh port");
    assert_eq!(http.ip().to_string(), "127.0.0.1");
    assert_ne!(http.to_string(), tcp);
    assert!(elsewhere.join("ferroswitch.db").exists(), "--data-dir");
    assert!(!site.dir.path().join("data/ferroswitch.db").exists());
    server.stop();
}

#[test]
fn a_port_out_of_range_names_the_key_or_option_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "0.0.0.0:70000", "127.0.0.1:0", "127.0.0.1:0");
    let (out, _) = run_bounded(&config, &["check"], None);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(":3: listener[0].address: port 70000 is out of range: a port is a number from 0 to 65535"),
        "{err}"
    );
    let config = write_config(dir.path(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0");
    let (out, _) = run_bounded(&config, &["run", "--sip", "70000"], None);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("--sip") && err.contains("port 70000 is out of range"),
        "{err}"
    );
}

#[test]
fn a_missing_default_config_says_where_it_looked_and_how_to_pass_one() {
    let cwd = tempfile::tempdir().unwrap();
    let (out, _) = run_bounded(Path::new(""), &["check"], Some(cwd.path()));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let looked = std::path::absolute(cwd.path().join("etc/ferroswitch.toml")).unwrap();
    assert!(
        err.contains("no config file etc/ferroswitch.toml")
            && err.contains(&looked.display().to_string())
            && err.contains("relative to the current directory")
            && err.contains("-c FILE")
            && err.contains("FERROSWITCH_CONFIG"),
        "{err}"
    );
}
