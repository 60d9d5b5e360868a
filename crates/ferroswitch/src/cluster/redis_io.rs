//! The Redis side of the cluster: the writer (this node's binding changes, queued, pipelined,
//! retried; a full rewrite of this node's bindings after any outage or a Redis restart) and the
//! subscriber (a snapshot of the other nodes' bindings, then their changes over pub/sub, handed
//! to the dispatcher as [`Update`]s). Nothing here is awaited by the SIP path: the dispatcher
//! only sends into the writer's unbounded channel and reads [`Update`]s from its own.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use registrar::BindingChange;
use tokio::sync::{mpsc, Notify};

use super::record::{Event, FlowTokens, Names, PresenceEvent, Record};
use super::Update;

/// Upsert one binding, keep the hash alive at least as long as it, announce it.
const UPSERT: &str = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) \
    if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end \
    redis.call('PUBLISH', ARGV[4], ARGV[5]) return 1";
/// Remove one binding only while this node still owns it (a phone that moved to another
/// node keeps its fresh record), then announce it.
const REMOVE: &str = "local v = redis.call('HGET', KEYS[1], ARGV[1]) \
    if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then \
    redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('PUBLISH', ARGV[3], ARGV[4]) return 1 end return 0";
/// `Contact: *`: every binding of the login, on every node.
const REMOVE_ALL: &str =
    "redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1";

/// Most changes in one pipeline.
const BATCH: usize = 2_000;
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
const OP_TIMEOUT: Duration = Duration::from_secs(3);

/// What the writer and the subscriber need to know about this node.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) node: String,
    pub(crate) internal: std::net::SocketAddr,
    pub(crate) names: Names,
    pub(crate) tokens: FlowTokens,
    /// The server's one epoch: binding expiry into the records' unix ms.
    pub(crate) epoch: sip_message::Epoch,
}

/// Up or down, logged once per change of state.
#[derive(Debug)]
struct Health {
    what: &'static str,
    up: AtomicBool,
}

impl Health {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            up: AtomicBool::new(true),
        }
    }

    fn up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(what = self.what, "cluster: Redis reachable again");
        }
    }

    fn down(&self, e: &dyn std::fmt::Display) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                what = self.what,
                "cluster: Redis unreachable, serving local state and queueing writes: {e}"
            );
        }
    }
}

pub(crate) fn connection_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(1)
        .set_max_delay(1_000)
}

async fn connect(client: &redis::Client) -> Result<ConnectionManager, String> {
    match tokio::time::timeout(
        OP_TIMEOUT,
        client.get_connection_manager_with_config(connection_config()),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connection timed out".to_owned()),
    }
}

#[derive(Debug)]
enum Op {
    Upsert {
        login: String,
        key: String,
        record: Record,
    },
    Remove {
        login: String,
        key: String,
    },
    RemoveAll {
        login: String,
    },
}

