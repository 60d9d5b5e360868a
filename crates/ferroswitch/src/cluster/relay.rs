//! The stateless relay between a node and the phones whose flows it holds (RFC 3261 §16.11
//! stateless proxying): a request another node sends for one of our phones goes out on the
//! phone's flow with our `Via` on top (and our `Route` removed); a phone's in-dialog request for
//! a dialog another node's B2BUA holds goes to that node; a response whose top `Via` is one of
//! ours loses it and follows the next one. Pure functions over [`Message`]s: the dispatcher
//! (`dispatcher/cluster.rs`) decides and sends.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sip_message::{Header, HeaderName, Host, Message, NameAddr, Transport, Uri, Via};

/// Our relay's branches start with this (after the RFC 3261 magic cookie).
pub(crate) const MAGIC: &str = "z9hG4bK-fsc-";

/// Where a relayed response goes back through: which of our sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Back {
    /// The UDP socket of this index in the dispatcher's `udp_locals`.
    Udp(usize),
    /// A TCP/TLS connection to the next hop.
    Stream,
}

/// The stateless branch of a relayed request: an HMAC, keyed with the cluster secret, of the
/// incoming branch and the way back (so that a CANCEL or the ACK of a non-2xx gets the same
/// one as its INVITE), then the way back. [`pop_via`] relays a response only when its top
/// branch is the one this gives for the next `Via`: nobody without the secret can make a
/// node forward a forged response to an address of their choosing.
pub(crate) fn branch(key: &[u8], incoming: &str, back: Back) -> String {
    let back = match back {
        Back::Udp(i) => format!("u{i}"),
        Back::Stream => "s".to_owned(),
    };
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(incoming.as_bytes());
    mac.update(b"\0");
    mac.update(back.as_bytes());
    format!(
        "{MAGIC}{}-{back}",
        hex::encode(&mac.finalize().into_bytes()[..10])
    )
}

/// The way back named by one of our branches.
pub(crate) fn back_of(branch: &str) -> Option<Back> {
    let rest = branch.strip_prefix(MAGIC)?;
    let (_, back) = rest.rsplit_once('-')?;
    match back.strip_prefix('u') {
        Some(i) => i.parse().ok().map(Back::Udp),
        None => (back == "s").then_some(Back::Stream),
    }
}

fn host_ip(h: &Host<'_>) -> Option<IpAddr> {
    match h {
        Host::V4(a) => Some(IpAddr::V4(*a)),
        Host::V6(a) => Some(IpAddr::V6(*a)),
        Host::Domain(_) => None,
    }
}

/// A URI's `ip:port` (5060 when absent), when its host is an IP address.
pub(crate) fn uri_addr(u: &Uri<'_>) -> Option<SocketAddr> {
    Some(SocketAddr::new(host_ip(&u.host)?, u.port.unwrap_or(5060)))
}

/// The flow token of the top `Route` when it names `internal` (`<sip:TOKEN@internal;lr>`).
pub(crate) fn route_token(msg: &Message, internal: SocketAddr) -> Option<String> {
    let top = msg.header_list(&HeaderName::Route).next()?;
    let na = NameAddr::parse(top, "Route").ok()?;
    if uri_addr(&na.uri)? != internal {
        return None;
    }
    na.uri.user.map(str::to_owned)
}

/// The request-URI's `ip:port`.
pub(crate) fn request_addr(msg: &Message) -> Option<SocketAddr> {
    uri_addr(&msg.request_uri().ok()?)
}

/// `msg` with `via` on top, its first `Route` removed when `pop_route`, and its previous top
/// `Via` given `received`/`rport` of `source` (RFC 3581) when set.
pub(crate) fn forward_request(
    msg: &Message,
    via: &str,
    pop_route: bool,
    source: Option<SocketAddr>,
) -> Bytes {
    let vias: Vec<String> = msg
        .header_list(&HeaderName::Via)
        .enumerate()
        .map(|(i, v)| match (i, source, Via::parse(v)) {
            (0, Some(s), Ok(parsed)) => parsed.print_with_received(s.ip(), s.port()),
            _ => v.to_owned(),
        })
        .collect();
    let routes: Vec<&str> = msg
        .header_list(&HeaderName::Route)
        .skip(usize::from(pop_route))
        .collect();
    let mut headers = Vec::with_capacity(msg.headers().len() + 2);
    let (mut vias_done, mut routes_done) = (false, false);
    for h in msg.headers() {
        if h.name == HeaderName::Via {
            if !vias_done {
                vias_done = true;
                headers.push(Header::new(HeaderName::Via, via.to_owned()));
                headers.extend(vias.iter().map(|v| Header::new(HeaderName::Via, v.clone())));
            }
            continue;
        }
        if h.name == HeaderName::Route {
            if !routes_done {
                routes_done = true;
                headers.extend(
                    routes
                        .iter()
                        .map(|r| Header::new(HeaderName::Route, (*r).to_owned())),
                );
            }
            continue;
        }
        headers.push(h.clone());
    }
    if !vias_done {
        headers.insert(0, Header::new(HeaderName::Via, via.to_owned()));
    }
    Message::from_parts(msg.start_line().clone(), headers, msg.body().clone()).to_bytes()
}

/// Our `Via` for a relayed request sent from `local` over `transport`.
pub(crate) fn via(transport: Transport, local: SocketAddr, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {local};branch={branch};rport",
        transport.via_name()
    )
}

