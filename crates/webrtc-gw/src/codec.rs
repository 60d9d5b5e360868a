//! Payload conversion between the browser's codec and the plain side's G.711.
//!
//! Same codec: bytes pass as they are. PCMU <-> PCMA: per-sample table conversion. Opus (48 kHz
//! RTP clock) <-> G.711 (8 kHz): libopus decodes straight to 8 kHz and encodes from 8 kHz, so no
//! resampler is needed; the plain side's audio is cut into 20 ms frames for the encoder.

use crate::g711;
use crate::profile::G711;

/// The browser side's audio codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserCodec {
    /// G.711, the same family as the plain side: no transcoding when the flavours agree.
    G711(G711),
    /// Opus: transcoded.
    Opus,
}

impl BrowserCodec {
    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            BrowserCodec::G711(_) => 8000,
            BrowserCodec::Opus => 48000,
        }
    }
}

/// Samples per 20 ms at 8 kHz.
const FRAME: usize = 160;

/// Converts payloads both ways for one call.
pub struct Transcoder {
    browser: BrowserCodec,
    plain: G711,
    opus: Option<OpusPair>,
}

struct OpusPair {
    dec: opus::Decoder,
    enc: opus::Encoder,
    /// Plain-side samples waiting for a full 20 ms frame.
    pending: Vec<i16>,
    pcm: Vec<i16>,
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("browser", &self.browser)
            .field("plain", &self.plain)
            .finish_non_exhaustive()
    }
}

/// libopus refused to set up a codec.
#[derive(Debug, thiserror::Error)]
#[error("opus: {0}")]
pub struct CodecError(#[from] opus::Error);

fn decode(codec: G711, b: u8) -> i16 {
    match codec {
        G711::Pcmu => g711::ulaw_decode(b),
        G711::Pcma => g711::alaw_decode(b),
    }
}

fn encode(codec: G711, s: i16) -> u8 {
    match codec {
        G711::Pcmu => g711::ulaw_encode(s),
        G711::Pcma => g711::alaw_encode(s),
    }
}

impl Transcoder {
    /// Conversion between `browser` and `plain`.
    pub fn new(browser: BrowserCodec, plain: G711) -> Result<Self, CodecError> {
        let opus = match browser {
            BrowserCodec::Opus => {
                let mut enc =
                    opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip)?;
                // narrowband telephony: 24 kbit/s is ample and cheap to encode
                enc.set_bitrate(opus::Bitrate::Bits(24_000))?;
                Some(OpusPair {
                    dec: opus::Decoder::new(8000, opus::Channels::Mono)?,
                    enc,
                    pending: Vec::with_capacity(FRAME * 4),
                    pcm: vec![0; 5760],
                })
            }
            BrowserCodec::G711(_) => None,
        };
        Ok(Self {
            browser,
            plain,
            opus,
        })
    }

    /// Whether payloads pass unchanged (same codec on both sides).
    pub fn is_passthrough(&self) -> bool {
        self.browser == BrowserCodec::G711(self.plain)
    }

    /// Whether Opus is transcoded.
    pub fn is_opus(&self) -> bool {
        self.opus.is_some()
    }

    /// A browser payload as G.711 for the plain side (`None`: undecodable, dropped). The number
    /// of 8 kHz samples is the G.711 payload's length.
    pub fn to_plain(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let plain = self.plain;
        match (self.browser, self.opus.as_mut()) {
            (BrowserCodec::G711(b), _) if b == plain => Some(payload.to_vec()),
            (BrowserCodec::G711(b), _) => Some(
                payload
                    .iter()
                    .map(|&x| encode(plain, decode(b, x)))
                    .collect(),
            ),
            (BrowserCodec::Opus, Some(o)) => {
                let n = match o.dec.decode(payload, &mut o.pcm, false) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(error = %e, "opus packet not decodable");
                        return None;
                    }
                };
                Some(o.pcm[..n].iter().map(|&s| encode(plain, s)).collect())
            }
            (BrowserCodec::Opus, None) => None,
        }
    }

    /// A plain G.711 payload for the browser: zero or more payloads, each with the offset in
    /// 8 kHz samples from the start of this input at which it starts (Opus needs whole 20 ms
    /// frames, so a 30 ms packet gives one frame now and leaves 10 ms for the next).
    pub fn to_browser(&mut self, payload: &[u8]) -> Vec<(i64, Vec<u8>)> {
        let plain = self.plain;
        match (self.browser, self.opus.as_mut()) {
            (BrowserCodec::G711(b), _) if b == plain => vec![(0, payload.to_vec())],
            (BrowserCodec::G711(b), _) => vec![(
                0,
                payload
                    .iter()
                    .map(|&x| encode(b, decode(plain, x)))
                    .collect(),
            )],
            (BrowserCodec::Opus, Some(o)) => {
                let carried = o.pending.len() as i64;
                o.pending.extend(payload.iter().map(|&x| decode(plain, x)));
                let mut out = Vec::new();
                let mut start = 0usize;
                while o.pending.len() - start >= FRAME {
                    let mut buf = vec![0u8; 400];
                    match o.enc.encode(&o.pending[start..start + FRAME], &mut buf) {
                        Ok(len) => {
                            buf.truncate(len);
                            out.push((start as i64 - carried, buf));
                        }
                        Err(e) => tracing::debug!(error = %e, "opus encode failed"),
                    }
                    start += FRAME;
                }
                o.pending.drain(..start);
                out
            }
            (BrowserCodec::Opus, None) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((i as f64 * freq * 2.0 * std::f64::consts::PI / 8000.0).sin() * 8000.0) as i16
            })
            .collect()
    }

    #[test]
    fn same_codec_passes_bytes() {
        let mut t = Transcoder::new(BrowserCodec::G711(G711::Pcmu), G711::Pcmu).unwrap();
        assert!(t.is_passthrough());
        assert_eq!(t.to_plain(&[1, 2, 3]).unwrap(), vec![1, 2, 3]);
        assert_eq!(t.to_browser(&[4, 5]), vec![(0, vec![4, 5])]);
    }

    #[test]
    fn pcmu_to_pcma_keeps_the_signal() {
        let mut t = Transcoder::new(BrowserCodec::G711(G711::Pcmu), G711::Pcma).unwrap();
        let pcm = tone(1000.0, 160);
        let ulaw: Vec<u8> = pcm.iter().map(|&s| g711::ulaw_encode(s)).collect();
        let alaw = t.to_plain(&ulaw).unwrap();
        for (a, s) in alaw.iter().zip(&pcm) {
            let d = (i32::from(g711::alaw_decode(*a)) - i32::from(*s)).abs();
            assert!(d < 600, "{d}");
        }
    }

    #[test]
    fn opus_frames_are_cut_at_20ms() {
        let mut t = Transcoder::new(BrowserCodec::Opus, G711::Pcmu).unwrap();
        let ulaw: Vec<u8> = tone(440.0, 240)
            .iter()
            .map(|&s| g711::ulaw_encode(s))
            .collect();
        // 30 ms in: one 20 ms frame out, 10 ms kept
        let out = t.to_browser(&ulaw);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 0);
        // 30 ms more: 40 ms pending -> two frames, the first starting 10 ms before this input
        let out = t.to_browser(&ulaw);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, -80);
        assert_eq!(out[1].0, 80);
        // and the Opus payload decodes back to 20 ms at 8 kHz
        let g = t.to_plain(&out[0].1).unwrap();
        assert_eq!(g.len(), 160);
    }
}
