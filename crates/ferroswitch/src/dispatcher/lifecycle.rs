//! The dispatcher's side of a config reload and of shutdown.
//!
//! A reload ([`Input::Reload`]) swaps the settings the cores read per request: the registrar's
//! expiry bounds, algorithms and purge interval, the call policy, trusted peers, system
//! commands, the hook client of each driver. State (bindings, calls, subscriptions) stays.
//!
//! Shutdown ([`Input::Shutdown`]) drains: every call is ended by the call engine
//! ([`b2bua::Calls::shutdown`]: BYE, or CANCEL and 503), new out-of-dialog requests get 503
//! with `Retry-After`, in-dialog requests (the phones' answers, their BYEs) are still served,
//! and [`Dispatcher::run`] returns once no call, account read or MESSAGE is left. The
//! server then lets the storage writer flush what is queued.

use super::*;

use crate::reload::LiveSettings;

/// `Retry-After` (seconds) of the 503s sent while shutting down.
pub(crate) const SHUTDOWN_RETRY_AFTER: u32 = 30;

impl Dispatcher {
    /// New settings from a config reload.
    pub(super) fn apply_live(&mut self, live: LiveSettings) {
        let LiveSettings {
            registrar,
            calls,
            trusted,
            system_commands,
            hooks,
            applied,
            auth_limits,
            flood_limits,
            stream_limits,
        } = live;
        self.auth_throttle.set_limits(auth_limits);
        self.registrar.set_config(registrar);
        self.calls.set_config(calls);
        self.trusted = trusted;
        self.set_security(flood_limits, stream_limits);
        self.system_commands = system_commands;
        if let Some(hooks) = hooks {
            self.presence.set_hooks(hooks.clone());
            self.messaging.set_hooks(hooks.clone());
            if let Some(poster) = &mut self.push {
                poster.set_hooks(hooks);
            }
        }
        tracing::debug!("dispatcher settings reloaded");
        if let Some(tell) = applied {
            let _ = tell.send(());
        }
    }

    /// Starts draining: calls are ended, new work is refused from now on.
    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        if self.draining {
            return;
        }
        self.draining = true;
        let calls = self.calls.len();
        let ended = self.calls.shutdown(
            now,
            SHUTDOWN_RETRY_AFTER,
            &mut TxOut {
                tx: &mut self.tx,
                tu: Tu::Calls,
                now,
            },
        );
        tracing::info!(
            calls,
            ended,
            account_reads = self.fetching,
            message_jobs = self.messaging.in_flight(),
            "shutting down: calls ended, new requests refused"
        );
    }

    /// Draining and nothing left to finish: no call (waiting for the answers to its BYEs and
    /// CANCELs), no request waiting for its account, no MESSAGE waiting for a device, its
    /// storage or the SMS hook.
    pub(super) fn drained(&self) -> bool {
        self.draining
            && self.calls.is_empty()
            && self.fetching == 0
            && self.messaging.in_flight() == 0
    }

    /// While draining, a new out-of-dialog request gets 503 with `Retry-After`: returns true
    /// when it was refused so.
    pub(super) fn refuse_while_draining(
        &mut self,
        now: Instant,
        key: &ServerKey,
        msg: &Message,
        from: Peer,
    ) -> bool {
        if !self.draining {
            return false;
        }
        let mut b =
            MessageBuilder::response_to(msg, 503, Some(&self.answer_tag(msg)), Some(from.remote));
        b.header("Retry-After", SHUTDOWN_RETRY_AFTER)
            .warning("shutting down")
            .server();
        self.respond(now, key, b.finish());
        true
    }
}
