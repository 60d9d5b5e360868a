//! The cluster (`[cluster]`, docs/cluster.md): several nodes share the location table through
//! Redis and route each request to the node that holds the phone's connection.
//!
//! - [`record`] (data, no I/O): the Redis layout, the change events, the flow tokens,
//!   [`Remote`], this node's copy of the other nodes' bindings (a dead node's left out), and
//!   [`Parked`], the calls parked on the other nodes.
//! - [`ops`] (data): this node's writes as Lua scripts, and their mirror for full rewrites.
//! - [`redis_io`] (driver): the writer (this node's bindings, publications and parked calls,
//!   queued, never awaited by the SIP path; a full rewrite after any outage), the subscriber
//!   (snapshot + pub/sub → [`Update`]) and the heartbeat (dead nodes → [`Update::Dead`]).
//! - [`relay`] (message rewriting, no I/O): the stateless relay between a node and the phones
//!   whose flows it holds.
//!
//! The dispatcher owns a [`Node`]: it reads [`Remote`] when routing a call or a MESSAGE (a
//! binding of another node is reached through that node's internal address, with its `Path` as
//! `Route`), applies [`Update`]s, and relays what other nodes send for its own phones
//! (`dispatcher/cluster.rs`). With several core shards each has a clone of the [`Node`]: one
//! [`Remote`] and one [`Parked`] for all (behind `RwLock`s, read when a call or a MESSAGE is
//! routed, written once per [`Update`] by `shards::fan_out_cluster`, which then copies the
//! update to every shard for its own part: its watchers, its parked calls, its messages), and
//! one table of relayed pick-ups (a pick-up's requests reach different shards). Without
//! `[cluster]` none of this exists.

pub(crate) mod ops;
pub(crate) mod record;
pub(crate) mod redis_io;
pub(crate) mod relay;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use sip_message::{Peer, Transport};
use tokio::sync::{mpsc, Notify};

use crate::persist::Write;
use crate::striped::Striped;
pub(crate) use ops::Change;
pub(crate) use record::{Event, FlowTokens, Parked, Remote, RemoteBinding};

/// How long a parked call stays known to the other nodes if this node never says it ended
/// (it dies): longer than any push timeout.
pub(crate) const PARK_TTL: Duration = Duration::from_secs(300);
/// How long a relayed pick-up's Call-ID keeps routing the phone's requests to the node
/// holding the call, and that node's to the phone, after the last one (a call's longest
/// default duration: the B2BUA ends it by then).
const PICKUP_IDLE: Duration = Duration::from_secs(12 * 3600);

/// A pick-up relayed to the node holding the parked call: the dialog the phone's INVITE/
/// Replaces creates is routed through this node both ways, registered or not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pickup {
    /// The node holding the call.
    pub(crate) holder: SocketAddr,
    /// The phone's flow (where it sent its last request from).
    pub(crate) phone: Peer,
    until: Instant,
}

/// What the subscriber and the heartbeat hand the dispatcher (each shard's, a copy each).
#[derive(Debug, Clone)]
pub(crate) enum Update {
    /// Everything in Redis: replaces [`Remote`], adds the publications and parked calls.
    Snapshot(Box<redis_io::Snapshot>),
    /// Another node's change.
    Event(Box<Event>),
    /// Another node's presence publication, or its withdrawal.
    Presence(Box<record::PresenceEvent>),
    /// A call parked (or no longer) on another node.
    Park(record::ParkEvent),
    /// The nodes whose heartbeat is gone (the whole set, sent when it changes).
    Dead(Vec<String>),
    /// Another node's word on a login's stored MESSAGEs.
    Queue(record::QueueEvent),
}

/// The dispatcher's side of the cluster (a clone per core shard, sharing the other nodes'
/// state).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    remote: Arc<RwLock<Remote>>,
    pub(crate) tokens: FlowTokens,
    /// This node's internal address (one of its UDP listeners).
    pub(crate) internal: SocketAddr,
    /// The other nodes' internal addresses: the only sources relayed to this node's phones.
    pub(crate) nodes: Vec<SocketAddr>,
    /// The calls parked on other nodes.
    parked: Arc<RwLock<Parked>>,
    /// Pick-ups relayed to the node holding the call, by the phone's Call-ID: one table for
    /// every shard (the INVITE goes to the shard of the Call-ID it replaces, its ACK by
    /// another key to another).
    pub(crate) pickups: Arc<Striped<String, Pickup>>,
    /// This node's own changes (parked calls) to the writer.
    pub(crate) changes: mpsc::UnboundedSender<Change>,
}

