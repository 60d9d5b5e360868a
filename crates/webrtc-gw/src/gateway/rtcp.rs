//! The gateway's side of the plain leg's RTCP (see [`crate::rtcp`]): reports from the plain
//! side are read (on the port after the one facing it, or muxed), ours go to its RTCP address
//! (where its RTCP comes from, else `a=rtcp` or RTP port + 1; its RTP address when it muxes).

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use super::{Datagram, Gateway, Leg};
use crate::rtcp::{is_rtcp, Sent};

impl Gateway {
    /// A datagram on the plain side's RTCP port (or an RTCP packet muxed on its RTP port).
    pub fn handle_plain_rtcp(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        if !is_rtcp(data) {
            self.stats.dropped += 1;
            return;
        }
        self.plain_rtcp.on_rtcp(now, data);
        self.stats.plain_rtcp_received += 1;
        if self.plain.is_some_and(|p| !p.rtcp_mux) {
            self.plain_rtcp_latched = Some(source);
        }
    }

    /// Queues our report to the plain side when one is due.
    pub(super) fn plain_report(&mut self, now: Instant) {
        let Some(plain) = self.plain else {
            return;
        };
        let (leg, to) = if plain.rtcp_mux {
            (Leg::Plain, self.plain_latched.or(plain.rtp))
        } else {
            (Leg::PlainRtcp, self.plain_rtcp_latched.or(plain.rtcp))
        };
        let Some(to) = to.filter(|a| !a.ip().is_unspecified() && a.port() != 0) else {
            return;
        };
        let sent = Sent {
            ssrc: self.plain_ssrc,
            packets: self.stats.browser_to_plain as u32,
            octets: self.stats.browser_to_plain_bytes as u32,
            rtp_ts: self.to_plain_last_ts,
        };
        if let Some(data) = self.plain_rtcp.report(now, SystemTime::now(), sent) {
            self.stats.plain_rtcp_sent += 1;
            self.out.push_back(Datagram { leg, to, data });
        }
    }
}
