//! The presence driver: carries authenticated SUBSCRIBE/PUBLISH requests into the sans-IO
//! [`PresenceServer`] with an outbox over the transaction layer (responses and NOTIFYs go
//! through it, as messaging's and the B2BUA's do), and its [`Action`]s out — buddy lists
//! from the operator's hook (or the `contacts` table), voicemail counts from the store,
//! publications to the storage writer. It runs inside the dispatcher; fetches run in tasks of
//! their own and come back to the dispatcher as [`Fetched`]s on the driver's own channel, so
//! SIP never waits on HTTP or SQL.
//!
//! The presence core runs on the dispatcher's `Instant`s; the stored rows' epoch ms are
//! converted at the persistence boundary (`records.rs`) with the server's one [`Epoch`].

use std::time::{Duration, Instant};

use sip_message::Epoch;

use presence::{
    Action, Buddy, MessageSummary, Origin, PresenceConfig, PresenceServer, SubscriptionKey,
};
use sip_message::{Message, Peer};
use sip_transaction::{ClientKey, ServerKey};

use crate::calls::TxOut;
use crate::tu::{Transactions, Tu};
use store::Store;
use tokio::sync::mpsc;

use crate::persist::Write;
use crate::records;

/// How long a buddy list or a voicemail count may take before the subscription goes on
/// without it (the hook client has its own timeouts and retries; this bounds the database).
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// The answer to a fetch the presence core asked for, sent on the channel given to
/// [`PresenceIo::new`].
#[derive(Debug)]
pub(crate) enum Fetched {
    Buddies {
        subscription: SubscriptionKey,
        buddies: Vec<Buddy>,
    },
    /// The built-in voicemail's mailbox (`voicemail_service.rs`): counts and details.
    Mailbox(Box<crate::voicemail_service::Mailbox>),
}

pub(crate) struct PresenceIo {
    server: PresenceServer,
    /// The buddy-list hook, when `web_service` is configured; else the `contacts` table.
    hooks: Option<hooks::HookClient>,
    store: Store,
    fetched: mpsc::UnboundedSender<Fetched>,
    writes: mpsc::UnboundedSender<Write>,
    /// Rows' epoch ms ↔ the core's `Instant`s.
    epoch: Epoch,
}

/// The presence core's policy from the server config.
pub(crate) fn presence_config(config: &ferroswitch_config::Config) -> PresenceConfig {
    PresenceConfig {
        // the dispatcher sets the domain clients use (`with_domain`); never the realm
        domain: config
            .registrar
            .domain
            .clone()
            .unwrap_or_else(|| "localhost".to_owned()),
        max_expires: config.registrar.subscribe_expiration.max(60),
        ..PresenceConfig::default()
    }
}

/// Our Via sent-by and Contact for the listener a request came in on.
pub(crate) fn origin(from: Peer) -> Origin {
    Origin {
        peer: from,
        sent_by: from.local.to_string(),
        contact: format!("<sip:{};transport={}>", from.local, from.transport.as_str()),
    }
}

impl PresenceIo {
    pub(crate) fn new(
        server: PresenceServer,
        hooks: Option<hooks::HookClient>,
        store: Store,
        fetched: mpsc::UnboundedSender<Fetched>,
        writes: mpsc::UnboundedSender<Write>,
        epoch: Epoch,
    ) -> Self {
        Self {
            server,
            hooks,
            store,
            fetched,
            writes,
            epoch,
        }
    }

    /// The host of `sip:{login}@{domain}` in PIDF entities, RLMI and MWI.
    pub(crate) fn set_domain(&mut self, domain: &str) {
        self.server.set_domain(domain);
    }

    /// A new operator API client (config reload); only its buddy-list hook is used here.
    pub(crate) fn set_hooks(&mut self, hooks: Option<hooks::HookClient>) {
        self.hooks = hooks.filter(|h| h.config().buddy_list.is_some());
    }

    /// Loads the stored publications (at start, before any request).
    pub(crate) fn restore(&mut self, now: Instant, rows: Vec<store::StoredPublication>) {
        let rows = rows
            .into_iter()
            .map(|r| records::publication_row(r, &self.epoch))
            .collect();
        self.server.restore(now, rows);
    }

    /// Publications another cluster node holds (`crate::cluster`): inserted, or withdrawn by
    /// entity-tag; never stored by this node; its watchers are notified.
    pub(crate) fn remote(
        &mut self,
        tx: &mut Transactions,
        now: Instant,
        rows: Vec<store::StoredPublication>,
        gone: &[String],
    ) {
        let rows = rows
            .into_iter()
            .map(|r| records::publication_row(r, &self.epoch))
            .collect();
        self.server.remote_publications(
            now,
            rows,
            gone,
            &mut TxOut {
                tx,
                tu: Tu::Presence,
                now,
            },
        );
        self.drain();
    }