impl Node {
    /// The other nodes' bindings, read-locked. Never held across an `.await`; when both are
    /// taken, this lock comes before the parked calls' (`pickup_holder`, `apply_shared`).
    pub(crate) fn remote(&self) -> RwLockReadGuard<'_, Remote> {
        self.remote.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn remote_mut(&self) -> RwLockWriteGuard<'_, Remote> {
        self.remote.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn parked_mut(&self) -> RwLockWriteGuard<'_, Parked> {
        self.parked.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies to the state all shards share (the other nodes' bindings, dead nodes and
    /// parked calls) what `update` changes of it, once per update: by the dispatcher with one
    /// shard, by `shards::fan_out_cluster` before it copies the update to the shards. A
    /// snapshot's bindings are taken out (the shards do not need them).
    pub(crate) fn apply_shared(&self, update: &mut Update, now_ms: u64) {
        match update {
            Update::Snapshot(snap) => {
                let mut remote = self.remote_mut();
                remote.replace(std::mem::take(&mut snap.bindings), now_ms);
                tracing::debug!(bindings = remote.len(), "cluster: remote bindings replaced");
                let mut parked = self.parked_mut();
                for p in &snap.parks {
                    parked.apply(p.clone());
                }
            }
            Update::Park(ev) => {
                tracing::debug!(call_id = %ev.call_id, node = %ev.node, parked = ev.expires_at_ms != 0, "cluster: parked call on another node");
                self.parked_mut().apply(ev.clone());
            }
            Update::Dead(dead) => {
                let (died, back) = self.remote_mut().set_dead(dead.clone());
                for (n, bindings) in died {
                    tracing::warn!(node = %n, bindings, "cluster: node's heartbeat expired, its bindings are treated as gone");
                }
                for n in back {
                    tracing::info!(node = %n, "cluster: node's heartbeat is back");
                }
            }
            Update::Event(ev) => {
                tracing::debug!(login = %ev.login, node = %ev.node, key = ?ev.key, upsert = ev.record.is_some(), all = ev.all, "cluster: change from another node");
                self.remote_mut().apply(ev);
            }
            Update::Presence(_) | Update::Queue(_) => {}
        }
    }

    /// The peer that reaches another node's binding: that node's internal address, over UDP
    /// from ours.
    pub(crate) fn peer(&self, b: &RemoteBinding) -> Peer {
        Peer {
            transport: Transport::Udp,
            remote: b.record.addr,
            local: self.internal,
            conn: None,
        }
    }

    /// Whether `from` is another node of the cluster.
    pub(crate) fn is_node(&self, from: &Peer) -> bool {
        from.transport == Transport::Udp && self.nodes.contains(&from.remote)
    }

    /// Where a phone's request goes when it belongs to a pick-up of a call parked on another
    /// node: an INVITE whose `Replaces` names such a call, or any later request of the same
    /// Call-ID (ACK, CANCEL, the INVITE with credentials).
    pub(crate) fn pickup_holder(
        &mut self,
        now: Instant,
        call_id: &str,
        replaces: Option<&str>,
        phone: Peer,
    ) -> Option<SocketAddr> {
        let known = self
            .pickups
            .read(call_id, |p| (p.until > now).then_some(p.holder))
            .flatten();
        let holder = match known {
            Some(h) => Some(h),
            None => replaces.and_then(|r| {
                let parked = r.split(';').next()?.trim();
                let dead = self.remote();
                self.parked
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .holder(parked, crate::clock::unix_ms(), dead.dead())
            }),
        }?;
        let until = now + PICKUP_IDLE;
        self.pickups.insert(
            call_id.to_owned(),
            Pickup {
                holder,
                phone,
                until,
            },
        );
        Some(holder)
    }

    /// The phone of a relayed pick-up, for a request of the holding node in its dialog.
    pub(crate) fn pickup_phone(
        &mut self,
        now: Instant,
        call_id: &str,
        from: &Peer,
    ) -> Option<Peer> {
        self.pickups.update(call_id, |m| {
            let p = m.get_mut(call_id)?;
            if p.holder != from.remote || p.until <= now {
                return None;
            }
            p.until = now + PICKUP_IDLE;
            Some(p.phone)
        })
    }

    /// Drops what expired.
    pub(crate) fn purge(&mut self, now: Instant, now_ms: u64) {
        self.remote_mut().purge(now_ms);
        self.parked_mut().purge(now_ms);
        self.pickups.retain(|p| p.until > now);
    }

    /// This node's messaging core found `login`'s stored messages all delivered (`clear`),
    /// or stored one.
    pub(crate) fn announce_queue(&self, login: &str, clear: bool) {
        let _ = self.changes.send(Change::Queue {
            login: login.to_owned(),
            clear,
        });
    }

    /// This node parked a call for a pushed phone (`parked`), or it is no longer parked.
    pub(crate) fn announce_park(&self, call_id: &str, parked: bool) {
        let expires_at_ms = if parked {
            crate::clock::unix_ms() + PARK_TTL.as_millis() as u64
        } else {
            0
        };
        let _ = self.changes.send(Change::Park {
            call_id: call_id.to_owned(),
            expires_at_ms,
        });
    }
}

/// Starts the writer, the subscriber and the heartbeat; returns the dispatcher's [`Node`],
/// the channel of its [`Update`]s and the sender of this node's changes (bindings and
/// publications through [`tee`]; at start, the restored bindings).
pub(crate) fn start(
    config: &ferroswitch_config::ClusterSettings,
    node_id: &str,
    epoch: sip_message::Epoch,
) -> anyhow::Result<(
    Node,
    mpsc::UnboundedReceiver<Update>,
    mpsc::UnboundedSender<Change>,
)> {
    let client = redis::Client::open(config.redis.as_str())
        .map_err(|e| anyhow::anyhow!("cluster.redis {:?}: {e}", config.redis))?;
    let tokens = FlowTokens::new(&config.secret, node_id);
    let settings = redis_io::Settings {
        node: node_id.to_owned(),
        internal: config.internal,
        names: record::Names::new(&config.key_prefix),
        tokens: tokens.clone(),
        epoch,
    };
    let resync = Arc::new(Notify::new());
    let (changes_tx, changes_rx) = mpsc::unbounded_channel();
    let (updates_tx, updates_rx) = mpsc::unbounded_channel();
    tokio::spawn(redis_io::heartbeat(
        client.clone(),
        settings.clone(),
        updates_tx.clone(),
    ));
    tokio::spawn(redis_io::writer(
        client.clone(),
        settings.clone(),
        changes_rx,
        resync.clone(),
    ));
    tokio::spawn(redis_io::subscriber(client, settings, updates_tx, resync));
    tracing::info!(node_id, internal = %config.internal, nodes = ?config.nodes, "cluster: sharing location through Redis");
    Ok((
        Node {
            remote: Arc::new(RwLock::new(Remote::new(node_id))),
            tokens,
            internal: config.internal,
            nodes: config.nodes.clone(),
            parked: Arc::default(),
            pickups: Arc::default(),
            changes: changes_tx.clone(),
        },
        updates_rx,
        changes_tx,
    ))
}

/// A sender of [`Write`]s that also hands every binding change and presence publication to
/// the cluster, then passes the write on to the database writer.
pub(crate) fn tee(
    writes: mpsc::UnboundedSender<Write>,
    cluster: mpsc::UnboundedSender<Change>,
) -> mpsc::UnboundedSender<Write> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    tokio::spawn(async move {
        while let Some(w) = rx.recv().await {
            match &w {
                Write::Binding(c) => {
                    let _ = cluster.send(Change::Binding(c.clone()));
                }
                Write::Publication(c) => {
                    let _ = cluster.send(Change::Publication(c.clone()));
                }
                _ => {}
            }
            if writes.send(w).is_err() {
                break;
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The node as two core shards hold it: clones sharing the parked calls and the table of
    /// relayed pick-ups.
    fn two_shards() -> (Node, Node) {
        let (changes, _) = mpsc::unbounded_channel();
        let node = Node {
            remote: Arc::new(RwLock::new(Remote::new("n1"))),
            tokens: FlowTokens::new("secret", "n1"),
            internal: addr("10.0.0.1:5060"),
            nodes: vec![addr("10.0.0.2:5060")],
            parked: Arc::default(),
            pickups: Arc::default(),
            changes,
        };
        let mut park = Update::Park(record::ParkEvent {
            node: "n2".into(),
            call_id: "parked-1@n2".into(),
            addr: addr("10.0.0.2:5060"),
            expires_at_ms: crate::clock::unix_ms() + 60_000,
        });
        node.apply_shared(&mut park, crate::clock::unix_ms());
        (node.clone(), node)
    }

    #[test]
    fn a_pick_up_relayed_by_one_shard_is_known_to_the_others() {
        let (mut shard0, mut shard1) = two_shards();
        let now = Instant::now();
        let phone = Peer {
            transport: Transport::Udp,
            remote: addr("192.0.2.7:5062"),
            local: addr("10.0.0.1:5060"),
            conn: None,
        };
        let holder = addr("10.0.0.2:5060");
        // the INVITE/Replaces goes to the shard of the Call-ID it replaces
        assert_eq!(
            shard0.pickup_holder(now, "phone-9@x", Some("parked-1@n2;to-tag=a"), phone),
            Some(holder)
        );
        // its ACK (keyed by the holder's To tag) may reach the other shard: relayed all the same
        assert_eq!(
            shard1.pickup_holder(now, "phone-9@x", None, phone),
            Some(holder)
        );
        // and the holder's requests in that dialog find the phone on either shard
        let from_holder = Peer {
            remote: holder,
            ..phone
        };
        assert_eq!(
            shard1.pickup_phone(now, "phone-9@x", &from_holder),
            Some(phone)
        );
        assert_eq!(
            shard0.pickup_phone(now, "phone-9@x", &from_holder),
            Some(phone)
        );
        // a Call-ID no shard relayed is nobody's
        assert_eq!(shard1.pickup_holder(now, "other@x", None, phone), None);
        // expired pick-ups go from every shard's view at once
        shard0.purge(now + PICKUP_IDLE + Duration::from_secs(1), 0);
        assert_eq!(shard1.pickup_phone(now, "phone-9@x", &from_holder), None);
    }
}
