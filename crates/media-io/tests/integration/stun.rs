//! The STUN listener on a real socket, with our own client and with coturn's
//! `turnutils_stunclient`.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use media_io::StunServer;
use stun_types::attribute::{ErrorCode, Software, XorMappedAddress};
use stun_types::message::{Message, MessageClass, MessageWrite as _, MessageWriteVec, BINDING};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

async fn start(
    bind: &str,
) -> Option<(SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
    let socket = UdpSocket::bind(bind).await.ok()?;
    let server = StunServer::new(socket);
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Some((addr, stop, task))
}

fn binding_request(extra: &[(u16, &[u8])]) -> Vec<u8> {
    let mut v = Message::builder_request(BINDING, MessageWriteVec::new()).finish();
    for (t, val) in extra {
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&(val.len() as u16).to_be_bytes());
        v.extend_from_slice(val);
        while v.len() % 4 != 0 {
            v.push(0);
        }
    }
    let len = (v.len() - 20) as u16;
    v[2..4].copy_from_slice(&len.to_be_bytes());
    v
}

async fn roundtrip(client: &UdpSocket, server: SocketAddr, req: &[u8]) -> Option<Vec<u8>> {
    client.send_to(req, server).await.unwrap();
    let mut buf = vec![0u8; 1500];
    match tokio::time::timeout(Duration::from_millis(500), client.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => {
            assert_eq!(from, server);
            buf.truncate(n);
            Some(buf)
        }
        _ => None,
    }
}

#[tokio::test]
async fn binding_request_gets_the_clients_address() {
    let (addr, stop, task) = start("127.0.0.1:0").await.unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let resp = roundtrip(&client, addr, &binding_request(&[]))
        .await
        .expect("an answer");
    let m = Message::from_bytes(&resp).unwrap();
    assert!(m.has_class(MessageClass::Success));
    let mapped = m
        .attribute::<XorMappedAddress>()
        .unwrap()
        .addr(m.transaction_id());
    assert_eq!(mapped, client.local_addr().unwrap());
    assert_eq!(m.attribute::<Software>().unwrap().software(), "ferroswitch");

    // Unknown comprehension-required attribute: 420.
    let resp = roundtrip(&client, addr, &binding_request(&[(0x7001, b"zz")]))
        .await
        .unwrap();
    let m = Message::from_bytes(&resp).unwrap();
    assert_eq!(m.attribute::<ErrorCode>().unwrap().code(), 420);

    // Garbage and RTP get no answer; the server keeps serving.
    assert!(roundtrip(&client, addr, b"hello world, not stun")
        .await
        .is_none());
    assert!(roundtrip(&client, addr, &[0x80; 172]).await.is_none());
    assert!(roundtrip(&client, addr, &binding_request(&[]))
        .await
        .is_some());

    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn many_clients_at_once_over_ipv6_when_available() {
    let Some((addr, stop, task)) = start("[::1]:0").await else {
        skipped("many_clients_at_once_over_ipv6_when_available: no IPv6 loopback");
        return;
    };
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(UdpSocket::bind("[::1]:0").await.unwrap());
    }
    let req = binding_request(&[]);
    for c in &clients {
        c.send_to(&req, addr).await.unwrap();
    }
    for c in &clients {
        let mut buf = [0u8; 256];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), c.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let m = Message::from_bytes(&buf[..n]).unwrap();
        let mapped = m
            .attribute::<XorMappedAddress>()
            .unwrap()
            .addr(m.transaction_id());
        assert_eq!(mapped, c.local_addr().unwrap());
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}

/// A loud skip, recorded for scripts/test's summary (`test_support::skipped`).
fn skipped(why: &str) {
    test_support::skipped("media-io", why);
}

/// coturn's client (Debian package `coturn`). Skipped when it is not installed, unless
/// FERRO_REQUIRE_TOOLS=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turnutils_stunclient_sees_its_mapped_address() {
    let required = std::env::var("FERRO_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    if Command::new("turnutils_stunclient")
        .arg("-h")
        .output()
        .is_err()
    {
        assert!(
            !required,
            "turnutils_stunclient not found (apt-get install coturn) and FERRO_REQUIRE_TOOLS=1"
        );
        skipped(
            "turnutils_stunclient_sees_its_mapped_address: turnutils_stunclient not found \
             (apt-get install coturn)",
        );
        return;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = StunServer::new(socket);
    let addr = server.local_addr().unwrap();
    let counters = server.counters();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["10", "turnutils_stunclient", "-p", &addr.port().to_string()])
            .args(["-L", "127.0.0.1", "127.0.0.1"])
            .output()
            .expect("run turnutils_stunclient")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    let reflexive = text
        .lines()
        .find_map(|l| l.split_once("UDP reflexive addr:"))
        .map(|(_, a)| a.trim().to_owned())
        .unwrap_or_else(|| panic!("no reflexive address in:\n{text}"));
    let mapped: SocketAddr = reflexive.parse().expect("an address");
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert_eq!(mapped.ip().to_string(), "127.0.0.1");
    assert_ne!(mapped.port(), 0);
    assert_ne!(mapped.port(), addr.port());
    assert!(counters.answered.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
