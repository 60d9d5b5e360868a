//! What the cluster keeps in Redis, as data (no I/O): one hash per login (`{prefix}:loc:{login}`),
//! one field per binding (its key), each value `{node}|{json}`; the change events published on
//! `{prefix}:loc` at every write; the flow tokens of `Path`; and [`Remote`], each node's copy of
//! the other nodes' bindings, kept current by those events.
//!
//! The owner's node id leads the value so that a Lua script can delete a field only when this
//! node still owns it (a phone that moved to another node keeps its fresh record).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use registrar::Binding;

/// One binding as stored in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The Contact as registered.
    #[serde(rename = "c")]
    pub(crate) contact: String,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub(crate) reg_id: Option<u32>,
    /// Absolute expiry, unix ms.
    #[serde(rename = "e")]
    pub(crate) expires_at_ms: u64,
    /// The node that holds the phone's connection, and its internal address.
    #[serde(rename = "n")]
    pub(crate) node: String,
    #[serde(rename = "a")]
    pub(crate) addr: SocketAddr,
    /// The flow token: which of the owner's flows (RFC 5626 style, signed).
    #[serde(rename = "f")]
    pub(crate) flow: String,
    #[serde(rename = "ua", default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<String>,
}

impl Record {
    /// The `Path` (RFC 3327) other nodes put as `Route` to reach this binding.
    pub(crate) fn path(&self) -> String {
        format!("<sip:{}@{};lr>", self.flow, self.addr)
    }

    /// The hash field's value: `{node}|{json}`.
    pub(crate) fn to_value(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{}|{json}", self.node)
    }

    pub(crate) fn from_value(v: &str) -> Option<Self> {
        let (_, json) = v.split_once('|')?;
        serde_json::from_str(json).ok()
    }
}

/// A change announced on the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Event {
    /// The login.
    #[serde(rename = "l")]
    pub(crate) login: String,
    /// The node that wrote.
    #[serde(rename = "n")]
    pub(crate) node: String,
    /// The binding key (absent for `all`).
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<String>,
    /// The new record; absent: the binding was removed.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub(crate) record: Option<Record>,
    /// `Contact: *`: every binding of the login, on every node, is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) all: bool,
}

impl Event {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A publication change announced on the presence channel: PUBLISH on one node, watchers on
/// every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PresenceEvent {
    #[serde(rename = "n")]
    pub(crate) node: String,
    /// The publication as it is now (absent: withdrawn).
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub(crate) publication: Option<Publication>,
    /// The entity-tag gone (a refresh's previous one, or the withdrawn one).
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub(crate) gone: Option<String>,
}

/// One publication (PIDF as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Publication {
    #[serde(rename = "l")]
    pub(crate) login: String,
    #[serde(rename = "t")]
    pub(crate) etag: String,
    #[serde(rename = "x")]
    pub(crate) expires_at_ms: i64,
    #[serde(rename = "m")]
    pub(crate) modified_at_ms: i64,
    #[serde(rename = "b")]
    pub(crate) body: String,
}

impl PresenceEvent {
    /// The rows to insert and the entity-tags to withdraw.
    pub(crate) fn into_parts(self) -> (Vec<store::StoredPublication>, Vec<String>) {
        let rows = self.publication.map(Self::row).into_iter().collect();
        (rows, self.gone.into_iter().collect())
    }

    /// A publication as the presence driver takes it.
    pub(crate) fn row(p: Publication) -> store::StoredPublication {
        store::StoredPublication {
            login: p.login,
            etag: p.etag,
            expires_at_ms: p.expires_at_ms,
            modified_at_ms: p.modified_at_ms,
            body: p.body.into_bytes(),
        }
    }
}

/// A call parked on a node for a pushed phone (`{prefix}:park:{call-id}`, and announced on
/// `{prefix}:park`): the woken phone's INVITE with `Replaces` naming it may reach any node,
/// which relays it to the one holding the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParkEvent {
    #[serde(rename = "n")]
    pub(crate) node: String,
    /// The parked dialog's Call-ID (the one `Replaces` names).
    #[serde(rename = "c")]
    pub(crate) call_id: String,
    /// The holding node's internal address.
    #[serde(rename = "a")]
    pub(crate) addr: SocketAddr,
    /// Absolute expiry, unix ms; 0: the call is no longer parked.
    #[serde(rename = "x")]
    pub(crate) expires_at_ms: u64,
}

impl ParkEvent {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A node's word on a login's stored MESSAGEs (`{prefix}:msgq`, announced only): all
/// delivered (`clear`), or one stored. Keeps the messaging cores' in-order rule across nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueueEvent {
    #[serde(rename = "n")]
    pub(crate) node: String,
    #[serde(rename = "l")]
    pub(crate) login: String,
    #[serde(rename = "c")]
    pub(crate) clear: bool,
}

