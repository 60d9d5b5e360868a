//! [`PresenceServer`]: the subscription framework (RFC 6665 notifier, RFC 4662 list server)
//! around the publication store, driven by the server's event loop.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bytes::Bytes;
use sip_message::{ContactList, HeaderName, Message, MessageBuilder, Method, Peer};
use tracing::{debug, debug_span, warn};

use crate::config::PresenceConfig;
use crate::ids::{fnv64, Tokens};
use crate::mwi::MessageSummary;
use crate::package::{Body, EventPackage, MessageSummaryPackage, PresencePackage, Resource, State};
use crate::publish::{Persist, PublicationRow, Publications};
use crate::reply::{self, range_allows};
use crate::rlmi::{self, Part};
use crate::timer::{TimerId, TimerTable};
use crate::xml::login_uri;

/// Where a request came from and the listener it came in on: what the core needs to answer
/// and to send NOTIFYs back over the same flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The transport, addresses and connection the request arrived on. NOTIFYs go back to
    /// this peer (same TCP/TLS connection; for UDP the source address and port).
    pub peer: Peer,
    /// Our `host[:port]` for the Via of NOTIFYs sent over this listener.
    pub sent_by: String,
    /// Our Contact header value for this listener, e.g. `<sip:203.0.113.5:5061;transport=tls>`:
    /// written into the 200 to SUBSCRIBE and into every NOTIFY.
    pub contact: String,
}

/// Names one subscription for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey(pub u64);

impl std::fmt::Display for SubscriptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sub#{}", self.0)
    }
}

/// Names one NOTIFY: its subscription and CSeq. Report its final response with
/// [`PresenceServer::handle_notify_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyKey {
    pub subscription: SubscriptionKey,
    pub cseq: u32,
}

/// One entry of a buddy list, as the buddy-list hook (or the `contacts` table) gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Buddy {
    pub login: String,
    /// The buddy has a device that can be woken by push.
    pub push_supported: bool,
}

impl Buddy {
    pub fn new(login: impl Into<String>, push_supported: bool) -> Self {
        Self {
            login: login.into(),
            push_supported,
        }
    }
}

/// The answer to a SUBSCRIBE or PUBLISH: send `response` through the request's server
/// transaction, then drain [`PresenceServer::poll_action`].
#[must_use]
#[derive(Debug)]
pub struct Reply {
    pub response: Bytes,
    pub status: u16,
    /// The subscription this SUBSCRIBE created or refreshed.
    pub subscription: Option<SubscriptionKey>,
}

/// A NOTIFY to send.
#[must_use]
#[derive(Debug, Clone)]
pub struct Notify {
    pub key: NotifyKey,
    /// The flow of the last SUBSCRIBE of the subscription.
    pub to: Peer,
    /// The whole request, top Via with a fresh branch: parse it and hand it to a new
    /// non-INVITE client transaction.
    pub request: Bytes,
    /// It says `Subscription-State: terminated`: the subscription is already gone and its
    /// response needs no reporting (reporting it is harmless).
    pub terminated: bool,
    /// The watcher's login (for logs).
    pub watcher: String,
}

/// What the driver must do, from [`PresenceServer::poll_action`].
#[must_use]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// Send a NOTIFY and report its final response.
    Notify(Notify),
    /// Fetch `login`'s buddy list (buddy-list hook, or the `contacts` table) and answer with
    /// [`PresenceServer::buddies_fetched`] — with an empty list when the hook fails.
    FetchBuddies {
        subscription: SubscriptionKey,
        login: String,
    },
    /// Fetch the state of `login` for `package` and supply it (for `message-summary`:
    /// [`PresenceServer::set_message_summary`], zeros when the store fails).
    FetchState {
        package: &'static str,
        login: String,
    },
    /// Write to `presence_publications`.
    Persist(Persist),
}

type PackageId = usize;

#[derive(Debug)]
struct Dialog {
    call_id: String,
    local_tag: String,
    /// The SUBSCRIBE's To value (our From, before the tag).
    local_party: String,
    /// The SUBSCRIBE's From value, tag included (our To).
    remote_party: String,
    remote_tag: String,
    remote_target: String,
    route_set: Vec<String>,
    local_cseq: u32,
    remote_cseq: u32,
}

#[derive(Debug)]
struct Member {
    login: String,
    uri: String,
    push: bool,
    instance: String,
}

