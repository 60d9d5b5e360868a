//! `GET /metrics` after real traffic: SIPp registers devices over UDP and TCP and places calls
//! that end answered, busy, unknown and offline, with every message SIPp sent and received
//! traced to a file. The scrape, parsed by a Prometheus text-format parser, must count exactly
//! what SIPp saw: requests by method, responses by method and code class, in both directions,
//! calls by result, registrations and contacts by transport. A STUN request on the SIP socket
//! and TLS handshakes (one good, one garbage) are counted too.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

use crate::calls::{assert_ok, cdrs, free_port, Sipp};
use crate::harness::{Server, Site};

/// A scrape: `(name, sorted labels)` → value.
pub(crate) type Samples = HashMap<(String, Vec<(String, String)>), f64>;

pub(crate) fn scrape(server: &Server) -> Samples {
    let addr = server.http.expect("the admin API listens");
    let a = crate::push_tokens::http(addr, "GET", "/metrics", None, "");
    assert_eq!(a.status, 200, "{a:?}");
    let lines = a.body.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
    let mut out = Samples::new();
    for s in parsed.samples {
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            // histograms: their count
            prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => continue,
        };
        let mut labels: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        out.insert((s.metric, labels), value);
    }
    out
}

pub(crate) fn get(m: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    m.get(&(name.to_owned(), l)).copied().unwrap_or(0.0)
}

/// All samples of `name`, by their one label `label`.
fn by_label(m: &Samples, name: &str) -> HashMap<Vec<(String, String)>, f64> {
    m.iter()
        .filter(|((n, _), _)| n == name)
        .map(|((_, l), v)| (l.clone(), *v))
        .collect()
}

