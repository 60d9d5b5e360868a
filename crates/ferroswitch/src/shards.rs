//! Core shards (docs/architecture.md "Core shards"): N dispatchers, each with its own transaction
//! layer, registrar core, calls, presence and messaging, each reading its own `SO_REUSEPORT`
//! UDP sockets. A message belongs to the shard [`sip_message::shard::owner`] names; this module
//! carries messages and inputs between shards:
//!
//! - [`NetTx`]: TCP/TLS/WebSocket connection tasks send each message straight to its owner, and
//!   a dispatcher hands a datagram that landed on the wrong shard to its owner (one channel hop)
//!   before parsing it, its owner found in the raw bytes ([`sip_message::shard::peek_owner`]):
//!   the owner parses it on its own core. Only a datagram the raw scan is not sure of is parsed
//!   where it landed and handed over parsed;
//! - [`fan_out`]: the inputs every shard must see (routing tables, a reload, accounts changed,
//!   shutdown) are copied to each; a relay event goes to the shard of its call;
//! - [`Siblings`]: what one shard tells the others: a presence publication changed (each shard
//!   keeps the others' as remote ones, as a cluster node does), a login that a parked call waits
//!   for has registered on its own shard ([`Awaited`]).
//!
//! Shared outright (not here): the location table, the account cache and the push tokens
//! (concurrent tables), the database writer, the media relay, the hook clients.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::dispatcher::Input;
use crate::persist::Write;
use crate::striped::Striped;
use crate::transport::Inbound;

/// How many core shards to run: `shards` from the config, else one per core. Every feature
/// runs on them: prepaid billing's one credit core is shared (`billing_io.rs`), the
/// call-control API's agent is a SIP peer of the switch like any phone, and with `[cluster]`
/// the shards share the other nodes' state ([`fan_out_cluster`]).
pub(crate) fn count(config: &ferroswitch_config::Config) -> usize {
    config
        .shards
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(1)
        })
        .max(1)
}

/// A datagram one shard read and handed to its owner unparsed: its bytes, its source, and the
/// index of the UDP listener it came in on (every shard has a socket on each, in one order).
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) data: bytes::Bytes,
    pub(crate) remote: std::net::SocketAddr,
    pub(crate) listener: usize,
}

/// The sending side of every shard's network channels: messages go to their owner.
#[derive(Clone, Debug)]
pub(crate) struct NetTx {
    shards: Arc<[mpsc::Sender<Inbound>]>,
    datagrams: Arc<[mpsc::Sender<Datagram>]>,
    diverted: Diverted,
}

/// A shard's receiving ends: messages from connections (and parsed hand-offs), and datagrams
/// handed over unparsed.
pub(crate) type ShardNet = (mpsc::Receiver<Inbound>, mpsc::Receiver<Datagram>);

/// How many messages a shard's network channels hold before a hand-off is dropped (a
/// datagram) or waits (a connection's message).
const NET_QUEUE: usize = 65_536;

