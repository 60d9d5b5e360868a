//! The dispatcher's account side: REGISTER (then stored messages, push tokens and parked
//! calls for the device that registered), proxy authentication of INVITE, MESSAGE,
//! SUBSCRIBE and PUBLISH (trusted peers by IP), and the account cache with its reads from
//! storage (a request waits for its account, never the SIP path for the database).

use super::*;

impl Dispatcher {
    pub(super) fn register(&mut self, now: Instant, w: Waiting) {
        // To and the credentials parsed once, for the registrar and for us
        let reg = Register::new(&w.msg);
        // a made-up nonce is challenged whatever the account: read none for it
        let login = reg.credentials.username().filter(|_| {
            self.registrar
                .credentials_worth_judging(now, &reg.credentials)
        });
        let account = match login {
            None => None,
            Some(login) => match self.accounts.get(login) {
                Some(c) if c.fresh(now) || w.refetched => c.account.clone(),
                _ => {
                    let login = login.to_owned();
                    drop(reg);
                    return self.fetch_account(login, w);
                }
            },
        };
        let outcome = self
            .registrar
            .handle_register(now, &reg, w.from, account.as_ref());
        let (mut changes, mut instances, mut pushes) = (Vec::new(), Vec::new(), Vec::new());
        while let Some(ev) = self.registrar.poll_event() {
            match ev {
                registrar::Event::Binding(c) => changes.push(c),
                registrar::Event::Instance { instance, at, .. } => instances.push((instance, at)),
                registrar::Event::Push { push, at, .. } => pushes.push((push, at)),
                e => tracing::warn!(event = ?e, "registrar event of an unknown kind skipped"),
            }
        }
        // only a refusal of the credentials may be cured by a fresh read of the account (a
        // new password, an account just added or enabled); a To that names another login or
        // too many contacts would only burn the nonce count and answer 401 stale
        let forbidden = matches!(
            outcome.result,
            Err(RegisterError::Auth(AuthRejection::Forbidden { .. }))
        );
        if forbidden && !w.refetched {
            if let Some(login) = login {
                if self
                    .accounts
                    .get(login)
                    .is_some_and(|c| now.duration_since(c.fetched) >= ACCOUNT_RECHECK)
                {
                    // maybe the password changed or the account was just added: read it again
                    let login = login.to_owned();
                    drop(reg);
                    return self.fetch_account(login, w);
                }
            }
        }
        if let Err(RegisterError::Auth(r)) = &outcome.result {
            self.auth_failed(now, &w.msg, &w.from, r);
        }
        log_register(now, &outcome, &changes, &w.from);
        if outcome.result.is_ok() && outcome.login.is_some() {
            self.registration_seen(now, &w.from, &changes);
        }
        if let (Ok(()), Some(login)) = (&outcome.result, &outcome.login) {
            if let Some(to) = reg.to() {
                self.learn_domain(&to.uri);
            }
            // messages stored while the login was away go out now
            if !self.registrar.location().lookup(login, now).is_empty() {
                let reach = messages::reach(
                    &self.registrar,
                    &self.accounts,
                    self.cluster.as_ref(),
                    &self.epoch,
                    now,
                );
                self.messaging.registered(login, outcome.registered, &reach);
            }
        }
        if let Some(login) = &outcome.login {
            for (p, at) in pushes {
                let t = crate::records::push_token(login, p, at, &self.epoch);
                let dev = crate::records::push_device(&t);
                if !self.push_tokens.same(login, &dev) {
                    self.push_tokens.apply(t.clone());
                    let _ = self.writes.send(Write::PushToken(t));
                }
            }
        }
        for c in changes {
            self.binding_changed(now, c);
        }
        if let Some(login) = &outcome.login {
            for (instance, at) in instances {
                let _ = self.writes.send(Write::Instance(InstanceSeen {
                    login: login.clone(),
                    instance,
                    at: self.epoch.wall_secs(at) as i64,
                }));
            }
        }
        if let Err(RegisterError::Auth(_)) = outcome.result {
            // A challenge or a refusal of the credentials is cheap to compute again: answer
            // statelessly and keep no transaction for Timer J (a retransmission just gets a
            // fresh answer; the nonce count of a failed guess is not used up). No state is
            // kept for a request that did not authenticate.
            if let Err(e) = self.tx.respond_and_forget(&w.key, outcome.response) {
                tracing::debug!("challenge not sent: {e}");
            }
        } else {
            self.respond(now, &w.key, outcome.response);
        }
    }

