//! Voicemail to email from the binary: with `[smtp]` set, `ferroswitch run` mails the messages
//! its database holds as `pending` (a deposit, or what a previous run left) to a real SMTP
//! server (`tests/smtp/sink.py`, Python's aiosmtpd), the WAV attached.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{block, skipped, Site};

/// A Python with aiosmtpd (Debian's python3-aiosmtpd), or a skip (a failure with
/// FERRO_REQUIRE_TOOLS=1).
fn smtp_python() -> Option<&'static str> {
    for python in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    if std::env::var("FERRO_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("aiosmtpd not found (apt-get install python3-aiosmtpd) and FERRO_REQUIRE_TOOLS=1");
    }
    skipped("aiosmtpd not installed (apt-get install python3-aiosmtpd)");
    None
}

struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_server_mails_a_pending_voicemail_through_smtp() {
    let Some(python) = smtp_python() else {
        return;
    };
    let port = crate::harness::free_port();
    let site = Site::with_sections(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n\
         from = \"Voicemail <vm@ferroswitch.test>\"\nretry_delay = 1\n"
    ));
    site.add_account("alice", "secret"); // creates and migrates the database
                                         // the operator gives the mailbox its address with the CLI; bad ones are refused
    let (ok, _, err) = site.cli(&["mailbox", "set", "alice", "--email", "alice at example"]);
    assert!(!ok && err.contains("expected local@domain"), "{err}");
    let (ok, _, err) = site.cli(&["mailbox", "set", "nobody", "--email", "n@example.org"]);
    assert!(!ok && err.contains("no account nobody"), "{err}");
    let (ok, out, err) = site.cli(&["mailbox", "set", "alice", "--email", "alice@example.org"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "alice: on, email alice@example.org, greeting (standard)"
    );
    let (ok, out, _) = site.cli(&["mailbox", "show", "alice"]);
    assert!(ok && out.contains("email alice@example.org"), "{out}");
    let wav = site.dir.path().join("msg.wav");
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&wav, &bytes).unwrap();
    let id = block(async {
        let store = store::Store::connect(&site.db_url).await.unwrap();
        let (id, _) = store
            .insert_voice_message(&store::NewVoiceMessage {
                login: "alice".into(),
                caller_id: "1002".into(),
                display_name: "Bob".into(),
                created_ms: 1_700_000_000_000,
                duration_ms: 3000,
                file_path: wav.display().to_string(),
                mail_status: "pending".into(),
            })
            .await
            .unwrap();
        id
    });
    let out = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/smtp/sink.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg(out.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _sink = Sink(child);
    assert_eq!(first.trim(), "ready");

    let server = site.start();
    let json = out.path().join("1.json");
    let end = Instant::now() + Duration::from_secs(15);
    while !json.exists() {
        assert!(Instant::now() < end, "no mail received");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mail: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["alice@example.org"]));
    assert_eq!(mail["mail_from"], "vm@ferroswitch.test");
    let att = &mail["attachments"][0];
    assert_eq!(att["filename"], format!("voicemail-{id}.wav"));
    assert!(std::fs::read(att["path"].as_str().unwrap()).unwrap() == bytes);
    server.stop();
    let row = block(async {
        let store = store::Store::connect(&site.db_url).await.unwrap();
        store.voice_message(id).await.unwrap().unwrap()
    });
    assert_eq!(row.mail_status, "sent");
    assert!(!out.path().join("2.json").exists(), "mailed once");
}

#[test]
fn a_mailbox_is_switched_off_and_its_email_removed_with_the_cli() {
    let site = Site::with_sections("");
    site.add_account("bob", "builder");
    let (ok, _, err) = site.cli(&["mailbox", "set", "bob"]);
    assert!(!ok && err.contains("nothing to change"), "{err}");
    let (ok, out, err) = site.cli(&[
        "mailbox",
        "set",
        "bob",
        "--enabled",
        "off",
        "--email",
        "bob@example.org",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "bob: off, email bob@example.org, greeting (standard)"
    );
    let (ok, out, err) = site.cli(&["mailbox", "set", "bob", "--no-email", "--enabled", "on"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "bob: on, email (none), greeting (standard)");
    let user = block(async {
        let store = store::Store::connect(&site.db_url).await.unwrap();
        store.voicemail_user("bob").await.unwrap().unwrap()
    });
    assert!(user.enabled && user.email.is_none(), "{user:?}");
}
