//! Billing core tests: rating, time-of-day, plans, the credit split, CSV import.

mod credit;
mod csv_import;
mod rating;

use billing::{Increments, Money, Rounding, RoundingMode, Tariff, TariffRow, TimeBand};

pub(crate) fn m(s: &str) -> Money {
    s.parse().unwrap()
}

pub(crate) fn row(prefix: &str, price: &str, inc: &str) -> TariffRow {
    TariffRow {
        prefix: prefix.into(),
        description: format!("dest {prefix}"),
        iso: None,
        price_per_min: m(price),
        connection_fee: Money::ZERO,
        increments: inc.parse::<Increments>().unwrap(),
        min_duration: 0,
        bands: Vec::<TimeBand>::new(),
    }
}

pub(crate) fn tariff(rows: Vec<TariffRow>) -> Tariff {
    let mut t = Tariff::new(1, "retail", "EUR", rows);
    t.rounding = Rounding {
        decimals: 6,
        mode: RoundingMode::Up,
    };
    t
}
