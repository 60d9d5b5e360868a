//! The dispatcher's side of the cluster (`crate::cluster`): the other nodes' changes coming in,
//! and the stateless relay between the other nodes and the phones whose flows this node holds.
//! Runs before the transaction layer: relayed messages are never transactions of ours.
//!
//! | message | from | what happens |
//! |---|---|---|
//! | request, R-URI not ours or a `Route` with our flow token | another node | out on the phone's flow (token, else Contact = R-URI); no flow: `430 Flow Failed` and the binding dropped |
//! | in-dialog request, R-URI another node's address | one of our phones | to that node (its B2BUA holds the dialog) |
//! | INVITE with `Replaces` naming a call parked on another node, then any request of its Call-ID | a phone | to that node (which authenticates it and connects the call) |
//! | request in such a pick-up dialog | the holding node | to the phone's flow |
//! | INVITE with `Replaces` | another node | ours: the B2BUA picks the parked call up |
//! | response, top `Via` ours with the relay's branch | anyone | the `Via` popped, sent to the next one |

use std::time::Instant;

use registrar::BindingChange;
use sip_message::{Message, MessageBuilder, Method, Peer, Transport};

use super::Dispatcher;

/// The longest a starting node waits for the other nodes' state before serving.
const FIRST_SNAPSHOT: std::time::Duration = std::time::Duration::from_secs(3);
use crate::cluster::relay::{self, Back};
use crate::cluster::Update;
use crate::persist::Write;
use crate::transport::Sent;
use crate::tu::Tu;

impl Dispatcher {
    /// Joins the cluster: the other nodes' bindings become targets, their requests for our
    /// phones are relayed.
    pub(crate) fn with_cluster(mut self, node: crate::cluster::Node) -> Self {
        self.cluster = Some(node);
        self.set_flood_exempt();
        self
    }

    /// At start, before serving any request: waits (at most [`FIRST_SNAPSHOT`]) for the
    /// first snapshot of the other nodes' state, so that the first requests already see
    /// their bindings and publications (a watcher re-subscribing to a restarted node gets
    /// the full state at once). Redis down: the node serves without it.
    pub(super) async fn cluster_first_snapshot(
        &mut self,
        updates: &mut tokio::sync::mpsc::UnboundedReceiver<Update>,
    ) {
        if self.cluster.is_none() {
            return;
        }
        let wait = async {
            while let Some(u) = updates.recv().await {
                let first = matches!(u, Update::Snapshot(_));
                let now = Instant::now();
                self.cluster_update(now, u);
                self.drain(now);
                if first {
                    return;
                }
            }
        };
        if tokio::time::timeout(FIRST_SNAPSHOT, wait).await.is_err() {
            tracing::warn!(
                "cluster: no snapshot from Redis yet, serving without the other nodes' state"
            );
        }
    }

    /// A snapshot or a change from the other nodes: with one shard its shared part (the other
    /// nodes' bindings and parked calls) is applied here, with several the fan-out task did it
    /// (`shards::fan_out_cluster`); then this shard's own part.
    pub(super) fn cluster_update(&mut self, now: Instant, mut update: Update) {
        let Some(node) = &self.cluster else {
            return;
        };
        if self.siblings.is_none() {
            node.apply_shared(&mut update, self.epoch.wall(now));
        }
        match update {
            Update::Snapshot(snap) => {
                // the other nodes' publications: the presence core notifies only the
                // watchers of the presentities whose state changed (none after a mere
                // reconnection, the state a restarted node starts from)
                let rows = snap
                    .publications
                    .into_iter()
                    .map(|(_, p)| crate::cluster::record::PresenceEvent::row(p))
                    .collect();
                self.presence.remote(&mut self.tx, now, rows, &[]);
            }
            Update::Park(_) | Update::Dead(_) => {}
            Update::Queue(ev) => {
                tracing::debug!(login = %ev.login, node = %ev.node, clear = ev.clear, "cluster: another node's word on stored messages");
                self.messaging.remote_queue(&ev.login, ev.clear);
            }
            Update::Presence(ev) => {
                let (rows, gone) = ev.into_parts();
                self.presence.remote(&mut self.tx, now, rows, &gone);
            }
            Update::Event(ev) => {
                // a parked call (or a ghost) here waits for this login: the phone woke up on
                // another node; the call stays here and forks to it through that node
                if let (Some(record), Some(key)) = (&ev.record, &ev.key) {
                    if self.calls.awaits_registration(&ev.login) {
                        let rb = crate::cluster::RemoteBinding {
                            key: key.clone(),
                            record: record.clone(),
                        };
                        let target = b2bua::Target {
                            login: ev.login.clone(),
                            uri: record.contact.clone(),
                            peer: node.peer(&rb),
                            instance: record.instance.clone(),
                        };
                        tracing::info!(login = %ev.login, node = %ev.node, "cluster: the phone a parked call waits for registered on another node");
                        let mut out = crate::calls::TxOut {
                            tx: &mut self.tx,
                            tu: Tu::Calls,
                            now,
                        };
                        self.calls.registered(now, &ev.login, target, &mut out);
                    }
                }
                // the phone now registers elsewhere (or `Contact: *` elsewhere): our copy goes
                let stale: Vec<String> = self
                    .registrar
                    .location()
                    .iter_login(&ev.login)
                    .iter()
                    .filter(|b| ev.all || (ev.record.is_some() && ev.key.as_ref() == Some(&b.key)))
                    .map(|b| b.key.clone())
                    .collect();
                for key in stale {
                    if self.registrar.location().remove(&ev.login, &key) {
                        tracing::info!(login = %ev.login, binding = %key, node = %ev.node, "cluster: binding moved to another node, dropped here");
                        let _ = self.writes.send(Write::Binding(BindingChange::Remove {
                            login: ev.login.clone(),
                            key,
                        }));
                    }
                }
            }
        }
    }

