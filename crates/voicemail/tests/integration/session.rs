use std::sync::Arc;
use std::time::Instant;

use voicemail::record::{RecordLimits, StopReason};
use voicemail::rtp;
use voicemail::{Action, Codec, Endpoint, EndpointConfig, Prompts, Script, Session};

use crate::support::{ms, start, through, tone, Phone};

fn clip(v: i16, frames: usize) -> voicemail::Audio {
    Arc::from(vec![v; 160 * frames])
}

/// Distinct constant levels so the test can tell which prompt is playing.
fn prompts() -> Prompts {
    Prompts {
        standard_greeting: clip(1000, 10),
        beep: clip(2000, 2),
        goodbye: clip(3000, 3),
        record_greeting: clip(4000, 4),
        confirm_greeting: clip(5000, 3),
        greeting_saved: clip(6000, 2),
        menu: clip(7000, 5),
        deleted: clip(8000, 2),
        no_more: clip(9000, 2),
    }
}

fn session(t0: Instant, script: Script) -> Session {
    let ep = Endpoint::new(
        t0,
        EndpointConfig {
            codec: Codec::Pcmu,
            telephone_event: Some(101),
            ssrc: 1,
            first_seq: 0,
            first_ts: 0,
        },
    );
    let limits = RecordLimits {
        silence: ms(3000),
        max_length: ms(30_000),
        ..RecordLimits::default()
    };
    Session::new(t0, ep, prompts(), script, limits)
}

/// Runs the session's clock from `*now` to `until`, collecting the level of each sent frame
/// (first sample, decoded) and the actions.
fn run(
    s: &mut Session,
    now: &mut Instant,
    until: Instant,
    sent: &mut Vec<i16>,
    acts: &mut Vec<Action>,
) {
    while *now <= until {
        s.handle_timeout(*now);
        while let Some(p) = s.poll_transmit(*now) {
            let p = rtp::parse(p).unwrap();
            sent.push(Codec::Pcmu.decode_sample(p.payload[0]));
        }
        s.after_transmit(*now);
        acts.extend(std::iter::from_fn(|| s.poll_action()));
        *now += ms(10);
    }
}

fn levels(sent: &[i16]) -> Vec<(i16, usize)> {
    let mut out: Vec<(i16, usize)> = Vec::new();
    for &v in sent {
        let v = ((v + 250) / 500) * 500; // undo µ-law rounding
        match out.last_mut() {
            Some((last, n)) if *last == v => *n += 1,
            _ => out.push((v, 1)),
        }
    }
    out
}

#[test]
fn deposit_plays_greeting_and_beep_records_until_pound_then_says_goodbye() {
    let t0 = start();
    let mut s = session(
        t0,
        Script::Deposit {
            greeting: clip(1000, 10),
        },
    );
    let (mut now, mut sent, mut acts) = (t0, Vec::new(), Vec::new());
    run(&mut s, &mut now, t0 + ms(300), &mut sent, &mut acts);
    assert_eq!(
        levels(&sent),
        vec![(1000, 10), (2000, 2)],
        "greeting then beep"
    );
    // The caller speaks 2 s, then presses #.
    let mut phone = Phone::new(Codec::Pcmu);
    let voice = tone(0, 16_000, 6000.0);
    for c in voice.chunks(160) {
        s.handle_datagram(now, &phone.audio(c));
        run_for(&mut s, &mut now, ms(10), &mut sent, &mut acts);
    }
    let ts = phone.ts;
    for end in [false, true, true, true] {
        s.handle_datagram(now, &phone.event('#', ts, end, 800));
    }
    run_for(&mut s, &mut now, ms(200), &mut sent, &mut acts);
    let Some(Action::SaveMessage(rec)) = acts.first() else {
        panic!("no message saved: {acts:?}");
    };
    assert_eq!(rec.reason, StopReason::Digit('#'));
    assert_eq!(rec.samples, through(Codec::Pcmu, &voice));
    assert_eq!(acts.last(), Some(&Action::Hangup), "after the goodbye");
    assert_eq!(levels(&sent).last(), Some(&(3000, 3)));
    assert!(s.is_done());
}

