//! Answering rules (seed: "different actions for calls coming from different caller IDs"): per
//! account, an ordered list of (caller-ID prefix or `*`, when, action). The first rule whose
//! caller matches and whose `when` is the situation decides.
//!
//! Text form, one rule per line (the CLI's and the admin API's): `CALLER WHEN ACTION`, e.g.
//! `* busy voicemail`, `0048 always forward:48600100200`, `666 always reject:603`,
//! `* always ring:20` (ring 20 s, then the `no-answer` rules apply).
//!
//! Pure functions; the B2BUA asks [`AnsweringRules::decide`] at the call's start (`always`) and
//! when the callee's branches end (`busy`, `no-answer`, `unavailable`).

use std::fmt;
use std::time::Duration;

/// The situation a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum When {
    /// At the call's start, before ringing.
    Always,
    /// The callee is busy or declined (486, 600, 603).
    Busy,
    /// Nobody answered in time (the no-answer timer, or a push wake-up timeout).
    NoAnswer,
    /// The callee has no device reachable (not registered, 480/404 from every branch).
    Unavailable,
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Send the call to the callee's mailbox.
    Voicemail,
    /// Send the call to this number (routed by the dialing plan as the callee).
    Forward(String),
    /// Refuse with this status code (400-699).
    Reject(u16),
    /// Ring the callee for this long first; then the `no-answer` rules apply.
    RingFirst(Duration),
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// A caller-ID prefix, or `*` for every caller.
    pub caller: String,
    /// When it applies.
    pub when: When,
    /// What it does.
    pub action: RuleAction,
}

/// Why a rule's text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// Not three fields.
    #[error("rule {0:?}: expected `CALLER WHEN ACTION` (e.g. `* busy voicemail`)")]
    Shape(String),
    /// The caller is neither `*` nor digits/`+`/letters of a login.
    #[error("rule caller {0:?}: expected `*` or a caller-ID prefix")]
    Caller(String),
    /// Unknown `when`.
    #[error("rule when {0:?}: expected always, busy, no-answer or unavailable")]
    When(String),
    /// Unknown or malformed action.
    #[error(
        "rule action {0:?}: expected voicemail, forward:NUMBER, reject:CODE (400-699) or ring:SECONDS (1-300)"
    )]
    Action(String),
}

impl When {
    /// The name in the text form (`no-answer`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Unavailable => "unavailable",
        }
    }
}

impl Rule {
    /// Parses `CALLER WHEN ACTION`.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [caller, when, action] = f[..] else {
            return Err(RuleError::Shape(text.to_owned()));
        };
        if caller.len() > 64
            || caller != "*"
                && !caller
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
        {
            return Err(RuleError::Caller(caller.to_owned()));
        }
        let when = match when {
            "always" => When::Always,
            "busy" => When::Busy,
            "no-answer" => When::NoAnswer,
            "unavailable" => When::Unavailable,
            _ => return Err(RuleError::When(when.to_owned())),
        };
        let bad = || RuleError::Action(action.to_owned());
        let action = match action.split_once(':') {
            None if action == "voicemail" => RuleAction::Voicemail,
            Some(("forward", n))
                if !n.is_empty() && n.len() <= 128 && !n.contains(char::is_whitespace) =>
            {
                RuleAction::Forward(n.to_owned())
            }
            Some(("reject", c)) => RuleAction::Reject(
                c.parse()
                    .ok()
                    .filter(|c| (400..700).contains(c))
                    .ok_or_else(bad)?,
            ),
            Some(("ring", s)) => RuleAction::RingFirst(Duration::from_secs(
                s.parse()
                    .ok()
                    .filter(|s| (1..=300).contains(s))
                    .ok_or_else(bad)?,
            )),
            _ => return Err(bad()),
        };
        Ok(Self {
            caller: caller.to_owned(),
            when,
            action,
        })
    }

    fn matches(&self, caller: &str, when: When) -> bool {
        self.when == when && (self.caller == "*" || caller.starts_with(&self.caller))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.caller, self.when.name())?;
        match &self.action {
            RuleAction::Voicemail => write!(f, "voicemail"),
            RuleAction::Forward(n) => write!(f, "forward:{n}"),
            RuleAction::Reject(c) => write!(f, "reject:{c}"),
            RuleAction::RingFirst(d) => write!(f, "ring:{}", d.as_secs()),
        }
    }
}

