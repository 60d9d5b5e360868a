//! Which side of a call speaks WebRTC, decided from the SDP profile (never the transport), and
//! the plain `RTP/AVP` SDP the gateway shows the other side.
//!
//! [`decide`] is the one place where a call becomes a bridged call; the signalling layer only
//! tells, per side, whether that side is known to be a WebRTC endpoint (a browser registered over
//! WebSocket), and gives the SDP.

use std::net::{IpAddr, SocketAddr};

use media::sdp::{Direction, Sdp};

/// The WebRTC media profile (RFC 5764 / JSEP).
pub const WEBRTC_PROFILE: &str = "UDP/TLS/RTP/SAVPF";

/// Whether this SDP describes WebRTC audio: an audio m-line with `UDP/TLS/RTP/SAVPF` (DTLS-SRTP,
/// ICE, RTCP feedback). Plain `RTP/AVP` and SDES `RTP/SAVP` are not.
pub fn is_webrtc(sdp: &Sdp) -> bool {
    sdp.media
        .iter()
        .any(|m| m.desc.media == "audio" && m.desc.port != 0 && m.desc.proto == WEBRTC_PROFILE)
}

/// What the relay does with a call, from the offer and what the signalling knows about the side
/// the offer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bridge {
    /// Same profile on both sides (plain <-> plain, browser <-> browser): relay as before.
    Relay,
    /// The offerer is WebRTC, the answerer plain: the gateway terminates WebRTC on the offerer's
    /// side and offers plain `RTP/AVP` to the other.
    WebRtcOfferer,
    /// The offerer is plain and the answerer a known WebRTC endpoint: the gateway offers WebRTC
    /// to it and answers the plain side plainly.
    WebRtcAnswerer,
}

/// The decision, in one place. `offer_is_webrtc`: [`is_webrtc`] of the offer;
/// `answerer_is_webrtc`: what the signalling knows about the side the offer goes to (`None`:
/// nothing — a phone, a gateway, a service, or a device whose kind is unknown).
pub fn decide(offer_is_webrtc: bool, answerer_is_webrtc: Option<bool>) -> Bridge {
    match (offer_is_webrtc, answerer_is_webrtc.unwrap_or(false)) {
        (true, false) => Bridge::WebRtcOfferer,
        (false, true) => Bridge::WebRtcAnswerer,
        _ => Bridge::Relay,
    }
}

/// G.711 flavour on the plain side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711 {
    /// µ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl G711 {
    /// The static payload type.
    pub fn pt(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }
}

/// Payload type of telephone-event we offer on the plain side.
pub const PLAIN_TELEPHONE_EVENT_PT: u8 = 101;

/// The plain offer: `RTP/AVP`, G.711 (`first` preferred), telephone-event 0-16, ptime 20, the
/// relay's address and port, direction `dir` (the browser's: hold passes across).
pub fn plain_offer(
    ip: IpAddr,
    port: u16,
    first: G711,
    (session_id, version): (u64, u64),
    dir: Direction,
) -> String {
    let (a, b) = match first {
        G711::Pcmu => (G711::Pcmu, G711::Pcma),
        G711::Pcma => (G711::Pcma, G711::Pcmu),
    };
    let ipv = if ip.is_ipv6() { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=ferroswitch {session_id} {version} IN {ipv} {ip}\r\ns=ferroswitch\r\n\
         c=IN {ipv} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {} {} {te}\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n\
         a=ptime:20\r\na={}\r\n",
        a.pt(),
        b.pt(),
        direction_attr(dir),
        te = PLAIN_TELEPHONE_EVENT_PT,
    )
}

/// The plain answer to a plain offer: `codec` and, when the offer had one, its
/// telephone-event payload type; direction `dir` (the browser's answer's).
pub fn plain_answer(
    ip: IpAddr,
    port: u16,
    (codec, telephone_event): (G711, Option<u8>),
    (session_id, version): (u64, u64),
    dir: Direction,
) -> String {
    let ipv = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let name = match codec {
        G711::Pcmu => "PCMU",
        G711::Pcma => "PCMA",
    };
    let mut s = format!(
        "v=0\r\no=ferroswitch {session_id} {version} IN {ipv} {ip}\r\ns=ferroswitch\r\n\
         c=IN {ipv} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {}",
        codec.pt()
    );
    if let Some(te) = telephone_event {
        s.push_str(&format!(" {te}"));
    }
    s.push_str(&format!("\r\na=rtpmap:{} {name}/8000\r\n", codec.pt()));
    if let Some(te) = telephone_event {
        s.push_str(&format!(
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        ));
    }
    s.push_str(&format!("a=ptime:20\r\na={}\r\n", direction_attr(dir)));
    s
}

/// The SDP attribute of a direction (RFC 3264 §5.1).
pub fn direction_attr(dir: Direction) -> &'static str {
    match dir {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "sendonly",
        Direction::RecvOnly => "recvonly",
        Direction::Inactive => "inactive",
    }
}

