//! The dispatcher's operator side: the admin API's questions and commands
//! ([`crate::operator::CoreRequest`]: bindings, kicking them, calls, hanging one up) and the
//! account changes [`crate::account_sync`] read from storage (a deleted or disabled account
//! also loses its bindings, so nothing reaches it any more).

use std::collections::HashSet;

use super::*;
use crate::account_sync::Reloaded;
use crate::operator::CoreRequest;

impl Dispatcher {
    pub(super) fn operator_request(&mut self, now: Instant, r: CoreRequest) {
        match r {
            CoreRequest::Registrations { login, reply } => {
                let location = self.registrar.location();
                let list = match &login {
                    Some(l) => location
                        .lookup(l, now)
                        .iter()
                        .map(|b| (l.clone(), b.clone()))
                        .collect(),
                    None => {
                        let mut all = Vec::new();
                        location.for_each(|l, b| {
                            if b.expires_at > now {
                                all.push((l.to_owned(), b.clone()));
                            }
                        });
                        all
                    }
                };
                let _ = reply.send(list);
            }
            CoreRequest::Unregister { login, key, reply } => {
                let n = self.drop_bindings(&login, key.as_deref());
                tracing::info!(%login, key = ?key, removed = n, "bindings removed by the operator");
                let _ = reply.send(n);
            }
            CoreRequest::ApiBinding {
                login,
                key,
                binding,
            } => match binding {
                Some(b) => self.registrar.location().upsert(&login, *b),
                None => {
                    self.registrar.location().remove(&login, &key);
                }
            },
            CoreRequest::Calls { reply } => {
                let _ = reply.send(self.calls.summaries(now));
            }
            CoreRequest::HangUp { id, reply } => {
                let mut out = TxOut {
                    tx: &mut self.tx,
                    tu: Tu::Calls,
                    now,
                };
                let ended = self.calls.hang_up(now, id, &mut out);
                let _ = reply.send(ended);
            }
        }
    }

    /// Removes `login`'s binding with `key` (all of them without one) from the registrar and
    /// from storage; returns how many went.
    fn drop_bindings(&mut self, login: &str, key: Option<&str>) -> usize {
        let keys: Vec<String> = self
            .registrar
            .location()
            .iter_login(login)
            .iter()
            .filter(|b| key.is_none_or(|k| b.key == k))
            .map(|b| b.key.clone())
            .collect();
        for k in &keys {
            self.registrar.location().remove(login, k);
            let _ = self
                .writes
                .send(Write::Binding(registrar::BindingChange::Remove {
                    login: login.to_owned(),
                    key: k.clone(),
                }));
        }
        keys.len()
    }

    /// Accounts read again after a change in storage.
    pub(super) fn accounts_changed(&mut self, now: Instant, changed: Reloaded) {
        match changed {
            Reloaded::Some(list) => {
                for (login, account) in list {
                    self.account_changed(now, login, account);
                }
            }
            Reloaded::All(list) => {
                let present: HashSet<&str> = list.iter().map(|a| a.login.as_str()).collect();
                let gone: Vec<String> = self
                    .accounts
                    .logins()
                    .into_iter()
                    .filter(|l| !present.contains(l.as_str()))
                    .collect();
                drop(present);
                tracing::info!(
                    accounts = list.len(),
                    gone = gone.len(),
                    "accounts reloaded"
                );
                for login in gone {
                    self.account_changed(now, login, None);
                }
                for a in list {
                    self.account_changed(now, a.login.clone(), Some(a));
                }
            }
        }
    }

    fn account_changed(&mut self, now: Instant, login: String, account: Option<store::Account>) {
        let usable = account.as_ref().is_some_and(|a| a.enabled);
        tracing::debug!(%login, exists = account.is_some(), usable, "account changed");
        self.cache_account(now, login.clone(), account);
        if !usable {
            self.drop_bindings(&login, None);
        }
    }
}
