use std::sync::Arc;

use voicemail::record::{RecordLimits, StopReason};
use voicemail::{Codec, Endpoint, EndpointConfig, EndpointEvent};

use crate::support::{ms, start, through, tone, Phone};

fn config(codec: Codec) -> EndpointConfig {
    EndpointConfig {
        codec,
        telephone_event: Some(101),
        ssrc: 77,
        first_seq: 1,
        first_ts: 1,
    }
}

#[test]
fn audio_is_recorded_digits_reported_and_junk_counted() {
    let t0 = start();
    let mut ep = Endpoint::new(t0, config(Codec::Pcma));
    let mut phone = Phone::new(Codec::Pcma);
    ep.start_recording(t0, RecordLimits::default());
    let audio = tone(0, 1600, 5000.0);
    for (i, c) in audio.chunks(160).enumerate() {
        ep.handle_datagram(t0 + ms(20 * i as u64), &phone.audio(c))
            .unwrap();
    }
    assert!(ep.handle_datagram(t0, b"junk").is_err());
    // PCMU on a PCMA call and comfort noise are ignored.
    let mut other = Phone::new(Codec::Pcmu);
    ep.handle_datagram(t0, &other.audio(&[0; 160])).unwrap();
    let start_ts = phone.ts;
    for end in [false, true, true, true] {
        ep.handle_datagram(t0 + ms(220), &phone.event('#', start_ts, end, 800))
            .unwrap();
    }
    let events: Vec<EndpointEvent> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert!(matches!(events[0], EndpointEvent::Digit(d) if d.digit == '#'));
    assert_eq!(
        events[1],
        EndpointEvent::RecordStopped(StopReason::Digit('#'))
    );
    assert_eq!(events.len(), 2);
    let stats = ep.stats();
    assert_eq!((stats.audio_in, stats.events_in, stats.ignored), (10, 4, 2));
    assert!(!ep.is_recording());
    let rec = ep.take_recording().unwrap();
    assert_eq!(rec.samples, through(Codec::Pcma, &audio));
}

#[test]
fn the_deadline_is_the_earliest_of_player_dtmf_and_recorder() {
    let t0 = start();
    let mut ep = Endpoint::new(t0, config(Codec::Pcmu));
    assert_eq!(ep.poll_timeout(), None);
    ep.play(t0 + ms(5), 9, Arc::from(vec![0i16; 160]));
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(5)));
    assert!(ep.poll_transmit(t0 + ms(5)).is_some());
    assert_eq!(ep.poll_event(), Some(EndpointEvent::PlayDone(9)));
    ep.start_recording(t0, RecordLimits::default());
    assert_eq!(
        ep.poll_timeout(),
        Some(t0 + RecordLimits::default().silence)
    );
    ep.handle_hangup();
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::RecordStopped(StopReason::Hangup))
    );
}
