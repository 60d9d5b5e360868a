//! The dispatcher's MESSAGE side: an authenticated MESSAGE routed by the dialing plan into
//! the messaging core, the answers to its forwards, its answer timers and the completions of
//! its storage and hook work ([`crate::messaging_io`]). Each input lends the core the
//! location table and the accounts as its `Devices` ([`reach`]).

use super::*;

/// What the messaging core may know of devices at `now`: this node's bindings, the accounts,
/// and with `[cluster]` the other nodes' bindings (which expire in unix ms: `epoch`).
pub(super) fn reach<'a>(
    registrar: &'a Registrar,
    accounts: &'a AccountCache,
    cluster: Option<&'a crate::cluster::Node>,
    epoch: &sip_message::Epoch,
    now: Instant,
) -> Reach<'a> {
    Reach {
        location: registrar.location(),
        now,
        wall_ms: epoch.wall(now),
        accounts,
        cluster,
    }
}

impl Dispatcher {
    /// An authenticated (or trusted) MESSAGE: routed like a call, then the messaging core.
    pub(super) fn message(&mut self, now: Instant, w: Waiting, caller: Caller) {
        let dialed = w
            .msg
            .request_uri()
            .ok()
            .and_then(|u| u.user_unescaped())
            .and_then(|u| String::from_utf8(u.into_owned()).ok());
        let dest = match dialed {
            Some(d) if !d.is_empty() => {
                messaging::route(&caller.tech_prefix, self.calls.dial_plan(), &d)
            }
            _ => messaging::Destination::Unroutable,
        };
        let system = caller.trusted && self.system_commands.matches(&w.msg);
        self.with_messaging(now, |m, out, reach| {
            m.incoming(
                out,
                w.key,
                w.msg,
                w.from,
                messaging::Sender {
                    login: caller.login,
                    display_name: caller.display_name,
                },
                system,
                dest,
                reach,
            )
        });
    }

    /// An answer of a forwarded MESSAGE's client transaction: its status, 408 for a
    /// timeout, 503 for a transport error.
    pub(super) fn messaging_response(&mut self, now: Instant, key: ClientKey, status: u16) {
        if !self.with_messaging(now, |m, out, reach| m.response(out, key, status, reach)) {
            tracing::debug!(?key, status, "answer for no forwarded MESSAGE");
        }
    }

    /// The messaging core's answer timers.
    pub(super) fn messaging_timeout(&mut self, now: Instant) {
        if self.messaging.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        self.with_messaging(now, |m, out, reach| m.handle_timeout(out, now, reach));
    }

    /// A database or hook operation of the messaging core finished.
    pub(super) fn messaging_done(&mut self, now: Instant, done: messaging_io::Done) {
        self.with_messaging(now, |m, out, reach| m.done(out, done, reach));
    }

    /// Lends the messaging driver the outbox and the devices for one input.
    fn with_messaging<R>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut MessagingIo, &mut TxOut<'_>, &Reach<'_>) -> R,
    ) -> R {
        let reach = reach(
            &self.registrar,
            &self.accounts,
            self.cluster.as_ref(),
            &self.epoch,
            now,
        );
        let mut out = TxOut {
            tx: &mut self.tx,
            tu: Tu::Messaging,
            now,
        };
        f(&mut self.messaging, &mut out, &reach)
    }
}
