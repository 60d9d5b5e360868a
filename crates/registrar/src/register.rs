//! REGISTER handling: authentication, then the binding updates of RFC 3261 §10.3.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::digest::Algorithm;
use sip_message::{ContactList, HeaderName, Message, NameAddr, Peer};

use crate::auth::{AuthKind, Presented, Rejection};
use crate::error::{self, RegisterError};
use crate::location::{Binding, BindingChange, Location};
use crate::nonce::NonceKeeper;

/// Registrar policy, from the server config.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    pub realm: String,
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// Offered in this order (one `WWW-Authenticate` each).
    pub algorithms: Vec<Algorithm>,
    pub nonce_lifetime_ms: u64,
    /// Most bindings one login may hold; more are refused with 403.
    pub max_contacts: usize,
    /// RFC 8599 push providers (`pn-provider` values, lowercase) this server can wake devices
    /// through. A REGISTER naming another gets 555; empty: every one does.
    pub push_providers: Vec<String>,
    /// Whether requests go to a binding's Contact or over its flow ([`crate::reach`]).
    pub contact_routing: crate::ContactRouting,
    /// How often expired bindings are purged ([`Registrar::poll_timeout`]).
    pub purge_interval: Duration,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            realm: "ferroswitch".into(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            nonce_lifetime_ms: 300_000,
            max_contacts: 16,
            push_providers: vec!["apns".into(), "fcm".into()],
            contact_routing: crate::ContactRouting::default(),
            purge_interval: Duration::from_secs(30),
        }
    }
}

/// What the registrar needs to know of an account: its digest HA1 values for the
/// registrar's realm, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub ha1: Ha1,
    pub enabled: bool,
}

impl Account {
    /// An account whose HA1 values are computed from `password` for `realm`.
    pub fn with_password(login: &str, realm: &str, password: &str, enabled: bool) -> Self {
        Self {
            login: login.to_owned(),
            ha1: Ha1::from_password(login, realm, password),
            enabled,
        }
    }
}

/// `H(login:realm:password)` per digest algorithm, lower-case hex (Kamailio's `ha1` and
/// `ha1b`). An empty value never authenticates.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Ha1 {
    pub md5: String,
    pub sha256: String,
}

impl Ha1 {
    pub fn from_password(login: &str, realm: &str, password: &str) -> Self {
        Self {
            md5: Algorithm::Md5.ha1(login, realm, password),
            sha256: Algorithm::Sha256.ha1(login, realm, password),
        }
    }

    /// The value for `alg`.
    pub fn get(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.md5,
            Algorithm::Sha256 => &self.sha256,
        }
    }
}

// Debug without the values: an HA1 is as good as the password in its realm.
impl std::fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ha1(***)")
    }
}

/// A REGISTER as the registrar and its driver read it: the message and the headers both
/// need, each parsed at most once (the credentials at once, To when first asked).
#[derive(Debug)]
pub struct Register<'m> {
    pub msg: &'m Message,
    /// The `Authorization` credentials.
    pub credentials: Presented<'m>,
    to: OnceCell<Option<NameAddr<'m>>>,
}

impl<'m> Register<'m> {
    pub fn new(msg: &'m Message) -> Self {
        Self {
            msg,
            credentials: Presented::new(msg, AuthKind::Www),
            to: OnceCell::new(),
        }
    }

    /// The To header, parsed on first use; `None` when it does not parse.
    pub fn to(&self) -> Option<&NameAddr<'m>> {
        self.to.get_or_init(|| self.msg.to_header().ok()).as_ref()
    }
}

/// The answer to one REGISTER. What it changed comes out of [`Registrar::poll_event`].
#[derive(Debug)]
#[must_use]
pub struct Outcome {
    /// The response to send back to the peer. A refusal of the credentials
    /// ([`RegisterError::Auth`]) may be sent without a transaction: it is cheap to compute
    /// again.
    pub response: Bytes,
    /// `Ok` when the REGISTER succeeded (200); otherwise why it was refused, which decided
    /// the response.
    pub result: Result<(), RegisterError>,
    /// The authenticated login, when authentication succeeded.
    pub login: Option<String>,
    /// True when the login had no live binding before this request and has one now (it came
    /// online: deliver stored messages).
    pub registered: bool,
}

