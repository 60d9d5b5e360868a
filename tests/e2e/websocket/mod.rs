//! Issue 18 part A, SIP over WebSocket end to end (RFC 7118): a browser-shaped client
//! (tokio-tungstenite, `.invalid` Via and Contact, RFC 5626 outbound) registers over `wss` and
//! `ws`, is called by a SIPp phone over UDP through its WebSocket flow, gets MESSAGEs and
//! presence NOTIFYs there; the handshake refuses a missing `sip` sub-protocol and foreign
//! origins; an oversized message closes the flow; the listener serves the web phone page.

pub(crate) mod browser;
mod fork;
mod hold;
mod sipjs;
mod wsua;

use std::net::SocketAddr;

use sip_message::HeaderName;

use crate::calls::{cdrs, free_port, Sipp};
use crate::harness::{Server, Site};
use crate::ua::{pidf, Ua, REALM};
use wsua::{Dial, WsUa};

/// A site with `ws` and `wss` listeners besides the usual ones (`origins`: the wss listener's
/// `allowed_origins` line, if any), accounts alice and bob.
fn site(origins: &str) -> Site {
    let site = Site::with_sections(&format!(
        "[[listener]]\ntransport = \"wss\"\naddress = \"127.0.0.1:0\"\n{origins}\n\
         [[listener]]\ntransport = \"ws\"\naddress = \"127.0.0.1:0\"\n"
    ));
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

/// The address the server logged for its `transport` listener.
fn listener(server: &Server, transport: &str) -> SocketAddr {
    let needle = format!("listening on {transport} ");
    server
        .startup_log
        .iter()
        .find_map(|l| l.split(&needle).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no {transport} listener in {:#?}", server.startup_log))
}

fn wss<'a>(site: &'a Site, server: &Server) -> Dial<'a> {
    Dial {
        addr: listener(server, "wss"),
        ca: Some(Box::leak(
            site.dir.path().join("tls/cert.pem").into_boxed_path(),
        )),
        protocol: Some("sip"),
        origin: None,
    }
}

/// A browser-shaped bob on `wss`: his binding is on the WebSocket flow, the 200 says outbound
/// is in use and how often to keep the flow alive.
#[test]
fn a_wss_client_registers_with_an_invalid_contact_and_is_called_over_its_flow() {
    let site = site("");
    let server = site.start();
    let mut bob = WsUa::connect(&wss(&site, &server), "bob", "builder");
    let ok = bob.register();
    assert_eq!(
        ok.header(&HeaderName::from_bytes(b"Require")),
        Some("outbound"),
        "{ok:?}"
    );
    assert_eq!(
        ok.header(&HeaderName::from_bytes(b"Flow-Timer")),
        Some("120"),
        "{ok:?}"
    );
    let rows = site.wait_bindings("bob registered over wss", |b| {
        b.iter().any(|r| r.login == "bob" && r.transport == "wss")
    });
    let row = rows.iter().find(|r| r.login == "bob").unwrap();
    assert!(row.contact.contains(".invalid"), "{row:?}");

    // alice, a SIPp phone over UDP, calls bob: the INVITE comes over bob's WebSocket
    let caller = Sipp::new(&site, "uac_call.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .spawn();
    let invite = bob.expect_request("INVITE", 10);
    let via = invite.top_via().unwrap();
    assert_eq!(via.transport.to_ascii_uppercase(), "WSS", "{invite:?}");
    assert!(
        invite.from_header().unwrap().uri.user == Some("alice"),
        "{invite:?}"
    );
    bob.answer(&invite, 180, None);
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    bob.answer(&invite, 200, Some(sdp));
    bob.expect_request("ACK", 10);
    let bye = bob.expect_request("BYE", 10);
    bob.answer(&bye, 200, None);
    let (ok, out) = caller.wait();
    assert!(ok, "caller:\n{out}");
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 200, "{rows:?}");
}

/// Over plain `ws`: a MESSAGE from a UDP phone arrives over the flow; bob's SUBSCRIBE to
/// alice's presence gets its NOTIFYs there too.
#[test]
fn messages_and_presence_reach_a_ws_flow() {
    let site = site("");
    let server = site.start();
    let dial = Dial {
        addr: listener(&server, "ws"),
        ca: None,
        protocol: Some("sip"),
        origin: None,
    };
    let mut bob = WsUa::connect(&dial, "bob", "builder");
    bob.register();
    site.wait_bindings("bob registered over ws", |b| {
        b.iter().any(|r| r.login == "bob" && r.transport == "ws")
    });
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let text = "hello over a WebSocket";
    let sender = std::thread::spawn(move || {
        let r = alice.message("bob", text);
        (alice, r.status())
    });
    let m = bob.expect_request("MESSAGE", 10);
    assert!(String::from_utf8_lossy(m.body()).contains(text), "{m:?}");
    bob.answer(&m, 200, None);
    let (mut alice, status) = sender.join().unwrap();
    assert_eq!(status, Some(200));

    // presence: alice publishes, bob subscribes over his WebSocket
    let uri = format!("sip:alice@{REALM}");
    let body = pidf("alice", true, "on the web");
    let r = alice.request(
        "PUBLISH",
        &uri,
        &uri,
        "Event: presence\r\nExpires: 600\r\n",
        Some(("application/pidf+xml", body.as_bytes())),
        None,
    );
    assert_eq!(r.status(), Some(200), "{r:?}");
    let r = bob.request(
        "SUBSCRIBE",
        &uri,
        &uri,
        "Event: presence\r\nExpires: 600\r\nAccept: application/pidf+xml\r\n",
        None,
    );
    assert_eq!(r.status(), Some(200), "{r:?}");
    let n = bob.expect_request("NOTIFY", 10);
    let b = String::from_utf8_lossy(n.body()).into_owned();
    assert!(
        b.contains("<basic>open</basic>") && b.contains("on the web"),
        "{b}"
    );
    bob.answer(&n, 200, None);
}

/// RFC 7118 §4.1 and RFC 6455 §10.2: no `sip` sub-protocol, or a foreign origin, and the
/// upgrade is refused; the page's own origin and configured ones pass; a plain GET gets the
/// web phone page.
#[test]
fn the_handshake_needs_the_sip_subprotocol_and_an_allowed_origin() {
    let site = site("");
    let server = site.start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = |d: &Dial<'_>| match rt.block_on(d.open()) {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("{e}"),
    };
    let base = wss(&site, &server);
    let addr = base.addr;
    assert_eq!(
        status(&Dial {
            protocol: None,
            ..wss(&site, &server)
        }),
        400
    );
    assert_eq!(
        status(&Dial {
            protocol: Some("chat"),
            ..wss(&site, &server)
        }),
        400
    );
    let evil = Dial {
        origin: Some("https://evil.example"),
        ..wss(&site, &server)
    };
    assert_eq!(
        status(&evil),
        403,
        "a foreign page may not use the phone's credentials"
    );
    let own = format!("https://{addr}");
    let own = Dial {
        origin: Some(&own),
        ..wss(&site, &server)
    };
    assert_eq!(status(&own), 101, "the page this listener serves");
    assert!(server
        .wait_log(2, |l| l.contains("WebSocket refused"))
        .is_ok());

    // a configured list: its origins, and no other
    let listed = self::site("allowed_origins = [\"https://phone.example.com\"]");
    let listed_server = listed.start();
    let ok = Dial {
        origin: Some("https://phone.example.com"),
        ..wss(&listed, &listed_server)
    };
    assert_eq!(status(&ok), 101);
    let other = Dial {
        origin: Some("https://evil.example"),
        ..wss(&listed, &listed_server)
    };
    assert_eq!(status(&other), 403);

    // the web phone page, over HTTPS on the same listener
    let page = rt.block_on(https_get(&site, addr, "/"));
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(
        page.contains("jssip.min.js") && page.contains("id=\"call-status\""),
        "{page}"
    );
    let js = rt.block_on(https_get(&site, addr, "/jssip.min.js"));
    assert!(js.contains("JsSIP"), "{}", &js[..200.min(js.len())]);
}

