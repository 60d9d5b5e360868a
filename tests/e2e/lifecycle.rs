//! Signals, reload and shutdown of the real binary: SIGHUP with a renewed certificate (new
//! handshakes see it, an open TLS connection keeps working), SIGHUP with a broken config (the
//! old one keeps serving, the error names file:line:key), `POST /api/reload` and
//! `ferroswitch reload`, SIGTERM under SIPp REGISTER load (every acknowledged binding is in the
//! database) and SIGTERM with calls up (BYE, CANCEL + 503, two CDRs, exit 0 in time).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::calls::{assert_ok, cdrs, device, free_port, Sipp};
use crate::harness::{rand_suffix, require_tool, Site};

/// Accepts any server certificate: the tests compare the presented one themselves.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub(crate) async fn tls_connect(addr: SocketAddr) -> TlsStream<TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake")
}

/// The leaf certificate the server presented on `s`.
fn peer_cert(s: &TlsStream<TcpStream>) -> Vec<u8> {
    s.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

/// Sends an OPTIONS on the TLS connection and returns the status of the answer.
async fn options_over(s: &mut TlsStream<TcpStream>, n: u32) -> u16 {
    let local = s.get_ref().0.local_addr().unwrap();
    let req = format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKopt{n}-{};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:127.0.0.1>\r\nCall-ID: opt-{n}-{}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n",
        rand_suffix(),
        rand_suffix()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).await.expect("read the answer");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("an answer to OPTIONS within 5 s");
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// OPTIONS over UDP: the status of the answer (0: none within 2 s).
fn options_udp(server: SocketAddr) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let local = sock.local_addr().unwrap();
    let req = format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKu{};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=u1\r\nTo: <sip:{server}>\r\nCall-ID: udp-{}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        rand_suffix(),
        rand_suffix()
    );
    sock.send_to(req.as_bytes(), server).unwrap();
    let mut buf = [0u8; 4096];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => String::from_utf8_lossy(&buf[..n])
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The first certificate of a PEM file (the leaf), as DER.
fn der_of(pem_file: &std::path::Path) -> Vec<u8> {
    let pem = std::fs::read(pem_file).unwrap();
    let first = CertificateDer::pem_slice_iter(&pem)
        .next()
        .expect("a certificate")
        .unwrap()
        .to_vec();
    first
}

#[test]
fn sighup_with_a_renewed_certificate_serves_it_to_new_handshakes_and_keeps_open_connections() {
    let site = Site::new();
    let mut server = site.start();
    let cert_file = site.dir.path().join("tls/cert.pem");
    let key_file = site.dir.path().join("tls/key.pem");
    let old = der_of(&cert_file);
    let rt = runtime();
    let mut open = rt.block_on(tls_connect(server.tls));
    assert_eq!(peer_cert(&open), old);
    assert_eq!(rt.block_on(options_over(&mut open, 1)), 200);

    // a renewal writes new files at the same paths, then the operator reloads
    let renewed =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "renewed.test".to_owned()])
            .unwrap();
    std::fs::write(&cert_file, renewed.cert.pem()).unwrap();
    std::fs::write(&key_file, renewed.key_pair.serialize_pem()).unwrap();
    let new = der_of(&cert_file);
    assert_ne!(new, old);
    server.signal("HUP");
    let line = server
        .wait_log(10, |l| l.contains("config reloaded"))
        .unwrap_or_else(|seen| panic!("no reload logged:\n{}", seen.join("\n")));
    assert!(line.contains("\"tls\""), "tls applied: {line}");

    let mut fresh = rt.block_on(tls_connect(server.tls));
    assert_eq!(
        peer_cert(&fresh),
        new,
        "a new handshake sees the new certificate"
    );
    assert_eq!(rt.block_on(options_over(&mut fresh, 1)), 200);
    // the connection opened before keeps its session and keeps working
    assert_eq!(peer_cert(&open), old);
    assert_eq!(rt.block_on(options_over(&mut open, 2)), 200);
    assert!(
        server.wait_exit(0).is_none(),
        "SIGHUP never ends the process"
    );
    server.stop();
}