impl NetTx {
    /// Every shard's channels: the senders here, the receivers in order for the shards.
    pub(crate) fn channels(shards: usize) -> (Self, Vec<ShardNet>) {
        let (mut txs, mut dtxs, mut rxs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..shards {
            let (tx, rx) = mpsc::channel(NET_QUEUE);
            let (dtx, drx) = mpsc::channel(NET_QUEUE);
            txs.push(tx);
            dtxs.push(dtx);
            rxs.push((rx, drx));
        }
        let net = Self {
            shards: txs.into(),
            datagrams: dtxs.into(),
            diverted: Diverted::default(),
        };
        (net, rxs)
    }

    /// One shard's channel for connections (tests): no datagram is ever handed with one shard.
    #[cfg(test)]
    pub(crate) fn new(shards: Vec<mpsc::Sender<Inbound>>) -> Self {
        let datagrams = shards.iter().map(|_| mpsc::channel(1).0).collect();
        Self {
            shards: shards.into(),
            datagrams,
            diverted: Diverted::default(),
        }
    }

    /// The shard that owns `msg`: [`sip_message::shard::owner`], except for the CANCEL of an
    /// INVITE that went to another shard than its Call-ID's (one with `Replaces`: it went to
    /// the replaced call), which goes where its INVITE went. Such an INVITE is noted here as
    /// it is routed (by the connection task, or by the shard that parsed the datagram).
    pub(crate) fn owner(&self, msg: &sip_message::Message) -> usize {
        let n = self.shards.len();
        if n == 1 {
            return 0;
        }
        // the key once (this runs for every message with several shards): an INVITE whose key
        // is its Call-ID (no To tag, no Replaces) is not diverted, and a CANCEL's key is its
        // Call-ID only when it has no To tag
        let key = sip_message::shard::key(msg);
        let owner = key.map_or(0, |k| sip_message::shard::index(k, n));
        let (Some(key), Some(call_id)) = (key, msg.call_id()) else {
            return owner;
        };
        let by_call_id = std::ptr::eq(key, call_id);
        match msg.method() {
            Some(sip_message::Method::Invite)
                if !by_call_id
                    && msg.to_tag().is_none()
                    && sip_message::shard::index(call_id, n) != owner =>
            {
                self.diverted
                    .note(call_id, owner, std::time::Instant::now());
                owner
            }
            Some(sip_message::Method::Cancel) if by_call_id => self
                .diverted
                .shard(call_id, std::time::Instant::now())
                .unwrap_or(owner),
            _ => owner,
        }
    }

    /// Sends a message read from a connection to the shard that owns it, waiting while that
    /// shard's queue is full (backpressure on the connection).
    pub(crate) async fn send(
        &self,
        inbound: Inbound,
    ) -> Result<(), mpsc::error::SendError<Inbound>> {
        let to = self.owner(&inbound.msg);
        self.shards[to].send(inbound).await
    }

    /// Hands a datagram this shard read, unparsed, to shard `to`; dropped (like any datagram)
    /// when that shard's queue is full.
    pub(crate) fn hand_datagram(&self, to: usize, datagram: Datagram) -> bool {
        let response = datagram.data.starts_with(b"SIP/");
        handed(to, false, response, self.datagrams[to].try_send(datagram))
    }

    /// Hands a datagram that this shard read and parsed to shard `to` (the raw scan was not
    /// sure of its owner); dropped (like any datagram) when that shard's queue is full.
    pub(crate) fn hand(&self, to: usize, inbound: Inbound) -> bool {
        let response = !inbound.msg.is_request();
        handed(to, true, response, self.shards[to].try_send(inbound))
    }
}

/// Counts a hand-off to shard `to` (of a `parsed` message or not, a `response` or not), or the
/// datagram dropped for a full queue.
fn handed<T>(
    to: usize,
    parsed: bool,
    response: bool,
    sent: Result<(), mpsc::error::TrySendError<T>>,
) -> bool {
    match sent {
        Ok(()) => {
            crate::metrics::sip::handed_off(parsed, response);
            true
        }
        Err(e) => {
            crate::metrics::sip::handoff_dropped();
            tracing::debug!(shard = to, "datagram for a busy shard dropped: {e}");
            false
        }
    }
}

/// How long a diverted INVITE's shard is kept for its CANCEL: 64·T1, the life of an INVITE
/// server transaction (a CANCEL after it matches nothing anywhere).
const DIVERTED_FOR: std::time::Duration = std::time::Duration::from_secs(32);

/// The INVITEs whose shard is not their Call-ID's (with `Replaces`: the replaced call's shard
/// takes them), by Call-ID: their CANCEL carries only the Call-ID, and must reach the shard of
/// its INVITE's transaction. Written once per such INVITE (rare: a parked call's pick-up), read
/// for each CANCEL; an entry lives [`DIVERTED_FOR`], and the expired ones of a stripe go when
/// another is written there.
#[derive(Clone, Debug, Default)]
struct Diverted {
    calls: Arc<Striped<Box<str>, (usize, std::time::Instant)>>,
}

impl Diverted {
    /// The INVITE of `call_id` went to `shard`.
    fn note(&self, call_id: &str, shard: usize, now: std::time::Instant) {
        self.calls.update(call_id, |m| {
            m.retain(|_, (_, until)| *until > now);
            m.insert(call_id.into(), (shard, now + DIVERTED_FOR));
        });
    }

    /// The shard the INVITE of `call_id` went to, if it was diverted and is not too old.
    fn shard(&self, call_id: &str, now: std::time::Instant) -> Option<usize> {
        self.calls
            .read(call_id, |&(shard, until)| (until > now).then_some(shard))
            .flatten()
    }
}

/// The logins a parked call (or a ghost) waits for, and on which shards: a REGISTER is handled
/// on its login's shard, the parked call on the shard that took its INVITE. Read on every
/// REGISTER that changed a binding, so it is a [`Striped`] map (no lock all shards contend
/// on), and it only grows when a call is parked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Awaited {
    /// Logins → the shards that wait for them (a few at most: one per parked call's shard).
    logins: Arc<Striped<Box<str>, Vec<usize>>>,
}

