//! G.711 µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8), ITU-T G.711 as in
//! the reference `g711.c`: 16-bit linear samples in, one byte per sample out, 8000 samples/s.

/// An audio codec the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

/// Samples per second of both codecs (and of the RTP clock).
pub const SAMPLE_RATE: u32 = 8000;

const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

fn segment(value: i32, table: &[i32; 8]) -> usize {
    table.iter().position(|&end| value <= end).unwrap_or(8)
}

/// One linear sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 2;
    let mask: i32 = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    value = value.min(8159) + (0x84 >> 2);
    let seg = segment(value, &SEG_UEND);
    let code = if seg >= 8 {
        0x7F
    } else {
        ((seg as i32) << 4) | ((value >> (seg + 1)) & 0x0F)
    };
    (code ^ mask) as u8
}

/// One µ-law byte to a linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = ((i32::from(u) & 0x0F) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// One linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3;
    let mask: i32 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let seg = segment(value, &SEG_AEND);
    let code = if seg >= 8 {
        0x7F
    } else {
        let quant = if seg < 2 {
            (value >> 1) & 0x0F
        } else {
            (value >> seg) & 0x0F
        };
        ((seg as i32) << 4) | quant
    };
    (code ^ mask) as u8
}

/// One A-law byte to a linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = i32::from(code ^ 0x55);
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The codec of a static payload type, if it is one of ours.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// The SDP `a=rtpmap` encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// One sample encoded.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => linear_to_ulaw(sample),
            Self::Pcma => linear_to_alaw(sample),
        }
    }

    /// One byte decoded.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_to_linear(code),
            Self::Pcma => alaw_to_linear(code),
        }
    }

    /// Encodes `samples`, appending to `out`.
    pub fn encode(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&s| self.encode_sample(s)));
    }

    /// Decodes `payload`, appending to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        out.extend(payload.iter().map(|&b| self.decode_sample(b)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_round_trips_through_linear() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for code in 0..=255u8 {
                let linear = codec.decode_sample(code);
                let again = codec.decode_sample(codec.encode_sample(linear));
                assert_eq!(linear, again, "{codec:?} code {code:#x}");
            }
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut last = i16::MIN;
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let d = codec.decode_sample(codec.encode_sample(s));
                assert!(d >= last, "{codec:?} at {s}");
                assert!(
                    (i32::from(d) - i32::from(s)).abs() <= 1024,
                    "{codec:?} at {s}"
                );
                last = d;
            }
        }
    }
}
