//! A map split over lock stripes, for tables every core shard reads on its per-message path
//! (the stream connections, `transport.rs`; the logins parked calls wait for, `shards.rs`):
//! two shards meet on a lock only when their keys fall in the same stripe, and a reader never
//! waits for another reader.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How many stripes: enough that the shards of a large box rarely meet on one.
const STRIPES: usize = 64;

/// A `HashMap` split over [`STRIPES`] `RwLock`s by the key's hash. No lock is held once a
/// method returns.
pub(crate) struct Striped<K, V> {
    stripes: Box<[RwLock<HashMap<K, V>>; STRIPES]>,
    hasher: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
}

impl<K, V> Default for Striped<K, V> {
    fn default() -> Self {
        Self {
            stripes: Box::new(std::array::from_fn(|_| RwLock::new(HashMap::new()))),
            hasher: std::hash::BuildHasherDefault::default(),
        }
    }
}

impl<K, V> std::fmt::Debug for Striped<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Striped").finish_non_exhaustive()
    }
}

impl<K: Hash + Eq, V> Striped<K, V> {
    /// The stripe of `key` (or of a borrowed form of it, which hashes the same: `Borrow`).
    fn stripe<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<HashMap<K, V>> {
        // the high bits: the stripe's own map buckets by the low ones
        let h = self.hasher.hash_one(key);
        &self.stripes[(h >> 58) as usize % STRIPES]
    }

    /// What `f` makes of the value of `key`, read under its stripe's read lock.
    pub(crate) fn read<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        read(self.stripe(key)).get(key).map(f)
    }

    /// What `f` makes of the stripe that holds (or would hold) `key`, under its write lock:
    /// for a change that reads and writes the key's entry at once (`entry`, `get_mut`).
    pub(crate) fn update<Q, R>(&self, key: &Q, f: impl FnOnce(&mut HashMap<K, V>) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        f(&mut write(self.stripe(key)))
    }

    /// Sets the value of `key`; the one it replaced.
    pub(crate) fn insert(&self, key: K, value: V) -> Option<V> {
        write(self.stripe(&key)).insert(key, value)
    }

    /// Takes the value of `key` out.
    pub(crate) fn remove(&self, key: &K) -> Option<V> {
        write(self.stripe(key)).remove(key)
    }

    /// Takes the value of `key` out if `remove` says so of it.
    pub(crate) fn remove_if(&self, key: &K, remove: impl FnOnce(&V) -> bool) -> Option<V> {
        let mut map = write(self.stripe(key));
        if map.get(key).is_some_and(remove) {
            map.remove(key)
        } else {
            None
        }
    }

    /// Keeps only the values `keep` says so of, one stripe locked at a time.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&V) -> bool) {
        for s in self.stripes.iter() {
            write(s).retain(|_, v| keep(v));
        }
    }

    /// What `f` makes of every value, one stripe locked at a time (not a snapshot of the
    /// whole map: an entry added or removed meanwhile may or may not be seen).
    pub(crate) fn collect<R>(&self, mut f: impl FnMut(&V) -> Option<R>) -> Vec<R> {
        let mut out = Vec::new();
        for s in self.stripes.iter() {
            out.extend(read(s).values().filter_map(&mut f));
        }
        out
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // each write is one map operation: a panic under the lock leaves whole entries behind
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_striped_map_keeps_every_key_and_removes_only_what_it_is_told() {
        let m: Striped<u64, String> = Striped::default();
        for k in 0..1_000u64 {
            assert_eq!(m.insert(k, format!("v{k}")), None);
        }
        assert_eq!(m.insert(7, "seven".into()), Some("v7".into()));
        assert_eq!(m.read(&7, String::clone), Some("seven".into()));
        assert!(m.read(&999, |_| ()).is_some() && m.read(&1_000, |_| ()).is_none());
        assert_eq!(m.remove_if(&8, |v| v == "nope"), None);
        assert_eq!(m.remove_if(&8, |v| v == "v8"), Some("v8".into()));
        assert_eq!(m.remove(&9), Some("v9".into()));
        assert_eq!(m.remove(&9), None);
        let mut all = m.collect(|v| Some(v.clone()));
        all.sort();
        assert_eq!(all.len(), 998);
        assert!(all.contains(&"seven".to_owned()) && !all.contains(&"v8".to_owned()));
        // the keys spread: no stripe holds more than three times its share
        let most = m.stripes.iter().map(|s| read(s).len()).max().unwrap();
        assert!(most < 3 * 1_000 / STRIPES, "{most} keys in one stripe");
    }

    #[test]
    fn borrowed_keys_find_their_entry_and_update_changes_it_in_place() {
        let m: Striped<Box<str>, Vec<u32>> = Striped::default();
        m.update("bob", |s| s.entry("bob".into()).or_default().push(1));
        m.update("bob", |s| s.entry("bob".into()).or_default().push(2));
        assert_eq!(m.read("bob", Vec::clone), Some(vec![1, 2]));
        assert_eq!(m.read("alice", Vec::len), None);
        m.update("bob", |s| s.remove("bob"));
        assert_eq!(m.read("bob", Vec::len), None);
    }

    #[test]
    fn retain_keeps_only_what_it_is_told_in_every_stripe() {
        let m: Striped<u64, u64> = Striped::default();
        for k in 0..1_000u64 {
            m.insert(k, k);
        }
        m.retain(|v| v % 3 == 0);
        let mut left = m.collect(|v| Some(*v));
        left.sort_unstable();
        assert_eq!(left, (0..1_000).filter(|v| v % 3 == 0).collect::<Vec<_>>());
    }

    #[test]
    fn threads_writing_different_keys_lose_nothing() {
        let m: Arc<Striped<(u8, u64), u64>> = Arc::default();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000u64 {
                        m.insert((t, i), i);
                        if i % 2 == 1 {
                            assert_eq!(m.remove(&(t, i)), Some(i));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.collect(|v| Some(*v)).len(), 4 * 2_500);
        assert_eq!(m.read(&(3, 4_998), |v| *v), Some(4_998));
    }
}
