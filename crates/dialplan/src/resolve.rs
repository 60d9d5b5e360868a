//! Both steps at once: tech-prefix `DP:` rules, then the dialing plan.

use std::borrow::Cow;

use crate::{DialPlan, Entry, Route, TechPrefix};

/// Where a dialed number goes: the rewritten number and the chosen entry, owned, so the caller
/// can keep it in call state after the plan has been swapped for a reloaded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    number: String,
    prefix_len: usize,
    entry: Entry,
    fallbacks: Vec<Entry>,
}

impl Resolved {
    /// The number after the `DP:` rules — the one that was matched against the plan.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// `number` without the matched prefix (the login for [`Action::UserLookup`](crate::Action::UserLookup)).
    pub fn rest(&self) -> &str {
        &self.number[self.prefix_len..]
    }

    /// The winning entry (longest prefix, lowest priority).
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The other entries with the same prefix, in priority order, for the caller to try when
    /// the winner fails. Usually empty.
    pub fn fallbacks(&self) -> &[Entry] {
        &self.fallbacks
    }

    /// The winner as a [`Route`] borrowing from `self`.
    pub fn route(&self) -> Route<'_> {
        Route {
            entry: &self.entry,
            rest: self.rest(),
            number: &self.number,
        }
    }

    /// [`Route::target_number`] of the winner.
    pub fn target_number(&self) -> Option<Cow<'_, str>> {
        self.route().target_number()
    }
}

/// No entry of the dialing plan matches (and it has no catch-all `""`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no dialing-plan entry matches `{number}` (dialed `{dialed}`)")]
pub struct NoRoute {
    /// The number as dialed.
    pub dialed: String,
    /// The number after the `DP:` rules.
    pub number: String,
}

/// Rewrites `dialed` with the account's `DP:` rules ([`TechPrefix::apply_dp`]) and routes the
/// result in `plan` ([`DialPlan::routes`]). This is what the B2BUA calls for every INVITE and
/// MESSAGE.
///
/// ```
/// use dialplan::{resolve, Action, DialPlan, Entry, TechPrefix};
///
/// let tech: TechPrefix = "DP:int-> OR onnet".parse()?;
/// let plan = DialPlan::new(vec![
///     Entry::new("onnet", 0, Action::UserLookup),
///     Entry::new("44", 0, "gateway:uk1,uk2 prepend=00".parse()?),
/// ]);
///
/// let onnet = resolve(&tech, &plan, "alice")?;
/// assert_eq!(onnet.entry().action, Action::UserLookup);
/// assert_eq!(onnet.rest(), "alice");
///
/// let offnet = resolve(&tech, &plan, "int4420")?;
/// assert_eq!(offnet.number(), "4420");
/// assert_eq!(offnet.target_number().as_deref(), Some("004420"));
///
/// assert!(resolve(&tech, &plan, "int4820").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve(tech: &TechPrefix, plan: &DialPlan, dialed: &str) -> Result<Resolved, NoRoute> {
    let number = tech.apply_dp(dialed);
    let mut routes = plan.routes(&number);
    let Some(first) = routes.next() else {
        return Err(NoRoute {
            dialed: dialed.to_owned(),
            number: number.into_owned(),
        });
    };
    let prefix_len = first.number.len() - first.rest.len();
    let entry = first.entry.clone();
    let fallbacks = routes.map(|r| r.entry.clone()).collect();
    Ok(Resolved {
        number: number.into_owned(),
        prefix_len,
        entry,
        fallbacks,
    })
}
