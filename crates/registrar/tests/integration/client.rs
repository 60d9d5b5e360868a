//! A test UA: builds REGISTER requests and answers digest challenges on its own, using only
//! `sip_message` (parser, builder, digest primitives) — never the registrar's code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;
pub(crate) use std::time::Instant;

use bytes::Bytes;
use registrar::{
    Account, AuthRejection, BindingChange, Event, PushRegistration, Register, RegisterError,
    Registrar, RegistrarConfig,
};
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, ConnId, Contact, ContactList, HeaderName, Message, MessageBuilder};
use sip_message::{Method, Peer, Transport};

pub(crate) const DOMAIN: &str = "example.com";
pub(crate) const REALM: &str = "ferroswitch";
/// The virtual clock's origin: tests name instants as milliseconds after it ([`at`]).
static T0: LazyLock<Instant> = LazyLock::new(Instant::now);

/// `ms` milliseconds after the virtual clock's origin.
pub(crate) fn at(ms: u64) -> Instant {
    *T0 + Duration::from_millis(ms)
}

/// One REGISTER's outcome with what it changed (the events drained after it), as the driver
/// sees them together.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) response: Bytes,
    pub(crate) result: Result<(), RegisterError>,
    pub(crate) login: Option<String>,
    pub(crate) registered: bool,
    pub(crate) changes: Vec<BindingChange>,
    pub(crate) instances: Vec<String>,
    pub(crate) push: Vec<PushRegistration>,
}

impl Outcome {
    pub(crate) fn status(&self) -> u16 {
        match &self.result {
            Ok(()) => 200,
            Err(e) => e.status(),
        }
    }
}

pub(crate) fn udp_peer(remote: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        remote: remote.parse().expect("socket address"),
        local: "203.0.113.1:5060".parse().expect("socket address"),
        conn: None,
    }
}

pub(crate) fn tcp_peer(remote: &str, conn: u64) -> Peer {
    Peer {
        transport: Transport::Tcp,
        remote: remote.parse().expect("socket address"),
        local: "203.0.113.1:5060".parse().expect("socket address"),
        conn: Some(ConnId(conn)),
    }
}

/// A registrar plus the account table the driver would consult.
pub(crate) struct Server {
    pub(crate) reg: Registrar,
    pub(crate) accounts: HashMap<String, Account>,
}

impl Server {
    pub(crate) fn new() -> Self {
        Self::with_config(RegistrarConfig::default())
    }

    pub(crate) fn with_config(cfg: RegistrarConfig) -> Self {
        Self::sharing(cfg, registrar::Location::new())
    }

    /// A registrar core over a location table other cores may share.
    pub(crate) fn sharing(cfg: RegistrarConfig, location: registrar::Location) -> Self {
        let mut accounts = HashMap::new();
        for (login, password, enabled) in [
            ("alice", "wonderland", true),
            ("bob", "builder", true),
            ("mallory", "m4ll0ry", false),
        ] {
            let a = Account::with_password(login, &cfg.realm, password, enabled);
            accounts.insert(login.to_owned(), a);
        }
        Self {
            reg: Registrar::with_location(cfg, b"test secret", location),
            accounts,
        }
    }

    /// Feeds a request the way the driver does: the account is looked up by the digest
    /// username.
    pub(crate) fn handle(&mut self, now: Instant, req: &Message, from: Peer) -> Outcome {
        let register = Register::new(req);
        let account = register
            .credentials
            .username()
            .and_then(|u| self.accounts.get(u).cloned());
        let answer = self
            .reg
            .handle_register(now, &register, from, account.as_ref());
        let mut out = Outcome {
            response: answer.response,
            result: answer.result,
            login: answer.login,
            registered: answer.registered,
            changes: vec![],
            instances: vec![],
            push: vec![],
        };
        while let Some(ev) = self.reg.poll_event() {
            match ev {
                Event::Binding(c) => out.changes.push(c),
                Event::Instance {
                    login,
                    instance,
                    at,
                } => {
                    assert_eq!(Some(&login), out.login.as_ref());
                    assert_eq!(at, now);
                    out.instances.push(instance);
                }
                Event::Push { login, push, at } => {
                    assert_eq!(Some(&login), out.login.as_ref());
                    assert_eq!(at, now);
                    out.push.push(push);
                }
                e => panic!("unexpected event {e:?}"),
            }
        }
        // every outcome's response must parse and carry the same status
        let resp = response(&out);
        assert_eq!(
            resp.status(),
            Some(out.status()),
            "status line vs Outcome::status"
        );
        // a refusal's Warning is its Display (none for a challenge or a 423)
        let warning = match &out.result {
            Ok(())
            | Err(RegisterError::MinExpires { .. })
            | Err(RegisterError::Auth(AuthRejection::Challenge { .. })) => None,
            Err(e) => Some(format!("399 ferroswitch \"{e}\"")),
        };
        assert_eq!(
            resp.header(&HeaderName::from_bytes(b"Warning")),
            warning.as_deref()
        );
        out
    }
}

