//! The media relay as the B2BUA sees it: [`b2bua::MediaRelay`] over the relay driver's
//! synchronous [`media_io::RelayHandle`], and the STUN listener.

use std::net::SocketAddr;

use b2bua::{CallStats, MediaMode, MediaRelay, Side};
use bytes::Bytes;
use media_io::{Mode, RelayHandle};

/// Calls are relay sessions named by the B2BUA's call id.
pub(crate) struct RelayMedia {
    pub(crate) handle: RelayHandle,
    /// ONNET calls are anchored too (not just offered a relay candidate).
    pub(crate) anchor_onnet: bool,
}

impl RelayMedia {
    fn mode(&self, mode: MediaMode) -> Mode {
        match mode {
            MediaMode::Anchor => Mode::Anchor,
            MediaMode::CandidateOnly if self.anchor_onnet => Mode::Anchor,
            MediaMode::CandidateOnly => Mode::CandidateOnly,
        }
    }

    fn sdp(
        &self,
        call: u64,
        from: Side,
        sdp: &Bytes,
        mode: MediaMode,
        offer: bool,
    ) -> Option<Bytes> {
        let key = call.to_string();
        let mode = self.mode(mode);
        if mode == Mode::CandidateOnly
            && !has_ice_candidates(sdp)
            && !self.handle.gateway_wants_sdp(&key)
        {
            // nothing to add a relay candidate to: no ports spent on a call that cannot use them
            return None;
        }
        let r = if offer {
            self.handle.offer(&key, from, sdp, mode)
        } else {
            self.handle.answer(&key, from, sdp, mode)
        };
        match r {
            Ok(b) => Some(b),
            Err(e) => {
                // the SDP goes through unchanged: the call still works where a direct path exists
                tracing::warn!(call, "media relay not used for this SDP: {e}");
                None
            }
        }
    }
}

impl MediaRelay for RelayMedia {
    fn offer(&mut self, call: u64, from: Side, sdp: &Bytes, mode: MediaMode) -> Option<Bytes> {
        self.sdp(call, from, sdp, mode, true)
    }

    fn answer(&mut self, call: u64, from: Side, sdp: &Bytes, mode: MediaMode) -> Option<Bytes> {
        self.sdp(call, from, sdp, mode, false)
    }

    fn peer_family(&mut self, call: u64, side: Side, ipv6: bool) {
        self.handle.set_peer_family(&call.to_string(), side, ipv6);
    }

    fn peer_webrtc(&mut self, call: u64, side: Side, webrtc: bool) {
        self.handle.set_peer_webrtc(&call.to_string(), side, webrtc);
    }

    fn branch_offer(
        &mut self,
        call: u64,
        webrtc: bool,
        caller: &Bytes,
        sdp: &Bytes,
        mode: MediaMode,
    ) -> Option<Bytes> {
        let r = self
            .handle
            .branch_offer(&call.to_string(), webrtc, caller, sdp, self.mode(mode));
        r.unwrap_or_else(|e| {
            tracing::warn!(call, webrtc, "no offer of this branch's kind: {e}");
            None
        })
    }

    fn branch_won(&mut self, call: u64, webrtc: bool) {
        self.handle.branch_won(&call.to_string(), webrtc);
    }

    fn end(&mut self, call: u64) -> Option<CallStats> {
        self.handle.end(&call.to_string())
    }
}

fn has_ice_candidates(sdp: &[u8]) -> bool {
    sdp.windows(12).any(|w| w == b"a=candidate:")
}

/// The relay configured from `[media]`.
pub(crate) fn relay_config(m: &ferroswitch_config::MediaSettings) -> media_io::MediaConfig {
    let mut c = media_io::MediaConfig::new(m.bind_address);
    c.public_ip = Some(m.advertised_address());
    c.public_ip_v6 = m.public_address_v6;
    c.port_min = m.port_min;
    c.port_max = m.port_max;
    c.inactivity_timeout = m.inactivity_timeout;
    c
}

/// Answers a STUN Binding request that arrived on a SIP UDP socket (RFC 7983 demultiplexing:
/// first byte 0..3). Returns the response to send back to `remote`, if any.
pub(crate) fn stun_on_sip_socket(data: &[u8], remote: SocketAddr) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let outcome = media::stun::answer(data, remote, &mut out);
    match outcome {
        media::stun::StunOutcome::Success => crate::metrics::stun_on_sip_answered(true),
        media::stun::StunOutcome::Error { .. } => crate::metrics::stun_on_sip_answered(false),
        _ => {}
    }
    outcome.should_send().then_some(out)
}
