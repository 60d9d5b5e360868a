//! Capacity: many deposits recording at once. `#[ignore]`d (a load test, run on purpose):
//! `cargo nextest run -p voicemail-io --run-ignored only capacity` (VM_CALLS, VM_SECONDS).
//! Prints the packet loss in the recordings and the process CPU per recording stream.

use std::time::{Duration, Instant};

use voicemail::rtp::{self, RtpHeader};
use voicemail::Codec;

use crate::playback::Phone;
use crate::support::{start, tone};

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (the service runs in the test's process).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run on purpose"]
async fn capacity_concurrent_deposits() {
    let calls: usize = std::env::var("VM_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seconds: usize = std::env::var("VM_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut svc = start().await;
    let mut phones = Vec::new();
    for i in 0..calls {
        let p = Phone::new().await;
        let call_id = format!("cap{i}");
        let r = p
            .invite(svc.addr, &format!("box{i}"), "bob", &call_id)
            .await;
        assert!(r.starts_with("SIP/2.0 200"), "{r}");
        p.ack_and_bye(svc.addr, &r, &call_id, false).await;
        let m = r.lines().find(|l| l.starts_with("m=audio ")).unwrap();
        let port: u16 = m.split_whitespace().nth(1).unwrap().parse().unwrap();
        phones.push((
            p,
            call_id,
            r,
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ));
    }
    // Past the 0.5 s greeting and the beep of every call.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let audio = tone(1000 * seconds, 500.0);
    let frames: Vec<Vec<u8>> = audio
        .chunks(160)
        .map(|c| {
            let mut p = Vec::new();
            Codec::Pcmu.encode(c, &mut p);
            p
        })
        .collect();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut out = Vec::new();
    for (k, f) in frames.iter().enumerate() {
        tick.tick().await;
        for (i, (p, _, _, media)) in phones.iter().enumerate() {
            let h = RtpHeader {
                marker: k == 0,
                payload_type: 0,
                seq: k as u16,
                timestamp: (k * 160) as u32,
                ssrc: i as u32,
            };
            rtp::write(&h, f, &mut out);
            p.rtp.send_to(&out, *media).await.unwrap();
        }
    }
    let wall = t0.elapsed();
    for (p, call_id, r, _) in &phones {
        p.ack_and_bye(svc.addr, r, call_id, true).await;
    }
    let mut stored = 0;
    let mut lost_samples = 0usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored < calls && Instant::now() < deadline {
        if let Ok(Some(c)) = tokio::time::timeout(Duration::from_secs(5), svc.changes.recv()).await
        {
            let m = c.deposited.unwrap();
            let samples = voicemail::wav::read(&std::fs::read(&m.file_path).unwrap()).unwrap();
            lost_samples += audio.len().saturating_sub(samples.len())
                + samples
                    .iter()
                    .zip(audio.iter())
                    .filter(|(a, b)| {
                        **a != Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(**b))
                    })
                    .count();
            stored += 1;
        }
    }
    let cpu = cpu_seconds() - cpu0;
    let streams = calls as f64;
    println!(
        "CAPACITY calls={calls} seconds={seconds} stored={stored} lost_or_wrong_samples={lost_samples} \
         wall={:.2}s cpu={cpu:.2}s cpu_per_stream={:.2}% (of one core, sender included)",
        wall.as_secs_f64(),
        100.0 * cpu / (streams * wall.as_secs_f64())
    );
    assert_eq!(stored, calls, "every deposit stored");
    assert_eq!(lost_samples, 0, "no packet lost in the recordings");
}
