//! The cluster (`[cluster]`, docs/cluster.md): several nodes share the location table through
//! Redis and route each request to the node that holds the phone's connection.
//!
//! - [`record`] (data, no I/O): the Redis layout, the change events, the flow tokens, and
//!   [`Remote`], this node's copy of the other nodes' bindings.
//! - [`redis_io`] (driver): the writer (this node's changes, queued, never awaited by the SIP
//!   path; a full rewrite after any outage) and the subscriber (snapshot + pub/sub → [`Update`]).
//! - [`relay`] (message rewriting, no I/O): the stateless relay between a node and the phones
//!   whose flows it holds.
//!
//! The dispatcher owns a [`Node`]: it reads [`Remote`] when routing a call or a MESSAGE (a
//! binding of another node is reached through that node's internal address, with its `Path` as
//! `Route`), applies [`Update`]s, and relays what other nodes send for its own phones
//! (`dispatcher/cluster.rs`). Without `[cluster]` none of this exists.

pub(crate) mod record;
pub(crate) mod redis_io;
pub(crate) mod relay;

use std::net::SocketAddr;
use std::sync::Arc;

use registrar::BindingChange;
use sip_message::{Peer, Transport};
use tokio::sync::{mpsc, Notify};

use crate::persist::Write;
pub(crate) use record::{Event, FlowTokens, Remote, RemoteBinding};

/// What the subscriber hands the dispatcher.
#[derive(Debug)]
pub(crate) enum Update {
    /// Every binding in Redis, `(login, key, value)`: replaces [`Remote`].
    Snapshot(Vec<(String, String, String)>),
    /// Another node's change.
    Event(Box<Event>),
    /// Another node's presence publication, or its withdrawal.
    Presence(Box<record::PresenceEvent>),
}

/// The dispatcher's side of the cluster.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) remote: Remote,
    pub(crate) tokens: FlowTokens,
    /// This node's internal address (one of its UDP listeners).
    pub(crate) internal: SocketAddr,
    /// The other nodes' internal addresses: the only sources relayed to this node's phones.
    pub(crate) nodes: Vec<SocketAddr>,
}

impl Node {
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
}

/// The senders of this node's changes to the cluster: binding changes (fed by [`tee`] and, at
/// start, by the restored bindings) and presence publications.
#[derive(Debug, Clone)]
pub(crate) struct Changes {
    pub(crate) bindings: mpsc::UnboundedSender<BindingChange>,
    pub(crate) publications: mpsc::UnboundedSender<store::PublicationChange>,
}

/// Starts the writer, the presence publisher and the subscriber; returns the dispatcher's
/// [`Node`], the channel of its [`Update`]s and the senders of this node's changes.
pub(crate) fn start(
    config: &ferroswitch_config::ClusterSettings,
    node_id: &str,
    epoch: sip_message::Epoch,
) -> anyhow::Result<(Node, mpsc::UnboundedReceiver<Update>, Changes)> {
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
    let (publications_tx, publications_rx) = mpsc::unbounded_channel();
    tokio::spawn(redis_io::presence_publisher(
        client.clone(),
        settings.clone(),
        publications_rx,
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
            remote: Remote::new(node_id),
            tokens,
            internal: config.internal,
            nodes: config.nodes.clone(),
        },
        updates_rx,
        Changes {
            bindings: changes_tx,
            publications: publications_tx,
        },
    ))
}

/// A sender of [`Write`]s that also hands every binding change and presence publication to
/// the cluster, then passes the write on to the database writer.
pub(crate) fn tee(
    writes: mpsc::UnboundedSender<Write>,
    cluster: Changes,
) -> mpsc::UnboundedSender<Write> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    tokio::spawn(async move {
        while let Some(w) = rx.recv().await {
            match &w {
                Write::Binding(c) => {
                    let _ = cluster.bindings.send(c.clone());
                }
                Write::Publication(c) => {
                    let _ = cluster.publications.send(c.clone());
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
