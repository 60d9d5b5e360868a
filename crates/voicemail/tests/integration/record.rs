use voicemail::record::{RecordLimits, Recorder, StopReason};
use voicemail::rtp;
use voicemail::Codec;

use crate::support::{ms, start, through, tone, Phone};

fn limits() -> RecordLimits {
    RecordLimits {
        reorder_window: ms(60),
        silence: ms(2000),
        max_length: ms(10_000),
        ..RecordLimits::default()
    }
}

fn put(r: &mut Recorder, at: std::time::Instant, pkt: &[u8]) {
    let p = rtp::parse(pkt).unwrap();
    r.handle_audio(at, &p.header, Codec::Pcmu, p.payload);
}

#[test]
fn reordered_packets_land_in_place_and_gaps_are_silence() {
    let t0 = start();
    let mut phone = Phone::new(Codec::Pcmu);
    let audio = tone(0, 160 * 10, 6000.0);
    let packets: Vec<Vec<u8>> = audio.chunks(160).map(|c| phone.audio(c)).collect();
    let mut r = Recorder::new(t0, limits());
    // Order: 0 1 3 2 4 5 (6 lost) 7 9 8; the timestamps wrap around 2^32 on the way.
    for (k, &i) in [0usize, 1, 3, 2, 4, 5, 7, 9, 8].iter().enumerate() {
        put(&mut r, t0 + ms(20 * k as u64), &packets[i]);
    }
    r.handle_hangup();
    let rec = r.finish();
    assert_eq!(rec.reason, StopReason::Hangup);
    assert_eq!(rec.samples.len(), 1600);
    assert_eq!(rec.packets, 9);
    assert_eq!(rec.late, 0);
    let mut expected = through(Codec::Pcmu, &audio);
    expected[960..1120].fill(0); // packet 6 was lost: silence
    assert_eq!(rec.samples, expected);
}

#[test]
fn packets_behind_the_reorder_window_are_dropped() {
    let t0 = start();
    let mut phone = Phone::new(Codec::Pcmu);
    let packets: Vec<Vec<u8>> = (0..8)
        .map(|i| phone.audio(&tone(i * 160, 160, 6000.0)))
        .collect();
    let mut r = Recorder::new(t0, limits());
    for p in &packets[1..8] {
        put(&mut r, t0, p);
    }
    put(&mut r, t0, &packets[0]); // 140 ms behind the newest: beyond the 60 ms window
    let rec = r.finish();
    assert_eq!(rec.late, 1);
    assert_eq!(rec.packets, 7);
    // The track starts with the first packet received (1); 0 came too late to go before it.
    assert_eq!(
        rec.samples,
        through(Codec::Pcmu, &tone(160, 160 * 7, 6000.0))
    );
}

#[test]
fn silence_stops_the_recording_and_the_tail_is_trimmed() {
    let t0 = start();
    let mut phone = Phone::new(Codec::Pcmu);
    let mut r = Recorder::new(t0, limits());
    let mut now = t0;
    for i in 0..50 {
        put(&mut r, now, &phone.audio(&tone(i * 160, 160, 6000.0))); // 1 s of voice
        now += ms(20);
    }
    let last_voice = now - ms(20);
    for _ in 0..150 {
        put(&mut r, now, &phone.audio(&[3; 160])); // quiet
        now += ms(20);
        r.handle_timeout(now);
        if r.stopped().is_some() {
            break;
        }
    }
    assert_eq!(r.stopped(), Some(StopReason::Silence));
    assert_eq!(
        now,
        last_voice + ms(2000),
        "stopped exactly at the silence limit"
    );
    assert_eq!(r.poll_timeout(), None);
    let rec = r.finish();
    assert_eq!(rec.samples.len(), 8000 + 1600, "1 s of voice + 200 ms tail");
}

#[test]
fn a_silent_sender_and_the_length_limits_stop_it_too() {
    let t0 = start();
    let mut r = Recorder::new(t0, limits());
    assert_eq!(r.poll_timeout(), Some(t0 + ms(2000)));
    r.handle_timeout(t0 + ms(1999));
    assert_eq!(r.stopped(), None);
    r.handle_timeout(t0 + ms(2000));
    assert_eq!(r.stopped(), Some(StopReason::Silence), "no packets at all");

    // Max length by audio: 10 s of voice sent faster than real time.
    let mut phone = Phone::new(Codec::Pcmu);
    let mut r = Recorder::new(t0, limits());
    for i in 0..600 {
        put(&mut r, t0 + ms(i), &phone.audio(&tone(0, 160, 6000.0)));
    }
    assert_eq!(r.stopped(), Some(StopReason::MaxLength));
    assert_eq!(r.finish().samples.len(), 80_000);

    // Max length by wall time, even while voice keeps the silence timer fed.
    let mut r = Recorder::new(
        t0,
        RecordLimits {
            max_length: ms(3000),
            ..limits()
        },
    );
    let mut phone = Phone::new(Codec::Pcmu);
    for i in 0..100 {
        put(&mut r, t0 + ms(i * 20), &phone.audio(&tone(0, 160, 6000.0)));
    }
    r.handle_timeout(t0 + ms(3000));
    assert_eq!(r.stopped(), Some(StopReason::MaxLength));
}

#[test]
fn the_stop_digit_stops_it_and_other_digits_do_not() {
    let t0 = start();
    let mut r = Recorder::new(t0, limits());
    r.handle_digit('5');
    assert_eq!(r.stopped(), None);
    r.handle_digit('#');
    assert_eq!(r.stopped(), Some(StopReason::Digit('#')));
}

#[test]
fn a_new_ssrc_continues_the_track() {
    let t0 = start();
    let mut a = Phone::new(Codec::Pcmu);
    let mut b = Phone::new(Codec::Pcmu);
    b.ssrc = 99;
    b.ts = 5;
    let mut r = Recorder::new(t0, limits());
    put(&mut r, t0, &a.audio(&tone(0, 160, 6000.0)));
    put(&mut r, t0 + ms(20), &a.audio(&tone(160, 160, 6000.0)));
    put(&mut r, t0 + ms(40), &b.audio(&tone(320, 160, 6000.0)));
    let rec = r.finish();
    assert_eq!(rec.samples, through(Codec::Pcmu, &tone(0, 480, 6000.0)));
}