/// The calls parked on other nodes, by Call-ID.
#[derive(Debug, Default)]
pub(crate) struct Parked {
    by_call_id: HashMap<String, ParkEvent>,
}

impl Parked {
    /// Applies another node's announcement (or a snapshot row).
    pub(crate) fn apply(&mut self, ev: ParkEvent) {
        if ev.expires_at_ms == 0 {
            if self
                .by_call_id
                .get(&ev.call_id)
                .is_some_and(|p| p.node == ev.node)
            {
                self.by_call_id.remove(&ev.call_id);
            }
        } else {
            self.by_call_id.insert(ev.call_id.clone(), ev);
        }
    }

    /// The node holding the parked call `call_id`, if it is alive (not in `dead`).
    pub(crate) fn holder(
        &self,
        call_id: &str,
        now_ms: u64,
        dead: &HashSet<String>,
    ) -> Option<SocketAddr> {
        self.by_call_id
            .get(call_id)
            .filter(|p| p.expires_at_ms > now_ms && !dead.contains(&p.node))
            .map(|p| p.addr)
    }

    pub(crate) fn purge(&mut self, now_ms: u64) {
        self.by_call_id.retain(|_, p| p.expires_at_ms > now_ms);
    }
}

/// Keys and channel names under the configured prefix.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn location(&self, login: &str) -> String {
        format!("{}:loc:{login}", self.prefix)
    }

    pub(crate) fn location_pattern(&self) -> String {
        format!("{}:loc:*", self.prefix)
    }

    /// The login of a location key.
    pub(crate) fn login_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?.strip_prefix(":loc:")
    }

    pub(crate) fn channel(&self) -> String {
        format!("{}:loc", self.prefix)
    }

    pub(crate) fn presence_channel(&self) -> String {
        format!("{}:pres", self.prefix)
    }

    /// One hash per presentity: one field per entity-tag, `{node}|{json}`.
    pub(crate) fn publications(&self, login: &str) -> String {
        format!("{}:pub:{login}", self.prefix)
    }

    pub(crate) fn publication_pattern(&self) -> String {
        format!("{}:pub:*", self.prefix)
    }

    pub(crate) fn publication_login<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?.strip_prefix(":pub:")
    }

    pub(crate) fn park(&self, call_id: &str) -> String {
        format!("{}:park:{call_id}", self.prefix)
    }

    pub(crate) fn park_pattern(&self) -> String {
        format!("{}:park:*", self.prefix)
    }

    pub(crate) fn park_channel(&self) -> String {
        format!("{}:park", self.prefix)
    }

    pub(crate) fn queue_channel(&self) -> String {
        format!("{}:msgq", self.prefix)
    }

    /// The node's heartbeat key (short TTL, refreshed every second).
    pub(crate) fn heartbeat(&self) -> String {
        format!("{}:alive:", self.prefix)
    }

    /// The set of every node id that ever beat.
    pub(crate) fn node_set(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
}

/// Signs flow tokens: the first 80 bits of HMAC-SHA256(secret, node \0 login \0 key), in hex.
/// Only a node that knows the cluster secret can name a flow; the owner checks a token against
/// the login's bindings it holds.
#[derive(Clone)]
pub(crate) struct FlowTokens {
    secret: Vec<u8>,
    node: String,
}

impl std::fmt::Debug for FlowTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTokens")
            .field("node", &self.node)
            .finish()
    }
}

impl FlowTokens {
    pub(crate) fn new(secret: &str, node: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
            node: node.to_owned(),
        }
    }

    /// The cluster secret, which also signs the relay's branches (`relay::branch`).
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    pub(crate) fn token(&self, login: &str, key: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(self.node.as_bytes());
        mac.update(b"\0");
        mac.update(login.as_bytes());
        mac.update(b"\0");
        mac.update(key.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..10])
    }

    /// This node's record of one of its bindings; its expiry in unix ms through `epoch`.
    pub(crate) fn record(
        &self,
        login: &str,
        b: &Binding,
        addr: SocketAddr,
        epoch: &sip_message::Epoch,
    ) -> Record {
        Record {
            contact: b.contact.clone(),
            instance: b.instance.clone(),
            reg_id: b.reg_id,
            expires_at_ms: epoch.wall(b.expires_at),
            node: self.node.clone(),
            addr,
            flow: self.token(login, &b.key),
            user_agent: b.user_agent.clone(),
        }
    }
}

/// A binding held by another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteBinding {
    pub(crate) key: String,
    pub(crate) record: Record,
}