    /// A binding changed (a REGISTER, the purge): to storage, and to a parked call or a ghost
    /// that waits for the login's device (a cheap lookup first: most REGISTERs concern no
    /// call).
    pub(super) fn binding_changed(&mut self, now: Instant, c: registrar::BindingChange) {
        if let registrar::BindingChange::Upsert { login, binding } = &c {
            if self.calls.awaits_registration(login) {
                self.registered_for_call(now, login, binding);
            }
            self.tell_waiting_shards(login, binding);
        }
        let _ = self.writes.send(Write::Binding(c));
    }

    /// `login` registered `binding` and a call here waits for it: the call forks to it.
    pub(super) fn registered_for_call(
        &mut self,
        now: Instant,
        login: &str,
        binding: &registrar::Binding,
    ) {
        let target = b2bua::Target {
            login: login.to_owned(),
            uri: binding.contact.clone(),
            peer: crate::calls::device_peer(binding),
            instance: binding.instance.clone(),
        };
        let mut out = TxOut {
            tx: &mut self.tx,
            tu: Tu::Calls,
            now,
        };
        self.calls.registered(now, login, target, &mut out);
    }

    /// The registrar's timer: the purge of expired bindings (and, with `[cluster]`, of the
    /// other nodes' expired ones at the same pace).
    pub(super) fn registrar_timeout(&mut self, now: Instant) {
        if self.registrar.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        self.registrar.handle_timeout(now);
        while let Some(ev) = self.registrar.poll_event() {
            match ev {
                registrar::Event::Binding(c) => self.binding_changed(now, c),
                e => tracing::warn!(event = ?e, "registrar event out of a REGISTER skipped"),
            }
        }
        let wall_ms = self.epoch.wall(now);
        // the other nodes' state and the relayed pick-ups are shared by the shards: the first
        // purges them
        let first = self.siblings.as_ref().is_none_or(|s| s.index == 0);
        if let (Some(node), true) = (&mut self.cluster, first) {
            node.purge(now, wall_ms);
        }
    }

    /// Proxy authentication of an INVITE, SUBSCRIBE, PUBLISH or MESSAGE, then its module.
    /// Trusted peers (by IP) need none for INVITE and MESSAGE; presence always asks.
    pub(super) fn authenticated(&mut self, now: Instant, w: Waiting) {
        let method = w.msg.method().cloned();
        let trusted_ok = matches!(method, Some(Method::Invite | Method::Message));
        let Some((caller, w)) = self.authenticate(now, w, trusted_ok) else {
            return;
        };
        // a client names our domain in the To of what it sends us (a trusted peer may not)
        if !caller.trusted && !matches!(method, Some(Method::Invite)) {
            if let Ok(to) = w.msg.to_header() {
                self.learn_domain(&to.uri);
            }
        }
        match method {
            Some(Method::Invite) => self.invite(now, w, caller),
            Some(Method::Message) => self.message(now, w, caller),
            Some(Method::Subscribe) => {
                self.presence
                    .subscribe(&mut self.tx, now, w.key, &w.msg, w.from, &caller.login);
            }
            Some(Method::Publish) => {
                self.presence
                    .publish(&mut self.tx, now, w.key, &w.msg, w.from, &caller.login);
            }
            _ => {}
        }
    }

