//! RTP/RTCP packet classification and per-direction receive statistics (RFC 3550 A.1, A.3, A.8).

use std::time::Instant;

/// What a datagram on a relay port looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// RTP version 2 with a full fixed header.
    Rtp,
    /// RTCP (version 2, packet type 192..=223 per RFC 5761 §4), or anything on an RTCP port.
    Rtcp,
    /// Anything else (STUN connectivity checks, DTLS, garbage): relayed, not counted as RTP.
    Other,
}

/// Classifies a datagram received on an RTP port (RTCP ports classify everything as RTCP).
pub(crate) fn classify(packet: &[u8]) -> Kind {
    if packet.len() < 2 || packet[0] >> 6 != 2 {
        return Kind::Other;
    }
    if (192..=223).contains(&packet[1]) {
        return Kind::Rtcp;
    }
    if packet.len() >= 12 {
        Kind::Rtp
    } else {
        Kind::Other
    }
}

/// Clock rate of a static payload type (RFC 3551 table 4/5); 8000 Hz when unknown.
pub fn static_clock_rate(pt: u8) -> u32 {
    match pt {
        6 => 16_000,
        10 | 11 => 44_100,
        16 => 11_025,
        17 => 22_050,
        14 | 25 | 26 | 28 | 31 | 32 | 33 | 34 => 90_000,
        _ => 8_000,
    }
}

/// Counters for one direction of one call (or one m-line): what the relay received from one side
/// and relayed to the other.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct DirectionStats {
    /// Datagrams relayed (RTP, RTCP and anything else, e.g. ICE checks).
    pub packets: u64,
    /// Bytes relayed (UDP payload).
    pub bytes: u64,
    /// RTP packets among `packets`.
    pub rtp_packets: u64,
    /// RTCP packets among `packets`.
    pub rtcp_packets: u64,
    /// RTP packets lost before reaching the relay, from sequence numbers (RFC 3550 A.3, summed
    /// over the SSRCs seen, never negative).
    pub lost: u64,
    /// Interarrival jitter of the current SSRC in milliseconds (RFC 3550 A.8).
    pub jitter_ms: f64,
    /// Datagrams received but not relayed (unknown source while latched, no peer yet, hold).
    pub dropped: u64,
}

impl DirectionStats {
    /// Adds `other` (jitter: the larger one).
    pub fn merge(&mut self, other: &Self) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.rtp_packets += other.rtp_packets;
        self.rtcp_packets += other.rtcp_packets;
        self.lost += other.lost;
        self.jitter_ms = self.jitter_ms.max(other.jitter_ms);
        self.dropped += other.dropped;
    }
}

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Receive state of one SSRC.
#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    cycles: u64,
    base_seq: u64,
    bad_seq: Option<u16>,
    received: u64,
    epoch: Instant,
    clock_rate: u32,
    transit: Option<u32>,
    jitter: f64,
}

impl Source {
    fn new(ssrc: u32, seq: u16, now: Instant, clock_rate: u32) -> Self {
        Self {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: u64::from(seq),
            bad_seq: None,
            received: 0,
            epoch: now,
            clock_rate,
            transit: None,
            jitter: 0.0,
        }
    }

    fn restart(&mut self, seq: u16) {
        self.max_seq = seq;
        self.cycles = 0;
        self.base_seq = u64::from(seq);
        self.bad_seq = None;
        self.received = 0;
        self.transit = None;
    }

    fn lost(&self) -> u64 {
        let expected = self.cycles + u64::from(self.max_seq) + 1 - self.base_seq;
        expected.saturating_sub(self.received)
    }

    /// RFC 3550 A.1 `update_seq`, without probation (a relay counts from the first packet).
    /// Returns the loss to fold into the total when the sequence restarts.
    fn update_seq(&mut self, seq: u16) -> u64 {
        let udelta = seq.wrapping_sub(self.max_seq);
        let mut folded = 0;
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
        } else if udelta <= u16::MAX - MAX_MISORDER {
            // A big jump: the sender restarted. Believe it after two packets in sequence.
            if self.bad_seq == Some(seq) {
                folded = self.lost();
                self.restart(seq);
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                return 0;
            }
        }
        // else: duplicate or reordered packet, counted as received.
        self.received += 1;
        folded
    }

    fn update_jitter(&mut self, rtp_ts: u32, now: Instant) {
        let micros = now.saturating_duration_since(self.epoch).as_micros();
        let arrival = (micros * u128::from(self.clock_rate) / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(rtp_ts);
        if let Some(prev) = self.transit {
            let d = f64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }
}

/// Counters plus the RTP receive state of one direction of one m-line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Receiver {
    pub(crate) stats: DirectionStats,
    source: Option<Source>,
    lost_before: u64,
}

