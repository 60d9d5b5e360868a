//! What the writer (`redis_io::writer`) sends to Redis: this node's changes as [`Op`]s (a
//! binding, a presence publication, a parked call), each one Lua script that writes and
//! announces in one round trip, and the [`Mirror`] of everything this node has written, so
//! that after an outage (or a Redis that restarted empty) all of it is written again.

use std::collections::HashMap;

use registrar::BindingChange;

use super::record::{Event, ParkEvent, PresenceEvent, Publication, QueueEvent, Record};
use super::redis_io::Settings;

/// Upsert one field, keep the hash alive at least as long as it, delete the field it
/// replaces (if any), announce it.
const UPSERT: &str = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) \
    if ARGV[6] ~= '' then redis.call('HDEL', KEYS[1], ARGV[6]) end \
    if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end \
    redis.call('PUBLISH', ARGV[4], ARGV[5]) return 1";
/// Remove one field only while this node still owns it (a phone that moved to another
/// node keeps its fresh record), then announce it.
const REMOVE: &str = "local v = redis.call('HGET', KEYS[1], ARGV[1]) \
    if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then \
    redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('PUBLISH', ARGV[3], ARGV[4]) return 1 end return 0";
/// `Contact: *`: every binding of the login, on every node.
const REMOVE_ALL: &str =
    "redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1";
/// A parked call: its key (with a TTL) and the announcement; `ARGV[1]` 0 deletes it.
const PARK: &str = "if ARGV[1] == '0' then redis.call('DEL', KEYS[1]) \
    else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1]) end \
    redis.call('PUBLISH', ARGV[3], ARGV[2]) return 1";

/// This node's change, as the tee and the dispatcher hand it to the writer.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Binding(BindingChange),
    Publication(store::PublicationChange),
    /// A call parked here for a pushed phone (`expires_at_ms` 0: no longer).
    Park {
        call_id: String,
        expires_at_ms: u64,
    },
    /// A login's stored MESSAGEs: all delivered (`clear`) or one stored (announced only).
    Queue {
        login: String,
        clear: bool,
    },
}

/// One write to Redis.
#[derive(Debug, Clone)]
pub(crate) enum Op {
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
    Publish {
        publication: Publication,
        replaces: Option<String>,
    },
    Unpublish {
        login: String,
        etag: String,
    },
    Park {
        call_id: String,
        expires_at_ms: u64,
    },
    Queue {
        login: String,
        clear: bool,
    },
}

impl Op {
    /// When a mirrored write stops mattering (removals never do).
    fn expires_at_ms(&self) -> u64 {
        match self {
            Self::Upsert { record, .. } => record.expires_at_ms,
            Self::Publish { publication, .. } => {
                u64::try_from(publication.expires_at_ms).unwrap_or(0)
            }
            Self::Park { expires_at_ms, .. } => *expires_at_ms,
            _ => u64::MAX,
        }
    }
}

/// What a mirrored write is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Binding(String, String),
    Publication(String, String),
    Park(String),
}

/// Everything this node has written (`own`) and removed since the last full write
/// (`removed`), so that a full write restores Redis whatever it lost.
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    own: HashMap<Slot, Op>,
    removed: HashMap<Slot, Op>,
}

