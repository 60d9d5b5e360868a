//! RFC 3263 §4 as a sans-IO machine: which DNS questions to ask for a gateway's address, and
//! the ordered list of servers the answers give.
//!
//! ```text
//!   Locate::new(dest) ─▶ poll_query() ─▶ Query::{Naptr, Srv, Addr} ─▶ (the driver asks DNS)
//!        ▲                                                              │
//!        └───────────── handle_answer(query, Answer) ◀──────────────────┘
//!   poll_query() == None ─▶ finish() ─▶ Located { servers }
//! ```
//!
//! The steps, by what the address gives:
//! - an IP literal: that address, the given transport (UDP by default), the given port (the
//!   transport's default otherwise); no DNS at all;
//! - a host name with a port: A/AAAA of the name;
//! - a host name with a transport but no port: the SRV records of that transport
//!   (`_sip._udp`, `_sip._tcp`, `_sips._tcp`), else A/AAAA with the default port;
//! - a host name alone: NAPTR, the records whose service we speak (`SIP+D2U`, `SIP+D2T`,
//!   `SIPS+D2T`) in order/preference, each followed to its SRV name; with no usable NAPTR,
//!   the SRV names of every transport (UDP, TCP, TLS in that order); with no SRV either, UDP to
//!   A/AAAA on port 5060.
//!
//! Each SRV target is asked for its addresses. [`Located::ordered`] puts the servers in the
//! order to try for one call: the SRV priority groups in turn, the RFC 2782 weighted random
//! choice inside a group.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A SIP transport a gateway can be reached over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// The default port (RFC 3261 §19.1.2): 5061 for TLS, 5060 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tls => 5061,
            _ => 5060,
        }
    }

    /// The SRV name of this transport for `domain` (RFC 3263 §4.1).
    pub fn srv_name(self, domain: &str) -> String {
        let prefix = match self {
            Self::Udp => "_sip._udp",
            Self::Tcp => "_sip._tcp",
            Self::Tls => "_sips._tcp",
        };
        format!("{prefix}.{}", domain.trim_end_matches('.'))
    }

    /// The NAPTR service field naming this transport (RFC 3263 §4.1).
    pub fn naptr_service(self) -> &'static str {
        match self {
            Self::Udp => "SIP+D2U",
            Self::Tcp => "SIP+D2T",
            Self::Tls => "SIPS+D2T",
        }
    }

    fn from_naptr_service(s: &str) -> Option<Self> {
        [Self::Udp, Self::Tcp, Self::Tls]
            .into_iter()
            .find(|t| t.naptr_service().eq_ignore_ascii_case(s))
    }

    /// `udp`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// Parses `udp`, `tcp` or `tls` (any case).
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::Udp, Self::Tcp, Self::Tls]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a gateway is, as configured: a host (name or IP), maybe a port, maybe a transport.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// A DNS name (without a trailing dot) or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: Option<u16>,
    /// `None`: chosen by NAPTR (RFC 3263 §4.1).
    pub transport: Option<Transport>,
}

/// Why an address is not a [`Destination`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    #[error("empty address")]
    Empty,
    #[error("port {port:?} is not a number from 1 to 65535")]
    BadPort { port: String },
    #[error("{host:?} is neither an IP address nor a DNS name")]
    BadHost { host: String },
}

