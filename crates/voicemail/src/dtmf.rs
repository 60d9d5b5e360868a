//! RFC 4733 telephone-event reception: DTMF digits out of `telephone-event` RTP packets.
//!
//! One event is all the packets with the same RTP timestamp (§2.5.1.1: the timestamp is the
//! event's start and stays the same for all its packets). A sender repeats the packet with the E
//! (end) bit three times (§2.5.1.4) and may lose some of them, so a digit is reported once, when
//! the first end packet arrives, when the next event starts with no end seen, or when no packet
//! of the event arrived for [`EVENT_TIMEOUT`] (all end packets lost). Retransmissions and late
//! packets of an ended event are ignored.
//!
//! Inputs: [`DtmfReceiver::handle_packet`], [`DtmfReceiver::handle_timeout`];
//! outputs: [`DtmfReceiver::poll_digit`], [`DtmfReceiver::poll_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtp::RtpHeader;

/// An event with no packet for this long has ended (its end packets were all lost).
pub const EVENT_TIMEOUT: Duration = Duration::from_millis(250);

/// A received digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit {
    /// `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    /// The event's duration in RTP timestamp units (1/8000 s), as the last packet said.
    pub duration: u16,
}

/// Why a telephone-event payload is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is not at least 4 bytes (§2.3).
    #[error("telephone-event payload of {0} bytes, 4 needed")]
    Short(usize),
}

/// The digit of an event code (§3.2), `None` for codes that are not DTMF (flash, ...).
pub fn event_digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some(char::from(b'0' + code)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + code - 12)),
        _ => None,
    }
}

/// The event code of a digit (the sender's side, used by tests and the prompt player).
pub fn digit_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
struct Ongoing {
    key: (u32, u32),
    code: u8,
    duration: u16,
    last_at: Instant,
}

/// Telephone-event receiver of one RTP stream.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    ongoing: Option<Ongoing>,
    /// (ssrc, timestamp) of recently finished events, to drop their retransmitted end packets.
    finished: VecDeque<(u32, u32)>,
    digits: VecDeque<Digit>,
}

impl DtmfReceiver {
    /// A receiver with nothing heard.
    pub fn new() -> Self {
        Self::default()
    }

    /// One `telephone-event` packet.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        header: &RtpHeader,
        payload: &[u8],
    ) -> Result<(), DtmfError> {
        if payload.len() < 4 {
            return Err(DtmfError::Short(payload.len()));
        }
        let code = payload[0];
        let end = payload[1] & 0x80 != 0;
        let duration = u16::from_be_bytes([payload[2], payload[3]]);
        let key = (header.ssrc, header.timestamp);
        if self.finished.contains(&key) {
            return Ok(()); // a retransmitted end packet, or a late one
        }
        match self.ongoing {
            Some(o) if o.key == key => {}
            Some(_) => self.finish(), // a new event while the last had no end packet
            None => {}
        }
        let ongoing = self.ongoing.get_or_insert(Ongoing {
            key,
            code,
            duration,
            last_at: now,
        });
        ongoing.duration = ongoing.duration.max(duration);
        ongoing.last_at = now;
        if end {
            self.finish();
        }
        Ok(())
    }

    fn finish(&mut self) {
        let Some(o) = self.ongoing.take() else {
            return;
        };
        if self.finished.len() >= 8 {
            self.finished.pop_front();
        }
        self.finished.push_back(o.key);
        if let Some(digit) = event_digit(o.code) {
            self.digits.push_back(Digit {
                digit,
                duration: o.duration,
            });
        }
    }

    /// When [`Self::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ongoing.map(|o| o.last_at + EVENT_TIMEOUT)
    }

    /// Ends an event whose end packets were all lost.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.finish();
        }
    }

    /// The next received digit.
    pub fn poll_digit(&mut self) -> Option<Digit> {
        self.digits.pop_front()
    }
}

/// Builds a telephone-event payload (sender side; tests and tools).
pub fn event_payload(code: u8, end: bool, volume: u8, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [code, (u8::from(end) << 7) | (volume & 0x3F), d[0], d[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_codes_map_both_ways() {
        for code in 0..16 {
            assert_eq!(digit_event(event_digit(code).unwrap()), Some(code));
        }
        assert_eq!(event_digit(16), None);
        assert_eq!(digit_event('x'), None);
    }
}
