//! IPv6 media: the relay binds both IP versions and names itself to each side in that side's
//! own version, so an IPv6-only phone gets `IN IP6` (not an `IN IP4` offer it would refuse
//! with 488) and RTP crosses between an IPv4 and an IPv6 leg.

use std::net::SocketAddr;

use crate::calls::{cdrs, cli_ok, Sipp};
use crate::harness::{free_port, require_tool, Server, Site};

/// The server's UDP listener of one IP version, from its "listening on udp" lines.
fn udp_listener(server: &Server, v6: bool) -> SocketAddr {
    server
        .startup_log
        .iter()
        .filter_map(|l| l.split("listening on udp ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<SocketAddr>().ok())
        .find(|a| a.is_ipv6() == v6)
        .expect("a UDP listener of that IP version")
}

/// An IPv4 caller calls through an IPv6-only carrier at [::1]: the carrier's INVITE names the
/// relay `IN IP6 ::1` (its scenario checks), the caller's side stays IPv4, and RTP goes both
/// ways through the relay (the carrier echoes it), counted in the CDR.
#[test]
fn an_ipv6_only_callee_gets_an_ipv6_relay_and_media_flows_across_versions() {
    require_tool("sipp");
    let site = Site::with_sections(
        "[[listener]]\ntransport = \"udp\"\naddress = \"[::1]:0\"\n\n\
         [media]\nbind_address = \"::\"\npublic_address = \"127.0.0.1\"\npublic_address_v6 = \"::1\"\n\
         port_min = 41400\nport_max = 41500\n",
    );
    site.add_account("alice", "wonderland");
    let gw_port = free_port();
    cli_ok(
        &site,
        &["gateway", "add", "v6carrier", &format!("[::1]:{gw_port}")],
    );
    cli_ok(&site, &["route", "add", "00", "gateway:v6carrier"]);
    let server = site.start();
    let v4 = udp_listener(&server, false);
    let gw = Sipp::new(&site, "uas_answer_ip6.xml", gw_port)
        .args(&[
            "-i",
            "::1",
            "-mi",
            "::1",
            "-mp",
            &crate::calls::media_port().to_string(),
            "-rtp_echo",
        ])
        .spawn();
    let (ok, out) = Sipp::new(&site, "uac_call_rtp.xml", free_port())
        .rows(&["alice;wonderland;004812345"])
        .args(&["-mp", &crate::calls::media_port().to_string()])
        .target(v4)
        .run();
    assert!(ok, "IPv4 caller failed:\n{out}");
    let (ok, out) = gw.wait();
    assert!(
        ok,
        "IPv6 callee (expects IN IP6 ::1 in the offer) failed:\n{out}"
    );
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!(c.final_code, 200);
    assert!(c.media_a_packets.unwrap_or(0) > 0, "IPv4 → IPv6: {c:?}");
    assert!(c.media_b_packets.unwrap_or(0) > 0, "IPv6 → IPv4: {c:?}");
    // the CDR's per-direction bytes and loss, and both legs' Call-IDs
    let (a_bytes, b_bytes) = (c.media_a_bytes.unwrap(), c.media_b_bytes.unwrap());
    assert!(
        a_bytes >= 12 * c.media_a_packets.unwrap() && b_bytes >= 12 * c.media_b_packets.unwrap(),
        "at least an RTP header per packet: {c:?}"
    );
    // SIPp plays a capture with consecutive sequence numbers, echoed as it came
    assert!(c.media_a_lost.is_some_and(|l| l <= 1), "{c:?}");
    assert!(c.media_b_lost.is_some_and(|l| l <= 1), "{c:?}");
    let b_leg = c.b_call_id.as_deref().expect("the B-leg Call-ID");
    assert!(!b_leg.is_empty() && b_leg != c.call_id, "{c:?}");
    server.stop();
}
