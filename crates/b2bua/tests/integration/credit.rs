//! The credit control hook: asked at route time (OFFNET vs ONNET), told of the answer and of
//! every end; a refusal answers the caller with its status and reason; the cut-off sends BYE
//! to both legs with CDR reason `credit`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use b2bua::dialplan::{Action, Entry};
use b2bua::{Cdr, CreditControl, CreditRefusal, HangupBy};
use sip_message::{HeaderName, Method};

use crate::net::*;

#[derive(Default)]
struct Seen {
    authorized: Vec<(u64, String, String, bool)>,
    answered: Vec<u64>,
    ended: Vec<(u64, String)>,
}

/// Refuses numbers starting with `9`; records everything.
struct Recorder(Arc<Mutex<Seen>>);

impl CreditControl for Recorder {
    fn authorize(
        &mut self,
        _now: Instant,
        call: u64,
        _call_id: &str,
        caller: &str,
        number: &str,
        onnet: bool,
    ) -> Result<(), CreditRefusal> {
        self.0
            .lock()
            .unwrap()
            .authorized
            .push((call, caller.into(), number.into(), onnet));
        if number.starts_with('9') {
            return Err(CreditRefusal {
                status: 402,
                reason: "Insufficient Balance",
            });
        }
        Ok(())
    }
    fn answered(&mut self, _now: Instant, call: u64) {
        self.0.lock().unwrap().answered.push(call);
    }
    fn ended(&mut self, _now: Instant, call: u64, cdr: &Cdr) {
        self.0
            .lock()
            .unwrap()
            .ended
            .push((call, cdr.hangup_by.as_str().to_owned()));
    }
}

fn net() -> (Net, Arc<Mutex<Seen>>) {
    let mut n = Net::new(vec![
        Entry::new("", 0, Action::UserLookup),
        Entry::new(
            "00",
            0,
            Action::Gateway {
                gateways: vec!["gw1".into()],
                strip: 2,
                prepend: String::new(),
            },
        ),
    ]);
    n.dir.gateway("gw1", GW1, None);
    let seen = Arc::new(Mutex::new(Seen::default()));
    n.calls.set_credit(Box::new(Recorder(seen.clone())));
    (n, seen)
}

#[test]
fn a_refused_call_gets_402_with_the_reason_and_starts_no_leg() {
    let (mut n, seen) = net();
    n.deliver(&invite("k1", "0099", true), ALICE);
    let answers = n.take(ALICE);
    let refusal = answers.iter().find(|m| m.status() == Some(402)).unwrap();
    assert_eq!(refusal.reason(), Some("Insufficient Balance"));
    assert!(refusal
        .header(&HeaderName::Warning)
        .unwrap()
        .contains("Insufficient Balance"));
    assert!(n.take(GW1).is_empty(), "no gateway leg");
    assert_eq!(n.cdrs[0].final_code, 402);
    let s = seen.lock().unwrap();
    assert_eq!(s.authorized, [(1, "alice".into(), "99".into(), false)]);
    assert_eq!(s.ended, [(1, "system".into())], "every end is reported");
}

#[test]
fn an_offnet_call_is_cut_for_credit_with_bye_to_both_legs() {
    let (mut n, seen) = net();
    n.deliver(&invite("k2", "0044", true), ALICE);
    let inv = n.request(GW1, Method::Invite);
    n.deliver_msg(reply(&inv, 200, "gt", &format!("sip:44@{GW1}"), true), GW1);
    let ok = n
        .take(ALICE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    n.deliver_msg(ack_for(&ok, false), ALICE);
    assert_eq!(seen.lock().unwrap().answered, [1]);
    assert!(!n.credit_cut(2), "no such call");
    assert!(n.credit_cut(1));
    assert!(!n.credit_cut(1), "once");
    let bye_a = n.request(ALICE, Method::Bye);
    assert_eq!(bye_a.call_id(), Some("k2"));
    let bye_b = n.request(GW1, Method::Bye);
    assert_eq!(bye_b.call_id(), inv.call_id());
    assert_eq!(n.cdrs[0].hangup_by, HangupBy::Credit);
    assert_eq!(n.cdrs[0].hangup_by.as_str(), "credit");
    assert_eq!(seen.lock().unwrap().ended, [(1, "credit".into())]);
}

#[test]
fn onnet_calls_are_asked_as_onnet_and_ringing_calls_are_not_cut() {
    let (mut n, seen) = net();
    n.dir.register("bob", BOB1);
    n.deliver(&invite("k3", "bob", true), ALICE);
    let _inv = n.request(BOB1, Method::Invite);
    assert!(
        !n.credit_cut(1),
        "a ringing call holds only its first charge"
    );
    assert_eq!(
        seen.lock().unwrap().authorized,
        [(1, "alice".into(), "bob".into(), true)]
    );
    // the operator ends it while it rings: the end is reported
    assert!(n.hang_up(1));
    assert_eq!(seen.lock().unwrap().ended, [(1, "system".into())]);
}
