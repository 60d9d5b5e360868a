//! [`PresenceServer`]: the subscription framework (RFC 6665 notifier, RFC 4662 list server)
//! around the publication store, driven by the server's event loop.

mod notify;
mod subscribe;

use notify::build_notify;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::{ContactList, HeaderName, Message, MessageBuilder, Method, Peer};
use sip_transaction::{ClientKey, Outbox, ServerKey};
use tracing::{debug, debug_span, warn};

use crate::config::PresenceConfig;
use crate::ids::{fnv64, Tokens};
use crate::mwi::{MessageDetail, MessageSummary};
use crate::package::{Body, EventPackage, MessageSummaryPackage, PresencePackage, Resource, State};
use crate::publish::{Persist, PublicationRow, Publications};
use crate::reply::{self, range_allows};
use crate::rlmi::{self, Part};
use crate::timer::{TimerId, TimerTable};
use crate::uri_list::{self, RequestedResource};
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

/// Names one NOTIFY: its subscription and CSeq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NotifyKey {
    pub(crate) subscription: SubscriptionKey,
    pub(crate) cseq: u32,
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

/// The answer to a SUBSCRIBE or PUBLISH, before it goes through the [`Outbox`].
#[must_use]
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) response: Bytes,
    pub(crate) status: u16,
    /// The subscription this SUBSCRIBE created or refreshed.
    pub(crate) subscription: Option<SubscriptionKey>,
}

/// A NOTIFY built and not yet handed to the [`Outbox`]: every input that takes one sends
/// them all before it returns.
#[derive(Debug, Clone)]
pub(crate) struct Notify {
    pub(crate) key: NotifyKey,
    /// The flow of the last SUBSCRIBE of the subscription.
    pub(crate) to: Peer,
    /// The whole request, top Via with a fresh branch, built once as a message: handed to a
    /// new non-INVITE client transaction as it is.
    pub(crate) request: Message,
    /// The watcher's login (for logs).
    pub(crate) watcher: String,
}

