//! The audio sender: clips of linear samples out as paced RTP packets.
//!
//! One packet per 20 ms frame (160 samples), sent when its due time has come: the k-th frame of
//! a talkspurt is due at `start + k × 20 ms` (no drift from late wake-ups; a late caller gets the
//! overdue frames back to back). The RTP timestamp is the sampling instant of the frame measured
//! from the player's epoch (so it keeps advancing across pauses, RFC 3550 §5.1), the sequence
//! number goes up by one per packet, and the first packet after a pause carries the marker bit
//! (RFC 3551 §4.1). Clips queued while one plays follow it without a pause; the last frame of
//! a clip is padded with silence.
//!
//! Inputs: [`Player::play`], [`Player::stop`]; outputs: [`Player::poll_transmit`],
//! [`Player::poll_timeout`], [`Player::poll_done`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{Codec, SAMPLE_RATE};
use crate::rtp::{self, RtpHeader};

/// The packetisation interval.
pub const FRAME: Duration = Duration::from_millis(20);
/// Samples per frame at 8000 Hz.
pub const FRAME_SAMPLES: usize = 160;

/// Linear 16-bit samples at 8000 Hz, shared between calls playing the same prompt.
pub type Audio = Arc<[i16]>;

#[derive(Debug)]
struct Clip {
    tag: u32,
    audio: Audio,
}

/// The sending side of one RTP stream.
#[derive(Debug)]
pub struct Player {
    codec: Codec,
    ssrc: u32,
    seq: u16,
    ts_base: u32,
    epoch: Instant,
    queue: VecDeque<Clip>,
    /// Next sample of the front clip.
    pos: usize,
    /// Due time of the next frame, while a clip plays.
    next_due: Option<Instant>,
    /// Due time of the last frame sent.
    last_due: Option<Instant>,
    marker: bool,
    done: VecDeque<u32>,
    frame: Vec<i16>,
    payload: Vec<u8>,
    packet: Vec<u8>,
    sent: u64,
}

impl Player {
    /// A player sending `codec` from `ssrc`, with random-looking first sequence number and
    /// timestamp chosen by the caller (RFC 3550 §5.1), timestamps counted from `epoch`.
    pub fn new(codec: Codec, ssrc: u32, first_seq: u16, first_ts: u32, epoch: Instant) -> Self {
        Self {
            codec,
            ssrc,
            seq: first_seq,
            ts_base: first_ts,
            epoch,
            queue: VecDeque::new(),
            pos: 0,
            next_due: None,
            last_due: None,
            marker: true,
            done: VecDeque::new(),
            frame: Vec::with_capacity(FRAME_SAMPLES),
            payload: Vec::with_capacity(FRAME_SAMPLES),
            packet: Vec::with_capacity(rtp::HEADER_LEN + FRAME_SAMPLES),
            sent: 0,
        }
    }

    /// The codec sent.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Queues `audio`; [`Self::poll_done`] returns `tag` once its last frame is sent.
    pub fn play(&mut self, now: Instant, tag: u32, audio: Audio) {
        self.queue.push_back(Clip { tag, audio });
        if self.next_due.is_none() {
            // A new talkspurt: never earlier than one frame after the last one sent.
            let start = match self.last_due {
                Some(last) => now.max(last + FRAME),
                None => now,
            };
            self.next_due = Some(start);
            self.marker = true;
        }
    }

    /// Drops every queued clip (barge-in); nothing is reported done for them.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.pos = 0;
        self.next_due = None;
    }

    /// Whether nothing is queued.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Packets sent so far.
    pub fn packets_sent(&self) -> u64 {
        self.sent
    }

    /// When the next frame is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_due
    }

    /// The tag of a clip that finished playing.
    pub fn poll_done(&mut self) -> Option<u32> {
        self.done.pop_front()
    }

    fn timestamp(&self, due: Instant) -> u32 {
        let micros = due.saturating_duration_since(self.epoch).as_micros();
        let samples = micros * u128::from(SAMPLE_RATE) / 1_000_000;
        self.ts_base.wrapping_add(samples as u32)
    }

    /// The next RTP packet if one is due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<&[u8]> {
        let due = self.next_due.filter(|&d| d <= now)?;
        self.frame.clear();
        while self.frame.len() < FRAME_SAMPLES {
            let Some(clip) = self.queue.front() else {
                break;
            };
            let take = (FRAME_SAMPLES - self.frame.len()).min(clip.audio.len() - self.pos);
            self.frame
                .extend_from_slice(&clip.audio[self.pos..self.pos + take]);
            self.pos += take;
            if self.pos >= clip.audio.len() {
                let tag = clip.tag;
                self.queue.pop_front();
                self.pos = 0;
                self.done.push_back(tag);
                // A clip ending mid-frame: the next clip starts with the next frame.
                if !self.frame.is_empty() {
                    break;
                }
            }
        }
        if self.frame.is_empty() {
            // Only empty clips were queued.
            self.next_due = None;
            return None;
        }
        self.frame.resize(FRAME_SAMPLES, 0);
        self.payload.clear();
        self.codec.encode(&self.frame, &mut self.payload);
        let header = RtpHeader {
            marker: std::mem::take(&mut self.marker),
            payload_type: self.codec.payload_type(),
            seq: self.seq,
            timestamp: self.timestamp(due),
            ssrc: self.ssrc,
        };
        rtp::write(&header, &self.payload, &mut self.packet);
        self.seq = self.seq.wrapping_add(1);
        self.sent += 1;
        self.last_due = Some(due);
        self.next_due = if self.queue.is_empty() {
            None
        } else {
            Some(due + FRAME)
        };
        Some(&self.packet)
    }
}
