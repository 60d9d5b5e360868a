//! Voicemail to email against a real SMTP server: `tests/smtp/sink.py` (Python's aiosmtpd)
//! receives the mail; the test reads what it received, and the attachment's bytes are the
//! stored WAV's.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use store::{NewVoiceMessage, VoicemailUser};
use tokio::io::{AsyncBufReadExt, BufReader};
use voicemail_io::mail::{MailSettings, Mailer};

use crate::support::{have_sipp, sipp, start_with};

/// A Python with aiosmtpd: Debian's python3-aiosmtpd lives in the system Python.
fn smtp_python(test: &str) -> Option<&'static str> {
    for python in ["/usr/bin/python3", "python3"] {
        let ok = std::process::Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    if std::env::var("FERRO_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{test}: aiosmtpd not found (apt-get install python3-aiosmtpd) and FERRO_REQUIRE_TOOLS=1");
    }
    test_support::skipped("voicemail-io", &format!("{test}: aiosmtpd not installed"));
    None
}

/// The running SMTP sink; killed when dropped.
struct Sink {
    _child: tokio::process::Child,
    out: PathBuf,
}

async fn sink(python: &str, port: u16, out: &Path) -> Sink {
    sink_with(python, port, out, &[]).await
}

/// The sink with extra arguments (certificate, key, user, password: STARTTLS and AUTH).
async fn sink_with(python: &str, port: u16, out: &Path, extra: &[&str]) -> Sink {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp/sink.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg(out)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the SMTP sink did not start")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    Sink {
        _child: child,
        out: out.to_path_buf(),
    }
}

