//! `dialplan`: tech-prefix rules and the dialing plan, as pure functions (no I/O).
//!
//! A core crate at the bottom of the stack: it depends on nothing of ours and never touches a
//! socket, a clock or a database. The `b2bua` (calls) and `messaging` (MESSAGE is
//! routed like a call) call [`resolve`] for every request from an authenticated account; the
//! `store` reads the `dialing_plan` rows and the accounts' `tech_prefix` column into the types
//! of this crate ([`Entry`], [`Action`] via [`FromStr`](std::str::FromStr), [`TechPrefix`]),
//! rejecting bad rows at load time with errors that point at them.
//!
//! Routing is two steps:
//!
//! 1. the account's [`TechPrefix`] `DP:` rules rewrite the dialed user part;
//! 2. the [`DialPlan`] maps the rewritten number to an [`Action`] by longest prefix, then
//!    priority.
//!
//! # Tech-prefix rules
//!
//! The voipswitch syntax: rules separated by `;`, each
//!
//! ```text
//! KIND:MATCH->REPLACE[ OR PREPEND]
//! ```
//!
//! - `KIND` is `DP` (rewrites the **dialed** number before routing, [`TechPrefix::apply_dp`])
//!   or `TP` (rewrites the **caller's** number, [`TechPrefix::apply_tp`]); case-insensitive.
//! - If the number starts with `MATCH`, that leading `MATCH` is replaced by `REPLACE`
//!   (`REPLACE` may be empty: the prefix is stripped). Matching is case-sensitive.
//! - Otherwise, if there is an `OR PREPEND` part, `PREPEND` is put in front of the number.
//! - Otherwise the rule does not apply.
//! - An empty `MATCH` matches every number, so `DP:->44` always prepends `44`.
//! - **Several rules of one kind: the first one that applies wins** and the others are not
//!   looked at — rules do not chain. A rule applies when its `MATCH` matches or when it has an
//!   `OR` part, so a rule after one with `OR` (or with an empty `MATCH`) is never used. No
//!   rule applying leaves the number unchanged.
//! - White space around tokens and empty segments (`;;`, a trailing `;`) are ignored.
//!   `MATCH`, `REPLACE` and `PREPEND` are printable ASCII without white space; `OR` (any case)
//!   is the keyword, never a replacement.
//! - [`TechPrefix`]'s `Display` prints the canonical form (`DP:int-> OR onnet;TP:int->`), and
//!   parsing it gives the same value back.
//!
//! ```
//! use dialplan::TechPrefix;
//!
//! // The RCS default: OFFNET numbers come as `int…` and lose the `int`; everything else is
//! // an ONNET login and gets `onnet` in front, which the plan sends to user lookup.
//! let rcs = TechPrefix::parse("DP:int-> OR onnet")?;
//! assert_eq!(rcs.apply_dp("int4420"), "4420");
//! assert_eq!(rcs.apply_dp("alice"), "onnetalice");
//!
//! // Replace a leading 00 by 48; anything else is left alone.
//! let pl = TechPrefix::parse("DP:00->48")?;
//! assert_eq!(pl.apply_dp("0012"), "4812");
//! assert_eq!(pl.apply_dp("12"), "12");
//!
//! // First applicable rule wins: `0044…` is caught by the first rule only.
//! let two = TechPrefix::parse("DP:00->; DP:0->48; TP:int->")?;
//! assert_eq!(two.apply_dp("0044"), "44");
//! assert_eq!(two.apply_dp("012"), "4812");
//! assert_eq!(two.apply_tp("int777"), "777");
//!
//! // Errors say which rule (1-based) is wrong and why.
//! let err = TechPrefix::parse("DP:int-> OR onnet;XX:1->2").unwrap_err();
//! assert_eq!(err.index(), 2);
//! assert_eq!(err.rule(), "XX:1->2");
//! assert_eq!(err.to_string(), "tech-prefix rule 2 `XX:1->2`: unknown kind `XX:` (expected `DP:` or `TP:`)");
//! # Ok::<(), dialplan::RuleError>(())
//! ```
//!
//! # Dialing plan
//!
//! A table of [`Entry`] rows: `prefix`, `priority`, [`Action`] (`user-lookup`,
//! `gateway:gw1,gw2 strip=2 prepend=48`, `service:sip:…`, `voicemail:sip:…`,
//! `ring-group:NAME`, `reject:CODE`). [`DialPlan::route`] picks
//!
//! 1. the entries whose prefix is the **longest** leading part of the number (prefixes are
//!    compared byte by byte, case-sensitively; `""` is a catch-all that matches every
//!    number but loses to any longer match);
//! 2. among those, the one with the **lowest `priority` value** — lower is tried first, as
//!    Kamailio's dialplan `pr`; equal priorities keep the order the entries were given in.
//!
//! [`DialPlan::routes`] gives all entries of that longest prefix in that order (failover
//! between rows); entries with shorter prefixes are never fallbacks.
//!
//! ```
//! use dialplan::{Action, DialPlan, Entry};
//!
//! let plan = DialPlan::new(vec![
//!     Entry::new("", 0, Action::Reject { code: 404 }),
//!     Entry::new("48", 0, "gateway:pl1".parse()?),
//!     Entry::new("4860", 5, "gateway:mobile-b".parse()?),
//!     Entry::new("4860", 1, "gateway:mobile-a strip=2 prepend=0".parse()?),
//!     Entry::new("onnet", 0, Action::UserLookup),
//! ]);
//!
//! let r = plan.route("48601234").unwrap();
//! assert_eq!(r.entry.action.to_string(), "gateway:mobile-a strip=2 prepend=0");
//! assert_eq!(r.rest, "1234");
//! assert_eq!(r.target_number().as_deref(), Some("0601234"));
//! assert_eq!(plan.routes("48601234").count(), 2);
//!
//! assert_eq!(plan.route("48221234").unwrap().entry.prefix, "48");
//! assert_eq!(plan.route("onnetalice").unwrap().target_number().as_deref(), Some("alice"));
//! assert_eq!(plan.route("99").unwrap().entry.action, Action::Reject { code: 404 });
//! # Ok::<(), dialplan::ActionError>(())
//! ```
//!
//! A lookup walks a byte trie, one step per byte of the number, so it costs the same in a plan
//! of ten entries or a million (tens of nanoseconds; `cargo bench -p dialplan`).

mod action;
mod plan;
mod resolve;
mod tech_prefix;

pub use action::{Action, ActionError, REJECT_CODES};
pub use plan::{DialPlan, Entry, PrefixIndex, Route, Routes};
pub use resolve::{resolve, NoRoute, Resolved};
pub use tech_prefix::{Rule, RuleError, RuleKind, RulePart, TechPrefix};