/// The other nodes' bindings, by login: filled by a snapshot when the subscription starts,
/// then kept current by the events. This node's own records are never in it.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    by_login: HashMap<String, Vec<RemoteBinding>>,
    own: String,
    /// Nodes whose heartbeat expired: their records are kept but never used until the node
    /// beats again (or writes: a change from a node proves it alive).
    dead: HashSet<String>,
}

impl Remote {
    pub(crate) fn new(own: &str) -> Self {
        Self {
            by_login: HashMap::new(),
            own: own.to_owned(),
            dead: HashSet::new(),
        }
    }

    /// The nodes treated as dead.
    pub(crate) fn dead(&self) -> &HashSet<String> {
        &self.dead
    }

    /// The heartbeat's verdict: `dead` is every node whose heartbeat is gone. Returns the
    /// nodes that died since the last verdict, each with how many bindings it held here, and
    /// the ones that came back.
    pub(crate) fn set_dead(&mut self, dead: Vec<String>) -> (Vec<(String, usize)>, Vec<String>) {
        let dead: HashSet<String> = dead.into_iter().filter(|n| *n != self.own).collect();
        let back: Vec<String> = self.dead.difference(&dead).cloned().collect();
        let died: Vec<(String, usize)> = dead
            .difference(&self.dead)
            .map(|n| {
                let held = self
                    .by_login
                    .values()
                    .flatten()
                    .filter(|b| b.record.node == *n)
                    .count();
                (n.clone(), held)
            })
            .collect();
        self.dead = dead;
        (died, back)
    }

