//! SUBSCRIBE (RFC 6665): a new subscription (single presentity or a resource list, RFC
//! 4662) and the in-dialog refresh or unsubscribe, with the failure answers.

use super::*;

impl PresenceServer {
    /// Handles a SUBSCRIBE from `login` (authenticated by the driver), received on the
    /// server transaction `key`: a new subscription, a refresh, or an unsubscribe. Answers it
    /// through `out`, then sends the NOTIFYs it makes (so the 200 goes first). Returns the
    /// subscription it created or refreshed.
    pub fn handle_subscribe(
        &mut self,
        now: Instant,
        key: ServerKey,
        login: &str,
        req: &Message,
        origin: &Origin,
        out: &mut dyn Outbox,
    ) -> Option<SubscriptionKey> {
        let reply = self.subscribe(now, login, req, origin);
        out.respond(&key, reply.response);
        self.send_notifies(now, out);
        reply.subscription
    }

    fn subscribe(&mut self, now: Instant, login: &str, req: &Message, origin: &Origin) -> Reply {
        let _span =
            debug_span!("subscribe", login, call_id = req.call_id().unwrap_or("")).entered();
        let reply = match req.to_header() {
            Err(_) => fail(req, 400, "bad To", origin),
            Ok(to) => match to.tag() {
                Some(tag) => {
                    let tag = tag.to_owned();
                    self.in_dialog(now, login, req, origin, &tag)
                }
                None => self.new_subscription(now, login, req, origin),
            },
        };
        debug!(status = reply.status, subscription = ?reply.subscription, "SUBSCRIBE handled");
        reply
    }

