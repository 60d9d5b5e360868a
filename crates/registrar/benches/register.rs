//! One full authenticated REGISTER (parse + `handle_register`, MD5 digest, one binding
//! refreshed) against a registrar already holding 100k bindings.
//!
//! Each request carries a fresh nonce count and CSeq, as a real refresh would; requests are
//! built (and nonces fetched) outside the timed loop.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use registrar::{Account, Binding, Register, Registrar, RegistrarConfig};
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, HeaderName, Message, MessageBuilder, Method, Peer, Transport};

/// The bench's one instant (the registrar's clock does not move here).
static NOW: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
const BINDINGS: usize = 100_000;
const DOMAIN: &str = "example.com";

fn peer(remote: SocketAddr) -> Peer {
    Peer {
        transport: Transport::Udp,
        remote,
        local: "203.0.113.1:5060".parse().expect("address"),
        conn: None,
    }
}

fn populated() -> Registrar {
    let reg = Registrar::new(RegistrarConfig::default(), b"bench secret");
    let loc = reg.location();
    for i in 0..BINDINGS {
        let login = format!("user{i}");
        let remote = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5060));
        let contact = format!("sip:{login}@{remote}");
        loc.upsert(
            &login,
            Binding {
                key: contact.clone(),
                contact,
                instance: None,
                reg_id: None,
                q_milli: None,
                expires_at: *NOW + Duration::from_secs(3_600),
                call_id: format!("{i}@bench"),
                cseq: 1,
                source: peer(remote),
                reach: registrar::Reach::Flow,
                path: None,
                user_agent: None,
                updated_at: *NOW,
            },
        );
    }
    assert_eq!(reg.location().len(), BINDINGS);
    reg
}

/// The UA side: builds signed REGISTERs of `user42`, fetching a new nonce every 255 counts.
struct Ua {
    from: Peer,
    account: Account,
    cseq: u32,
    nonce: String,
    nc: u32,
}

impl Ua {
    fn request(&self, cseq: u32, auth: Option<&str>) -> Bytes {
        let mut b = MessageBuilder::request(&Method::Register, &format!("sip:{DOMAIN}"));
        b.header(
            "Via",
            format_args!(
                "SIP/2.0/UDP {};branch=z9hG4bK{cseq}x;rport",
                self.from.remote
            ),
        )
        .header("Max-Forwards", 70)
        .header(
            "From",
            format_args!("<sip:{}@{DOMAIN}>;tag=b{cseq}", self.account.login),
        )
        .header("To", format_args!("<sip:{}@{DOMAIN}>", self.account.login))
        .header("Call-ID", "42@bench")
        .header("CSeq", format_args!("{cseq} REGISTER"))
        .header(
            "Contact",
            format_args!("<sip:{}@{}>", self.account.login, self.from.remote),
        )
        .header("Expires", 3600)
        .header("User-Agent", "bench/1");
        if let Some(a) = auth {
            b.header("Authorization", a);
        }
        b.finish()
    }

    fn fetch_nonce(&mut self, reg: &mut Registrar) {
        self.cseq += 1;
        let req = Message::parse(self.request(self.cseq, None)).expect("parses");
        let out = reg.handle_register(*NOW, &Register::new(&req), self.from, None);
        assert_eq!(out.status(), 401);
        let resp = Message::parse(out.response).expect("parses");
        let md5 = resp
            .header_values(&HeaderName::WwwAuthenticate)
            .map(|v| Challenge::parse(v).expect("challenge parses"))
            .find(|c| c.algorithm.as_deref() == Some("MD5"))
            .expect("an MD5 challenge");
        self.nonce = md5.nonce.into_owned();
        self.nc = 0;
    }

    fn next(&mut self, reg: &mut Registrar) -> Bytes {
        if self.nonce.is_empty() || self.nc == 255 {
            self.fetch_nonce(reg);
        }
        self.nc += 1;
        self.cseq += 1;
        let nc = format!("{:08x}", self.nc);
        let cnonce = format!("{:x}", self.cseq);
        let uri = format!("sip:{DOMAIN}");
        let a = &self.account;
        let ha1 = a.ha1.md5.clone();
        let params = ResponseParams {
            method: "REGISTER",
            uri: &uri,
            nonce: &self.nonce,
            qop_auth: Some((&nc, &cnonce)),
        };
        let response = digest::response(Algorithm::Md5, &ha1, &params);
        let auth = format!(
            "Digest username=\"{}\", realm=\"ferroswitch\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\"",
            a.login, self.nonce
        );
        self.request(self.cseq, Some(&auth))
    }
}

fn register(c: &mut Criterion) {
    let mut reg = populated();
    let mut ua = Ua {
        from: peer("198.51.100.42:5060".parse().expect("address")),
        account: Account::with_password("user42", "ferroswitch", "secret42", true),
        cseq: 1,
        nonce: String::new(),
        nc: 0,
    };
    // sanity: the timed request really is a successful refresh
    let first = ua.next(&mut reg);
    let first = Message::parse(first).expect("parses");
    let out = reg.handle_register(*NOW, &Register::new(&first), ua.from, Some(&ua.account));
    while reg.poll_event().is_some() {}
    assert_eq!(
        out.status(),
        200,
        "{}",
        String::from_utf8_lossy(&out.response)
    );
    assert_eq!(reg.location().len(), BINDINGS + 1);

    c.bench_function("register/md5_refresh_100k_bindings", |b| {
        b.iter_custom(|iters| {
            let reqs: Vec<Bytes> = (0..iters).map(|_| ua.next(&mut reg)).collect();
            let start = Instant::now();
            for raw in reqs {
                let msg = Message::parse(raw).expect("parses");
                let out =
                    reg.handle_register(*NOW, &Register::new(&msg), ua.from, Some(&ua.account));
                assert_eq!(out.status(), 200);
                black_box(&out);
                while let Some(ev) = reg.poll_event() {
                    black_box(ev);
                }
            }
            start.elapsed()
        });
    });
    assert_eq!(
        reg.location().len(),
        BINDINGS + 1,
        "refreshes add no binding"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = register
}
criterion_main!(benches);
