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