/// What one REGISTER carries beyond the dialog basics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reg {
    pub(crate) contacts: Vec<String>,
    pub(crate) expires: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
}

impl Reg {
    /// A REGISTER with one Contact header value.
    pub(crate) fn contact(c: &str) -> Self {
        Self {
            contacts: vec![c.to_owned()],
            ..Self::default()
        }
    }

    /// A REGISTER without Contact: a query.
    pub(crate) fn query() -> Self {
        Self::default()
    }

    pub(crate) fn and_contact(mut self, c: &str) -> Self {
        self.contacts.push(c.to_owned());
        self
    }

    pub(crate) fn expires(mut self, e: impl ToString) -> Self {
        self.expires = Some(e.to_string());
        self
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The nonce state learnt from a challenge.
#[derive(Debug, Clone)]
pub(crate) struct Nonce {
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) alg: Algorithm,
    pub(crate) nc: u32,
}

/// One user agent: its own Call-ID, CSeq counter, branch counter and credentials.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) user: String,
    /// The digest username (normally `user`).
    pub(crate) auth_user: String,
    pub(crate) password: String,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    pub(crate) peer: Peer,
    pub(crate) rport: bool,
    /// Algorithm picked from the challenges.
    pub(crate) alg: Algorithm,
    /// The realm sent in credentials; `None` means the challenge's.
    pub(crate) realm_override: Option<String>,
    pub(crate) nonce: Option<Nonce>,
    branch: u32,
}

impl Client {
    pub(crate) fn new(user: &str, password: &str, peer: Peer) -> Self {
        Self {
            user: user.into(),
            auth_user: user.into(),
            password: password.into(),
            call_id: format!("{user}-{}@test", peer.remote.port()),
            cseq: 0,
            peer,
            rport: true,
            alg: Algorithm::Md5,
            realm_override: None,
            nonce: None,
            branch: 0,
        }
    }

    pub(crate) fn alice() -> Self {
        Self::new("alice", "wonderland", udp_peer("198.51.100.7:5062"))
    }

    pub(crate) fn bob() -> Self {
        Self::new("bob", "builder", udp_peer("198.51.100.9:5060"))
    }

    /// Builds the next REGISTER (new branch, CSeq + 1); with a nonce, signs it with the next
    /// nonce count.
    pub(crate) fn build(&mut self, reg: &Reg) -> Message {
        self.cseq += 1;
        let auth = self.nonce.is_some().then(|| self.authorization(1));
        self.build_raw(reg, auth.as_deref())
    }

    /// Builds a REGISTER with the current CSeq and the given Authorization, touching no state.
    pub(crate) fn build_raw(&mut self, reg: &Reg, authorization: Option<&str>) -> Message {
        self.branch += 1;
        let addr: SocketAddr = self.peer.remote;
        let mut b = MessageBuilder::request(&Method::Register, &format!("sip:{DOMAIN}"));
        b.header(
            "Via",
            format_args!(
                "SIP/2.0/{} {addr};branch=z9hG4bK-{}-{}{}",
                self.peer.transport.via_name(),
                self.call_id
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
                self.branch,
                if self.rport { ";rport" } else { "" }
            ),
        );
        b.header("Max-Forwards", 70);
        b.header(
            "From",
            format_args!("<sip:{}@{DOMAIN}>;tag=f{}", self.user, self.branch),
        );
        b.header("To", format_args!("<sip:{}@{DOMAIN}>", self.user));
        b.header("Call-ID", &self.call_id);
        b.header("CSeq", format_args!("{} REGISTER", self.cseq));
        for c in &reg.contacts {
            b.header("Contact", c);
        }
        if let Some(e) = &reg.expires {
            b.header("Expires", e);
        }
        for (n, v) in &reg.headers {
            b.header(n, v);
        }
        if let Some(a) = authorization {
            b.header("Authorization", a);
        }
        Message::parse(b.finish()).expect("test REGISTER parses")
    }