/// The direction of the first audio line of `sdp`; on a plain line a hold address
/// (`c=0.0.0.0`, RFC 2543) counts as not receiving (a WebRTC line always has that address).
pub fn audio_direction(sdp: &Sdp) -> Direction {
    let Some(i) = sdp.media.iter().position(|m| m.desc.media == "audio") else {
        return Direction::SendRecv;
    };
    let hold_address = sdp.media[i].desc.proto != WEBRTC_PROFILE
        && sdp
            .media_connection(i)
            .is_some_and(media::sdp::Connection::is_hold);
    match sdp.direction(i) {
        Direction::SendRecv if hold_address => Direction::SendOnly,
        Direction::RecvOnly if hold_address => Direction::Inactive,
        d => d,
    }
}

/// What the plain side's SDP (its answer) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainMedia {
    /// Where it receives RTP (`None`: the audio line was refused or has no usable address).
    pub rtp: Option<SocketAddr>,
    /// The codec it chose (first G.711 format of the m-line).
    pub codec: G711,
    /// Its telephone-event payload type, if any.
    pub telephone_event: Option<u8>,
    /// Where it receives RTCP (`a=rtcp`, else RTP port + 1); `rtcp_mux`: on the RTP port.
    pub rtcp: Option<SocketAddr>,
    pub rtcp_mux: bool,
    /// It will not receive (hold: `sendonly`, `inactive`, 0.0.0.0).
    pub hold: bool,
}

/// Reads the plain side's SDP. `None` when it has no audio line with PCMU or PCMA.
pub fn read_plain(sdp: &Sdp) -> Option<PlainMedia> {
    let i = sdp.media.iter().position(|m| m.desc.media == "audio")?;
    let m = &sdp.media[i];
    let codec = m.desc.formats.iter().find_map(|f| match f.as_str() {
        "0" => Some(G711::Pcmu),
        "8" => Some(G711::Pcma),
        _ => None,
    })?;
    let telephone_event = m
        .attributes()
        .filter(|a| a.name == "rtpmap")
        .filter_map(|a| a.value.as_deref())
        .find_map(|v| {
            let (pt, enc) = v.split_once(' ')?;
            enc.to_ascii_lowercase()
                .starts_with("telephone-event/8000")
                .then(|| pt.trim().parse().ok())?
        });
    let remote = sdp.remote_media(i);
    let rtp = remote.map(|r| r.rtp);
    let rtcp = remote.map(|r| {
        r.rtcp
            .unwrap_or_else(|| SocketAddr::new(r.rtp.ip(), r.rtp.port().wrapping_add(1)))
    });
    let dir = sdp.direction(i);
    let hold = sdp.is_hold(i) || matches!(dir, Direction::SendOnly | Direction::Inactive);
    Some(PlainMedia {
        rtp,
        codec,
        telephone_event,
        rtcp,
        rtcp_mux: remote.is_some_and(|r| r.rtcp_mux),
        hold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\nc=IN IP4 0.0.0.0\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n";

    #[test]
    fn profile_decides() {
        let web = Sdp::parse(CHROME.as_bytes()).unwrap();
        assert!(is_webrtc(&web));
        let ip = "192.0.2.1".parse().unwrap();
        let plain =
            Sdp::parse(plain_offer(ip, 4000, G711::Pcmu, (1, 1), Direction::SendRecv).as_bytes())
                .unwrap();
        assert!(!is_webrtc(&plain));
        assert_eq!(decide(true, None), Bridge::WebRtcOfferer);
        assert_eq!(decide(true, Some(true)), Bridge::Relay);
        assert_eq!(decide(false, None), Bridge::Relay);
        assert_eq!(decide(false, Some(true)), Bridge::WebRtcAnswerer);
    }

    #[test]
    fn plain_offer_reads_back() {
        let ip = "192.0.2.1".parse().unwrap();
        let sdp =
            Sdp::parse(plain_offer(ip, 4000, G711::Pcma, (7, 8), Direction::SendOnly).as_bytes())
                .unwrap();
        let p = read_plain(&sdp).unwrap();
        assert_eq!(p.rtp, Some("192.0.2.1:4000".parse().unwrap()));
        assert_eq!(p.codec, G711::Pcma);
        assert_eq!(p.telephone_event, Some(101));
        assert!(p.hold, "sendonly: the far end does not receive");
        assert_eq!(audio_direction(&sdp), Direction::SendOnly);
        assert_eq!(sdp.media[0].desc.proto, "RTP/AVP");
    }

    #[test]
    fn plain_answer_keeps_the_offered_event_pt() {
        let ip = "192.0.2.1".parse().unwrap();
        let a = plain_answer(
            ip,
            4000,
            (G711::Pcma, Some(96)),
            (1, 1),
            Direction::RecvOnly,
        );
        let p = read_plain(&Sdp::parse(a.as_bytes()).unwrap()).unwrap();
        assert_eq!((p.codec, p.telephone_event), (G711::Pcma, Some(96)));
        assert!(a.contains("m=audio 4000 RTP/AVP 8 96\r\n"), "{a}");
        assert!(a.contains("a=recvonly\r\n"), "{a}");
    }

    #[test]
    fn answer_without_g711_is_refused() {
        let sdp = Sdp::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n\
              m=audio 5000 RTP/AVP 18\r\n",
        )
        .unwrap();
        assert!(read_plain(&sdp).is_none());
    }
}