    pub(super) fn new_subscription(
        &mut self,
        now: Instant,
        login: &str,
        req: &Message,
        origin: &Origin,
    ) -> Reply {
        let Some(event) = req.event() else {
            return fail(req, 400, "missing Event", origin);
        };
        let Some(pkg) = self.package_id(event) else {
            let mut b = reply::response(req, 489, Some(&req.stable_tag()), origin.peer.remote);
            b.header("Allow-Events", self.allow_events());
            return Reply {
                response: reply::finish(b, 489),
                status: 489,
                subscription: None,
            };
        };
        if let Some(r) = unsupported_require(req, origin, self.packages[pkg].supports_lists()) {
            return r;
        }
        // RFC 5367: the resources are named in the body, the Request-URI is the list server's
        let requested = if uri_list::requested(req) {
            if !(req.has_option_tag(&HeaderName::Supported, "eventlist")
                || req.has_option_tag(&HeaderName::Require, "eventlist"))
            {
                let mut b = reply::response(req, 421, Some(&req.stable_tag()), origin.peer.remote);
                b.header("Require", "eventlist");
                return Reply {
                    response: reply::finish(b, 421),
                    status: 421,
                    subscription: None,
                };
            }
            match uri_list::from_request(req) {
                Ok(Some(named)) => Some(named),
                Ok(None) => {
                    return fail(
                        req,
                        400,
                        "recipient-list-subscribe without a URI list",
                        origin,
                    )
                }
                Err(e) => return uri_list_refused(req, &e, false, origin),
            }
        } else {
            None
        };
        let Ok(uri) = req.request_uri() else {
            return fail(req, 400, "bad Request-URI", origin);
        };
        let user = uri
            .user_unescaped()
            .and_then(|u| String::from_utf8(u.into_owned()).ok())
            .filter(|u| !u.is_empty());
        let resource = match (user, &requested) {
            (Some(u), _) => u,
            // a list server URI may have no user part (`sip:rls.example.com`)
            (None, Some(_)) => String::new(),
            (None, None) => return fail(req, 404, "no user in Request-URI", origin),
        };
        let Ok(expires) = req.expires() else {
            return fail(req, 400, "malformed Expires", origin);
        };
        let package = &self.packages[pkg];
        if package.own_resource_only() && resource != login {
            return fail(req, 403, "you may subscribe only to your own", origin);
        }
        let secs = expires.unwrap_or_else(|| package.default_expires());
        if secs != 0 && secs < self.cfg.min_expires {
            return interval_too_brief(req, self.cfg.min_expires, origin);
        }
        let secs = secs.min(self.cfg.max_expires);

        let accept: Vec<&str> = req.header_list(&HeaderName::Accept).collect();
        let allows = |ty: &str| accept.is_empty() || accept.iter().any(|r| range_allows(r, ty));
        if requested.is_some() && !allows("multipart/related") {
            let mut b = reply::response(req, 406, Some(&req.stable_tag()), origin.peer.remote);
            b.header("Accept", "multipart/related");
            return Reply {
                response: reply::finish(b, 406),
                status: 406,
                subscription: None,
            };
        }
        let list = requested.is_some()
            || (package.supports_lists()
                && resource == login
                && (req.has_option_tag(&HeaderName::Supported, "eventlist")
                    || req.has_option_tag(&HeaderName::Require, "eventlist"))
                && allows("multipart/related"));
        if !list && !package.content_types().iter().any(|t| allows(t)) {
            let mut b = reply::response(req, 406, Some(&req.stable_tag()), origin.peer.remote);
            b.header("Accept", package.content_types().join(", "));
            return Reply {
                response: reply::finish(b, 406),
                status: 406,
                subscription: None,
            };
        }
        let remote_target = match req.contacts() {
            Ok(Some(ContactList::Contacts(c))) if !c.is_empty() => c[0].0.uri.as_str().to_owned(),
            _ => return fail(req, 400, "SUBSCRIBE needs a Contact", origin),
        };
        let Ok(from) = req.from_header() else {
            return fail(req, 400, "bad From", origin);
        };
        let Some(remote_tag) = from.tag().map(str::to_owned) else {
            return fail(req, 400, "From has no tag", origin);
        };
        let Ok(cseq) = req.cseq() else {
            return fail(req, 400, "bad CSeq", origin);
        };
        let (Some(call_id), Some(to_raw), Some(from_raw)) = (
            req.call_id(),
            req.header(&HeaderName::To),
            req.header(&HeaderName::From),
        ) else {
            return fail(req, 400, "missing Call-ID", origin);
        };
        if self.per_watcher.get(login).copied().unwrap_or(0) >= self.cfg.max_subscriptions_per_login
        {
            return fail(req, 403, "too many subscriptions", origin);
        }

        self.next_key += 1;
        let key = SubscriptionKey(self.next_key);
        let local_tag = String::from(self.tokens.hex());
        let dialog = Dialog {
            call_id: call_id.to_owned(),
            local_tag: local_tag.clone(),
            local_party: to_raw.to_owned(),
            remote_party: from_raw.to_owned(),
            remote_tag,
            remote_target,
            route_set: req
                .header_list(&HeaderName::RecordRoute)
                .map(str::to_owned)
                .collect(),
            local_cseq: 0,
            remote_cseq: cseq.seq,
        };
        let poll = secs == 0;
        let expires_at = if poll {
            now + Duration::from_millis(self.cfg.notify_guard_ms)
        } else {
            now + Duration::from_secs(u64::from(secs))
        };
        let target = if list {
            Target::List {
                uri: req.request_uri_str().unwrap_or_default().to_owned(),
                members: Vec::new(),
                version: 0,
                fetching: true,
                requested,
            }
        } else {
            Target::Single {
                uri: login_uri(&resource, &self.cfg.domain),
                login: resource.clone(),
            }
        };
        let state = State {
            publications: &self.publications,
            summaries: &self.summaries,
            details: &self.details,
        };
        let ready = !list && package.has_state(&resource, &state);
        let sub = Subscription {
            watcher: login.to_owned(),
            package: pkg,
            event_id: event_param_id(req),
            target,
            dialog,
            origin: origin.clone(),
            expires_at,
            expiry: self.timers.insert(expires_at, SubTimer::Expiry(key)),
            in_flight: None,
            pending: if ready {
                Pending::Full
            } else {
                Pending::Nothing
            },
            force_full: false,
            ready,
            poll,
        };
        self.dialogs
            .insert((call_id.to_owned(), local_tag.clone()), key);
        *self.per_watcher.entry(login.to_owned()).or_default() += 1;
        if !list {
            self.watchers
                .entry((pkg, resource.clone()))
                .or_default()
                .insert(key);
        }
        self.subs.insert(key, sub);
        debug!(%key, event = self.packages[pkg].name(), resource = %resource, list, secs, "subscription created");

        let mut b = reply::response(req, 200, Some(&local_tag), origin.peer.remote);
        b.header("Expires", secs).header("Contact", &origin.contact);
        if list {
            b.header("Require", "eventlist");
        }
        let response = reply::finish(b, 200);

        if list {
            self.actions.push_back(Action::FetchBuddies {
                subscription: key,
                login: login.to_owned(),
            });
        } else if !ready && self.fetching_state.insert((pkg, resource.clone())) {
            self.actions.push_back(Action::FetchState {
                package: self.packages[pkg].name(),
                login: resource,
            });
        }
        self.kick(now, key);
        Reply {
            response,
            status: 200,
            subscription: Some(key),
        }
    }

