//! The media endpoint of one call: a UA's RTP side, as a sans-IO state machine.
//!
//! It owns the [`Player`] (what we send), the [`DtmfReceiver`] and, while recording, a
//! [`Recorder`]. Received datagrams are sorted by payload type: the negotiated audio codec is
//! recorded (when recording), `telephone-event` goes to DTMF, comfort noise and anything else is
//! ignored (counted).
//!
//! Polling order for a driver: feed [`Endpoint::handle_datagram`] / [`Endpoint::handle_timeout`],
//! then drain [`Endpoint::poll_event`] (and react: play, record, stop), then drain
//! [`Endpoint::poll_transmit`], then sleep until [`Endpoint::poll_timeout`].

use std::collections::VecDeque;
use std::time::Instant;

use crate::codec::Codec;
use crate::dtmf::{Digit, DtmfReceiver};
use crate::play::{Audio, Player};
use crate::record::{RecordLimits, Recorder, Recording, StopReason};
use crate::rtp::{self, RtpError};

/// What was negotiated in SDP for this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The audio codec both ways.
    pub codec: Codec,
    /// The `telephone-event` payload type, if the offer had one.
    pub telephone_event: Option<u8>,
    /// Our SSRC.
    pub ssrc: u32,
    /// Our first sequence number.
    pub first_seq: u16,
    /// Our first timestamp.
    pub first_ts: u32,
}

/// What the endpoint reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// A DTMF digit was received.
    Digit(Digit),
    /// A clip queued with this tag has been sent completely.
    PlayDone(u32),
    /// The recording stopped (take it with [`Endpoint::take_recording`]).
    RecordStopped(StopReason),
}

/// Counters of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Audio packets in the negotiated codec received.
    pub audio_in: u64,
    /// telephone-event packets received.
    pub events_in: u64,
    /// Datagrams that were not RTP, or of another payload type.
    pub ignored: u64,
}

/// One call's RTP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    player: Player,
    dtmf: DtmfReceiver,
    recorder: Option<Recorder>,
    record_reported: bool,
    events: VecDeque<EndpointEvent>,
    stats: EndpointStats,
}

impl Endpoint {
    /// An endpoint starting at `now`.
    pub fn new(now: Instant, config: EndpointConfig) -> Self {
        Self {
            player: Player::new(
                config.codec,
                config.ssrc,
                config.first_seq,
                config.first_ts,
                now,
            ),
            config,
            dtmf: DtmfReceiver::new(),
            recorder: None,
            record_reported: false,
            events: VecDeque::new(),
            stats: EndpointStats::default(),
        }
    }

    /// The negotiated parameters.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// One received datagram. Non-RTP input is an error for the caller to count, never a panic.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), RtpError> {
        let packet = match rtp::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.ignored += 1;
                return Err(e);
            }
        };
        let pt = packet.header.payload_type;
        if pt == self.config.codec.payload_type() {
            self.stats.audio_in += 1;
            if let Some(r) = &mut self.recorder {
                r.handle_audio(now, &packet.header, self.config.codec, packet.payload);
            }
        } else if Some(pt) == self.config.telephone_event {
            self.stats.events_in += 1;
            if self
                .dtmf
                .handle_packet(now, &packet.header, packet.payload)
                .is_err()
            {
                self.stats.ignored += 1;
            }
        } else {
            self.stats.ignored += 1;
        }
        self.collect();
        Ok(())
    }

    /// Deadlines passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dtmf.handle_timeout(now);
        if let Some(r) = &mut self.recorder {
            r.handle_timeout(now);
        }
        self.collect();
    }

    /// The far end hung up: a running recording stops with [`StopReason::Hangup`].
    pub fn handle_hangup(&mut self) {
        if let Some(r) = &mut self.recorder {
            r.handle_hangup();
        }
        self.player.stop();
        self.collect();
    }

    fn collect(&mut self) {
        while let Some(d) = self.dtmf.poll_digit() {
            if let Some(r) = &mut self.recorder {
                r.handle_digit(d.digit);
            }
            self.events.push_back(EndpointEvent::Digit(d));
        }
        if !self.record_reported {
            if let Some(reason) = self.recorder.as_ref().and_then(Recorder::stopped) {
                self.record_reported = true;
                self.events.push_back(EndpointEvent::RecordStopped(reason));
            }
        }
    }

    /// Queues a clip (see [`Player::play`]).
    pub fn play(&mut self, now: Instant, tag: u32, audio: Audio) {
        self.player.play(now, tag, audio);
    }

    /// Stops playing (barge-in).
    pub fn stop_playing(&mut self) {
        self.player.stop();
    }

    /// Starts a recording (replacing one not taken).
    pub fn start_recording(&mut self, now: Instant, limits: RecordLimits) {
        self.recorder = Some(Recorder::new(now, limits));
        self.record_reported = false;
    }

    /// Whether a recording runs.
    pub fn is_recording(&self) -> bool {
        self.recorder
            .as_ref()
            .is_some_and(|r| r.stopped().is_none())
    }

    /// Takes the recording (stopped or not; a running one counts as hung up).
    pub fn take_recording(&mut self) -> Option<Recording> {
        self.record_reported = false;
        self.recorder.take().map(Recorder::finish)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        if self.events.is_empty() {
            if let Some(tag) = self.player.poll_done() {
                return Some(EndpointEvent::PlayDone(tag));
            }
        }
        self.events.pop_front()
    }

    /// The next RTP packet due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<&[u8]> {
        self.player.poll_transmit(now)
    }

    /// The earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.player.poll_timeout(),
            self.dtmf.poll_timeout(),
            self.recorder.as_ref().and_then(Recorder::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Packets sent.
    pub fn packets_sent(&self) -> u64 {
        self.player.packets_sent()
    }
}
