//! The messaging driver: runs the sans-IO [`Messaging`] core inside the dispatcher and carries
//! out its [`Action`]s in tasks of their own — `sms_inbox` reads and writes, the push and SMS
//! hooks — whose answers come back to the dispatcher as [`Done`]s on the driver's own channel
//! (FIFO; the dispatcher's `select!` reads it beside its other inputs).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use messaging::{Action, Deferred, Destination, Device, Devices, JobId, Messaging, Status, Text};
use registrar::Location;
use sip_message::{Message, Peer};
use sip_transaction::{ClientKey, ServerKey};
use store::{MessageStatus, Store};
use tokio::sync::mpsc;

use crate::calls::TxOut;
use crate::clock::unix_ms;
use crate::records;

/// How long a database operation of the messaging driver may take before it counts as failed
/// (the sender of a MESSAGE waits for the store).
const DB_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer to an [`Action`] the driver carried out, sent on the channel given to
/// [`MessagingIo::new`].
#[derive(Debug)]
pub(crate) enum Done {
    Stored {
        job: JobId,
        result: Result<bool, String>,
    },
    Sms {
        job: JobId,
        result: Result<(), String>,
    },
    Pending {
        login: String,
        result: Result<Vec<Deferred>, String>,
    },
    Marked {
        login: String,
        result: Result<(), String>,
    },
}

/// `[cluster]`: a round of `login` found no stored message left (`now_clear`): the other
/// nodes forward its next MESSAGE at once instead of storing it first.
fn announce_clear(reach: &Reach<'_>, login: &str, now_clear: bool) {
    if let (true, Some(node)) = (now_clear, reach.cluster) {
        node.announce_queue(login, true);
    }
}

/// The location table and the accounts, as the messaging core sees them.
pub(crate) struct Reach<'a> {
    pub(crate) location: &'a Location,
    pub(crate) now: Instant,
    /// `now` in unix ms (the dispatcher's epoch): the other nodes' bindings expire in it.
    pub(crate) wall_ms: u64,
    /// The dispatcher's account cache, as for calls.
    pub(crate) accounts: &'a dyn crate::calls::AccountView,
    /// `[cluster]`: the other nodes' bindings, reached through them with their `Path`.
    pub(crate) cluster: Option<&'a crate::cluster::Node>,
}

impl Devices for Reach<'_> {
    fn devices(&self, login: &str) -> Option<Vec<Device>> {
        if !self.accounts.exists(login) {
            return None;
        }
        let mut devices: Vec<Device> = self
            .location
            .lookup(login, self.now)
            .iter()
            .map(|b| Device {
                contact: b.contact.clone(),
                peer: crate::calls::device_peer(b),
                path: b.path.clone(),
            })
            .collect();
        if let Some(node) = self.cluster {
            devices.extend(node.remote().lookup(login, self.wall_ms).map(|b| Device {
                contact: b.record.contact.clone(),
                peer: node.peer(b),
                path: Some(b.record.path()),
            }));
        }
        Some(devices)
    }

    fn online(&self, login: &str) -> bool {
        !self.location.lookup(login, self.now).is_empty()
            || self
                .cluster
                .is_some_and(|n| n.remote().lookup(login, self.wall_ms).next().is_some())
    }
}

impl Reach<'_> {
    fn instances(&self, login: &str) -> HashSet<String> {
        let remote: Vec<String> = self.cluster.map_or_else(Vec::new, |n| {
            n.remote()
                .lookup(login, self.wall_ms)
                .filter_map(|b| b.record.instance.clone())
                .collect()
        });
        self.location
            .lookup(login, self.now)
            .iter()
            .filter_map(|b| b.instance.clone())
            .chain(remote)
            .collect()
    }
}

pub(crate) struct MessagingIo {
    core: Messaging,
    /// The operator API client, when a push or SMS hook is configured.
    hooks: Option<hooks::HookClient>,
    store: Store,
    done: mpsc::UnboundedSender<Done>,
}

impl MessagingIo {
    pub(crate) fn new(
        core: Messaging,
        hooks: Option<hooks::HookClient>,
        store: Store,
        done: mpsc::UnboundedSender<Done>,
    ) -> Self {
        Self {
            core,
            hooks,
            store,
            done,
        }
    }

    /// `[calls] message_timeout`.
    pub(crate) fn set_answer_timeout(&mut self, after: Duration) {
        self.core.set_answer_timeout(after);
    }