impl Mirror {
    /// One change into the mirror and, unless a full write is due anyway, `pending`.
    pub(crate) fn absorb(&mut self, s: &Settings, c: Change, pending: &mut Vec<Op>, full: bool) {
        let mut put = |slot: Slot, op: Op, removal: bool| {
            if removal {
                self.own.remove(&slot);
                self.removed.insert(slot, op.clone());
            } else {
                self.removed.remove(&slot);
                self.own.insert(slot, op.clone());
            }
            if !full {
                pending.push(op);
            }
        };
        match c {
            Change::Binding(BindingChange::Upsert { login, binding }) => {
                let record = s.tokens.record(&login, &binding, s.internal, &s.epoch);
                let slot = Slot::Binding(login.clone(), binding.key.clone());
                let op = Op::Upsert {
                    login,
                    key: binding.key,
                    record,
                };
                put(slot, op, false);
            }
            Change::Binding(BindingChange::Remove { login, key }) => {
                let slot = Slot::Binding(login.clone(), key.clone());
                put(slot, Op::Remove { login, key }, true);
            }
            Change::Binding(BindingChange::RemoveAll { login }) => {
                let gone: Vec<Slot> = self
                    .own
                    .keys()
                    .filter(|k| matches!(k, Slot::Binding(l, _) if *l == login))
                    .cloned()
                    .collect();
                for slot in gone {
                    self.own.remove(&slot);
                    if let Slot::Binding(login, key) = &slot {
                        let op = Op::Remove {
                            login: login.clone(),
                            key: key.clone(),
                        };
                        self.removed.insert(slot, op);
                    }
                }
                if !full {
                    pending.push(Op::RemoveAll { login });
                }
            }
            Change::Publication(store::PublicationChange::Upsert { row, replaces }) => {
                if let Some(old) = &replaces {
                    self.own
                        .remove(&Slot::Publication(row.login.clone(), old.clone()));
                }
                let slot = Slot::Publication(row.login.clone(), row.etag.clone());
                let publication = Publication {
                    login: row.login,
                    etag: row.etag,
                    expires_at_ms: row.expires_at_ms,
                    modified_at_ms: row.modified_at_ms,
                    body: String::from_utf8_lossy(&row.body).into_owned(),
                };
                self.removed.remove(&slot);
                self.own.insert(
                    slot,
                    Op::Publish {
                        publication: publication.clone(),
                        replaces: None,
                    },
                );
                if !full {
                    pending.push(Op::Publish {
                        publication,
                        replaces,
                    });
                }
            }
            Change::Publication(store::PublicationChange::Remove { login, etag }) => {
                let slot = Slot::Publication(login.clone(), etag.clone());
                put(slot, Op::Unpublish { login, etag }, true);
            }
            Change::Park {
                call_id,
                expires_at_ms,
            } => {
                let slot = Slot::Park(call_id.clone());
                let op = Op::Park {
                    call_id,
                    expires_at_ms,
                };
                put(slot, op, expires_at_ms == 0);
            }
            // best effort, never mirrored: a node that missed it stores first, as after a start
            Change::Queue { login, clear } => {
                if !full {
                    pending.push(Op::Queue { login, clear });
                }
            }
        }
    }

    /// Everything to write again: the removals since the last full write, then every live
    /// write of this node.
    pub(crate) fn rewrite(&mut self, now_ms: u64) -> Vec<Op> {
        self.own.retain(|_, op| op.expires_at_ms() > now_ms);
        let mut ops: Vec<Op> = self.removed.values().cloned().collect();
        ops.extend(self.own.values().cloned());
        ops
    }

    /// A full write succeeded: the removals are done.
    pub(crate) fn written(&mut self) {
        self.removed.clear();
    }
}

