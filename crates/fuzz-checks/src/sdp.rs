//! The `sdp_roundtrip` target: the SDP model and the relay's rewrites.

use media::sdp::{add_relay_candidate, anchor, Sdp};

/// `Sdp::parse` on arbitrary bytes: what parses prints and re-parses to the same model, every
/// typed view answers, and the relay rewrites (`anchor`, `add_relay_candidate`) stay parseable
/// and round-trip.
pub fn sdp_roundtrip(data: &[u8]) {
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
}
