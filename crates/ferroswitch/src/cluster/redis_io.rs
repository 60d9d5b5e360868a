//! The Redis side of the cluster: the writer (this node's changes — bindings, presence
//! publications, parked calls — queued, pipelined, retried; a full rewrite of them after any
//! outage or a Redis restart), the subscriber (a snapshot of the other nodes' state, then their
//! changes over pub/sub, handed to the dispatcher as [`Update`]s) and the heartbeat (this
//! node's key with a short TTL; the nodes whose key is gone are dead). Nothing here is awaited by the SIP path: the dispatcher
//! only sends into the writer's unbounded channel and reads [`Update`]s from its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, Notify};

use super::ops::{apply, Change, Mirror, Op};
use super::record::{Event, FlowTokens, Names, ParkEvent, PresenceEvent, Publication, QueueEvent};
use super::Update;

/// What a (re)subscription reads: every binding as `(login, key, value)`, every
/// publication with its node, every parked call (this node's own left out).
#[derive(Debug, Default, Clone)]
pub(crate) struct Snapshot {
    pub(crate) bindings: Vec<(String, String, String)>,
    pub(crate) publications: Vec<(String, Publication)>,
    pub(crate) parks: Vec<ParkEvent>,
}

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

/// This node's writes to Redis. The [`Mirror`] holds everything this node has written, so
/// that after an outage (or a Redis that restarted empty) all of it is written again.
pub(crate) async fn writer(
    client: redis::Client,
    settings: Settings,
    mut changes: mpsc::UnboundedReceiver<Change>,
    resync: Arc<Notify>,
) {
    let health = Health::new("writer");
    let mut mirror = Mirror::default();
    let mut pending: Vec<Op> = Vec::new();
    // the first write is a full one: the bindings restored at start are in the mirror by then
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
                mirror.absorb(&settings, c, &mut pending, full);
                while let Ok(c) = changes.try_recv() {
                    mirror.absorb(&settings, c, &mut pending, full);
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
            mirror.rewrite(now_ms)
        } else {
            std::mem::take(&mut pending)
        };
        let n = ops.len();
        let result =
            tokio::time::timeout(OP_TIMEOUT, apply(c, &settings, &ops, now_ms, BATCH)).await;
        match result {
            Ok(Ok(())) => {
                health.up();
                if full {
                    tracing::debug!(writes = n, "cluster: this node's state written to Redis");
                    full = false;
                    mirror.written();
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

/// Every key matching `pattern`.
async fn scan(c: &mut ConnectionManager, pattern: &str) -> redis::RedisResult<Vec<String>> {
    let mut all = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(c)
            .await?;
        all.extend(keys);
        if next == 0 {
            return Ok(all);
        }
        cursor = next;
    }
}

/// Every field of the hashes matching `pattern`, as `(key, field, value)` rows.
async fn hashes(
    c: &mut ConnectionManager,
    pattern: &str,
) -> redis::RedisResult<Vec<(String, String, String)>> {
    let mut rows = Vec::new();
    for keys in scan(c, pattern).await?.chunks(1_000) {
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("HGETALL").arg(k);
        }
        let all: Vec<HashMap<String, String>> = pipe.query_async(c).await?;
        for (k, h) in keys.iter().zip(all) {
            rows.extend(h.into_iter().map(|(f, v)| (k.clone(), f, v)));
        }
    }
    Ok(rows)
}

/// Everything the other nodes keep in Redis: bindings, publications, parked calls.
async fn snapshot(c: &mut ConnectionManager, names: &Names) -> redis::RedisResult<Snapshot> {
    let bindings = hashes(c, &names.location_pattern())
        .await?
        .into_iter()
        .filter_map(|(k, f, v)| Some((names.login_of(&k)?.to_owned(), f, v)))
        .collect();
    let publications = hashes(c, &names.publication_pattern())
        .await?
        .into_iter()
        .filter_map(|(k, _, v)| {
            names.publication_login(&k)?;
            let (node, json) = v.split_once('|')?;
            Some((node.to_owned(), serde_json::from_str(json).ok()?))
        })
        .collect();
    let mut parks = Vec::new();
    for keys in scan(c, &names.park_pattern()).await?.chunks(1_000) {
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("GET").arg(k);
        }
        let values: Vec<Option<String>> = pipe.query_async(c).await?;
        parks.extend(
            values
                .into_iter()
                .flatten()
                .filter_map(|v| serde_json::from_str::<ParkEvent>(&v).ok()),
        );
    }
    Ok(Snapshot {
        bindings,
        publications,
        parks,
    })
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
    let (location, presence, park, queue) = (
        s.names.channel(),
        s.names.presence_channel(),
        s.names.park_channel(),
        s.names.queue_channel(),
    );
    pubsub
        .subscribe(&[&location, &presence, &park, &queue])
        .await
        .map_err(|e| e.to_string())?;
    // subscribed first: a change made while the snapshot is read is not missed
    let mut c = connect(client).await?;
    let mut snap = tokio::time::timeout(Duration::from_secs(30), snapshot(&mut c, &s.names))
        .await
        .map_err(|_| "snapshot timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    snap.publications.retain(|(node, _)| *node != s.node);
    snap.parks.retain(|p| p.node != s.node);
    tracing::info!(
        bindings = snap.bindings.len(),
        publications = snap.publications.len(),
        parked = snap.parks.len(),
        "cluster: subscribed to Redis, location snapshot read"
    );
    if updates.send(Update::Snapshot(Box::new(snap))).is_err() {
        return Ok(());
    }
    resync.notify_one();
    health.up();
    let mut stream = pubsub.into_on_message();
    while let Some(msg) = stream.next().await {
        let Ok(payload) = msg.get_payload::<String>() else {
            continue;
        };
        let channel = msg.get_channel_name();
        let update = if channel == presence {
            serde_json::from_str::<PresenceEvent>(&payload)
                .map(|ev| (ev.node != s.node).then(|| Update::Presence(Box::new(ev))))
        } else if channel == queue {
            serde_json::from_str::<QueueEvent>(&payload)
                .map(|ev| (ev.node != s.node).then_some(Update::Queue(ev)))
        } else if channel == park {
            serde_json::from_str::<ParkEvent>(&payload)
                .map(|ev| (ev.node != s.node).then_some(Update::Park(ev)))
        } else {
            serde_json::from_str::<Event>(&payload)
                .map(|ev| (ev.node != s.node).then(|| Update::Event(Box::new(ev))))
        };
        match update {
            Ok(Some(u)) => {
                if updates.send(u).is_err() {
                    return Ok(());
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(channel, "cluster: unreadable event skipped: {e}"),
        }
    }
    Ok(())
}

/// Refreshes this node's heartbeat key (TTL [`HEARTBEAT_TTL`]) every [`HEARTBEAT_EVERY`] and
/// reads which nodes' keys are gone: those are dead (`Update::Dead`, sent when the set
/// changes). Nothing is decided while Redis is unreachable.
const BEAT: &str = "redis.call('SET', KEYS[1] .. ARGV[1], '1', 'PX', ARGV[2]) \
    redis.call('SADD', KEYS[2], ARGV[1]) local dead = {} \
    for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do \
    if redis.call('EXISTS', KEYS[1] .. n) == 0 then table.insert(dead, n) end end return dead";

pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
pub(crate) const HEARTBEAT_TTL: Duration = Duration::from_secs(3);

pub(crate) async fn heartbeat(
    client: redis::Client,
    settings: Settings,
    updates: mpsc::UnboundedSender<Update>,
) {
    let mut con: Option<ConnectionManager> = None;
    let mut last: Option<Vec<String>> = None;
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !updates.is_closed() {
        tick.tick().await;
        if con.is_none() {
            con = connect(&client).await.ok();
        }
        let Some(c) = con.as_mut() else { continue };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BEAT)
            .arg(2)
            .arg(settings.names.heartbeat())
            .arg(settings.names.node_set())
            .arg(&settings.node)
            .arg(HEARTBEAT_TTL.as_millis() as u64);
        let beat = cmd.query_async::<Vec<String>>(c);
        match tokio::time::timeout(OP_TIMEOUT, beat).await {
            Ok(Ok(mut dead)) => {
                dead.sort();
                if last.as_ref() != Some(&dead) {
                    last = Some(dead.clone());
                    if updates.send(Update::Dead(dead)).is_err() {
                        return;
                    }
                }
            }
            Ok(Err(e)) => tracing::debug!("cluster: heartbeat not written: {e}"),
            Err(_) => con = None,
        }
    }
}
