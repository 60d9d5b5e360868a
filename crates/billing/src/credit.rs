//! Credit control: authorization at call setup, the split of one balance over parallel calls,
//! the cut-off deadline, and the charge at the end. Sans-IO: `now` comes in, deadlines go out
//! through [`Credit::poll_timeout`], and what to persist is returned to the driver.
//!
//! ```text
//! authorize(call) ──▶ Ringing: holds fee + first increment (refused: 402/403)
//!      │ answered(call)
//!      ▼
//!   Answered: costs cost(elapsed) ── every change of the account's calls ──▶ deadline of
//!      │                              all its answered calls = the largest t with
//!      │                              Σ cost_i(elapsed_i + t) + Σ holds ≤ spendable
//!      │ handle_timeout ─▶ cut (the driver hangs up, reason `credit`)
//!      ▼ ended(call, duration)
//!   Charge { cost ≤ what the deadline allowed } ─▶ balance and plan seconds debited
//! ```
//!
//! Every call of an account draws on the same balance at once (as Kamailio's cnxcc does), so
//! two parallel calls are cut together when their sum reaches the balance, and a new call is
//! refused when what is left does not cover its first charge. A call is never charged past its
//! last deadline: the timer's latency is not billed, and the balance never goes below its floor.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use crate::account::{Account, Bundle};
use crate::money::Money;
use crate::rating::Quote;
use crate::tariff::Tariff;

/// How a new call goes on, as far as money is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Not rated: the account has no billing, or an ONNET/service call the tariff does not
    /// bill. Nothing to reserve, nothing to charge.
    Unrated,
    /// Rated: persist the reservation row; the call is charged at its end.
    Rated(Reservation),
}

/// What a rated call holds, as the reservation row keeps it (so a restart can settle it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub call: u64,
    pub login: String,
    pub number: String,
    pub quote: Quote,
    /// The plan (bundle row id) it uses, with the plan's seconds left when it started.
    pub bundle: Option<(i64, u64)>,
    /// The longest it could last if answered now, the other calls staying as they are.
    pub max_ms: u64,
}

/// Why a call is refused before it is routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("insufficient balance: {available} left, {needed} needed")]
    InsufficientBalance { available: Money, needed: Money },
    #[error("no rate for {number}")]
    NoRate { number: String },
    #[error("the account's tariff {tariff} is not loaded")]
    NoTariff { tariff: i64 },
}

impl Refusal {
    /// 402 Payment Required for money; 403 for a destination the tariff does not sell.
    pub fn status(&self) -> u16 {
        match self {
            Self::InsufficientBalance { .. } => 402,
            Self::NoRate { .. } | Self::NoTariff { .. } => 403,
        }
    }

    /// The reason phrase of the status line (and the Warning text).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InsufficientBalance { .. } => "Insufficient Balance",
            Self::NoRate { .. } => "Destination Not Allowed By Tariff",
            Self::NoTariff { .. } => "No Tariff",
        }
    }
}

/// A finished rated call: what to write with its CDR, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub call: u64,
    pub login: String,
    pub quote: Quote,
    /// The charged duration (the CDR's, capped at the last deadline).
    pub duration_ms: u64,
    pub billed_seconds: u64,
    /// Plan seconds used, and from which plan row.
    pub bundle: Option<(i64, u64)>,
    pub cost: Money,
    /// Whether the call was cut for credit.
    pub cut: bool,
}

#[derive(Debug)]
struct Active {
    login: String,
    quote: Quote,
    bundle: Option<(i64, u64)>,
    answered: Option<Instant>,
    /// The account's calls are cut at this instant.
    deadline: Option<Instant>,
    cut: bool,
}

impl Active {
    /// Plan seconds covering a call of `d` ms.
    fn covered(&self, d: u64) -> u64 {
        self.bundle
            .map_or(0, |(_, left)| self.quote.billed(d).min(left))
    }

    fn cost_at(&self, d: u64) -> Money {
        self.quote.cost(d, self.covered(d))
    }

    /// Ringing: its first charge; answered: its cost `t` ms after `now`.
    fn committed(&self, now: Instant, t: u64) -> Money {
        match self.answered {
            None => self.cost_at(0),
            Some(a) => self.cost_at(now.saturating_duration_since(a).as_millis() as u64 + t),
        }
    }
}

