//! What the billing CLI (`billing_cli.rs`) and the admin API (`admin/billing.rs`) do alike:
//! import a tariff from the voipswitch CSV export, parse and print report days.

use billing::{Money, RoundingMode, TariffRow};
use store::{Store, TariffRecord, TariffRowRecord};

/// A tariff's settings, given with its CSV.
#[derive(Debug, Clone)]
pub(crate) struct TariffSettings {
    pub(crate) currency: String,
    /// Decimals a call's cost is rounded to (0-6).
    pub(crate) rounding_decimals: u8,
    /// `up`, `half-up` or `down`.
    pub(crate) rounding_mode: String,
    pub(crate) bill_onnet: bool,
}

impl Default for TariffSettings {
    fn default() -> Self {
        Self {
            currency: "EUR".into(),
            rounding_decimals: 6,
            rounding_mode: "up".into(),
            bill_onnet: false,
        }
    }
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    /// The settings or the CSV (its message names the line).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl TariffSettings {
    fn check(&self) -> Result<(), ImportError> {
        if self.rounding_decimals > 6 {
            return Err(ImportError::Invalid(format!(
                "rounding_decimals {}: 0 to 6",
                self.rounding_decimals
            )));
        }
        self.rounding_mode
            .parse::<RoundingMode>()
            .map_err(|e| ImportError::Invalid(format!("rounding_mode: {e}")))?;
        let c = &self.currency;
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ImportError::Invalid(format!(
                "currency {c:?}: three capital letters (ISO 4217, e.g. EUR)"
            )));
        }
        Ok(())
    }
}

/// Creates tariff `name` (or changes its settings) and replaces its rows with those of `csv`,
/// checked first: an error names its line and nothing is written. Returns the prefixes read.
pub(crate) async fn import_tariff(
    store: &Store,
    name: &str,
    csv: &str,
    settings: &TariffSettings,
) -> Result<usize, ImportError> {
    if name.trim().is_empty() || name.len() > 64 {
        return Err(ImportError::Invalid(
            "a tariff name is 1 to 64 characters".into(),
        ));
    }
    settings.check()?;
    let rows = billing::parse_tariff_csv(csv).map_err(|e| ImportError::Invalid(e.to_string()))?;
    let id = store
        .upsert_tariff(&TariffRecord {
            id: 0,
            name: name.to_owned(),
            currency: settings.currency.clone(),
            rounding_decimals: settings.rounding_decimals.into(),
            rounding_mode: settings.rounding_mode.clone(),
            utc_offset_minutes: 0,
            bill_onnet: settings.bill_onnet,
        })
        .await?;
    store.replace_tariff_rows(id, &records(&rows)).await?;
    Ok(rows.len())
}

/// The stored rows of parsed tariff rows: each prefix's whole-day row, then its time-of-day
/// variants.
pub(crate) fn records(rows: &[TariffRow]) -> Vec<TariffRowRecord> {
    let mut records = Vec::new();
    for r in rows {
        records.push(TariffRowRecord {
            prefix: r.prefix.clone(),
            description: r.description.clone(),
            iso: r.iso.clone(),
            from_minute: 0,
            to_minute: 1440,
            price_micros: r.price_per_min.micros(),
            fee_micros: Some(r.connection_fee.micros()),
            inc_first: r.increments.first.into(),
            inc_next: r.increments.next.into(),
            min_duration: r.min_duration.into(),
        });
        for b in &r.bands {
            records.push(TariffRowRecord {
                prefix: r.prefix.clone(),
                description: r.description.clone(),
                iso: r.iso.clone(),
                from_minute: b.from_minute.into(),
                to_minute: if b.to_minute == 0 {
                    1440
                } else {
                    b.to_minute.into()
                },
                price_micros: b.price_per_min.micros(),
                fee_micros: b.connection_fee.map(Money::micros),
                inc_first: r.increments.first.into(),
                inc_next: r.increments.next.into(),
                min_duration: r.min_duration.into(),
            });
        }
    }
    records
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (civil from days, H. Hinnant).
pub(crate) fn day(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number since 1970-01-01 of `YYYY-MM-DD` (days from civil, H. Hinnant).
pub(crate) fn parse_day(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a date YYYY-MM-DD");
    let mut parts = text.trim().splitn(3, '-');
    let mut num = |len: usize| -> Result<i64, String> {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let (y, m, d) = (num(4)?, num(2)?, num(2)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let z = era * 146_097 + doe - 719_468;
    // 31 February and the like: the date must print back as given
    if day(z) != text.trim() {
        return Err(bad());
    }
    Ok(z)
}

/// `[from, to)` in unix ms for the days `from..=to` (`YYYY-MM-DD`, UTC; either open).
pub(crate) fn day_range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), String> {
    let from_ms = from
        .map(parse_day)
        .transpose()?
        .map_or(0, |d| d * 86_400_000);
    let to_ms = to
        .map(parse_day)
        .transpose()?
        .map_or(i64::MAX, |d| (d + 1) * 86_400_000);
    if from_ms >= to_ms {
        return Err("the range is empty: `from` is after `to`".into());
    }
    Ok((from_ms, to_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_both_ways() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(19_675), "2023-11-14");
        assert_eq!(parse_day("2023-11-14"), Ok(19_675));
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(parse_day("2024-02-29"), Ok(19_782));
        for bad in ["2023-02-29", "2023-13-01", "2023-1-01", "yesterday", ""] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
        assert_eq!(
            day_range(Some("1970-01-02"), Some("1970-01-02")),
            Ok((86_400_000, 2 * 86_400_000))
        );
        assert!(day_range(Some("1970-01-03"), Some("1970-01-02")).is_err());
    }
}
