//! Rating: billed seconds from a duration and the increments, and the cost of a call with the
//! tariff's rounding rule. Integer arithmetic throughout (`i128` for the one product).

use std::fmt;
use std::str::FromStr;

use crate::money::Money;
use crate::tariff::Increments;

/// How a call's cost is rounded, once, after `fee + price_per_min × billed_seconds / 60`
/// was computed exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    /// Decimals kept, 0..=6 (2: cents; 6: micro-units, i.e. only the division by 60 rounds).
    pub decimals: u8,
    pub mode: RoundingMode,
}

impl Default for Rounding {
    /// Up to the micro-unit: the operator never loses a fraction.
    fn default() -> Self {
        Self {
            decimals: 6,
            mode: RoundingMode::Up,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    /// Towards +∞ (any fraction rounds up).
    Up,
    /// To the nearest, halves up.
    HalfUp,
    /// Towards zero (truncate).
    Down,
}

impl FromStr for RoundingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "up" => Ok(Self::Up),
            "half-up" | "half_up" => Ok(Self::HalfUp),
            "down" => Ok(Self::Down),
            other => Err(format!(
                "unknown rounding mode {other:?} (up, half-up, down)"
            )),
        }
    }
}

impl fmt::Display for RoundingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Up => "up",
            Self::HalfUp => "half-up",
            Self::Down => "down",
        })
    }
}

impl Rounding {
    /// `numerator / denominator` micro-units, rounded to the kept decimals.
    fn apply(self, numerator: i128, denominator: i128) -> Money {
        let step = 10i128.pow(u32::from(6 - self.decimals.min(6)));
        let d = denominator * step;
        let q = numerator.div_euclid(d);
        let r = numerator.rem_euclid(d);
        let q = match self.mode {
            RoundingMode::Up => q + i128::from(r > 0),
            RoundingMode::HalfUp => q + i128::from(2 * r >= d),
            RoundingMode::Down => q,
        };
        Money(i64::try_from(q * step).unwrap_or(i64::MAX))
    }
}

/// The price a call is charged at, fixed when it starts (the row, or its time-of-day band).
/// It is what a reservation row keeps, so a call is settled at the price it was authorized at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub tariff: i64,
    /// The row's prefix (for the CDR and the reports).
    pub prefix: String,
    pub price_per_min: Money,
    pub connection_fee: Money,
    pub increments: Increments,
    pub min_duration: u32,
    pub rounding: Rounding,
}

/// Billed seconds of an answered call of `duration_ms`: whole seconds rounded up, at least
/// `min_duration`, then the first increment and whole further increments. An answered call
/// bills at least the first increment, even at 0 s.
pub fn billed_seconds(duration_ms: u64, inc: Increments, min_duration: u32) -> u64 {
    let secs = duration_ms.div_ceil(1000).max(u64::from(min_duration));
    let first = u64::from(inc.first);
    let next = u64::from(inc.next);
    if secs <= first {
        first
    } else {
        first + (secs - first).div_ceil(next) * next
    }
}

impl Quote {
    /// Seconds the call is billed for after `duration_ms` answered.
    pub fn billed(&self, duration_ms: u64) -> u64 {
        billed_seconds(duration_ms, self.increments, self.min_duration)
    }

    /// The cost of an answered call of `duration_ms`, `covered` of its billed seconds paid by
    /// a plan: the fee only when no plan second was used, and the rest of the seconds at the
    /// price; one rounding at the end.
    pub fn cost(&self, duration_ms: u64, covered: u64) -> Money {
        let billed = self.billed(duration_ms);
        let paid = billed.saturating_sub(covered);
        if paid == 0 {
            return Money::ZERO;
        }
        let fee = if covered == 0 {
            self.connection_fee.0
        } else {
            0
        };
        let num = i128::from(fee) * 60 + i128::from(self.price_per_min.0) * i128::from(paid);
        self.rounding.apply(num, 60)
    }

    /// What a call costs as soon as it is answered: the fee and the first increment (or the
    /// minimum duration).
    pub fn first_charge(&self, covered: u64) -> Money {
        self.cost(0, covered)
    }

    /// The longest duration (ms) a budget pays for, alone: `None` when it does not even
    /// cover [`Self::first_charge`]; capped at `cap_ms`.
    pub fn max_duration_ms(&self, budget: Money, cap_ms: u64) -> Option<u64> {
        crate::credit::solve_max_ms(cap_ms, |t| self.cost(t, 0) <= budget)
    }
}
