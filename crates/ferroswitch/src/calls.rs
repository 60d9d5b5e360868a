//! What the B2BUA core needs from the server: the [`Outbox`] over the transaction layer and
//! the [`Directory`] over the location table, the account cache and the routing tables
//! (gateways, ring groups) loaded from storage.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use b2bua::{Directory, GatewayTarget, Outbox, RingGroupDef, Target};
use bytes::Bytes;
use dialplan::{Action, DialPlan, Entry};
use registrar::{Binding, Location, Reach};
use sip_message::{Message, Peer, Transport};
use sip_transaction::{ClientKey, ServerKey};

use crate::tu::{Transactions, Tu};

/// An account's call settings, from the `clientsshared` row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Profile {
    pub(crate) display_name: Option<String>,
    pub(crate) tech_prefix: dialplan::TechPrefix,
    pub(crate) voicemail: Option<String>,
    /// Its own answering rules; `None`: the default.
    pub(crate) answering_rules: Option<std::sync::Arc<voicemail::rules::AnsweringRules>>,
}

/// Routing tables, loaded from storage at start.
#[derive(Debug, Default, Clone)]
pub(crate) struct Routing {
    /// Gateways by name, located through DNS (`gateways.rs`).
    pub(crate) gateways: HashMap<String, crate::gateways::GatewayRoute>,
    /// Our TCP/TLS listeners' addresses: a TCP/TLS gateway is reached from one of them.
    pub(crate) stream_locals: Vec<(Transport, SocketAddr)>,
    pub(crate) groups: HashMap<String, RingGroupDef>,
}

/// The dialing plan from its rows; rows whose action does not parse are skipped with an
/// error in the log. An empty table means "every number is a login" (one catch-all
/// user-lookup entry), so a fresh install can call between its accounts.
pub(crate) fn dial_plan(rows: &[(String, i32, String)]) -> DialPlan {
    let mut entries = Vec::with_capacity(rows.len());
    for (prefix, priority, action) in rows {
        match action.parse::<Action>() {
            Ok(a) => entries.push(Entry::new(prefix.clone(), *priority, a)),
            Err(e) => tracing::error!(%prefix, %action, "dialing plan entry skipped: {e}"),
        }
    }
    if entries.is_empty() {
        entries.push(Entry::new("", 0, Action::UserLookup));
    }
    DialPlan::new(entries)
}

/// What routing reads of the dispatcher's account cache.
pub(crate) trait AccountView {
    /// `None`: not cached; an entry without a profile: known not to exist.
    fn cached(&self, login: &str) -> Option<std::sync::Arc<crate::account_cache::CachedAccount>>;

    /// Whether an account with this login exists (as far as the cache knows).
    fn exists(&self, login: &str) -> bool {
        self.cached(login).is_some_and(|c| c.profile.is_some())
    }
}

/// The outbox lent to one TU for one input: requests it starts are recorded as its own
/// ([`Transactions::send_request`]), so their answers come back to it.
pub(crate) struct TxOut<'a> {
    pub(crate) tx: &'a mut Transactions,
    pub(crate) tu: Tu,
    pub(crate) now: Instant,
}

impl Outbox for TxOut<'_> {
    fn respond(&mut self, key: &ServerKey, response: Bytes) {
        if let Err(e) = self.tx.respond(self.now, key, response) {
            tracing::debug!("response not sent: {e}");
        }
    }

    fn send_request(&mut self, request: Message, to: Peer) -> Option<ClientKey> {
        match self.tx.send_request(self.now, request, to, self.tu) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!(peer = %to, "request not sent: {e}");
                None
            }
        }
    }

    fn send_stateless(&mut self, payload: Bytes, to: Peer) {
        self.tx.send_stateless(payload, to);
    }
}

pub(crate) struct Dir<'a> {
    pub(crate) location: &'a Location,
    pub(crate) now: Instant,
    /// `now` in unix ms (the dispatcher's epoch): the other nodes' bindings expire in it.
    pub(crate) wall_ms: u64,
    pub(crate) accounts: &'a dyn AccountView,
    pub(crate) routing: &'a Routing,
    /// Our UDP sockets' addresses: gateways and services are reached over UDP from the one
    /// of the same address family.
    pub(crate) udp_locals: &'a [SocketAddr],
    /// The devices' push tokens.
    pub(crate) push: &'a crate::push_io::PushTokens,
    /// The built-in voicemail service, when it runs.
    pub(crate) voicemail: Option<&'a crate::voicemail_service::Builtin>,
    /// `[cluster]`: the other nodes' bindings, reached through them.
    pub(crate) cluster: Option<&'a crate::cluster::Node>,
}