    /// Relays `msg` if it is cluster traffic (see the module's table); `true` when it was
    /// taken care of here.
    pub(super) fn cluster_relayed(&mut self, now: Instant, msg: &Message, from: &Peer) -> bool {
        let Some(node) = &self.cluster else {
            return false;
        };
        if !msg.is_request() {
            if !msg
                .top_branch()
                .is_some_and(|b| b.starts_with(relay::MAGIC))
            {
                return false;
            }
            if let Some((bytes, back, transport, to)) = relay::pop_via(node.tokens.secret(), msg) {
                let local = match back {
                    Back::Udp(i) => self.udp_locals.get(i).copied().unwrap_or(node.internal),
                    Back::Stream => from.local,
                };
                let peer = Peer {
                    transport,
                    remote: to,
                    local,
                    conn: None,
                };
                if !matches!(self.transports.send(&peer, &bytes), Sent::Handed) {
                    tracing::debug!(%peer, "cluster: relayed response not sent");
                }
            }
            return true;
        }
        if node.is_node(from) {
            return self.relay_to_phone(now, msg, from);
        }
        // a woken phone picking up a call parked on another node (INVITE/Replaces, then the
        // rest of that Call-ID): that node authenticates it and connects the call
        let replaces = (msg.method() == Some(&Method::Invite) && msg.to_tag().is_none())
            .then(|| msg.headers().iter().find(|h| h.name.matches("Replaces")))
            .flatten()
            .map(|h| h.value());
        if let (Some(call_id), Some(node)) = (msg.call_id(), self.cluster.as_mut()) {
            if let Some(holder) = node.pickup_holder(now, call_id, replaces, *from) {
                if replaces.is_some() {
                    tracing::info!(%call_id, %holder, "cluster: INVITE/Replaces for a call parked on another node, relayed there");
                }
                self.relay_to_node(msg, from, holder);
                return true;
            }
        }
        // a phone's in-dialog request for a dialog another node's B2BUA holds
        if msg.to_tag().is_none() {
            return false;
        }
        let Some(node) = &self.cluster else {
            return false;
        };
        let Some(target) = relay::request_addr(msg) else {
            return false;
        };
        if !node.nodes.contains(&target) {
            return false;
        }
        // one of our phones: a binding of the dialog's From or To login (whichever side the
        // phone is) registered from this source; only those logins' bindings are looked at
        let location = self.registrar.location();
        let from_user = msg.from_header().ok().and_then(|f| f.uri.user);
        let to_user = msg.to_header().ok().and_then(|t| t.uri.user);
        let ours = [from_user, to_user].into_iter().flatten().any(|login| {
            location
                .iter_login(login)
                .iter()
                .any(|b| b.source.remote == from.remote && b.source.transport == from.transport)
        });
        if !ours {
            return false;
        }
        self.relay_to_node(msg, from, target)
    }

