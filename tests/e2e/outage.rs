//! A database outage is logged and retried, never a crash: the server keeps answering from
//! its caches, refuses what it cannot know with 503, and lands the queued writes once the
//! database is back. The outage is a TCP proxy in front of the local MariaDB that the test
//! cuts and restores.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_message::digest::Algorithm;

use crate::harness::{block, MariaDb, Site};
use crate::wire::{client, register};

/// Forwards 127.0.0.1:port → 127.0.0.1:3306 until stopped; stopping closes every connection.
struct Proxy {
    port: u16,
    running: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(port: u16) -> Self {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_reuse_address(true).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        sock.bind(&addr.into()).unwrap();
        sock.listen(64).unwrap();
        let listener: TcpListener = sock.into();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let running = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (r, c) = (running.clone(), conns.clone());
        std::thread::spawn(move || {
            while r.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((down, _)) => {
                        down.set_nonblocking(false).unwrap();
                        let Ok(up) = TcpStream::connect("127.0.0.1:3306") else {
                            continue;
                        };
                        for (mut from, mut to) in [
                            (down.try_clone().unwrap(), up.try_clone().unwrap()),
                            (up.try_clone().unwrap(), down.try_clone().unwrap()),
                        ] {
                            std::thread::spawn(move || {
                                let mut buf = [0u8; 16384];
                                while let Ok(n) = from.read(&mut buf) {
                                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                let _ = to.shutdown(Shutdown::Both);
                            });
                        }
                        c.lock().unwrap().extend([down, up]);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            running,
            conns,
        }
    }

    fn stop(self) -> u16 {
        self.running.store(false, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        std::thread::sleep(Duration::from_millis(50)); // the accept loop sees the flag
        self.port
    }
}

#[test]
fn database_outage_is_logged_retried_and_survived() {
    let Some(db) = MariaDb::create("ferro_outage") else {
        return;
    };
    let proxy = Proxy::start(0);
    let site = Site::with_database(&format!("url = \"{}\"\n", db.url(proxy.port)));
    let direct = db.url(3306);
    site.add_account("lee", "pw1");
    site.add_account("may", "pw2");
    let server = site.start();
    let bindings = |login: &'static str| {
        block(async {
            let s = store::Store::connect(&direct).await.unwrap();
            let b = s.load_bindings(None).await.unwrap();
            s.close().await;
            b.into_iter().filter(|b| b.login == login).count()
        })
    };

    // the database goes away
    let port = proxy.stop();
    // a known account still registers (accounts and bindings are served from memory) ...
    let (ok, out) = site.sipp("register.xml", server.udp, "u1", &["may;pw2"]);
    assert!(ok, "registration during the outage must succeed: {out}");
    // ... the write is retried, and said so in the log (after the pool's 10 s connect timeout)
    if let Err(log) = server.wait_log(30, |l| l.contains("database write failed, retrying")) {
        panic!("no retry logged: {log:#?}");
    }
    // an account the server has not seen cannot be checked: 503 with Retry-After, not 403
    let c = client(server.udp);
    let (r, _) = register(&c, "nova", "pw3", 600, Algorithm::Md5, "outage");
    assert_eq!(r.status(), Some(503), "{r:?}");
    assert!(r.header(&sip_message::HeaderName::RetryAfter).is_some());

    // the database comes back: the queued write lands without any new REGISTER
    let _proxy = Proxy::start(port);
    let mut landed = false;
    for _ in 0..100 {
        if bindings("may") == 1 {
            landed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        landed,
        "the binding written during the outage never reached the database"
    );
    server.stop();
}