#[derive(Debug)]
enum Target {
    Single {
        login: String,
        uri: String,
    },
    List {
        uri: String,
        members: Vec<Member>,
        /// The version of the next RLMI document (RFC 4662 §5.2: from 0, +1 per document).
        version: u32,
        fetching: bool,
    },
}

#[derive(Debug, Default)]
enum Pending {
    #[default]
    Nothing,
    /// These list members changed.
    Partial(BTreeSet<String>),
    Full,
}

impl Pending {
    fn add(&mut self, login: &str) {
        match self {
            Self::Full => {}
            Self::Partial(set) => {
                set.insert(login.to_owned());
            }
            Self::Nothing => *self = Self::Partial(BTreeSet::from([login.to_owned()])),
        }
    }
}

#[derive(Debug)]
struct Subscription {
    watcher: String,
    package: PackageId,
    event_id: Option<String>,
    target: Target,
    dialog: Dialog,
    origin: Origin,
    expires_at: u64,
    expiry: TimerId,
    in_flight: Option<(u32, TimerId)>,
    pending: Pending,
    /// The next NOTIFY must carry full state (a previous one failed).
    force_full: bool,
    /// The first state is at hand (list fetched, package state known).
    ready: bool,
    /// A fetch (`Expires: 0` on a new subscription): the first NOTIFY terminates it.
    poll: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubTimer {
    Expiry(SubscriptionKey),
    Guard(SubscriptionKey, u32),
}

/// The presence core: publications, subscriptions, NOTIFY generation. Sans-IO; see the crate
/// docs for the driving protocol.
#[derive(Debug)]
pub struct PresenceServer {
    cfg: PresenceConfig,
    packages: Vec<Box<dyn EventPackage>>,
    publications: Publications,
    summaries: HashMap<String, MessageSummary>,
    subs: HashMap<SubscriptionKey, Subscription>,
    dialogs: HashMap<(String, String), SubscriptionKey>,
    /// (package, resource login) → subscriptions whose NOTIFYs carry it (single-resource
    /// subscriptions to it and list subscriptions that have it as a member).
    watchers: HashMap<(PackageId, String), BTreeSet<SubscriptionKey>>,
    per_watcher: HashMap<String, usize>,
    fetching_state: HashSet<(PackageId, String)>,
    timers: TimerTable<SubTimer>,
    actions: VecDeque<Action>,
    tokens: Tokens,
    next_key: u64,
}

const PRESENCE: PackageId = 0;

impl PresenceServer {
    /// A server with the `presence` (lists included) and `message-summary` packages. `seed`
    /// feeds the generator of tags, branches and entity-tags: pass something random in
    /// production, a constant in tests.
    pub fn new(cfg: PresenceConfig, seed: u64) -> Self {
        let publications = Publications::new(&cfg.domain, seed);
        Self {
            cfg,
            packages: vec![Box::new(PresencePackage), Box::new(MessageSummaryPackage)],
            publications,
            summaries: HashMap::new(),
            subs: HashMap::new(),
            dialogs: HashMap::new(),
            watchers: HashMap::new(),
            per_watcher: HashMap::new(),
            fetching_state: HashSet::new(),
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            tokens: Tokens::new(seed),
            next_key: 0,
        }
    }

    /// Adds an event package. A package of a name already served replaces nothing: the first
    /// one registered wins.
    pub fn add_package(&mut self, package: Box<dyn EventPackage>) {
        self.packages.push(package);
    }

    pub fn config(&self) -> &PresenceConfig {
        &self.cfg
    }

    pub fn publications(&self) -> &Publications {
        &self.publications
    }

    /// Live subscriptions (all packages).
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Whether a subscription is alive.
    pub fn is_subscribed(&self, key: SubscriptionKey) -> bool {
        self.subs.contains_key(&key)
    }

    /// Subscriptions whose NOTIFYs carry `login`'s state for `event`.
    pub fn watcher_count(&self, event: &str, login: &str) -> usize {
        self.package_id(event)
            .and_then(|p| self.watchers.get(&(p, login.to_owned())))
            .map_or(0, BTreeSet::len)
    }

