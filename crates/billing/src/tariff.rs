//! Tariffs: prefix rows with their price, fee, increments, minimum duration and time-of-day
//! variants; the longest prefix of the dialled number wins (the dialing plan's trie).

use std::fmt;
use std::str::FromStr;

use dialplan::PrefixIndex;

use crate::money::Money;
use crate::rating::{Quote, Rounding};

/// Billing increments `first/next` in seconds: `60/60` bills whole minutes, `30/6` the first
/// 30 s then every 6 s, `1/1` per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Increments {
    pub first: u32,
    pub next: u32,
}

impl Increments {
    pub const PER_MINUTE: Self = Self {
        first: 60,
        next: 60,
    };
    pub const PER_SECOND: Self = Self { first: 1, next: 1 };
}

impl fmt::Display for Increments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.first, self.next)
    }
}

/// Why a text is not `first/next`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a billing increment `first/next` (whole seconds, both at least 1)")]
pub struct IncrementsError {
    pub text: String,
}

impl FromStr for Increments {
    type Err = IncrementsError;

    fn from_str(s: &str) -> Result<Self, IncrementsError> {
        let err = || IncrementsError { text: s.into() };
        let (a, b) = s.trim().split_once('/').ok_or_else(err)?;
        let first: u32 = a.trim().parse().map_err(|_| err())?;
        let next: u32 = b.trim().parse().map_err(|_| err())?;
        if first == 0 || next == 0 || first > 86_400 || next > 86_400 {
            return Err(err());
        }
        Ok(Self { first, next })
    }
}

/// A time-of-day variant of a row: calls **starting** in `[from, to)` (minutes after
/// midnight in the tariff's time zone; `from > to` wraps over midnight, `22:00`–`06:00`) pay
/// this price (and fee, when given) instead of the row's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeBand {
    pub from_minute: u16,
    pub to_minute: u16,
    pub price_per_min: Money,
    pub connection_fee: Option<Money>,
}

impl TimeBand {
    /// Whether a call starting at `minute` of the day falls in the band (start inclusive, end
    /// exclusive).
    pub fn contains(&self, minute: u16) -> bool {
        if self.from_minute <= self.to_minute {
            (self.from_minute..self.to_minute).contains(&minute)
        } else {
            minute >= self.from_minute || minute < self.to_minute
        }
    }
}

/// One row of a tariff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffRow {
    /// The leading digits of the numbers it prices (as routed, after the tech prefix).
    pub prefix: String,
    pub description: String,
    /// ISO 3166 country code, for the apps' rates screen only (rows without it are hidden
    /// there); rating never reads it.
    pub iso: Option<String>,
    pub price_per_min: Money,
    pub connection_fee: Money,
    pub increments: Increments,
    /// Calls shorter than this are billed as this long (seconds).
    pub min_duration: u32,
    pub bands: Vec<TimeBand>,
}

/// A tariff: rows indexed by prefix, and the rules for the whole tariff.
#[derive(Debug, Clone)]
pub struct Tariff {
    pub id: i64,
    pub name: String,
    pub currency: String,
    pub rounding: Rounding,
    /// The time zone of the time-of-day bands, as minutes east of UTC.
    pub utc_offset_minutes: i32,
    /// ONNET calls (to users of this server) and service numbers are free unless this is set;
    /// when set they are rated by the row their routed number matches.
    pub bill_onnet: bool,
    /// Sorted by prefix bytes.
    rows: Vec<TariffRow>,
    index: PrefixIndex,
}

impl Tariff {
    pub fn new(
        id: i64,
        name: impl Into<String>,
        currency: impl Into<String>,
        mut rows: Vec<TariffRow>,
    ) -> Self {
        rows.sort_by(|a, b| a.prefix.as_bytes().cmp(b.prefix.as_bytes()));
        let index = PrefixIndex::new(&rows, |r| r.prefix.as_str());
        Self {
            id,
            name: name.into(),
            currency: currency.into(),
            rounding: Rounding::default(),
            utc_offset_minutes: 0,
            bill_onnet: false,
            rows,
            index,
        }
    }

    pub fn rows(&self) -> &[TariffRow] {
        &self.rows
    }

    /// The row of the longest prefix of `number` (the first of duplicates).
    pub fn row(&self, number: &str) -> Option<&TariffRow> {
        let (range, _) = self.index.longest(number)?;
        self.rows.get(range.start)
    }

    /// The rows with this ISO code, as the apps' rates screen shows them.
    pub fn rows_for_country<'a>(&'a self, iso: &'a str) -> impl Iterator<Item = &'a TariffRow> {
        self.rows.iter().filter(move |r| {
            r.iso
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(iso))
        })
    }

    /// The price of a call to `number` starting at `unix_ms`: the row's, or its time-of-day
    /// band's. `None` when no row matches.
    pub fn quote(&self, number: &str, unix_ms: u64) -> Option<Quote> {
        let row = self.row(number)?;
        let minute = self.minute_of_day(unix_ms);
        let band = row.bands.iter().find(|b| b.contains(minute));
        Some(Quote {
            tariff: self.id,
            prefix: row.prefix.clone(),
            price_per_min: band.map_or(row.price_per_min, |b| b.price_per_min),
            connection_fee: band
                .and_then(|b| b.connection_fee)
                .unwrap_or(row.connection_fee),
            increments: row.increments,
            min_duration: row.min_duration,
            rounding: self.rounding,
        })
    }

    /// Minutes after midnight at `unix_ms` in the tariff's time zone.
    pub fn minute_of_day(&self, unix_ms: u64) -> u16 {
        let minutes = (unix_ms / 60_000) as i64 + i64::from(self.utc_offset_minutes);
        minutes.rem_euclid(1440) as u16
    }
}
