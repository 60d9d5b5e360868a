//! The audio recorder: RTP audio packets in, one continuous track of linear samples out.
//!
//! Each packet is placed by its RTP timestamp (extended across wrap-around), so a packet
//! arriving out of order lands where it belongs and a gap (lost packets, silence suppression)
//! is filled with silence. Packets more than the reorder window behind the newest one are
//! dropped as too late (the recording behind that point is final). A new SSRC (the far end
//! switched streams) continues the track where it ends.
//!
//! Recording stops on a stop digit (`#`), after [`RecordLimits::silence`] with no voiced frame
//! (wall clock: a sender that stops sending is silent too), at [`RecordLimits::max_length`] of
//! audio or wall time, or on hang-up. A silence stop trims the trailing silence.
//!
//! Inputs: [`Recorder::handle_audio`], [`Recorder::handle_digit`], [`Recorder::handle_hangup`],
//! [`Recorder::handle_timeout`]; outputs: [`Recorder::poll_timeout`], [`Recorder::stopped`],
//! [`Recorder::finish`].

use std::time::{Duration, Instant};

use crate::codec::{Codec, SAMPLE_RATE};
use crate::rtp::RtpHeader;

/// When a recording stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLimits {
    /// How far (in media time) behind the newest packet a late packet is still placed.
    pub reorder_window: Duration,
    /// Stop after this long with no voiced frame.
    pub silence: Duration,
    /// Stop at this length.
    pub max_length: Duration,
    /// A frame whose mean absolute sample value is above this is voice.
    pub voice_level: u16,
    /// Digits that end the recording.
    pub stop_digits: String,
}

impl Default for RecordLimits {
    fn default() -> Self {
        Self {
            reorder_window: Duration::from_millis(100),
            silence: Duration::from_secs(5),
            max_length: Duration::from_secs(120),
            voice_level: 200,
            stop_digits: "#".to_owned(),
        }
    }
}

/// Why a recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// A stop digit.
    Digit(char),
    /// No voice for [`RecordLimits::silence`].
    Silence,
    /// [`RecordLimits::max_length`] reached.
    MaxLength,
    /// The caller hung up.
    Hangup,
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Linear samples at 8000 Hz.
    pub samples: Vec<i16>,
    /// Why it stopped.
    pub reason: StopReason,
    /// Audio packets placed.
    pub packets: u64,
    /// Packets dropped for arriving behind the reorder window.
    pub late: u64,
}

impl Recording {
    /// The length of the audio.
    pub fn duration(&self) -> Duration {
        samples_duration(self.samples.len())
    }
}

/// The duration of `n` samples at 8000 Hz.
pub fn samples_duration(n: usize) -> Duration {
    Duration::from_micros(n as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
}

fn duration_samples(d: Duration) -> usize {
    (d.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as usize
}

#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    last_ts: u32,
    last_ext: i64,
    /// Track index of extended timestamp 0.
    origin: i64,
}

/// The receiving side of one RTP audio stream while recording.
#[derive(Debug)]
pub struct Recorder {
    limits: RecordLimits,
    started_at: Instant,
    samples: Vec<i16>,
    stream: Option<Stream>,
    /// End of the written track.
    high: usize,
    /// End of the last voiced frame.
    voice_end: usize,
    last_voice_at: Instant,
    stopped: Option<StopReason>,
    packets: u64,
    late: u64,
    decoded: Vec<i16>,
}

impl Recorder {
    /// Starts recording at `now`.
    pub fn new(now: Instant, limits: RecordLimits) -> Self {
        Self {
            limits,
            started_at: now,
            samples: Vec::new(),
            stream: None,
            high: 0,
            voice_end: 0,
            last_voice_at: now,
            stopped: None,
            packets: 0,
            late: 0,
            decoded: Vec::with_capacity(160),
        }
    }

    /// Why the recording stopped, once it has.
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    fn max_samples(&self) -> usize {
        duration_samples(self.limits.max_length)
    }

    /// One audio packet in `codec`.
    pub fn handle_audio(&mut self, now: Instant, header: &RtpHeader, codec: Codec, payload: &[u8]) {
        if self.stopped.is_some() || payload.is_empty() {
            return;
        }
        let ext = match &mut self.stream {
            Some(s) if s.ssrc == header.ssrc => {
                let delta = i64::from(header.timestamp.wrapping_sub(s.last_ts) as i32);
                let ext = s.last_ext + delta;
                if delta > 0 {
                    s.last_ts = header.timestamp;
                    s.last_ext = ext;
                }
                ext
            }
            _ => {
                // First packet, or a new source: it continues the track at its end.
                self.stream = Some(Stream {
                    ssrc: header.ssrc,
                    last_ts: header.timestamp,
                    last_ext: 0,
                    origin: self.high as i64,
                });
                0
            }
        };
        let origin = self.stream.map_or(0, |s| s.origin);
        let index = origin + ext;
        let committed = self
            .high
            .saturating_sub(duration_samples(self.limits.reorder_window));
        if index < committed as i64 {
            self.late += 1;
            return;
        }
        let index = index as usize;
        let max = self.max_samples();
        if index >= max {
            self.stop(StopReason::MaxLength);
            return;
        }
        self.decoded.clear();
        codec.decode(payload, &mut self.decoded);
        let end = (index + self.decoded.len()).min(max);
        if self.samples.len() < end {
            self.samples.resize(end, 0); // the gap before this packet is silence
        }
        self.samples[index..end].copy_from_slice(&self.decoded[..end - index]);
        self.packets += 1;
        self.high = self.high.max(end);
        let level = self
            .decoded
            .iter()
            .map(|&s| u64::from(s.unsigned_abs()))
            .sum::<u64>()
            / self.decoded.len() as u64;
        if level > u64::from(self.limits.voice_level) {
            self.last_voice_at = now;
            self.voice_end = self.voice_end.max(end);
        }
        if self.high >= max {
            self.stop(StopReason::MaxLength);
        }
    }

    /// A DTMF digit from the same caller.
    pub fn handle_digit(&mut self, digit: char) {
        if self.stopped.is_none() && self.limits.stop_digits.contains(digit) {
            self.stop(StopReason::Digit(digit));
        }
    }

    /// The caller hung up (BYE).
    pub fn handle_hangup(&mut self) {
        if self.stopped.is_none() {
            self.stop(StopReason::Hangup);
        }
    }

    fn stop(&mut self, reason: StopReason) {
        self.stopped = Some(reason);
        if reason == StopReason::Silence {
            // Keep a short tail after the last voice.
            let keep = self.voice_end + duration_samples(Duration::from_millis(200));
            self.samples.truncate(keep);
        }
    }

    /// The next silence or length deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped.is_some() {
            return None;
        }
        Some(
            (self.last_voice_at + self.limits.silence)
                .min(self.started_at + self.limits.max_length),
        )
    }

    /// Applies the silence and wall-clock length limits.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped.is_some() {
            return;
        }
        if now >= self.started_at + self.limits.max_length {
            self.stop(StopReason::MaxLength);
        } else if now >= self.last_voice_at + self.limits.silence {
            self.stop(StopReason::Silence);
        }
    }

    /// The audio so far (all of it once stopped).
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The recording; `Hangup` if it had not stopped.
    pub fn finish(self) -> Recording {
        Recording {
            reason: self.stopped.unwrap_or(StopReason::Hangup),
            samples: self.samples,
            packets: self.packets,
            late: self.late,
        }
    }
}
