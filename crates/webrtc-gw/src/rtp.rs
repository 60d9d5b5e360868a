//! RTP details of the bridge: the plain leg's packet parser, timestamp mapping between RTP
//! clocks, RFC 4733 duration scaling.

/// Timestamp mapping from one RTP clock onto another (first packet anchors both).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TsMap {
    base: Option<(u32, u32)>,
}

impl TsMap {
    /// `ts_in` at `rate_in` onto the output clock at `rate_out`, starting at `start_out`.
    pub(crate) fn map(&mut self, ts_in: u32, rate_in: u32, rate_out: u32, start_out: u32) -> u32 {
        let (base_in, base_out) = *self.base.get_or_insert((ts_in, start_out));
        let delta = ts_in.wrapping_sub(base_in) as i32 as i64;
        let scaled = delta * i64::from(rate_out) / i64::from(rate_in);
        base_out.wrapping_add(scaled as u32)
    }
}

/// The duration field (bytes 2-3) of each 4-byte RFC 4733 report from one clock to another.
pub(crate) fn scale_event_duration(payload: &mut [u8], from: u32, to: u32) {
    if from == to {
        return;
    }
    for r in payload.chunks_exact_mut(4) {
        let d = u32::from(u16::from_be_bytes([r[2], r[3]]));
        let d = (d * to / from).min(u32::from(u16::MAX)) as u16;
        r[2..4].copy_from_slice(&d.to_be_bytes());
    }
}

/// The parts of a plain RTP packet the gateway uses.
pub(crate) struct PlainRtp<'a> {
    pub(crate) pt: u8,
    pub(crate) marker: bool,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) ssrc: u32,
    pub(crate) payload: &'a [u8],
}

impl<'a> PlainRtp<'a> {
    pub(crate) fn parse(d: &'a [u8]) -> Option<Self> {
        if d.len() < 12 || d[0] >> 6 != 2 {
            return None;
        }
        let pt = d[1] & 0x7f;
        // RTCP (SR/RR/SDES/BYE/APP) on a muxed port: not media
        if (72..=76).contains(&pt) {
            return None;
        }
        let cc = usize::from(d[0] & 0x0f);
        let mut off = 12 + 4 * cc;
        if d[0] & 0x10 != 0 {
            let ext = d.get(off + 2..off + 4)?;
            off += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
        }
        let mut end = d.len();
        if d[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*d.last()?))?;
        }
        Some(Self {
            pt,
            marker: d[1] & 0x80 != 0,
            seq: u16::from_be_bytes([d[2], d[3]]),
            ts: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
            ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
            payload: d.get(off..end)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_rtp_parses_and_refuses() {
        let mut p = vec![0x80, 0x80, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        p.extend_from_slice(&[0xff; 160]);
        let r = PlainRtp::parse(&p).unwrap();
        assert_eq!((r.pt, r.marker, r.ts, r.payload.len()), (0, true, 160, 160));
        assert!(PlainRtp::parse(&p[..11]).is_none());
        // RTCP receiver report
        assert!(PlainRtp::parse(&[0x80, 201, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        // extension longer than the packet
        assert!(
            PlainRtp::parse(&[0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).is_none()
        );
    }

    #[test]
    fn event_duration_scales() {
        let mut e = [5u8, 0x0a, 0x03, 0x20]; // 800 at 8 kHz = 100 ms
        scale_event_duration(&mut e, 8000, 48000);
        assert_eq!(u16::from_be_bytes([e[2], e[3]]), 4800);
        scale_event_duration(&mut e, 48000, 8000);
        assert_eq!(u16::from_be_bytes([e[2], e[3]]), 800);
    }

    #[test]
    fn timestamps_map_between_clocks() {
        let mut m = TsMap::default();
        assert_eq!(m.map(1_000_000, 48000, 8000, 77), 77);
        assert_eq!(m.map(1_000_960, 48000, 8000, 0), 77 + 160);
        // wrap of the input clock
        let mut m = TsMap::default();
        assert_eq!(m.map(u32::MAX - 479, 48000, 8000, 0), 0);
        assert_eq!(m.map(480, 48000, 8000, 0), 160);
    }
}