impl Receiver {
    /// Records a relayed datagram of kind `kind`; `clock_rate` maps a payload type to its rate.
    pub(crate) fn record(
        &mut self,
        kind: Kind,
        packet: &[u8],
        now: Instant,
        clock_rate: impl Fn(u8) -> u32,
    ) {
        self.stats.packets += 1;
        self.stats.bytes += packet.len() as u64;
        match kind {
            Kind::Rtcp => self.stats.rtcp_packets += 1,
            Kind::Other => {}
            Kind::Rtp => {
                self.stats.rtp_packets += 1;
                self.record_rtp(packet, now, clock_rate);
            }
        }
    }

    fn record_rtp(&mut self, p: &[u8], now: Instant, clock_rate: impl Fn(u8) -> u32) {
        let pt = p[1] & 0x7f;
        let seq = u16::from_be_bytes([p[2], p[3]]);
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
        let src = match &mut self.source {
            Some(s) if s.ssrc == ssrc => s,
            slot => {
                if let Some(old) = slot.take() {
                    self.lost_before += old.lost();
                }
                slot.insert(Source::new(ssrc, seq, now, clock_rate(pt)))
            }
        };
        self.lost_before += src.update_seq(seq);
        src.update_jitter(ts, now);
        self.stats.lost = self.lost_before + src.lost();
        self.stats.jitter_ms = src.jitter * 1000.0 / f64::from(src.clock_rate.max(1));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.resize(172, 0);
        p
    }

    #[test]
    fn classify_rtp_rtcp_other() {
        assert_eq!(classify(&rtp(1, 1, 1)), Kind::Rtp);
        assert_eq!(classify(&[0x80, 200, 0, 6]), Kind::Rtcp);
        assert_eq!(classify(&[0x81, 201, 0, 7]), Kind::Rtcp);
        assert_eq!(classify(&[0x00, 0x01, 0, 0]), Kind::Other); // STUN
        assert_eq!(classify(&[0x80, 0]), Kind::Other); // too short for RTP
        assert_eq!(classify(&[]), Kind::Other);
    }

    #[test]
    fn loss_reorder_duplicates_and_wrap() {
        let t0 = Instant::now();
        let mut r = Receiver::default();
        let rate = |_| 8000;
        let seqs = [65530u16, 65531, 65533, 65532, 65534, 65535, 0, 1, 1, 4];
        for (i, s) in seqs.iter().enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            r.record(Kind::Rtp, &rtp(*s, 160 * i as u32, 7), now, rate);
        }
        // Expected 65530..=4 across the wrap = 11 packets; received 10 (one duplicate): 2 and 3
        // missing, the duplicate of 1 offsets one of them.
        assert_eq!(r.stats.rtp_packets, 10);
        assert_eq!(r.stats.lost, 1);
    }

    #[test]
    fn new_ssrc_keeps_previous_loss() {
        let t0 = Instant::now();
        let mut r = Receiver::default();
        for (i, s) in [1u16, 2, 5].iter().enumerate() {
            r.record(
                Kind::Rtp,
                &rtp(*s, 0, 1),
                t0 + Duration::from_millis(i as u64),
                |_| 8000,
            );
        }
        assert_eq!(r.stats.lost, 2);
        for (i, s) in [900u16, 901, 903].iter().enumerate() {
            r.record(
                Kind::Rtp,
                &rtp(*s, 0, 2),
                t0 + Duration::from_millis(i as u64),
                |_| 8000,
            );
        }
        assert_eq!(r.stats.lost, 3);
    }

    #[test]
    fn sequence_restart_needs_two_packets() {
        let t0 = Instant::now();
        let mut r = Receiver::default();
        for s in [10u16, 11, 12, 40000, 13, 14, 30000, 30001, 30002] {
            r.record(Kind::Rtp, &rtp(s, 0, 1), t0, |_| 8000);
        }
        assert_eq!(r.stats.lost, 0);
    }

    #[test]
    fn jitter_zero_when_regular_then_grows() {
        let t0 = Instant::now();
        let mut r = Receiver::default();
        for i in 0..50u32 {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            r.record(Kind::Rtp, &rtp(i as u16, 160 * i, 9), now, |_| 8000);
        }
        assert!(r.stats.jitter_ms < 0.01, "{}", r.stats.jitter_ms);
        // Alternate 10 ms early / late arrivals: |D| = 20 ms each time, jitter tends to 20 ms.
        for i in 50..400u32 {
            let skew: i64 = if i % 2 == 0 { 10 } else { -10 };
            let ms = (20 * i64::from(i) + skew) as u64;
            r.record(
                Kind::Rtp,
                &rtp(i as u16, 160 * i, 9),
                t0 + Duration::from_millis(ms),
                |_| 8000,
            );
        }
        assert!(
            (r.stats.jitter_ms - 20.0).abs() < 0.5,
            "{}",
            r.stats.jitter_ms
        );
    }
}