    /// Who sent a request that needs proxy authentication: `Some` to go on; `None` when it
    /// was answered (challenge, 403) or waits for its account to be read.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        w: Waiting,
        trusted_ok: bool,
    ) -> Option<(Caller, Waiting)> {
        if trusted_ok && self.trusted_source(&w.from) {
            let login = w
                .msg
                .from_user()
                .map(|u| u.into_owned())
                .unwrap_or_default();
            let profile = self.accounts.get(&login).and_then(|c| c.profile.clone());
            let profile = profile.unwrap_or_default();
            let caller = Caller {
                login,
                display_name: profile.display_name,
                tech_prefix: profile.tech_prefix,
                trusted: true,
            };
            self.authenticated_over(&w.from);
            return Some((caller, w));
        }
        let presented = Presented::new(&w.msg, AuthKind::Proxy);
        let login = presented
            .username()
            .filter(|_| self.registrar.credentials_worth_judging(now, &presented))
            .map(str::to_owned);
        let account = match &login {
            None => None,
            Some(login) => match self.accounts.get(login) {
                Some(c) if c.fresh(now) || w.refetched => c.account.clone(),
                _ => {
                    drop(presented);
                    self.fetch_account(login.clone(), w);
                    return None;
                }
            },
        };
        let verdict =
            self.registrar
                .authenticate(now, &w.msg, &presented, w.from, account.as_ref());
        drop(presented);
        match verdict {
            Ok(acc) => {
                let profile = self
                    .accounts
                    .get(&acc.login)
                    .and_then(|c| c.profile.clone())
                    .unwrap_or_default();
                let caller = Caller {
                    login: acc.login.clone(),
                    display_name: profile.display_name,
                    tech_prefix: profile.tech_prefix,
                    trusted: false,
                };
                self.authenticated_over(&w.from);
                Some((caller, w))
            }
            Err(r) => {
                if matches!(r.reason, AuthRejection::Forbidden { .. }) && !w.refetched {
                    if let Some(login) = &login {
                        if self
                            .accounts
                            .get(login)
                            .is_some_and(|c| now.duration_since(c.fetched) >= ACCOUNT_RECHECK)
                        {
                            // maybe the password changed or the account was just added
                            self.fetch_account(login.clone(), w);
                            return None;
                        }
                    }
                }
                let method = w.msg.method().map_or("?", |m| m.as_str());
                tracing::debug!(status = r.status(), peer = %w.from, method, "request not authenticated");
                self.auth_failed(now, &w.msg, &w.from, &r.reason);
                // a challenge or refusal is cheap to compute again (see REGISTER); for an
                // INVITE too: its ACK then matches nothing and is dropped, and nothing is
                // retransmitted to an address that may be spoofed
                if let Err(e) = self.tx.respond_and_forget(&w.key, r.response) {
                    tracing::debug!("authentication answer not sent: {e}");
                }
                None
            }
        }
    }

    pub(super) fn fetch_account(&mut self, login: String, mut waiting: Waiting) {
        waiting.refetched = true;
        self.fetching += 1;
        let store = self.store.clone();
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            // A SIP client is waiting: give the database a little while, not the pool's
            // whole connect timeout.
            let account = match tokio::time::timeout(
                ACCOUNT_FETCH_TIMEOUT,
                store.get_account(&login),
            )
            .await
            {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {ACCOUNT_FETCH_TIMEOUT:?}")),
            };
            let _ = inputs.send(Input::AccountFetched {
                login,
                account,
                waiting,
            });
        });
    }
}

impl Dispatcher {
    /// Caches what the database said of `login`: an account, or a miss (no such account),
    /// which is kept briefly and in bounded number ([`super::misses`]).
    pub(super) fn cache_account(
        &mut self,
        now: Instant,
        login: String,
        account: Option<store::Account>,
    ) {
        if account.is_none() {
            for (gone, at) in self.misses.record(now, &login) {
                // only if the entry is still that miss (not since found, nor cached again)
                self.accounts.remove_miss(&gone, at);
            }
        }
        let entry = CachedAccount::read(account, &self.realm, now);
        self.accounts.insert(login, entry);
    }
}

impl CachedAccount {
    /// Still to be trusted at `now`: an account for [`ACCOUNT_TTL`], a miss for
    /// [`super::misses::MISS_TTL`].
    pub(super) fn fresh(&self, now: Instant) -> bool {
        let ttl = if self.account.is_some() {
            ACCOUNT_TTL
        } else {
            misses::MISS_TTL
        };
        now.duration_since(self.fetched) < ttl
    }
}

/// One INFO line per successful REGISTER that adds, refreshes or removes a binding (an
/// operator watching the log sees devices come and go); refusals and queries at DEBUG.
fn log_register(
    now: Instant,
    outcome: &registrar::Outcome,
    changes: &[registrar::BindingChange],
    from: &Peer,
) {
    let (Ok(()), Some(login)) = (&outcome.result, &outcome.login) else {
        tracing::debug!(status = outcome.status(), login = ?outcome.login, peer = %from, "REGISTER refused");
        return;
    };
    let (transport, source) = (from.transport.as_str(), from.remote);
    match changes.first() {
        Some(registrar::BindingChange::Upsert { binding, .. }) => {
            let device = binding
                .instance
                .as_deref()
                .or(binding.user_agent.as_deref())
                .unwrap_or("-");
            let expires = binding.remaining_secs(now);
            tracing::info!(%login, device, transport, %source, expires, contacts = changes.len(), "registered");
        }
        Some(_) => tracing::info!(%login, transport, %source, "unregistered"),
        None => tracing::debug!(%login, transport, %source, "REGISTER query"),
    }
}
