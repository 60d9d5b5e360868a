//! The in-memory location table: bindings per login, one table shared by every core shard.
//! The driver restores it from storage at start and writes every [`BindingChange`] through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use sip_message::Peer;

/// One registered contact of a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Identity within the login: `+sip.instance` (plus `reg-id` when present) or the
    /// normalised contact URI.
    pub key: String,
    /// The contact URI as registered.
    pub contact: String,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
    pub q_milli: Option<u16>,
    /// When it expires, on the driver's monotonic clock (the driver's
    /// [`sip_message::Epoch`] turns it into epoch seconds for storage).
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER came from: the flow requests to this device go back over, unless
    /// `reach` says the Contact.
    pub source: Peer,
    /// Whether requests go over `source` or to the Contact ([`crate::reach`]).
    pub reach: crate::Reach,
    pub path: Option<String>,
    pub user_agent: Option<String>,
    /// When the REGISTER that made it arrived.
    pub updated_at: Instant,
}

impl Binding {
    /// Whole seconds left at `now`, rounded up (0 once expired).
    pub fn remaining_secs(&self, now: Instant) -> u32 {
        let ms = self.expires_at.saturating_duration_since(now).as_millis();
        (ms.div_ceil(1000)).min(u128::from(u32::MAX)) as u32
    }
}

/// What changed, for write-through storage.
// Upsert is the common variant and changes are short-lived: boxing it would only add an
// allocation per REGISTER.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    Upsert { login: String, binding: Binding },
    Remove { login: String, key: String },
    RemoveAll { login: String },
}

/// How many buckets the table is split into: writers of different logins rarely meet on one
/// lock, and a purge holds one bucket at a time.
const BUCKETS: usize = 64;

/// One bucket: the bindings of the logins whose hash lands here, each list behind its own
/// `Arc` so a reader takes it and lets go of the lock.
type Bucket = RwLock<HashMap<Arc<str>, Arc<Vec<Binding>>>>;

struct Table {
    buckets: [Bucket; BUCKETS],
    /// Bindings, and logins holding at least one, over all buckets (changed under the
    /// bucket's write lock).
    count: AtomicUsize,
    logins: AtomicUsize,
}

/// Bindings by login, shared by every core shard (docs/architecture.md): a clone is another
/// handle on the same table.
///
/// Each login's list is read-copy-update: a read clones the list's `Arc` under its bucket's
/// read lock and iterates with no lock held ([`Bindings`]); a write takes the bucket's write
/// lock and changes the list in place, or a copy of it while a reader still holds the old one.
/// No lock is held across a call into the caller's code. One shard writes a login (the one
/// its REGISTER goes to), so read-then-write in a REGISTER races with no other writer of it.
#[derive(Clone)]
pub struct Location {
    table: Arc<Table>,
}

impl Default for Location {
    fn default() -> Self {
        Self {
            table: Arc::new(Table {
                buckets: std::array::from_fn(|_| RwLock::default()),
                count: AtomicUsize::new(0),
                logins: AtomicUsize::new(0),
            }),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("logins", &self.logins())
            .field("bindings", &self.len())
            .finish()
    }
}

/// A snapshot of one login's bindings, taken by [`Location::lookup`] or
/// [`Location::iter_login`]: later writes do not show in it. Holds no lock.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    list: Option<Arc<Vec<Binding>>>,
    /// Only the bindings alive at this instant ([`Location::lookup`]).
    live_at: Option<Instant>,
}

impl Bindings {
    /// The bindings of the snapshot (only the live ones when it came from a lookup).
    pub fn iter(&self) -> BindingsIter<'_> {
        BindingsIter {
            list: self.list.as_deref().map_or(&[][..], Vec::as_slice).iter(),
            live_at: self.live_at,
        }
    }

    /// Those of [`Self::iter`] still alive at `now`.
    pub fn live(&self, now: Instant) -> impl Iterator<Item = &Binding> + '_ {
        self.iter().filter(move |b| b.expires_at > now)
    }

    /// Whether [`Self::iter`] yields nothing.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// How many [`Self::iter`] yields.
    pub fn count(&self) -> usize {
        self.iter().count()
    }
}

