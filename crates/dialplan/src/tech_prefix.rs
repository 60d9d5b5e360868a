//! Tech-prefix rules (voipswitch syntax): `DP:int-> OR onnet;TP:int->`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Which number a [`Rule`] rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `DP:` — the dialed number, before it is looked up in the dialing plan.
    Dp,
    /// `TP:` — the caller's number (its tech prefix).
    Tp,
}

impl RuleKind {
    /// The canonical spelling without the colon: `DP` or `TP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dp => "DP",
            Self::Tp => "TP",
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of a rule a [`RuleError::BadChar`] was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RulePart {
    /// The text between `XX:` and `->`.
    Match,
    /// The text between `->` and `OR` (or the end).
    Replacement,
    /// The text after `OR`.
    Prepend,
}

impl fmt::Display for RulePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Match => "match",
            Self::Replacement => "replacement",
            Self::Prepend => "prepend",
        })
    }
}

/// A tech-prefix string that could not be parsed.
///
/// Every variant names the offending rule by its 1-based position among the non-empty
/// `;`-separated rules (`index`) and by its trimmed text (`rule`); [`RuleError::index`] and
/// [`RuleError::rule`] read them whatever the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// No `XX:` in front of the rule (`int->` instead of `DP:int->`, or `:int->`).
    #[error("tech-prefix rule {index} `{rule}`: missing `DP:` or `TP:` in front")]
    MissingKind {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
    },
    /// A kind other than `DP` or `TP`.
    #[error("tech-prefix rule {index} `{rule}`: unknown kind `{kind}:` (expected `DP:` or `TP:`)")]
    UnknownKind {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
        /// What stood before the colon.
        kind: String,
    },
    /// No `->` after the match.
    #[error("tech-prefix rule {index} `{rule}`: missing `->` (expected `{kind}:MATCH->REPLACE`)")]
    MissingArrow {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
        /// The rule's kind, for the message.
        kind: RuleKind,
    },
    /// A second `->` in the replacement or the prepend (`DP:a->b->c`).
    #[error("tech-prefix rule {index} `{rule}`: more than one `->`")]
    ExtraArrow {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
    },
    /// A character that may not appear in a match, replacement or prepend (white space
    /// inside the match, control or non-ASCII characters).
    #[error("tech-prefix rule {index} `{rule}`: {part} contains {ch:?}")]
    BadChar {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
        /// Where the character is.
        part: RulePart,
        /// The character.
        ch: char,
    },
    /// Something other than `OR` after the replacement (`DP:00->48 44`).
    #[error("tech-prefix rule {index} `{rule}`: unexpected `{found}` after the replacement (expected `OR PREFIX` or the end)")]
    UnexpectedToken {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
        /// The first unexpected token.
        found: String,
    },
    /// `OR` with nothing after it.
    #[error("tech-prefix rule {index} `{rule}`: `OR` without a prefix to prepend")]
    MissingPrepend {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
    },
    /// More after `OR PREFIX` (`DP:int-> OR onnet x`).
    #[error("tech-prefix rule {index} `{rule}`: unexpected `{found}` after `OR {prepend}`")]
    TrailingAfterOr {
        /// 1-based position of the rule.
        index: usize,
        /// The rule's text.
        rule: String,
        /// The prefix that `OR` prepends.
        prepend: String,
        /// The first token after it.
        found: String,
    },
}

impl RuleError {
    /// 1-based position of the offending rule among the non-empty rules.
    pub fn index(&self) -> usize {
        match self {
            Self::MissingKind { index, .. }
            | Self::UnknownKind { index, .. }
            | Self::MissingArrow { index, .. }
            | Self::ExtraArrow { index, .. }
            | Self::BadChar { index, .. }
            | Self::UnexpectedToken { index, .. }
            | Self::MissingPrepend { index, .. }
            | Self::TrailingAfterOr { index, .. } => *index,
        }
    }

    /// The offending rule's text, trimmed.
    pub fn rule(&self) -> &str {
        match self {
            Self::MissingKind { rule, .. }
            | Self::UnknownKind { rule, .. }
            | Self::MissingArrow { rule, .. }
            | Self::ExtraArrow { rule, .. }
            | Self::BadChar { rule, .. }
            | Self::UnexpectedToken { rule, .. }
            | Self::MissingPrepend { rule, .. }
            | Self::TrailingAfterOr { rule, .. } => rule,
        }
    }
}

/// One `DP:` or `TP:` rule: `MATCH->REPLACE`, optionally followed by ` OR PREPEND`.
///
/// Applied to a number: if it starts with `MATCH`, that leading `MATCH` is replaced by
/// `REPLACE` (which may be empty: strip); otherwise, if there is an `OR` part, `PREPEND` is put
/// in front; otherwise the rule does not apply. An empty `MATCH` matches every number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    kind: RuleKind,
    pattern: String,
    replacement: String,
    or_prepend: Option<String>,
}

impl Rule {
    /// `DP` or `TP`.
    pub fn kind(&self) -> RuleKind {
        self.kind
    }

    /// The leading text the rule looks for (may be empty).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// What replaces the matched leading text (may be empty).
    pub fn replacement(&self) -> &str {
        &self.replacement
    }

    /// What is prepended when the number does not start with the pattern, if anything.
    pub fn or_prepend(&self) -> Option<&str> {
        self.or_prepend.as_deref()
    }

    /// Rewrites `number`, or `None` if the rule does not apply to it (no match and no `OR`).
    pub fn apply<'a>(&self, number: &'a str) -> Option<Cow<'a, str>> {
        if let Some(rest) = number.strip_prefix(self.pattern.as_str()) {
            if self.replacement.is_empty() {
                Some(Cow::Borrowed(rest))
            } else {
                Some(Cow::Owned(concat(&self.replacement, rest)))
            }
        } else {
            self.or_prepend
                .as_deref()
                .map(|p| Cow::Owned(concat(p, number)))
        }
    }
}