/// An account's ordered rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnsweringRules(pub Vec<Rule>);

impl AnsweringRules {
    /// The seed's default: with voicemail enabled, a declined (busy) or unanswered call goes to
    /// voicemail (the no-answer timer is the call timeout, 30 s by default), and so does a call
    /// to a callee with no reachable device; without, none.
    pub fn default_for(voicemail_enabled: bool) -> Self {
        if !voicemail_enabled {
            return Self::default();
        }
        Self(
            [When::Busy, When::NoAnswer, When::Unavailable]
                .into_iter()
                .map(|when| Rule {
                    caller: "*".into(),
                    when,
                    action: RuleAction::Voicemail,
                })
                .collect(),
        )
    }

    /// Parses one rule per line (blank lines and `#` comments skipped).
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(Rule::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The action of the first rule for `caller` in situation `when`.
    pub fn decide(&self, caller: &str, when: When) -> Option<&RuleAction> {
        self.0
            .iter()
            .find(|r| r.matches(caller, when))
            .map(|r| &r.action)
    }
}

impl fmt::Display for AnsweringRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.0 {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = AnsweringRules::parse(
            "# the boss always gets through, a pest never\n\
             0048600 always ring:60\n\
             666 always reject:603\n\
             0048 busy forward:48600100200\n\
             * busy voicemail\n\
             * no-answer voicemail\n",
        )
        .unwrap();
        assert_eq!(
            rules.decide("0048600111", When::Always),
            Some(&RuleAction::RingFirst(Duration::from_secs(60)))
        );
        assert_eq!(
            rules.decide("6661", When::Always),
            Some(&RuleAction::Reject(603))
        );
        assert_eq!(rules.decide("alice", When::Always), None);
        assert_eq!(
            rules.decide("0048700", When::Busy),
            Some(&RuleAction::Forward("48600100200".into()))
        );
        assert_eq!(
            rules.decide("alice", When::Busy),
            Some(&RuleAction::Voicemail)
        );
        assert_eq!(
            rules.decide("alice", When::NoAnswer),
            Some(&RuleAction::Voicemail)
        );
        assert_eq!(rules.decide("alice", When::Unavailable), None);
        // Printing gives the text back.
        assert_eq!(AnsweringRules::parse(&rules.to_string()).unwrap(), rules);
    }

    #[test]
    fn defaults_follow_the_seed() {
        let d = AnsweringRules::default_for(true);
        assert_eq!(d.decide("x", When::Busy), Some(&RuleAction::Voicemail));
        assert_eq!(d.decide("x", When::NoAnswer), Some(&RuleAction::Voicemail));
        assert_eq!(
            d.decide("x", When::Unavailable),
            Some(&RuleAction::Voicemail)
        );
        assert_eq!(d.decide("x", When::Always), None);
        assert_eq!(
            AnsweringRules::default_for(false).decide("x", When::Busy),
            None
        );
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for (text, want) in [
            ("* busy", "CALLER WHEN ACTION"),
            ("a;b busy voicemail", "caller"),
            ("* sometimes voicemail", "always, busy"),
            ("* busy reject:200", "reject:CODE"),
            ("* busy ring:0", "ring:SECONDS"),
            ("* busy forward:", "forward:NUMBER"),
            ("* busy dance", "voicemail, forward"),
            (&format!("{} busy voicemail", "1".repeat(65)), "caller"),
            (
                &format!("* busy forward:{}", "1".repeat(129)),
                "forward:NUMBER",
            ),
        ] {
            let e = Rule::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
