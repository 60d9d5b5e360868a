//! Contact or flow: how requests reach a registered device.
//!
//! RFC 3261 §10.2 sends requests to the registered Contact, which is what a third-party
//! registration (a provisioning server or a PBX registering on behalf of another address)
//! needs. A device behind NAT, or one that asked for RFC 5626 outbound, is reachable only over
//! the flow its REGISTER came on. [`reach`] decides per binding, at REGISTER time, under the
//! operator's [`ContactRouting`] policy; NAT is detected as Kamailio's `nat_uac_test` does:
//!
//! | test | NAT when |
//! |---|---|
//! | Via host (`nat_uac_test` 2) | the top Via's sent-by host is not the source IP |
//! | Via port (16) | the sent-by port (5060 when absent) is not the source port |
//! | rport (16) | the Via carries `rport=N` and N is not the source port |
//! | private Contact (1) | the Contact is a private address (RFC 1918, RFC 6598, ULA, link-local) and the source is public |
//!
//! Loopback and private sources are never "public", so on one host only the Via tests can
//! detect NAT. A Contact we could not send to ourselves (TCP/TLS, which we never connect to
//! devices, or a host name) is always reached over the flow.

use std::net::IpAddr;

use sip_message::{Host, Message, Peer, Transport, Uri};

/// The operator's policy (`[registrar] contact_routing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactRouting {
    /// The flow for outbound clients and NATed ones, the Contact otherwise.
    #[default]
    Auto,
    /// Always the flow the REGISTER came on (the behaviour before the policy existed).
    AlwaysFlow,
    /// Always the Contact, when it is a UDP address we can send to.
    AlwaysContact,
}

/// Where requests to a binding go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Over the flow the REGISTER came on: its source address, its connection.
    #[default]
    Flow,
    /// To the Contact's own address, over UDP from the listener the REGISTER reached.
    Contact,
}

/// How requests reach the device of `contact`, registered by `req` from `from`. `outbound`:
/// the client asked for RFC 5626 outbound (`+sip.instance` with `reg-id`, or `ob`).
pub fn reach(
    policy: ContactRouting,
    req: &Message,
    contact: &Uri<'_>,
    outbound: bool,
    from: &Peer,
) -> Reach {
    if policy == ContactRouting::AlwaysFlow || contact_addr(contact, from).is_none() {
        return Reach::Flow;
    }
    if policy == ContactRouting::AlwaysContact {
        return Reach::Contact;
    }
    if outbound || behind_nat(req, contact, from) {
        Reach::Flow
    } else {
        Reach::Contact
    }
}

/// The UDP address of a Contact we can send to from the listener `from` reached: an IP of the
/// same family (port 5060 when absent), no `transport` other than UDP, a UDP flow.
pub fn contact_addr(contact: &Uri<'_>, from: &Peer) -> Option<std::net::SocketAddr> {
    if from.transport != Transport::Udp {
        return None;
    }
    if contact
        .transport_param()
        .is_some_and(|t| !t.eq_ignore_ascii_case("udp"))
    {
        return None;
    }
    let ip = host_ip(&contact.host)?;
    if ip.is_ipv4() != from.local.is_ipv4() || ip.is_unspecified() {
        return None;
    }
    Some(std::net::SocketAddr::new(ip, contact.port.unwrap_or(5060)))
}

/// Kamailio's `nat_uac_test` 1 + 2 + 16 (see the module docs).
fn behind_nat(req: &Message, contact: &Uri<'_>, from: &Peer) -> bool {
    let src = from.remote;
    let Ok(via) = req.top_via() else {
        return true;
    };
    if host_ip(&via.host) != Some(src.ip()) {
        return true;
    }
    if via.port.unwrap_or(5060) != src.port() {
        return true;
    }
    if let Some(Some(rport)) = via.rport() {
        if rport.parse::<u16>().ok() != Some(src.port()) {
            return true;
        }
    }
    host_ip(&contact.host).is_some_and(is_private) && is_public(src.ip())
}

fn host_ip(h: &Host<'_>) -> Option<IpAddr> {
    match h {
        Host::V4(a) => Some(IpAddr::V4(*a)),
        Host::V6(a) => Some(IpAddr::V6(*a)),
        Host::Domain(_) => None,
    }
}

/// RFC 1918, RFC 6598 (carrier-grade NAT), IPv6 unique-local and link-local addresses.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private() || a.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments()[0];
            (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

/// Neither private nor loopback nor unspecified: an address on the Internet.
fn is_public(ip: IpAddr) -> bool {
    !is_private(ip) && !ip.is_loopback() && !ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_public() {
        for a in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_private(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "100.128.0.1", "2001:db8::1", "172.32.0.1"] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
        for a in ["127.0.0.1", "127.0.0.2", "::1"] {
            assert!(
                !is_public(a.parse().unwrap()),
                "loopback is not public: {a}"
            );
        }
    }
}