impl Destination {
    /// Parses `host`, `host:port`, `ip`, `ip:port`, `[v6]` or `[v6]:port`.
    pub fn parse(address: &str, transport: Option<Transport>) -> Result<Self, AddressError> {
        let address = address.trim();
        if address.is_empty() {
            return Err(AddressError::Empty);
        }
        if let Ok(sa) = address.parse::<SocketAddr>() {
            if sa.port() == 0 {
                return Err(AddressError::BadPort { port: "0".into() });
            }
            return Ok(Self {
                host: sa.ip().to_string(),
                port: Some(sa.port()),
                transport,
            });
        }
        if let Ok(ip) = address.parse::<IpAddr>() {
            return Ok(Self {
                host: ip.to_string(),
                port: None,
                transport,
            });
        }
        let (host, port) = if let Some(v6) = address.strip_prefix('[') {
            match v6.split_once(']') {
                Some((ip, "")) => (ip, None),
                Some((ip, rest)) => match rest.strip_prefix(':') {
                    Some(p) => (ip, Some(p)),
                    None => {
                        return Err(AddressError::BadHost {
                            host: address.into(),
                        })
                    }
                },
                None => {
                    return Err(AddressError::BadHost {
                        host: address.into(),
                    })
                }
            }
        } else {
            match address.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (address, None),
            }
        };
        let port = port
            .map(|p| match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(AddressError::BadPort { port: p.into() }),
            })
            .transpose()?;
        let host = host.trim_end_matches('.');
        if address.starts_with('[') {
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(AddressError::BadHost { host: host.into() });
            }
        } else if !is_dns_name(host) {
            return Err(AddressError::BadHost { host: host.into() });
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
            transport,
        })
    }

    /// The canonical text: `host`, `host:port`, `[v6]:port`.
    pub fn address(&self) -> String {
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// Whether the host is a DNS name (DNS is asked) rather than an IP address.
    pub fn is_name(&self) -> bool {
        self.host.parse::<IpAddr>().is_err()
    }
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        // all digits and dots is a malformed IPv4 address, not a name
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// A NAPTR record, as much of it as SIP uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrRecord {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

/// An SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// A DNS question the driver must ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Naptr(String),
    Srv(String),
    /// A and AAAA.
    Addr(String),
}

/// The answer to a [`Query`]: empty when the name has no such records (or does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Naptr(Vec<NaptrRecord>),
    Srv(Vec<SrvRecord>),
    Addr(Vec<IpAddr>),
}

/// One server of a located gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub transport: Transport,
    /// The SRV target (or the host itself).
    pub host: String,
    pub port: u16,
    /// The SRV priority (0 without SRV) and weight.
    pub priority: u16,
    pub weight: u16,
    /// Its addresses (empty: its A/AAAA gave nothing).
    pub addrs: Vec<IpAddr>,
    /// Rank of the transport's NAPTR record or fallback position: lower is tried first.
    pub rank: usize,
}

/// One address to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// The result of a [`Locate`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Located {
    /// The name a TLS server must prove (RFC 5922 §4: the domain of the configured address,
    /// not the SRV target).
    pub domain: String,
    pub servers: Vec<Server>,
}

impl Located {
    /// The addresses to try for one call, in order: by transport rank, then SRV priority,
    /// then a weighted random order inside each priority (RFC 2782); `random(n)` returns a
    /// number in `0..n` (`n` > 0).
    pub fn ordered(&self, random: &mut dyn FnMut(u32) -> u32) -> Vec<Hop> {
        let mut servers: Vec<&Server> = self.servers.iter().collect();
        servers.sort_by_key(|s| (s.rank, s.priority));
        let mut out = Vec::new();
        let mut i = 0;
        while i < servers.len() {
            let key = (servers[i].rank, servers[i].priority);
            let mut j = i;
            while j < servers.len() && (servers[j].rank, servers[j].priority) == key {
                j += 1;
            }
            let mut group: Vec<&Server> = servers[i..j].to_vec();
            // zero weights first, so they keep a small chance (RFC 2782)
            group.sort_by_key(|s| s.weight != 0);
            while !group.is_empty() {
                let total: u32 = group.iter().map(|s| u32::from(s.weight)).sum();
                let pick = if total == 0 {
                    0
                } else {
                    let r = random(total + 1);
                    let mut running = 0u32;
                    group
                        .iter()
                        .position(|s| {
                            running += u32::from(s.weight);
                            running >= r
                        })
                        .unwrap_or(0)
                };
                let s = group.remove(pick);
                for ip in &s.addrs {
                    out.push(Hop {
                        transport: s.transport,
                        addr: SocketAddr::new(*ip, s.port),
                    });
                }
            }
            i = j;
        }
        out
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// NAPTR of the host asked.
    Naptr,
    /// SRV of one transport; `fallback`: A/AAAA of the host when no SRV query gave anything.
    Srv { transport: Transport, rank: usize },
    /// A/AAAA of a server at `index` in `servers` (several servers may share a host).
    Addr,
}

/// The RFC 3263 resolution of one [`Destination`]: see the [module docs](self).
#[derive(Debug)]
pub struct Locate {
    dest: Destination,
    queue: VecDeque<(Query, Step)>,
    /// SRV queries sent and not answered yet.
    srv_outstanding: usize,
    srv_found: bool,
    servers: Vec<Server>,
}

impl Locate {
    pub fn new(dest: Destination) -> Self {
        let mut l = Self {
            dest,
            queue: VecDeque::new(),
            srv_outstanding: 0,
            srv_found: false,
            servers: Vec::new(),
        };
        let d = &l.dest;
        if let Ok(ip) = d.host.parse::<IpAddr>() {
            let t = d.transport.unwrap_or(Transport::Udp);
            l.servers.push(Server {
                transport: t,
                host: d.host.clone(),
                port: d.port.unwrap_or(t.default_port()),
                priority: 0,
                weight: 0,
                addrs: vec![ip],
                rank: 0,
            });
        } else if let Some(port) = d.port {
            let t = d.transport.unwrap_or(Transport::Udp);
            l.add_host_server(t, port);
        } else if let Some(t) = d.transport {
            l.ask_srv(t, 0);
        } else {
            let q = Query::Naptr(l.dest.host.clone());
            l.queue.push_back((q, Step::Naptr));
        }
        l
    }

