//! The dispatcher's side of the cluster (`crate::cluster`): the other nodes' changes coming in,
//! and the stateless relay between the other nodes and the phones whose flows this node holds.
//! Runs before the transaction layer: relayed messages are never transactions of ours.
//!
//! | message | from | what happens |
//! |---|---|---|
//! | request, R-URI not ours or a `Route` with our flow token | another node | out on the phone's flow (token, else Contact = R-URI); no flow: `430 Flow Failed` and the binding dropped |
//! | in-dialog request, R-URI another node's address | one of our phones | to that node (its B2BUA holds the dialog) |
//! | response, top `Via` ours with the relay's branch | anyone | the `Via` popped, sent to the next one |

use std::time::Instant;

use registrar::BindingChange;
use sip_message::{Message, MessageBuilder, Method, Peer, Transport};

use super::Dispatcher;
use crate::cluster::relay::{self, Back};
use crate::cluster::Update;
use crate::persist::Write;
use crate::transport::Sent;

impl Dispatcher {
    /// Joins the cluster: the other nodes' bindings become targets, their requests for our
    /// phones are relayed.
    pub(crate) fn with_cluster(mut self, node: crate::cluster::Node) -> Self {
        self.cluster = Some(node);
        self
    }

    /// A snapshot or a change from the other nodes.
    pub(super) fn cluster_update(&mut self, now: Instant, update: Update) {
        let Some(node) = &mut self.cluster else {
            return;
        };
        let now_ms = self.epoch.wall(now);
        match update {
            Update::Snapshot(rows) => {
                node.remote.replace(rows, now_ms);
                tracing::debug!(
                    bindings = node.remote.len(),
                    "cluster: remote bindings replaced"
                );
            }
            Update::Presence(ev) => {
                let (rows, gone) = ev.into_parts();
                self.presence.remote(&mut self.tx, now, rows, &gone);
            }
            Update::Event(ev) => {
                tracing::debug!(login = %ev.login, node = %ev.node, key = ?ev.key, upsert = ev.record.is_some(), all = ev.all, "cluster: change from another node");
                node.remote.apply(&ev);
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
                    .filter(|b| ev.all || (ev.record.is_some() && ev.key.as_ref() == Some(&b.key)))
                    .map(|b| b.key.clone())
                    .collect();
                for key in stale {
                    if self.registrar.location_mut().remove(&ev.login, &key) {
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
        // a phone's in-dialog request for a dialog another node's B2BUA holds
        if msg.to_tag().is_none() {
            return false;
        }
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
                .any(|b| b.source.remote == from.remote && b.source.transport == from.transport)
        });
        if !ours {
            return false;
        }
        let back = self.back(from);
        let Some(b) = msg.top_branch() else {
            return false;
        };
        let via = relay::via(
            Transport::Udp,
            node.internal,
            &relay::branch(node.tokens.secret(), b, back),
        );
        let bytes = relay::forward_request(msg, &via, false, Some(from.remote));
        let peer = Peer {
            transport: Transport::Udp,
            remote: target,
            local: node.internal,
            conn: None,
        };
        let _ = self.transports.send(&peer, &bytes);
        true
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
        let Some(node) = &self.cluster else {
            return false;
        };
        let token = relay::route_token(msg, node.internal);
        let target = relay::request_addr(msg);
        if token.is_none() && target == Some(node.internal) {
            // for our own B2BUA's dialogs (a phone of the other node answering us)
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
            let mut bindings = self.registrar.location().lookup(&login, now);
            match &token {
                Some(t) => bindings.find(|b| node.tokens.token(&login, &b.key) == *t),
                None => bindings.find(|b| {
                    b.contact == ruri || Some(crate::calls::device_peer(b).remote) == target
                }),
            }
            .map(|b| (b.key.clone(), crate::calls::device_peer(b)))
        };
        let is_ack = msg.method() == Some(&Method::Ack);
        let Some((key, peer)) = found else {
            tracing::info!(%login, from = %from.remote, "cluster: no flow here for a relayed request, 430");
            if !is_ack {
                self.refuse_flow(msg, from);
            }
            return true;
        };
        let Some(b) = msg.top_branch() else {
            return true;
        };
        let back = self.back(from);
        let via = relay::via(
            peer.transport,
            peer.local,
            &relay::branch(node.tokens.secret(), b, back),
        );
        let bytes = relay::forward_request(msg, &via, token.is_some(), Some(from.remote));
        match self.transports.send(&peer, &bytes) {
            Sent::Handed => {}
            Sent::Failed | Sent::NoFlow => {
                tracing::info!(%login, binding = %key, %peer, "cluster: the phone's flow is gone: 430, binding dropped (RFC 5626 §4.4)");
                if self.registrar.location_mut().remove(&login, &key) {
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
            MessageBuilder::response_to(msg, 430, Some(&msg.stable_tag()), Some(from.remote));
        b.server();
        let _ = self.transports.send(from, &b.finish());
    }
}
