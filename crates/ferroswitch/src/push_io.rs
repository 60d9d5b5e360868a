//! The push driver: the dispatcher's in-memory push tokens (per login, per device instance),
//! and the posts of the call engine's push events to the operator's push hook, at most
//! `max_in_flight` at once. A failed `incoming_call` post goes back to the engine
//! ([`Report::Failed`], on the driver's own channel to the dispatcher), which then applies the
//! answering rules when nothing else can answer. One WARN line per failure (the hook
//! client's); no credentials, no tokens.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use b2bua::{PushDevice, PushKind, PushRequest};
use tokio::sync::{mpsc, Semaphore};

/// What the push driver hands back to the dispatcher, in order, on the channel given to
/// [`PushPoster::new`] and [`spawn_token_updates`].
#[derive(Debug)]
pub(crate) enum Report {
    /// The push hook failed for these devices of a parked call (B2BUA call id).
    Failed { call: u64, instances: Vec<String> },
    /// A push token set or removed outside SIP (the app's HTTP API, the CLI, the operator).
    Token(store::PushToken),
}

/// Push tokens by login, shared by every shard (a clone is another handle on the same
/// tokens): read for an INVITE to a login whose devices sleep, written by a REGISTER with
/// RFC 8599 parameters and by the tokens apps hand in. A read copies the login's devices out
/// under the lock; nothing holds it longer.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushTokens {
    by_login: Arc<RwLock<HashMap<String, Vec<PushDevice>>>>,
}

impl PushTokens {
    pub(crate) fn load(rows: Vec<store::PushToken>) -> Self {
        let t = Self::default();
        for r in rows {
            t.apply(r);
        }
        t
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Vec<PushDevice>>> {
        // each write is whole under the lock: what a panic left behind is still usable
        self.by_login.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A token set (or, empty, removed) for a device.
    pub(crate) fn apply(&self, t: store::PushToken) {
        let mut by_login = self
            .by_login
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let list = by_login.entry(t.login.clone()).or_default();
        list.retain(|d| d.instance != t.instance);
        if !t.token.is_empty() {
            list.push(crate::records::push_device(&t));
        }
        if list.is_empty() {
            by_login.remove(&t.login);
        }
    }

    pub(crate) fn devices(&self, login: &str) -> Vec<PushDevice> {
        self.read().get(login).cloned().unwrap_or_default()
    }

    /// The stored device, to skip a write when a REGISTER repeats the same token.
    pub(crate) fn same(&self, login: &str, d: &PushDevice) -> bool {
        self.read()
            .get(login)
            .is_some_and(|l| l.iter().any(|x| x == d))
    }
}

/// Posts push events to the hook.
#[derive(Clone)]
pub(crate) struct PushPoster {
    hooks: Option<hooks::HookClient>,
    slots: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
}

impl PushPoster {
    pub(crate) fn new(
        hooks: Option<hooks::HookClient>,
        max_in_flight: usize,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Self {
        Self {
            hooks: hooks.filter(|h| h.config().push.is_some()),
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            reports,
        }
    }

    /// A new operator API client (config reload).
    pub(crate) fn set_hooks(&mut self, hooks: Option<hooks::HookClient>) {
        self.hooks = hooks.filter(|h| h.config().push.is_some());
    }

    /// Posts an event that no call waits on (`voicemail`): a failure is logged only.
    pub(crate) fn post_event(&self, event: hooks::PushEvent) {
        let name = event.name();
        let Some(hooks) = self.hooks.clone() else {
            metrics::counter!(crate::metrics::PUSH_TOTAL, "event" => name, "result" => "no_hook")
                .increment(1);
            return;
        };
        let slots = self.slots.clone();
        tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let result =
                match crate::metrics::hook_call(crate::metrics::Hook::Push, hooks.push(&event))
                    .await
                {
                    Ok(()) => {
                        tracing::debug!(event = name, "push posted");
                        "ok"
                    }
                    Err(e) => {
                        tracing::info!(event = name, "push not delivered: {e}");
                        "failed"
                    }
                };
            metrics::counter!(crate::metrics::PUSH_TOTAL, "event" => name, "result" => result)
                .increment(1);
        });
    }

    pub(crate) fn post(&self, p: PushRequest) {
        let incoming = p.kind == PushKind::IncomingCall;
        let (call, instances): (u64, Vec<String>) = (
            p.call,
            p.devices.iter().map(|d| d.instance.clone()).collect(),
        );
        let Some(hooks) = self.hooks.clone() else {
            metrics::counter!(crate::metrics::PUSH_TOTAL, "event" => event_name(p.kind), "result" => "no_hook")
                .increment(1);
            if incoming {
                let _ = self.reports.send(Report::Failed { call, instances });
            }
            return;
        };
        let slots = self.slots.clone();
        let reports = self.reports.clone();
        let event = event(p);
        tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            match crate::metrics::hook_call(crate::metrics::Hook::Push, hooks.push(&event)).await {
                Ok(()) => {
                    metrics::counter!(crate::metrics::PUSH_TOTAL, "event" => event.name(), "result" => "ok")
                        .increment(1);
                    tracing::debug!(event = event.name(), call, "push posted");
                }
                Err(e) => {
                    metrics::counter!(crate::metrics::PUSH_TOTAL, "event" => event.name(), "result" => "failed")
                        .increment(1);
                    // the hook client logged each failed attempt at WARN already
                    tracing::info!(event = event.name(), call, "push not delivered: {e}");
                    if incoming {
                        let _ = reports.send(Report::Failed { call, instances });
                    }
                }
            }
        });
    }
}

