use std::time::{Duration, Instant};

use voicemail::dtmf::{digit_event, event_payload};
use voicemail::rtp::{self, RtpHeader};
use voicemail::Codec;

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A far-end RTP sender (the caller's phone).
pub(crate) struct Phone {
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) codec: Codec,
}

impl Phone {
    pub(crate) fn new(codec: Codec) -> Self {
        Self {
            ssrc: 0x1234_5678,
            seq: 65530,         // wraps soon
            ts: u32::MAX - 800, // wraps soon
            codec,
        }
    }

    /// The next 20 ms audio packet of `samples` (160 of them).
    pub(crate) fn audio(&mut self, samples: &[i16]) -> Vec<u8> {
        let mut payload = Vec::new();
        self.codec.encode(samples, &mut payload);
        let mut out = Vec::new();
        rtp::write(
            &RtpHeader {
                marker: false,
                payload_type: self.codec.payload_type(),
                seq: self.seq,
                timestamp: self.ts,
                ssrc: self.ssrc,
            },
            &payload,
            &mut out,
        );
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(samples.len() as u32);
        out
    }

    /// A telephone-event packet (payload type 101) of the event starting at `start_ts`.
    pub(crate) fn event(
        &mut self,
        digit: char,
        start_ts: u32,
        end: bool,
        duration: u16,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        rtp::write(
            &RtpHeader {
                marker: !end && duration <= 160,
                payload_type: 101,
                seq: self.seq,
                timestamp: start_ts,
                ssrc: self.ssrc,
            },
            &event_payload(digit_event(digit).unwrap(), end, 10, duration),
            &mut out,
        );
        self.seq = self.seq.wrapping_add(1);
        out
    }
}

/// A 400 Hz tone at `amplitude` (voice for the recorder), `n` samples from sample `from`.
pub(crate) fn tone(from: usize, n: usize, amplitude: f64) -> Vec<i16> {
    (from..from + n)
        .map(|i| {
            (amplitude * (2.0 * std::f64::consts::PI * 400.0 * i as f64 / 8000.0).sin()) as i16
        })
        .collect()
}

/// What the codec does to `samples` (encode + decode).
pub(crate) fn through(codec: Codec, samples: &[i16]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| codec.decode_sample(codec.encode_sample(s)))
        .collect()
}

pub(crate) fn start() -> Instant {
    Instant::now()
}