    /// Sends a phone's request on to another node (`target`), from our internal address.
    fn relay_to_node(&mut self, msg: &Message, from: &Peer, target: std::net::SocketAddr) -> bool {
        let Some(node) = &self.cluster else {
            return false;
        };
        let out = Peer {
            transport: Transport::Udp,
            remote: target,
            local: node.internal,
            conn: None,
        };
        self.forward(msg, from, &out, false);
        true
    }

    /// Sends `msg` (from `from`) out to `out` with our `Via` on top (a branch signed for the
    /// way back), its first `Route` removed when `pop_route`. `None` without a cluster or
    /// without a branch to derive ours from.
    fn forward(&mut self, msg: &Message, from: &Peer, out: &Peer, pop_route: bool) -> Option<Sent> {
        let node = self.cluster.as_ref()?;
        let branch = relay::branch(node.tokens.secret(), msg.top_branch()?, self.back(from));
        let via = relay::via(out.transport, out.local, &branch);
        let bytes = relay::forward_request(msg, &via, pop_route, Some(from.remote));
        Some(self.transports.send(out, &bytes))
    }

    fn back(&self, from: &Peer) -> Back {
        match from.transport {
            Transport::Udp => Back::Udp(
                self.udp_locals
                    .iter()
                    .position(|l| *l == from.local)
                    .unwrap_or(0),
            ),
            _ => Back::Stream,
        }
    }

    /// A request another node sends for one of our phones.
    fn relay_to_phone(&mut self, now: Instant, msg: &Message, from: &Peer) -> bool {
        let Some(node) = self.cluster.as_mut() else {
            return false;
        };
        // the holding node's request in a pick-up dialog we relayed: to the phone's flow
        if let Some(phone) = msg.call_id().and_then(|c| node.pickup_phone(now, c, from)) {
            self.forward(msg, from, &phone, false);
            return true;
        }
        let Some(node) = &self.cluster else {
            return false;
        };
        let token = relay::route_token(msg, node.internal);
        let target = relay::request_addr(msg);
        if token.is_none() && target == Some(node.internal) {
            // for our own B2BUA's dialogs (a phone of the other node answering us)
            return false;
        }
        if token.is_none() && msg.headers().iter().any(|h| h.name.matches("Replaces")) {
            // a pick-up another node relayed to us, which hold the parked call: our B2BUA
            // authenticates the phone and connects it (or answers 481/403)
            return false;
        }
        let Some(login) = msg
            .to_header()
            .ok()
            .and_then(|t| t.uri.user.map(str::to_owned))
        else {
            return false;
        };
        let ruri = msg.request_uri_str().unwrap_or("");
        let found = {
            let current = self.registrar.location().lookup(&login, now);
            let mut bindings = current.iter();
            match &token {
                Some(t) => bindings.find(|b| node.tokens.token(&login, &b.key) == *t),
                None => bindings.find(|b| {
                    b.contact == ruri || Some(crate::calls::device_peer(b).remote) == target
                }),
            }
            .map(|b| (b.key.clone(), crate::calls::device_peer(b)))
        };
        let is_ack = msg.method() == Some(&Method::Ack);
        if found.is_none() && token.is_none() && is_ack {
            // the ACK of a non-2xx answer of ours (a relayed pick-up's 407): our transaction's
            return false;
        }
        let Some((key, peer)) = found else {
            tracing::info!(%login, from = %from.remote, "cluster: no flow here for a relayed request, 430");
            if !is_ack {
                self.refuse_flow(msg, from);
            }
            return true;
        };
        match self.forward(msg, from, &peer, token.is_some()) {
            None | Some(Sent::Handed) => {}
            Some(Sent::Failed | Sent::NoFlow) => {
                tracing::info!(%login, binding = %key, %peer, "cluster: the phone's flow is gone: 430, binding dropped (RFC 5626 §4.4)");
                if self.registrar.location().remove(&login, &key) {
                    let _ = self
                        .writes
                        .send(Write::Binding(BindingChange::Remove { login, key }));
                }
                if !is_ack {
                    self.refuse_flow(msg, from);
                }
            }
        }
        true
    }

    /// `430 Flow Failed` (RFC 5626 §5.3), stateless: the other node tries the next binding.
    fn refuse_flow(&mut self, msg: &Message, from: &Peer) {
        let mut b =
            MessageBuilder::response_to(msg, 430, Some(&self.answer_tag(msg)), Some(from.remote));
        b.server();
        let _ = self.transports.send(from, &b.finish());
    }
}