impl Awaited {
    /// Shard `shard` has a call waiting for `login`.
    pub(crate) fn mark(&self, login: &str, shard: usize) {
        self.logins.update(login, |m| {
            let waiting = m.entry(login.into()).or_default();
            if !waiting.contains(&shard) {
                waiting.push(shard);
            }
        });
    }

    /// Shard `shard` no longer waits for `login`.
    pub(crate) fn unmark(&self, login: &str, shard: usize) {
        self.logins.update(login, |m| {
            if let Some(waiting) = m.get_mut(login) {
                waiting.retain(|s| *s != shard);
                if waiting.is_empty() {
                    m.remove(login);
                }
            }
        });
    }

    /// The shards other than `me` that wait for `login`.
    pub(crate) fn others(&self, login: &str, me: usize) -> impl Iterator<Item = usize> {
        self.logins
            .read(login, |w| {
                w.iter().copied().filter(|s| *s != me).collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
    }
}

/// How many shards have drained at shutdown. A drained shard keeps reading its sockets until
/// every shard has drained: the kernel still gives its `SO_REUSEPORT` socket its share of the
/// datagrams (the answers to the other shards' BYEs and CANCELs among them).
#[derive(Debug, Default)]
pub(crate) struct Drained {
    count: std::sync::atomic::AtomicUsize,
    notify: tokio::sync::Notify,
}

impl Drained {
    /// This shard has drained (once); `true` when every one of `shards` has.
    pub(crate) fn done(&self, first_time: bool, shards: usize) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        if first_time {
            self.count.fetch_add(1, SeqCst);
            self.notify.notify_waiters();
        }
        self.count.load(SeqCst) >= shards
    }

    /// Resolves when another shard has drained (then [`Self::done`] says whether all have).
    pub(crate) async fn changed(this: Option<&Self>) {
        match this {
            Some(d) => d.notify.notified().await,
            None => std::future::pending().await,
        }
    }
}

/// One shard's links to the others.
#[derive(Clone, Debug)]
pub(crate) struct Siblings {
    /// This shard's index.
    pub(crate) index: usize,
    /// Every shard's network channel (for hand-offs).
    pub(crate) net: NetTx,
    /// Every shard's input channel.
    pub(crate) inputs: Arc<[mpsc::UnboundedSender<Input>]>,
    pub(crate) awaited: Awaited,
    /// The shards drained at shutdown.
    pub(crate) drained: Arc<Drained>,
    /// Whether the shards are merged on one task now (`shard_drive.rs`, which sets it): a
    /// datagram read here is then parsed here whoever owns it, and handed over parsed. The
    /// raw scans that keep the parse on the owner's core (`Dispatcher::landing`) would be
    /// work for nothing while one core does all of it.
    pub(crate) merged: Arc<std::sync::atomic::AtomicBool>,
    /// This shard's INVITEs kept where they landed (`Dispatcher::kept_where_landed`).
    pub(crate) keeping: Keeping,
}

/// What a shard knows of the INVITEs it keeps where they landed while the shards are merged,
/// instead of handing them to their Call-ID's shard (docs/architecture.md, "Core shards").
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Keeping {
    /// When this shard last read a datagram while the shards were split: an INVITE it handed
    /// to its Call-ID's shard then may be retransmitted for up to 64·T1, and that shard's
    /// transaction must absorb it, so no new INVITE is kept for 64·T1 after it.
    pub(crate) split_seen: Option<std::time::Instant>,
    /// Until when this shard may hold INVITE transactions it kept: while split, an INVITE or a
    /// CANCEL landing here is parsed here until then, to be kept if it is one of theirs.
    pub(crate) kept_until: Option<std::time::Instant>,
}

impl Siblings {
    pub(crate) fn count(&self) -> usize {
        self.inputs.len()
    }

    /// Tells every other shard `make()`.
    pub(crate) fn tell_others(&self, mut make: impl FnMut() -> Input) {
        for (i, tx) in self.inputs.iter().enumerate() {
            if i != self.index {
                let _ = tx.send(make());
            }
        }
    }
}

/// Applies every cluster update (`cluster::Update`: the other nodes' bindings, parked calls,
/// publications, dead nodes) to the state the shards share, once and in order
/// ([`crate::cluster::Node::apply_shared`]), then copies it to each of `shards` shards for
/// their own part (their watchers, their parked calls, their messages). Returns the shards'
/// receiving ends.
pub(crate) fn fan_out_cluster(
    mut updates: mpsc::UnboundedReceiver<crate::cluster::Update>,
    node: crate::cluster::Node,
    epoch: sip_message::Epoch,
    shards: usize,
) -> Vec<mpsc::UnboundedReceiver<crate::cluster::Update>> {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::unbounded_channel()).unzip();
    tokio::spawn(async move {
        while let Some(mut u) = updates.recv().await {
            node.apply_shared(&mut u, epoch.wall(std::time::Instant::now()));
            for tx in &txs {
                let _ = tx.send(u.clone());
            }
        }
    });
    rxs
}