/// What the registrar asks of its driver, from [`Registrar::poll_event`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// RFC 8599: a REGISTER's Contact carried a push token for a device instance (keep it for
    /// when the device sleeps). Comes before the REGISTER's binding changes.
    Push {
        login: String,
        push: PushRegistration,
        at: Instant,
    },
    /// A binding changed (a REGISTER, or the purge of expired ones): write it through to
    /// storage.
    Binding(BindingChange),
    /// A REGISTER of `login` carried this `+sip.instance` (for `aa_ue_instance`).
    Instance {
        login: String,
        instance: String,
        at: Instant,
    },
}

/// An RFC 8599 push registration: a Contact with `pn-provider`, `pn-prid` (and maybe
/// `pn-param`) for a `+sip.instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRegistration {
    /// The `+sip.instance` the token belongs to.
    pub instance: String,
    /// `pn-provider`, lowercase (`apns`, `fcm`, ...).
    pub provider: String,
    /// `pn-prid`: the device token.
    pub prid: String,
    /// `pn-param`, empty when absent.
    pub param: String,
}

impl Outcome {
    /// The status code of [`Self::response`] (for logs and metrics).
    pub fn status(&self) -> u16 {
        match &self.result {
            Ok(()) => 200,
            Err(e) => e.status(),
        }
    }
}

/// The outcome of a refused request: it changed nothing.
fn unchanged(response: Bytes, error: RegisterError, login: Option<String>) -> Outcome {
    Outcome {
        response,
        result: Err(error),
        login,
        registered: false,
    }
}

/// The registrar state machine: nonce keeper + location table. Several registrars (one per
/// core shard) may share one table ([`Self::with_location`]); each purges its own logins
/// ([`Self::set_shard`]) and queues its own events.
///
/// Inputs take `now` on the driver's monotonic clock: [`Self::handle_register`] (its
/// [`Outcome`] is the response, returned because the driver judges a refusal before sending
/// it: it may read the account again and answer statelessly), [`Self::authenticate`] for
/// other requests, [`Self::handle_timeout`] at [`Self::poll_timeout`] (the purge of expired
/// bindings). After each input the driver drains [`Self::poll_event`].
#[derive(Debug)]
pub struct Registrar {
    pub(crate) cfg: RegistrarConfig,
    pub(crate) nonces: NonceKeeper,
    location: Location,
    events: VecDeque<Event>,
    /// When expired bindings are purged next; armed by the first input.
    next_purge: Option<Instant>,
    /// This core's shard and how many there are: it purges the logins of its shard, and its
    /// challenges' To tags name it.
    pub(crate) shard: (usize, usize),
}

pub(crate) const SERVER: &str = sip_message::PRODUCT;

impl Registrar {
    pub fn new(cfg: RegistrarConfig, nonce_secret: &[u8]) -> Self {
        Self::with_location(cfg, nonce_secret, Location::new())
    }

    /// A registrar over a location table other registrars may share (a clone of its handle).
    pub fn with_location(cfg: RegistrarConfig, nonce_secret: &[u8], location: Location) -> Self {
        let nonces = NonceKeeper::new(nonce_secret, cfg.nonce_lifetime_ms);
        Self {
            cfg,
            nonces,
            location,
            events: VecDeque::new(),
            next_purge: None,
            shard: (0, 1),
        }
    }

    /// Another registrar core over the same location table and the same nonces (a shard's:
    /// a nonce one issued is good at the other, its count is shared).
    pub fn share(&self, cfg: RegistrarConfig) -> Self {
        Self {
            cfg,
            nonces: self.nonces.clone(),
            location: self.location.clone(),
            events: VecDeque::new(),
            next_purge: None,
            shard: (0, 1),
        }
    }

