//! Answering rules applied to a new call to an account (`voicemail::rules`): what the callee's
//! rules say at the start (`always`: reject, forward, voicemail, or ring N seconds first), and
//! what happens when its devices are busy/decline, do not answer, or are unreachable.
//!
//! Pure: [`apply`] rewrites the routing decision and returns the [`Fallbacks`] the call keeps
//! (each resolved through the dialing plan and the [`Directory`] at the start, so the call path
//! does no lookup later). An account without rules of its own gets
//! `AnsweringRules::default_for(has voicemail)`: voicemail after busy/decline, no answer or
//! unreachable, as before rules existed.

use std::time::Duration;

use ::voicemail::rules::{AnsweringRules, RuleAction, When};
use dialplan::DialPlan;
use sip_message::Peer;

use crate::route::{decide, Decision, Routed};
use crate::{Caller, Directory};

/// What a call does in one situation instead of answering the caller with the final code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// The callee's voicemail (URI without `cause`, and its flow).
    Voicemail(String, Peer),
    /// Another user's devices or a service: (Request-URI, flow, To user) per branch.
    Forward(Vec<(String, Peer, String)>),
    /// Answer the caller with this code.
    Reject(u16),
}

/// The call's fallbacks per situation; the first one used clears them all (no chains).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fallbacks {
    pub(crate) busy: Option<Fallback>,
    pub(crate) no_answer: Option<Fallback>,
    pub(crate) unavailable: Option<Fallback>,
}

impl Fallbacks {
    /// The fallback for `when`, leaving none.
    pub(crate) fn take(&mut self, when: When) -> Option<Fallback> {
        let f = match when {
            When::Busy => self.busy.take(),
            When::NoAnswer => self.no_answer.take(),
            When::Unavailable => self.unavailable.take(),
            When::Always => None,
        };
        *self = Self::default();
        f
    }
}

/// The situation a final answer of the callee's branches means: busy for 486 and declines
/// (600/603, as voipswitch), no answer for 408/487 (a timer, a CANCEL), else unreachable.
pub(crate) fn situation_of(code: u16) -> When {
    match code {
        486 | 600 | 603 => When::Busy,
        408 | 487 => When::NoAnswer,
        _ => When::Unavailable,
    }
}

/// The rules' effect on a new call.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub(crate) fallbacks: Fallbacks,
    /// An `always ring:N` rule: the no-answer timer for this call.
    pub(crate) ring_for: Option<Duration>,
}

/// Applies `login`'s rules (the call was routed to that account) for `caller_id`: may rewrite
/// `routed` (reject, forward, voicemail at once) and returns the fallbacks and ring time.
pub(crate) fn apply(
    routed: &mut Routed,
    caller: &Caller,
    caller_id: &str,
    plan: &DialPlan,
    dir: &dyn Directory,
    push: bool,
) -> Applied {
    if routed.route != "user-lookup" {
        return Applied::default();
    }
    let login = routed.callee.clone();
    let voicemail = dir
        .voicemail(&login)
        .and_then(|u| dir.service(&u).map(|p| (u, p)));
    let own = dir.answering_rules(&login);
    let rules = own
        .clone()
        .unwrap_or_else(|| std::sync::Arc::new(AnsweringRules::default_for(voicemail.is_some())));
    let mut applied = Applied::default();
    // the call as routed: ringing devices, or nobody to ring (route.rs: voicemail or 480)
    let ringing = matches!(routed.decision, Decision::Fork { .. });
    match rules.decide(caller_id, When::Always) {
        Some(RuleAction::Reject(code)) => {
            routed.decision = Decision::Reject {
                code: *code,
                reason: "answering rule",
            };
            return applied;
        }
        Some(RuleAction::Forward(number)) => {
            *routed = decide(plan, caller, number, dir, push);
            routed.route = "forward";
            return applied;
        }
        Some(RuleAction::Voicemail) => {
            routed.decision = match &voicemail {
                // RFC 4458: 302, unconditional
                Some((uri, peer)) => Decision::Service {
                    uri: crate::voicemail::with_cause(uri, 302),
                    peer: *peer,
                },
                None => Decision::Reject {
                    code: 480,
                    reason: "no voicemail",
                },
            };
            return applied;
        }
        Some(RuleAction::RingFirst(d)) => applied.ring_for = Some(*d),
        None => {}
    }
    let resolve = |when: When| -> Option<Fallback> {
        match rules.decide(caller_id, when)? {
            RuleAction::Voicemail => voicemail
                .clone()
                .map(|(uri, peer)| Fallback::Voicemail(uri, peer)),
            RuleAction::Reject(code) => Some(Fallback::Reject(*code)),
            RuleAction::Forward(number) => forward_targets(plan, caller, number, dir),
            RuleAction::RingFirst(_) => None,
        }
    };
    applied.fallbacks = Fallbacks {
        busy: resolve(When::Busy),
        no_answer: resolve(When::NoAnswer),
        unavailable: resolve(When::Unavailable),
    };
    if !ringing && own.is_some() {
        // nobody to ring: the account's own `unavailable` rule decides now (route.rs sent
        // the call to voicemail or 480 by the default rule)
        let f = applied.fallbacks.take(When::Unavailable);
        routed.decision = match f {
            Some(Fallback::Voicemail(uri, peer)) => Decision::Service {
                uri: crate::voicemail::with_cause(&uri, 480),
                peer,
            },
            Some(Fallback::Forward(targets)) => {
                let (targets, login) = fork_of(targets);
                Decision::Fork {
                    login,
                    targets,
                    push: Vec::new(),
                }
            }
            Some(Fallback::Reject(code)) => Decision::Reject {
                code,
                reason: "answering rule",
            },
            None => Decision::Reject {
                code: 480,
                reason: "not registered",
            },
        };
        applied.ring_for = None;
    }
    applied
}

