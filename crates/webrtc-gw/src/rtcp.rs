//! The plain leg's RTCP (RFC 3550 §6), terminated by the gateway. A media gateway is an RTP
//! end system towards each leg (RFC 7667 §3.2.4 "media translator"): it does not pass one leg's
//! reports to the other, whose SSRCs, sequence numbers and timestamps it rewrote. str0m does the
//! browser leg's RTCP (SRTCP, RTCP mux); this does the plain leg's:
//!
//! - the plain side's compound packets (on its RTP port + 1, or muxed: RFC 5761 payload types
//!   200-206) are read and counted; the NTP time of its last sender report is kept for the
//!   LSR/DLSR fields of ours (its round-trip time);
//! - every 5 s (the first one 1 s after its media started) the plain side gets a compound
//!   `SR` + `SDES CNAME` from the gateway's SSRC towards it: what the gateway sent it (packets,
//!   octets, the RTP time of the last packet) and one reception report about its stream
//!   (fraction lost, cumulative loss, extended highest sequence, interarrival jitter at 8 kHz).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Report interval towards the plain side (RFC 3550's minimum).
const INTERVAL: Duration = Duration::from_secs(5);
/// The first report, once the plain side's media started.
const FIRST: Duration = Duration::from_secs(1);
/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
const CNAME: &[u8] = b"ferroswitch";

/// Whether a datagram is RTCP (RFC 5761 §4: payload types 200-206 in the second byte).
pub fn is_rtcp(d: &[u8]) -> bool {
    d.len() >= 8 && d[0] >> 6 == 2 && (200..=206).contains(&d[1])
}

/// What the gateway sent towards the plain side, for its sender report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    pub(crate) ssrc: u32,
    pub(crate) packets: u32,
    pub(crate) octets: u32,
    pub(crate) rtp_ts: u32,
}

/// The plain leg's RTCP state. See the [module documentation](self).
#[derive(Debug, Default)]
pub(crate) struct PlainRtcp {
    /// The plain side's stream: SSRC, first and highest sequence, wraps, packets received.
    source: Option<u32>,
    base_seq: u16,
    max_seq: u16,
    cycles: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Arrival clock (8 kHz units from `epoch`) minus RTP time of the last packet; jitter.
    epoch: Option<Instant>,
    transit: Option<i64>,
    jitter: f64,
    /// Middle 32 bits of the NTP time of the plain side's last SR, and when it came.
    last_sr: Option<(u32, Instant)>,
    next: Option<Instant>,
    /// Compound RTCP packets received from / sent to the plain side.
    pub(crate) received_reports: u64,
    pub(crate) sent_reports: u64,
}

impl PlainRtcp {
    /// One RTP packet of the plain side arrived.
    pub(crate) fn on_rtp(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        if self.source != Some(ssrc) {
            *self = Self {
                source: Some(ssrc),
                base_seq: seq,
                max_seq: seq,
                epoch: Some(epoch),
                last_sr: self.last_sr,
                next: self.next,
                received_reports: self.received_reports,
                sent_reports: self.sent_reports,
                ..Self::default()
            };
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta != 0 && delta < 0x8000 {
                if seq < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = seq;
            }
        }
        self.received += 1;
        let arrival = (now.saturating_duration_since(epoch).as_micros() * 8 / 1000) as i64;
        let transit = arrival - i64::from(ts);
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
        self.next.get_or_insert(now + FIRST);
    }

    /// A compound RTCP packet from the plain side.
    pub(crate) fn on_rtcp(&mut self, now: Instant, mut d: &[u8]) {
        self.received_reports += 1;
        while d.len() >= 8 && d[0] >> 6 == 2 {
            let len = (usize::from(u16::from_be_bytes([d[2], d[3]])) + 1) * 4;
            if d[1] == 200 && len >= 28 && d.len() >= 28 {
                let mid = u32::from_be_bytes([d[10], d[11], d[12], d[13]]);
                self.last_sr = Some((mid, now));
            }
            d = d.get(len..).unwrap_or_default();
        }
    }

