//! An account as billing sees it: its tariff, balance, type and plans (bundles).

use crate::money::Money;

/// Prepaid accounts spend down to zero; postpaid ones down to minus their credit limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Prepaid,
    Postpaid { credit_limit: Money },
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepaid => "prepaid",
            Self::Postpaid { .. } => "postpaid",
        }
    }
}

/// A plan an account holds: `seconds_left` of calls to numbers starting with one of
/// `prefixes`, between `valid_from_ms` and `valid_until_ms` (unix ms, end exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The `account_plans` row id.
    pub id: i64,
    pub plan: String,
    pub prefixes: Vec<String>,
    pub seconds_left: u64,
    pub valid_from_ms: u64,
    pub valid_until_ms: u64,
}

impl Bundle {
    /// Whether a call to `number` starting at `unix_ms` may use this plan.
    pub fn covers(&self, number: &str, unix_ms: u64) -> bool {
        self.seconds_left > 0
            && (self.valid_from_ms..self.valid_until_ms).contains(&unix_ms)
            && self.prefixes.iter().any(|p| number.starts_with(p.as_str()))
    }
}

/// A billed account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub tariff: i64,
    pub kind: AccountKind,
    pub balance: Money,
    pub currency: String,
    pub bundles: Vec<Bundle>,
}

impl Account {
    /// How low the balance may go: 0 prepaid, `-credit_limit` postpaid. Calls may spend
    /// `balance - floor`.
    pub fn spendable(&self) -> Money {
        match self.kind {
            AccountKind::Prepaid => self.balance,
            AccountKind::Postpaid { credit_limit } => self.balance + credit_limit,
        }
    }
}
