//! The seam where the WebRTC media gateway (issue 18 part B) plugs into the B2BUA.
//!
//! A browser reached over a WebSocket flow speaks ICE + DTLS-SRTP (`UDP/TLS/RTP/SAVPF`, with
//! `a=fingerprint`); plain phones and gateways speak RTP/AVP. Without the gateway the B2BUA
//! passes each side's SDP to the other unchanged, so a browser and a plain phone agree on
//! signalling but no media flows between them. The gateway gets every SDP a leg sends or is
//! sent through [`crate::MediaRelay`] (`offer`/`answer` per side, as the relay does today), and
//! per branch through [`crate::MediaRelay::branch_offer`], with the device's kind: a WebRTC
//! device (a browser over WS/WSS, an API WebRTC endpoint) must get a DTLS-SRTP offer, a plain
//! one an RTP/AVP one, from the
//! same A-leg offer when one call forks to both (the account's phone and its web phone ring
//! together). [`needs_gateway`] says when the two differ.

/// Whether `sdp` describes WebRTC media: DTLS-SRTP (`UDP/TLS/RTP/SAVPF` or `a=fingerprint`).
pub fn is_webrtc_sdp(sdp: &[u8]) -> bool {
    let text = String::from_utf8_lossy(sdp);
    text.lines().any(|l| {
        let l = l.trim();
        (l.starts_with("m=") && l.contains("/TLS/RTP/SAVP")) || l.starts_with("a=fingerprint:")
    })
}

/// Whether an offer `sdp` must be bridged to be understood by a device that takes WebRTC
/// media (`webrtc_device`) or plain RTP: WebRTC media to a plain phone, or plain media to a
/// browser.
pub fn needs_gateway(sdp: &[u8], webrtc_device: bool) -> bool {
    is_webrtc_sdp(sdp) != webrtc_device
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_webrtc_sdp_from_plain_sdp() {
        let browser =
            b"v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=fingerprint:sha-256 AB:CD\r\n";
        let phone = b"v=0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
        assert!(is_webrtc_sdp(browser));
        assert!(!is_webrtc_sdp(phone));
        assert!(needs_gateway(browser, false));
        assert!(!needs_gateway(browser, true));
        assert!(needs_gateway(phone, true));
        assert!(!needs_gateway(phone, false));
    }
}