fn fork_of(targets: Vec<(String, Peer, String)>) -> (Vec<crate::Target>, String) {
    let login = targets.first().map(|t| t.2.clone()).unwrap_or_default();
    let targets = targets
        .into_iter()
        .map(|(uri, peer, login)| crate::Target {
            login,
            uri,
            peer,
            instance: None,
        })
        .collect();
    (targets, login)
}

/// Where a `forward:NUMBER` of a busy/no-answer/unavailable rule rings: the devices of the
/// user or the service the dialing plan routes NUMBER to. Numbers routed to gateways are not
/// forwarded there (the call was authorized for the number dialed): only an `always` rule
/// sends a call to another route as a whole.
fn forward_targets(
    plan: &DialPlan,
    caller: &Caller,
    number: &str,
    dir: &dyn Directory,
) -> Option<Fallback> {
    let branches: Vec<(String, Peer, String)> =
        match decide(plan, caller, number, dir, false).decision {
            Decision::Fork { login, targets, .. } => targets
                .into_iter()
                .map(|t| (t.uri, t.peer, login.clone()))
                .collect(),
            Decision::Service { uri, peer } => {
                let user = crate::call::user_part(&uri).unwrap_or_default();
                vec![(uri, peer, user)]
            }
            _ => Vec::new(),
        };
    if branches.is_empty() {
        tracing::debug!(number, "answering rule: forward target unreachable");
        return None;
    }
    Some(Fallback::Forward(branches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_codes_map_to_situations() {
        assert_eq!(situation_of(486), When::Busy);
        assert_eq!(situation_of(603), When::Busy);
        assert_eq!(situation_of(408), When::NoAnswer);
        assert_eq!(situation_of(480), When::Unavailable);
        assert_eq!(situation_of(503), When::Unavailable);
    }

    use std::collections::HashMap;
    use std::sync::Arc;

    use dialplan::{Action, Entry};
    use sip_message::Transport;

    fn peer(port: u16) -> Peer {
        Peer {
            transport: Transport::Udp,
            remote: ([127, 0, 0, 1], port).into(),
            local: ([127, 0, 0, 1], 5060).into(),
            conn: None,
        }
    }

    /// bob (rules, voicemail, one device), carol (one device), dave (no device).
    struct Dir(HashMap<&'static str, Arc<AnsweringRules>>);

    impl Directory for Dir {
        fn contacts(&self, login: &str) -> Vec<crate::Target> {
            let port = match login {
                "bob" => 5001,
                "carol" => 5002,
                _ => return Vec::new(),
            };
            vec![crate::Target {
                login: login.to_owned(),
                uri: format!("sip:{login}@127.0.0.1:{port}"),
                peer: peer(port),
                instance: None,
            }]
        }
        fn account_exists(&self, login: &str) -> bool {
            matches!(login, "bob" | "carol" | "dave")
        }
        fn gateway(&self, _: &str) -> Option<crate::GatewayTarget> {
            None
        }
        fn ring_group(&self, _: &str) -> Option<crate::RingGroupDef> {
            None
        }
        fn service(&self, uri: &str) -> Option<Peer> {
            uri.contains("vm@").then(|| peer(5090))
        }
        fn voicemail(&self, login: &str) -> Option<String> {
            (login != "carol").then(|| "sip:vm@127.0.0.1:5090".to_owned())
        }
        fn answering_rules(&self, login: &str) -> Option<Arc<AnsweringRules>> {
            self.0.get(login).cloned()
        }
    }

    fn run(rules: &str, callee: &str, caller_id: &str) -> (Routed, Applied) {
        let dir = Dir(HashMap::from([
            ("bob", Arc::new(AnsweringRules::parse(rules).unwrap())),
            ("dave", Arc::new(AnsweringRules::parse(rules).unwrap())),
        ]));
        let plan = DialPlan::new(vec![Entry::new("", 0, Action::UserLookup)]);
        let caller = Caller {
            login: caller_id.to_owned(),
            display_name: None,
            tech_prefix: dialplan::TechPrefix::default(),
            trusted: false,
        };
        let mut routed = decide(&plan, &caller, callee, &dir, false);
        let applied = apply(&mut routed, &caller, caller_id, &plan, &dir, false);
        (routed, applied)
    }

    #[test]
    fn always_rules_reject_forward_or_send_to_voicemail_at_once() {
        let rules = "666 always reject:603\n0048 always forward:carol\n07 always voicemail\n";
        let (r, _) = run(rules, "bob", "6661");
        assert_eq!(
            r.decision,
            Decision::Reject {
                code: 603,
                reason: "answering rule"
            }
        );
        let (r, _) = run(rules, "bob", "0048123");
        assert_eq!((r.route, r.callee.as_str()), ("forward", "carol"));
        assert!(matches!(r.decision, Decision::Fork { ref login, .. } if login == "carol"));
        let (r, _) = run(rules, "bob", "0712");
        assert!(
            matches!(r.decision, Decision::Service { ref uri, .. } if uri.ends_with(";cause=302")),
            "{:?}",
            r.decision
        );
        // nobody the rules name: bob rings, no fallback of its own
        let (r, a) = run(rules, "bob", "alice");
        assert!(matches!(r.decision, Decision::Fork { .. }));
        assert_eq!(a.fallbacks, Fallbacks::default());
    }

    #[test]
    fn ring_first_then_the_no_answer_and_busy_fallbacks() {
        let (r, a) = run(
            "* always ring:20\n* no-answer forward:carol\n* busy reject:486\n",
            "bob",
            "alice",
        );
        assert!(matches!(r.decision, Decision::Fork { .. }));
        assert_eq!(a.ring_for, Some(Duration::from_secs(20)));
        assert_eq!(
            a.fallbacks.no_answer,
            Some(Fallback::Forward(vec![(
                "sip:carol@127.0.0.1:5002".into(),
                peer(5002),
                "carol".into()
            )]))
        );
        assert_eq!(a.fallbacks.busy, Some(Fallback::Reject(486)));
        assert_eq!(
            a.fallbacks.unavailable, None,
            "own rules replace the default"
        );
    }

    #[test]
    fn nobody_to_ring_follows_the_unavailable_rule() {
        // dave has no device: his own rules decide (forward), not the default voicemail
        let (r, _) = run("* unavailable forward:carol\n", "dave", "alice");
        assert!(matches!(r.decision, Decision::Fork { ref login, .. } if login == "carol"));
        let (r, _) = run("* busy voicemail\n", "dave", "alice");
        assert_eq!(
            r.decision,
            Decision::Reject {
                code: 480,
                reason: "not registered"
            }
        );
    }

    #[test]
    fn without_rules_of_its_own_the_default_sends_to_voicemail() {
        let dir = Dir(HashMap::new());
        let plan = DialPlan::new(vec![Entry::new("", 0, Action::UserLookup)]);
        let caller = Caller {
            login: "alice".into(),
            display_name: None,
            tech_prefix: dialplan::TechPrefix::default(),
            trusted: false,
        };
        let mut routed = decide(&plan, &caller, "bob", &dir, false);
        let a = apply(&mut routed, &caller, "alice", &plan, &dir, false);
        for f in [
            a.fallbacks.busy,
            a.fallbacks.no_answer,
            a.fallbacks.unavailable,
        ] {
            assert_eq!(
                f,
                Some(Fallback::Voicemail(
                    "sip:vm@127.0.0.1:5090".into(),
                    peer(5090)
                ))
            );
        }
        assert_eq!(a.ring_for, None);
    }

    #[test]
    fn a_used_fallback_clears_the_others() {
        let mut f = Fallbacks {
            busy: Some(Fallback::Reject(486)),
            no_answer: Some(Fallback::Reject(480)),
            unavailable: None,
        };
        assert_eq!(f.take(When::NoAnswer), Some(Fallback::Reject(480)));
        assert_eq!(f, Fallbacks::default());
    }
}
