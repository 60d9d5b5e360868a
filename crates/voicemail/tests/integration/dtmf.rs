use voicemail::rtp;
use voicemail::{Codec, DtmfReceiver};

use crate::support::{ms, start, Phone};

fn feed(rx: &mut DtmfReceiver, at: std::time::Instant, pkt: &[u8]) {
    let p = rtp::parse(pkt).unwrap();
    rx.handle_packet(at, &p.header, p.payload).unwrap();
}

#[test]
fn one_digit_per_event_despite_three_end_packets() {
    let t0 = start();
    let mut phone = Phone::new(Codec::Pcmu);
    let mut rx = DtmfReceiver::new();
    let ts = 4000;
    for (i, d) in [160u16, 320, 480].iter().enumerate() {
        feed(
            &mut rx,
            t0 + ms(20 * i as u64),
            &phone.event('5', ts, false, *d),
        );
        assert_eq!(rx.poll_digit(), None, "not ended yet");
    }
    for i in 0..3 {
        feed(&mut rx, t0 + ms(60 + i), &phone.event('5', ts, true, 640));
    }
    let d = rx.poll_digit().unwrap();
    assert_eq!((d.digit, d.duration), ('5', 640));
    assert_eq!(
        rx.poll_digit(),
        None,
        "the retransmitted end packets are not new digits"
    );
    // The same digit again is a new event (new timestamp).
    feed(
        &mut rx,
        t0 + ms(200),
        &phone.event('5', ts + 1600, true, 400),
    );
    assert_eq!(rx.poll_digit().map(|d| d.digit), Some('5'));
    assert_eq!(rx.poll_timeout(), None);
}

#[test]
fn lost_end_packets_end_the_event_by_timeout_or_by_the_next_event() {
    let t0 = start();
    let mut phone = Phone::new(Codec::Pcmu);
    let mut rx = DtmfReceiver::new();
    feed(&mut rx, t0, &phone.event('#', 100, false, 160));
    feed(&mut rx, t0 + ms(20), &phone.event('#', 100, false, 320));
    assert_eq!(
        rx.poll_timeout(),
        Some(t0 + ms(20) + voicemail::dtmf::EVENT_TIMEOUT)
    );
    rx.handle_timeout(t0 + ms(100));
    assert_eq!(rx.poll_digit(), None, "not yet");
    rx.handle_timeout(t0 + ms(270));
    assert_eq!(rx.poll_digit().map(|d| d.digit), Some('#'));
    // A late end packet of the event that timed out is not a second '#'.
    feed(&mut rx, t0 + ms(280), &phone.event('#', 100, true, 480));
    assert_eq!(rx.poll_digit(), None);

    feed(&mut rx, t0 + ms(300), &phone.event('1', 900, false, 160));
    feed(&mut rx, t0 + ms(320), &phone.event('2', 1300, false, 160));
    assert_eq!(
        rx.poll_digit().map(|d| d.digit),
        Some('1'),
        "ended by the next event"
    );
    feed(&mut rx, t0 + ms(340), &phone.event('2', 1300, true, 320));
    assert_eq!(rx.poll_digit().map(|d| d.digit), Some('2'));
}

#[test]
fn short_payloads_are_errors_and_flash_is_not_a_digit() {
    let t0 = start();
    let mut rx = DtmfReceiver::new();
    let h = rtp::RtpHeader {
        marker: false,
        payload_type: 101,
        seq: 1,
        timestamp: 1,
        ssrc: 1,
    };
    assert!(rx.handle_packet(t0, &h, &[1, 2]).is_err());
    rx.handle_packet(t0, &h, &voicemail::dtmf::event_payload(16, true, 10, 800))
        .unwrap();
    assert_eq!(rx.poll_digit(), None);
}