    /// This registrar is shard `index` of `count`: its purge drops only the expired bindings
    /// of the logins [`sip_message::shard::index`] gives to it (by default 0 of 1: all), and
    /// its challenges' To tags name it ([`Self::challenge`]).
    pub fn set_shard(&mut self, index: usize, count: usize) {
        self.shard = (index, count);
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// New settings (a config reload): expiry bounds, algorithms, push providers and the nonce
    /// lifetime apply to the next request; the bindings and the nonce secret stay.
    pub fn set_config(&mut self, cfg: RegistrarConfig) {
        self.nonces.set_lifetime(cfg.nonce_lifetime_ms);
        // a new purge interval counts from the last purge
        if let Some(next) = &mut self.next_purge {
            *next = *next - self.cfg.purge_interval + cfg.purge_interval;
        }
        self.cfg = cfg;
    }

    /// The next thing the driver must do, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] is due: the next purge of expired bindings. `None` until
    /// the first input (the driver calls `handle_timeout(now)` once at start to arm it).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_purge
    }

    /// Purges expired bindings when the purge is due ([`Event::Binding`] removals), and arms
    /// the next purge.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.next_purge {
            Some(at) if at > now => return,
            Some(_) => {
                let (index, count) = self.shard;
                let gone = self.location.purge_expired(now, |login| {
                    sip_message::shard::index(login, count) == index
                });
                self.events.extend(gone.into_iter().map(Event::Binding));
            }
            None => {}
        }
        self.next_purge = Some(now + self.cfg.purge_interval);
    }

    /// The location table (shared: writes go through it too).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The login whose account the driver must have at hand to judge this request: the
    /// digest username, when there are credentials.
    pub fn auth_username(req: &Message) -> Option<String> {
        Self::credentials_username(req, AuthKind::Www)
    }

    /// Handles a sanity-checked REGISTER from `from`. `account` is the account named by the
    /// credentials' username (`None` if unknown or without credentials). Its changes are
    /// queued for [`Self::poll_event`].
    pub fn handle_register(
        &mut self,
        now: Instant,
        reg: &Register<'_>,
        from: Peer,
        account: Option<&Account>,
    ) -> Outcome {
        self.next_purge.get_or_insert(now + self.cfg.purge_interval);
        let req = reg.msg;
        let refuse = |error: RegisterError, login: Option<String>| {
            let response = error.response(req, from);
            unchanged(response, error, login)
        };
        let simple = |error: RegisterError| refuse(error, None);

        // 1. Authentication
        let account = match self.authenticate(now, req, &reg.credentials, from, account) {
            Ok(a) => a,
            Err(Rejection { response, reason }) => return unchanged(response, reason.into(), None),
        };
        let Some(to) = reg.to() else {
            return simple(RegisterError::BadHeader { header: "To" });
        };
        if to.uri.user != Some(account.login.as_str()) {
            return simple(RegisterError::ToMismatch {
                to: to.uri.as_str().to_owned(),
                login: account.login.clone(),
            });
        }
        let login = account.login.clone();

        // 2. Bindings (RFC 3261 §10.3 steps 6-8)
        let contacts = match req.contacts() {
            Ok(c) => c,
            Err(_) => return simple(RegisterError::BadHeader { header: "Contact" }),
        };
        let header_expires = match req.expires() {
            Ok(e) => e,
            Err(_) => return simple(RegisterError::BadHeader { header: "Expires" }),
        };
        let call_id = req.call_id().unwrap_or_default();
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let mut changes = Vec::new();
        let mut instances = Vec::new();
        let mut push = Vec::new();
        // RFC 8599 §5.3: the provider a UA asked about, confirmed in Feature-Caps
        let mut pns: Option<String> = None;
        // whether this request registers an RFC 5626 flow (instance + reg-id)
        let mut outbound = false;
        // a snapshot: only this registrar's shard writes this login's bindings
        let before = self.location.lookup(&login, now);
        let had_any = !before.is_empty();
        match contacts {
            None => {}
            Some(ContactList::Star) => {
                if header_expires != Some(0) {
                    return simple(RegisterError::StarNeedsExpiresZero);
                }
                if self.location.remove_all(&login) > 0 || had_any {
                    changes.push(BindingChange::RemoveAll {
                        login: login.clone(),
                    });
                }
            }
            Some(ContactList::Contacts(list)) => {
                // validate everything first: a refused request changes nothing
                let mut planned = Vec::with_capacity(list.len());
                for c in &list {
                    let Ok(exp) = c.expires() else {
                        return simple(RegisterError::BadContactParam { param: "expires" });
                    };
                    let expires = exp.or(header_expires).unwrap_or(self.cfg.default_expires);
                    if expires != 0 && expires < self.cfg.min_expires {
                        let (min, asked) = (self.cfg.min_expires, expires);
                        return refuse(RegisterError::MinExpires { min, asked }, Some(login));
                    }
                    let Ok(q) = c.q_milli() else {
                        return simple(RegisterError::BadContactParam { param: "q" });
                    };
                    let instance = c.instance().map(|i| i.into_owned());
                    if let Some(Some(provider)) = c.0.uri.param("pn-provider") {
                        let provider = provider.to_ascii_lowercase();
                        if !self.cfg.push_providers.contains(&provider) {
                            let served = self.cfg.push_providers.clone();
                            let error = RegisterError::PushProviderNotServed { provider, served };
                            return refuse(error, Some(login));
                        }
                        // without pn-prid the UA only asks whether the provider is served
                        if let (Some(Some(prid)), Some(i)) = (c.0.uri.param("pn-prid"), &instance) {
                            push.push(PushRegistration {
                                instance: i.clone(),
                                provider: provider.clone(),
                                prid: String::from_utf8_lossy(&sip_message::percent_decode(prid))
                                    .into_owned(),
                                param: c
                                    .0
                                    .uri
                                    .param("pn-param")
                                    .flatten()
                                    .map(|p| {
                                        String::from_utf8_lossy(&sip_message::percent_decode(p))
                                            .into_owned()
                                    })
                                    .unwrap_or_default(),
                            });
                        }
                        pns = Some(provider);
                    }
                    // RFC 5626 §6: a reg-id without +sip.instance is ignored
                    let reg_id = instance.as_ref().and(c.reg_id());
                    let key = match (&instance, reg_id) {
                        (Some(i), Some(r)) => format!("{i};reg-id={r}"),
                        (Some(i), None) => i.clone(),
                        (None, _) => normalise_contact(&c.0.uri),
                    };
                    let ob = reg_id.is_some() || c.0.uri.param("ob").is_some();
                    let reach = crate::reach(self.cfg.contact_routing, req, &c.0.uri, ob, &from);
                    planned.push(Planned {
                        key,
                        contact: c.0.uri.as_str().to_owned(),
                        instance,
                        reg_id,
                        reach,
                        q,
                        expires: expires.min(self.cfg.max_expires),
                    });
                }
                outbound = planned.iter().any(|p| p.reg_id.is_some());
                instances = planned.iter().filter_map(|p| p.instance.clone()).collect();

                // Step 7 against the bindings as they stand: an existing binding from the same
                // Call-ID is only touched by a higher CSeq (a retransmission or a late, older
                // request leaves it alone).
                let live: Vec<&str> = before.iter().map(|b| b.key.as_str()).collect();
                let stale_order = |key: &str| {
                    before
                        .iter()
                        .any(|b| b.key == key && b.call_id == call_id && b.cseq >= cseq)
                };
                planned.retain(|p| !stale_order(&p.key));
                // the bindings the login would hold afterwards
                let existing = live.len();
                let mut after = live;
                for p in &planned {
                    let at = after.iter().position(|k| *k == p.key);
                    match (p.expires, at) {
                        (0, Some(i)) => {
                            after.swap_remove(i);
                        }
                        (0, None) | (_, Some(_)) => {}
                        (_, None) => after.push(&p.key),
                    }
                }
                if after.len() > self.cfg.max_contacts && after.len() > existing {
                    return simple(RegisterError::TooManyContacts {
                        max: self.cfg.max_contacts,
                    });
                }
                // let go of the snapshot: the writes below then change the list in place
                // instead of copying it
                drop(before);

                let path = {
                    let p: Vec<&str> = req.header_values(&HeaderName::Path).collect();
                    (!p.is_empty()).then(|| p.join(", "))
                };
                let user_agent = req.user_agent().map(str::to_owned);
                for Planned {
                    key,
                    contact,
                    instance,
                    reg_id,
                    reach,
                    q,
                    expires,
                } in planned
                {
                    if expires == 0 {
                        if self.location.remove(&login, &key) {
                            changes.push(BindingChange::Remove {
                                login: login.clone(),
                                key,
                            });
                        }
                        continue;
                    }
                    let binding = Binding {
                        key,
                        contact,
                        instance,
                        reg_id,
                        q_milli: q,
                        expires_at: now + Duration::from_secs(u64::from(expires)),
                        call_id: call_id.to_owned(),
                        cseq,
                        source: from,
                        reach,
                        path: path.clone(),
                        user_agent: user_agent.clone(),
                        updated_at: now,
                    };
                    self.location.upsert(&login, binding.clone());
                    changes.push(BindingChange::Upsert {
                        login: login.clone(),
                        binding,
                    });
                }
            }
        }

        // 3. 200 OK with every current binding
        let mut b = error::reply(req, from, 200);
        let after = self.location.lookup(&login, now);
        for bnd in &after {
            let mut v = format!("<{}>;expires={}", bnd.contact, bnd.remaining_secs(now));
            if let Some(i) = &bnd.instance {
                v.push_str(";+sip.instance=\"");
                v.push_str(i);
                v.push('"');
            }
            if let Some(r) = bnd.reg_id {
                v.push_str(&format!(";reg-id={r}"));
            }
            b.header("Contact", v);
        }
        for p in req.header_values(&HeaderName::Path) {
            b.header("Path", p);
        }
        // RFC 5626 §6: confirm outbound to a UA that asked for it and registered a flow
        if outbound && req.has_option_tag(&HeaderName::Supported, "outbound") {
            b.header("Require", "outbound");
            // §4.4.1: how often the UA should send keep-alives on a connection-oriented flow
            // (CRLF pings; a WebSocket flow is also pinged by the server)
            if from.transport.is_reliable() {
                b.header("Flow-Timer", FLOW_TIMER_SECS);
            }
        }
        if let Some(p) = pns {
            b.header("Feature-Caps", format_args!("*;+sip.pns=\"{p}\""));
        }
        b.header("Server", SERVER);
        let registered = !had_any && !after.is_empty();
        let events = &mut self.events;
        events.extend(push.into_iter().map(|push| Event::Push {
            login: login.clone(),
            push,
            at: now,
        }));
        events.extend(changes.into_iter().map(Event::Binding));
        events.extend(instances.into_iter().map(|instance| Event::Instance {
            login: login.clone(),
            instance,
            at: now,
        }));
        Outcome {
            response: b.finish(),
            result: Ok(()),
            login: Some(login),
            registered,
        }
    }
}

/// The `Flow-Timer` (RFC 5626 §4.4.1, seconds) in the 200 OK to an outbound registration over
/// TCP, TLS or WebSocket: well below the servers' idle limits for registered flows.
pub(crate) const FLOW_TIMER_SECS: u32 = 120;

/// One Contact of a REGISTER, validated, before it is applied.
struct Planned {
    key: String,
    contact: String,
    instance: Option<String>,
    reg_id: Option<u32>,
    reach: crate::Reach,
    q: Option<u16>,
    expires: u32,
}

/// Binding identity of a contact without instance: scheme, user, host, port and transport
/// (RFC 3261 §19.1.4 in spirit: other parameters do not make a different binding).
fn normalise_contact(uri: &sip_message::Uri<'_>) -> String {
    let mut k = uri.aor().to_ascii_lowercase();
    if let Some(p) = uri.port {
        k.push_str(&format!(":{p}"));
    }
    if let Some(t) = uri.transport_param() {
        k.push_str(";transport=");
        k.push_str(&t.to_ascii_lowercase());
    }
    k
}
