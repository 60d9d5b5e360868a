//! Gateways like a carrier runs them: a TLS gateway found by NAPTR and SRV in a DNS zone
//! served on a loopback port, failover from a dead SRV target to the next one, and digest
//! authentication towards a gateway that challenges our INVITE.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::calls::{assert_ok, call, cdrs, cli_ok, free_port, Sipp};
use crate::dns_zone::{Records, Zone};
use crate::harness::{require_tool, Site};

/// A CA and a certificate for `carrier.test` signed by it: (CA PEM, cert PEM, key PEM).
fn carrier_certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["carrier.test".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// stunnel as a TLS server on `accept`, forwarding to the plain TCP `connect` port.
struct Stunnel(Child);

impl Stunnel {
    fn server(site: &Site, accept: u16, connect: u16, cert: &str, key: &str) -> Self {
        require_tool("stunnel");
        let dir = site.dir.path();
        std::fs::write(dir.join("gw-cert.pem"), cert).unwrap();
        std::fs::write(dir.join("gw-key.pem"), key).unwrap();
        let conf = dir.join("stunnel-gw.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[gw]\naccept = 127.0.0.1:{accept}\nconnect = 127.0.0.1:{connect}\ncert = {}\nkey = {}\n",
                dir.join("gw-cert.pem").display(),
                dir.join("gw-key.pem").display()
            ),
        )
        .unwrap();
        let child = Command::new("stunnel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", accept)).is_err() {
            assert!(Instant::now() < deadline, "stunnel did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child)
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `carrier.test` has a NAPTR record for SIPS+D2T only; its `_sips._tcp` SRV names a dead
/// server first (priority 10) and the live one second (priority 20). The gateway row gives
/// just the name: the call goes over TLS (certificate checked for `carrier.test` against the
/// trunk's CA) to the live server, after the dead one failed, and is answered.
#[test]
fn tls_gateway_found_by_naptr_and_srv_with_failover_to_the_second_target() {
    require_tool("sipp");
    let (dead, live, gw_tcp) = (free_port(), free_port(), free_port());
    let zone = Zone::serve(
        Records::default()
            .naptr("carrier.test", 10, "SIPS+D2T", "_sips._tcp.carrier.test")
            .srv("_sips._tcp.carrier.test", 10, 0, dead, "dead.carrier.test")
            .srv("_sips._tcp.carrier.test", 20, 0, live, "live.carrier.test")
            .a("dead.carrier.test", Ipv4Addr::LOCALHOST)
            .a("live.carrier.test", Ipv4Addr::LOCALHOST),
    );
    let site = Site::with_sections(&format!(
        "[calls]\ngateway_timeout = 1\n\n[dns]\nservers = [\"{}\"]\n\n[[trunk]]\ngateway = \"carrier\"\ntls_ca_file = \"carrier-ca.pem\"\n",
        zone.addr
    ));
    let (ca, cert, key) = carrier_certificates();
    std::fs::write(site.dir.path().join("carrier-ca.pem"), ca).unwrap();
    site.add_account("alice", "wonderland");
    cli_ok(
        &site,
        &[
            "gateway",
            "add",
            "carrier",
            "carrier.test",
            "--transport",
            "auto",
        ],
    );
    cli_ok(&site, &["route", "add", "00", "gateway:carrier strip=2"]);
    cli_ok(&site, &["route", "add", "", "user-lookup"]);
    // the carrier: SIPp answering on TCP behind stunnel's TLS
    let _tls = Stunnel::server(&site, live, gw_tcp, &cert, &key);
    let gw = Sipp::new(&site, "uas_answer.xml", gw_tcp)
        .args(&["-t", "t1"])
        .spawn();
    let server = site.start();
    let caller = call(&site, &server, "uac_call.xml", "0012345");
    let gateway = gw.wait();
    assert_ok("TLS gateway", gateway);
    assert_ok("caller", caller);
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200);
    assert_eq!(rows[0].gateway.as_deref(), Some("carrier"));
    assert_eq!(rows[0].routed_number, "12345");
    let log = server.log_for(1);
    let all = format!("{}\n{}", server.startup_log.join("\n"), log.join("\n"));
    assert!(
        all.contains(&format!("127.0.0.1:{dead}"))
            && all.contains("connection to the gateway failed"),
        "the first SRV target was tried and failed:\n{all}"
    );
    assert!(
        all.contains("TLS connection to the gateway open")
            && all.contains(&format!("127.0.0.1:{live}"))
            && all.contains("server_name=carrier.test"),
        "the second one over TLS:\n{all}"
    );
    assert!(
        zone.queries.load(std::sync::atomic::Ordering::Relaxed) >= 3,
        "NAPTR, SRV and A were asked"
    );
    server.stop();
}

/// The same zone, but the trunk trusts another CA: the handshake fails, no call goes out
/// over an unverified connection.
#[test]
fn a_tls_gateway_with_an_untrusted_certificate_gets_nothing() {
    require_tool("sipp");
    let (live, gw_tcp) = (free_port(), free_port());
    let zone = Zone::serve(
        Records::default()
            .srv("_sips._tcp.carrier.test", 10, 0, live, "live.carrier.test")
            .a("live.carrier.test", Ipv4Addr::LOCALHOST),
    );
    let site = Site::with_sections(&format!(
        "[calls]\ngateway_timeout = 1\n\n[dns]\nservers = [\"{}\"]\n\n[[trunk]]\ngateway = \"carrier\"\ntls_ca_file = \"other-ca.pem\"\n",
        zone.addr
    ));
    let (_, cert, key) = carrier_certificates();
    let (other_ca, _, _) = carrier_certificates();
    std::fs::write(site.dir.path().join("other-ca.pem"), other_ca).unwrap();
    site.add_account("alice", "wonderland");
    cli_ok(
        &site,
        &[
            "gateway",
            "add",
            "carrier",
            "carrier.test",
            "--transport",
            "tls",
        ],
    );
    cli_ok(&site, &["route", "add", "00", "gateway:carrier strip=2"]);
    let _tls = Stunnel::server(&site, live, gw_tcp, &cert, &key);
    let server = site.start();
    // the only server is given up after gateway_timeout: 408 to the caller
    assert_ok(
        "caller",
        call(&site, &server, "uac_expect_408.xml", "0012345"),
    );
    let log = server.log_for(1).join("\n");
    assert!(
        log.contains("connection to the gateway failed: TLS handshake"),
        "{log}"
    );
    assert!(!log.contains("TLS connection to the gateway open"), "{log}");
    server.stop();
}

/// A gateway that challenges our INVITE: with 401, the trunk's credentials go back in an
/// Authorization that SIPp's verifyauth recomputes from the password (403 otherwise, and the
/// caller would not get its 200); with 407, in a Proxy-Authorization answering that challenge.
/// The password never appears in the log.
#[test]
fn digest_auth_towards_a_challenging_gateway() {
    require_tool("sipp");
    let gw_port = free_port();
    let site = Site::with_sections(
        "[[trunk]]\ngateway = \"auth\"\nusername = \"trunkuser\"\npassword = \"trunkpass\"\n",
    );
    site.add_account("alice", "wonderland");
    cli_ok(
        &site,
        &["gateway", "add", "auth", &format!("127.0.0.1:{gw_port}")],
    );
    cli_ok(&site, &["route", "add", "00", "gateway:auth strip=2"]);
    let server = site.start();
    for (n, scenario) in ["uas_auth_401.xml", "uas_auth_407.xml"].iter().enumerate() {
        let gw = Sipp::new(&site, scenario, gw_port).spawn();
        assert_ok("caller", call(&site, &server, "uac_call.xml", "00777"));
        assert_ok(scenario, gw.wait());
        let rows = cdrs(&site, n + 1);
        assert_eq!(rows[0].final_code, 200, "{scenario}");
    }
    let log = server.log_for(1).join("\n");
    assert!(log.contains("status=200 route=gateway"), "{log}");
    assert!(
        !log.contains("trunkpass"),
        "the trunk password is logged:\n{log}"
    );
    server.stop();
}
