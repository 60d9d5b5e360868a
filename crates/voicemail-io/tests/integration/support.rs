use std::net::UdpSocket as StdUdp;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use voicemail_io::{MailboxChange, VoicemailService, VoicemailSettings};

pub(crate) fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sipp")
}

/// Whether SIPp is here; skips loudly when not (a failure under FERRO_REQUIRE_TOOLS=1, as
/// the e2e harness's optional tools).
pub(crate) fn have_sipp(test: &str) -> bool {
    if Command::new("sipp").arg("-v").output().is_ok() {
        return true;
    }
    if std::env::var("FERRO_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{test}: sipp not found (apt-get install sip-tester) and FERRO_REQUIRE_TOOLS=1");
    }
    test_support::skipped("voicemail-io", &format!("{test}: sipp not installed"));
    false
}

pub(crate) struct Service {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: store::Store,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) changes: mpsc::UnboundedReceiver<MailboxChange>,
    pub(crate) data: PathBuf,
}

/// A tone of `ms` milliseconds: the short test greeting.
pub(crate) fn tone(ms: usize, hz: f64) -> Arc<[i16]> {
    (0..ms * 8)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect::<Vec<_>>()
        .into()
}

pub(crate) async fn start() -> Service {
    start_with(|_| None).await
}

/// As [`start`], with a mailer made from the store (voicemail to email).
pub(crate) async fn start_with(
    mailer: impl FnOnce(&store::Store) -> Option<voicemail_io::mail::Mailer>,
) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/vm.db", dir.path().display());
    let store = store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut prompts = voicemail::prompts::load(None).unwrap();
    prompts.standard_greeting = tone(500, 440.0);
    prompts.record_greeting = tone(300, 330.0);
    let data = dir.path().join("voicemail");
    let mut settings = VoicemailSettings::new(data.clone(), prompts);
    settings.mailer = mailer(&store);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (svc, changes) = VoicemailService::start(socket, settings, store.clone()).unwrap();
    Service {
        _dir: dir,
        store,
        addr: svc.sip_addr,
        changes,
        data,
    }
}

/// A free even UDP port for SIPp's media (it uses the port and the one above).
pub(crate) fn media_port() -> u16 {
    loop {
        let s = StdUdp::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        if p % 2 == 0 && p < 65000 && StdUdp::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// Runs a SIPp scenario (one call) against `target` with one line of injection `fields`.
pub(crate) async fn sipp(
    scenario: &str,
    target: std::net::SocketAddr,
    fields: &str,
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let inf = dir.path().join("fields.csv");
    std::fs::write(&inf, format!("SEQUENTIAL\n{fields}\n")).unwrap();
    let mp = media_port();
    let out = tokio::process::Command::new("sipp")
        .current_dir(sipp_dir())
        .args(["-sf", scenario, "-inf"])
        .arg(&inf)
        .args(["-m", "1", "-i", "127.0.0.1", "-p", "0", "-mi", "127.0.0.1"])
        .args(["-mp", &mp.to_string(), "-timeout", "40s", "-timeout_error"])
        .arg("-nostdin")
        .arg(target.to_string())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("sipp ran too long")
        .unwrap()
}

/// The decoded samples of the PCMU RTP packets in a pcap (Ethernet, IPv4, UDP).
pub(crate) fn pcap_samples(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= b.len() {
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &b[at + 16..at + 16 + len];
        let rtp = &frame[14 + 20 + 8..];
        voicemail::Codec::Pcmu.decode(&rtp[12..], &mut out);
        at += 16 + len;
    }
    out
}