#[test]
fn sighup_with_a_broken_config_keeps_the_running_one_and_logs_file_line_key() {
    let site = Site::new();
    let mut server = site.start();
    let path = site.config();
    let good = std::fs::read_to_string(&path).unwrap();
    let broken = good.replacen("[registrar]\n", "[registrar]\nmin_expires = \"soon\"\n", 1);
    let line = broken
        .lines()
        .position(|l| l.starts_with("min_expires"))
        .unwrap()
        + 1;
    std::fs::write(&path, &broken).unwrap();
    server.signal("HUP");
    let logged = server
        .wait_log(10, |l| l.contains("config reload refused"))
        .unwrap_or_else(|seen| panic!("no refusal logged:\n{}", seen.join("\n")));
    let want = format!("ferroswitch.toml:{line}: registrar.min_expires:");
    assert!(logged.contains(&want), "{want:?} in {logged}");
    assert!(logged.contains("the running config stays"), "{logged}");
    // still serving, on the old config
    assert_eq!(options_udp(server.udp), 200);
    assert!(server.wait_exit(0).is_none(), "still running");
    // a certificate that does not load is refused too, and the old one is still served
    std::fs::write(&path, &good).unwrap();
    let cert_file = site.dir.path().join("tls/cert.pem");
    let served = der_of(&cert_file);
    let saved = std::fs::read(&cert_file).unwrap();
    std::fs::write(&cert_file, "not a certificate\n").unwrap();
    server.signal("HUP");
    let logged = server
        .wait_log(10, |l| l.contains("config reload refused"))
        .unwrap_or_else(|seen| panic!("no refusal logged:\n{}", seen.join("\n")));
    assert!(logged.contains("tls.certificate:"), "{logged}");
    let rt = runtime();
    let s = rt.block_on(tls_connect(server.tls));
    assert_eq!(peer_cert(&s), served);
    std::fs::write(&cert_file, saved).unwrap();
    // fixed again: the next reload goes through
    std::fs::write(&path, &good).unwrap();
    server.signal("HUP");
    server
        .wait_log(10, |l| l.contains("config reloaded"))
        .unwrap_or_else(|seen| panic!("no reload logged:\n{}", seen.join("\n")));
    assert_eq!(options_udp(server.udp), 200);
    server.stop();
}

/// The operator API's bearer token in these tests' `[admin]` sections.
const ADMIN_TOKEN: &str = "lifecycle-test-token-0123456789";

/// A bodiless POST to the admin API with the operator token; (status, body).
fn post(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_owned())
}

#[test]
fn post_api_reload_and_the_cli_report_applied_and_restart_keys() {
    let site = Site::with_sections(&format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n"
    ));
    let server = site.start();
    let http = server.http.expect("the admin API listens");
    let path = site.config();
    let good = std::fs::read_to_string(&path).unwrap();

    // a live key and a restart-only key
    let changed = good.replacen("node_id = \"test1\"", "node_id = \"test2\"", 1)
        + "\n[calls]\ncall_timeout = 45\n";
    std::fs::write(&path, &changed).unwrap();
    let (status, body) = post(http, "/api/reload");
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        report["applied"],
        serde_json::json!(["calls.call_timeout", "routing"]),
        "{body}"
    );
    assert_eq!(report["needs_restart"], serde_json::json!(["node_id"]));

    // the CLI: the same through `ferroswitch reload --admin`
    let changed_more = changed.replace("call_timeout = 45", "call_timeout = 50");
    std::fs::write(&path, &changed_more).unwrap();
    let (ok, out, err) = site.cli(&["reload", "--admin", &http.to_string()]);
    assert!(ok, "ferroswitch reload failed:\n{out}{err}");
    assert!(
        out.contains("applied: calls.call_timeout, routing"),
        "{out}"
    );
    assert!(out.contains("needs a restart: node_id"), "{out}");

    // a broken file: 400 with file:line:key, and the CLI fails saying so
    let broken = changed_more.replace("call_timeout = 50", "call_timeout = 1");
    let line = broken
        .lines()
        .position(|l| l.starts_with("call_timeout"))
        .unwrap()
        + 1;
    std::fs::write(&path, &broken).unwrap();
    let (status, body) = post(http, "/api/reload");
    assert_eq!(status, 400, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    let want = format!("ferroswitch.toml:{line}: calls.call_timeout:");
    assert!(error["error"].as_str().unwrap().contains(&want), "{body}");
    let (ok, out, err) = site.cli(&["reload", "--admin", &http.to_string()]);
    assert!(!ok, "a refused config fails the command: {out}");
    assert!(err.contains(&want), "{err}");
    assert_eq!(options_udp(server.udp), 200, "still serving");
    server.stop();
}