async fn https_get(site: &Site, addr: SocketAddr, path: &str) -> String {
    use rustls::pki_types::pem::PemObject as _;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let pem = std::fs::read(site.dir.path().join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// `[security] unauthenticated_message_max` applies to WebSocket messages as to TCP ones:
/// a bigger message before authentication closes the flow.
#[test]
fn an_oversized_message_closes_the_flow() {
    let site = site("");
    let server = site.start();
    let mut ua = WsUa::connect(&wss(&site, &server), "bob", "builder");
    let big = format!(
        "OPTIONS sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bKbig\r\n\
         From: <sip:bob@{REALM}>;tag=1\r\nTo: <sip:{REALM}>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 20000\r\n\r\n{}",
        "x".repeat(20_000)
    );
    ua.send_raw(big);
    assert!(ua.wait_closed(5), "the server closes the flow");
    assert!(server
        .wait_log(2, |l| l.contains("closing WebSocket flow"))
        .is_ok());
}

/// Logins with spaces or `<>` are refused at account creation, with the reason.
#[test]
fn logins_phones_cannot_use_are_refused_at_creation() {
    let site = Site::new();
    for (bad, why) in [
        ("john smith", "it contains a space"),
        ("<bob>", "it contains <, >"),
    ] {
        let (ok, out, err) = site.cli(&["account", "add", bad, "--password", "secret12"]);
        assert!(!ok, "{bad:?} accepted: {out}");
        assert!(
            err.contains(why) && err.contains("could not register or call"),
            "{err}"
        );
    }
}

/// `wss` shares the TLS listeners' certificate: after a renewal and SIGHUP, a new `wss`
/// handshake presents the new certificate (a client trusting only it connects), and a flow
/// opened before keeps working.
#[test]
fn a_renewed_certificate_serves_new_wss_handshakes_after_sighup() {
    let site = site("");
    let server = site.start();
    let mut bob = WsUa::connect(&wss(&site, &server), "bob", "builder");
    bob.register();
    let renewed = rcgen::generate_simple_self_signed(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "renewed.test".to_owned(),
    ])
    .unwrap();
    let new_ca = site.dir.path().join("renewed.pem");
    std::fs::write(&new_ca, renewed.cert.pem()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let trusting_new = Dial {
        ca: Some(&new_ca),
        ..wss(&site, &server)
    };
    assert!(
        rt.block_on(trusting_new.open()).is_err(),
        "the old certificate is served before the renewal"
    );
    std::fs::write(site.dir.path().join("tls/cert.pem"), renewed.cert.pem()).unwrap();
    std::fs::write(
        site.dir.path().join("tls/key.pem"),
        renewed.key_pair.serialize_pem(),
    )
    .unwrap();
    server.signal("HUP");
    let line = server
        .wait_log(10, |l| l.contains("config reloaded"))
        .unwrap_or_else(|seen| panic!("no reload logged:\n{}", seen.join("\n")));
    assert!(line.contains("\"tls\""), "tls applied: {line}");
    assert!(
        rt.block_on(trusting_new.open()).is_ok(),
        "a new wss handshake presents the renewed certificate"
    );
    // the flow opened before keeps working
    let uri = format!("sip:bob@{REALM}");
    let r = bob.request(
        "MESSAGE",
        &uri,
        &uri,
        "",
        Some(("text/plain", b"still here")),
    );
    assert!(r.status().is_some_and(|s| s < 300), "{r:?}");
}
