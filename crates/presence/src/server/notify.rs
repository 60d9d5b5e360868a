//! NOTIFY: building a subscription's NOTIFY (full or partial state, RLMI for lists) when its
//! state changed, and its answer.

use super::*;

impl PresenceServer {
    /// Sends the pending NOTIFY of a subscription, unless one is in flight (at most one per
    /// subscription: changes meanwhile are coalesced into the next).
    pub(super) fn kick(&mut self, now: Instant, key: SubscriptionKey) {
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        if sub.in_flight.is_some() || !sub.ready || matches!(sub.pending, Pending::Nothing) {
            return;
        }
        let mut pending = std::mem::take(&mut sub.pending);
        if sub.force_full {
            pending = Pending::Full;
            sub.force_full = false;
        }
        let package = &*self.packages[sub.package];
        let state = State {
            publications: &self.publications,
            summaries: &self.summaries,
            details: &self.details,
        };
        let (content_type, body): (String, Bytes) = match &mut sub.target {
            Target::Single { login, uri } => {
                let Body {
                    content_type,
                    bytes,
                } = package.full_state(
                    &Resource {
                        login,
                        uri,
                        push_supported: false,
                    },
                    &state,
                );
                (content_type.to_owned(), bytes)
            }
            Target::List {
                uri,
                members,
                version,
                requested,
                ..
            } => {
                let full = matches!(pending, Pending::Full);
                let parts: Vec<Part<'_>> = members
                    .iter()
                    .filter(|m| match &pending {
                        Pending::Partial(set) => set.contains(&m.login),
                        _ => true,
                    })
                    .map(|m| {
                        let r = Resource {
                            login: &m.login,
                            uri: &m.uri,
                            push_supported: m.push,
                        };
                        Part {
                            uri: &m.uri,
                            instance: &m.instance,
                            body: if full {
                                package.full_state(&r, &state)
                            } else {
                                package.partial_state(&r, &state)
                            },
                        }
                    })
                    .collect();
                if !full && parts.is_empty() {
                    return;
                }
                let bare = requested.is_some();
                let (ct, body) = rlmi::build(uri, *version, full, &parts, bare, &mut self.tokens);
                *version += 1;
                (ct, body)
            }
        };
        let terminated = sub.poll;
        let state_header = if terminated {
            // RFC 6665 §4.4.3: a fetch ends with its one NOTIFY, reason "timeout"
            "terminated;reason=timeout".to_owned()
        } else {
            format!(
                "active;expires={}",
                sub.expires_at
                    .saturating_duration_since(now)
                    .as_millis()
                    .div_ceil(1000)
            )
        };
        let event = notify_event(sub, package.name());
        let built = build_notify(
            sub,
            event,
            &state_header,
            Some((&content_type, &body)),
            key,
            &mut self.tokens,
        );
        let Some(notify) = built else {
            // as if it had failed (408): the subscription ends
            self.remove(key);
            return;
        };
        if terminated {
            self.outgoing.push_back(notify);
            self.remove(key);
        } else {
            let guard = self.timers.insert(
                now + Duration::from_millis(self.cfg.notify_guard_ms),
                SubTimer::Guard(key, notify.key.cseq),
            );
            sub.in_flight = Some((notify.key.cseq, guard));
            self.outgoing.push_back(notify);
        }
    }

    /// The final response (or its absence) of a NOTIFY: `status` is the response code, 408
    /// when the transaction timed out (Timer F) or the layer refused it, 503 when the
    /// transport failed. 481 and 408 end the subscription (RFC 6665 §4.2.2); another failure
    /// keeps it and makes the next NOTIFY carry full state. Provisional responses and stale
    /// keys are ignored.
    pub(super) fn notify_answered(&mut self, now: Instant, key: NotifyKey, status: u16) {
        if status < 200 {
            return;
        }
        let Some(sub) = self.subs.get_mut(&key.subscription) else {
            return;
        };
        match sub.in_flight {
            Some((cseq, guard)) if cseq == key.cseq => {
                self.timers.remove(guard);
                sub.in_flight = None;
            }
            _ => return,
        }
        match status {
            200..=299 => {
                debug!(subscription = %key.subscription, watcher = %sub.watcher, status, "NOTIFY accepted");
            }
            408 | 481 => {
                debug!(subscription = %key.subscription, watcher = %sub.watcher, status, "NOTIFY failed: subscription removed");
                self.remove(key.subscription);
                return;
            }
            _ => {
                debug!(subscription = %key.subscription, watcher = %sub.watcher, status, "NOTIFY refused: next one carries full state");
                sub.force_full = true;
            }
        }
        self.kick(now, key.subscription);
    }
}

/// The Event value of a subscription's NOTIFYs: the package name, except `Presence` for a
/// URI-list subscription (RFC 5367, linphone's buddy list). liblinphone 5.1 hands a NOTIFY to
/// its friend lists only when the Event is exactly `Presence` (it compares case-sensitively,
/// unlike its SUBSCRIBE side); this core compares Event values case-insensitively.
pub(super) fn notify_event<'a>(sub: &Subscription, package: &'a str) -> &'a str {
    match &sub.target {
        Target::List {
            requested: Some(_), ..
        } if package == "presence" => "Presence",
        _ => package,
    }
}

/// Builds a NOTIFY in the subscription's dialog (next local CSeq), once, as the message the
/// transaction layer sends: `None` (logged) when it would not parse, which cannot happen with
/// a Request-URI and headers that came from a parsed SUBSCRIBE.
pub(super) fn build_notify(
    sub: &mut Subscription,
    event: &str,
    subscription_state: &str,
    body: Option<(&str, &[u8])>,
    key: SubscriptionKey,
    tokens: &mut Tokens,
) -> Option<Notify> {
    let d = &mut sub.dialog;
    d.local_cseq += 1;
    let mut b = MessageBuilder::request(&Method::Notify, &d.remote_target);
    b.header(
        "Via",
        format_args!(
            "SIP/2.0/{} {};branch={};rport",
            sub.origin.peer.transport.via_name(),
            sub.origin.sent_by,
            tokens.branch()
        ),
    );
    b.header("Max-Forwards", 70);
    for r in &d.route_set {
        b.header("Route", r);
    }
    b.header(
        "From",
        format_args!("{};tag={}", d.local_party, d.local_tag),
    )
    .header("To", &d.remote_party)
    .header("Call-ID", &d.call_id)
    .header("CSeq", format_args!("{} NOTIFY", d.local_cseq))
    .header("Contact", &sub.origin.contact);
    match &sub.event_id {
        Some(id) => b.header("Event", format_args!("{event};id={id}")),
        None => b.header("Event", event),
    };
    b.header("Subscription-State", subscription_state);
    if matches!(sub.target, Target::List { .. }) {
        b.header("Require", "eventlist");
    }
    b.header("User-Agent", reply::SERVER);
    let request = match body {
        Some((ct, bytes)) => b.finish_request_with_body(ct, bytes),
        None => b.finish_request(),
    };
    let request = match request {
        Ok(m) => m,
        Err(e) => {
            warn!(subscription = %key, watcher = %sub.watcher, "NOTIFY does not parse: {e}");
            return None;
        }
    };
    Some(Notify {
        key: NotifyKey {
            subscription: key,
            cseq: d.local_cseq,
        },
        to: sub.origin.peer,
        request,
        watcher: sub.watcher.clone(),
    })
}