impl Dir<'_> {
    fn udp_peer(&self, remote: SocketAddr) -> Option<Peer> {
        let local = self
            .udp_locals
            .iter()
            .find(|l| l.is_ipv4() == remote.is_ipv4())?;
        Some(crate::transport::concrete(Peer {
            transport: Transport::Udp,
            remote,
            local: *local,
            conn: None,
        }))
    }
}

/// Where requests to a device go: over the flow it registered on, or to its Contact when
/// the registrar decided so ([`registrar::reach`]: third-party registration, no NAT).
pub(crate) fn device_peer(b: &Binding) -> Peer {
    if b.reach == Reach::Contact {
        if let Some(remote) = sip_message::Uri::parse(&b.contact)
            .ok()
            .and_then(|u| registrar::contact_addr(&u, &b.source))
        {
            return Peer {
                transport: Transport::Udp,
                remote,
                local: b.source.local,
                conn: None,
            };
        }
    }
    b.source
}

impl Directory for Dir<'_> {
    fn contacts(&self, login: &str) -> Vec<Target> {
        let mut targets: Vec<Target> = self
            .location
            .lookup(login, self.now)
            .iter()
            .map(|b| Target {
                login: login.to_owned(),
                uri: b.contact.clone(),
                peer: device_peer(b),
                instance: b.instance.clone(),
            })
            .collect();
        if let Some(node) = self.cluster {
            targets.extend(node.remote().lookup(login, self.wall_ms).map(|b| Target {
                login: login.to_owned(),
                uri: b.record.contact.clone(),
                peer: node.peer(b),
                instance: b.record.instance.clone(),
            }));
        }
        targets
    }

    fn account_exists(&self, login: &str) -> bool {
        self.accounts.exists(login)
    }

    fn gateway(&self, name: &str) -> Option<GatewayTarget> {
        self.gateway_targets(name).into_iter().next()
    }

    fn gateway_targets(&self, name: &str) -> Vec<GatewayTarget> {
        let Some(g) = self.routing.gateways.get(name) else {
            return Vec::new();
        };
        crate::gateways::targets(
            name,
            g,
            &|remote| self.udp_peer(remote),
            &self.routing.stream_locals,
        )
    }

    fn ring_group(&self, login: &str) -> Option<RingGroupDef> {
        self.routing.groups.get(login).cloned()
    }

    fn service(&self, uri: &str) -> Option<Peer> {
        let u = sip_message::Uri::parse(uri).ok()?;
        let ip: std::net::IpAddr = match u.host {
            sip_message::Host::V4(a) => std::net::IpAddr::V4(a),
            sip_message::Host::V6(a) => std::net::IpAddr::V6(a),
            _ => return None,
        };
        self.udp_peer(SocketAddr::new(ip, u.port.unwrap_or(5060)))
    }

    fn voicemail(&self, login: &str) -> Option<String> {
        // the account's outside voicemail server, else the built-in service
        let cached = self.accounts.cached(login)?;
        let uri = match &cached.profile.as_ref()?.voicemail {
            Some(uri) => uri.clone(),
            None => self.voicemail?.deposit_uri(),
        };
        // RFC 4458: whose mailbox (the original target, here as the account at our address)
        let host = self
            .udp_locals
            .first()
            .map_or_else(|| "localhost".to_owned(), |a| a.ip().to_string());
        Some(b2bua::with_target(&uri, login, &host))
    }

    fn voicemail_number(&self, number: &str) -> Option<(String, Peer)> {
        let vm = self.voicemail?;
        let user = b2bua::access_number(number, &vm.prefixes)?;
        let uri = vm.uri(user);
        Some((uri, self.udp_peer(vm.addr)?))
    }

    fn answering_rules(
        &self,
        login: &str,
    ) -> Option<std::sync::Arc<voicemail::rules::AnsweringRules>> {
        self.accounts
            .cached(login)?
            .profile
            .as_ref()?
            .answering_rules
            .clone()
    }

    fn push_devices(&self, login: &str) -> Vec<b2bua::PushDevice> {
        self.push.devices(login)
    }
}

/// Ring group definition from its row.
pub(crate) fn ring_group(members: Vec<String>, step_delay_s: u32, max_steps: u32) -> RingGroupDef {
    RingGroupDef {
        members,
        step_delay: Duration::from_secs(u64::from(step_delay_s)),
        max_steps: max_steps as usize,
    }
}