/// Sends `ops` in pipelines of `batch`.
pub(crate) async fn apply(
    c: &mut redis::aio::ConnectionManager,
    s: &Settings,
    ops: &[Op],
    now_ms: u64,
    batch: usize,
) -> redis::RedisResult<()> {
    let channel = s.names.channel();
    let presence_channel = s.names.presence_channel();
    let node = s.node.clone();
    let binding_event = |login: &str, key: Option<&str>, record: Option<&Record>, all| {
        Event {
            login: login.to_owned(),
            node: node.clone(),
            key: key.map(str::to_owned),
            record: record.cloned(),
            all,
        }
        .to_json()
    };
    let ttl = |expires_at_ms: u64| expires_at_ms.saturating_sub(now_ms).max(1);
    for chunk in ops.chunks(batch) {
        let mut pipe = redis::pipe();
        for op in chunk {
            match op {
                Op::Upsert { login, key, record } => {
                    pipe.cmd("EVAL")
                        .arg(UPSERT)
                        .arg(1)
                        .arg(s.names.location(login))
                        .arg(key)
                        .arg(record.to_value())
                        .arg(ttl(record.expires_at_ms))
                        .arg(&channel)
                        .arg(binding_event(login, Some(key), Some(record), false))
                        .arg("");
                }
                Op::Remove { login, key } => {
                    pipe.cmd("EVAL")
                        .arg(REMOVE)
                        .arg(1)
                        .arg(s.names.location(login))
                        .arg(key)
                        .arg(&s.node)
                        .arg(&channel)
                        .arg(binding_event(login, Some(key), None, false));
                }
                Op::RemoveAll { login } => {
                    pipe.cmd("EVAL")
                        .arg(REMOVE_ALL)
                        .arg(1)
                        .arg(s.names.location(login))
                        .arg(&channel)
                        .arg(binding_event(login, None, None, true));
                }
                Op::Publish {
                    publication,
                    replaces,
                } => {
                    let ev = PresenceEvent {
                        node: s.node.clone(),
                        publication: Some(publication.clone()),
                        gone: replaces.clone(),
                    };
                    let value = format!(
                        "{}|{}",
                        s.node,
                        serde_json::to_string(publication).unwrap_or_default()
                    );
                    pipe.cmd("EVAL")
                        .arg(UPSERT)
                        .arg(1)
                        .arg(s.names.publications(&publication.login))
                        .arg(&publication.etag)
                        .arg(value)
                        .arg(ttl(u64::try_from(publication.expires_at_ms).unwrap_or(0)))
                        .arg(&presence_channel)
                        .arg(serde_json::to_string(&ev).unwrap_or_default())
                        .arg(replaces.as_deref().unwrap_or(""));
                }
                Op::Unpublish { login, etag } => {
                    let ev = PresenceEvent {
                        node: s.node.clone(),
                        publication: None,
                        gone: Some(etag.clone()),
                    };
                    pipe.cmd("EVAL")
                        .arg(REMOVE)
                        .arg(1)
                        .arg(s.names.publications(login))
                        .arg(etag)
                        .arg(&s.node)
                        .arg(&presence_channel)
                        .arg(serde_json::to_string(&ev).unwrap_or_default());
                }
                Op::Park {
                    call_id,
                    expires_at_ms,
                } => {
                    let ev = ParkEvent {
                        node: s.node.clone(),
                        call_id: call_id.clone(),
                        addr: s.internal,
                        expires_at_ms: *expires_at_ms,
                    };
                    let px = if *expires_at_ms == 0 {
                        0
                    } else {
                        ttl(*expires_at_ms)
                    };
                    pipe.cmd("EVAL")
                        .arg(PARK)
                        .arg(1)
                        .arg(s.names.park(call_id))
                        .arg(px)
                        .arg(ev.to_json())
                        .arg(s.names.park_channel());
                }
                Op::Queue { login, clear } => {
                    let ev = QueueEvent {
                        node: s.node.clone(),
                        login: login.clone(),
                        clear: *clear,
                    };
                    pipe.cmd("PUBLISH")
                        .arg(s.names.queue_channel())
                        .arg(serde_json::to_string(&ev).unwrap_or_default());
                }
            }
            pipe.ignore();
        }
        pipe.query_async::<()>(c).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::record::{FlowTokens, Names};

    fn settings() -> Settings {
        Settings {
            node: "n1".into(),
            internal: "127.0.0.1:5070".parse().unwrap(),
            names: Names::new("fs"),
            tokens: FlowTokens::new("0123456789abcdef", "n1"),
            epoch: sip_message::Epoch::new(std::time::Instant::now(), 1_700_000_000_000),
        }
    }

    fn publication(etag: &str, exp: i64) -> store::StoredPublication {
        store::StoredPublication {
            login: "alice".into(),
            etag: etag.into(),
            expires_at_ms: exp,
            modified_at_ms: 1,
            body: b"<presence/>".to_vec(),
        }
    }

    #[test]
    fn the_mirror_rewrites_what_lives_and_the_removals_since() {
        let s = settings();
        let mut m = Mirror::default();
        let mut pending = Vec::new();
        m.absorb(
            &s,
            Change::Publication(store::PublicationChange::Upsert {
                row: publication("e1", 10_000),
                replaces: None,
            }),
            &mut pending,
            false,
        );
        // a modification: the new tag replaces the old one, in Redis and in the mirror
        m.absorb(
            &s,
            Change::Publication(store::PublicationChange::Upsert {
                row: publication("e2", 10_000),
                replaces: Some("e1".into()),
            }),
            &mut pending,
            false,
        );
        m.absorb(
            &s,
            Change::Park {
                call_id: "c1".into(),
                expires_at_ms: 500,
            },
            &mut pending,
            false,
        );
        m.absorb(
            &s,
            Change::Park {
                call_id: "c2".into(),
                expires_at_ms: 9_000,
            },
            &mut pending,
            false,
        );
        m.absorb(
            &s,
            Change::Park {
                call_id: "c2".into(),
                expires_at_ms: 0,
            },
            &mut pending,
            true,
        );
        assert_eq!(pending.len(), 4, "the last one came during a full write");
        assert!(
            matches!(&pending[1], Op::Publish { replaces: Some(r), .. } if r == "e1"),
            "{pending:?}"
        );
        let ops = m.rewrite(1_000);
        // c2's removal, then e2 (c1 expired, e1 replaced)
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(matches!(&ops[0], Op::Park { call_id, expires_at_ms: 0 } if call_id == "c2"));
        assert!(
            matches!(&ops[1], Op::Publish { publication, replaces: None } if publication.etag == "e2")
        );
        m.written();
        assert_eq!(m.rewrite(1_000).len(), 1);
    }
}