impl<'a> IntoIterator for &'a Bindings {
    type Item = &'a Binding;
    type IntoIter = BindingsIter<'a>;

    fn into_iter(self) -> BindingsIter<'a> {
        self.iter()
    }
}

/// The iterator of [`Bindings::iter`].
#[derive(Debug, Clone)]
pub struct BindingsIter<'a> {
    list: std::slice::Iter<'a, Binding>,
    live_at: Option<Instant>,
}

impl<'a> Iterator for BindingsIter<'a> {
    type Item = &'a Binding;

    fn next(&mut self) -> Option<&'a Binding> {
        let live_at = self.live_at;
        self.list
            .find(|b| live_at.is_none_or(|now| b.expires_at > now))
    }
}

fn read(b: &Bucket) -> RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Vec<Binding>>>> {
    // a panic under the lock leaves whole lists behind (each write is one assignment)
    b.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(b: &Bucket) -> RwLockWriteGuard<'_, HashMap<Arc<str>, Arc<Vec<Binding>>>> {
    b.write().unwrap_or_else(PoisonError::into_inner)
}

impl Location {
    pub fn new() -> Self {
        Self::default()
    }

    fn bucket(&self, login: &str) -> &Bucket {
        // the low bits: shard::index takes the high ones, so one shard's logins still spread
        // over every bucket
        let i = sip_message::shard::hash(login.as_bytes()) as usize % BUCKETS;
        &self.table.buckets[i]
    }

    fn list(&self, login: &str) -> Option<Arc<Vec<Binding>>> {
        read(self.bucket(login)).get(login).cloned()
    }

    /// Current bindings of a login (possibly expired ones not yet purged are filtered out).
    pub fn lookup(&self, login: &str, now: Instant) -> Bindings {
        Bindings {
            list: self.list(login),
            live_at: Some(now),
        }
    }

    /// Every binding of one login (expired ones not purged yet included).
    pub fn iter_login(&self, login: &str) -> Bindings {
        Bindings {
            list: self.list(login),
            live_at: None,
        }
    }

    /// Calls `f` with every binding (expired ones not purged yet included), by login, in no
    /// order. Each bucket is copied out (its lists' `Arc`s) before `f` sees it: `f` may write
    /// to the table; what it writes may or may not be visited.
    pub fn for_each(&self, mut f: impl FnMut(&str, &Binding)) {
        self.for_each_login(|login, list| {
            for b in list {
                f(login, b);
            }
        });
    }

    /// Calls `f` with each login and all its bindings (expired ones not purged yet included),
    /// in no order, as [`Self::for_each`] does.
    pub fn for_each_login(&self, mut f: impl FnMut(&str, &[Binding])) {
        let mut lists = Vec::new();
        for bucket in &self.table.buckets {
            lists.clear();
            lists.extend(read(bucket).iter().map(|(l, b)| (l.clone(), b.clone())));
            for (login, list) in &lists {
                f(login, list);
            }
        }
    }

