//! RTP packets (RFC 3550 §5.1): the fixed header, CSRCs, the header extension and padding are
//! skipped on parse; packets are written with no CSRC, extension or padding.

/// The fixed RTP header fields the endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpHeader {
    /// The marker bit (first packet of a talkspurt for audio, RFC 3551 §4.1).
    pub marker: bool,
    /// The payload type (7 bits).
    pub payload_type: u8,
    /// The sequence number.
    pub seq: u16,
    /// The media timestamp (8000 Hz for G.711 and telephone-event).
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
}

/// A parsed RTP packet, borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The header.
    pub header: RtpHeader,
    /// The payload, padding removed.
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header (or than what the header announces).
    #[error("RTP packet truncated: {len} bytes, {need} needed")]
    Truncated {
        /// The datagram's length.
        len: usize,
        /// What the header needs.
        need: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, not 2")]
    Version(u8),
    /// A payload type in 72..=76 (RTCP SR/RR/SDES/BYE/APP multiplexed on the port, RFC 5761).
    #[error("RTCP packet (type {0}) on the RTP port")]
    Rtcp(u8),
}

/// Size of the fixed header.
pub const HEADER_LEN: usize = 12;

/// Parses one datagram.
pub fn parse(buf: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let truncated = |need: usize| RtpError::Truncated {
        len: buf.len(),
        need,
    };
    if buf.len() < HEADER_LEN {
        return Err(truncated(HEADER_LEN));
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    let padding = buf[0] & 0x20 != 0;
    let extension = buf[0] & 0x10 != 0;
    let csrc_count = usize::from(buf[0] & 0x0F);
    let marker = buf[1] & 0x80 != 0;
    let payload_type = buf[1] & 0x7F;
    if (72..=76).contains(&payload_type) {
        return Err(RtpError::Rtcp(buf[1]));
    }
    let mut start = HEADER_LEN + 4 * csrc_count;
    if extension {
        if buf.len() < start + 4 {
            return Err(truncated(start + 4));
        }
        let words = usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]));
        start += 4 + 4 * words;
    }
    let mut end = buf.len();
    if padding {
        let pad = usize::from(*buf.last().unwrap_or(&0));
        if pad == 0 || end < start + pad {
            return Err(truncated(start + pad.max(1)));
        }
        end -= pad;
    }
    if end < start {
        return Err(truncated(start));
    }
    Ok(RtpPacket {
        header: RtpHeader {
            marker,
            payload_type,
            seq: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        },
        payload: &buf[start..end],
    })
}

/// Writes `header` + `payload` into `out` (cleared first).
pub fn write(header: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(HEADER_LEN + payload.len());
    out.push(0x80);
    out.push((u8::from(header.marker) << 7) | (header.payload_type & 0x7F));
    out.extend_from_slice(&header.seq.to_be_bytes());
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(&header.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse() {
        let header = RtpHeader {
            marker: true,
            payload_type: 8,
            seq: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 42,
        };
        let mut out = Vec::new();
        write(&header, &[1, 2, 3], &mut out);
        let p = parse(&out).unwrap();
        assert_eq!(p.header, header);
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        let mut buf = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        buf.extend_from_slice(&[0xAA; 4]); // one CSRC
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x11, 0x22, 0x33, 0x44]); // extension, 1 word
        buf.extend_from_slice(&[7, 8]); // payload
        buf.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = parse(&buf).unwrap();
        assert_eq!(p.payload, &[7, 8]);
        assert_eq!(p.header.timestamp, 160);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(parse(&[0x80; 5]), Err(RtpError::Truncated { .. })));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::Version(1)));
        assert_eq!(
            parse(&[0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Rtcp(200))
        );
        let mut padded = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40];
        assert!(parse(&padded).is_err());
        padded[12] = 0;
        assert!(parse(&padded).is_err());
        let ext = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 9];
        assert!(parse(&ext).is_err());
    }
}