/// The largest `t` in `[0, cap]` with `fits(t)` (`fits` holds up to a point, then never):
/// `None` when not even `fits(0)`.
pub(crate) fn solve_max_ms(cap: u64, fits: impl Fn(u64) -> bool) -> Option<u64> {
    if !fits(0) {
        return None;
    }
    if fits(cap) {
        return Some(cap);
    }
    let (mut lo, mut hi) = (0, cap); // fits(lo), !fits(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// The credit control core: tariffs, billed accounts and the rated calls in progress.
#[derive(Debug)]
pub struct Credit {
    tariffs: HashMap<i64, Tariff>,
    accounts: HashMap<String, Account>,
    calls: HashMap<u64, Active>,
    per_account: HashMap<String, Vec<u64>>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    /// No deadline beyond this (the B2BUA's own longest call duration applies).
    cap: Duration,
}

impl Credit {
    pub fn new(cap: Duration) -> Self {
        Self {
            tariffs: HashMap::new(),
            accounts: HashMap::new(),
            calls: HashMap::new(),
            per_account: HashMap::new(),
            timers: BinaryHeap::new(),
            cap,
        }
    }

    pub fn set_tariff(&mut self, t: Tariff) {
        self.tariffs.insert(t.id, t);
    }

    pub fn tariff(&self, id: i64) -> Option<&Tariff> {
        self.tariffs.get(&id)
    }

    /// Replaces the tariffs (a reload); calls in progress keep their quotes.
    pub fn set_tariffs(&mut self, tariffs: impl IntoIterator<Item = Tariff>) {
        self.tariffs = tariffs.into_iter().map(|t| (t.id, t)).collect();
    }

    /// Adds or replaces an account as stored (at start, after settling reservations). The
    /// calls in progress keep running against the new balance.
    pub fn set_account(&mut self, now: Instant, a: Account) {
        let login = a.login.clone();
        self.accounts.insert(login.clone(), a);
        self.recompute(now, &login);
    }

    /// An account without billing from now on (its calls in progress stay rated).
    pub fn remove_account(&mut self, login: &str) {
        self.accounts.remove(login);
    }

    pub fn account(&self, login: &str) -> Option<&Account> {
        self.accounts.get(login)
    }

    /// A credit or debit made outside calls (the operator, a top-up): moves the balance and
    /// the deadlines of the account's calls.
    pub fn adjust(&mut self, now: Instant, login: &str, amount: Money) {
        if let Some(a) = self.accounts.get_mut(login) {
            a.balance += amount;
            self.recompute(now, login);
        }
    }

    /// Rated calls in progress.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// What the account could still commit, now.
    pub fn available(&self, now: Instant, login: &str) -> Option<Money> {
        let a = self.accounts.get(login)?;
        Some(a.spendable() - self.committed(now, login, 0, None))
    }

    fn committed(&self, now: Instant, login: &str, t: u64, extra: Option<&Active>) -> Money {
        let ids = self.per_account.get(login).map_or(&[][..], Vec::as_slice);
        ids.iter()
            .filter_map(|id| self.calls.get(id))
            .chain(extra)
            .map(|c| c.committed(now, t))
            .sum()
    }

    /// A new call `call` from `login` to `number` (as routed) at `now` (`unix_ms` for the
    /// time-of-day bands and plan validity). `onnet`: to a user or service of this server.
    pub fn authorize(
        &mut self,
        now: Instant,
        unix_ms: u64,
        call: u64,
        login: &str,
        number: &str,
        onnet: bool,
    ) -> Result<Authorization, Refusal> {
        let Some(account) = self.accounts.get(login) else {
            return Ok(Authorization::Unrated);
        };
        let tariff = self.tariffs.get(&account.tariff).ok_or(Refusal::NoTariff {
            tariff: account.tariff,
        })?;
        if onnet && !tariff.bill_onnet {
            return Ok(Authorization::Unrated);
        }
        let quote = match tariff.quote(number, unix_ms) {
            Some(q) => q,
            None if onnet => return Ok(Authorization::Unrated),
            None => {
                return Err(Refusal::NoRate {
                    number: number.into(),
                })
            }
        };
        // one call at a time per plan: its seconds are never promised twice
        let busy: Vec<i64> = self
            .per_account
            .get(login)
            .into_iter()
            .flatten()
            .filter_map(|id| self.calls.get(id)?.bundle.map(|(b, _)| b))
            .collect();
        let bundle = account
            .bundles
            .iter()
            .filter(|b| b.covers(number, unix_ms) && !busy.contains(&b.id))
            .min_by_key(|b| b.valid_until_ms)
            .map(|b: &Bundle| (b.id, b.seconds_left));
        let spendable = account.spendable();
        let active = Active {
            login: login.into(),
            quote,
            bundle,
            answered: None,
            deadline: None,
            cut: false,
        };
        let held = self.committed(now, login, 0, None);
        let needed = active.cost_at(0);
        if held + needed > spendable {
            return Err(Refusal::InsufficientBalance {
                available: spendable - held,
                needed,
            });
        }
        let budget = spendable - held;
        let cap = self.cap.as_millis() as u64;
        let max_ms = solve_max_ms(cap, |t| active.cost_at(t) <= budget).unwrap_or(0);
        let r = Reservation {
            call,
            login: login.into(),
            number: number.into(),
            quote: active.quote.clone(),
            bundle,
            max_ms,
        };
        self.calls.insert(call, active);
        self.per_account.entry(login.into()).or_default().push(call);
        self.recompute(now, login);
        Ok(Authorization::Rated(r))
    }

    /// Call `call` was answered: its clock runs. Returns its deadline, if it has one.
    pub fn answered(&mut self, now: Instant, call: u64) -> Option<Instant> {
        let c = self.calls.get_mut(&call)?;
        c.answered.get_or_insert(now);
        let login = c.login.clone();
        self.recompute(now, &login);
        self.calls.get(&call)?.deadline
    }

    /// The deadline of call `call` (answered rated calls only).
    pub fn deadline(&self, call: u64) -> Option<Instant> {
        self.calls.get(&call)?.deadline
    }

    /// Call `call` ended after `duration_ms` answered (0 if never answered): its charge,
    /// applied to the balance and plan here and to be written by the driver with the CDR.
    /// `None` when the call was not rated (or was already ended).
    pub fn ended(&mut self, now: Instant, call: u64, duration_ms: u64) -> Option<Charge> {
        let c = self.calls.remove(&call)?;
        if let Some(ids) = self.per_account.get_mut(&c.login) {
            ids.retain(|&i| i != call);
            if ids.is_empty() {
                self.per_account.remove(&c.login);
            }
        }
        let charge = match c.answered {
            None => Charge {
                call,
                login: c.login.clone(),
                quote: c.quote.clone(),
                duration_ms: 0,
                billed_seconds: 0,
                bundle: None,
                cost: Money::ZERO,
                cut: false,
            },
            Some(a) => {
                // never charged past the last deadline: the cut's latency is not billed
                let allowed = c.deadline.map_or(u64::MAX, |d| {
                    d.saturating_duration_since(a).as_millis() as u64
                });
                let d = duration_ms.min(allowed);
                let covered = c.covered(d);
                Charge {
                    call,
                    login: c.login.clone(),
                    quote: c.quote.clone(),
                    duration_ms: d,
                    billed_seconds: c.quote.billed(d),
                    bundle: c.bundle.filter(|_| covered > 0).map(|(b, _)| (b, covered)),
                    cost: c.cost_at(d),
                    cut: c.cut,
                }
            }
        };
        if let Some(acc) = self.accounts.get_mut(&c.login) {
            acc.balance -= charge.cost;
            if let Some((id, used)) = charge.bundle {
                if let Some(b) = acc.bundles.iter_mut().find(|b| b.id == id) {
                    b.seconds_left = b.seconds_left.saturating_sub(used);
                }
            }
        }
        self.recompute(now, &c.login);
        Some(charge)
    }

    /// Recomputes the deadline of every answered call of `login`.
    fn recompute(&mut self, now: Instant, login: &str) {
        let Some(ids) = self.per_account.get(login) else {
            return;
        };
        let spendable = self
            .accounts
            .get(login)
            .map_or(Money(i64::MAX), Account::spendable);
        let cap = self.cap.as_millis() as u64;
        let t = solve_max_ms(cap, |t| self.committed(now, login, t, None) <= spendable);
        let deadline = match t {
            Some(t) if t >= cap => None,
            Some(t) => Some(now + Duration::from_millis(t)),
            // already over (a debit by the operator): cut now
            None => Some(now),
        };
        for id in ids.clone() {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            if c.answered.is_none() || c.cut {
                continue;
            }
            if c.deadline != deadline {
                c.deadline = deadline;
                if let Some(d) = deadline {
                    self.timers.push(Reverse((d, id)));
                }
            }
        }
    }

    /// When [`Self::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// The calls whose credit ran out by `now`: hang them up (CDR reason `credit`), then
    /// report each with [`Self::ended`].
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<u64> {
        let mut cut = Vec::new();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(c) = self.calls.get_mut(&id) {
                if c.deadline == Some(at) && !c.cut {
                    c.cut = true;
                    cut.push(id);
                }
            }
        }
        cut
    }
}
