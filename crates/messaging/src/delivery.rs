//! Delivery rounds: stored messages sent to a login's devices one at a time, in order, when it
//! registers (`registered` → [`Action::FetchPending`] → `pending_fetched` → forward → `marked`
//! → the next one), and given up after [`MAX_ATTEMPTS`] failed attempts.

use crate::{Action, Deferred, Devices, Job, Messaging, Round, MAX_ATTEMPTS, ROUND_BATCH};
use sip_transaction::Outbox;

impl Messaging {
    /// A REGISTER of `login` succeeded and it has a device; `came_online`: it had none before.
    pub fn registered(&mut self, login: &str, came_online: bool) {
        if came_online || !self.clear.contains(login) {
            self.start_round(login);
        }
    }

    /// Whether `login` is known to have no stored message waiting (a round found none since,
    /// here or, in a cluster, on another node).
    pub fn is_clear(&self, login: &str) -> bool {
        self.clear.contains(login)
    }

    /// Another node of a cluster says that `login`'s stored messages are all delivered
    /// (`clear`: its round found none left) or that it stored one (`!clear`): a MESSAGE
    /// for the login is then forwarded at once, or stored first to keep the order, as if
    /// this node had seen it. A clear is ignored while this node runs a round of the login.
    pub fn remote_queue(&mut self, login: &str, clear: bool) {
        if !clear {
            self.clear.remove(login);
        } else if !self.rounds.contains_key(login) {
            self.clear.insert(login.to_owned());
        }
    }

    /// The answer to [`Action::FetchPending`].
    pub fn pending_fetched(
        &mut self,
        login: &str,
        result: Result<Vec<Deferred>, String>,
        devices: &dyn Devices,
        out: &mut dyn Outbox,
    ) {
        let Some(round) = self.rounds.get_mut(login) else {
            return;
        };
        match result {
            Ok(rows) => {
                round.full = rows.len() >= ROUND_BATCH as usize;
                round.queue = rows.into();
                self.send_next(login, devices, out);
            }
            Err(e) => {
                tracing::error!(%login, "reading stored messages failed: {e}");
                self.clear.remove(login);
                self.rounds.remove(login);
            }
        }
    }

    /// The answer to [`Action::MarkDelivered`].
    pub fn marked(
        &mut self,
        login: &str,
        result: Result<(), String>,
        devices: &dyn Devices,
        out: &mut dyn Outbox,
    ) {
        if !self.rounds.contains_key(login) {
            return;
        }
        match result {
            Ok(()) => self.send_next(login, devices, out),
            Err(e) => {
                // not recorded: stop here, rather than risk sending the rest twice over
                tracing::error!(%login, "marking a message delivered failed: {e}");
                self.clear.remove(login);
                self.rounds.remove(login);
            }
        }
    }

    pub(crate) fn start_round(&mut self, login: &str) {
        match self.rounds.get_mut(login) {
            Some(r) => r.again = true,
            None => {
                self.rounds.insert(login.to_owned(), Round::default());
                self.actions.push_back(Action::FetchPending {
                    login: login.to_owned(),
                    limit: ROUND_BATCH,
                });
            }
        }
    }

    /// Sends the round's next message, or ends the round.
    pub(crate) fn send_next(&mut self, login: &str, devices: &dyn Devices, out: &mut dyn Outbox) {
        let Some(round) = self.rounds.get_mut(login) else {
            return;
        };
        let Some(next) = round.queue.pop_front() else {
            if round.full || round.again {
                round.full = false;
                round.again = false;
                self.actions.push_back(Action::FetchPending {
                    login: login.to_owned(),
                    limit: ROUND_BATCH,
                });
            } else {
                self.rounds.remove(login);
                self.clear.insert(login.to_owned());
            }
            return;
        };
        let targets = devices.devices(login).unwrap_or_default();
        let job = self.job(Job::Delivery {
            login: login.to_owned(),
            id: next.id,
            attempts: next.attempts,
            outstanding: 0,
            delivered: false,
        });
        let sent = self.forward(job, &next.text, &targets, out);
        tracing::debug!(%login, id = next.id, devices = sent, "delivering a stored message");
        if sent == 0 {
            self.jobs.remove(&job);
            self.delivery_failed(login, next.id, next.attempts, devices, out);
        }
    }

    pub(crate) fn delivery_failed(
        &mut self,
        login: &str,
        id: i64,
        attempts: u32,
        devices: &dyn Devices,
        out: &mut dyn Outbox,
    ) {
        let give_up = attempts + 1 >= MAX_ATTEMPTS;
        self.actions.push_back(Action::Attempted { id, give_up });
        if give_up {
            tracing::warn!(%login, id, attempts = attempts + 1, "stored message given up");
            self.send_next(login, devices, out);
        } else {
            // keep the order: the rest waits for the next round (any REGISTER starts it)
            self.clear.remove(login);
            self.rounds.remove(login);
        }
    }
}
