//! PUBLISH (RFC 3903): the event state compositor for `presence`.
//!
//! Each successful PUBLISH creates or touches one *publication* (one device's PIDF document)
//! named by an entity-tag. Per login, the live publications are composed into one document
//! ([`crate::pidf`] has the rule); a change of that document is what watchers are told.
//!
//! ```text
//!   PUBLISH, body, no SIP-If-Match ─────────────▶ created   (200, SIP-ETag: e1, Persist::Upsert)
//!   PUBLISH, SIP-If-Match: e1, no body ─────────▶ refreshed (200, SIP-ETag: e2, Upsert replaces e1)
//!   PUBLISH, SIP-If-Match: e2, body ────────────▶ modified  (200, SIP-ETag: e3, Upsert replaces e2)
//!   PUBLISH, SIP-If-Match: e3, Expires: 0 ──────▶ removed   (200, Expires: 0, Persist::Remove)
//!   expiry (handle_timeout) ────────────────────▶ removed   (Persist::Remove)
//!   SIP-If-Match naming no live publication of that login ──▶ 412, nothing changes
//! ```
//!
//! Every success issues a fresh entity-tag (RFC 3903 §6 step 7) and the old one stops
//! matching. Entity-tags are 16 hex digits from the core's token generator.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::{Message, Peer};

use crate::config::PresenceConfig;
use crate::ids::Tokens;
use crate::pidf::{self, Composed, Source, PIDF_TYPE};
use crate::reply::{self, header_ci, media_type};
use crate::timer::{TimerId, TimerTable};
use crate::xml::login_uri;

/// A publication as stored in `presence_publications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationRow {
    pub login: String,
    pub etag: String,
    /// When it expires, on the driver's clock (the driver's `sip_message::Epoch` turns it
    /// into the row's epoch ms).
    pub expires_at: Instant,
    /// When the body last changed: the composition's "newest" order.
    pub modified_at: Instant,
    /// The PIDF document as published.
    pub body: Bytes,
}

/// A write the driver applies to `presence_publications` (write-through, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Persist {
    /// Insert `row`; when `replaces` is set, the row with that entity-tag is gone (a refresh
    /// or modification issues a new entity-tag): `UPDATE ... WHERE etag = replaces`, or delete
    /// and insert.
    Upsert {
        row: PublicationRow,
        replaces: Option<String>,
    },
    /// Delete the row with this entity-tag.
    Remove { login: String, etag: String },
}

#[derive(Debug)]
struct Entry {
    row: PublicationRow,
    /// Creation order, the composition's tie-breaker.
    created: u64,
    timer: TimerId,
}

#[derive(Debug, Default)]
struct Presentity {
    ids: Vec<u64>,
    composed: Option<Composed>,
}

/// The live publications of every login and their composed documents.
#[derive(Debug)]
pub struct Publications {
    entries: HashMap<u64, Entry>,
    etags: HashMap<String, u64>,
    logins: HashMap<String, Presentity>,
    timers: TimerTable<u64>,
    next_id: u64,
    tokens: Tokens,
    domain: String,
}

/// What one PUBLISH did.
#[derive(Debug)]
pub(crate) struct PublishOutcome {
    pub(crate) response: Bytes,
    pub(crate) status: u16,
    pub(crate) persist: Vec<Persist>,
    /// The login's composed document changed: NOTIFY its watchers.
    pub(crate) changed: bool,
}

impl Publications {
    pub(crate) fn new(domain: &str, seed: u64) -> Self {
        Self {
            entries: HashMap::new(),
            etags: HashMap::new(),
            logins: HashMap::new(),
            timers: TimerTable::default(),
            next_id: 0,
            tokens: Tokens::new(seed ^ 0x7075_626c_6973_6821),
            domain: domain.to_owned(),
        }
    }

    /// A new domain: every document is composed again, as its entity names the domain. (With
    /// core shards a shard may compose another shard's publications before it has learnt the
    /// domain from a client of its own.)
    pub(crate) fn set_domain(&mut self, domain: &str) {
        if self.domain == domain {
            return;
        }
        domain.clone_into(&mut self.domain);
        let logins: Vec<String> = self.logins.keys().cloned().collect();
        for login in logins {
            self.recompose(&login);
        }
    }

    /// The composed document of `login`, if it has a live publication.
    pub fn document(&self, login: &str) -> Option<&Bytes> {
        self.composed(login).map(|c| &c.body)
    }

    /// Whether `login`'s composed document has an open tuple.
    pub fn is_open(&self, login: &str) -> bool {
        self.composed(login).is_some_and(|c| c.open)
    }

    pub(crate) fn composed(&self, login: &str) -> Option<&Composed> {
        self.logins.get(login).and_then(|p| p.composed.as_ref())
    }