    /// An `Authorization` value for the current nonce, advancing the nonce count by `step`.
    pub(crate) fn authorization(&mut self, step: u32) -> String {
        let n = self.nonce.as_mut().expect("no challenge seen yet");
        n.nc += step;
        let nc = format!("{:08x}", n.nc);
        let cnonce = format!("c{:x}", 0x5eed_u32.wrapping_mul(n.nc + 7));
        let realm = self
            .realm_override
            .clone()
            .unwrap_or_else(|| n.realm.clone());
        let uri = format!("sip:{DOMAIN}");
        let ha1 = n.alg.ha1(&self.auth_user, &realm, &self.password);
        let resp = digest::response(
            n.alg,
            &ha1,
            &ResponseParams {
                method: "REGISTER",
                uri: &uri,
                nonce: &n.nonce,
                qop_auth: Some((&nc, &cnonce)),
            },
        );
        format!(
            "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"{cnonce}\"",
            self.auth_user,
            n.nonce,
            n.alg.name()
        )
    }

    /// Learns the nonce offered for `self.alg` from a 401; panics if there is none.
    pub(crate) fn learn(&mut self, out: &Outcome) -> Challenge<'static> {
        assert_eq!(out.status(), 401, "expected a challenge:\n{}", text(out));
        let ch = challenges(out)
            .into_iter()
            .find(|c| {
                c.algorithm
                    .as_deref()
                    .and_then(Algorithm::from_name)
                    .unwrap_or(Algorithm::Md5)
                    == self.alg
            })
            .expect("a challenge for the client's algorithm");
        self.nonce = Some(Nonce {
            realm: ch.realm.to_string(),
            nonce: ch.nonce.to_string(),
            alg: self.alg,
            nc: 0,
        });
        ch
    }

    /// The full exchange: an unauthenticated REGISTER (only when no nonce is known yet), the
    /// 401, then the signed REGISTER. Returns the final outcome.
    pub(crate) fn register(&mut self, srv: &mut Server, now: Instant, reg: &Reg) -> Outcome {
        if self.nonce.is_none() {
            let req = self.build(reg);
            let out = srv.handle(now, &req, self.peer);
            self.learn(&out);
        }
        let req = self.build(reg);
        srv.handle(now, &req, self.peer)
    }
}

pub(crate) fn response(out: &Outcome) -> Message {
    Message::parse(out.response.clone()).expect("registrar response parses")
}

pub(crate) fn text(out: &Outcome) -> String {
    String::from_utf8_lossy(&out.response).into_owned()
}

/// Every `WWW-Authenticate` of a response, parsed (owned).
pub(crate) fn challenges(out: &Outcome) -> Vec<Challenge<'static>> {
    let resp = response(out);
    resp.header_values(&HeaderName::WwwAuthenticate)
        .map(|v| {
            let leaked: &'static str = Box::leak(v.to_owned().into_boxed_str());
            Challenge::parse(leaked).expect("WWW-Authenticate parses")
        })
        .collect()
}

/// `(contact URI, expires)` for every Contact of a response.
pub(crate) fn listed(out: &Outcome) -> Vec<(String, u32)> {
    let resp = response(out);
    match resp.contacts().expect("response Contact parses") {
        None => vec![],
        Some(ContactList::Star) => panic!("a response never lists *"),
        Some(ContactList::Contacts(cs)) => cs
            .iter()
            .map(|c: &Contact<'_>| {
                let e = c
                    .expires()
                    .expect("expires parses")
                    .expect("every contact has expires=");
                (c.0.uri.as_str().to_owned(), e)
            })
            .collect(),
    }
}

/// The value of a header in a response, first occurrence.
pub(crate) fn header(out: &Outcome, name: &str) -> Option<String> {
    let resp = response(out);
    let name = HeaderName::from_bytes(name.as_bytes());
    resp.header(&name).map(str::to_owned)
}