/// A response whose top `Via` is ours: the response without it, the way back that `Via`
/// named, and where the next `Via` says to send it (RFC 3581 `received`/`rport` first).
pub(crate) fn pop_via(key: &[u8], msg: &Message) -> Option<(Bytes, Back, Transport, SocketAddr)> {
    let mut list = msg.header_list(&HeaderName::Via);
    let top = Via::parse(list.next()?).ok()?;
    let ours = top.branch()?;
    let back = back_of(ours)?;
    let next = Via::parse(list.next()?).ok()?;
    // ours only if signed for this next hop's branch: a forged one is dropped
    if branch(key, next.branch()?, back) != ours {
        return None;
    }
    let transport = Transport::from_name(next.transport)?;
    let ip = next
        .received()
        .and_then(|r| r.parse().ok())
        .or_else(|| host_ip(&next.host))?;
    let port = next
        .rport()
        .flatten()
        .and_then(|p| p.parse().ok())
        .or(next.port)
        .unwrap_or(5060);
    let rest: Vec<String> = msg
        .header_list(&HeaderName::Via)
        .skip(1)
        .map(str::to_owned)
        .collect();
    let mut headers = Vec::with_capacity(msg.headers().len());
    let mut done = false;
    for h in msg.headers() {
        if h.name == HeaderName::Via {
            if !done {
                done = true;
                headers.extend(rest.iter().map(|v| Header::new(HeaderName::Via, v.clone())));
            }
            continue;
        }
        headers.push(h.clone());
    }
    let bytes =
        Message::from_parts(msg.start_line().clone(), headers, msg.body().clone()).to_bytes();
    Some((bytes, back, transport, SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"cluster secret for tests";

    fn resp_text(top_branch: &str) -> String {
        format!(
            "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={top_branch};rport=5070\n\
             Via: SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bKabc;received=127.0.0.2;rport=6000\n\
             From: <sip:alice@x>;tag=1\nTo: <sip:bob@x>;tag=2\nCall-ID: c1\nCSeq: 1 INVITE\n\
             Content-Length: 0\n\n"
        )
    }

    fn parse(s: &str) -> Message {
        Message::parse(Bytes::from(s.replace('\n', "\r\n"))).unwrap()
    }

    const INVITE: &str = "INVITE sip:bob@127.0.0.1:5099 SIP/2.0\n\
        Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKabc;rport\n\
        Route: <sip:0123abcd@127.0.0.1:5070;lr>, <sip:other@10.0.0.9;lr>\n\
        Max-Forwards: 70\nFrom: <sip:alice@x>;tag=1\nTo: <sip:bob@x>\nCall-ID: c1\n\
        CSeq: 1 INVITE\nContent-Length: 0\n\n";

    #[test]
    fn a_request_for_our_phone_gets_our_via_and_loses_our_route() {
        let m = parse(INVITE);
        let internal: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        assert_eq!(route_token(&m, internal).as_deref(), Some("0123abcd"));
        assert_eq!(route_token(&m, "127.0.0.1:5071".parse().unwrap()), None);
        let b = branch(KEY, "z9hG4bKabc", Back::Udp(0));
        assert_eq!(back_of(&b), Some(Back::Udp(0)));
        assert_eq!(
            b,
            branch(KEY, "z9hG4bKabc", Back::Udp(0)),
            "stateless: same input, same branch"
        );
        let v = via(Transport::Udp, internal, &b);
        let out = Message::parse(forward_request(
            &m,
            &v,
            true,
            Some("127.0.0.1:5080".parse().unwrap()),
        ))
        .unwrap();
        let vias: Vec<_> = out.header_list(&HeaderName::Via).collect();
        assert_eq!(vias.len(), 2);
        assert!(vias[0].contains(&b));
        assert!(
            vias[1].contains("received=127.0.0.1") && vias[1].contains("rport=5080"),
            "{vias:?}"
        );
        let routes: Vec<_> = out.header_list(&HeaderName::Route).collect();
        assert_eq!(routes, ["<sip:other@10.0.0.9;lr>"]);
        assert_eq!(out.call_id(), Some("c1"));
    }

    #[test]
    fn a_response_loses_our_via_and_goes_to_the_next() {
        let b = branch(KEY, "z9hG4bKabc", Back::Stream);
        let resp = parse(&format!(
            "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={b};rport=5070\n\
             Via: SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bKabc;received=127.0.0.2;rport=6000\n\
             From: <sip:alice@x>;tag=1\nTo: <sip:bob@x>;tag=2\nCall-ID: c1\nCSeq: 1 INVITE\n\
             Content-Length: 0\n\n"
        ));
        let (bytes, back, t, to) = pop_via(KEY, &resp).unwrap();
        assert_eq!((back, t), (Back::Stream, Transport::Tcp));
        assert_eq!(to, "127.0.0.2:6000".parse().unwrap());
        let out = Message::parse(bytes).unwrap();
        assert_eq!(out.header_list(&HeaderName::Via).count(), 1);
        // a response whose top Via is not ours is left alone
        let plain = parse(
            "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\n\
             From: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\n\
             Content-Length: 0\n\n",
        );
        assert!(pop_via(KEY, &plain).is_none());
        // a forged branch (right shape, no secret) or another cluster's secret: dropped, so
        // nobody outside can make a node reflect a response to an address of their choosing
        let forged = resp_text(&format!("{MAGIC}00112233445566778899-s"));
        assert!(pop_via(KEY, &parse(&forged)).is_none());
        assert!(pop_via(b"another cluster secret", &resp).is_none());
    }
}