#[test]
fn pound_skips_the_greeting_and_a_hangup_keeps_the_message() {
    let t0 = start();
    let mut s = session(
        t0,
        Script::Deposit {
            greeting: clip(1000, 100),
        },
    );
    let (mut now, mut sent, mut acts) = (t0, Vec::new(), Vec::new());
    let mut phone = Phone::new(Codec::Pcmu);
    run(&mut s, &mut now, t0 + ms(100), &mut sent, &mut acts);
    s.handle_datagram(now, &phone.event('#', 0, true, 400));
    run_for(&mut s, &mut now, ms(100), &mut sent, &mut acts);
    assert_eq!(levels(&sent)[1], (2000, 2), "the beep right after #");
    for c in tone(0, 12_000, 6000.0).chunks(160) {
        s.handle_datagram(now, &phone.audio(c));
        run_for(&mut s, &mut now, ms(10), &mut sent, &mut acts);
    }
    s.handle_hangup(now);
    acts.extend(std::iter::from_fn(|| s.poll_action()));
    assert!(
        matches!(&acts[..], [Action::SaveMessage(r)] if r.samples.len() == 12_000 && r.reason == StopReason::Hangup)
    );
}

#[test]
fn a_deposit_under_one_second_is_discarded() {
    let t0 = start();
    let mut s = session(
        t0,
        Script::Deposit {
            greeting: clip(1000, 1),
        },
    );
    let (mut now, mut sent, mut acts) = (t0, Vec::new(), Vec::new());
    run(&mut s, &mut now, t0 + ms(100), &mut sent, &mut acts);
    let mut phone = Phone::new(Codec::Pcmu);
    for c in tone(0, 7_200, 6000.0).chunks(160) {
        s.handle_datagram(now, &phone.audio(c));
    }
    s.handle_hangup(now);
    acts.extend(std::iter::from_fn(|| s.poll_action()));
    assert_eq!(acts, vec![]);
}

#[test]
fn playback_loads_marks_old_and_the_menu_repeats_deletes_and_moves_on() {
    let t0 = start();
    let mut s = session(
        t0,
        Script::Playback {
            messages: vec![30, 20],
        },
    );
    let (mut now, mut sent, mut acts) = (t0, Vec::new(), Vec::new());
    let mut phone = Phone::new(Codec::Pcmu);
    run(&mut s, &mut now, t0, &mut sent, &mut acts);
    assert_eq!(acts, vec![Action::Load(30)]);
    s.handle_loaded(now, 30, Some(clip(500, 5)));
    run_for(&mut s, &mut now, ms(300), &mut sent, &mut acts);
    assert_eq!(
        levels(&sent),
        vec![(500, 5), (7000, 5)],
        "the message then the menu"
    );
    assert_eq!(acts, vec![Action::Load(30), Action::MarkOld(30)]);
    // 1: repeat (not marked old twice).
    s.handle_datagram(now, &phone.event('1', 1, true, 400));
    run_for(&mut s, &mut now, ms(0), &mut sent, &mut acts);
    assert_eq!(acts.last(), Some(&Action::Load(30)));
    s.handle_loaded(now, 30, Some(clip(500, 5)));
    run_for(&mut s, &mut now, ms(50), &mut sent, &mut acts);
    // 3 during the message: delete, "deleted", then the next message.
    s.handle_datagram(now, &phone.event('3', 2, true, 400));
    run_for(&mut s, &mut now, ms(100), &mut sent, &mut acts);
    assert_eq!(&acts[3..], &[Action::Delete(30), Action::Load(20)]);
    s.handle_loaded(now, 20, None); // gone meanwhile: skipped
    run_for(&mut s, &mut now, ms(100), &mut sent, &mut acts);
    assert_eq!(acts.last(), Some(&Action::Hangup), "no more messages");
    assert_eq!(levels(&sent).last(), Some(&(9000, 2)));
}

