//! G.711 µ-law (PCMU) and A-law (PCMA) <-> 16-bit linear PCM (ITU-T G.711, the classic
//! segment/quantisation code). Used when the two sides of a bridge use different codecs.

/// µ-law byte -> linear sample.
pub fn ulaw_decode(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let v = if sign != 0 { -magnitude } else { magnitude };
    v as i16
}

/// Linear sample -> µ-law byte.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | ((exponent as u8) << 4) | mantissa as u8)
}

/// A-law byte -> linear sample.
pub fn alaw_decode(a: u8) -> i16 {
    let a = a ^ 0x55;
    let sign = a & 0x80;
    let exponent = i32::from((a >> 4) & 0x07);
    let mantissa = i32::from(a & 0x0f);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if sign != 0 { magnitude } else { -magnitude }) as i16
}

/// Linear sample -> A-law byte.
pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0
    };
    let s = s.min(32767);
    let byte = if s < 256 {
        (s >> 4) as u8
    } else {
        let exponent = (31 - s.leading_zeros() as i32) - 7; // 1..=7
        let mantissa = (s >> (exponent + 3)) & 0x0f;
        ((exponent as u8) << 4) | mantissa as u8
    };
    (sign | byte) ^ 0x55
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trip_within_quantisation() {
        for s in (-32000i32..32000).step_by(97) {
            let back = i32::from(ulaw_decode(ulaw_encode(s as i16)));
            let err = (back - s).abs();
            assert!(err <= (s.abs() / 16).max(8), "{s} -> {back}");
        }
        // reference points: silence and full scale
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
    }

    #[test]
    fn alaw_round_trip_within_quantisation() {
        for s in (-32000i32..32000).step_by(97) {
            let back = i32::from(alaw_decode(alaw_encode(s as i16)));
            let err = (back - s).abs();
            assert!(err <= (s.abs() / 16).max(16), "{s} -> {back}");
        }
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_decode(0xd5), 8);
    }

    #[test]
    fn every_code_survives_decode_encode() {
        for b in 0..=255u8 {
            // 0x7f (µ-law -0) decodes to 0 like 0xff
            if b != 0x7f {
                assert_eq!(ulaw_encode(ulaw_decode(b)), b, "ulaw {b:#x}");
            }
            assert_eq!(alaw_encode(alaw_decode(b)), b, "alaw {b:#x}");
        }
    }
}