/// A column of the last row of SIPp's `-trace_stat` file.
fn stat(csv: &str, column: &str) -> u64 {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(';').collect();
    let last: Vec<&str> = lines.last().unwrap().split(';').collect();
    let i = head.iter().position(|h| *h == column).unwrap();
    last[i].parse().unwrap()
}

#[test]
fn sigterm_during_register_load_flushes_every_acknowledged_binding() {
    require_tool("sipp");
    const USERS: usize = 2000;
    let site = Site::new();
    let mut inf = String::from("SEQUENTIAL\n");
    let mut accounts = String::new();
    for i in 0..USERS {
        inf.push_str(&format!("load{i};pw{i}\n"));
        accounts.push_str(&format!("load{i},pw{i}\n"));
    }
    let dir = site.dir.path();
    std::fs::write(dir.join("inf.csv"), inf).unwrap();
    std::fs::write(dir.join("accounts.csv"), accounts).unwrap();
    let (ok, out, err) = site.cli(&[
        "account",
        "import",
        &dir.join("accounts.csv").display().to_string(),
    ]);
    assert!(ok, "import failed:\n{out}{err}");
    let mut server = site.start();

    let bench = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/sipp/register_load.xml"
    );
    let sipp = std::process::Command::new("sipp")
        .arg(server.udp.to_string())
        .args([
            "-sf",
            bench,
            "-inf",
            "inf.csv",
            "-t",
            "u1",
            "-i",
            "127.0.0.1",
        ])
        .args([
            "-r",
            "400",
            "-m",
            &USERS.to_string(),
            "-recv_timeout",
            "2000",
        ])
        .args([
            "-timeout",
            "40",
            "-nostdin",
            "-trace_stat",
            "-stf",
            "stats.csv",
            "-fd",
            "1",
        ])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sipp");
    std::thread::sleep(Duration::from_millis(2500));
    let t = Instant::now();
    server.signal("TERM");
    let status = server
        .wait_exit(15)
        .expect("the server exits within its shutdown timeout");
    let took = t.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(11), "shutdown took {took:?}");
    let out = sipp.wait_with_output().expect("wait sipp");
    let stats = std::fs::read_to_string(dir.join("stats.csv")).unwrap_or_else(|_| {
        panic!(
            "no SIPp statistics: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let ok = stat(&stats, "SuccessfulCall(C)");
    let failed = stat(&stats, "FailedCall(C)");
    let rows = site.bindings().len() as u64;
    eprintln!("SIGTERM under load: {ok} registrations acknowledged, {failed} failed, {rows} binding rows, shutdown {took:?}");
    assert!(ok > 100, "the load was running: {ok} OK");
    assert!(
        ok < USERS as u64,
        "the server stopped before the load ended"
    );
    assert_eq!(
        rows, ok,
        "every 200 OK SIPp saw has its binding row, and no other"
    );
}

#[test]
fn sigterm_with_an_answered_and_a_ringing_call_ends_both_and_writes_two_cdrs() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site.add_account("carol", "secret");
    let mut server = site.start();
    // bob answers and then waits for a BYE; carol rings until CANCELled
    let bob = device(&site, &server, "bob", "builder", "uas_answer.xml");
    let carol = device(&site, &server, "carol", "secret", "uas_ring_forever.xml");
    let answered = Sipp::new(&site, "uac_call_remote_bye.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .spawn();
    let ringing = Sipp::new(&site, "uac_expect_503_retry_after.xml", free_port())
        .rows(&["alice;wonderland;carol"])
        .target(server.udp)
        .spawn();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(15).expect("the server exits in time");
    let took = t.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert_ok("bob gets BYE", bob.wait());
    assert_ok("alice (answered) gets BYE", answered.wait());
    assert_ok("carol gets CANCEL", carol.wait());
    assert_ok("alice (ringing) gets 503 with Retry-After", ringing.wait());
    let rows = cdrs(&site, 2);
    let mut ended: Vec<(&str, u16, &str)> = rows
        .iter()
        .map(|c| (c.callee.as_str(), c.final_code, c.hangup_by.as_str()))
        .collect();
    ended.sort_unstable();
    assert_eq!(ended, [("bob", 200, "system"), ("carol", 503, "system")]);
    eprintln!("SIGTERM with two calls: exit 0 after {took:?}");
}

/// Sends a raw INVITE without credentials from a fresh UDP socket (returned: its answers
/// arrive there).
fn send_invite(server: SocketAddr, user: &str) -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let local = sock.local_addr().unwrap();
    let n = rand_suffix();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let req = format!(
        "INVITE sip:{user}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKi{n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=i{n}\r\nTo: <sip:{user}@{server}>\r\nCall-ID: inv-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sock.send_to(req.as_bytes(), server).unwrap();
    sock
}

/// A raw INVITE without credentials from a fresh UDP socket; the first final status.
fn invite_without_credentials(server: SocketAddr, user: &str) -> u16 {
    let sock = send_invite(server, user);
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Ok((len, _)) = sock.recv_from(&mut buf) else {
            break;
        };
        let status: u16 = String::from_utf8_lossy(&buf[..len])
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if status >= 200 {
            return status;
        }
    }
    0
}

#[test]
fn sighup_applies_registrar_timers_trusted_peers_and_routing_to_the_next_request() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let server = site.start();
    let mut alice = crate::ua::Ua::new(server.udp, "alice", "wonderland");
    alice.register(100);
    assert_eq!(
        invite_without_credentials(server.udp, "900123"),
        407,
        "not trusted yet"
    );

    let path = site.config();
    let cfg = std::fs::read_to_string(&path).unwrap();
    let cfg = cfg
        .replacen(
            "node_id = \"test1\"\n",
            "node_id = \"test1\"\ntrusted_peers = [\"127.0.0.1\"]\n",
            1,
        )
        .replacen("[registrar]\n", "[registrar]\nmin_expires = 300\n", 1);
    std::fs::write(&path, cfg).unwrap();
    let (ok, out, err) = site.cli(&["route", "add", "900", "reject:603"]);
    assert!(ok, "{out}{err}");
    server.signal("HUP");
    // each shard swaps the tables in on its own and logs it: the next INVITE may go to any
    let shards = server.shards();
    // the lines in any order: the routing task runs beside the reload
    let (mut reloaded, mut swapped) = (None, 0);
    while reloaded.is_none() || swapped < shards {
        let line = server
            .wait_log(5, |l| {
                l.contains("config reloaded") || l.contains("routing tables swapped in")
            })
            .unwrap_or_else(|seen| {
                panic!(
                    "reload or routing re-read not logged ({swapped} of {shards} shards swapped):\n{}",
                    seen.join("\n")
                )
            });
        if line.contains("routing tables swapped in") {
            // the routing tables are read at once, not at the next 10 s poll
            swapped += 1;
        } else {
            reloaded = Some(line);
        }
    }
    let line = reloaded.unwrap();
    for key in ["registrar.min_expires", "trusted_peers", "routing"] {
        assert!(line.contains(key), "{key} applied: {line}");
    }

    let uri = format!("sip:{}", crate::ua::REALM);
    let to = format!("sip:alice@{}", crate::ua::REALM);
    let r = alice.request("REGISTER", &uri, &to, "Expires: 100\r\n", None, None);
    assert_eq!(r.status(), Some(423), "the new min_expires: {r:?}");
    assert_eq!(r.header(&sip_message::HeaderName::MinExpires), Some("300"));
    assert_eq!(
        invite_without_credentials(server.udp, "900123"),
        603,
        "trusted now (no 407) and routed by the new plan entry"
    );
    server.stop();
}