    /// When the core's answer timer is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// The answer timers due at `now`: 202 to senders whose devices stay silent.
    pub(crate) fn handle_timeout(&mut self, out: &mut TxOut<'_>, now: Instant, reach: &Reach<'_>) {
        self.core.handle_timeout(now, out);
        self.drain(reach);
    }

    /// The host of relayed From/To URIs (`[registrar] domain`, or the one clients register
    /// with).
    pub(crate) fn set_domain(&mut self, domain: &str) {
        self.core.set_domain(domain);
    }

    /// A new operator API client (config reload).
    pub(crate) fn set_hooks(&mut self, hooks: Option<hooks::HookClient>) {
        self.hooks = hooks;
    }

    /// MESSAGEs not yet answered or stored, plus storage and hook jobs started and not yet
    /// back as [`Done`] (each holds a sender).
    pub(crate) fn in_flight(&self) -> usize {
        self.core.in_progress() + self.done.strong_count().saturating_sub(1)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the request, its transaction and peer, who sent it, where it goes and the context"
    )]
    pub(crate) fn incoming(
        &mut self,
        out: &mut TxOut<'_>,
        key: ServerKey,
        msg: Message,
        from: Peer,
        sender: messaging::Sender,
        system: bool,
        dest: Destination,
        reach: &Reach<'_>,
    ) {
        tracing::debug!(sender = %sender.login, ?dest, call_id = msg.call_id().unwrap_or(""), "MESSAGE");
        let now = out.now;
        self.core
            .incoming(now, key, msg, from, sender, system, dest, reach, out);
        self.drain(reach);
    }

    /// A response to one of our forwards (see [`Self::owns`]).
    pub(crate) fn response(
        &mut self,
        out: &mut TxOut<'_>,
        key: ClientKey,
        status: u16,
        reach: &Reach<'_>,
    ) -> bool {
        let ours = self.core.response(key, status, reach, out);
        self.drain(reach);
        ours
    }

    /// Another node's word on `login`'s stored messages (`Messaging::remote_queue`).
    pub(crate) fn remote_queue(&mut self, login: &str, clear: bool) {
        self.core.remote_queue(login, clear);
    }

    /// A successful REGISTER of `login` that leaves it with a device.
    pub(crate) fn registered(&mut self, login: &str, came_online: bool, reach: &Reach<'_>) {
        self.core.registered(login, came_online);
        self.drain(reach);
    }

    pub(crate) fn done(&mut self, out: &mut TxOut<'_>, done: Done, reach: &Reach<'_>) {
        match done {
            Done::Stored { job, result } => {
                self.core.stored(job, result, reach, out);
            }
            Done::Sms { job, result } => self.core.sms_done(job, result, out),
            Done::Pending { login, result } => {
                let was = self.core.is_clear(&login);
                self.core.pending_fetched(&login, result, reach, out);
                announce_clear(reach, &login, !was && self.core.is_clear(&login));
            }
            Done::Marked { login, result } => {
                let was = self.core.is_clear(&login);
                self.core.marked(&login, result, reach, out);
                announce_clear(reach, &login, !was && self.core.is_clear(&login));
            }
        }
        self.drain(reach);
    }

    fn drain(&mut self, reach: &Reach<'_>) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Store { job, text, status } => {
                    if status == Status::Deferred {
                        if let Some(node) = reach.cluster {
                            // the other nodes store the login's next MESSAGE first too
                            node.announce_queue(&text.recipient, false);
                        }
                    }
                    self.store_message(job, text, status);
                }
                Action::SmsOut { job, text } => self.sms_out(job, text),
                Action::Push { text } => {
                    let registered = reach.instances(&text.recipient);
                    self.push(text, registered);
                }
                Action::FetchPending { login, limit } => self.fetch_pending(login, limit),
                Action::MarkDelivered { login, id } => self.mark_delivered(login, id),
                Action::Attempted { id, give_up } => self.attempted(id, give_up),
                // a kind of action added to the core later: this build does not know it
                _ => tracing::warn!("messaging action of an unknown kind skipped"),
            }
        }
    }

    fn store_message(&self, job: Option<JobId>, text: Text, status: Status) {
        let store = self.store.clone();
        let done = self.done.clone();
        tokio::spawn(async move {
            let row = records::new_message(&text, unix_ms());
            let result = match tokio::time::timeout(
                DB_TIMEOUT,
                store.store_message(&row, records::message_status(status)),
            )
            .await
            {
                Ok(Ok((id, inserted))) => {
                    let what = match status {
                        Status::Delivered => "MESSAGE delivered to a device (copy kept)",
                        Status::Deferred => {
                            "MESSAGE stored for delivery when the recipient registers"
                        }
                        Status::SentOffnet => "MESSAGE handed to the SMS hook",
                        _ => "MESSAGE not delivered (kept as failed)",
                    };
                    tracing::info!(id, sender = %text.sender, recipient = %text.recipient, status = %records::message_status(status), call_id = %text.call_id, inserted, "{what}");
                    Ok(inserted)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {DB_TIMEOUT:?}")),
            };
            match job {
                Some(job) => {
                    let _ = done.send(Done::Stored { job, result });
                }
                None => {
                    if let Err(e) = result {
                        tracing::error!(sender = %text.sender, recipient = %text.recipient, "keeping a copy of a message failed: {e}");
                    }
                }
            }
        });
    }

    fn sms_out(&self, job: JobId, text: Text) {
        let hooks = self.hooks.clone().filter(|h| h.config().sms.is_some());
        let done = self.done.clone();
        tokio::spawn(async move {
            let result = match hooks {
                None => Err("no SMS hook (sms_service) is configured".to_owned()),
                Some(h) => crate::metrics::hook_call(
                    crate::metrics::Hook::SmsOut,
                    h.sms_out(
                        &text.sender,
                        &text.recipient,
                        &String::from_utf8_lossy(&text.body),
                    ),
                )
                .await
                .map_err(|e| e.to_string()),
            };
            if result.is_ok() {
                tracing::info!(sender = %text.sender, recipient = %text.recipient, "message handed to the SMS hook");
            }
            let _ = done.send(Done::Sms { job, result });
        });
    }

    fn push(&self, text: Text, registered: HashSet<String>) {
        let Some(hooks) = self.hooks.clone().filter(|h| h.config().push.is_some()) else {
            return;
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            let instances = match store.list_instances(&text.recipient).await {
                Ok(v) => v
                    .into_iter()
                    .map(|i| i.instance)
                    .filter(|i| !registered.contains(i))
                    .collect(),
                Err(e) => {
                    tracing::warn!(recipient = %text.recipient, "reading device instances failed, pushing to all: {e}");
                    Vec::new()
                }
            };
            let event = hooks::PushEvent::message(
                hooks::Party::new(text.sender.clone(), text.display_name.clone()),
                text.recipient.clone(),
                text.call_id.clone(),
                text.content_type.clone(),
                &String::from_utf8_lossy(&text.body),
                instances,
            );
            match crate::metrics::hook_call(crate::metrics::Hook::Push, hooks.push(&event)).await {
                Ok(()) => {
                    tracing::info!(recipient = %text.recipient, call_id = %text.call_id, "message push event posted");
                }
                Err(e) => {
                    tracing::error!(recipient = %text.recipient, "message push event not posted: {e}");
                }
            }
        });
    }

    fn fetch_pending(&self, login: String, limit: u32) {
        let store = self.store.clone();
        let done = self.done.clone();
        tokio::spawn(async move {
            let result =
                match tokio::time::timeout(DB_TIMEOUT, store.pending_messages(&login, limit)).await
                {
                    Ok(Ok(rows)) => Ok(rows.into_iter().map(records::deferred).collect()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {DB_TIMEOUT:?}")),
                };
            let _ = done.send(Done::Pending { login, result });
        });
    }

    fn mark_delivered(&self, login: String, id: i64) {
        let store = self.store.clone();
        let done = self.done.clone();
        tokio::spawn(async move {
            let now = i64::try_from(unix_ms()).unwrap_or(i64::MAX);
            let result = match tokio::time::timeout(
                DB_TIMEOUT,
                store.set_message_status(id, MessageStatus::Delivered, now),
            )
            .await
            {
                Ok(Ok(_)) => {
                    tracing::info!(id, %login, "stored message delivered");
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {DB_TIMEOUT:?}")),
            };
            let _ = done.send(Done::Marked { login, result });
        });
    }

    fn attempted(&self, id: i64, give_up: bool) {
        let store = self.store.clone();
        // held until the write is done: counted by `in_flight` (a shutdown waits for it)
        let in_flight = self.done.clone();
        tokio::spawn(async move {
            let _in_flight = in_flight;
            let mut r = store.increment_attempts(id).await.map(drop);
            if give_up && r.is_ok() {
                let now = i64::try_from(unix_ms()).unwrap_or(i64::MAX);
                r = store
                    .set_message_status(id, MessageStatus::Failed, now)
                    .await
                    .map(drop);
            }
            if let Err(e) = r {
                tracing::error!(id, "recording a delivery attempt failed: {e}");
            }
        });
    }
}
