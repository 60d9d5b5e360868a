//! baresip and the built-in voicemail: a baresip phone leaves a message (its `aufile` source
//! plays the test recording, PCMU) for a user with no device, and plays it back through
//! `950msgN` (its `sndfile` module writes what it heard to a WAV file).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::clients::{site, tools, Audio, Baresip, DOMAIN};
use crate::harness::{block, Site, SIPP_DIR};

/// The decoded samples of the PCMU RTP packets in a pcap (Ethernet, IPv4, UDP).
fn pcap_samples(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= b.len() {
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &b[at + 16..at + 16 + len];
        voicemail::Codec::Pcmu.decode(&frame[14 + 20 + 8 + 12..], &mut out);
        at += 16 + len;
    }
    out
}

/// Short tones as the prompts (the operator's replacement directory).
fn write_prompts(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in [
        "standard_greeting.wav",
        "menu.wav",
        "goodbye.wav",
        "no_more.wav",
    ] {
        let samples: Vec<i16> = (0..2400)
            .map(|i| {
                (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0).sin()) as i16
            })
            .collect();
        std::fs::write(dir.join(name), voicemail::wav::write_pcm16(&samples)).unwrap();
    }
}

/// How much of `a` is in `b`: aligned on the first voiced 20 ms frame of `a` found whole in
/// `b`, the normalized correlation of the overlap (1.0: the same audio). A phone's G.711
/// tables may differ from ours by a quantization step on some codes, so frames are not all
/// bit-exact, but the correlation of the same audio stays near 1.
fn matched_share(a: &[i16], b: &[i16]) -> f64 {
    let voiced = |f: &[i16]| f.iter().map(|s| i64::from(*s).abs()).sum::<i64>() > 160 * 300;
    let Some((i, j)) = a
        .chunks_exact(160)
        .enumerate()
        .filter(|(_, f)| voiced(f))
        .find_map(|(k, f)| Some((k * 160, b.windows(160).position(|w| w == f)?)))
    else {
        return 0.0;
    };
    let (a, b) = (&a[i..], &b[j..]);
    let n = a.len().min(b.len());
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for k in 0..n {
        let (x, y) = (f64::from(a[k]), f64::from(b[k]));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

fn messages(site: &Site) -> Vec<store::VoiceMessage> {
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let v = s.voice_messages("bob").await.unwrap();
        s.close().await;
        v
    })
}

#[test]
fn baresip_leaves_a_voicemail_and_plays_it_back() {
    if !tools() {
        return;
    }
    let site = site(&["alice", "bob"]);
    let mut cfg = std::fs::read_to_string(site.config()).unwrap();
    cfg.push_str("\n[voicemail]\nenabled = true\nprompts = \"prompts\"\nsilence_timeout = 3\n");
    std::fs::write(site.config(), cfg).unwrap();
    write_prompts(&site.dir.path().join("prompts"));
    let sent = pcap_samples(&Path::new(SIPP_DIR).join("pcap/vm_message.pcap"));
    let speech = site.dir.path().join("speech.wav");
    std::fs::write(&speech, voicemail::wav::write_pcm16(&sent)).unwrap();
    let silence = site.dir.path().join("silence.wav");
    std::fs::write(
        &silence,
        voicemail::wav::write_pcm16(&vec![0i16; 8000 * 20]),
    )
    .unwrap();
    let dumps: PathBuf = site.dir.path().join("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    let modules = format!(
        "module g711.so\nmodule aufile.so\nmodule sndfile.so\nsnd_path {}\n",
        dumps.display()
    );
    let server = site.start();

    // bob has no device: alice's call goes to his mailbox; her phone plays the recording
    let mut alice = Baresip::start_with(
        &site,
        &server,
        "alice",
        "udp",
        &[],
        60,
        &Audio {
            modules: &modules,
            source: &format!("aufile,{}", speech.display()),
            codecs: "pcmu",
        },
    );
    site.wait_bindings("alice registered", |b| b.len() == 1);
    alice.command("dial", Some(&format!("sip:bob@{DOMAIN}")));
    assert!(
        alice.event("CALL_ESTABLISHED", 15, |_| true).is_some(),
        "alice: {:?}",
        alice.history()
    );
    std::thread::sleep(Duration::from_secs(7));
    alice.command("hangup", None);
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        if let Some(m) = messages(&site).pop() {
            break m;
        }
        assert!(Instant::now() < deadline, "no message stored for bob");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(m.caller_id, "alice");
    let stored = voicemail::wav::read(&std::fs::read(&m.file_path).unwrap()).unwrap();
    let share = matched_share(&stored, &sent);
    eprintln!("deposit: correlation {share:.4}");
    assert!(
        share > 0.95,
        "the {} stored samples correlate {share:.3} with the recording",
        stored.len()
    );
    drop(alice);

    // bob's baresip plays it by id: what it decoded holds the stored samples
    let mut bob = Baresip::start_with(
        &site,
        &server,
        "bob",
        "udp",
        &[],
        60,
        &Audio {
            modules: &modules,
            source: &format!("aufile,{}", silence.display()),
            codecs: "pcmu",
        },
    );
    site.wait_bindings("bob registered", |b| !b.is_empty());
    let before: Vec<PathBuf> = std::fs::read_dir(&dumps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    bob.command("dial", Some(&format!("sip:950msg{}@{DOMAIN}", m.id)));
    assert!(
        bob.event("CALL_ESTABLISHED", 15, |_| true).is_some(),
        "bob: {:?}",
        bob.history()
    );
    std::thread::sleep(Duration::from_secs(8));
    bob.command("hangup", None);
    std::thread::sleep(Duration::from_millis(500));
    drop(bob);
    let heard: Vec<i16> = std::fs::read_dir(&dumps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !before.contains(p) && p.to_string_lossy().contains("dec"))
        .filter_map(|p| voicemail::wav::read(&std::fs::read(&p).ok()?).ok())
        .max_by_key(Vec::len)
        .expect("baresip wrote what it heard");
    let share = matched_share(&stored, &heard);
    eprintln!("playback: correlation {share:.4}");
    assert!(
        share > 0.95,
        "message {} correlates {share:.3} with what bob's phone heard ({} samples)",
        m.id,
        heard.len()
    );
    let old = messages(&site).into_iter().any(|x| x.id == m.id && !x.new);
    assert!(old, "message {} not marked heard", m.id);
}
