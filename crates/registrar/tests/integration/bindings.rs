//! Binding identity and updates (RFC 3261 §10.3 steps 7-8, RFC 5626 instances and flows).

use registrar::{Binding, BindingChange, RegisterError, RegistrarConfig};
use sip_message::ContactList;

use crate::client::*;

const UUID1: &str = "<urn:uuid:00000000-0000-1000-8000-000000000001>";
const UUID2: &str = "<urn:uuid:00000000-0000-1000-8000-000000000002>";

fn with_instance(uri: &str, uuid: &str) -> String {
    format!("<{uri}>;+sip.instance=\"{uuid}\"")
}

fn bindings(srv: &Server, login: &str, now: Instant) -> Vec<Binding> {
    let mut v: Vec<Binding> = srv
        .reg
        .location()
        .lookup(login, now)
        .iter()
        .cloned()
        .collect();
    v.sort_by(|a, b| a.contact.cmp(&b.contact));
    v
}

/// Every Contact of a response as `(uri, +sip.instance, reg-id)`.
fn listed_full(out: &Outcome) -> Vec<(String, Option<String>, Option<u32>)> {
    let resp = response(out);
    let Some(ContactList::Contacts(cs)) = resp.contacts().unwrap() else {
        return vec![];
    };
    let mut v: Vec<_> = cs
        .iter()
        .map(|c| {
            (
                c.0.uri.as_str().to_owned(),
                c.instance().map(|i| i.into_owned()),
                c.reg_id(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn two_instances_make_two_bindings() {
    let mut srv = Server::new();
    let mut phone = Client::new("alice", "wonderland", tcp_peer("198.51.100.7:40001", 1));
    let mut laptop = Client::new("alice", "wonderland", udp_peer("198.51.100.20:5060"));
    let out = phone.register(
        &mut srv,
        at(0),
        &Reg::contact(&with_instance(
            "sip:alice@10.0.0.1:5060;transport=tcp",
            UUID1,
        )),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.registered);
    assert_eq!(out.instances, [UUID1]);

    let out = laptop.register(
        &mut srv,
        at(1_000),
        &Reg::contact(&with_instance("sip:alice@10.0.0.2:5060", UUID2)),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(!out.registered, "alice was already registered");
    assert_eq!(out.instances, [UUID2]);
    assert!(
        matches!(out.changes.as_slice(), [BindingChange::Upsert { binding, .. }] if binding.instance.as_deref() == Some(UUID2))
    );
    assert_eq!(
        listed_full(&out),
        [
            (
                "sip:alice@10.0.0.1:5060;transport=tcp".to_owned(),
                Some(UUID1.to_owned()),
                None
            ),
            (
                "sip:alice@10.0.0.2:5060".to_owned(),
                Some(UUID2.to_owned()),
                None
            ),
        ]
    );
    let b = bindings(&srv, "alice", at(1_000));
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].source, phone.peer);
    assert_eq!(b[1].source, laptop.peer);
    assert_ne!(b[0].key, b[1].key);
}

#[test]
fn same_instance_from_a_new_address_replaces_its_binding() {
    let mut srv = Server::new();
    let mut phone = Client::alice();
    let out = phone.register(
        &mut srv,
        at(0),
        &Reg::contact(&with_instance("sip:alice@10.0.0.1:5060", UUID1)),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let key = bindings(&srv, "alice", at(0))[0].key.clone();

    // the phone moved to another network (new source, new contact), same Call-ID
    phone.peer = udp_peer("203.0.113.77:6000");
    let out = phone.register(
        &mut srv,
        at(10_000),
        &Reg::contact(&with_instance("sip:alice@192.168.1.5:5070", UUID1)),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(!out.registered);
    assert_eq!(
        listed(&out),
        [("sip:alice@192.168.1.5:5070".to_owned(), 3600)]
    );
    match out.changes.as_slice() {
        [BindingChange::Upsert { binding, .. }] => assert_eq!(binding.key, key),
        other => panic!("{other:?}"),
    }
    let b = bindings(&srv, "alice", at(10_000));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].contact, "sip:alice@192.168.1.5:5070");
    assert_eq!(b[0].source.remote, "203.0.113.77:6000".parse().unwrap());
    assert_eq!(b[0].updated_at, at(10_000));

    // after a reboot (new Call-ID, CSeq from 1) the instance still maps to the same binding
    let mut rebooted = Client::new("alice", "wonderland", udp_peer("203.0.113.77:6001"));
    rebooted.call_id = "after-reboot@test".into();
    let out = rebooted.register(
        &mut srv,
        at(20_000),
        &Reg::contact(&with_instance("sip:alice@192.168.1.5:5071", UUID1)),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let b = bindings(&srv, "alice", at(20_000));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].contact, "sip:alice@192.168.1.5:5071");
    assert_eq!(b[0].call_id, "after-reboot@test");
}

#[test]
fn reg_id_distinguishes_flows_of_one_instance() {
    let mut srv = Server::new();
    let mut flow1 = Client::new("alice", "wonderland", tcp_peer("198.51.100.7:40001", 1));
    let mut flow2 = Client::new("alice", "wonderland", tcp_peer("198.51.100.7:40002", 2));
    let c1 = format!(
        "{};reg-id=1",
        with_instance("sip:alice@10.0.0.1:5060;transport=tcp;ob", UUID1)
    );
    let c2 = format!(
        "{};reg-id=2",
        with_instance("sip:alice@10.0.0.1:5060;transport=tcp;ob", UUID1)
    );
    let out = flow1.register(
        &mut srv,
        at(0),
        &Reg::contact(&c1).header("Supported", "outbound"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let out = flow2.register(
        &mut srv,
        at(0),
        &Reg::contact(&c2).header("Supported", "outbound"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let b = bindings(&srv, "alice", at(0));
    assert_eq!(b.len(), 2, "{b:?}");
    let mut regs: Vec<_> = b.iter().map(|b| (b.reg_id, b.source.conn)).collect();
    regs.sort();
    assert_eq!(
        regs,
        [(Some(1), flow1.peer.conn), (Some(2), flow2.peer.conn)]
    );

    // flow 1 reconnects: only its binding moves to the new connection
    flow1.peer = tcp_peer("198.51.100.7:40003", 3);
    let out = flow1.register(
        &mut srv,
        at(1_000),
        &Reg::contact(&c1).header("Supported", "outbound"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let b = bindings(&srv, "alice", at(1_000));
    assert_eq!(b.len(), 2);
    let mut regs: Vec<_> = b.iter().map(|b| (b.reg_id, b.source.conn)).collect();
    regs.sort();
    assert_eq!(
        regs,
        [(Some(1), flow1.peer.conn), (Some(2), flow2.peer.conn)]
    );
}

#[test]
fn several_contacts_in_one_register() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let reg = Reg::contact("<sip:alice@10.0.0.1>;q=0.7, <sip:alice@10.0.0.2>;expires=120")
        .and_contact("\"Desk\" <sip:alice@10.0.0.3;transport=tcp>;q=1");
    let out = c.register(&mut srv, at(0), &reg);
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.registered);
    assert_eq!(out.changes.len(), 3);
    assert!(out
        .changes
        .iter()
        .all(|ch| matches!(ch, BindingChange::Upsert { login, .. } if login == "alice")));
    let mut l = listed(&out);
    l.sort();
    assert_eq!(
        l,
        [
            ("sip:alice@10.0.0.1".to_owned(), 3600),
            ("sip:alice@10.0.0.2".to_owned(), 120),
            ("sip:alice@10.0.0.3;transport=tcp".to_owned(), 3600),
        ]
    );
    let b = bindings(&srv, "alice", at(0));
    assert_eq!(
        b.iter().map(|b| b.q_milli).collect::<Vec<_>>(),
        [Some(700), None, Some(1000)]
    );
    assert_eq!(srv.reg.location().len(), 3);
    assert_eq!(srv.reg.location().logins(), 1);
}

#[test]
fn register_without_contact_is_a_query() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    // nothing registered yet: 200 without Contact
    let out = c.register(&mut srv, at(0), &Reg::query());
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(listed(&out).is_empty());
    assert!(out.changes.is_empty());
    assert!(!out.registered);

    let reg = Reg::contact("<sip:alice@10.0.0.1>").and_contact("<sip:alice@10.0.0.2>;expires=100");
    assert_eq!(c.register(&mut srv, at(0), &reg).status(), 200);
    let before = bindings(&srv, "alice", at(0));

    let out = c.register(&mut srv, at(40_000), &Reg::query());
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.changes.is_empty());
    assert!(!out.registered);
    let mut l = listed(&out);
    l.sort();
    assert_eq!(
        l,
        [
            ("sip:alice@10.0.0.1".to_owned(), 3560),
            ("sip:alice@10.0.0.2".to_owned(), 60)
        ]
    );
    assert_eq!(
        bindings(&srv, "alice", at(40_000)),
        before,
        "a query changes nothing"
    );

    // expired bindings are not listed
    let out = c.register(&mut srv, at(100_000), &Reg::query());
    assert_eq!(listed(&out), [("sip:alice@10.0.0.1".to_owned(), 3500)]);
}

#[test]
fn retransmission_changes_nothing() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let reg = Reg::contact("<sip:alice@10.0.0.1>").expires(600);
    let first = c.build(&reg);
    let out = srv.handle(at(0), &first, c.peer);
    c.learn(&out);
    let req = c.build(&reg);
    let out = srv.handle(at(0), &req, c.peer);
    assert_eq!(out.status(), 200, "{}", text(&out));
    let before = bindings(&srv, "alice", at(0));

    // the very same bytes again (the 200 was lost): nothing changes
    let out = srv.handle(at(2_000), &req, c.peer);
    assert!(out.changes.is_empty(), "{:?}", out.changes);
    assert!(!out.registered);
    assert_eq!(bindings(&srv, "alice", at(2_000)), before);

    // the same Call-ID and CSeq, freshly signed (a UA re-sending after a stale nonce would
    // use a new CSeq; this one did not): still the same request, nothing changes
    let auth = c.authorization(1);
    let again = c.build_raw(
        &Reg::contact("<sip:alice@10.0.0.1>").expires(1200),
        Some(&auth),
    );
    assert_eq!(again.cseq().unwrap(), req.cseq().unwrap());
    let out = srv.handle(at(4_000), &again, c.peer);
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.changes.is_empty(), "{:?}", out.changes);
    assert_eq!(bindings(&srv, "alice", at(4_000)), before);
    assert_eq!(listed(&out), [("sip:alice@10.0.0.1".to_owned(), 596)]);
}

#[test]
fn lower_cseq_from_the_same_call_id_does_not_overwrite() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    c.cseq = 10;
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact("<sip:alice@10.0.0.1>").expires(600),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let before = bindings(&srv, "alice", at(0));
    assert_eq!(before[0].cseq, 12);

    // a delayed older request (CSeq 5) of the same Call-ID must not remove or refresh it
    for reg in [
        Reg::contact("<sip:alice@10.0.0.1>").expires(0),
        Reg::contact("<sip:alice@10.0.0.1>").expires(60),
    ] {
        c.cseq = 4;
        let out = c.register(&mut srv, at(1_000), &reg);
        assert_eq!(c.cseq, 5);
        assert!(out.changes.is_empty(), "{:?}", out.changes);
        assert_eq!(bindings(&srv, "alice", at(1_000)), before);
    }

    // another Call-ID (another UA or a rebooted one) may update whatever its CSeq
    let mut other = Client::alice();
    other.call_id = "other@test".into();
    let out = other.register(
        &mut srv,
        at(2_000),
        &Reg::contact("<sip:alice@10.0.0.1>").expires(0),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(matches!(
        out.changes.as_slice(),
        [BindingChange::Remove { .. }]
    ));
    assert!(srv.reg.location().is_empty());
}

#[test]
fn max_contacts_exceeded_is_forbidden() {
    let cfg = RegistrarConfig {
        max_contacts: 2,
        ..RegistrarConfig::default()
    };
    let mut srv = Server::with_config(cfg);
    let mut c = Client::alice();
    let out = c.register(&mut srv, at(0), &Reg::contact("<sip:alice@10.0.0.1>"));
    assert_eq!(out.status(), 200);

    // the same new contact listed twice is one binding: within the limit
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact("<sip:alice@10.0.0.2>, <sip:alice@10.0.0.2>;expires=100"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(bindings(&srv, "alice", at(0)).len(), 2);
    let before = bindings(&srv, "alice", at(0));

    // a third one is refused, and the refused request changes nothing (not even refreshes)
    let reg = Reg::contact("<sip:alice@10.0.0.1>;expires=60").and_contact("<sip:alice@10.0.0.3>");
    let out = c.register(&mut srv, at(1_000), &reg);
    assert_eq!(out.status(), 403, "{}", text(&out));
    assert_eq!(out.result, Err(RegisterError::TooManyContacts { max: 2 }));
    assert!(out.changes.is_empty());
    assert_eq!(bindings(&srv, "alice", at(1_000)), before);

    // refreshing within the limit is fine, and so is replacing one with another
    let out = c.register(
        &mut srv,
        at(2_000),
        &Reg::contact("<sip:alice@10.0.0.1>;expires=60"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    let reg = Reg::contact("<sip:alice@10.0.0.2>;expires=0").and_contact("<sip:alice@10.0.0.3>");
    let out = c.register(&mut srv, at(3_000), &reg);
    assert_eq!(out.status(), 200, "{}", text(&out));
    let contacts: Vec<_> = bindings(&srv, "alice", at(3_000))
        .into_iter()
        .map(|b| b.contact)
        .collect();
    assert_eq!(contacts, ["sip:alice@10.0.0.1", "sip:alice@10.0.0.3"]);

    // expired bindings do not count
    let out = c.register(&mut srv, at(63_000), &Reg::contact("<sip:alice@10.0.0.4>"));
    assert_eq!(out.status(), 200, "{}", text(&out));
    // other logins have their own allowance
    let mut bob = Client::bob();
    let out = bob.register(
        &mut srv,
        at(63_000),
        &Reg::contact("<sip:bob@10.0.0.9>, <sip:bob@10.0.0.10>"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
}

#[test]
fn outbound_is_required_back_when_used() {
    let mut srv = Server::new();
    let mut phone = Client::new("alice", "wonderland", tcp_peer("198.51.100.7:40001", 1));
    let c1 = format!(
        "{};reg-id=1",
        with_instance("sip:alice@10.0.0.1:5060;transport=tcp;ob", UUID1)
    );
    let out = phone.register(
        &mut srv,
        at(0),
        &Reg::contact(&c1).header("Supported", "path, outbound"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(
        header(&out, "Require").as_deref(),
        Some("outbound"),
        "{}",
        text(&out)
    );
    assert_eq!(listed_full(&out)[0].2, Some(1));
    // RFC 5626 §4.4.1: a connection-oriented flow is told how often to send keep-alives
    assert_eq!(
        header(&out, "Flow-Timer").as_deref(),
        Some("120"),
        "{}",
        text(&out)
    );

    // reg-id without Supported: outbound → no Require
    let out = phone.register(&mut srv, at(1_000), &Reg::contact(&c1));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(header(&out, "Require"), None, "{}", text(&out));
    assert_eq!(header(&out, "Flow-Timer"), None, "{}", text(&out));

    // another device, Supported: outbound but no reg-id: not an outbound registration, even
    // though the login holds an outbound binding
    let mut laptop = Client::new("alice", "wonderland", udp_peer("198.51.100.20:5060"));
    let out = laptop.register(
        &mut srv,
        at(2_000),
        &Reg::contact(&with_instance("sip:alice@10.0.0.2", UUID2)).header("Supported", "outbound"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(header(&out, "Require"), None, "{}", text(&out));
}

#[test]
fn reg_id_without_instance_is_ignored() {
    // RFC 5626 §6: a reg-id without +sip.instance is ignored
    let mut srv = Server::new();
    let mut c = Client::alice();
    let out = c.register(
        &mut srv,
        at(0),
        &Reg::contact("<sip:alice@10.0.0.1;transport=tcp>;reg-id=1")
            .header("Supported", "outbound"),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(header(&out, "Require"), None, "{}", text(&out));
    let b = bindings(&srv, "alice", at(0));
    assert_eq!(b[0].reg_id, None);
    assert_eq!(listed_full(&out)[0].2, None);
}

#[test]
fn path_and_user_agent_are_kept() {
    let mut srv = Server::new();
    let mut c = Client::alice();
    let reg = Reg::contact("<sip:alice@10.0.0.1>")
        .header("Path", "<sip:edge1.example.com;lr>")
        .header("Path", "<sip:edge2.example.com;lr>")
        .header("User-Agent", "TestPhone/1.0");
    let out = c.register(&mut srv, at(0), &reg);
    assert_eq!(out.status(), 200, "{}", text(&out));
    let resp = response(&out);
    let paths: Vec<_> = resp.header_values(&sip_message::HeaderName::Path).collect();
    assert_eq!(
        paths,
        ["<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>"]
    );
    let b = &bindings(&srv, "alice", at(0))[0];
    assert_eq!(
        b.path.as_deref(),
        Some("<sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>")
    );
    assert_eq!(b.user_agent.as_deref(), Some("TestPhone/1.0"));
}

/// RFC 8599: a Contact with `pn-provider`/`pn-prid`/`pn-param` hands the device's push token
/// to the server (kept per instance); the 200 confirms the provider in Feature-Caps.
#[test]
fn rfc8599_push_params_give_the_instance_a_token() {
    let mut srv = Server::new();
    let mut phone = Client::new("alice", "wonderland", tcp_peer("198.51.100.7:40001", 1));
    let contact = with_instance(
        "sip:alice@10.0.0.1:5060;transport=tcp;pn-provider=APNS;pn-prid=00fc1348%3A4f;pn-param=ABCD1234.com.example.voip",
        UUID1,
    );
    let out = phone.register(&mut srv, at(0), &Reg::contact(&contact));
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert_eq!(
        out.push,
        [registrar::PushRegistration {
            instance: UUID1.into(),
            provider: "apns".into(),
            prid: "00fc1348:4f".into(),
            param: "ABCD1234.com.example.voip".into(),
        }]
    );
    assert!(
        text(&out).contains("Feature-Caps: *;+sip.pns=\"apns\"\r\n"),
        "{}",
        text(&out)
    );
    // a plain REGISTER carries no token
    let out = phone.register(
        &mut srv,
        at(1_000),
        &Reg::contact(&with_instance("sip:alice@10.0.0.1:5060", UUID2)),
    );
    assert_eq!(out.status(), 200);
    assert!(out.push.is_empty());
    assert!(!text(&out).contains("Feature-Caps"));
}

/// RFC 8599 §4.1.2: a provider the server cannot push through gets 555 (with the ones it
/// can), and the binding is not made; pn-provider without pn-prid only asks.
#[test]
fn unknown_push_provider_gets_555_and_changes_nothing() {
    let mut srv = Server::new();
    let mut phone = Client::new("alice", "wonderland", udp_peer("198.51.100.7:5060"));
    let contact = with_instance(
        "sip:alice@10.0.0.1:5060;pn-provider=webpush;pn-prid=abc",
        UUID1,
    );
    let out = phone.register(&mut srv, at(0), &Reg::contact(&contact));
    assert_eq!(out.status(), 555, "{}", text(&out));
    assert!(
        matches!(&out.result, Err(RegisterError::PushProviderNotServed { provider, served })
            if provider == "webpush" && served == &["apns", "fcm"]),
        "{:?}",
        out.result
    );
    assert!(text(&out).contains("Feature-Caps: *;+sip.pns=\"fcm\""));
    assert!(out.changes.is_empty() && out.push.is_empty());
    assert!(bindings(&srv, "alice", at(0)).is_empty());

    let out = phone.register(
        &mut srv,
        at(1_000),
        &Reg::contact(&with_instance(
            "sip:alice@10.0.0.1:5060;pn-provider=fcm",
            UUID1,
        )),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(out.push.is_empty(), "no pn-prid: no token");
    assert!(text(&out).contains("Feature-Caps: *;+sip.pns=\"fcm\""));
}