    pub(super) fn in_dialog(
        &mut self,
        now: Instant,
        login: &str,
        req: &Message,
        origin: &Origin,
        to_tag: &str,
    ) -> Reply {
        let no_such = |req: &Message| Reply {
            response: reply::simple(req, 481, None, origin.peer.remote, None),
            status: 481,
            subscription: None,
        };
        let Some(call_id) = req.call_id() else {
            return no_such(req);
        };
        let Some(&key) = self.dialogs.get(&(call_id.to_owned(), to_tag.to_owned())) else {
            return no_such(req);
        };
        let from_tag = req
            .from_header()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned));
        let event = req.event().map(str::to_owned);
        let event_id = event_param_id(req);
        let Some(sub) = self.subs.get(&key) else {
            return no_such(req);
        };
        let package = &self.packages[sub.package];
        if from_tag.as_deref() != Some(sub.dialog.remote_tag.as_str())
            || !event
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(package.name()))
            || event_id != sub.event_id
        {
            return no_such(req);
        }
        if sub.watcher != login {
            return fail_in_dialog(req, 403, "not your subscription", origin);
        }
        let Ok(cseq) = req.cseq() else {
            return fail_in_dialog(req, 400, "bad CSeq", origin);
        };
        if cseq.seq <= sub.dialog.remote_cseq {
            return fail_in_dialog(req, 500, "CSeq out of order", origin);
        }
        let Ok(expires) = req.expires() else {
            return fail_in_dialog(req, 400, "malformed Expires", origin);
        };
        let secs = expires.unwrap_or_else(|| package.default_expires());
        if secs != 0 && secs < self.cfg.min_expires {
            return interval_too_brief(req, self.cfg.min_expires, origin);
        }
        let secs = secs.min(self.cfg.max_expires);
        let contact = match req.contacts() {
            Ok(Some(ContactList::Contacts(c))) if !c.is_empty() => {
                Some(c[0].0.uri.as_str().to_owned())
            }
            _ => None,
        };
        // a URI-list subscription's refresh may name its resources anew (RFC 5367 §3)
        let renamed = match &sub.target {
            Target::List {
                requested: Some(_), ..
            } if uri_list::requested(req) => match uri_list::from_request(req) {
                Ok(named) => named,
                Err(e) => return uri_list_refused(req, &e, true, origin),
            },
            _ => None,
        };

        let Some(sub) = self.subs.get_mut(&key) else {
            return no_such(req);
        };
        sub.dialog.remote_cseq = cseq.seq;
        if let (
            Some(named),
            Target::List {
                requested: Some(list),
                ..
            },
        ) = (renamed, &mut sub.target)
        {
            *list = named;
        }
        if let Some(c) = contact {
            sub.dialog.remote_target = c;
        }
        sub.origin = origin.clone();

        let mut b = reply::response(req, 200, None, origin.peer.remote);
        b.header("Expires", secs).header("Contact", &origin.contact);
        if matches!(sub.target, Target::List { .. }) {
            b.header("Require", "eventlist");
        }
        let response = reply::finish(b, 200);
        if secs == 0 {
            debug!(%key, "unsubscribed");
            // RFC 6665 §4.2.2 reasons describe why the notifier ended a subscription; the
            // subscriber ended this one, so the final NOTIFY gives none
            self.terminate(now, key, None);
        } else {
            sub.expires_at = now + Duration::from_secs(u64::from(secs));
            self.timers.remove(sub.expiry);
            sub.expiry = self.timers.insert(sub.expires_at, SubTimer::Expiry(key));
            debug!(%key, secs, "subscription refreshed");
            match &mut sub.target {
                Target::List { fetching, .. } => {
                    // the operator's list may have changed: fetch it again, then full state
                    if !*fetching {
                        *fetching = true;
                        self.actions.push_back(Action::FetchBuddies {
                            subscription: key,
                            login: login.to_owned(),
                        });
                    }
                }
                Target::Single { .. } => {
                    if sub.ready {
                        sub.pending = Pending::Full;
                    }
                    self.kick(now, key);
                }
            }
        }
        Reply {
            response,
            status: 200,
            subscription: Some(key),
        }
    }
}