#[test]
fn the_menu_times_out_with_a_hangup() {
    let t0 = start();
    let mut s = session(t0, Script::Playback { messages: vec![1] });
    let (mut now, mut sent, mut acts) = (t0, Vec::new(), Vec::new());
    run(&mut s, &mut now, t0, &mut sent, &mut acts);
    s.handle_loaded(now, 1, Some(clip(500, 1)));
    run(&mut s, &mut now, t0 + ms(200), &mut sent, &mut acts);
    // The message at 10 ms, the menu 30..=110 ms, then the wait.
    assert_eq!(s.poll_timeout(), Some(t0 + ms(110) + Session::MENU_WAIT));
    run(&mut s, &mut now, t0 + ms(10_000), &mut sent, &mut acts);
    assert_ne!(acts.last(), Some(&Action::Hangup));
    run(&mut s, &mut now, t0 + ms(10_200), &mut sent, &mut acts);
    assert_eq!(acts.last(), Some(&Action::Hangup));
}

#[test]
fn greeting_is_recorded_replayed_and_kept_on_pound_or_retaken_on_star() {
    let t0 = start();
    let mut s = session(t0, Script::Greeting);
    let (mut now, mut sent, mut acts) = (t0, Vec::new(), Vec::new());
    let mut phone = Phone::new(Codec::Pcmu);
    let take = |s: &mut Session,
                now: &mut Instant,
                sent: &mut Vec<i16>,
                acts: &mut Vec<Action>,
                phone: &mut Phone,
                level: f64| {
        run_for(s, now, ms(200), sent, acts);
        for c in tone(0, 8_000, level).chunks(160) {
            s.handle_datagram(*now, &phone.audio(c));
            run_for(s, now, ms(10), sent, acts);
        }
        let ts = phone.ts;
        s.handle_datagram(*now, &phone.event('#', ts, true, 400));
        run_for(s, now, ms(2200), sent, acts);
    };
    take(&mut s, &mut now, &mut sent, &mut acts, &mut phone, 6000.0);
    // Replayed (a 6000-level tone, 50 frames) then the confirm prompt.
    let l = levels(&sent);
    assert_eq!(&l[..2], &[(4000, 4), (2000, 2)]);
    assert_eq!(l.last(), Some(&(5000, 3)));
    assert!(sent.len() >= 6 + 50 + 3);
    s.handle_datagram(now, &phone.event('*', 1, true, 400));
    take(&mut s, &mut now, &mut sent, &mut acts, &mut phone, 3000.0);
    s.handle_datagram(now, &phone.event('#', 2, true, 400));
    run_for(&mut s, &mut now, ms(200), &mut sent, &mut acts);
    let Some(Action::SaveGreeting(g)) = acts.first() else {
        panic!("{acts:?}");
    };
    assert_eq!(
        g,
        &through(Codec::Pcmu, &tone(0, 8_000, 3000.0)),
        "the second take"
    );
    assert_eq!(acts.last(), Some(&Action::Hangup));
}

#[test]
fn built_in_prompts_load_and_an_operator_file_replaces_one() {
    let built = voicemail::prompts::load(None).unwrap();
    assert!(
        built.standard_greeting.len() > 8000 * 3,
        "several seconds of speech"
    );
    assert!(built.beep.len() == 3200);
    let dir = std::env::temp_dir().join(format!("vm-prompts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("beep.wav"), voicemail::wav::write_pcm16(&[9; 800])).unwrap();
    let own = voicemail::prompts::load(Some(&dir)).unwrap();
    assert_eq!(&own.beep[..], &[9; 800][..]);
    assert_eq!(own.menu, built.menu);
    std::fs::write(dir.join("menu.wav"), b"not a wav").unwrap();
    let err = voicemail::prompts::load(Some(&dir))
        .unwrap_err()
        .to_string();
    assert!(err.contains("menu.wav"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn run_for(
    s: &mut Session,
    now: &mut Instant,
    d: std::time::Duration,
    sent: &mut Vec<i16>,
    acts: &mut Vec<Action>,
) {
    let until = *now + d;
    run(s, now, until, sent, acts);
}
