//! The account cache: what the database said of each login (its digest HA1 values and call
//! settings, or that it has no account), shared by every core shard. All accounts are loaded
//! at start ([`AccountCache::load`]); [`crate::account_sync`] keeps them current and a request
//! for a stale or unknown login reads its row again (dispatcher/auth.rs decides when).
//!
//! A clone is another handle on the same cache. Logins are spread over buckets, each behind
//! its own `RwLock`; an entry is an `Arc`, so a read is one uncontended read lock and a
//! reference count, and no lock is held once [`AccountCache::get`] returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use registrar::Account;

use crate::calls::{AccountView, Profile};

/// How many buckets the cache is split into (writers of different logins rarely meet).
const BUCKETS: usize = 64;

type Bucket = RwLock<HashMap<Box<str>, Arc<CachedAccount>>>;

/// One login as last read from storage.
#[derive(Debug)]
pub(crate) struct CachedAccount {
    /// What the registrar authenticates with; `None`: no such account.
    pub(crate) account: Option<Account>,
    /// Its call settings; `None`: no such account.
    pub(crate) profile: Option<Profile>,
    /// When it was read.
    pub(crate) fetched: Instant,
}

impl CachedAccount {
    /// What the database said of a login at `now`: an account (its HA1 values for `realm`),
    /// or none.
    pub(crate) fn read(a: Option<store::Account>, realm: &str, now: Instant) -> Self {
        let Some(a) = a else {
            return Self {
                account: None,
                profile: None,
                fetched: now,
            };
        };
        let tech_prefix = match dialplan::TechPrefix::parse(&a.tech_prefix) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(login = %a.login, "tech prefix ignored: {e}");
                dialplan::TechPrefix::default()
            }
        };
        // an account without HA1 values for this realm exists (a target) but cannot
        // authenticate
        let account = crate::records::registrar_account(&a, realm);
        let answering_rules = crate::answering_cli::parse_rows(&a.login, &a.answering_rules);
        Self {
            profile: Some(Profile {
                display_name: a.display_name,
                tech_prefix,
                voicemail: a.voicemail_uri,
                answering_rules,
            }),
            account: Some(account),
            fetched: now,
        }
    }
}

struct Buckets {
    buckets: [Bucket; BUCKETS],
    /// Entries over all buckets (changed under the bucket's write lock).
    len: AtomicUsize,
}

/// The account cache, shared by cheap clones (module doc).
#[derive(Clone)]
pub(crate) struct AccountCache {
    inner: Arc<Buckets>,
}

impl Default for AccountCache {
    fn default() -> Self {
        Self {
            inner: Arc::new(Buckets {
                buckets: std::array::from_fn(|_| RwLock::default()),
                len: AtomicUsize::new(0),
            }),
        }
    }
}

impl std::fmt::Debug for AccountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCache")
            .field("len", &self.len())
            .finish()
    }
}

fn read(b: &Bucket) -> RwLockReadGuard<'_, HashMap<Box<str>, Arc<CachedAccount>>> {
    // a panic under the lock leaves whole entries behind (each write is one map operation)
    b.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(b: &Bucket) -> RwLockWriteGuard<'_, HashMap<Box<str>, Arc<CachedAccount>>> {
    b.write().unwrap_or_else(PoisonError::into_inner)
}

impl AccountCache {
    /// The accounts loaded at start, read at `now` for `realm`.
    pub(crate) fn load(accounts: Vec<store::Account>, realm: &str, now: Instant) -> Self {
        let cache = Self::default();
        for a in accounts {
            let login = a.login.clone();
            cache.insert(login, CachedAccount::read(Some(a), realm, now));
        }
        cache
    }

    fn bucket(&self, login: &str) -> &Bucket {
        let i = sip_message::shard::hash(login.as_bytes()) as usize % BUCKETS;
        &self.inner.buckets[i]
    }

    /// The entry of `login`; `None`: never read (or forgotten).
    pub(crate) fn get(&self, login: &str) -> Option<Arc<CachedAccount>> {
        read(self.bucket(login)).get(login).cloned()
    }

    /// What was just read of `login` (an account or a miss), replacing what was cached.
    pub(crate) fn insert(&self, login: String, entry: CachedAccount) {
        let mut map = write(self.bucket(&login));
        if map.insert(login.into(), Arc::new(entry)).is_none() {
            self.inner.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets `login`'s entry only if it is still the miss (no account) cached at `at`: not
    /// one found since, nor a miss cached again.
    pub(crate) fn remove_miss(&self, login: &str, at: Instant) -> bool {
        let mut map = write(self.bucket(login));
        let still = map
            .get(login)
            .is_some_and(|c| c.account.is_none() && c.fetched == at);
        if still {
            map.remove(login);
            self.inner.len.fetch_sub(1, Ordering::Relaxed);
        }
        still
    }

    /// Every cached login (accounts and misses), in no order: a snapshot.
    pub(crate) fn logins(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.len());
        for b in &self.inner.buckets {
            out.extend(read(b).keys().map(|l| l.to_string()));
        }
        out
    }

    /// Entries cached (accounts and misses).
    pub(crate) fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }
}

impl AccountView for AccountCache {
    fn cached(&self, login: &str) -> Option<Arc<CachedAccount>> {
        self.get(login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(login: &str) -> store::Account {
        store::Account {
            id: 1,
            login: login.into(),
            secret: store::Secret::default(),
            display_name: None,
            tech_prefix: String::new(),
            enabled: true,
            voicemail_uri: None,
            created_at: 0,
            answering_rules: Vec::new(),
        }
    }

    #[test]
    fn clones_share_one_cache() {
        let now = Instant::now();
        let a = AccountCache::load(vec![row("alice")], "ferroswitch", now);
        let b = a.clone();
        b.insert(
            "bob".into(),
            CachedAccount::read(Some(row("bob")), "r", now),
        );
        let seen = a
            .get("bob")
            .expect("bob, inserted through the other handle");
        assert_eq!(seen.account.as_ref().map(|a| a.login.as_str()), Some("bob"));
        assert!(b.get("alice").is_some_and(|c| c.profile.is_some()));
        assert_eq!((a.len(), b.len()), (2, 2));

        // a miss is forgotten only while it is still the same miss
        let later = now + std::time::Duration::from_secs(1);
        a.insert("carol".into(), CachedAccount::read(None, "r", now));
        b.insert("carol".into(), CachedAccount::read(None, "r", later));
        assert!(!a.remove_miss("carol", now), "cached again since");
        assert!(b.remove_miss("carol", later));
        assert!(a.get("carol").is_none());
        let mut logins = b.logins();
        logins.sort();
        assert_eq!(logins, ["alice", "bob"]);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn threads_share_one_cache() {
        let cache = AccountCache::default();
        let now = Instant::now();
        std::thread::scope(|s| {
            for t in 0..3 {
                let cache = cache.clone();
                s.spawn(move || {
                    for i in 0..200 {
                        let login = format!("u{t}-{i}");
                        cache.insert(
                            login.clone(),
                            CachedAccount::read(Some(row(&login)), "r", now),
                        );
                        assert!(cache.get(&login).is_some());
                    }
                });
            }
        });
        assert_eq!(cache.len(), 600);
        assert_eq!(cache.logins().len(), 600);
    }
}