    fn add_host_server(&mut self, transport: Transport, port: u16) {
        self.servers.push(Server {
            transport,
            host: self.dest.host.clone(),
            port,
            priority: 0,
            weight: 0,
            addrs: Vec::new(),
            rank: 0,
        });
        self.queue
            .push_back((Query::Addr(self.dest.host.clone()), Step::Addr));
    }

    fn ask_srv(&mut self, transport: Transport, rank: usize) {
        self.srv_outstanding += 1;
        self.queue.push_back((
            Query::Srv(transport.srv_name(&self.dest.host)),
            Step::Srv { transport, rank },
        ));
    }

    /// The next question to ask, with what to give back to [`Self::handle_answer`]; `None`
    /// when done.
    pub fn poll_query(&mut self) -> Option<Query> {
        self.queue.front().map(|(q, _)| q.clone())
    }

    /// The answer to the query [`Self::poll_query`] returned last.
    pub fn handle_answer(&mut self, answer: Answer) {
        let Some((query, step)) = self.queue.pop_front() else {
            return;
        };
        match (step, answer) {
            (Step::Naptr, Answer::Naptr(mut records)) => {
                records.sort_by_key(|r| (r.order, r.preference));
                let mut seen = Vec::new();
                for r in records {
                    if !r.flags.eq_ignore_ascii_case("s") {
                        continue;
                    }
                    let Some(t) = Transport::from_naptr_service(&r.services) else {
                        continue;
                    };
                    if seen.contains(&t) {
                        continue;
                    }
                    seen.push(t);
                    self.srv_outstanding += 1;
                    let rank = seen.len() - 1;
                    self.queue.push_back((
                        Query::Srv(r.replacement.trim_end_matches('.').to_owned()),
                        Step::Srv { transport: t, rank },
                    ));
                }
                if seen.is_empty() {
                    for (rank, t) in [Transport::Udp, Transport::Tcp, Transport::Tls]
                        .into_iter()
                        .enumerate()
                    {
                        self.ask_srv(t, rank);
                    }
                }
            }
            (Step::Srv { transport, rank }, Answer::Srv(records)) => {
                self.srv_outstanding -= 1;
                for r in records {
                    let target = r.target.trim_end_matches('.').to_ascii_lowercase();
                    // "." : the service is decidedly not available at this domain
                    if target.is_empty() {
                        continue;
                    }
                    self.srv_found = true;
                    let known = self.servers.iter().any(|s| s.host == target);
                    self.servers.push(Server {
                        transport,
                        host: target.clone(),
                        port: r.port,
                        priority: r.priority,
                        weight: r.weight,
                        addrs: Vec::new(),
                        rank,
                    });
                    if !known {
                        self.queue.push_back((Query::Addr(target), Step::Addr));
                    }
                }
                if self.srv_outstanding == 0 && !self.srv_found {
                    let t = self.dest.transport.unwrap_or(Transport::Udp);
                    self.add_host_server(t, t.default_port());
                }
            }
            (Step::Addr, Answer::Addr(ips)) => {
                let Query::Addr(host) = query else { return };
                for s in self.servers.iter_mut().filter(|s| s.host == host) {
                    s.addrs.clone_from(&ips);
                }
            }
            // an answer of the wrong kind counts as no records
            (Step::Srv { .. }, _) => {
                self.srv_outstanding -= 1;
                if self.srv_outstanding == 0 && !self.srv_found {
                    let t = self.dest.transport.unwrap_or(Transport::Udp);
                    self.add_host_server(t, t.default_port());
                }
            }
            (Step::Naptr, _) => {
                for (rank, t) in [Transport::Udp, Transport::Tcp, Transport::Tls]
                    .into_iter()
                    .enumerate()
                {
                    self.ask_srv(t, rank);
                }
            }
            (Step::Addr, _) => {}
        }
    }

