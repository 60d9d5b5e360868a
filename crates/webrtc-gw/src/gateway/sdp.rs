//! What the gateway reads in the browser's SDP: the codecs it offers, and the payload types
//! our answer (or its answer) settled on.

use media::sdp::Sdp;

use super::BrowserPts;
use crate::codec::BrowserCodec;
use crate::profile::G711;

pub(super) fn offered_codecs(sdp: &Sdp) -> (bool, bool, bool) {
    let mut g711 = (false, false);
    let mut opus = false;
    for m in sdp.media.iter().filter(|m| m.desc.media == "audio") {
        for f in &m.desc.formats {
            match f.as_str() {
                "0" => g711.0 = true,
                "8" => g711.1 = true,
                _ => {}
            }
        }
        for a in m.attributes().filter(|a| a.name == "rtpmap") {
            let v = a.value.as_deref().unwrap_or("").to_ascii_lowercase();
            if v.contains(" opus/48000") {
                opus = true;
            }
            if v.contains(" pcmu/8000") {
                g711.0 = true;
            }
            if v.contains(" pcma/8000") {
                g711.1 = true;
            }
        }
    }
    (g711.0, g711.1, opus)
}

/// The codecs of our answer: first format of the audio line and the telephone-event format.
pub(super) fn answered(answer: &str) -> Option<BrowserPts> {
    let sdp = Sdp::parse(answer.as_bytes()).ok()?;
    let m = sdp
        .media
        .iter()
        .find(|m| m.desc.media == "audio" && m.desc.port != 0)?;
    let maps: Vec<(u8, String)> = m
        .attributes()
        .filter(|a| a.name == "rtpmap")
        .filter_map(|a| {
            let (pt, enc) = a.value.as_deref()?.split_once(' ')?;
            Some((pt.trim().parse().ok()?, enc.to_ascii_lowercase()))
        })
        .collect();
    let name = |pt: u8| maps.iter().find(|(p, _)| *p == pt).map(|(_, e)| e.as_str());
    let mut audio = None;
    let mut tele = None;
    for f in &m.desc.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let enc = name(pt).unwrap_or(match pt {
            0 => "pcmu/8000",
            8 => "pcma/8000",
            _ => "",
        });
        let codec = if enc.starts_with("pcmu/") {
            Some(BrowserCodec::G711(G711::Pcmu))
        } else if enc.starts_with("pcma/") {
            Some(BrowserCodec::G711(G711::Pcma))
        } else if enc.starts_with("opus/") {
            Some(BrowserCodec::Opus)
        } else {
            None
        };
        if let (None, Some(c)) = (audio, codec) {
            audio = Some((pt, c));
        }
        if tele.is_none() && enc.starts_with("telephone-event/") {
            let rate = enc.split('/').nth(1).and_then(|r| r.parse().ok());
            tele = rate.map(|r| (pt, r));
        }
    }
    let (pt, codec) = audio?;
    Some(BrowserPts {
        audio: pt,
        codec,
        tele,
    })
}