    /// Logins holding at least one binding.
    pub fn logins(&self) -> usize {
        self.table.logins.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.table.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts or replaces the binding with the same key.
    pub fn upsert(&self, login: &str, binding: Binding) {
        let mut map = write(self.bucket(login));
        // the common case (a refresh) finds the login without allocating a key
        let list = match map.get_mut(login) {
            Some(list) => list,
            None => {
                self.table.logins.fetch_add(1, Ordering::Relaxed);
                // most logins have one device: without this, the first push reserves room for 4
                map.entry(login.into())
                    .or_insert_with(|| Arc::new(Vec::with_capacity(1)))
            }
        };
        // in place unless a reader holds this list: then a copy, which readers see next
        let list = Arc::make_mut(list);
        match list.iter_mut().find(|b| b.key == binding.key) {
            Some(b) => *b = binding,
            None => {
                // then grow one at a time: a login rarely holds more than a few devices
                list.reserve_exact(1);
                list.push(binding);
                self.table.count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn remove(&self, login: &str, key: &str) -> bool {
        let mut map = write(self.bucket(login));
        let Some(list) = map.get_mut(login) else {
            return false;
        };
        let Some(at) = list.iter().position(|b| b.key == key) else {
            return false;
        };
        if list.len() == 1 {
            map.remove(login);
            self.table.logins.fetch_sub(1, Ordering::Relaxed);
        } else {
            Arc::make_mut(list).remove(at);
        }
        self.table.count.fetch_sub(1, Ordering::Relaxed);
        true
    }

    pub fn remove_all(&self, login: &str) -> usize {
        let mut map = write(self.bucket(login));
        let Some(list) = map.remove(login) else {
            return 0;
        };
        self.table.count.fetch_sub(list.len(), Ordering::Relaxed);
        self.table.logins.fetch_sub(1, Ordering::Relaxed);
        list.len()
    }

    /// Drops the expired bindings of the logins `owns` says (a shard purges its own logins);
    /// returns what to remove from storage. Holds one bucket's write lock at a time, and
    /// only for a bucket with something to drop.
    pub fn purge_expired(&self, now: Instant, owns: impl Fn(&str) -> bool) -> Vec<BindingChange> {
        let mut changes = Vec::new();
        let stale =
            |login: &str, list: &[Binding]| list.iter().any(|b| b.expires_at <= now) && owns(login);
        for bucket in &self.table.buckets {
            if !read(bucket).iter().any(|(l, list)| stale(l, list)) {
                continue;
            }
            let before = changes.len();
            let mut gone_logins = 0;
            write(bucket).retain(|login, list| {
                if !stale(login, list) {
                    return true;
                }
                Arc::make_mut(list).retain(|b| {
                    let keep = b.expires_at > now;
                    if !keep {
                        changes.push(BindingChange::Remove {
                            login: login.to_string(),
                            key: b.key.clone(),
                        });
                    }
                    keep
                });
                let keep = !list.is_empty();
                gone_logins += usize::from(!keep);
                keep
            });
            self.table
                .count
                .fetch_sub(changes.len() - before, Ordering::Relaxed);
            self.table.logins.fetch_sub(gone_logins, Ordering::Relaxed);
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn binding(key: &str, now: Instant) -> Binding {
        let peer = Peer {
            transport: sip_message::Transport::Udp,
            remote: "192.0.2.1:5060".parse().unwrap(),
            local: "192.0.2.2:5060".parse().unwrap(),
            conn: None,
        };
        Binding {
            key: key.into(),
            contact: format!("sip:{key}"),
            instance: None,
            reg_id: None,
            q_milli: None,
            expires_at: now + Duration::from_secs(60),
            call_id: "c".into(),
            cseq: 1,
            source: peer,
            reach: crate::Reach::Flow,
            path: None,
            user_agent: None,
            updated_at: now,
        }
    }

    fn list_ptr(l: &Location, login: &str) -> *const Vec<Binding> {
        Arc::as_ptr(l.iter_login(login).list.as_ref().unwrap())
    }

    #[test]
    fn a_write_copies_a_list_only_while_a_reader_holds_it() {
        let now = Instant::now();
        let l = Location::new();
        l.upsert("alice", binding("a", now));
        let first = list_ptr(&l, "alice");
        l.upsert("alice", binding("a", now + Duration::from_secs(1)));
        assert_eq!(list_ptr(&l, "alice"), first, "no reader: changed in place");

        let held = l.lookup("alice", now);
        l.upsert("alice", binding("b", now));
        assert_ne!(list_ptr(&l, "alice"), first, "a reader: a copy");
        assert_eq!(held.count(), 1, "the reader's snapshot is as it was");
        assert_eq!(l.lookup("alice", now).count(), 2);
    }
}