/// The writes of one shard's presence driver, passed on to the writer, with each publication
/// change also told to the other shards (they keep it as a remote publication and notify
/// their watchers: a list subscription lives on its owner's shard, its buddies' publications
/// on theirs).
pub(crate) fn tee_publications(
    writes: mpsc::UnboundedSender<Write>,
    siblings: Siblings,
) -> mpsc::UnboundedSender<Write> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    tokio::spawn(async move {
        while let Some(w) = rx.recv().await {
            if let Write::Publication(c) = &w {
                siblings.tell_others(|| Input::Publication(c.clone()));
            }
            if writes.send(w).is_err() {
                break;
            }
        }
    });
    tx
}

/// Copies the inputs of the one channel the rest of the server sends on to the shards: to
/// every shard what concerns them all, to one what concerns one call.
pub(crate) fn fan_out(
    mut rx: mpsc::UnboundedReceiver<Input>,
    shards: Arc<[mpsc::UnboundedSender<Input>]>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let n = shards.len();
        while let Some(input) = rx.recv().await {
            match input {
                Input::MediaInactive(id) => {
                    let _ = shards[b2bua::shard_of_call(id, n)].send(Input::MediaInactive(id));
                }
                Input::Routing(r) => {
                    for tx in shards.iter() {
                        let _ = tx.send(Input::Routing(r.clone()));
                    }
                }
                Input::Reload(mut s) => {
                    let applied = join_all(n, s.applied.take());
                    for (tx, one) in shards.iter().zip(applied) {
                        let _ = tx.send(Input::Reload(Box::new(s.for_shard(one))));
                    }
                }
                Input::Shutdown => {
                    for tx in shards.iter() {
                        let _ = tx.send(Input::Shutdown);
                    }
                }
                Input::Accounts { changed, done } => {
                    let applied = join_all(n, (!done.is_empty()).then_some(done));
                    for (tx, one) in shards.iter().zip(applied) {
                        let _ = tx.send(Input::Accounts {
                            changed: changed.clone(),
                            done: vec![one],
                        });
                    }
                }
                // a shard's own inputs (an account read, a sibling's word) never come this way
                other => {
                    let _ = shards[0].send(other);
                }
            }
        }
    })
}

/// The push driver's reports: a failed post to the shard of its call, a token changed outside
/// SIP to every shard. With one shard, its channel itself.
pub(crate) fn route_push_reports(
    shards: Vec<mpsc::UnboundedSender<crate::push_io::Report>>,
) -> mpsc::UnboundedSender<crate::push_io::Report> {
    use crate::push_io::Report;
    if shards.len() == 1 {
        return shards[0].clone();
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
    tokio::spawn(async move {
        let n = shards.len();
        while let Some(r) = rx.recv().await {
            match r {
                Report::Failed { call, instances } => {
                    let _ = shards[b2bua::shard_of_call(call, n)]
                        .send(Report::Failed { call, instances });
                }
                Report::Token(t) => {
                    for s in &shards {
                        let _ = s.send(Report::Token(t.clone()));
                    }
                }
            }
        }
    });
    tx
}

/// The built-in voicemail's mailbox changes: to the shard of the mailbox's login (its
/// `message-summary` subscriptions live there). With one shard, its channel itself.
pub(crate) fn route_mailboxes(
    shards: &[mpsc::UnboundedSender<crate::presence_io::Fetched>],
) -> mpsc::UnboundedSender<crate::presence_io::Fetched> {
    use crate::presence_io::Fetched;
    if shards.len() == 1 {
        return shards[0].clone();
    }
    let shards = shards.to_vec();
    let (tx, mut rx) = mpsc::unbounded_channel::<Fetched>();
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            let to = match &f {
                Fetched::Mailbox(m) => sip_message::shard::index(&m.login, shards.len()),
                Fetched::Buddies { .. } => 0,
            };
            let _ = shards[to].send(f);
        }
    });
    tx
}

/// `n` senders, one per shard; once all have been told (or dropped), `then` is told.
fn join_all<T: Told + Send + 'static>(n: usize, then: Option<T>) -> Vec<oneshot::Sender<()>> {
    let (senders, seen): (Vec<_>, Vec<_>) = (0..n).map(|_| oneshot::channel()).unzip();
    if let Some(then) = then {
        tokio::spawn(async move {
            for s in seen {
                let _ = s.await;
            }
            then.tell();
        });
    }
    senders
}

