//! The driver of [`Locate`]: asks the questions with `hickory-resolver` (its cache honours
//! the records' TTLs, so asking again every few seconds costs nothing until they expire).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

use crate::locate::{Answer, Destination, Locate, Located, NaptrRecord, Query, SrvRecord};

/// A resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolverError {
    #[error("reading the system's DNS configuration (/etc/resolv.conf): {0}")]
    System(String),
}

/// Gateways' addresses through DNS.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

fn options() -> ResolverOpts {
    let mut o = ResolverOpts::default();
    // a dead nameserver must not hold the routing reload for long
    o.timeout = Duration::from_secs(2);
    o.attempts = 2;
    o
}

impl Resolver {
    /// Asks `servers` (UDP, then TCP for truncated answers); the system's nameservers
    /// (`/etc/resolv.conf`) when the list is empty. Call inside a tokio runtime.
    pub fn new(servers: &[SocketAddr]) -> Result<Self, ResolverError> {
        let inner = if servers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| ResolverError::System(e.to_string()))?
                .with_options(options())
                .build()
        } else {
            let mut config = ResolverConfig::new();
            for s in servers {
                config.add_name_server(NameServerConfig::new(*s, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(*s, Protocol::Tcp));
            }
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(options())
                .build()
        };
        Ok(Self { inner })
    }

    /// RFC 3263 resolution of `dest`. A question that fails (no such name, no records, a
    /// timeout) counts as no records: what the other answers give is still used.
    pub async fn locate(&self, dest: Destination) -> Located {
        let mut l = Locate::new(dest);
        while let Some(q) = l.poll_query() {
            let a = self.ask(&q).await;
            l.handle_answer(a);
        }
        l.finish()
    }

    async fn ask(&self, q: &Query) -> Answer {
        match q {
            Query::Naptr(name) => {
                let records = match self.inner.lookup(fqdn(name), RecordType::NAPTR).await {
                    Ok(l) => l
                        .record_iter()
                        .filter_map(|r| match r.data() {
                            RData::NAPTR(n) => Some(NaptrRecord {
                                order: n.order(),
                                preference: n.preference(),
                                flags: String::from_utf8_lossy(n.flags()).into_owned(),
                                services: String::from_utf8_lossy(n.services()).into_owned(),
                                replacement: n.replacement().to_ascii(),
                            }),
                            _ => None,
                        })
                        .collect(),
                    Err(e) => {
                        tracing::debug!(%name, "NAPTR: {e}");
                        Vec::new()
                    }
                };
                Answer::Naptr(records)
            }
            Query::Srv(name) => {
                let records = match self.inner.srv_lookup(fqdn(name)).await {
                    Ok(l) => l
                        .iter()
                        .map(|s| SrvRecord {
                            priority: s.priority(),
                            weight: s.weight(),
                            port: s.port(),
                            target: s.target().to_ascii(),
                        })
                        .collect(),
                    Err(e) => {
                        tracing::debug!(%name, "SRV: {e}");
                        Vec::new()
                    }
                };
                Answer::Srv(records)
            }
            Query::Addr(name) => {
                let ips: Vec<IpAddr> = match self.inner.lookup_ip(fqdn(name)).await {
                    Ok(l) => l.iter().collect(),
                    Err(e) => {
                        tracing::debug!(%name, "A/AAAA: {e}");
                        Vec::new()
                    }
                };
                Answer::Addr(ips)
            }
        }
    }
}

/// Names from the configuration are absolute: no search-domain guessing.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}
