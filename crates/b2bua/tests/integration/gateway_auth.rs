//! Gateways that challenge our INVITE (401/407 → the INVITE again with credentials), and the
//! caller's `TP:` rule on the number presented to a gateway.

use b2bua::dialplan::{Action, Entry, TechPrefix};
use bytes::Bytes;
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{HeaderName, Message, Method};

use crate::net::*;

fn plan() -> Vec<Entry> {
    vec![Entry::new(
        "00",
        0,
        Action::Gateway {
            gateways: vec!["gw1".into(), "gw2".into()],
            strip: 2,
            prepend: String::new(),
        },
    )]
}

fn challenge(req: &Message, code: u16, header: &str) -> Bytes {
    let r = reply(req, code, "gwtag", "sip:x", false);
    let text = String::from_utf8(r.to_vec()).unwrap().replace(
        "Content-Length:",
        &format!(
            "{header}: Digest realm=\"carrier.test\", nonce=\"n0nce\", opaque=\"op\", qop=\"auth,auth-int\", algorithm=MD5\r\nContent-Length:"
        ),
    );
    Bytes::from(text)
}

/// The digest answer a gateway would compute for `req`'s credentials.
fn expected_response(creds: &sip_message::Credentials<'_>, password: &str) -> String {
    let alg = Algorithm::from_name(creds.algorithm.as_deref().unwrap_or("MD5")).unwrap();
    let ha1 = alg.ha1(&creds.username, &creds.realm, password);
    let nc = format!("{:08x}", creds.nc.unwrap());
    digest::response(
        alg,
        &ha1,
        &ResponseParams {
            method: "INVITE",
            uri: &creds.uri,
            nonce: &creds.nonce,
            qop_auth: Some((&nc, creds.cnonce.as_deref().unwrap())),
        },
    )
}

#[test]
fn a_407_from_a_gateway_gets_the_invite_again_with_proxy_credentials() {
    let mut n = Net::new(plan());
    n.dir.gateway("gw1", GW1, None);
    n.dir.gateway_auth("gw1", "trunkuser", "trunkpass");
    n.deliver(&invite("a1", "0012345", true), ALICE);
    let i1 = n.request(GW1, Method::Invite);
    assert!(i1.header(&HeaderName::ProxyAuthorization).is_none());
    n.deliver_msg(challenge(&i1, 407, "Proxy-Authenticate"), GW1);
    // the layer ACKs the 407; then the INVITE comes again
    let sent = n.take(GW1);
    let acks = sent
        .iter()
        .filter(|m| m.method() == Some(&Method::Ack))
        .count();
    assert_eq!(acks, 1, "{sent:?}");
    let i2 = sent
        .into_iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("the INVITE again");
    assert_eq!(i2.call_id(), i1.call_id());
    assert_eq!(
        i2.from_header().unwrap().tag(),
        i1.from_header().unwrap().tag()
    );
    assert_eq!(i2.cseq().unwrap().seq, i1.cseq().unwrap().seq + 1);
    assert_ne!(i2.top_branch(), i1.top_branch());
    assert_eq!(i2.body(), i1.body(), "the same offer");
    let creds = i2.proxy_authorization().unwrap().unwrap();
    assert_eq!(creds.username, "trunkuser");
    assert_eq!(creds.realm, "carrier.test");
    assert_eq!(creds.nonce, "n0nce");
    assert_eq!(creds.opaque.as_deref(), Some("op"));
    assert_eq!(creds.qop.as_deref(), Some("auth"));
    assert_eq!(creds.uri, i2.request_uri_str().unwrap());
    assert_eq!(creds.response, expected_response(&creds, "trunkpass"));
    assert!(
        n.statuses(ALICE).iter().all(|&s| s < 300),
        "the caller never sees the challenge"
    );
    n.deliver_msg(
        reply(&i2, 200, "gwtag", &format!("sip:12345@{GW1}"), true),
        GW1,
    );
    assert!(n.statuses(ALICE).contains(&200));
}

#[test]
fn a_second_challenge_is_final_and_no_credentials_no_retry() {
    // with credentials: one retry, then the second 401 ends the branch (next gateway)
    let mut n = Net::new(plan());
    n.dir.gateway("gw1", GW1, None);
    n.dir.gateway("gw2", GW2, None);
    n.dir.gateway_auth("gw1", "trunkuser", "wrong");
    n.deliver(&invite("a2", "0012345", true), ALICE);
    let i1 = n.request(GW1, Method::Invite);
    n.deliver_msg(challenge(&i1, 401, "WWW-Authenticate"), GW1);
    let i2 = n.request(GW1, Method::Invite);
    assert!(
        i2.authorization().is_some(),
        "WWW-Authenticate → Authorization"
    );
    n.deliver_msg(challenge(&i2, 401, "WWW-Authenticate"), GW1);
    let _ = n.take(GW1);
    let on_gw2 = n.request(GW2, Method::Invite);
    assert!(
        on_gw2.authorization().is_none(),
        "gw2 has no trunk credentials"
    );
    // without credentials a challenge is a final answer at once; the caller gets a 503,
    // never a challenge that is not about him
    n.deliver_msg(challenge(&on_gw2, 407, "Proxy-Authenticate"), GW2);
    assert!(n
        .take(GW2)
        .iter()
        .all(|m| m.method() != Some(&Method::Invite)));
    let finals: Vec<u16> = n
        .statuses(ALICE)
        .into_iter()
        .filter(|&s| s >= 200)
        .collect();
    assert_eq!(finals, [503]);
}

#[test]
fn the_callers_tp_rule_rewrites_the_number_presented_to_a_gateway() {
    let mut n = Net::new(plan());
    n.dir.gateway("gw1", GW1, None);
    n.caller_login = "int4812".into();
    n.caller_tech_prefix = TechPrefix::parse("DP:x->; TP:int->+").unwrap();
    n.deliver(&invite("a3", "0012345", true), ALICE);
    let i1 = n.request(GW1, Method::Invite);
    assert_eq!(i1.from_header().unwrap().uri.user, Some("+4812"));
}
