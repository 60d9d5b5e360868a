use std::sync::Arc;

use voicemail::rtp;
use voicemail::{Codec, Player, FRAME_SAMPLES};

use crate::support::{ms, start, through, tone};

#[test]
fn frames_are_paced_at_20_ms_with_timestamps_by_sampling_instant() {
    let t0 = start();
    let mut p = Player::new(Codec::Pcmu, 7, 65534, 1000, t0);
    let clip = tone(0, 500, 8000.0); // 3 frames + 20 samples
    p.play(t0, 1, Arc::from(clip.clone()));
    let mut got = Vec::new();
    let mut now = t0;
    for _ in 0..200 {
        while let Some(pkt) = p.poll_transmit(now) {
            let pkt = rtp::parse(pkt).unwrap();
            got.push((now, pkt.header, pkt.payload.to_vec()));
        }
        now += ms(1);
    }
    assert_eq!(got.len(), 4, "500 samples make 4 frames");
    for (i, (at, h, payload)) in got.iter().enumerate() {
        assert_eq!(
            *at,
            t0 + ms(20 * i as u64),
            "frame {i} sent exactly on time"
        );
        assert_eq!(h.timestamp, 1000 + 160 * i as u32);
        assert_eq!(h.seq, 65534u16.wrapping_add(i as u16), "sequence wraps");
        assert_eq!(h.marker, i == 0, "marker on the first packet only");
        assert_eq!(h.payload_type, 0);
        assert_eq!(h.ssrc, 7);
        assert_eq!(payload.len(), FRAME_SAMPLES);
    }
    let sent: Vec<i16> = got
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|&b| Codec::Pcmu.decode_sample(b)))
        .collect();
    assert_eq!(&sent[..500], &through(Codec::Pcmu, &clip)[..]);
    assert!(
        sent[500..].iter().all(|&s| s == 0),
        "last frame padded with silence"
    );
    assert_eq!(p.poll_done(), Some(1));
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn a_late_driver_gets_overdue_frames_without_drift_and_pauses_advance_the_timestamp() {
    let t0 = start();
    let mut p = Player::new(Codec::Pcma, 1, 0, 0, t0);
    p.play(t0, 1, Arc::from(vec![100i16; 160 * 5]));
    // The driver wakes 55 ms late: frames due at 0, 20, 40 go at once, then 60, 80 on time.
    let mut burst = 0;
    while p.poll_transmit(t0 + ms(55)).is_some() {
        burst += 1;
    }
    assert_eq!(burst, 3);
    assert_eq!(p.poll_timeout(), Some(t0 + ms(60)));
    let h = rtp::parse(p.poll_transmit(t0 + ms(60)).unwrap())
        .unwrap()
        .header;
    assert_eq!(h.timestamp, 480);
    assert!(p.poll_transmit(t0 + ms(70)).is_none());
    assert!(p.poll_transmit(t0 + ms(80)).is_some());
    assert!(p.is_idle());
    // A second clip 1 s later: a new talkspurt, marker set, timestamp 8000 samples on.
    p.play(t0 + ms(1080), 2, Arc::from(vec![5i16; 160]));
    let h = rtp::parse(p.poll_transmit(t0 + ms(1080)).unwrap())
        .unwrap()
        .header;
    assert!(h.marker);
    assert_eq!(h.timestamp, 8640);
    assert_eq!(h.seq, 5);
    assert_eq!(h.payload_type, 8);
}

#[test]
fn queued_clips_follow_without_a_pause_and_stop_drops_them() {
    let t0 = start();
    let mut p = Player::new(Codec::Pcmu, 1, 0, 0, t0);
    p.play(t0, 1, Arc::from(vec![1i16; 160]));
    p.play(t0, 2, Arc::from(vec![2i16; 320]));
    let a = rtp::parse(p.poll_transmit(t0).unwrap()).unwrap().header;
    let b = rtp::parse(p.poll_transmit(t0 + ms(20)).unwrap())
        .unwrap()
        .header;
    assert!(a.marker && !b.marker);
    assert_eq!(b.timestamp - a.timestamp, 160);
    assert_eq!(p.poll_done(), Some(1));
    p.stop();
    assert!(p.poll_transmit(t0 + ms(40)).is_none());
    assert_eq!(p.poll_done(), None, "a stopped clip is not done");
}