fn concat(a: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + b.len());
    s.push_str(a);
    s.push_str(b);
    s
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}->{}", self.kind, self.pattern, self.replacement)?;
        if let Some(p) = &self.or_prepend {
            write!(f, " OR {p}")?;
        }
        Ok(())
    }
}

/// An account's tech-prefix rules, in the order they were written.
///
/// See the [crate documentation](crate#tech-prefix-rules) for the language. The empty string
/// parses to a `TechPrefix` with no rules, which leaves every number unchanged.
///
/// ```
/// use dialplan::TechPrefix;
///
/// let tp: TechPrefix = "DP:int-> OR onnet; TP:int->".parse()?;
/// assert_eq!(tp.apply_dp("int4420"), "4420");
/// assert_eq!(tp.apply_dp("alice"), "onnetalice");
/// assert_eq!(tp.apply_tp("int48600"), "48600");
/// assert_eq!(tp.to_string(), "DP:int-> OR onnet;TP:int->");
/// # Ok::<(), dialplan::RuleError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TechPrefix {
    rules: Vec<Rule>,
}

impl TechPrefix {
    /// Parses `;`-separated rules. White space around tokens and empty segments are ignored.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let rules = text
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| parse_rule(i + 1, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// All rules, `DP` and `TP` mixed, in written order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// True when there are no rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rewrites a dialed number with the first `DP:` rule that applies (see [`Rule::apply`]);
    /// unchanged if none does. Borrows from `dialed` when nothing or only a strip happened.
    pub fn apply_dp<'a>(&self, dialed: &'a str) -> Cow<'a, str> {
        self.apply(RuleKind::Dp, dialed)
    }

    /// Rewrites the caller's number with the first `TP:` rule that applies, like
    /// [`apply_dp`](Self::apply_dp) does for `DP:` rules.
    pub fn apply_tp<'a>(&self, caller: &'a str) -> Cow<'a, str> {
        self.apply(RuleKind::Tp, caller)
    }

    fn apply<'a>(&self, kind: RuleKind, number: &'a str) -> Cow<'a, str> {
        self.rules
            .iter()
            .filter(|r| r.kind == kind)
            .find_map(|r| r.apply(number))
            .unwrap_or(Cow::Borrowed(number))
    }
}

impl FromStr for TechPrefix {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TechPrefix {
    /// The canonical form: rules joined by `;`, no white space except around `OR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{rule}")?;
        }
        Ok(())
    }
}

fn is_or(token: &str) -> bool {
    token.eq_ignore_ascii_case("OR")
}

/// `rule` is trimmed and non-empty.
fn parse_rule(index: usize, rule: &str) -> Result<Rule, RuleError> {
    let owned = || rule.to_owned();
    let (kind, body) = match rule.split_once(':') {
        Some((kind, body)) if !kind.contains("->") && !kind.trim().is_empty() => {
            (kind.trim(), body)
        }
        _ => {
            return Err(RuleError::MissingKind {
                index,
                rule: owned(),
            })
        }
    };
    let kind = if kind.eq_ignore_ascii_case("DP") {
        RuleKind::Dp
    } else if kind.eq_ignore_ascii_case("TP") {
        RuleKind::Tp
    } else {
        return Err(RuleError::UnknownKind {
            index,
            rule: owned(),
            kind: kind.to_owned(),
        });
    };
    let Some((pattern, rest)) = body.split_once("->") else {
        return Err(RuleError::MissingArrow {
            index,
            rule: owned(),
            kind,
        });
    };
    let pattern = pattern.trim();
    check_chars(index, rule, RulePart::Match, pattern)?;

    let mut tokens = rest.split_whitespace();
    let first = tokens.next();
    let (replacement, or_token) = match first {
        None => ("", None),
        Some(t) if is_or(t) => ("", Some(t)),
        Some(t) => (t, tokens.next()),
    };
    check_chars(index, rule, RulePart::Replacement, replacement)?;
    let or_prepend = match or_token {
        None => None,
        Some(t) if !is_or(t) => {
            return Err(RuleError::UnexpectedToken {
                index,
                rule: owned(),
                found: t.to_owned(),
            })
        }
        Some(_) => {
            let Some(prepend) = tokens.next() else {
                return Err(RuleError::MissingPrepend {
                    index,
                    rule: owned(),
                });
            };
            check_chars(index, rule, RulePart::Prepend, prepend)?;
            if let Some(found) = tokens.next() {
                return Err(RuleError::TrailingAfterOr {
                    index,
                    rule: owned(),
                    prepend: prepend.to_owned(),
                    found: found.to_owned(),
                });
            }
            Some(prepend.to_owned())
        }
    };
    Ok(Rule {
        kind,
        pattern: pattern.to_owned(),
        replacement: replacement.to_owned(),
        or_prepend,
    })
}

/// Matches, replacements and prepends are printable ASCII without white space (`;` cannot occur:
/// it separates rules). Replacements and prepends may not contain `->`.
fn check_chars(index: usize, rule: &str, part: RulePart, text: &str) -> Result<(), RuleError> {
    if let Some(ch) = text.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(RuleError::BadChar {
            index,
            rule: rule.to_owned(),
            part,
            ch,
        });
    }
    if part != RulePart::Match && text.contains("->") {
        return Err(RuleError::ExtraArrow {
            index,
            rule: rule.to_owned(),
        });
    }
    Ok(())
}