fn event_name(k: PushKind) -> &'static str {
    match k {
        PushKind::IncomingCall => "incoming_call",
        PushKind::MissedCancelled | PushKind::MissedTimeout => "missed_call",
        PushKind::AnsweredElsewhere => "call_ended",
    }
}

fn event(p: PushRequest) -> hooks::PushEvent {
    let call = hooks::CallEvent::new(
        hooks::Party::new(p.caller, p.caller_display),
        p.callee,
        p.call_id,
        (p.to_tag, p.from_tag),
        p.devices
            .into_iter()
            .map(|d| hooks::PushDevice {
                instance: d.instance,
                token: d.token,
                platform: d.platform,
                param: d.param,
            })
            .collect(),
    );
    match p.kind {
        PushKind::IncomingCall => hooks::PushEvent::incoming_call(call),
        PushKind::MissedCancelled => {
            hooks::PushEvent::missed_call(call, hooks::MissedReason::Cancelled)
        }
        PushKind::MissedTimeout => {
            hooks::PushEvent::missed_call(call, hooks::MissedReason::Timeout)
        }
        PushKind::AnsweredElsewhere => {
            hooks::PushEvent::call_ended(call, hooks::EndReason::AnsweredElsewhere)
        }
    }
}

/// How often the dispatcher's tokens are brought up to date with the database (tokens the CLI or
/// the operator wrote there).
pub(crate) const TOKEN_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// Feeds the dispatcher the push tokens changed outside SIP: at once those the admin API stored
/// (`api`), and every [`TOKEN_REFRESH`] the rows changed in the database since the last read
/// (the CLI, the operator's own writes; removals come as tombstones). A failed read is
/// logged and retried at the next tick.
pub(crate) fn spawn_token_updates(
    store: store::Store,
    mut api: Option<mpsc::UnboundedReceiver<store::PushToken>>,
    reports: mpsc::UnboundedSender<Report>,
    started_at: i64,
) {
    tokio::spawn(async move {
        let mut since = started_at;
        let mut tick = tokio::time::interval(TOKEN_REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let api_change = async {
                match api.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                t = api_change => match t {
                    Some(t) => {
                        if reports.send(Report::Token(t)).is_err() {
                            return;
                        }
                    }
                    None => api = None,
                },
                _ = tick.tick() => {
                    let now = (crate::clock::unix_ms() / 1000) as i64;
                    // one second of overlap: a row written in the second of the last read
                    match store.push_tokens_changed_since(since - 1).await {
                        Ok(rows) => {
                            since = now;
                            for t in rows {
                                if reports.send(Report::Token(t)).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => tracing::warn!("re-reading push tokens failed (retried in {TOKEN_REFRESH:?}): {e}"),
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(login: &str, instance: &str, token: &str) -> store::PushToken {
        store::PushToken {
            login: login.into(),
            instance: instance.into(),
            token: token.into(),
            platform: "fcm".into(),
            param: String::new(),
            updated_at: 0,
        }
    }

    #[test]
    fn clones_share_the_tokens() {
        let shard_a = PushTokens::load(vec![token("alice", "i1", "t1")]);
        let shard_b = shard_a.clone();
        shard_b.apply(token("alice", "i2", "t2"));
        let devices = shard_a.devices("alice");
        assert_eq!(devices.len(), 2, "{devices:?}");
        assert!(shard_a.same("alice", &devices[1]));
        // an empty token removes the device, for every handle
        shard_a.apply(token("alice", "i1", ""));
        shard_a.apply(token("alice", "i2", ""));
        assert!(shard_b.devices("alice").is_empty());
    }
}