    /// When the next report is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// The report due at `now` (`wall`: the wall clock, for the NTP timestamp), if any.
    pub(crate) fn report(&mut self, now: Instant, wall: SystemTime, sent: Sent) -> Option<Vec<u8>> {
        if self.next.is_none_or(|t| t > now) {
            return None;
        }
        self.next = Some(now + INTERVAL);
        self.sent_reports += 1;
        let since = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        let ntp_sec = (since.as_secs() + NTP_UNIX_OFFSET) as u32;
        let ntp_frac = ((u64::from(since.subsec_nanos()) << 32) / 1_000_000_000) as u32;
        let blocks = u8::from(self.source.is_some());
        let mut p = Vec::with_capacity(80);
        p.extend_from_slice(&[0x80 | blocks, 200]);
        p.extend_from_slice(&(6 + 6 * u16::from(blocks)).to_be_bytes());
        for v in [
            sent.ssrc,
            ntp_sec,
            ntp_frac,
            sent.rtp_ts,
            sent.packets,
            sent.octets,
        ] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(src) = self.source {
            self.report_block(now, src, &mut p);
        }
        // SDES with our CNAME (RFC 3550 §6.1: every compound packet has one)
        let items = 2 + CNAME.len() + 1;
        let words = 2 + items.div_ceil(4);
        let start = p.len();
        p.extend_from_slice(&[0x81, 202]);
        p.extend_from_slice(&((words - 1) as u16).to_be_bytes());
        p.extend_from_slice(&sent.ssrc.to_be_bytes());
        p.extend_from_slice(&[1, CNAME.len() as u8]);
        p.extend_from_slice(CNAME);
        p.resize(start + words * 4, 0);
        Some(p)
    }

    /// RFC 3550 §6.4.1 / appendix A.3 reception report about `src`.
    fn report_block(&mut self, now: Instant, src: u32, p: &mut Vec<u8>) {
        let extended = self.cycles + u32::from(self.max_seq);
        let expected = extended.wrapping_sub(u32::from(self.base_seq)) + 1;
        let lost = i64::from(expected) - i64::from(self.received);
        let lost = lost.clamp(-0x80_0000, 0x7f_ffff) as i32;
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (lsr, dlsr) = self.last_sr.map_or((0, 0), |(mid, at)| {
            let delay = now.saturating_duration_since(at);
            (mid, (delay.as_micros() * 65536 / 1_000_000) as u32)
        });
        p.extend_from_slice(&src.to_be_bytes());
        p.push(fraction);
        p.extend_from_slice(&(lost as u32).to_be_bytes()[1..]);
        for v in [extended, self.jitter as u32, lsr, dlsr] {
            p.extend_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_report_with_a_reception_report_and_a_cname() {
        let mut r = PlainRtcp::default();
        let t0 = Instant::now();
        assert_eq!(
            r.poll_timeout(),
            None,
            "no report before the plain side's media"
        );
        // 10 packets with one lost (seq 104), then an SR from the phone
        for (i, seq) in (100u16..111).filter(|s| *s != 104).enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            r.on_rtp(now, 0xabcd, seq, u32::from(seq) * 160);
        }
        let mut sr = vec![
            0x80, 200, 0, 6, 0, 0, 0xab, 0xcd, 0x12, 0x34, 0x56, 0x78, 0x9a,
        ];
        sr.resize(28, 0);
        assert!(is_rtcp(&sr));
        r.on_rtcp(t0, &sr);
        assert_eq!(r.received_reports, 1);
        assert!(r.report(t0, SystemTime::now(), Sent::default()).is_none());
        let due = r.poll_timeout().unwrap();
        let sent = Sent {
            ssrc: 7,
            packets: 50,
            octets: 8000,
            rtp_ts: 9,
        };
        let p = r.report(due, SystemTime::now(), sent).unwrap();
        assert_eq!(&p[..4], &[0x81, 200, 0, 12], "SR with one block");
        assert_eq!(u32::from_be_bytes(p[4..8].try_into().unwrap()), 7);
        assert_eq!(u32::from_be_bytes(p[20..24].try_into().unwrap()), 50);
        let rb = &p[28..52];
        assert_eq!(u32::from_be_bytes(rb[0..4].try_into().unwrap()), 0xabcd);
        assert_eq!(rb[4], 23, "1 of 11 lost: 256/11");
        assert_eq!(&rb[5..8], &[0, 0, 1]);
        assert_eq!(u32::from_be_bytes(rb[8..12].try_into().unwrap()), 110);
        assert_eq!(
            u32::from_be_bytes(rb[16..20].try_into().unwrap()),
            0x5678_9a00
        );
        let sdes = &p[52..];
        assert_eq!(&sdes[..2], &[0x81, 202]);
        assert_eq!(sdes.len() % 4, 0);
        assert_eq!(sdes.len(), (usize::from(sdes[3]) + 1) * 4);
        assert_eq!(&sdes[10..10 + CNAME.len()], CNAME);
        assert_eq!(r.poll_timeout(), Some(due + INTERVAL));
    }
}