/// What the driver must do besides SIP, from [`PresenceServer::poll_action`].
#[must_use]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
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
        /// The resources the subscriber named in its URI list (RFC 5367), `None` for a
        /// subscription to its own list URI: the members are those of them that the
        /// operator's buddy list has.
        requested: Option<Vec<RequestedResource>>,
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
    expires_at: Instant,
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
    /// The new messages' details of the logins in `summaries` that the driver gave.
    details: HashMap<String, Vec<MessageDetail>>,
    subs: HashMap<SubscriptionKey, Subscription>,
    dialogs: HashMap<(String, String), SubscriptionKey>,
    /// (package, resource login) → subscriptions whose NOTIFYs carry it (single-resource
    /// subscriptions to it and list subscriptions that have it as a member).
    watchers: HashMap<(PackageId, String), BTreeSet<SubscriptionKey>>,
    per_watcher: HashMap<String, usize>,
    fetching_state: HashSet<(PackageId, String)>,
    timers: TimerTable<SubTimer>,
    actions: VecDeque<Action>,
    /// NOTIFYs built by this input, sent through its outbox before it returns.
    outgoing: VecDeque<Notify>,
    /// NOTIFY client transactions in flight (terminating NOTIFYs too: their answers are
    /// ignored).
    notifies: HashMap<ClientKey, NotifyKey>,
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
            details: HashMap::new(),
            subs: HashMap::new(),
            dialogs: HashMap::new(),
            watchers: HashMap::new(),
            per_watcher: HashMap::new(),
            fetching_state: HashSet::new(),
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            outgoing: VecDeque::new(),
            notifies: HashMap::new(),
            tokens: Tokens::new(seed),
            next_key: 0,
        }
    }

    /// Makes this server shard `index` of `count` (`sip_message::shard`): the To tags of its
    /// subscription dialogs hash back to `index`, so in-dialog SUBSCRIBEs find it.
    pub fn set_shard(&mut self, index: usize, count: usize) {
        self.tokens.set_shard(index, count);
    }

    /// Adds an event package. A package of a name already served replaces nothing: the first
    /// one registered wins.
    pub fn add_package(&mut self, package: Box<dyn EventPackage>) {
        self.packages.push(package);
    }

    pub fn config(&self) -> &PresenceConfig {
        &self.cfg
    }

    /// The host of the canonical URIs (`sip:{login}@{domain}`) of PIDF entities, RLMI and MWI
    /// from now on (the domain clients use). The documents composed earlier are composed again
    /// (their entity changes; no NOTIFY is sent for that alone).
    pub fn set_domain(&mut self, domain: &str) {
        domain.clone_into(&mut self.cfg.domain);
        self.publications.set_domain(domain);
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

    /// Whether a client transaction is one of our NOTIFYs.
    pub fn owns(&self, key: &ClientKey) -> bool {
        self.notifies.contains_key(key)
    }

    /// A response to one of our NOTIFYs: `status` is its code, 408 when the transaction
    /// timed out, 503 when the transport failed. Returns false when the key is not ours.
    /// 481 and 408 end the subscription (RFC 6665 §4.2.2; a 503 is another failure: the next
    /// NOTIFY carries full state); provisional responses are ignored.
    pub fn response(
        &mut self,
        now: Instant,
        key: ClientKey,
        status: u16,
        out: &mut dyn Outbox,
    ) -> bool {
        if status < 200 {
            return self.notifies.contains_key(&key);
        }
        let Some(notify) = self.notifies.remove(&key) else {
            return false;
        };
        self.notify_answered(now, notify, status);
        self.send_notifies(now, out);
        true
    }

    /// Hands the NOTIFYs built so far to new client transactions, in order. One the layer
    /// refuses is answered as a 408 (its subscription ends).
    fn send_notifies(&mut self, now: Instant, out: &mut dyn Outbox) {
        while let Some(n) = self.outgoing.pop_front() {
            match out.send_request(n.request, n.to) {
                Some(k) => {
                    self.notifies.insert(k, n.key);
                }
                None => {
                    warn!(watcher = %n.watcher, peer = %n.to, "NOTIFY not sent");
                    self.notify_answered(now, n.key, 408);
                }
            }
        }
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
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

    /// Handles a PUBLISH from `login` (authenticated by the driver), received on the server
    /// transaction `key`: answers it through `out`, then sends the NOTIFYs of the change.
    pub fn handle_publish(
        &mut self,
        now: Instant,
        key: ServerKey,
        login: &str,
        req: &Message,
        from: Peer,
        out: &mut dyn Outbox,
    ) {
        let reply = self.publish(now, login, req, from);
        out.respond(&key, reply.response);
        self.send_notifies(now, out);
    }

    fn publish(&mut self, now: Instant, login: &str, req: &Message, from: Peer) -> Reply {
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

    /// Loads the stored publications after a start, before any subscription (so it sends
    /// nothing; a NOTIFY it built would go out with the next input). Rows already expired
    /// come back as [`Persist::Remove`] actions.
    pub fn restore(&mut self, now: Instant, rows: Vec<PublicationRow>) {
        let mut persist = Vec::new();
        let changed = self.publications.restore(now, rows, &mut persist);
        self.actions
            .extend(persist.into_iter().map(Action::Persist));
        for login in changed {
            self.resource_changed(now, PRESENCE, &login);
        }
    }

    /// Publications another node of a cluster holds: `rows` are inserted (or replace the
    /// same entity-tags) and `gone` entity-tags withdrawn, like [`Self::restore`] but never
    /// written back ([`Action::Persist`] only for rows that expired on the way); watchers
    /// of the presentities that changed are notified.
    pub fn remote_publications(
        &mut self,
        now: Instant,
        rows: Vec<PublicationRow>,
        gone: &[String],
        out: &mut dyn Outbox,
    ) {
        let mut changed: Vec<String> = gone
            .iter()
            .filter_map(|etag| self.publications.withdraw(etag))
            .collect();
        let mut persist = Vec::new();
        changed.extend(self.publications.restore(now, rows, &mut persist));
        changed.dedup();
        for login in changed {
            self.resource_changed(now, PRESENCE, &login);
        }
        self.send_notifies(now, out);
    }

    // ----- driver-supplied state --------------------------------------------------------

    /// The answer to [`Action::FetchBuddies`] (empty when the hook failed). Unknown or ended
    /// subscriptions are ignored. For a URI-list subscription (RFC 5367) the members are the
    /// named resources that the buddy list has, in the subscriber's order, under the URIs it
    /// wrote; the others are left out.
    pub fn buddies_fetched(
        &mut self,
        now: Instant,
        key: SubscriptionKey,
        buddies: Vec<Buddy>,
        out: &mut dyn Outbox,
    ) {
        self.set_buddies(now, key, buddies);
        self.send_notifies(now, out);
    }

    fn set_buddies(&mut self, now: Instant, key: SubscriptionKey, buddies: Vec<Buddy>) {
        let max = self.cfg.max_list_size;
        let domain = self.cfg.domain.clone();
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        let pkg = sub.package;
        let Target::List {
            members,
            fetching,
            requested,
            ..
        } = &mut sub.target
        else {
            return;
        };
        // (login, uri, push) in list order
        let wanted: Vec<(String, String, bool)> = match requested {
            None => buddies
                .into_iter()
                .filter(|b| !b.login.is_empty())
                .map(|b| {
                    let uri = login_uri(&b.login, &domain);
                    (b.login, uri, b.push_supported)
                })
                .collect(),
            Some(named) => {
                let mut push: HashMap<String, bool> = HashMap::new();
                for b in buddies {
                    *push.entry(b.login).or_default() |= b.push_supported;
                }
                let kept: Vec<(String, String, bool)> = named
                    .iter()
                    .filter_map(|r| {
                        push.get(&r.login)
                            .map(|&p| (r.login.clone(), r.uri.clone(), p))
                    })
                    .collect();
                if kept.len() < named.len() {
                    debug!(%key, watcher = %sub.watcher, named = named.len(), kept = kept.len(),
                        "URI list: resources not in the buddy list left out");
                }
                kept
            }
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut next: Vec<Member> = Vec::with_capacity(wanted.len().min(max));
        let mut instances: HashSet<String> = HashSet::new();
        for (login, uri, push) in wanted {
            if let Some(&i) = seen.get(&uri) {
                next[i].push |= push;
                continue;
            }
            if next.len() == max {
                warn!(watcher = %sub.watcher, max, "buddy list too long; the rest is dropped");
                break;
            }
            let mut instance = format!("{:016x}", fnv64(&uri));
            let mut n = 1;
            while instances.contains(&instance) {
                instance = format!("{:016x}-{n}", fnv64(&uri));
                n += 1;
            }
            instances.insert(instance.clone());
            seen.insert(uri.clone(), next.len());
            next.push(Member {
                uri,
                login,
                push,
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
    pub fn set_message_summary(
        &mut self,
        now: Instant,
        login: &str,
        summary: MessageSummary,
        out: &mut dyn Outbox,
    ) {
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
        self.send_notifies(now, out);
    }

    /// [`Self::set_message_summary`] with the details of the new messages, rendered after the
    /// counts (RFC 3842 §5.2 message-context headers). Watchers are notified at once when the
    /// counts or the details changed.
    pub fn set_message_summary_with_details(
        &mut self,
        now: Instant,
        login: &str,
        summary: MessageSummary,
        details: Vec<MessageDetail>,
        out: &mut dyn Outbox,
    ) {
        let Some(pkg) = self.package_id("message-summary") else {
            return;
        };
        let k = (pkg, login.to_owned());
        self.fetching_state.remove(&k);
        if !self.watchers.contains_key(&k) {
            return;
        }
        let mut changed = self.summaries.insert(login.to_owned(), summary) != Some(summary);
        if self.details.get(login) != Some(&details) {
            changed = true;
            self.details.insert(login.to_owned(), details);
        }
        self.state_arrived(now, pkg, login, changed);
        self.send_notifies(now, out);
    }

    /// Tells the core that the state `package` renders for `login` changed outside it (for
    /// packages added with [`Self::add_package`]).
    pub fn state_changed(
        &mut self,
        now: Instant,
        package: &str,
        login: &str,
        out: &mut dyn Outbox,
    ) {
        if let Some(pkg) = self.package_id(package) {
            self.fetching_state.remove(&(pkg, login.to_owned()));
            self.state_arrived(now, pkg, login, true);
        }
        self.send_notifies(now, out);
    }

    fn state_arrived(&mut self, now: Instant, pkg: PackageId, login: &str, changed: bool) {
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
    fn resource_changed(&mut self, now: Instant, pkg: PackageId, login: &str) {
        self.state_arrived(now, pkg, login, true);
    }

    // ----- SUBSCRIBE ----------------------------------------------------------------------

    fn allow_events(&self) -> String {
        self.packages
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    // ----- NOTIFY -------------------------------------------------------------------------

    /// Ends a subscription with a bodiless `terminated` NOTIFY.
    fn terminate(&mut self, _now: Instant, key: SubscriptionKey, reason: Option<&str>) {
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        let state = match reason {
            Some(r) => format!("terminated;reason={r}"),
            None => "terminated".to_owned(),
        };
        let name = notify::notify_event(sub, self.packages[sub.package].name());
        if let Some(notify) = build_notify(sub, name, &state, None, key, &mut self.tokens) {
            self.outgoing.push_back(notify);
        }
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
                    self.details.remove(login);
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

    // ----- time ---------------------------------------------------------------------------

    /// Expires subscriptions (NOTIFY `terminated;reason=timeout`) and publications (watchers
    /// notified, [`Persist::Remove`]), and gives up on NOTIFYs unanswered for
    /// `notify_guard_ms` (as on a 408).
    pub fn handle_timeout(&mut self, now: Instant, out: &mut dyn Outbox) {
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
        self.send_notifies(now, out);
    }
}
