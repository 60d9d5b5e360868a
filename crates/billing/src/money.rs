//! Money as integer micro-units of the account's currency: exact sums, no `f64` anywhere.

use std::fmt;
use std::str::FromStr;

/// An amount in millionths of a currency unit (`1.5` is `Money(1_500_000)`). Signed: a
/// postpaid balance may be below zero. Sums are exact; only the one division of a per-minute
/// price by 60 s rounds, and how is said where it happens ([`crate::Rounding`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

/// Micro-units in one currency unit.
pub const MICROS: i64 = 1_000_000;

impl Money {
    pub const ZERO: Self = Self(0);

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl std::ops::Add for Money {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self(self.0.saturating_add(o.0))
    }
}

impl std::ops::Sub for Money {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self(self.0.saturating_sub(o.0))
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, o: Self) {
        *self = *self - o;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, |a, b| a + b)
    }
}

/// Prints the amount with six decimals, trailing zeros trimmed down to two: `1.50`,
/// `0.0125`, `-3.00`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let units = abs / MICROS as u64;
        let frac = format!("{:06}", abs % MICROS as u64);
        let frac = frac.trim_end_matches('0');
        let frac = if frac.len() < 2 {
            format!("{frac:0<2}")
        } else {
            frac.to_owned()
        };
        write!(f, "{sign}{units}.{frac}")
    }
}

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    #[error("empty amount")]
    Empty,
    #[error("{text:?} is not a decimal amount (digits, one '.', optional sign)")]
    Syntax { text: String },
    #[error("{text:?} has more than 6 decimals")]
    TooPrecise { text: String },
    #[error("{text:?} is too large")]
    TooLarge { text: String },
}

/// Parses `12`, `-0.5`, `0.012345`, `+3.10` (a `,` decimal separator is accepted too, as
/// spreadsheets export it). More than six decimals is an error, not a rounding.
impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, MoneyError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(MoneyError::Empty);
        }
        let syntax = || MoneyError::Syntax { text: text.into() };
        let (neg, body) = match t.as_bytes()[0] {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match body.find(['.', ',']) {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, ""),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(syntax());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise { text: text.into() });
        }
        let too_large = || MoneyError::TooLarge { text: text.into() };
        let units: i64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_large())?
        };
        let frac_micros: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<6}").parse().map_err(|_| syntax())?
        };
        let v = units
            .checked_mul(MICROS)
            .and_then(|v| v.checked_add(frac_micros))
            .ok_or_else(too_large)?;
        Ok(Self(if neg { -v } else { v }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for (t, m, p) in [
            ("1", 1_000_000, "1.00"),
            ("0.5", 500_000, "0.50"),
            ("0,0125", 12_500, "0.0125"),
            ("-3.1", -3_100_000, "-3.10"),
            ("+0.000001", 1, "0.000001"),
            (".25", 250_000, "0.25"),
            ("2.", 2_000_000, "2.00"),
            ("0.1200000", 120_000, "0.12"),
        ] {
            let v: Money = t.parse().unwrap();
            assert_eq!(v, Money(m), "{t}");
            assert_eq!(v.to_string(), p, "{t}");
        }
        for bad in [
            "",
            "abc",
            "1.2.3",
            "1e5",
            "-",
            ".",
            "0.0000001",
            "99999999999999999",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad}");
        }
    }
}