/// This node's writes to Redis. `own` mirrors this node's bindings as written, so that after
/// an outage (or a Redis that restarted empty) everything is written again, whatever was lost.
pub(crate) async fn writer(
    client: redis::Client,
    settings: Settings,
    mut changes: mpsc::UnboundedReceiver<BindingChange>,
    resync: Arc<Notify>,
) {
    let health = Health::new("writer");
    let mut own: HashMap<(String, String), Record> = HashMap::new();
    let mut removed: HashSet<(String, String)> = HashSet::new();
    let mut pending: Vec<Op> = Vec::new();
    // the first write is a full one: the bindings restored at start are in `own` by then
    let mut full = true;
    let mut con: Option<ConnectionManager> = None;
    let mut retry = RETRY_MIN;
    let mut next_try = Instant::now();
    loop {
        let wait = next_try.saturating_duration_since(Instant::now());
        let work = full || !pending.is_empty();
        tokio::select! {
            c = changes.recv() => {
                let Some(c) = c else { break };
                absorb(&settings, c, &mut own, &mut removed, &mut pending, full);
                while let Ok(c) = changes.try_recv() {
                    absorb(&settings, c, &mut own, &mut removed, &mut pending, full);
                    if pending.len() >= BATCH { break; }
                }
            }
            () = resync.notified() => { full = true; pending.clear(); }
            () = tokio::time::sleep(wait), if work => {}
        }
        if (!full && pending.is_empty()) || Instant::now() < next_try {
            continue;
        }
        if con.is_none() {
            match connect(&client).await {
                Ok(c) => con = Some(c),
                Err(e) => {
                    health.down(&e);
                    full = true;
                    pending.clear();
                    next_try = Instant::now() + retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    continue;
                }
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let now_ms = crate::clock::unix_ms();
        let ops: Vec<Op> = if full {
            own.retain(|_, r| r.expires_at_ms > now_ms);
            let mut ops: Vec<Op> = removed
                .iter()
                .map(|(login, key)| Op::Remove {
                    login: login.clone(),
                    key: key.clone(),
                })
                .collect();
            ops.extend(own.iter().map(|((login, key), record)| Op::Upsert {
                login: login.clone(),
                key: key.clone(),
                record: record.clone(),
            }));
            ops
        } else {
            std::mem::take(&mut pending)
        };
        let n = ops.len();
        let result = tokio::time::timeout(OP_TIMEOUT, apply(c, &settings, &ops, now_ms)).await;
        match result {
            Ok(Ok(())) => {
                health.up();
                if full {
                    tracing::debug!(
                        bindings = n,
                        "cluster: this node's bindings written to Redis"
                    );
                    full = false;
                    removed.clear();
                }
                retry = RETRY_MIN;
            }
            Ok(Err(e)) => {
                health.down(&e);
                full = true;
                pending.clear();
                next_try = Instant::now() + retry;
                retry = (retry * 2).min(RETRY_MAX);
            }
            Err(_) => {
                health.down(&"timed out");
                full = true;
                pending.clear();
                con = None;
                next_try = Instant::now() + retry;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// One change into the mirror and, unless a full rewrite is due anyway, the queue.
fn absorb(
    s: &Settings,
    c: BindingChange,
    own: &mut HashMap<(String, String), Record>,
    removed: &mut HashSet<(String, String)>,
    pending: &mut Vec<Op>,
    full: bool,
) {
    match c {
        BindingChange::Upsert { login, binding } => {
            let record = s.tokens.record(&login, &binding, s.internal, &s.epoch);
            let k = (login, binding.key);
            removed.remove(&k);
            own.insert(k.clone(), record.clone());
            if !full {
                pending.push(Op::Upsert {
                    login: k.0,
                    key: k.1,
                    record,
                });
            }
        }
        BindingChange::Remove { login, key } => {
            let k = (login, key);
            own.remove(&k);
            if full {
                removed.insert(k);
            } else {
                pending.push(Op::Remove {
                    login: k.0,
                    key: k.1,
                });
            }
        }
        BindingChange::RemoveAll { login } => {
            own.retain(|(l, key), _| {
                if *l == login {
                    removed.insert((l.clone(), key.clone()));
                }
                *l != login
            });
            if !full {
                pending.push(Op::RemoveAll { login });
            }
        }
    }
}

async fn apply(
    c: &mut ConnectionManager,
    s: &Settings,
    ops: &[Op],
    now_ms: u64,
) -> redis::RedisResult<()> {
    let channel = s.names.channel();
    for chunk in ops.chunks(BATCH) {
        let mut pipe = redis::pipe();
        for op in chunk {
            match op {
                Op::Upsert { login, key, record } => {
                    let ttl = record.expires_at_ms.saturating_sub(now_ms).max(1);
                    let ev = Event {
                        login: login.clone(),
                        node: s.node.clone(),
                        key: Some(key.clone()),
                        record: Some(record.clone()),
                        all: false,
                    };
                    pipe.cmd("EVAL")
                        .arg(UPSERT)
                        .arg(1)
                        .arg(s.names.location(login))
                        .arg(key)
                        .arg(record.to_value())
                        .arg(ttl)
                        .arg(&channel)
                        .arg(ev.to_json())
                        .ignore();
                }
                Op::Remove { login, key } => {
                    let ev = Event {
                        login: login.clone(),
                        node: s.node.clone(),
                        key: Some(key.clone()),
                        record: None,
                        all: false,
                    };
                    pipe.cmd("EVAL")
                        .arg(REMOVE)
                        .arg(1)
                        .arg(s.names.location(login))
                        .arg(key)
                        .arg(&s.node)
                        .arg(&channel)
                        .arg(ev.to_json())
                        .ignore();
                }
                Op::RemoveAll { login } => {
                    let ev = Event {
                        login: login.clone(),
                        node: s.node.clone(),
                        key: None,
                        record: None,
                        all: true,
                    };
                    pipe.cmd("EVAL")
                        .arg(REMOVE_ALL)
                        .arg(1)
                        .arg(s.names.location(login))
                        .arg(&channel)
                        .arg(ev.to_json())
                        .ignore();
                }
            }
        }
        pipe.query_async::<()>(c).await?;
    }
    Ok(())
}

/// This node's presence publications, announced on the presence channel (best effort: a
/// publication missed while Redis is down reaches the other nodes at its next refresh).
pub(crate) async fn presence_publisher(
    client: redis::Client,
    settings: Settings,
    mut changes: mpsc::UnboundedReceiver<store::PublicationChange>,
) {
    let health = Health::new("presence");
    let mut con: Option<ConnectionManager> = None;
    let channel = settings.names.presence_channel();
    while let Some(c) = changes.recv().await {
        let Some(ev) = PresenceEvent::of(&settings.node, &c) else {
            continue;
        };
        if con.is_none() {
            match connect(&client).await {
                Ok(c) => con = Some(c),
                Err(e) => {
                    health.down(&e);
                    continue;
                }
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let sent = tokio::time::timeout(
            OP_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(serde_json::to_string(&ev).unwrap_or_default())
                .query_async::<()>(c),
        )
        .await;
        match sent {
            Ok(Ok(())) => health.up(),
            Ok(Err(e)) => health.down(&e),
            Err(_) => {
                health.down(&"timed out");
                con = None;
            }
        }
    }
}

/// Every binding in Redis, as `(login, key, value)` rows.
async fn snapshot(
    c: &mut ConnectionManager,
    names: &Names,
) -> redis::RedisResult<Vec<(String, String, String)>> {
    let mut rows = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(names.location_pattern())
            .arg("COUNT")
            .arg(1_000)
            .query_async(c)
            .await?;
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.cmd("HGETALL").arg(k);
            }
            let hashes: Vec<HashMap<String, String>> = pipe.query_async(c).await?;
            for (k, h) in keys.iter().zip(hashes) {
                let Some(login) = names.login_of(k) else {
                    continue;
                };
                rows.extend(h.into_iter().map(|(f, v)| (login.to_owned(), f, v)));
            }
        }
        if next == 0 {
            return Ok(rows);
        }
        cursor = next;
    }
}

/// The other nodes' bindings: a snapshot at each (re)subscription, then every change. Each
/// (re)subscription also asks the writer for a full rewrite (Redis may have restarted empty).
pub(crate) async fn subscriber(
    client: redis::Client,
    settings: Settings,
    updates: mpsc::UnboundedSender<Update>,
    resync: Arc<Notify>,
) {
    let health = Health::new("subscriber");
    let mut retry = RETRY_MIN;
    loop {
        match subscribe_once(&client, &settings, &updates, &resync, &health).await {
            Ok(()) => {
                tracing::warn!("cluster: Redis subscription lost, reconnecting");
                health.up.store(false, Ordering::Relaxed);
                retry = RETRY_MIN;
            }
            Err(e) => {
                health.down(&e);
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
        if updates.is_closed() {
            return;
        }
        tokio::time::sleep(retry).await;
    }
}

async fn subscribe_once(
    client: &redis::Client,
    s: &Settings,
    updates: &mpsc::UnboundedSender<Update>,
    resync: &Notify,
    health: &Health,
) -> Result<(), String> {
    let mut pubsub = tokio::time::timeout(OP_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| "connection timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    pubsub
        .subscribe(&[s.names.channel(), s.names.presence_channel()])
        .await
        .map_err(|e| e.to_string())?;
    let presence_channel = s.names.presence_channel();
    // subscribed first: a change made while the snapshot is read is not missed
    let mut c = connect(client).await?;
    let rows = tokio::time::timeout(Duration::from_secs(30), snapshot(&mut c, &s.names))
        .await
        .map_err(|_| "snapshot timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tracing::info!(
        bindings = rows.len(),
        "cluster: subscribed to Redis, location snapshot read"
    );
    if updates.send(Update::Snapshot(rows)).is_err() {
        return Ok(());
    }
    resync.notify_one();
    health.up();
    let mut stream = pubsub.into_on_message();
    while let Some(msg) = stream.next().await {
        let Ok(payload) = msg.get_payload::<String>() else {
            continue;
        };
        if msg.get_channel_name() == presence_channel {
            match serde_json::from_str::<PresenceEvent>(&payload) {
                Ok(ev) if ev.node != s.node => {
                    if updates.send(Update::Presence(Box::new(ev))).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("cluster: unreadable presence event skipped: {e}"),
            }
            continue;
        }
        match serde_json::from_str::<Event>(&payload) {
            Ok(ev) => {
                if ev.node != s.node && updates.send(Update::Event(Box::new(ev))).is_err() {
                    return Ok(());
                }
            }
            Err(e) => tracing::debug!("cluster: unreadable event skipped: {e}"),
        }
    }
    Ok(())
}
