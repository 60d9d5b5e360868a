//! Contact or flow (`registrar::reach`): third-party registrations are reached at their
//! Contact, NATed and outbound clients over their flow, per policy; Kamailio's `nat_uac_test`
//! cases.

use bytes::Bytes;
use registrar::{reach, ContactRouting, Reach};
use sip_message::{Message, Peer, Transport, Uri};

fn peer(transport: Transport, remote: &str) -> Peer {
    Peer {
        transport,
        remote: remote.parse().unwrap(),
        local: "192.0.2.1:5060".parse().unwrap(),
        conn: None,
    }
}

/// `reach` for a REGISTER with this top Via and Contact URI, from `src` over UDP.
fn decide(policy: ContactRouting, via: &str, contact: &str, outbound: bool, src: &str) -> Reach {
    decide_on(policy, via, contact, outbound, peer(Transport::Udp, src))
}

fn decide_on(policy: ContactRouting, via: &str, contact: &str, outbound: bool, src: Peer) -> Reach {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK1\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: r1\r\n\
         CSeq: 1 REGISTER\r\nContact: <{contact}>\r\nContent-Length: 0\r\n\r\n"
    );
    let req = Message::parse(Bytes::from(text)).unwrap();
    let uri = Uri::parse(contact).unwrap();
    reach(policy, &req, &uri, outbound, &src)
}

const AUTO: ContactRouting = ContactRouting::Auto;

#[test]
fn a_third_party_registration_is_reached_at_its_contact() {
    // a provisioning server at 198.51.100.7 registers a phone at 198.51.100.50
    assert_eq!(
        decide(
            AUTO,
            "198.51.100.7:5060",
            "sip:a@198.51.100.50:5062",
            false,
            "198.51.100.7:5060"
        ),
        Reach::Contact
    );
    // on one host: loopback everywhere, Via = source
    assert_eq!(
        decide(
            AUTO,
            "127.0.0.1:40000",
            "sip:a@127.0.0.1:40002",
            false,
            "127.0.0.1:40000"
        ),
        Reach::Contact
    );
}

#[test]
fn nat_is_detected_as_nat_uac_test_does() {
    // Via host is not the source (flag 2)
    assert_eq!(
        decide(
            AUTO,
            "10.0.0.5:5060",
            "sip:a@10.0.0.5:5060",
            false,
            "203.0.113.9:5060"
        ),
        Reach::Flow
    );
    // Via port (default 5060) is not the source port (flag 16)
    assert_eq!(
        decide(
            AUTO,
            "203.0.113.9",
            "sip:a@203.0.113.9",
            false,
            "203.0.113.9:40123"
        ),
        Reach::Flow
    );
    // rport=N differs from the source port
    assert_eq!(
        decide(
            AUTO,
            "203.0.113.9:5060;rport=5070",
            "sip:a@203.0.113.9",
            false,
            "203.0.113.9:5060"
        ),
        Reach::Flow
    );
    // a private Contact with a public source (flag 1) ...
    assert_eq!(
        decide(
            AUTO,
            "203.0.113.9:5060",
            "sip:a@192.168.1.20:5060",
            false,
            "203.0.113.9:5060"
        ),
        Reach::Flow
    );
    // ... but not with a loopback or private source: those are never public
    assert_eq!(
        decide(
            AUTO,
            "127.0.0.1:5060",
            "sip:a@192.168.1.20:5060",
            false,
            "127.0.0.1:5060"
        ),
        Reach::Contact
    );
    // a Via naming a host name is not the source address
    assert_eq!(
        decide(
            AUTO,
            "phone.example.com:5060",
            "sip:a@203.0.113.9",
            false,
            "203.0.113.9:5060"
        ),
        Reach::Flow
    );
}

#[test]
fn outbound_clients_and_contacts_we_cannot_send_to_use_the_flow() {
    assert_eq!(
        decide(
            AUTO,
            "198.51.100.7:5060",
            "sip:a@198.51.100.50",
            true,
            "198.51.100.7:5060"
        ),
        Reach::Flow,
        "RFC 5626 outbound"
    );
    for contact in [
        "sip:a@198.51.100.50;transport=tcp",
        "sip:a@phone.example.com",
        "sip:a@[2001:db8::1]:5060",
        "sip:a@0.0.0.0",
    ] {
        assert_eq!(
            decide(
                ContactRouting::AlwaysContact,
                "198.51.100.7:5060",
                contact,
                false,
                "198.51.100.7:5060"
            ),
            Reach::Flow,
            "{contact}"
        );
    }
    // a TCP/TLS device: we never connect to it
    assert_eq!(
        decide_on(
            AUTO,
            "198.51.100.7:5060",
            "sip:a@198.51.100.7:5060",
            false,
            peer(Transport::Tls, "198.51.100.7:5060")
        ),
        Reach::Flow
    );
}

#[test]
fn the_policy_overrides_the_detection() {
    let third_party = |p| {
        decide(
            p,
            "198.51.100.7:5060",
            "sip:a@198.51.100.50",
            false,
            "198.51.100.7:5060",
        )
    };
    let natted = |p| {
        decide(
            p,
            "10.0.0.5:5060",
            "sip:a@10.0.0.5",
            false,
            "203.0.113.9:5060",
        )
    };
    assert_eq!(third_party(ContactRouting::AlwaysFlow), Reach::Flow);
    assert_eq!(natted(ContactRouting::AlwaysContact), Reach::Contact);
}