    /// The live publications of `login`, oldest first.
    pub fn rows(&self, login: &str) -> impl Iterator<Item = &PublicationRow> + '_ {
        self.logins
            .get(login)
            .into_iter()
            .flat_map(|p| p.ids.iter())
            .filter_map(|id| self.entries.get(id))
            .map(|e| &e.row)
    }

    /// Live publications, all logins.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    fn insert(&mut self, row: PublicationRow) {
        self.next_id += 1;
        let id = self.next_id;
        let timer = self.timers.insert(row.expires_at, id);
        self.etags.insert(row.etag.clone(), id);
        self.logins
            .entry(row.login.clone())
            .or_default()
            .ids
            .push(id);
        self.entries.insert(
            id,
            Entry {
                row,
                created: id,
                timer,
            },
        );
    }

    fn remove(&mut self, id: u64) -> Option<PublicationRow> {
        let e = self.entries.remove(&id)?;
        self.timers.remove(e.timer);
        self.etags.remove(&e.row.etag);
        if let Some(p) = self.logins.get_mut(&e.row.login) {
            p.ids.retain(|&i| i != id);
        }
        Some(e.row)
    }

    /// Recomposes `login`'s document; true when it changed.
    fn recompose(&mut self, login: &str) -> bool {
        let Some(p) = self.logins.get(login) else {
            return false;
        };
        let sources: Vec<Source<'_>> = p
            .ids
            .iter()
            .filter_map(|id| self.entries.get(id))
            .map(|e| Source {
                body: &e.row.body,
                order: (e.row.modified_at, e.created),
            })
            .collect();
        let next = if sources.is_empty() {
            None
        } else {
            pidf::compose(&login_uri(login, &self.domain), &sources)
        };
        let Some(p) = self.logins.get_mut(login) else {
            return false;
        };
        let changed = p.composed.as_ref().map(|c| &c.body) != next.as_ref().map(|c| &c.body);
        p.composed = next;
        if p.ids.is_empty() {
            self.logins.remove(login);
        }
        changed
    }

    fn new_etag(&mut self) -> String {
        loop {
            let e = String::from(self.tokens.hex());
            if !self.etags.contains_key(&e) {
                return e;
            }
        }
    }

    /// Handles a PUBLISH from `login` (already authenticated).
    pub(crate) fn handle_publish(
        &mut self,
        now: Instant,
        cfg: &PresenceConfig,
        login: &str,
        req: &Message,
        from: Peer,
    ) -> PublishOutcome {
        let tag = req.stable_tag();
        let src = from.remote;
        let fail = |code: u16, warning: &str| PublishOutcome {
            response: reply::simple(req, code, Some(&tag), src, Some(warning)),
            status: code,
            persist: vec![],
            changed: false,
        };

        match req.event() {
            None => return fail(400, "missing Event"),
            Some(e) if e.eq_ignore_ascii_case("presence") => {}
            Some(_) => {
                let mut b = reply::response(req, 489, Some(&tag), src);
                b.header("Allow-Events", "presence");
                return PublishOutcome {
                    response: reply::finish(b, 489),
                    status: 489,
                    persist: vec![],
                    changed: false,
                };
            }
        }
        let Ok(uri) = req.request_uri() else {
            return fail(400, "bad Request-URI");
        };
        let user = uri.user_unescaped();
        if user.as_deref() != Some(login.as_bytes()) {
            return fail(403, "you may publish only your own presence");
        }
        let Ok(expires) = req.expires() else {
            return fail(400, "malformed Expires");
        };
        let if_match = header_ci(req, "SIP-If-Match").filter(|v| !v.is_empty());
        let body = req.body();

        // the publication named by SIP-If-Match, if any: it must be this login's
        let target = match if_match {
            None => None,
            Some(etag) => match self.etags.get(etag) {
                Some(&id) if self.entries.get(&id).is_some_and(|e| e.row.login == login) => {
                    Some(id)
                }
                _ => return fail(412, "unknown entity-tag"),
            },
        };

        if expires == Some(0) {
            let Some(id) = target else {
                return fail(400, "removal needs SIP-If-Match");
            };
            let mut persist = Vec::new();
            if let Some(row) = self.remove(id) {
                persist.push(Persist::Remove {
                    login: row.login,
                    etag: row.etag,
                });
            }
            let changed = self.recompose(login);
            let mut b = reply::response(req, 200, Some(&tag), src);
            b.header("Expires", 0);
            return PublishOutcome {
                response: reply::finish(b, 200),
                status: 200,
                persist,
                changed,
            };
        }

        let secs = expires.unwrap_or(cfg.publish_default_expires);
        if secs < cfg.publish_min_expires {
            let mut b = reply::response(req, 423, Some(&tag), src);
            b.header("Min-Expires", cfg.publish_min_expires);
            return PublishOutcome {
                response: reply::finish(b, 423),
                status: 423,
                persist: vec![],
                changed: false,
            };
        }
        let secs = secs.min(cfg.publish_max_expires);
        if !body.is_empty() {
            if req
                .content_type()
                .is_none_or(|ct| media_type(ct) != PIDF_TYPE)
            {
                let mut b = reply::response(req, 415, Some(&tag), src);
                b.header("Accept", PIDF_TYPE);
                return PublishOutcome {
                    response: reply::finish(b, 415),
                    status: 415,
                    persist: vec![],
                    changed: false,
                };
            }
            if body.len() > cfg.max_publish_body {
                return fail(413, "presence document too large");
            }
            if let Err(e) = pidf::validate(body) {
                return fail(400, &format!("bad PIDF: {e}"));
            }
        } else if target.is_none() {
            return fail(400, "initial PUBLISH needs a body");
        }

        let expires_at = now + Duration::from_secs(u64::from(secs));
        let etag = self.new_etag();
        let mut persist = Vec::new();
        let body_changed;
        match target {
            None => {
                // a new publication; evict the oldest one beyond the per-login cap
                let ids: Vec<u64> = self
                    .logins
                    .get(login)
                    .map(|p| p.ids.clone())
                    .unwrap_or_default();
                if ids.len() >= cfg.max_publications_per_login {
                    let oldest = ids.iter().copied().min_by_key(|id| {
                        self.entries.get(id).map(|e| (e.row.modified_at, e.created))
                    });
                    if let Some(row) = oldest.and_then(|id| self.remove(id)) {
                        tracing::debug!(login, etag = %row.etag, "publication evicted: too many");
                        persist.push(Persist::Remove {
                            login: row.login,
                            etag: row.etag,
                        });
                    }
                }
                let row = PublicationRow {
                    login: login.to_owned(),
                    etag: etag.clone(),
                    expires_at,
                    modified_at: now,
                    body: body.clone(),
                };
                persist.push(Persist::Upsert {
                    row: row.clone(),
                    replaces: None,
                });
                self.insert(row);
                body_changed = true;
            }
            Some(id) => {
                let Some(mut e) = self.entries.remove(&id) else {
                    return fail(412, "unknown entity-tag");
                };
                self.timers.remove(e.timer);
                self.etags.remove(&e.row.etag);
                let replaces = std::mem::replace(&mut e.row.etag, etag.clone());
                e.row.expires_at = expires_at;
                body_changed = !body.is_empty();
                if body_changed {
                    e.row.body = body.clone();
                    e.row.modified_at = now;
                }
                e.timer = self.timers.insert(expires_at, id);
                self.etags.insert(etag.clone(), id);
                persist.push(Persist::Upsert {
                    row: e.row.clone(),
                    replaces: Some(replaces),
                });
                self.entries.insert(id, e);
            }
        }
        let changed = body_changed && self.recompose(login);
        let mut b = reply::response(req, 200, Some(&tag), src);
        b.header("SIP-ETag", &etag).header("Expires", secs);
        PublishOutcome {
            response: reply::finish(b, 200),
            status: 200,
            persist,
            changed,
        }
    }

    /// Removes publications expired at `now`; returns the logins whose document changed.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        persist: &mut Vec<Persist>,
    ) -> Vec<String> {
        let mut logins = Vec::new();
        while let Some(id) = self.timers.pop_due(now) {
            if let Some(row) = self.remove(id) {
                tracing::debug!(login = %row.login, etag = %row.etag, "publication expired");
                if !logins.contains(&row.login) {
                    logins.push(row.login.clone());
                }
                persist.push(Persist::Remove {
                    login: row.login,
                    etag: row.etag,
                });
            }
        }
        logins.retain(|l| self.recompose(l));
        logins
    }

    /// Loads stored publications; rows already expired are dropped (and a `Persist::Remove`
    /// emitted for each). Returns the logins whose document changed.
    /// Removes the publication with this entity-tag without a write (another node of a
    /// cluster withdrew it); the presentity whose composed state changed, if any.
    pub(crate) fn withdraw(&mut self, etag: &str) -> Option<String> {
        let id = *self.etags.get(etag)?;
        let row = self.remove(id)?;
        self.recompose(&row.login).then_some(row.login)
    }

    pub(crate) fn restore(
        &mut self,
        now: Instant,
        rows: Vec<PublicationRow>,
        persist: &mut Vec<Persist>,
    ) -> Vec<String> {
        let mut logins = Vec::new();
        for row in rows {
            if row.expires_at <= now || pidf::validate(&row.body).is_err() {
                persist.push(Persist::Remove {
                    login: row.login,
                    etag: row.etag,
                });
                continue;
            }
            if let Some(&old) = self.etags.get(&row.etag) {
                self.remove(old);
            }
            if !logins.contains(&row.login) {
                logins.push(row.login.clone());
            }
            self.insert(row);
        }
        logins.retain(|l| self.recompose(l));
        logins
    }
}