pub(super) fn fail(req: &Message, code: u16, warning: &str, origin: &Origin) -> Reply {
    Reply {
        response: reply::simple(
            req,
            code,
            Some(&req.stable_tag()),
            origin.peer.remote,
            Some(warning),
        ),
        status: code,
        subscription: None,
    }
}

pub(super) fn fail_in_dialog(req: &Message, code: u16, warning: &str, origin: &Origin) -> Reply {
    Reply {
        response: reply::simple(req, code, None, origin.peer.remote, Some(warning)),
        status: code,
        subscription: None,
    }
}

pub(super) fn interval_too_brief(req: &Message, min: u32, origin: &Origin) -> Reply {
    let tag = req
        .to_header()
        .ok()
        .and_then(|t| t.tag().map(str::to_owned));
    let tag = if tag.is_some() {
        None
    } else {
        Some(req.stable_tag())
    };
    let mut b = reply::response(req, 423, tag.as_deref(), origin.peer.remote);
    b.header("Min-Expires", min);
    Reply {
        response: reply::finish(b, 423),
        status: 423,
        subscription: None,
    }
}

/// 420 for a `Require` option tag other than `eventlist` and, for a package with lists,
/// `recipient-list-subscribe` (RFC 5367).
pub(super) fn unsupported_require(req: &Message, origin: &Origin, lists: bool) -> Option<Reply> {
    let bad: Vec<&str> = req
        .header_list(&HeaderName::Require)
        .filter(|t| {
            let known = t.eq_ignore_ascii_case("eventlist")
                || (lists && t.eq_ignore_ascii_case(uri_list::RECIPIENT_LIST_SUBSCRIBE));
            !known
        })
        .collect();
    if bad.is_empty() {
        return None;
    }
    let mut b = reply::response(req, 420, Some(&req.stable_tag()), origin.peer.remote);
    b.header("Unsupported", bad.join(", "));
    Some(Reply {
        response: reply::finish(b, 420),
        status: 420,
        subscription: None,
    })
}

/// The `id` parameter of the Event header (RFC 6665 §8.2.1), echoed in NOTIFYs.
pub(super) fn event_param_id(req: &Message) -> Option<String> {
    req.header(&HeaderName::Event)?
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("id"))
        .map(|(_, v)| v.trim().to_owned())
}

/// The answer to a URI-list body we cannot use: 415 with `Accept` or `Accept-Encoding`, 413,
/// or 400, with a `Warning` naming the fault (no To tag of ours in a dialog).
pub(super) fn uri_list_refused(
    req: &Message,
    e: &uri_list::UriListError,
    in_dialog: bool,
    origin: &Origin,
) -> Reply {
    let code = e.status();
    let tag = (!in_dialog).then(|| req.stable_tag());
    let mut b = reply::response(req, code, tag.as_deref(), origin.peer.remote);
    match e {
        uri_list::UriListError::MediaType(_) => {
            b.header("Accept", uri_list::RESOURCE_LISTS_TYPE);
        }
        uri_list::UriListError::Encoding(_) => {
            b.header("Accept-Encoding", "deflate");
        }
        _ => {}
    }
    let text = e.to_string().replace(['"', '\\'], "'");
    b.warning(text);
    Reply {
        response: reply::finish(b, code),
        status: code,
        subscription: None,
    }
}