#[test]
fn sighup_changes_the_log_level() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let server = site.start();
    // a new phone's first REGISTER is challenged: a DEBUG line at debug level
    let register = || crate::ua::Ua::new(server.udp, "alice", "wonderland").register(100);
    let debug_line = |l: &str| l.contains("DEBUG") && l.contains("REGISTER refused status=401");
    register();
    server
        .wait_log(5, debug_line)
        .unwrap_or_else(|seen| panic!("debug logged at first:\n{}", seen.join("\n")));

    let path = site.config();
    let cfg = std::fs::read_to_string(&path).unwrap();
    let quiet = cfg.replacen("level = \"info,ferroswitch=debug\"", "level = \"info\"", 1);
    assert_ne!(quiet, cfg);
    std::fs::write(&path, &quiet).unwrap();
    server.signal("HUP");
    let line = server
        .wait_log(10, |l| l.contains("config reloaded"))
        .unwrap_or_else(|seen| panic!("no reload logged:\n{}", seen.join("\n")));
    assert!(line.contains("log.level"), "{line}");
    register();
    assert!(
        server.wait_log(2, debug_line).is_err(),
        "no DEBUG line at level info"
    );

    std::fs::write(&path, &cfg).unwrap();
    server.signal("HUP");
    server
        .wait_log(10, |l| l.contains("config reloaded"))
        .unwrap_or_else(|seen| panic!("no reload logged:\n{}", seen.join("\n")));
    register();
    server
        .wait_log(5, debug_line)
        .unwrap_or_else(|seen| panic!("debug logged again:\n{}", seen.join("\n")));
    server.stop();
}

