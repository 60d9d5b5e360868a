//! The in-memory location table: bindings per login. The driver restores it from storage at
//! start and writes every [`BindingChange`] through.

use std::collections::HashMap;
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

/// Bindings by login.
#[derive(Debug, Default)]
pub struct Location {
    by_login: HashMap<Box<str>, Vec<Binding>>,
    count: usize,
}

impl Location {
    pub fn new() -> Self {
        Self::default()
    }

    /// Current bindings of a login (possibly expired ones not yet purged are filtered out).
    pub fn lookup(&self, login: &str, now: Instant) -> impl Iterator<Item = &Binding> {
        self.by_login
            .get(login)
            .into_iter()
            .flatten()
            .filter(move |b| b.expires_at > now)
    }

    /// Every binding of one login (expired ones not purged yet included).
    pub fn iter_login(&self, login: &str) -> impl Iterator<Item = &Binding> {
        self.by_login.get(login).into_iter().flatten()
    }

    /// Every binding (expired ones not purged yet included), by login, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Binding)> {
        self.by_login
            .iter()
            .flat_map(|(login, list)| list.iter().map(move |b| (&**login, b)))
    }

    pub fn logins(&self) -> usize {
        self.by_login.len()
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Inserts or replaces the binding with the same key.
    pub fn upsert(&mut self, login: &str, binding: Binding) {
        // the common case (a refresh) finds the login without allocating a key
        let list = match self.by_login.get_mut(login) {
            Some(list) => list,
            // most logins have one device: without this, the first push reserves room for 4
            None => self
                .by_login
                .entry(login.into())
                .or_insert_with(|| Vec::with_capacity(1)),
        };
        match list.iter_mut().find(|b| b.key == binding.key) {
            Some(b) => *b = binding,
            None => {
                // then grow one at a time: a login rarely holds more than a few devices
                list.reserve_exact(1);
                list.push(binding);
                self.count += 1;
            }
        }
    }

    pub fn remove(&mut self, login: &str, key: &str) -> bool {
        let Some(list) = self.by_login.get_mut(login) else {
            return false;
        };
        let before = list.len();
        list.retain(|b| b.key != key);
        let removed = before != list.len();
        if removed {
            self.count -= 1;
        }
        if list.is_empty() {
            self.by_login.remove(login);
        }
        removed
    }

    pub fn remove_all(&mut self, login: &str) -> usize {
        let n = self.by_login.remove(login).map_or(0, |l| l.len());
        self.count -= n;
        n
    }

    /// Drops expired bindings; returns what to remove from storage.
    pub fn purge_expired(&mut self, now: Instant) -> Vec<BindingChange> {
        let mut changes = Vec::new();
        self.by_login.retain(|login, list| {
            list.retain(|b| {
                let keep = b.expires_at > now;
                if !keep {
                    changes.push(BindingChange::Remove {
                        login: login.to_string(),
                        key: b.key.clone(),
                    });
                }
                keep
            });
            !list.is_empty()
        });
        self.count -= changes.len();
        changes
    }
}