/// What waits for every shard: a reload's one sender, the account sync's several.
trait Told {
    fn tell(self);
}

impl Told for oneshot::Sender<()> {
    fn tell(self) {
        let _ = self.send(());
    }
}

impl Told for Vec<oneshot::Sender<()>> {
    fn tell(self) {
        for d in self {
            let _ = d.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, call_id: &str, extra: &str) -> sip_message::Message {
        let text = format!(
            "{method} sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKpick1\r\n\
             From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>\r\nCall-ID: {call_id}\r\n\
             CSeq: 2 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        sip_message::Message::parse(bytes::Bytes::from(text)).expect("parses")
    }

    /// A Call-ID whose own shard of 2 is not `other`'s.
    fn call_id_apart_from(other: &str) -> String {
        (0..)
            .map(|i| format!("pick{i}@phone"))
            .find(|c| sip_message::shard::index(c, 2) != sip_message::shard::index(other, 2))
            .expect("one of them")
    }

    #[test]
    fn the_cancel_of_an_invite_with_replaces_goes_where_the_invite_went() {
        let (net, _rx) = NetTx::channels(2);
        let parked = "parked-1@ferroswitch";
        let to_parked = sip_message::shard::index(parked, 2);
        let own = call_id_apart_from(parked);
        let cancel = request("CANCEL", &own, "");
        // before its INVITE is seen, a CANCEL goes by its Call-ID
        assert_ne!(net.owner(&cancel), to_parked);
        let invite = request(
            "INVITE",
            &own,
            &format!("Replaces: {parked};to-tag=a;from-tag=b\r\n"),
        );
        assert_eq!(
            net.owner(&invite),
            to_parked,
            "the pick-up goes to the call"
        );
        assert_eq!(net.owner(&cancel), to_parked, "and so does its CANCEL");
        // another call's CANCEL is not moved
        let other = call_id_apart_from(parked);
        let other = format!("x{other}");
        let other_cancel = request("CANCEL", &other, "");
        assert_eq!(
            net.owner(&other_cancel),
            sip_message::shard::index(&other, 2)
        );
        // an INVITE on its own Call-ID's shard is not noted
        let plain = request("INVITE", &other, "");
        assert_eq!(net.owner(&plain), sip_message::shard::index(&other, 2));
        assert_eq!(net.diverted.shard(&other, std::time::Instant::now()), None);
    }

    #[test]
    fn a_diverted_invite_is_forgotten_after_its_transaction_could_live() {
        let d = Diverted::default();
        let t0 = std::time::Instant::now();
        d.note("c1@x", 1, t0);
        assert_eq!(d.shard("c1@x", t0 + DIVERTED_FOR / 2), Some(1));
        let later = t0 + DIVERTED_FOR + std::time::Duration::from_secs(1);
        assert_eq!(d.shard("c1@x", later), None);
        // notes made later sweep the expired entries of their stripes out: a thousand old
        // ones over every stripe, then a thousand new ones
        for i in 0..1000 {
            d.note(&format!("old{i}@x"), 1, t0);
        }
        for i in 0..1000 {
            d.note(&format!("new{i}@x"), 0, later);
        }
        let left = d.calls.collect(|&(shard, _)| Some(shard));
        assert_eq!(left.len(), 1000, "only the new ones are left");
        assert!(left.iter().all(|&s| s == 0));
    }

    #[test]
    fn awaited_logins_name_the_other_shards() {
        let a = Awaited::default();
        assert_eq!(a.others("alice", 0).count(), 0);
        a.mark("alice", 1);
        a.mark("alice", 3);
        assert_eq!(a.others("alice", 0).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(a.others("alice", 1).collect::<Vec<_>>(), vec![3]);
        a.unmark("alice", 3);
        a.unmark("alice", 1);
        assert_eq!(a.others("alice", 0).count(), 0);
        assert!(
            a.logins.collect(|_| Some(())).is_empty(),
            "nothing left behind"
        );
    }

    #[test]
    fn shards_past_the_sixty_fourth_are_told_too() {
        // a 128-core box runs 128 shards: shard 65 is not shard 1
        let a = Awaited::default();
        a.mark("bob", 65);
        a.mark("bob", 127);
        a.mark("bob", 65);
        assert_eq!(a.others("bob", 1).collect::<Vec<_>>(), vec![65, 127]);
        assert_eq!(a.others("bob", 65).collect::<Vec<_>>(), vec![127]);
        a.unmark("bob", 1);
        assert_eq!(a.others("bob", 0).count(), 2);
    }
}
