//! The Contacts a call table on a core shard gives both legs name that shard, so the kernel's
//! steering program (`sip_message::steer`) puts the peers' in-dialog requests, and the
//! callee's responses, on the socket of the shard that owns them: where the shards' own
//! routing (`sip_message::shard::owner`) would hand them.

use sip_message::{shard, steer, Message, Method};

use crate::net::*;

/// What the kernel does with `bytes` under the program of `count` shards, and where the shards
/// route it: both must name `owner`.
fn lands_on_its_owner(prog: &[steer::Insn], bytes: &[u8], count: usize, owner: usize) {
    let what = String::from_utf8_lossy(bytes);
    assert_eq!(
        steer::steered(prog, bytes, count),
        Some(owner),
        "steered elsewhere: {what}"
    );
    let msg = Message::parse(bytes::Bytes::copy_from_slice(bytes)).unwrap();
    assert_eq!(shard::owner(&msg, count), owner, "owned elsewhere: {what}");
}

#[test]
fn a_calls_in_dialog_requests_and_responses_are_steered_to_the_shard_that_owns_it() {
    for count in [2, 3] {
        let prog = steer::program(count).unwrap();
        for s in 0..count {
            let mut n = Net::onnet();
            n.calls.set_shard(s, count);
            n.tx.set_shard(s, count);
            n.dir.register("bob", BOB1);
            n.deliver(&invite("c1", "bob", true), ALICE);
            assert_eq!(n.statuses(ALICE), [100]);
            let i = n.request(BOB1, Method::Invite);
            let b_contact = contact_of(&i);
            assert!(b_contact.ends_with(&format!(";shard={s}")), "{b_contact}");
            // the callee's answers come back on the shard that sent the INVITE
            for code in [100, 180, 200] {
                let r = reply(&i, code, "b1", &format!("sip:bob@{BOB1}"), code == 200);
                lands_on_its_owner(&prog, &r, count, s);
                n.deliver_msg(r, BOB1);
            }
            let mut to_alice = n.take(ALICE);
            let ok = to_alice.pop().unwrap();
            assert_eq!(ok.status(), Some(200));
            assert!(contact_of(&ok).ends_with(&format!(";shard={s}")));
            n.request(BOB1, Method::Ack);
            // the caller's ACK and BYE go to our Contact, with our To tag
            let ack = ack_for(&ok, false);
            lands_on_its_owner(&prog, &ack, count, s);
            n.deliver_msg(ack, ALICE);
            // a BYE of the callee would go to our INVITE's Contact, with our From tag as To
            let callee_bye = in_dialog(
                Method::Bye,
                &b_contact,
                BOB1,
                "bbye",
                &format!("<sip:bob@{BOB1}>;tag=b1"),
                i.header(&sip_message::HeaderName::From).unwrap(),
                i.call_id().unwrap(),
                1,
                false,
            );
            lands_on_its_owner(&prog, &callee_bye, count, s);
            let bye = in_dialog(
                Method::Bye,
                &contact_of(&ok),
                ALICE,
                "bye1",
                ok.header(&sip_message::HeaderName::From).unwrap(),
                ok.header(&sip_message::HeaderName::To).unwrap(),
                "c1",
                2,
                false,
            );
            lands_on_its_owner(&prog, &bye, count, s);
            n.deliver_msg(bye, ALICE);
            assert_eq!(n.statuses(ALICE), [200]);
            // the answer to our BYE to the callee comes back to the shard that sent it
            let b_bye = n.request(BOB1, Method::Bye);
            let answer = reply(&b_bye, 200, "b1", &format!("sip:bob@{BOB1}"), false);
            lands_on_its_owner(&prog, &answer, count, s);
            n.deliver_msg(answer, BOB1);
            assert_eq!(n.cdrs.len(), 1);
        }
    }
}

#[test]
fn without_shards_our_contacts_are_as_before() {
    let mut n = Net::onnet();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("c1", "bob", true), ALICE);
    let i = n.request(BOB1, Method::Invite);
    assert_eq!(contact_of(&i), format!("sip:alice@{SERVER}"));
}
