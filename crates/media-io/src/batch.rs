//! Batched datagram I/O over a raw socket: `recvmmsg(2)` / `sendmmsg(2)` through nix's safe
//! wrappers.
//!
//! One set of headers must only be used with sockets of one address family: the kernel writes back
//! the source address length into the reused headers, which stays right only if every socket
//! returns the same sockaddr type (true for our sockets, all bound to the same IP).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// Largest datagram we relay; longer ones are truncated by the kernel and dropped.
pub(crate) const MAX_DATAGRAM: usize = 2048;

/// Headers for `recvmmsg` / `sendmmsg` of up to `n` datagrams. They hold raw pointers (not
/// `Send`): an async task creates them where it does not await while they live.
pub(crate) fn headers(n: usize) -> MultiHeaders<SockaddrStorage> {
    MultiHeaders::preallocate(n, None)
}

/// Receive buffers for up to `N` datagrams per call.
pub(crate) struct RecvBufs<const N: usize> {
    bufs: Box<[[u8; MAX_DATAGRAM]; N]>,
    meta: [(usize, Option<SocketAddr>); N],
}

impl<const N: usize> RecvBufs<N> {
    pub(crate) fn new() -> Self {
        Self {
            bufs: Box::new([[0; MAX_DATAGRAM]; N]),
            meta: [(0, None); N],
        }
    }

    /// One non-blocking `recvmmsg` (`headers` made by [`headers`] with at least `N` entries):
    /// returns how many datagrams were read (`WouldBlock` when none). Truncated datagrams come
    /// back with no source, so callers skip them.
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        headers: &mut MultiHeaders<SockaddrStorage>,
    ) -> io::Result<usize> {
        let mut iovs = self.bufs.each_mut().map(|b| [IoSliceMut::new(&mut b[..])]);
        let results = recvmmsg(fd, headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
            .map_err(io::Error::from)?;
        let mut n = 0;
        for r in results {
            let truncated = r.flags.contains(MsgFlags::MSG_TRUNC);
            let addr = if truncated {
                None
            } else {
                r.address.as_ref().and_then(to_std)
            };
            self.meta[n] = (r.bytes, addr);
            n += 1;
        }
        Ok(n)
    }

    /// Datagram `i` of the last [`RecvBufs::recv`] and its source (canonical: an IPv4-mapped
    /// IPv6 source is returned as IPv4).
    pub(crate) fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let (len, addr) = self.meta[i];
        (&self.bufs[i][..len.min(MAX_DATAGRAM)], addr)
    }
}

/// One non-blocking `sendmmsg` of `msgs` (at most as many as `headers` holds): returns how many
/// were sent.
pub(crate) fn send_batch(
    fd: RawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    msgs: &[(&[u8], SocketAddr)],
) -> io::Result<usize> {
    let iovs: Vec<[IoSlice<'_>; 1]> = msgs.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
    let addrs: Vec<Option<SockaddrStorage>> = msgs
        .iter()
        .map(|(_, a)| Some(SockaddrStorage::from(*a)))
        .collect();
    let cmsgs: [ControlMessage<'_>; 0] = [];
    let sent = sendmmsg(
        fd,
        headers,
        iovs.iter(),
        addrs,
        cmsgs,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    Ok(sent.count())
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    let v6 = SocketAddrV6::from(*a.as_sockaddr_in6()?);
    Some(canonical(SocketAddr::V6(v6)))
}

/// IPv4-mapped IPv6 addresses (dual-stack sockets) as IPv4.
pub(crate) fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => a,
        },
        v4 => v4,
    }
}

/// The destination as the socket's family needs it: IPv4 for an IPv6 socket becomes
/// IPv4-mapped; IPv6 for an IPv4 socket cannot be reached (`None`).
pub(crate) fn for_family(to: SocketAddr, socket_is_v6: bool) -> Option<SocketAddr> {
    match (to, socket_is_v6) {
        (SocketAddr::V4(v4), true) => Some(SocketAddr::V6(SocketAddrV6::new(
            v4.ip().to_ipv6_mapped(),
            v4.port(),
            0,
            0,
        ))),
        (SocketAddr::V6(_), false) => None,
        (a, _) => Some(a),
    }
}