    /// The login's live bindings on other nodes.
    pub(crate) fn lookup<'s>(
        &'s self,
        login: &str,
        now_ms: u64,
    ) -> impl Iterator<Item = &'s RemoteBinding> + 's {
        self.by_login
            .get(login)
            .into_iter()
            .flatten()
            .filter(move |b| b.record.expires_at_ms > now_ms && !self.dead.contains(&b.record.node))
    }

    pub(crate) fn len(&self) -> usize {
        self.by_login.values().map(Vec::len).sum()
    }

    /// Replaces everything with a snapshot: `(login, field, value)` rows.
    pub(crate) fn replace(&mut self, rows: Vec<(String, String, String)>, now_ms: u64) {
        self.by_login.clear();
        for (login, key, value) in rows {
            let Some(record) = Record::from_value(&value) else {
                tracing::warn!(%login, %key, "unreadable binding in Redis skipped");
                continue;
            };
            if record.node == self.own || record.expires_at_ms <= now_ms {
                continue;
            }
            self.by_login
                .entry(login)
                .or_default()
                .push(RemoteBinding { key, record });
        }
    }

    /// Applies another node's change (this node's own events are ignored).
    pub(crate) fn apply(&mut self, ev: &Event) {
        if ev.node == self.own {
            return;
        }
        if ev.record.is_some() && self.dead.remove(&ev.node) {
            tracing::info!(node = %ev.node, "cluster: a node whose heartbeat had expired writes again");
        }
        if ev.all {
            self.by_login.remove(&ev.login);
            return;
        }
        let Some(key) = &ev.key else { return };
        let list = self.by_login.entry(ev.login.clone()).or_default();
        list.retain(|b| &b.key != key || (ev.record.is_none() && b.record.node != ev.node));
        if let Some(record) = &ev.record {
            list.push(RemoteBinding {
                key: key.clone(),
                record: record.clone(),
            });
        }
        if list.is_empty() {
            self.by_login.remove(&ev.login);
        }
    }

    /// Drops the expired records.
    pub(crate) fn purge(&mut self, now_ms: u64) {
        self.by_login.retain(|_, list| {
            list.retain(|b| b.record.expires_at_ms > now_ms);
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(node: &str, exp: u64) -> Record {
        Record {
            contact: "sip:bob@127.0.0.1:5099".into(),
            instance: Some("<urn:uuid:1>".into()),
            reg_id: Some(1),
            expires_at_ms: exp,
            node: node.into(),
            addr: "127.0.0.1:5070".parse().unwrap(),
            flow: "abc".into(),
            user_agent: None,
        }
    }

    #[test]
    fn values_and_events_round_trip() {
        let r = record("n2", 10_000);
        let v = r.to_value();
        assert!(v.starts_with("n2|{"));
        assert_eq!(Record::from_value(&v), Some(r.clone()));
        assert_eq!(r.path(), "<sip:abc@127.0.0.1:5070;lr>");
        let ev = Event {
            login: "bob".into(),
            node: "n2".into(),
            key: Some("k".into()),
            record: Some(r),
            all: false,
        };
        assert_eq!(serde_json::from_str::<Event>(&ev.to_json()).unwrap(), ev);
        assert!(!ev.to_json().contains("\"all\""));
    }

    #[test]
    fn tokens_are_keyed_by_secret_node_login_and_binding() {
        let a = FlowTokens::new("0123456789abcdef", "n1");
        let t = a.token("bob", "k1");
        assert_eq!(t.len(), 20);
        assert_eq!(t, a.token("bob", "k1"));
        assert_ne!(t, a.token("bob", "k2"));
        assert_ne!(t, a.token("bobb", "k1"));
        assert_ne!(
            t,
            FlowTokens::new("0123456789abcdeX", "n1").token("bob", "k1")
        );
        assert_ne!(
            t,
            FlowTokens::new("0123456789abcdef", "n2").token("bob", "k1")
        );
    }

    #[test]
    fn remote_keeps_other_nodes_bindings_current() {
        let mut remote = Remote::new("n1");
        remote.replace(
            vec![
                ("bob".into(), "k1".into(), record("n2", 10_000).to_value()),
                ("bob".into(), "k2".into(), record("n1", 10_000).to_value()),
                ("bob".into(), "k3".into(), record("n3", 500).to_value()),
                ("eve".into(), "k".into(), "garbage".into()),
            ],
            1_000,
        );
        assert_eq!(
            remote.lookup("bob", 1_000).count(),
            1,
            "own and expired left out"
        );
        let up = |node: &str, key: &str, rec: Option<Record>| Event {
            login: "bob".into(),
            node: node.into(),
            key: Some(key.into()),
            record: rec,
            all: false,
        };
        remote.apply(&up("n3", "k4", Some(record("n3", 20_000))));
        assert_eq!(remote.lookup("bob", 1_000).count(), 2);
        // the phone of k1 moved to n3: one record, n3's
        remote.apply(&up("n3", "k1", Some(record("n3", 20_000))));
        let k1: Vec<_> = remote
            .lookup("bob", 1_000)
            .filter(|b| b.key == "k1")
            .collect();
        assert_eq!(k1.len(), 1);
        assert_eq!(k1[0].record.node, "n3");
        // n2's late removal of k1 does not remove n3's record
        remote.apply(&up("n2", "k1", None));
        assert_eq!(
            remote
                .lookup("bob", 1_000)
                .filter(|b| b.key == "k1")
                .count(),
            1
        );
        remote.apply(&up("n3", "k1", None));
        assert_eq!(
            remote
                .lookup("bob", 1_000)
                .filter(|b| b.key == "k1")
                .count(),
            0
        );
        // our own events never enter
        remote.apply(&up("n1", "k9", Some(record("n1", 20_000))));
        assert_eq!(remote.lookup("bob", 1_000).count(), 1);
        assert_eq!(remote.lookup("bob", 30_000).count(), 0, "expired by time");
        remote.apply(&Event {
            login: "bob".into(),
            node: "n3".into(),
            key: None,
            record: None,
            all: true,
        });
        assert_eq!(remote.len(), 0);
    }

    #[test]
    fn a_dead_node_s_bindings_and_parked_calls_are_not_used_until_it_lives_again() {
        let mut remote = Remote::new("n1");
        remote.replace(
            vec![
                ("bob".into(), "k1".into(), record("n2", 10_000).to_value()),
                ("bob".into(), "k2".into(), record("n3", 10_000).to_value()),
            ],
            1_000,
        );
        let (died, back) = remote.set_dead(vec!["n2".into(), "n1".into()]);
        assert_eq!(died, [("n2".to_owned(), 1)], "ourselves never");
        assert!(back.is_empty());
        assert_eq!(remote.lookup("bob", 1_000).count(), 1);
        assert_eq!(remote.set_dead(vec!["n2".into()]), (vec![], vec![]));
        let mut parked = Parked::default();
        let park = |node: &str, x: u64| ParkEvent {
            node: node.into(),
            call_id: "c1".into(),
            addr: "127.0.0.1:5070".parse().unwrap(),
            expires_at_ms: x,
        };
        parked.apply(park("n2", 10_000));
        assert_eq!(parked.holder("c1", 1_000, remote.dead()), None);
        // n2 writes again: alive, its records back
        remote.apply(&Event {
            login: "eve".into(),
            node: "n2".into(),
            key: Some("k".into()),
            record: Some(record("n2", 10_000)),
            all: false,
        });
        assert_eq!(remote.lookup("bob", 1_000).count(), 2);
        assert!(parked.holder("c1", 1_000, remote.dead()).is_some());
        assert_eq!(parked.holder("c1", 20_000, remote.dead()), None, "expired");
        // another node's end of a park it does not hold changes nothing; the holder's does
        parked.apply(park("n3", 0));
        assert!(parked.holder("c1", 1_000, remote.dead()).is_some());
        parked.apply(park("n2", 0));
        assert_eq!(parked.holder("c1", 1_000, remote.dead()), None);
    }
}
