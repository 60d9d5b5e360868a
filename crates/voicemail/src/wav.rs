//! WAV files (RIFF/WAVE): messages are stored as 16-bit linear PCM, mono, 8000 Hz; prompts may
//! also be G.711 µ-law or A-law WAV (format tags 7 and 6, what `sox -e u-law` writes). Other
//! rates and channel counts are refused with a message saying how to convert.

use crate::codec::{Codec, SAMPLE_RATE};

/// Why a WAV file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Not RIFF/WAVE, or a chunk runs past the end.
    #[error("not a WAV file: {0}")]
    Malformed(&'static str),
    /// A format the endpoint does not play.
    #[error(
        "unsupported WAV format (tag {tag}, {channels} channel(s), {rate} Hz, {bits} bits); \
         convert with `sox IN -r 8000 -c 1 -e u-law OUT.wav`"
    )]
    Unsupported {
        /// The format tag (1 PCM, 6 A-law, 7 µ-law).
        tag: u16,
        /// Channels.
        channels: u16,
        /// Sample rate.
        rate: u32,
        /// Bits per sample.
        bits: u16,
    },
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a mono 8000 Hz WAV (16-bit PCM, µ-law or A-law) to linear samples.
pub fn read(bytes: &[u8]) -> Result<Vec<i16>, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::Malformed("no RIFF/WAVE header"));
    }
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32_at(bytes, at + 4) as usize;
        let body = at + 8;
        let end = body
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or(WavError::Malformed("a chunk runs past the end"))?;
        match id {
            b"fmt " => {
                if len < 16 {
                    return Err(WavError::Malformed("short fmt chunk"));
                }
                let mut tag = u16_at(bytes, body);
                if tag == 0xFFFE && len >= 26 {
                    tag = u16_at(bytes, body + 24); // WAVE_FORMAT_EXTENSIBLE: the sub-format
                }
                format = Some((
                    tag,
                    u16_at(bytes, body + 2),
                    u32_at(bytes, body + 4),
                    u16_at(bytes, body + 14),
                ));
            }
            b"data" => {
                let (tag, channels, rate, bits) =
                    format.ok_or(WavError::Malformed("data before fmt"))?;
                let data = &bytes[body..end];
                let unsupported = WavError::Unsupported {
                    tag,
                    channels,
                    rate,
                    bits,
                };
                if channels != 1 || rate != SAMPLE_RATE {
                    return Err(unsupported);
                }
                return match (tag, bits) {
                    (1, 16) => Ok(data
                        .chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]))
                        .collect()),
                    (7, 8) => Ok(data.iter().map(|&b| Codec::Pcmu.decode_sample(b)).collect()),
                    (6, 8) => Ok(data.iter().map(|&b| Codec::Pcma.decode_sample(b)).collect()),
                    _ => Err(unsupported),
                };
            }
            _ => {}
        }
        at = end + (len & 1); // chunks are word aligned
    }
    Err(WavError::Malformed("no data chunk"))
}

/// A 16-bit PCM, mono, 8000 Hz WAV of `samples`.
pub fn write_pcm16(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16_round_trip() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        assert_eq!(read(&write_pcm16(&samples)).unwrap(), samples);
    }

    #[test]
    fn ulaw_wav_is_read() {
        let mut wav = write_pcm16(&[]);
        // Patch into a µ-law header with 3 samples.
        wav[20..22].copy_from_slice(&7u16.to_le_bytes());
        wav[34..36].copy_from_slice(&8u16.to_le_bytes());
        wav[40..44].copy_from_slice(&3u32.to_le_bytes());
        wav.extend_from_slice(&[0xFF, 0x00, 0x80, 0]); // 3 samples + pad byte
        assert_eq!(read(&wav).unwrap(), vec![0, -32124, 32124]);
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(read(b"hello").is_err());
        let mut wav = write_pcm16(&[1, 2]);
        wav[24..28].copy_from_slice(&16000u32.to_le_bytes());
        assert!(matches!(
            read(&wav),
            Err(WavError::Unsupported { rate: 16000, .. })
        ));
        let mut truncated = write_pcm16(&[1, 2, 3]);
        truncated[40..44].copy_from_slice(&1000u32.to_le_bytes());
        assert!(read(&truncated).is_err());
    }
}
