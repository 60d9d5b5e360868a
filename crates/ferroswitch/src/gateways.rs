//! Gateways as the routing tables hold them: each row of the `gateways` table located through
//! DNS (RFC 3263, `sip-dns`), with its trunk's credentials and TLS trust from the config.
//! Runs in the routing reload task (never in the dispatcher); the result goes to the
//! dispatcher with the other tables, and the TCP/TLS addresses to the [`Dialer`], the only
//! peers we open connections to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use b2bua::{GatewayAuth, GatewayTarget};
use ferroswitch_config::Config;
use sip_dns::{Destination, Located};
use sip_message::{Peer, Transport};

use crate::outbound::{DialTarget, Dialer};

/// One gateway, located.
#[derive(Debug, Clone)]
pub(crate) struct GatewayRoute {
    /// What the row says (the domain is the Request-URI host and the TLS name).
    pub(crate) dest: Destination,
    pub(crate) located: Located,
    pub(crate) caller_id: Option<String>,
    pub(crate) auth: Option<GatewayAuth>,
}

/// What routing needs to turn gateway rows into [`GatewayRoute`]s and peers.
pub(crate) struct GatewayDns {
    resolver: Option<sip_dns::Resolver>,
    trunks: HashMap<String, (Option<GatewayAuth>, Arc<rustls::ClientConfig>)>,
    /// For a TLS gateway without a trunk entry: the system's trust store (built on first use).
    system_tls: std::sync::OnceLock<Option<Arc<rustls::ClientConfig>>>,
    dialer: Arc<Dialer>,
}

impl std::fmt::Debug for GatewayDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayDns").finish_non_exhaustive()
    }
}

impl GatewayDns {
    /// The resolver of `[dns]` and the trunks' settings. A CA file that cannot be read stops
    /// the start (named in the error); a resolver that cannot be set up is logged, and then
    /// only gateways given by IP address are served.
    pub(crate) fn new(config: &Config, dialer: Arc<Dialer>) -> anyhow::Result<Self> {
        let resolver = match sip_dns::Resolver::new(&config.dns.servers) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("gateways given by DNS name cannot be resolved: {e}");
                None
            }
        };
        let mut trunks = HashMap::new();
        for t in &config.trunks {
            let auth = (!t.username.is_empty()).then(|| GatewayAuth {
                username: t.username.clone(),
                password: t.password.clone(),
            });
            let tls = crate::outbound::client_config(t.tls_ca_file.as_deref())
                .map_err(|e| anyhow::anyhow!("trunk of gateway {:?}: {e:#}", t.gateway))?;
            trunks.insert(t.gateway.clone(), (auth, tls));
        }
        Ok(Self {
            resolver,
            trunks,
            system_tls: std::sync::OnceLock::new(),
            dialer,
        })
    }

    fn tls_for(&self, gateway: &str) -> Option<Arc<rustls::ClientConfig>> {
        if let Some((_, tls)) = self.trunks.get(gateway) {
            return Some(tls.clone());
        }
        self.system_tls
            .get_or_init(|| match crate::outbound::client_config(None) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!("no TLS client settings for gateways: {e:#}");
                    None
                }
            })
            .clone()
    }

    /// Locates one gateway row; `None` (logged) when its address or transport is invalid.
    pub(crate) async fn route(&self, row: &store::GatewayRow) -> Option<GatewayRoute> {
        let transport = match row.transport.to_ascii_lowercase().as_str() {
            "auto" | "" => None,
            t => match sip_dns::Transport::from_name(t) {
                Some(t) => Some(t),
                None => {
                    tracing::error!(gateway = %row.name, transport = %row.transport, "gateway skipped: transport is not udp, tcp, tls or auto");
                    return None;
                }
            },
        };
        let dest = match Destination::parse(&row.address, transport) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(gateway = %row.name, address = %row.address, "gateway skipped: {e}");
                return None;
            }
        };
        let located = match (&self.resolver, dest.is_name()) {
            (Some(r), true) => r.locate(dest.clone()).await,
            (None, true) => Located::default(),
            (_, false) => {
                let mut l = sip_dns::Locate::new(dest.clone());
                debug_assert!(l.poll_query().is_none());
                l.finish()
            }
        };
        if located.servers.is_empty() {
            tracing::warn!(gateway = %row.name, address = %row.address, "gateway has no server: DNS gave no address (calls to it get 503 until it does)");
        }
        Some(GatewayRoute {
            dest,
            located,
            caller_id: row.caller_id.clone(),
            auth: self.trunks.get(&row.name).and_then(|(a, _)| a.clone()),
        })
    }

    /// Tells the dialer which TCP/TLS addresses belong to gateways, and how to reach them.
    pub(crate) fn publish(&self, gateways: &HashMap<String, GatewayRoute>) {
        let mut targets = HashMap::new();
        for (name, g) in gateways {
            for s in &g.located.servers {
                let transport = match s.transport {
                    sip_dns::Transport::Udp => continue,
                    sip_dns::Transport::Tcp => Transport::Tcp,
                    sip_dns::Transport::Tls => Transport::Tls,
                };
                let tls = if transport == Transport::Tls {
                    match self.tls_for(name) {
                        Some(t) => Some(t),
                        None => continue,
                    }
                } else {
                    None
                };
                for ip in &s.addrs {
                    targets.insert(
                        (transport, SocketAddr::new(*ip, s.port)),
                        DialTarget {
                            server_name: g.located.domain.clone(),
                            tls: tls.clone(),
                        },
                    );
                }
            }
        }
        self.dialer.set_targets(targets);
    }
}

/// The gateway's servers as call targets, in the order to try them for one call. A server
/// over TCP/TLS is reached from our listener of that transport and address family (its
/// address goes into Via and Contact); without one it is left out.
pub(crate) fn targets(
    name: &str,
    g: &GatewayRoute,
    udp_peer: &dyn Fn(SocketAddr) -> Option<Peer>,
    stream_locals: &[(Transport, SocketAddr)],
) -> Vec<GatewayTarget> {
    let mut random = |n: u32| rand::random::<u32>() % n.max(1);
    g.located
        .ordered(&mut random)
        .into_iter()
        .filter_map(|hop| {
            let (transport, param) = match hop.transport {
                sip_dns::Transport::Udp => (Transport::Udp, ""),
                sip_dns::Transport::Tcp => (Transport::Tcp, ";transport=tcp"),
                sip_dns::Transport::Tls => (Transport::Tls, ";transport=tls"),
            };
            let peer = match transport {
                Transport::Udp => udp_peer(hop.addr)?,
                t => {
                    let local = stream_locals
                        .iter()
                        .find(|(lt, a)| *lt == t && a.is_ipv4() == hop.addr.is_ipv4())
                        .map(|(_, a)| *a);
                    let Some(local) = local else {
                        tracing::warn!(gateway = name, %t, "no {t} listener to reach the gateway from");
                        return None;
                    };
                    crate::transport::concrete(Peer {
                        transport: t,
                        remote: hop.addr,
                        local,
                        conn: None,
                    })
                }
            };
            // a name stays in the Request-URI (RFC 3263 §4); an address names the server
            let host = if g.dest.is_name() {
                g.dest.address()
            } else {
                Destination {
                    host: hop.addr.ip().to_string(),
                    port: Some(hop.addr.port()),
                    transport: None,
                }
                .address()
            };
            Some(GatewayTarget {
                name: name.to_owned(),
                host: format!("{host}{param}"),
                peer,
                caller_id: g.caller_id.clone(),
                auth: g.auth.clone(),
            })
        })
        .collect()
}