impl Sink {
    /// The mails received so far (their JSON summaries), in order.
    fn mails(&self) -> Vec<serde_json::Value> {
        (1..)
            .map(|n| self.out.join(format!("{n}.json")))
            .take_while(|p| p.exists())
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= n || tokio::time::Instant::now() > end {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn settings(port: u16) -> MailSettings {
    let mut s = MailSettings::new("127.0.0.1", port, "Voicemail <vm@ferroswitch.test>");
    s.retry_delay = Duration::from_secs(1);
    s.timeout = Duration::from_secs(5);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_is_mailed_with_the_stored_wav_attached() {
    let test = "a_deposit_is_mailed_with_the_stored_wav_attached";
    let Some(python) = smtp_python(test) else {
        return;
    };
    if !have_sipp(test) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = sink(python, port, out.path()).await;
    let mut svc =
        start_with(|store| Some(Mailer::start(settings(port), store.clone()).unwrap())).await;
    svc.store
        .set_voicemail_user(&VoicemailUser {
            login: "alice".into(),
            enabled: true,
            email: Some("alice@example.org".into()),
            greeting_path: None,
        })
        .await
        .unwrap();
    let run = sipp("vm_deposit.xml", svc.addr, "bob;alice").await;
    assert!(
        run.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let change = tokio::time::timeout(Duration::from_secs(5), svc.changes.recv())
        .await
        .expect("no mailbox change")
        .unwrap();
    let m = change.deposited.expect("a deposit");
    assert_eq!(m.mail_status, "pending", "the mailbox has an address");

    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "one mail");
    let mail = &mails[0];
    assert_eq!(mail["mail_from"], "vm@ferroswitch.test");
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["alice@example.org"]));
    let subject = mail["subject"].as_str().unwrap();
    assert!(subject.contains("Caller bob (bob)"), "{subject}");
    assert!(mail["text"]
        .as_str()
        .unwrap()
        .contains(&format!("950msg{}", m.id)));
    let att = &mail["attachments"][0];
    assert_eq!(att["content_type"], "audio/wav");
    assert_eq!(att["filename"], format!("voicemail-{}.wav", m.id));
    let attached = std::fs::read(att["path"].as_str().unwrap()).unwrap();
    let stored = std::fs::read(&m.file_path).unwrap();
    assert!(
        stored.len() > 80_000,
        "5.6 s of audio, {} bytes",
        stored.len()
    );
    assert!(
        attached == stored,
        "the attachment is the stored WAV, byte for byte"
    );

    // The row says sent; the message is still in the mailbox, still new.
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let row = svc.store.voice_message(m.id).await.unwrap().unwrap();
        if row.mail_status == "sent" {
            assert!(row.new);
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "status {}",
            row.mail_status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A pending message (as a restart finds it) while the SMTP server is down: the attempts are
/// recorded and retried; once the server is up the message is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_is_retried_until_the_server_comes_up_and_delivered_once() {
    let test = "mail_is_retried_until_the_server_comes_up_and_delivered_once";
    let Some(python) = smtp_python(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::connect(&format!("sqlite://{}/vm.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
        .set_voicemail_user(&VoicemailUser {
            login: "carol".into(),
            enabled: true,
            email: Some("carol@example.org".into()),
            greeting_path: None,
        })
        .await
        .unwrap();
    let wav = dir.path().join("m.wav");
    let bytes = voicemail::wav::write_pcm16(&vec![1000i16; 8000]);
    std::fs::write(&wav, &bytes).unwrap();
    let (id, _) = store
        .insert_voice_message(&NewVoiceMessage {
            login: "carol".into(),
            caller_id: "dave".into(),
            display_name: String::new(),
            created_ms: 1_700_000_000_000,
            duration_ms: 1000,
            file_path: wav.display().to_string(),
            mail_status: "pending".into(),
        })
        .await
        .unwrap();
    let port = free_port(); // nothing listens there yet
    let _mailer = Mailer::start(settings(port), store.clone()).unwrap();
    // Attempts 1 (at once) and 2 (1 s later) fail: connection refused.
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let due = store.voice_mail_due(i64::MAX, 10).await.unwrap();
        assert_eq!(due.len(), 1, "still pending");
        if due[0].attempts >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "no retry recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = tempfile::tempdir().unwrap();
    let smtp = sink(python, port, out.path()).await;
    // The third attempt is due 2 s after the second.
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0]["rcpt_tos"],
        serde_json::json!(["carol@example.org"])
    );
    let attached = std::fs::read(mails[0]["attachments"][0]["path"].as_str().unwrap()).unwrap();
    assert!(attached == bytes);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.mails().len(), 1, "delivered once");
    let row = store.voice_message(id).await.unwrap().unwrap();
    assert_eq!(row.mail_status, "sent");
    assert!(store.voice_mail_due(i64::MAX, 10).await.unwrap().is_empty());
}

/// A server that never comes up: after `attempts` the row is `failed`, the message and its
/// file stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_gives_up_after_its_attempts_and_keeps_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::connect(&format!("sqlite://{}/vm.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
        .set_voicemail_user(&VoicemailUser {
            login: "erin".into(),
            enabled: true,
            email: Some("erin@example.org".into()),
            greeting_path: None,
        })
        .await
        .unwrap();
    let wav = dir.path().join("m.wav");
    std::fs::write(&wav, voicemail::wav::write_pcm16(&[0i16; 8000])).unwrap();
    let (id, _) = store
        .insert_voice_message(&NewVoiceMessage {
            login: "erin".into(),
            caller_id: "dave".into(),
            display_name: String::new(),
            created_ms: 1,
            duration_ms: 1000,
            file_path: wav.display().to_string(),
            mail_status: "pending".into(),
        })
        .await
        .unwrap();
    let mut s = settings(free_port());
    s.attempts = 2;
    let _mailer = Mailer::start(s, store.clone()).unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = store.voice_message(id).await.unwrap().unwrap();
        if row.mail_status == "failed" {
            assert!(row.new && wav.exists(), "the message stays");
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "status {}",
            row.mail_status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.voicemail_counts("erin").await.unwrap().new, 1);
}

/// STARTTLS (rustls, the server's self-signed certificate trusted through `ca_pem`) and AUTH:
/// the sink refuses mail before both, so a delivered mail proves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_starttls_with_auth() {
    let test = "mail_goes_over_starttls_with_auth";
    let Some(python) = smtp_python(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, &key_pem).unwrap();
    let store = store::Store::connect(&format!("sqlite://{}/vm.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
        .set_voicemail_user(&VoicemailUser {
            login: "frank".into(),
            enabled: true,
            email: Some("frank@example.org".into()),
            greeting_path: None,
        })
        .await
        .unwrap();
    let wav = dir.path().join("m.wav");
    let bytes = voicemail::wav::write_pcm16(&vec![300i16; 8000]);
    std::fs::write(&wav, &bytes).unwrap();
    let (id, _) = store
        .insert_voice_message(&NewVoiceMessage {
            login: "frank".into(),
            caller_id: "dave".into(),
            display_name: String::new(),
            created_ms: 1,
            duration_ms: 1000,
            file_path: wav.display().to_string(),
            mail_status: "pending".into(),
        })
        .await
        .unwrap();
    let port = free_port();
    let out = tempfile::tempdir().unwrap();
    let cert_arg = cert_file.display().to_string();
    let key_arg = key_file.display().to_string();
    let smtp = sink_with(
        python,
        port,
        out.path(),
        &[&cert_arg, &key_arg, "vm", "s3cret"],
    )
    .await;
    let mut s = settings(port);
    s.security = voicemail_io::mail::MailSecurity::StartTls;
    s.credentials = Some(("vm".into(), "s3cret".into()));
    s.ca_pem = Some(cert_pem.into_bytes());
    let _mailer = Mailer::start(s, store.clone()).unwrap();
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "delivered over STARTTLS with AUTH");
    let att = std::fs::read(mails[0]["attachments"][0]["path"].as_str().unwrap()).unwrap();
    assert!(att == bytes);
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.voice_message(id).await.unwrap().unwrap().mail_status != "sent" {
        assert!(tokio::time::Instant::now() < end, "not marked sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
