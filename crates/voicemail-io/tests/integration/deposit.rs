use std::time::Duration;

use crate::support::{have_sipp, pcap_samples, sipp, sipp_dir, start};

/// FNV-1a over the samples: the checksum the proof compares.
fn checksum(samples: &[i16]) -> u64 {
    samples.iter().fold(0xcbf2_9ce4_8422_2325, |h, s| {
        (h ^ u64::from(*s as u16)).wrapping_mul(0x100_0000_01b3)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_over_sip_and_rtp_is_stored_with_the_audio_sent() {
    if !have_sipp("a_deposit_over_sip_and_rtp_is_stored_with_the_audio_sent") {
        return;
    }
    let mut svc = start().await;
    let out = sipp("vm_deposit.xml", svc.addr, "bob;alice").await;
    assert!(
        out.status.success(),
        "sipp failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let change = tokio::time::timeout(Duration::from_secs(5), svc.changes.recv())
        .await
        .expect("no mailbox change")
        .unwrap();
    assert_eq!(
        change.login, "alice",
        "the RFC 4458 target names the mailbox"
    );
    assert_eq!((change.counts.new, change.counts.old), (1, 0));
    let m = change.deposited.expect("a deposit");
    assert_eq!(m.caller_id, "bob");
    assert_eq!(m.display_name, "Caller bob");
    assert!(m.new);
    let row = svc.store.voice_message(m.id).await.unwrap().unwrap();
    assert_eq!(row, m);
    assert!(row.file_path.starts_with(&svc.data.display().to_string()));

    let sent = pcap_samples(&sipp_dir().join("pcap/vm_message.pcap"));
    let stored = voicemail::wav::read(&std::fs::read(&row.file_path).unwrap()).unwrap();
    // Loopback loses nothing and the recorder places packets by timestamp: the same samples.
    // Allow one frame either way at the ends for a packet caught by the BYE.
    let diff = sent.len().abs_diff(stored.len());
    assert!(
        diff <= 160,
        "sent {} samples, stored {}",
        sent.len(),
        stored.len()
    );
    let n = sent.len().min(stored.len());
    assert_eq!(
        checksum(&stored[..n]),
        checksum(&sent[..n]),
        "the stored audio is the audio sent"
    );
    assert!(
        (row.duration_ms - 5620).abs() <= 40,
        "duration {} ms",
        row.duration_ms
    );
}
