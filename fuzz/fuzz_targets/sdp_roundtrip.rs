//! SDP on arbitrary bytes: parse never panics; whatever parses prints and re-parses to the same
//! model, and the relay rewrites (anchor, relay candidate) keep it parseable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::sdp::{add_relay_candidate, anchor, Sdp};

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = Sdp::parse(data) else {
        return;
    };
    let printed = sdp.print();
    let again = Sdp::parse(printed.as_bytes()).expect("printed SDP re-parses");
    assert_eq!(again, sdp, "round trip changed the SDP:\n{printed}");
    for i in 0..sdp.media.len() {
        let _ = sdp.remote_media(i);
        let _ = sdp.is_hold(i);
        let _ = sdp.media[i].candidates().count();
        let _ = sdp.media[i].clock_rates();
    }
    let ports: Vec<u16> = (0..sdp.media.len() as u16).map(|i| 20000 + 2 * i).collect();
    let mut rewritten = sdp.clone();
    anchor(&mut rewritten, "198.51.100.1".parse().unwrap(), &ports);
    add_relay_candidate(&mut rewritten, "198.51.100.1".parse().unwrap(), &ports);
    let printed = rewritten.print();
    let reparsed = Sdp::parse(printed.as_bytes()).expect("rewritten SDP re-parses");
    assert_eq!(reparsed, rewritten);
});
