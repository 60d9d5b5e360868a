//! `advertise` on a listener (1:1 NAT): what the server sends names the public address — the
//! Via and Contact (and Record-Route, where one is added) of a relayed INVITE, and the relay's
//! address in its SDP — while the socket stays bound to the private one.

use sip_message::HeaderName;

use crate::harness::Site;
use crate::ua::{Ua, REALM};

const PUBLIC: &str = "198.51.100.7";

#[test]
fn a_call_relayed_through_an_advertising_listener_names_the_public_address() {
    // the relay is anchored for ONNET calls too, and takes its public address from the listener
    let site = Site::with_sections(
        "[media]\nbind_address = \"127.0.0.1\"\nport_min = 41400\nport_max = 41500\nanchor_onnet = true\n",
    );
    let text = std::fs::read_to_string(site.config()).unwrap().replacen(
        "transport = \"udp\"\naddress = \"127.0.0.1:0\"\n",
        &format!("transport = \"udp\"\naddress = \"127.0.0.1:0\"\nadvertise = \"{PUBLIC}\"\n"),
        1,
    );
    std::fs::write(site.config(), text).unwrap();
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let public = format!("{PUBLIC}:{}", server.udp.port());

    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(300);
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        alice.local.port() + 2
    );
    let caller = std::thread::spawn(move || {
        let uri = format!("sip:bob@{REALM}");
        let r = alice.request(
            "INVITE",
            &uri,
            &uri.clone(),
            "",
            Some(("application/sdp", sdp.as_bytes())),
            None,
        );
        r.status()
    });
    let invite = bob.expect_request("INVITE", 10);
    let header = |name: HeaderName| {
        invite
            .header_values(&name)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let via = header(HeaderName::Via);
    assert!(
        via[0].contains(&public),
        "top Via names the public address: {via:?}"
    );
    let contact = header(HeaderName::Contact);
    assert!(contact[0].contains(&public), "Contact: {contact:?}");
    for rr in header(HeaderName::RecordRoute) {
        assert!(rr.contains(PUBLIC), "Record-Route: {rr}");
    }
    let body = String::from_utf8_lossy(invite.body());
    assert!(
        body.contains(&format!("c=IN IP4 {PUBLIC}")),
        "the anchored media is offered on the public address:\n{body}"
    );
    assert!(
        !format!("{via:?}{contact:?}").contains("127.0.0.1:"),
        "{via:?} {contact:?}"
    );
    bob.answer(&invite, 486);
    assert_eq!(caller.join().unwrap(), Some(486));
    server.stop();
}