/// Scrapes until `pred` holds (gauges are set every second, some counters every 5 s).
pub(crate) fn wait_scrape(server: &Server, what: &str, pred: impl Fn(&Samples) -> bool) -> Samples {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let m = scrape(server);
        if pred(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}: {m:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What SIPp traced, from our side: `requests_received[method]` are the requests SIPp sent,
/// `responses_sent[(method, class)]` the responses SIPp received, and so on.
#[derive(Debug, Default)]
struct Seen {
    requests_received: HashMap<String, f64>,
    requests_sent: HashMap<String, f64>,
    responses_received: HashMap<(String, String), f64>,
    responses_sent: HashMap<(String, String), f64>,
}

/// Reads SIPp `-trace_msg` files: blocks that start with a dashed line, then
/// `UDP message sent (N bytes):` or `TCP message received [N] bytes :`, a blank line and the
/// message.
fn read_traces(files: &[PathBuf]) -> Seen {
    let mut seen = Seen::default();
    for f in files {
        let text = std::fs::read_to_string(f)
            .unwrap_or_else(|e| panic!("SIPp trace {}: {e}", f.display()));
        for block in text.split("----------------------------------------------- ") {
            let mut lines = block.lines().skip(1).map(str::trim);
            let Some(head) = lines.next() else { continue };
            let sipp_sent = head.contains("message sent");
            if !sipp_sent && !head.contains("message received") {
                continue;
            }
            let mut lines = lines.skip_while(|l| l.is_empty());
            let Some(first) = lines.next() else { continue };
            let cseq_method = lines
                .take_while(|l| !l.is_empty())
                .find(|l| l.to_ascii_lowercase().starts_with("cseq:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .unwrap_or("?")
                .to_owned();
            if let Some(code) = first.strip_prefix("SIP/2.0 ") {
                let class = format!("{}xx", &code[..1]);
                let map = if sipp_sent {
                    &mut seen.responses_received
                } else {
                    &mut seen.responses_sent
                };
                *map.entry((cseq_method, class)).or_default() += 1.0;
            } else {
                let method = first.split(' ').next().unwrap_or("?").to_owned();
                let map = if sipp_sent {
                    &mut seen.requests_received
                } else {
                    &mut seen.requests_sent
                };
                *map.entry(method).or_default() += 1.0;
            }
        }
    }
    seen
}

/// SIPp with its messages traced to a file of the site's directory.
struct Traced {
    files: Vec<PathBuf>,
    dir: PathBuf,
}

impl Traced {
    fn sipp(&mut self, site: &Site, scenario: &str, port: u16) -> Sipp {
        let file = self
            .dir
            .join(format!("trace-{}.log", crate::harness::rand_suffix()));
        self.files.push(file.clone());
        Sipp::new(site, scenario, port).args(&["-trace_msg", "-message_file", path(&file)])
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A STUN Binding request on the SIP UDP socket gets its answer.
fn stun_on_sip(server: &Server) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(b"metricstest1");
    s.send_to(&req, server.udp).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = s.recv_from(&mut buf).expect("a STUN answer");
    assert!(n >= 20 && buf[..2] == [0x01, 0x01], "Binding success");
}

/// A TLS handshake that completes, trusting the server's self-signed certificate.
fn tls_handshake(site: &Site, to: SocketAddr) {
    let pem = std::fs::read(site.dir.path().join("tls/cert.pem")).expect("certificate");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(to).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("TLS handshake");
    }
}

/// Not TLS at all: the server's handshake fails.
fn tls_garbage(to: SocketAddr) {
    let mut tcp = TcpStream::connect(to).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"OPTIONS sip:x SIP/2.0\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
}

#[test]
fn metrics_count_what_sipp_saw() {
    let site = Site::with_sections("[admin]\nlisten = \"127.0.0.1:0\"\n");
    for (login, password) in [
        ("u1", "p1"),
        ("u2", "p2"),
        ("u3", "p3"),
        ("u4", "p4"),
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "secret"),
        ("dave", "offline"),
    ] {
        site.add_account(login, password);
    }
    let server = site.start();
    let mut t = Traced {
        files: Vec::new(),
        dir: site.dir.path().to_owned(),
    };

    // registrations: three over UDP, one over TCP
    for row in ["u1;p1", "u2;p2", "u3;p3"] {
        let (ok, out) = t
            .sipp(&site, "register.xml", free_port())
            .rows(&[row])
            .target(server.udp)
            .run();
        assert!(ok, "{row}: {out}");
    }
    let (ok, out) = t
        .sipp(&site, "register.xml", free_port())
        .args(&["-t", "t1"])
        .rows(&["u4;p4"])
        .target(server.tcp)
        .run();
    assert!(ok, "u4 over TCP: {out}");

    // calls: answered, busy, unknown callee, offline callee
    let register = |t: &mut Traced, port, row: &str| {
        let (ok, out) = t
            .sipp(&site, "register.xml", port)
            .rows(&[row])
            .target(server.udp)
            .run();
        assert!(ok, "{row}: {out}");
    };
    let call = |t: &mut Traced, scenario: &str, callee: &str| {
        t.sipp(&site, scenario, free_port())
            .rows(&[&format!("alice;wonderland;{callee}")])
            .target(server.udp)
            .run()
    };
    let port = free_port();
    register(&mut t, port, "bob;builder");
    let bob = t.sipp(&site, "uas_answer.xml", port).spawn();
    assert_ok("answered", call(&mut t, "uac_call.xml", "bob"));
    assert_ok("callee", bob.wait());
    let port = free_port();
    register(&mut t, port, "carol;secret");
    let carol = t.sipp(&site, "uas_486.xml", port).spawn();
    assert_ok("busy", call(&mut t, "uac_expect_486.xml", "carol"));
    assert_ok("busy callee", carol.wait());
    assert_ok("unknown", call(&mut t, "uac_expect_404.xml", "nobody"));
    assert_ok("offline", call(&mut t, "uac_expect_480.xml", "dave"));
    assert_eq!(cdrs(&site, 4).len(), 4, "four CDRs written");

    stun_on_sip(&server);
    tls_handshake(&site, server.tls);
    tls_garbage(server.tls);

    let seen = read_traces(&t.files);
    // 6 challenged REGISTERs (more only if SIPp retransmitted on a loaded machine)
    assert!(seen.requests_received["REGISTER"] >= 12.0, "{seen:#?}");
    // every gauge and the 5-second upkeep has run: then compare everything. The gauges are
    // set on the dispatcher's 1 s tick, so the last CDR can be written before the tick that
    // sees its call gone: wait for that tick too
    let m = wait_scrape(&server, "gauges and upkeep", |m| {
        get(m, "ferroswitch_registered_users", &[]) == 6.0
            && get(m, "ferroswitch_uptime_seconds", &[]) > 0.0
            && get(m, "ferroswitch_db_rows_written_total", &[("table", "cdrs")]) == 4.0
            && get(m, "ferroswitch_calls", &[]) == 0.0
    });

    // requests and responses, both directions, exactly as SIPp traced them
    let requests_in = by_label(&m, "ferroswitch_sip_requests_received_total");
    let requests_out = by_label(&m, "ferroswitch_sip_requests_sent_total");
    let responses_in = by_label(&m, "ferroswitch_sip_responses_received_total");
    let responses_out = by_label(&m, "ferroswitch_sip_responses_sent_total");
    let method = |m: &str| vec![("method".to_owned(), m.to_owned())];
    let method_class = |m: &str, c: &str| {
        vec![
            ("code_class".to_owned(), c.to_owned()),
            ("method".to_owned(), m.to_owned()),
        ]
    };
    let expect_requests = |seen: &HashMap<String, f64>| -> HashMap<_, _> {
        seen.iter().map(|(k, v)| (method(k), *v)).collect()
    };
    let expect_responses = |seen: &HashMap<(String, String), f64>| -> HashMap<_, _> {
        seen.iter()
            .map(|((k, c), v)| (method_class(k, c), *v))
            .collect()
    };
    assert_eq!(requests_in, expect_requests(&seen.requests_received));
    assert_eq!(requests_out, expect_requests(&seen.requests_sent));
    assert_eq!(responses_in, expect_responses(&seen.responses_received));
    assert_eq!(responses_out, expect_responses(&seen.responses_sent));
    // the figures themselves (at least: retransmissions count on both sides): 6 REGISTERs
    // challenged then accepted, 4 INVITEs challenged then sent again with credentials
    let at_least = |name: &str, labels: &[(&str, &str)], n: f64| {
        let v = get(&m, name, labels);
        assert!(v >= n, "{name} {labels:?}: {v} < {n}");
    };
    let sent = "ferroswitch_sip_responses_sent_total";
    at_least(sent, &[("method", "REGISTER"), ("code_class", "2xx")], 6.0);
    at_least(sent, &[("method", "REGISTER"), ("code_class", "4xx")], 6.0);
    at_least(sent, &[("method", "INVITE"), ("code_class", "2xx")], 1.0);
    let received = "ferroswitch_sip_requests_received_total";
    at_least(received, &[("method", "INVITE")], 8.0);
    at_least(received, &[("method", "BYE")], 1.0);

    // calls by result
    let calls = by_label(&m, "ferroswitch_calls_total");
    let result = |r: &str| vec![("result".to_owned(), r.to_owned())];
    let expected: HashMap<_, _> = [
        (result("answered"), 1.0),
        (result("busy"), 1.0),
        (result("not_found"), 1.0),
        (result("no_answer"), 1.0),
    ]
    .into();
    assert_eq!(calls, expected);
    assert_eq!(get(&m, "ferroswitch_calls", &[]), 0.0);
    assert_eq!(get(&m, "ferroswitch_parked_calls", &[]), 0.0);

    // registrations: u1..u3, bob and carol over UDP, u4 over TCP
    for (transport, users, contacts) in [("udp", 5.0, 5.0), ("tcp", 1.0, 1.0), ("tls", 0.0, 0.0)] {
        let l = [("transport", transport)];
        assert_eq!(
            get(&m, "ferroswitch_registrations", &l),
            users,
            "{transport}"
        );
        assert_eq!(get(&m, "ferroswitch_contacts", &l), contacts, "{transport}");
    }
    assert!(
        get(
            &m,
            "ferroswitch_db_rows_written_total",
            &[("table", "bindings")]
        ) >= 6.0
    );
    assert_eq!(get(&m, "ferroswitch_db_write_queue", &[]), 0.0);
    // everything answered: at most the transactions still in their wait states
    assert!(m.contains_key(&("ferroswitch_sip_transactions".to_owned(), Vec::new())));

    // the edges
    assert_eq!(
        get(
            &m,
            "ferroswitch_stun_answers_total",
            &[("listener", "sip"), ("result", "success")]
        ),
        1.0
    );
    assert_eq!(
        get(&m, "ferroswitch_tls_handshakes_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        get(
            &m,
            "ferroswitch_tls_handshakes_total",
            &[("result", "failed")]
        ),
        1.0
    );
    let pem = std::fs::read(site.dir.path().join("tls/cert.pem")).unwrap();
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(
        get(
            &m,
            "ferroswitch_tls_certificate_expiry_timestamp_seconds",
            &[]
        ),
        cert.validity().not_after.timestamp() as f64
    );

    // the process
    let rss = get(&m, "ferroswitch_process_resident_memory_bytes", &[]);
    assert!((1e6..1e10).contains(&rss), "RSS {rss}");
    assert!(get(&m, "ferroswitch_process_open_fds", &[]) >= 5.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = get(&m, "ferroswitch_process_start_time_seconds", &[]);
    assert!(
        now - start > 0.0 && now - start < 300.0,
        "started at {start}"
    );
    assert_eq!(
        get(
            &m,
            "ferroswitch_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    server.stop();
}