    /// An authenticated SUBSCRIBE (new or in-dialog) from `login`.
    pub(crate) fn subscribe(
        &mut self,
        tx: &mut Transactions,
        now: Instant,
        key: ServerKey,
        msg: &Message,
        from: Peer,
        login: &str,
    ) {
        let out = &mut TxOut {
            tx,
            tu: Tu::Presence,
            now,
        };
        let _ = self
            .server
            .handle_subscribe(now, key, login, msg, &origin(from), out);
        self.drain();
    }

    /// An authenticated PUBLISH from `login`.
    pub(crate) fn publish(
        &mut self,
        tx: &mut Transactions,
        now: Instant,
        key: ServerKey,
        msg: &Message,
        from: Peer,
        login: &str,
    ) {
        let out = &mut TxOut {
            tx,
            tu: Tu::Presence,
            now,
        };
        self.server.handle_publish(now, key, login, msg, from, out);
        self.drain();
    }

    pub(crate) fn fetched(&mut self, tx: &mut Transactions, now: Instant, f: Fetched) {
        let out = &mut TxOut {
            tx,
            tu: Tu::Presence,
            now,
        };
        match f {
            Fetched::Buddies {
                subscription,
                buddies,
            } => self.server.buddies_fetched(now, subscription, buddies, out),
            Fetched::Mailbox(m) => {
                let m = *m;
                self.server
                    .set_message_summary_with_details(now, &m.login, m.summary, m.details, out);
            }
        }
        self.drain();
    }

    /// A response to a client transaction; false when it is not one of our NOTIFYs.
    pub(crate) fn response(
        &mut self,
        tx: &mut Transactions,
        now: Instant,
        key: ClientKey,
        status: u16,
    ) -> bool {
        let ours = self.server.response(
            now,
            key,
            status,
            &mut TxOut {
                tx,
                tu: Tu::Presence,
                now,
            },
        );
        self.drain();
        ours
    }

    /// When the presence core's next timer is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    pub(crate) fn handle_timeout(&mut self, tx: &mut Transactions, now: Instant) {
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(
                now,
                &mut TxOut {
                    tx,
                    tu: Tu::Presence,
                    now,
                },
            );
            self.drain();
        }
    }

    /// Carries out what the presence core asks besides SIP, in order.
    fn drain(&mut self) {
        while let Some(action) = self.server.poll_action() {
            match action {
                Action::FetchBuddies {
                    subscription,
                    login,
                } => self.fetch_buddies(subscription, login),
                Action::FetchState { package, login } => {
                    if package == "message-summary" {
                        self.fetch_summary(login);
                    } else {
                        tracing::warn!(package, %login, "state fetch for an unknown package");
                    }
                }
                Action::Persist(p) => {
                    if let Some(c) = records::publication_change(p, &self.epoch) {
                        let _ = self.writes.send(Write::Publication(c));
                    }
                }
                _ => {}
            }
        }
    }

    fn fetch_buddies(&self, subscription: SubscriptionKey, login: String) {
        let hooks = self.hooks.clone();
        let store = self.store.clone();
        let fetched = self.fetched.clone();
        tokio::spawn(async move {
            let buddies = match &hooks {
                // the hook client logs each failed attempt; here the outcome
                Some(h) => crate::metrics::hook_call(
                    crate::metrics::Hook::BuddyList,
                    h.buddy_list(&login),
                )
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(%login, "buddy list unavailable, the list is empty: {e}");
                    Vec::new()
                }),
                None => {
                    match tokio::time::timeout(FETCH_TIMEOUT, store.list_contacts(&login)).await {
                        // the contacts table knows nothing of push tokens
                        Ok(Ok(v)) => v.into_iter().map(|b| Buddy::new(b, false)).collect(),
                        Ok(Err(e)) => {
                            tracing::error!(%login, "reading contacts failed, the list is empty: {e}");
                            Vec::new()
                        }
                        Err(_) => {
                            tracing::error!(%login, "reading contacts timed out, the list is empty");
                            Vec::new()
                        }
                    }
                }
            };
            let _ = fetched.send(Fetched::Buddies {
                subscription,
                buddies,
            });
        });
    }

    fn fetch_summary(&self, login: String) {
        let store = self.store.clone();
        let fetched = self.fetched.clone();
        tokio::spawn(async move {
            let summary =
                match tokio::time::timeout(FETCH_TIMEOUT, store.voicemail_counts(&login)).await {
                    Ok(Ok(c)) => records::message_summary(&c),
                    Ok(Err(e)) => {
                        tracing::error!(%login, "reading voicemail counts failed: {e}");
                        MessageSummary::default()
                    }
                    Err(_) => {
                        tracing::error!(%login, "reading voicemail counts timed out");
                        MessageSummary::default()
                    }
                };
            // the new messages' details too (the built-in voicemail's; none without it)
            let details = crate::voicemail_service::details(&store, &login).await;
            let _ = fetched.send(Fetched::Mailbox(Box::new(
                crate::voicemail_service::Mailbox {
                    login,
                    summary,
                    details,
                    change: None,
                },
            )));
        });
    }
}