    /// Whether every question was answered.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty()
    }

    /// The servers found (those without any address are left out).
    pub fn finish(self) -> Located {
        Located {
            domain: self.dest.host.clone(),
            servers: self
                .servers
                .into_iter()
                .filter(|s| !s.addrs.is_empty())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    fn run(dest: Destination, mut answer: impl FnMut(&Query) -> Answer) -> (Vec<Query>, Located) {
        let mut l = Locate::new(dest);
        let mut asked = Vec::new();
        while let Some(q) = l.poll_query() {
            let a = answer(&q);
            asked.push(q);
            l.handle_answer(a);
        }
        (asked, l.finish())
    }

    #[test]
    fn addresses_parse() {
        let d = Destination::parse("Carrier.Example.", None).unwrap();
        assert_eq!((d.host.as_str(), d.port), ("carrier.example", None));
        let d = Destination::parse("gw.example:5070", Some(Transport::Tcp)).unwrap();
        assert_eq!((d.host.as_str(), d.port), ("gw.example", Some(5070)));
        let d = Destination::parse("[2001:db8::1]:5080", None).unwrap();
        assert_eq!(d.address(), "[2001:db8::1]:5080");
        assert!(!d.is_name());
        let d = Destination::parse("[::1]", None).unwrap();
        assert_eq!(d.address(), "[::1]");
        assert_eq!(
            Destination::parse("192.0.2.1:0", None),
            Err(AddressError::BadPort { port: "0".into() })
        );
        assert!(Destination::parse("gw:x", None).is_err());
        assert!(Destination::parse("bad host", None).is_err());
        assert!(Destination::parse("1.2.3", None).is_err());
        assert!(Destination::parse("", None).is_err());
    }

    #[test]
    fn ip_literal_needs_no_dns() {
        let d = Destination::parse("192.0.2.7", Some(Transport::Tls)).unwrap();
        let (asked, found) = run(d, |_| unreachable!());
        assert!(asked.is_empty());
        assert_eq!(
            found.ordered(&mut |_| 0),
            vec![Hop {
                transport: Transport::Tls,
                addr: "192.0.2.7:5061".parse().unwrap()
            }]
        );
    }

    #[test]
    fn a_port_means_address_records_only() {
        let d = Destination::parse("gw.example:5080", None).unwrap();
        let (asked, found) = run(d, |_| Answer::Addr(vec!["192.0.2.1".parse().unwrap()]));
        assert_eq!(asked, vec![Query::Addr("gw.example".into())]);
        assert_eq!(
            found.ordered(&mut |_| 0)[0].addr.to_string(),
            "192.0.2.1:5080"
        );
    }

    #[test]
    fn naptr_then_srv_then_addresses() {
        let d = Destination::parse("carrier.example", None).unwrap();
        let (asked, found) = run(d, |q| match q {
            Query::Naptr(_) => Answer::Naptr(vec![
                NaptrRecord {
                    order: 20,
                    preference: 1,
                    flags: "s".into(),
                    services: "SIP+D2U".into(),
                    replacement: "_sip._udp.carrier.example.".into(),
                },
                NaptrRecord {
                    order: 10,
                    preference: 1,
                    flags: "S".into(),
                    services: "SIPS+D2T".into(),
                    replacement: "_sips._tcp.carrier.example.".into(),
                },
                NaptrRecord {
                    order: 5,
                    preference: 1,
                    flags: "s".into(),
                    services: "SIP+D2X".into(),
                    replacement: "_sip._sctp.carrier.example.".into(),
                },
            ]),
            Query::Srv(name) if name == "_sips._tcp.carrier.example" => Answer::Srv(vec![
                srv(10, 0, 5061, "a.carrier.example."),
                srv(20, 0, 5061, "b.carrier.example."),
            ]),
            Query::Srv(_) => Answer::Srv(vec![srv(1, 0, 5060, "u.carrier.example.")]),
            Query::Addr(h) if h == "a.carrier.example" => {
                Answer::Addr(vec!["192.0.2.10".parse().unwrap()])
            }
            Query::Addr(h) if h == "b.carrier.example" => {
                Answer::Addr(vec!["192.0.2.11".parse().unwrap()])
            }
            Query::Addr(_) => Answer::Addr(vec!["192.0.2.12".parse().unwrap()]),
        });
        assert_eq!(asked[0], Query::Naptr("carrier.example".into()));
        assert_eq!(asked[1], Query::Srv("_sips._tcp.carrier.example".into()));
        assert_eq!(found.domain, "carrier.example");
        let hops: Vec<String> = found
            .ordered(&mut |_| 0)
            .iter()
            .map(|h| format!("{} {}", h.transport, h.addr))
            .collect();
        assert_eq!(
            hops,
            [
                "tls 192.0.2.10:5061",
                "tls 192.0.2.11:5061",
                "udp 192.0.2.12:5060"
            ]
        );
    }

    #[test]
    fn no_srv_falls_back_to_the_host() {
        let d = Destination::parse("gw.example", Some(Transport::Tcp)).unwrap();
        let (asked, found) = run(d, |q| match q {
            Query::Srv(_) => Answer::Srv(vec![]),
            _ => Answer::Addr(vec!["2001:db8::5".parse().unwrap()]),
        });
        assert_eq!(
            asked,
            vec![
                Query::Srv("_sip._tcp.gw.example".into()),
                Query::Addr("gw.example".into())
            ]
        );
        assert_eq!(
            found.ordered(&mut |_| 0)[0],
            Hop {
                transport: Transport::Tcp,
                addr: "[2001:db8::5]:5060".parse().unwrap()
            }
        );
        // nothing at all: no NAPTR, no SRV, no address
        let d = Destination::parse("nowhere.example", None).unwrap();
        let (asked, found) = run(d, |q| match q {
            Query::Naptr(_) => Answer::Naptr(vec![]),
            Query::Srv(_) => Answer::Srv(vec![]),
            Query::Addr(_) => Answer::Addr(vec![]),
        });
        assert_eq!(asked.len(), 5, "{asked:?}");
        assert!(found.servers.is_empty());
    }

    /// RFC 2782: within a priority, a server of weight w is first with probability
    /// w / total; the lower priority comes first whatever the weights.
    #[test]
    fn weights_share_the_first_place() {
        let located = Located {
            domain: "x".into(),
            servers: ["a", "b", "c"]
                .iter()
                .zip([(10u16, 60u16), (10, 20), (5, 0)])
                .enumerate()
                .map(|(i, (host, (priority, weight)))| Server {
                    transport: Transport::Udp,
                    host: (*host).into(),
                    port: 5060,
                    priority,
                    weight,
                    addrs: vec![IpAddr::from([192, 0, 2, i as u8 + 1])],
                    rank: 0,
                })
                .collect(),
        };
        let mut seed = 12345u64;
        let mut random = move |n: u32| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % u64::from(n)) as u32
        };
        let mut first_a = 0;
        for _ in 0..4000 {
            let hops = located.ordered(&mut random);
            assert_eq!(hops.len(), 3);
            assert_eq!(
                hops[0].addr.ip(),
                IpAddr::from([192, 0, 2, 3]),
                "priority 5 first"
            );
            if hops[1].addr.ip() == IpAddr::from([192, 0, 2, 1]) {
                first_a += 1;
            }
        }
        // 60 / 80 = 75 %
        assert!((2700..3300).contains(&first_a), "{first_a}");
    }
}
