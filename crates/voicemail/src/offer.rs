//! The endpoint's side of SDP offer/answer (RFC 3264) for one audio stream: what it takes from
//! an offer (where to send, which codec, the telephone-event payload type) and its answer.

use std::net::{IpAddr, SocketAddr};

use crate::codec::Codec;

/// What the endpoint uses from an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// Where the caller receives RTP.
    pub remote: SocketAddr,
    /// The codec chosen: the first of the offer's formats that is PCMU or PCMA.
    pub codec: Codec,
    /// The offer's `telephone-event/8000` payload type.
    pub telephone_event: Option<u8>,
}

/// Why an offer cannot be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// No `m=audio` line with a port.
    #[error("the offer has no audio stream")]
    NoAudio,
    /// No usable connection address.
    #[error("the offer has no connection address")]
    NoAddress,
    /// Neither PCMU nor PCMA offered.
    #[error("the offer has neither PCMU nor PCMA")]
    NoCodec,
}

/// Reads an offer.
pub fn parse_offer(sdp: &str) -> Result<Offer, OfferError> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut in_audio = false;
    let mut te = None;
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            let first_audio = audio.is_none() && m.starts_with("audio ");
            in_audio = first_audio;
            if first_audio {
                let mut f = m.split_whitespace().skip(1);
                let port = f.next().and_then(|p| p.split('/').next()?.parse().ok());
                let formats = f.skip(1).filter_map(|x| x.parse().ok()).collect();
                if let Some(port) = port.filter(|&p: &u16| p != 0) {
                    audio = Some((port, formats));
                } else {
                    in_audio = false;
                }
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            let ip = c
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next()?.parse().ok());
            if in_audio {
                media_ip = ip;
            } else if audio.is_none() {
                session_ip = ip;
            }
        } else if let Some(a) = line.strip_prefix("a=rtpmap:") {
            if in_audio {
                let mut it = a.splitn(2, ' ');
                if let (Some(pt), Some(enc)) = (it.next().and_then(|p| p.parse().ok()), it.next()) {
                    rtpmap.push((pt, enc.to_ascii_lowercase()));
                }
            }
        }
    }
    let (port, formats) = audio.ok_or(OfferError::NoAudio)?;
    let ip = media_ip.or(session_ip).ok_or(OfferError::NoAddress)?;
    let name = |pt: u8| {
        rtpmap
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.as_str())
    };
    let codec = formats
        .iter()
        .find_map(|&pt| match (pt, name(pt)) {
            (0, _) => Some(Codec::Pcmu),
            (8, _) => Some(Codec::Pcma),
            (_, Some(n)) if n.starts_with("pcmu/8000") => Some(Codec::Pcmu),
            (_, Some(n)) if n.starts_with("pcma/8000") => Some(Codec::Pcma),
            _ => None,
        })
        .ok_or(OfferError::NoCodec)?;
    for &pt in &formats {
        if name(pt).is_some_and(|n| n.starts_with("telephone-event/8000")) {
            te = Some(pt);
        }
    }
    Ok(Offer {
        remote: SocketAddr::new(ip, port),
        codec,
        telephone_event: te,
    })
}

/// The answer: our address and port, the chosen codec and telephone-event when offered.
pub fn answer(offer: &Offer, local: SocketAddr, session_id: u64) -> String {
    let ip = local.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let pt = offer.codec.payload_type();
    let mut formats = pt.to_string();
    let mut attrs = format!("a=rtpmap:{pt} {}/8000\r\n", offer.codec.name());
    if let Some(te) = offer.telephone_event {
        formats.push_str(&format!(" {te}"));
        attrs.push_str(&format!(
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
        ));
    }
    format!(
        "v=0\r\no=ferroswitch-vm {session_id} 1 IN {family} {ip}\r\ns=voicemail\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {formats}\r\n{attrs}a=ptime:20\r\n\
         a=sendrecv\r\n",
        local.port()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_read_and_answered() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 18 8 0 101\r\nc=IN IP4 127.0.0.1\r\n\
                   a=rtpmap:101 telephone-event/8000\r\nm=video 5000 RTP/AVP 96\r\n";
        let o = parse_offer(sdp).unwrap();
        assert_eq!(o.remote, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(o.codec, Codec::Pcma);
        assert_eq!(o.telephone_event, Some(101));
        let a = answer(&o, "127.0.0.1:7000".parse().unwrap(), 5);
        assert!(a.contains("m=audio 7000 RTP/AVP 8 101\r\n"), "{a}");
        assert!(a.contains("a=rtpmap:8 PCMA/8000\r\n"));
        assert_eq!(parse_offer(&a).unwrap().remote.port(), 7000);
    }

    #[test]
    fn unusable_offers_are_errors() {
        assert_eq!(parse_offer("v=0\r\n"), Err(OfferError::NoAudio));
        assert_eq!(
            parse_offer("m=audio 4000 RTP/AVP 0\r\n"),
            Err(OfferError::NoAddress)
        );
        assert_eq!(
            parse_offer("c=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18 9\r\n"),
            Err(OfferError::NoCodec)
        );
        assert_eq!(
            parse_offer("c=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n"),
            Err(OfferError::NoAudio)
        );
    }
}