    /// The next action for the driver, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next (ms, same clock as `now`).
    pub fn poll_timeout(&self) -> Option<u64> {
        match (
            self.timers.next_deadline(),
            self.publications.next_deadline(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn package_id(&self, event: &str) -> Option<PackageId> {
        self.packages
            .iter()
            .position(|p| p.name().eq_ignore_ascii_case(event))
    }

    // ----- PUBLISH ------------------------------------------------------------------------

    /// Handles a PUBLISH from `login` (authenticated by the driver).
    pub fn handle_publish(&mut self, now: u64, login: &str, req: &Message, from: Peer) -> Reply {
        let _span = debug_span!("publish", login, call_id = req.call_id().unwrap_or("")).entered();
        let out = self
            .publications
            .handle_publish(now, &self.cfg, login, req, from);
        debug!(
            status = out.status,
            changed = out.changed,
            "PUBLISH handled"
        );
        self.actions
            .extend(out.persist.into_iter().map(Action::Persist));
        if out.changed {
            self.resource_changed(now, PRESENCE, login);
        }
        Reply {
            response: out.response,
            status: out.status,
            subscription: None,
        }
    }

    /// Loads the stored publications after a start. Rows already expired come back as
    /// [`Persist::Remove`] actions.
    pub fn restore(&mut self, now: u64, rows: Vec<PublicationRow>) {
        let mut persist = Vec::new();
        let changed = self.publications.restore(now, rows, &mut persist);
        self.actions
            .extend(persist.into_iter().map(Action::Persist));
        for login in changed {
            self.resource_changed(now, PRESENCE, &login);
        }
    }

    // ----- driver-supplied state --------------------------------------------------------

    /// The answer to [`Action::FetchBuddies`] (empty when the hook failed). Unknown or ended
    /// subscriptions are ignored.
    pub fn buddies_fetched(&mut self, now: u64, key: SubscriptionKey, buddies: Vec<Buddy>) {
        let max = self.cfg.max_list_size;
        let domain = self.cfg.domain.clone();
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        let pkg = sub.package;
        let Target::List {
            members, fetching, ..
        } = &mut sub.target
        else {
            return;
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut next: Vec<Member> = Vec::with_capacity(buddies.len().min(max));
        let mut instances: HashSet<String> = HashSet::new();
        for b in buddies {
            if b.login.is_empty() {
                continue;
            }
            if let Some(&i) = seen.get(&b.login) {
                next[i].push |= b.push_supported;
                continue;
            }
            if next.len() == max {
                warn!(watcher = %sub.watcher, max, "buddy list too long; the rest is dropped");
                break;
            }
            let mut instance = format!("{:016x}", fnv64(&b.login));
            let mut n = 1;
            while instances.contains(&instance) {
                instance = format!("{:016x}-{n}", fnv64(&b.login));
                n += 1;
            }
            instances.insert(instance.clone());
            seen.insert(b.login.clone(), next.len());
            next.push(Member {
                uri: login_uri(&b.login, &domain),
                login: b.login,
                push: b.push_supported,
                instance,
            });
        }
        debug!(%key, watcher = %sub.watcher, buddies = next.len(), "buddy list arrived");
        let old = std::mem::replace(members, next);
        *fetching = false;
        sub.ready = true;
        sub.pending = Pending::Full;
        let new_logins: Vec<String> = members.iter().map(|m| m.login.clone()).collect();
        for m in old {
            if !new_logins.contains(&m.login) {
                self.unwatch(pkg, &m.login, key);
            }
        }
        for l in new_logins {
            self.watchers.entry((pkg, l)).or_default().insert(key);
        }
        self.kick(now, key);
    }

    /// Sets `login`'s voicemail counts: the answer to [`Action::FetchState`] for
    /// `message-summary`, or a change the driver learnt of. Watchers are notified when the
    /// counts changed. Counts of logins nobody watches are not kept.
    pub fn set_message_summary(&mut self, now: u64, login: &str, summary: MessageSummary) {
        let Some(pkg) = self.package_id("message-summary") else {
            return;
        };
        let k = (pkg, login.to_owned());
        self.fetching_state.remove(&k);
        if !self.watchers.contains_key(&k) {
            return;
        }
        let changed = self.summaries.insert(login.to_owned(), summary) != Some(summary);
        self.state_arrived(now, pkg, login, changed);
    }

    /// Tells the core that the state `package` renders for `login` changed outside it (for
    /// packages added with [`Self::add_package`]).
    pub fn state_changed(&mut self, now: u64, package: &str, login: &str) {
        if let Some(pkg) = self.package_id(package) {
            self.fetching_state.remove(&(pkg, login.to_owned()));
            self.state_arrived(now, pkg, login, true);
        }
    }

    fn state_arrived(&mut self, now: u64, pkg: PackageId, login: &str, changed: bool) {
        let keys: Vec<SubscriptionKey> = self
            .watchers
            .get(&(pkg, login.to_owned()))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for key in keys {
            if let Some(sub) = self.subs.get_mut(&key) {
                if let Target::Single { .. } = sub.target {
                    if !sub.ready {
                        sub.ready = true;
                        sub.pending = Pending::Full;
                    } else if changed {
                        sub.pending = Pending::Full;
                    }
                } else if changed {
                    sub.pending.add(login);
                }
            }
            self.kick(now, key);
        }
    }

    /// `login`'s state for `pkg` changed: every watcher gets a NOTIFY (or one is queued behind
    /// the NOTIFY in flight).
    fn resource_changed(&mut self, now: u64, pkg: PackageId, login: &str) {
        self.state_arrived(now, pkg, login, true);
    }

    // ----- SUBSCRIBE ----------------------------------------------------------------------

    /// Handles a SUBSCRIBE from `login` (authenticated by the driver): a new subscription, a
    /// refresh, or an unsubscribe.
    pub fn handle_subscribe(
        &mut self,
        now: u64,
        login: &str,
        req: &Message,
        origin: &Origin,
    ) -> Reply {
        let _span =
            debug_span!("subscribe", login, call_id = req.call_id().unwrap_or("")).entered();
        let reply = match req.to_header() {
            Err(_) => fail(req, 400, "bad To", origin),
            Ok(to) => match to.tag() {
                Some(tag) => {
                    let tag = tag.to_owned();
                    self.in_dialog(now, login, req, origin, &tag)
                }
                None => self.new_subscription(now, login, req, origin),
            },
        };
        debug!(status = reply.status, subscription = ?reply.subscription, "SUBSCRIBE handled");
        reply
    }

    fn new_subscription(&mut self, now: u64, login: &str, req: &Message, origin: &Origin) -> Reply {
        let Some(event) = req.event() else {
            return fail(req, 400, "missing Event", origin);
        };
        let Some(pkg) = self.package_id(event) else {
            let mut b = reply::response(req, 489, Some(&req.stable_tag()), origin.peer.remote);
            b.header("Allow-Events", self.allow_events());
            return Reply {
                response: reply::finish(b, 489),
                status: 489,
                subscription: None,
            };
        };
        if let Some(r) = unsupported_require(req, origin) {
            return r;
        }
        let Ok(uri) = req.request_uri() else {
            return fail(req, 400, "bad Request-URI", origin);
        };
        let Some(resource) = uri
            .user_unescaped()
            .and_then(|u| String::from_utf8(u.into_owned()).ok())
            .filter(|u| !u.is_empty())
        else {
            return fail(req, 404, "no user in Request-URI", origin);
        };
        let Ok(expires) = req.expires() else {
            return fail(req, 400, "malformed Expires", origin);
        };
        let package = &self.packages[pkg];
        if package.own_resource_only() && resource != login {
            return fail(req, 403, "you may subscribe only to your own", origin);
        }
        let secs = expires.unwrap_or_else(|| package.default_expires());
        if secs != 0 && secs < self.cfg.min_expires {
            return interval_too_brief(req, self.cfg.min_expires, origin);
        }
        let secs = secs.min(self.cfg.max_expires);

        let accept: Vec<&str> = req.header_list(&HeaderName::Accept).collect();
        let allows = |ty: &str| accept.is_empty() || accept.iter().any(|r| range_allows(r, ty));
        let list = package.supports_lists()
            && resource == login
            && (req.has_option_tag(&HeaderName::Supported, "eventlist")
                || req.has_option_tag(&HeaderName::Require, "eventlist"))
            && allows("multipart/related");
        if !list && !package.content_types().iter().any(|t| allows(t)) {
            let mut b = reply::response(req, 406, Some(&req.stable_tag()), origin.peer.remote);
            b.header("Accept", package.content_types().join(", "));
            return Reply {
                response: reply::finish(b, 406),
                status: 406,
                subscription: None,
            };
        }
        let remote_target = match req.contacts() {
            Ok(Some(ContactList::Contacts(c))) if !c.is_empty() => c[0].0.uri.as_str().to_owned(),
            _ => return fail(req, 400, "SUBSCRIBE needs a Contact", origin),
        };
        let Ok(from) = req.from_header() else {
            return fail(req, 400, "bad From", origin);
        };
        let Some(remote_tag) = from.tag().map(str::to_owned) else {
            return fail(req, 400, "From has no tag", origin);
        };
        let Ok(cseq) = req.cseq() else {
            return fail(req, 400, "bad CSeq", origin);
        };
        let (Some(call_id), Some(to_raw), Some(from_raw)) = (
            req.call_id(),
            req.header(&HeaderName::To),
            req.header(&HeaderName::From),
        ) else {
            return fail(req, 400, "missing Call-ID", origin);
        };
        if self.per_watcher.get(login).copied().unwrap_or(0) >= self.cfg.max_subscriptions_per_login
        {
            return fail(req, 403, "too many subscriptions", origin);
        }

        self.next_key += 1;
        let key = SubscriptionKey(self.next_key);
        let local_tag = self.tokens.hex();
        let dialog = Dialog {
            call_id: call_id.to_owned(),
            local_tag: local_tag.clone(),
            local_party: to_raw.to_owned(),
            remote_party: from_raw.to_owned(),
            remote_tag,
            remote_target,
            route_set: req
                .header_list(&HeaderName::RecordRoute)
                .map(str::to_owned)
                .collect(),
            local_cseq: 0,
            remote_cseq: cseq.seq,
        };
        let poll = secs == 0;
        let expires_at = if poll {
            now + self.cfg.notify_guard_ms
        } else {
            now + u64::from(secs) * 1000
        };
        let target = if list {
            Target::List {
                uri: req.request_uri_str().unwrap_or_default().to_owned(),
                members: Vec::new(),
                version: 0,
                fetching: true,
            }
        } else {
            Target::Single {
                uri: login_uri(&resource, &self.cfg.domain),
                login: resource.clone(),
            }
        };
        let state = State {
            publications: &self.publications,
            summaries: &self.summaries,
        };
        let ready = !list && package.has_state(&resource, &state);
        let sub = Subscription {
            watcher: login.to_owned(),
            package: pkg,
            event_id: event_param_id(req),
            target,
            dialog,
            origin: origin.clone(),
            expires_at,
            expiry: self.timers.insert(expires_at, SubTimer::Expiry(key)),
            in_flight: None,
            pending: if ready {
                Pending::Full
            } else {
                Pending::Nothing
            },
            force_full: false,
            ready,
            poll,
        };
        self.dialogs
            .insert((call_id.to_owned(), local_tag.clone()), key);
        *self.per_watcher.entry(login.to_owned()).or_default() += 1;
        if !list {
            self.watchers
                .entry((pkg, resource.clone()))
                .or_default()
                .insert(key);
        }
        self.subs.insert(key, sub);
        debug!(%key, event = self.packages[pkg].name(), resource = %resource, list, secs, "subscription created");

        let mut b = reply::response(req, 200, Some(&local_tag), origin.peer.remote);
        b.header("Expires", secs).header("Contact", &origin.contact);
        if list {
            b.header("Require", "eventlist");
        }
        let response = reply::finish(b, 200);

        if list {
            self.actions.push_back(Action::FetchBuddies {
                subscription: key,
                login: login.to_owned(),
            });
        } else if !ready && self.fetching_state.insert((pkg, resource.clone())) {
            self.actions.push_back(Action::FetchState {
                package: self.packages[pkg].name(),
                login: resource,
            });
        }
        self.kick(now, key);
        Reply {
            response,
            status: 200,
            subscription: Some(key),
        }
    }

    fn in_dialog(
        &mut self,
        now: u64,
        login: &str,
        req: &Message,
        origin: &Origin,
        to_tag: &str,
    ) -> Reply {
        let no_such = |req: &Message| Reply {
            response: reply::simple(req, 481, None, origin.peer.remote, None),
            status: 481,
            subscription: None,
        };
        let Some(call_id) = req.call_id() else {
            return no_such(req);
        };
        let Some(&key) = self.dialogs.get(&(call_id.to_owned(), to_tag.to_owned())) else {
            return no_such(req);
        };
        let from_tag = req
            .from_header()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned));
        let event = req.event().map(str::to_owned);
        let event_id = event_param_id(req);
        let Some(sub) = self.subs.get(&key) else {
            return no_such(req);
        };
        let package = &self.packages[sub.package];
        if from_tag.as_deref() != Some(sub.dialog.remote_tag.as_str())
            || !event
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(package.name()))
            || event_id != sub.event_id
        {
            return no_such(req);
        }
        if sub.watcher != login {
            return fail_in_dialog(req, 403, "not your subscription", origin);
        }
        let Ok(cseq) = req.cseq() else {
            return fail_in_dialog(req, 400, "bad CSeq", origin);
        };
        if cseq.seq <= sub.dialog.remote_cseq {
            return fail_in_dialog(req, 500, "CSeq out of order", origin);
        }
        let Ok(expires) = req.expires() else {
            return fail_in_dialog(req, 400, "malformed Expires", origin);
        };
        let secs = expires.unwrap_or_else(|| package.default_expires());
        if secs != 0 && secs < self.cfg.min_expires {
            return interval_too_brief(req, self.cfg.min_expires, origin);
        }
        let secs = secs.min(self.cfg.max_expires);
        let contact = match req.contacts() {
            Ok(Some(ContactList::Contacts(c))) if !c.is_empty() => {
                Some(c[0].0.uri.as_str().to_owned())
            }
            _ => None,
        };

        let Some(sub) = self.subs.get_mut(&key) else {
            return no_such(req);
        };
        sub.dialog.remote_cseq = cseq.seq;
        if let Some(c) = contact {
            sub.dialog.remote_target = c;
        }
        sub.origin = origin.clone();

        let mut b = reply::response(req, 200, None, origin.peer.remote);
        b.header("Expires", secs).header("Contact", &origin.contact);
        if matches!(sub.target, Target::List { .. }) {
            b.header("Require", "eventlist");
        }
        let response = reply::finish(b, 200);
        if secs == 0 {
            debug!(%key, "unsubscribed");
            // RFC 6665 §4.2.2 reasons describe why the notifier ended a subscription; the
            // subscriber ended this one, so the final NOTIFY gives none
            self.terminate(now, key, None);
        } else {
            sub.expires_at = now + u64::from(secs) * 1000;
            self.timers.remove(sub.expiry);
            sub.expiry = self.timers.insert(sub.expires_at, SubTimer::Expiry(key));
            debug!(%key, secs, "subscription refreshed");
            match &mut sub.target {
                Target::List { fetching, .. } => {
                    // the operator's list may have changed: fetch it again, then full state
                    if !*fetching {
                        *fetching = true;
                        self.actions.push_back(Action::FetchBuddies {
                            subscription: key,
                            login: login.to_owned(),
                        });
                    }
                }
                Target::Single { .. } => {
                    if sub.ready {
                        sub.pending = Pending::Full;
                    }
                    self.kick(now, key);
                }
            }
        }
        Reply {
            response,
            status: 200,
            subscription: Some(key),
        }
    }

    fn allow_events(&self) -> String {
        self.packages
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    // ----- NOTIFY -------------------------------------------------------------------------

    /// Sends the pending NOTIFY of a subscription, unless one is in flight (at most one per
    /// subscription: changes meanwhile are coalesced into the next).
    fn kick(&mut self, now: u64, key: SubscriptionKey) {
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        if sub.in_flight.is_some() || !sub.ready || matches!(sub.pending, Pending::Nothing) {
            return;
        }
        let mut pending = std::mem::take(&mut sub.pending);
        if sub.force_full {
            pending = Pending::Full;
            sub.force_full = false;
        }
        let package = &*self.packages[sub.package];
        let state = State {
            publications: &self.publications,
            summaries: &self.summaries,
        };
        let (content_type, body): (String, Bytes) = match &mut sub.target {
            Target::Single { login, uri } => {
                let Body {
                    content_type,
                    bytes,
                } = package.full_state(
                    &Resource {
                        login,
                        uri,
                        push_supported: false,
                    },
                    &state,
                );
                (content_type.to_owned(), bytes)
            }
            Target::List {
                uri,
                members,
                version,
                ..
            } => {
                let full = matches!(pending, Pending::Full);
                let parts: Vec<Part<'_>> = members
                    .iter()
                    .filter(|m| match &pending {
                        Pending::Partial(set) => set.contains(&m.login),
                        _ => true,
                    })
                    .map(|m| {
                        let r = Resource {
                            login: &m.login,
                            uri: &m.uri,
                            push_supported: m.push,
                        };
                        Part {
                            uri: &m.uri,
                            instance: &m.instance,
                            body: if full {
                                package.full_state(&r, &state)
                            } else {
                                package.partial_state(&r, &state)
                            },
                        }
                    })
                    .collect();
                if !full && parts.is_empty() {
                    return;
                }
                let (ct, body) = rlmi::build(uri, *version, full, &parts, &mut self.tokens);
                *version += 1;
                (ct, body)
            }
        };
        let terminated = sub.poll;
        let state_header = if terminated {
            // RFC 6665 §4.4.3: a fetch ends with its one NOTIFY, reason "timeout"
            "terminated;reason=timeout".to_owned()
        } else {
            format!(
                "active;expires={}",
                sub.expires_at.saturating_sub(now).div_ceil(1000)
            )
        };
        let notify = build_notify(
            sub,
            package.name(),
            &state_header,
            Some((&content_type, &body)),
            key,
            terminated,
            &mut self.tokens,
        );
        if terminated {
            self.actions.push_back(Action::Notify(notify));
            self.remove(key);
        } else {
            let guard = self.timers.insert(
                now + self.cfg.notify_guard_ms,
                SubTimer::Guard(key, notify.key.cseq),
            );
            sub.in_flight = Some((notify.key.cseq, guard));
            self.actions.push_back(Action::Notify(notify));
        }
    }

    /// Ends a subscription with a bodiless `terminated` NOTIFY.
    fn terminate(&mut self, _now: u64, key: SubscriptionKey, reason: Option<&str>) {
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        let state = match reason {
            Some(r) => format!("terminated;reason={r}"),
            None => "terminated".to_owned(),
        };
        let name = self.packages[sub.package].name();
        let notify = build_notify(sub, name, &state, None, key, true, &mut self.tokens);
        self.actions.push_back(Action::Notify(notify));
        self.remove(key);
    }

    fn unwatch(&mut self, pkg: PackageId, login: &str, key: SubscriptionKey) {
        let k = (pkg, login.to_owned());
        if let Some(set) = self.watchers.get_mut(&k) {
            set.remove(&key);
            if set.is_empty() {
                self.watchers.remove(&k);
                if self.packages[pkg].name() == "message-summary" {
                    self.summaries.remove(login);
                }
            }
        }
    }

    fn remove(&mut self, key: SubscriptionKey) {
        let Some(sub) = self.subs.remove(&key) else {
            return;
        };
        self.timers.remove(sub.expiry);
        if let Some((_, guard)) = sub.in_flight {
            self.timers.remove(guard);
        }
        self.dialogs
            .remove(&(sub.dialog.call_id.clone(), sub.dialog.local_tag.clone()));
        if let Some(n) = self.per_watcher.get_mut(&sub.watcher) {
            *n -= 1;
            if *n == 0 {
                self.per_watcher.remove(&sub.watcher);
            }
        }
        match &sub.target {
            Target::Single { login, .. } => self.unwatch(sub.package, login, key),
            Target::List { members, .. } => {
                for m in members {
                    self.unwatch(sub.package, &m.login, key);
                }
            }
        }
    }

    /// The final response (or its absence) of a NOTIFY: `status` is the response code, or 408
    /// when the transaction timed out (Timer F) or the transport failed. 481 and 408 end the
    /// subscription (RFC 6665 §4.2.2); another failure keeps it and makes the next NOTIFY
    /// carry full state. Provisional responses and stale keys are ignored.
    pub fn handle_notify_response(&mut self, now: u64, key: NotifyKey, status: u16) {
        if status < 200 {
            return;
        }
        let Some(sub) = self.subs.get_mut(&key.subscription) else {
            return;
        };
        match sub.in_flight {
            Some((cseq, guard)) if cseq == key.cseq => {
                self.timers.remove(guard);
                sub.in_flight = None;
            }
            _ => return,
        }
        match status {
            200..=299 => {}
            408 | 481 => {
                debug!(subscription = %key.subscription, watcher = %sub.watcher, status, "NOTIFY failed: subscription removed");
                self.remove(key.subscription);
                return;
            }
            _ => {
                debug!(subscription = %key.subscription, watcher = %sub.watcher, status, "NOTIFY refused: next one carries full state");
                sub.force_full = true;
            }
        }
        self.kick(now, key.subscription);
    }

    // ----- time ---------------------------------------------------------------------------

    /// Expires subscriptions (NOTIFY `terminated;reason=timeout`) and publications (watchers
    /// notified, [`Persist::Remove`]), and gives up on NOTIFYs unanswered for
    /// `notify_guard_ms` (as on a 408).
    pub fn handle_timeout(&mut self, now: u64) {
        let mut persist = Vec::new();
        let changed = self.publications.handle_timeout(now, &mut persist);
        self.actions
            .extend(persist.into_iter().map(Action::Persist));
        for login in changed {
            self.resource_changed(now, PRESENCE, &login);
        }
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                SubTimer::Expiry(key) => {
                    debug!(%key, "subscription expired");
                    self.terminate(now, key, Some("timeout"));
                }
                SubTimer::Guard(key, cseq) => {
                    if self
                        .subs
                        .get(&key)
                        .is_some_and(|s| s.in_flight.map(|f| f.0) == Some(cseq))
                    {
                        warn!(%key, cseq, "NOTIFY never answered: subscription removed");
                        self.remove(key);
                    }
                }
            }
        }
    }
}

/// Builds a NOTIFY in the subscription's dialog (next local CSeq).
fn build_notify(
    sub: &mut Subscription,
    event: &str,
    subscription_state: &str,
    body: Option<(&str, &[u8])>,
    key: SubscriptionKey,
    terminated: bool,
    tokens: &mut Tokens,
) -> Notify {
    let d = &mut sub.dialog;
    d.local_cseq += 1;
    let mut b = MessageBuilder::request(&Method::Notify, &d.remote_target);
    b.header(
        "Via",
        format_args!(
            "SIP/2.0/{} {};branch={};rport",
            sub.origin.peer.transport.via_name(),
            sub.origin.sent_by,
            tokens.branch()
        ),
    );
    b.header("Max-Forwards", 70);
    for r in &d.route_set {
        b.header("Route", r);
    }
    b.header(
        "From",
        format_args!("{};tag={}", d.local_party, d.local_tag),
    )
    .header("To", &d.remote_party)
    .header("Call-ID", &d.call_id)
    .header("CSeq", format_args!("{} NOTIFY", d.local_cseq))
    .header("Contact", &sub.origin.contact);
    match &sub.event_id {
        Some(id) => b.header("Event", format_args!("{event};id={id}")),
        None => b.header("Event", event),
    };
    b.header("Subscription-State", subscription_state);
    if matches!(sub.target, Target::List { .. }) {
        b.header("Require", "eventlist");
    }
    b.header("User-Agent", reply::SERVER);
    let request = match body {
        Some((ct, bytes)) => b.finish_with_body(ct, bytes),
        None => b.finish(),
    };
    Notify {
        key: NotifyKey {
            subscription: key,
            cseq: d.local_cseq,
        },
        to: sub.origin.peer,
        request,
        terminated,
        watcher: sub.watcher.clone(),
    }
}

fn fail(req: &Message, code: u16, warning: &str, origin: &Origin) -> Reply {
    Reply {
        response: reply::simple(
            req,
            code,
            Some(&req.stable_tag()),
            origin.peer.remote,
            Some(warning),
        ),
        status: code,
        subscription: None,
    }
}

fn fail_in_dialog(req: &Message, code: u16, warning: &str, origin: &Origin) -> Reply {
    Reply {
        response: reply::simple(req, code, None, origin.peer.remote, Some(warning)),
        status: code,
        subscription: None,
    }
}

fn interval_too_brief(req: &Message, min: u32, origin: &Origin) -> Reply {
    let tag = req
        .to_header()
        .ok()
        .and_then(|t| t.tag().map(str::to_owned));
    let tag = if tag.is_some() {
        None
    } else {
        Some(req.stable_tag())
    };
    let mut b = reply::response(req, 423, tag.as_deref(), origin.peer.remote);
    b.header("Min-Expires", min);
    Reply {
        response: reply::finish(b, 423),
        status: 423,
        subscription: None,
    }
}

/// 420 for a `Require` option tag other than `eventlist`.
fn unsupported_require(req: &Message, origin: &Origin) -> Option<Reply> {
    let bad: Vec<&str> = req
        .header_list(&HeaderName::Require)
        .filter(|t| !t.eq_ignore_ascii_case("eventlist"))
        .collect();
    if bad.is_empty() {
        return None;
    }
    let mut b = reply::response(req, 420, Some(&req.stable_tag()), origin.peer.remote);
    b.header("Unsupported", bad.join(", "));
    Some(Reply {
        response: reply::finish(b, 420),
        status: 420,
        subscription: None,
    })
}

/// The `id` parameter of the Event header (RFC 6665 §8.2.1), echoed in NOTIFYs.
fn event_param_id(req: &Message) -> Option<String> {
    req.header(&HeaderName::Event)?
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("id"))
        .map(|(_, v)| v.trim().to_owned())
}