#[test]
fn sighup_moves_the_push_hook_to_its_new_address() {
    let api_a = crate::ua::FakeApi::start(|_, _| (200, "{}".into()));
    let api_b = crate::ua::FakeApi::start(|_, _| (200, "{}".into()));
    let hook = |port: u16| {
        format!("[push_service]\nipaddr = \"127.0.0.1\"\nport = {port}\nservice = \"emc.ashx\"\n")
    };
    let site = Site::with_sections(&hook(api_a.addr.port()));
    let path = site.config();
    let cfg = std::fs::read_to_string(&path).unwrap().replacen(
        "node_id = \"test1\"\n",
        "node_id = \"test1\"\ntrusted_peers = [\"127.0.0.1\"]\n",
        1,
    );
    std::fs::write(&path, &cfg).unwrap();
    site.add_account("bob", "builder");
    let server = site.start();
    // bob's app leaves its push token, then sleeps (no binding)
    let mut bob = crate::ua::Ua::new(server.udp, "bob", "builder");
    let r = bob.request(
        "REGISTER",
        &format!("sip:{}", crate::ua::REALM),
        &format!("sip:bob@{}", crate::ua::REALM),
        &format!(
            "Expires: 0\r\nContact: <sip:bob@{};pn-provider=fcm;pn-prid=tok-1>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-0000000000b0>\"\r\n",
            bob.local
        ),
        None,
        None,
    );
    assert_eq!(r.status(), Some(200), "{r:?}");

    let _first = send_invite(server.udp, "bob");
    assert!(api_a.wait_for("/emc.ashx", 5).is_some(), "pushed through A");

    std::fs::write(
        &path,
        cfg.replace(&hook(api_a.addr.port()), &hook(api_b.addr.port())),
    )
    .unwrap();
    server.signal("HUP");
    let line = server
        .wait_log(10, |l| l.contains("config reloaded"))
        .unwrap_or_else(|seen| panic!("no reload logged:\n{}", seen.join("\n")));
    assert!(line.contains("push_service"), "{line}");
    let _second = send_invite(server.udp, "bob");
    assert!(
        api_b.wait_for("/emc.ashx", 5).is_some(),
        "pushed through B after the reload"
    );
    let to_a = api_a
        .requests()
        .iter()
        .filter(|r| r.path == "/emc.ashx")
        .count();
    assert_eq!(to_a, 1, "A got only the push from before the reload");
    server.stop();
}

/// A site whose config has `shutdown_timeout = secs`, with alice and bob, and an answered
/// call between them whose two phones are then gone (their BYEs will never be answered).
fn call_with_vanished_phones(secs: u32) -> (Site, crate::harness::Server) {
    let site = Site::new();
    let path = site.config();
    let cfg = std::fs::read_to_string(&path).unwrap().replacen(
        "node_id = \"test1\"\n",
        &format!("node_id = \"test1\"\nshutdown_timeout = {secs}\n"),
        1,
    );
    std::fs::write(&path, cfg).unwrap();
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_answer.xml");
    let alice = Sipp::new(&site, "uac_call_remote_bye.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .spawn();
    std::thread::sleep(Duration::from_millis(1500));
    drop(bob);
    drop(alice);
    (site, server)
}

#[test]
fn shutdown_is_bounded_by_shutdown_timeout_when_byes_go_unanswered() {
    let (site, mut server) = call_with_vanished_phones(2);
    let t = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(10).expect("exits within its budget");
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_millis(3000),
        "waited for the BYEs about 3/4 of 2 s, then flushed: {took:?}"
    );
    let rows = cdrs(&site, 1);
    assert_eq!(
        (rows[0].final_code, rows[0].hangup_by.as_str()),
        (200, "system")
    );
}

#[test]
fn a_second_signal_cuts_the_wait_for_calls_short() {
    let (site, mut server) = call_with_vanished_phones(60);
    let t = Instant::now();
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    server.signal("INT");
    let status = server.wait_exit(10).expect("exits at the second signal");
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(3),
        "not the 45 s budget: {took:?}"
    );
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "the CDR is written all the same");
}
