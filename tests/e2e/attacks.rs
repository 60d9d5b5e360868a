//! The open internet's attacks (issue 12 items 1, 2, 3 and 5) against the real binary: slow
//! and oversized bodies on TCP, idle connections, a request flood from one source while real
//! phones register, made-up usernames. Every load is bounded in count and time.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sip_message::digest::Algorithm;
use sip_message::{Challenge, HeaderName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{rand_suffix, require_tool, Server, Site};
use crate::metrics::{get, scrape};
use crate::wire::{authorization, client, request, udp_exchange};

const CLOSED: &str = "ferroswitch_connections_closed_total";

/// The head of a REGISTER announcing a body of `len` bytes.
fn head(local: SocketAddr, n: usize, len: usize) -> String {
    format!(
        "REGISTER sip:ferroswitch.test SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKslow{n}\r\nFrom: <sip:x{n}@ferroswitch.test>;tag=s{n}\r\nTo: <sip:x{n}@ferroswitch.test>\r\nCall-ID: slow{n}@test\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// 300 TCP connections each announce a 1 MB body. Sent slowly (the slowloris way: a few
/// bytes a second), every one is closed by `message_timeout` from its first byte; sent fast,
/// every one is closed once it holds more than `unauthenticated_message_max`. RSS stays within
/// 30 MB of its baseline throughout (before: 300 × 1 MiB buffered for up to an hour).
#[test]
fn slow_and_big_bodies_are_cut_off_with_bounded_memory() {
    let site = Site::with_sections(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\
         [security]\nmessage_timeout = 4\nconnections_per_ip = 1000\n",
    );
    let server = site.start();
    std::thread::sleep(Duration::from_millis(500));
    let base = server.rss_mb();
    let tcp = server.tcp;
    const N: usize = 300;
    // slow: head and 8 KB of body at once, then 10 bytes every 500 ms for up to 12 s
    let (closed_after, peak_slow) = crate::harness::block(async {
        let mut tasks = Vec::new();
        for n in 0..N {
            tasks.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(tcp).await.unwrap();
                let local = s.local_addr().unwrap();
                let started = Instant::now();
                let mut first = head(local, n, 1_000_000).into_bytes();
                first.extend(std::iter::repeat_n(b'x', 8192));
                s.write_all(&first).await.unwrap();
                let mut buf = [0u8; 512];
                loop {
                    tokio::select! {
                        r = s.read(&mut buf) => match r {
                            Ok(0) | Err(_) => return started.elapsed(),
                            Ok(_) => {}
                        },
                        () = tokio::time::sleep(Duration::from_millis(500)) => {
                            if started.elapsed() > Duration::from_secs(12)
                                || s.write_all(&[b'x'; 10]).await.is_err()
                            {
                                return started.elapsed();
                            }
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let peak = server.rss_mb();
        let mut took = Vec::new();
        for t in tasks {
            took.push(t.await.unwrap());
        }
        (took, peak)
    });
    let longest = closed_after.iter().max().copied().unwrap();
    let shortest = closed_after.iter().min().copied().unwrap();
    eprintln!(
        "slow bodies: {N} connections closed after {shortest:?}..{longest:?}; RSS {base:.1} MB \
         before, {peak_slow:.1} MB during"
    );
    assert!(
        shortest >= Duration::from_millis(3500) && longest < Duration::from_secs(8),
        "each is closed by its 4 s deadline: {shortest:?}..{longest:?}"
    );
    // fast: each tries to send the whole megabyte
    let peak_big = crate::harness::block(async {
        let mut tasks = Vec::new();
        for n in 0..N {
            tasks.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(tcp).await.unwrap();
                let local = s.local_addr().unwrap();
                let mut msg = head(local, N + n, 1_000_000).into_bytes();
                msg.extend(std::iter::repeat_n(b'y', 1_000_000));
                let write = tokio::time::timeout(Duration::from_secs(10), s.write_all(&msg)).await;
                let mut buf = [0u8; 512];
                let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
                // refused: the write failed, or the server closed the connection
                matches!(write, Ok(Err(_))) || matches!(read, Ok(Ok(0) | Err(_)))
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let peak = server.rss_mb();
        for t in tasks {
            assert!(
                t.await.unwrap(),
                "an oversized message closes its connection"
            );
        }
        peak
    });
    let m = scrape(&server);
    let timed_out = get(&m, CLOSED, &[("reason", "message_timeout")]);
    let too_large = get(&m, CLOSED, &[("reason", "too_large")]);
    eprintln!(
        "big bodies: RSS {peak_big:.1} MB during; closed: {timed_out} message_timeout, \
         {too_large} too_large"
    );
    assert_eq!(timed_out as usize, N, "{m:#?}");
    assert_eq!(too_large as usize, N, "{m:#?}");
    let peak = peak_slow.max(peak_big);
    assert!(
        peak - base < 30.0,
        "RSS {base:.1} → {peak:.1} MB with {N} slow connections"
    );
}

/// Registers `user` over a TLS stream (challenge, credentials); returns the final status.
async fn register_tls(
    s: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    user: &str,
    password: &str,
) -> u16 {
    let local = s.get_ref().0.local_addr().unwrap();
    let contact = format!("Contact: <sip:{user}@{local};transport=tls>\r\nExpires: 600\r\n");
    let tls = |r: String| r.replace("SIP/2.0/UDP", "SIP/2.0/TLS");
    s.write_all(tls(request("REGISTER", user, "tlsreg1", &contact, local)).as_bytes())
        .await
        .unwrap();
    let r = read_message(s).await;
    assert_eq!(r.status(), Some(401));
    let ch = r
        .header_values(&HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v).unwrap())
        .find(|ch| ch.algorithm.as_deref() == Some("MD5"))
        .expect("an MD5 challenge");
    let auth = authorization(user, password, &ch, Algorithm::Md5);
    let req = tls(request(
        "REGISTER",
        user,
        "tlsreg2",
        &format!("{contact}{auth}"),
        local,
    ))
    .replace("CSeq: 1 ", "CSeq: 2 ");
    s.write_all(req.as_bytes()).await.unwrap();
    read_message(s).await.status().unwrap_or(0)
}

/// Reads one whole message (no body expected) from a stream.
async fn read_message<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> sip_message::Message {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
            while buf.starts_with(b"\r\n") {
                buf.drain(..2);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("an answer within 5 s");
    sip_message::Message::parse(bytes::Bytes::from(buf)).expect("parsable")
}

/// `idle_timeout = 5`: a TCP connection that sent one OPTIONS and then only keep-alives is
/// closed about 5 s after that message; a TLS connection that registered alice keeps living
/// with its CRLF keep-alives (and answers an OPTIONS 12 s later).
#[test]
fn idle_unregistered_connections_close_registered_flows_stay() {
    let site = Site::with_sections("[security]\nidle_timeout = 5\n");
    site.add_account("alice", "wonderland");
    let server = site.start();
    let (tcp, tls) = (server.tcp, server.tls);
    crate::harness::block(async move {
        let mut dev = crate::lifecycle::tls_connect(tls).await;
        assert_eq!(register_tls(&mut dev, "alice", "wonderland").await, 200);

        let mut idle = tokio::net::TcpStream::connect(tcp).await.unwrap();
        let local = idle.local_addr().unwrap();
        let opt = request("OPTIONS", "x", "idle1", "", local).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        idle.write_all(opt.as_bytes()).await.unwrap();
        assert_eq!(read_message(&mut idle).await.status(), Some(200));
        let started = Instant::now();
        let mut closed_after = None;
        let mut buf = [0u8; 64];
        while started.elapsed() < Duration::from_secs(12) {
            // both send a keep-alive every 2 s
            let _ = idle.write_all(b"\r\n\r\n").await;
            dev.write_all(b"\r\n\r\n").await.unwrap();
            let mut pong = [0u8; 2];
            tokio::time::timeout(Duration::from_secs(2), dev.read_exact(&mut pong))
                .await
                .expect("the registered flow answers its keep-alive")
                .unwrap();
            let wait = tokio::time::sleep(Duration::from_secs(2));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    r = idle.read(&mut buf), if closed_after.is_none() => match r {
                        Ok(0) | Err(_) => closed_after = Some(started.elapsed()),
                        Ok(_) => {}
                    },
                    () = &mut wait => break,
                }
            }
        }
        let closed_after = closed_after.expect("the idle TCP connection is closed");
        assert!(
            closed_after >= Duration::from_secs(4) && closed_after < Duration::from_secs(8),
            "closed {closed_after:?} after its last message (idle_timeout 5 s)"
        );
        let local = dev.get_ref().0.local_addr().unwrap();
        let opt =
            request("OPTIONS", "alice", "tlsopt", "", local).replace("SIP/2.0/UDP", "SIP/2.0/TLS");
        dev.write_all(opt.as_bytes()).await.unwrap();
        assert_eq!(read_message(&mut dev).await.status(), Some(200));
    });
}

/// Sends unauthenticated INVITEs and REGISTERs from 127.0.0.2 at up to `rate` a second for
/// `secs`; returns how many were sent. (The e2e binary is a debug build: the test floods at a
/// rate it reads; `benches/sipp/flood_load.sh` floods a release build as fast as SIPp sends.)
fn flood(server: SocketAddr, rate: u64, secs: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 is loopback on Linux");
        s.connect(server).unwrap();
        let local = s.local_addr().unwrap();
        let msgs: Vec<String> = (0..1024)
            .map(|i| {
                let method = if i % 2 == 0 { "INVITE" } else { "REGISTER" };
                request(
                    method,
                    "victim",
                    &format!("fl{i}-{}", rand_suffix()),
                    "",
                    local,
                )
            })
            .collect();
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(secs) {
            for m in msgs.iter().take(100) {
                if s.send(m.as_bytes()).is_ok() {
                    sent += 1;
                }
            }
            // pace: `rate` a second on average
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
        sent
    })
}

/// A flood of unauthenticated INVITE/REGISTER from 127.0.0.2 while SIPp registers 500 phones
/// from 127.0.0.1 at 500 REGISTER cycles a second: no legitimate registration fails, the
/// flooding source is banned and logged once, RSS grows less than 50 MB.
#[test]
fn a_flood_from_one_source_leaves_real_users_served() {
    require_tool("sipp");
    let site = Site::with_sections(
        "[admin]\nlisten = \"127.0.0.1:0\"\n[security]\nsource_rate = 200\nsource_ban = 60\n",
    );
    let accounts = 500;
    let mut csv = String::new();
    let mut inf = String::from("SEQUENTIAL\n");
    for i in 0..accounts {
        csv.push_str(&format!("fl{i},pw{i}\n"));
        inf.push_str(&format!("fl{i};pw{i}\n"));
    }
    let dir = site.dir.path();
    std::fs::write(dir.join("accounts.csv"), csv).unwrap();
    std::fs::write(dir.join("inf.csv"), inf).unwrap();
    let csv_path = dir.join("accounts.csv");
    let (ok, out, err) = site.cli(&["account", "import", csv_path.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let server = site.start();
    std::thread::sleep(Duration::from_millis(500));
    let base = server.rss_mb();
    let flooder = flood(server.udp, 20_000, 14);
    std::thread::sleep(Duration::from_millis(500));
    let sipp = Command::new("sipp")
        .current_dir(dir)
        .arg(server.udp.to_string())
        .arg("-sf")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../benches/sipp/register_load.xml"
        ))
        .args(["-inf", "inf.csv", "-t", "u1", "-i", "127.0.0.1"])
        .args(["-r", "500", "-m", "5000", "-l", "2000", "-max_socket", "1"])
        .args(["-timeout", "60", "-buff_size", "4194304", "-nostdin"])
        .args(["-trace_stat", "-stf", "stats.csv", "-fd", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run sipp");
    let sent = flooder.join().unwrap();
    let peak = server.rss_mb();
    let stats = std::fs::read_to_string(dir.join("stats.csv")).expect("SIPp statistics");
    let col = |name: &str| -> u64 {
        let mut lines = stats.lines();
        let head: Vec<&str> = lines.next().unwrap().split(';').collect();
        let last: Vec<&str> = lines.last().unwrap().split(';').collect();
        let i = head.iter().position(|h| *h == name).unwrap();
        last[i].parse().unwrap()
    };
    let (okc, failed) = (col("SuccessfulCall(C)"), col("FailedCall(C)"));
    let m = scrape(&server);
    let dropped = get(&m, "ferroswitch_flood_dropped_total", &[]);
    let bans = get(&m, "ferroswitch_flood_bans_total", &[]);
    eprintln!(
        "flood: {sent} requests from 127.0.0.2 in 14 s ({:.0}/s), {dropped} dropped, {bans} ban(s); \
         SIPp {okc} registered, {failed} failed; RSS {base:.1} → {peak:.1} MB",
        sent as f64 / 14.0
    );
    assert!(
        sipp.status.success() && failed == 0 && okc == 5000,
        "{}",
        String::from_utf8_lossy(&sipp.stderr)
    );
    assert_eq!(bans, 1.0, "{m:#?}");
    assert!(dropped > 0.0);
    let lines: Vec<String> = server.log_for(2);
    let banned: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("source flooding"))
        .collect();
    assert!(banned.len() <= 1, "{banned:#?}");
    assert!(
        peak - base < 50.0,
        "RSS {base:.1} → {peak:.1} MB under the flood"
    );
}

/// `n` REGISTERs from one socket, each with a distinct made-up username signed over a nonce
/// we issued (each worth a database read, then 403). Returns how many were answered 403.
fn random_usernames(server: &Server, n: usize) -> usize {
    let c = client(server.udp);
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let local = c.local_addr().unwrap();
    let contact = format!("Contact: <sip:x@{local}>\r\n");
    let r = udp_exchange(&c, &request("REGISTER", "x", "rndch", &contact, local));
    let ch = r
        .header_values(&HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v).unwrap())
        .find(|ch| ch.algorithm.as_deref() == Some("MD5"))
        .expect("an MD5 challenge");
    let suffix = rand_suffix();
    let mut forbidden = 0;
    let mut buf = [0u8; 65_536];
    for batch in 0..n.div_ceil(50) {
        let mut sent = 0;
        for j in 0..50 {
            let i = batch * 50 + j;
            if i >= n {
                break;
            }
            let user = format!("r{suffix}x{i}");
            let auth = authorization(&user, "x", &ch, Algorithm::Md5);
            let req = request(
                "REGISTER",
                &user,
                &format!("rnd{i}"),
                &format!("{contact}{auth}"),
                local,
            );
            c.send(req.as_bytes()).unwrap();
            sent += 1;
        }
        for _ in 0..sent {
            match c.recv(&mut buf) {
                Ok(n) if buf[..n].starts_with(b"SIP/2.0 403") => forbidden += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    forbidden
}

fn random_usernames_site() -> Site {
    Site::with_sections(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\
         [security]\nauth_failures = 100000\nauth_window = 1\nsource_rate = 0\n",
    )
}

/// 10 000 made-up usernames: every one answered 403, and no transaction is kept for any
/// (the 403 is sent statelessly, as the challenge is): the transaction gauge stays near zero
/// and RSS within 20 MB.
#[test]
fn made_up_usernames_leave_no_transactions() {
    let site = random_usernames_site();
    let server = site.start();
    std::thread::sleep(Duration::from_secs(1));
    let base = server.rss_mb();
    let n = 10_000;
    let forbidden = random_usernames(&server, n);
    let after = server.rss_mb();
    std::thread::sleep(Duration::from_millis(1200));
    let m = scrape(&server);
    let txs = get(&m, "ferroswitch_sip_transactions", &[]);
    eprintln!("{n} made-up usernames: {forbidden} answered 403; {txs} transactions after; RSS {base:.1} → {after:.1} MB");
    assert!(forbidden >= n * 9 / 10, "{forbidden} of {n}");
    assert!(
        txs < 10.0,
        "no transaction is kept for a refused REGISTER: {txs}"
    );
    assert!(after - base < 20.0, "RSS {base:.1} → {after:.1} MB");
}

/// Issue 12's figure (run on purpose: `cargo nextest run -p ferroswitch --test e2e --
/// --ignored made_up_usernames_100k`): 100 000 made-up usernames, RSS back within 20 MB of
/// its baseline a minute later.
#[test]
#[ignore = "stress: ~2 minutes"]
fn made_up_usernames_100k_memory_returns() {
    let site = random_usernames_site();
    let server = site.start();
    std::thread::sleep(Duration::from_secs(6));
    let base = server.rss_mb();
    let started = Instant::now();
    let n = 100_000;
    let forbidden = random_usernames(&server, n);
    let took = started.elapsed();
    let peak = server.rss_mb();
    std::thread::sleep(Duration::from_secs(60));
    let later = server.rss_mb();
    eprintln!(
        "100k made-up usernames in {took:?}: {forbidden} answered 403; RSS baseline {base:.1} MB, \
         right after {peak:.1} MB, a minute later {later:.1} MB"
    );
    assert!(forbidden > n / 2);
    assert!(later - base < 20.0, "RSS {base:.1} → {later:.1} MB");
}

/// A plain TCP connection can be refused by the per-IP cap: with `connections_per_ip = 5`, the
/// sixth connection from 127.0.0.1 is closed at once while one from 127.0.0.2 is served.
#[test]
fn connections_per_ip_are_capped() {
    let site = Site::with_sections("[security]\nconnections_per_ip = 5\n");
    let server = site.start();
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(server.tcp).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let local = s.local_addr().unwrap();
        let opt = request("OPTIONS", "x", &rand_suffix(), "", local)
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        s.write_all(opt.as_bytes()).unwrap();
        let mut buf = [0u8; 2048];
        assert!(s.read(&mut buf).unwrap() > 0);
        held.push(s);
    }
    let mut sixth = TcpStream::connect(server.tcp).unwrap();
    sixth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = sixth.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the sixth connection is closed");
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.connect(&server.tcp.into()).unwrap();
    let mut other = TcpStream::from(sock);
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let local = other.local_addr().unwrap();
    let opt =
        request("OPTIONS", "x", &rand_suffix(), "", local).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    other.write_all(opt.as_bytes()).unwrap();
    assert!(
        other.read(&mut buf).unwrap() > 0,
        "another address is served"
    );
}
