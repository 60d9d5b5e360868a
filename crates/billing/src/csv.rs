//! The voipswitch tariff export as CSV: one row per prefix (and per time-of-day variant),
//! columns found by their header names, `;` or `,` separated. Errors name the line.
//!
//! | column | meaning | default |
//! |---|---|---|
//! | `prefix` | required | |
//! | `description` | | empty |
//! | `voice_rate` (or `rate`, `price`) | price per minute, decimal | required |
//! | `minimal_time` | first increment (s) | 60 (or `resolution` when 0) |
//! | `resolution` | next increments (s) | 60 |
//! | `increments` | `first/next` instead of the two above | |
//! | `min_duration` | billed at least (s) | 0 |
//! | `surcharge_amount` (or `connection_fee`) | per answered call | 0 |
//! | `from_hour`, `to_hour` | `HHMM`, 0–2400: a time-of-day variant of the prefix's row | `0`, `2400` |
//! | `iso` (or `iso_code`, `country_iso`) | ISO country code for the apps' rates | none |
//! | `from_day`, `to_day`, `grace_period`, `free_seconds`, `rate_multiplier`, `rate_addition`, `surcharge_time` | accepted only at their neutral values (`0`/`6`, `0`, `0`, `1`, `0`, `0`) | |
//!
//! A row whose hours are not the whole day is a variant of the whole-day row of the same
//! prefix, which must exist (anywhere in the file).

use std::collections::HashMap;

use crate::money::Money;
use crate::tariff::{Increments, TariffRow, TimeBand};

/// A line of the file that is not a tariff row, or a file that is not a tariff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    /// 1-based line of the file (the header is line 1).
    pub line: u64,
    pub message: String,
}

fn err(line: u64, message: impl Into<String>) -> CsvError {
    CsvError {
        line,
        message: message.into(),
    }
}

/// Parses a tariff export into rows (variants folded into their prefix's row).
pub fn parse_tariff_csv(text: &str) -> Result<Vec<TariffRow>, CsvError> {
    let first = text.lines().next().unwrap_or_default();
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i as u64 + 1, l));
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty file"))?;
    let headers: Vec<String> = split_fields(header, delimiter)
        .map_err(|m| err(1, m))?
        .iter()
        .map(|h| h.to_ascii_lowercase().replace([' ', '-'], "_"))
        .collect();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let prefix_c = col(&["prefix"]).ok_or_else(|| err(1, "no `prefix` column"))?;
    let rate_c =
        col(&["voice_rate", "rate", "price"]).ok_or_else(|| err(1, "no `voice_rate` column"))?;
    let desc_c = col(&["description", "destination"]);
    let min_time_c = col(&["minimal_time"]);
    let res_c = col(&["resolution"]);
    let inc_c = col(&["increments", "increment"]);
    let min_dur_c = col(&["min_duration"]);
    let fee_c = col(&["surcharge_amount", "connection_fee"]);
    let from_c = col(&["from_hour"]);
    let to_c = col(&["to_hour"]);
    let iso_c = col(&["iso", "iso_code", "country_iso"]);
    let neutral: Vec<(usize, &str, &[&str])> = [
        ("from_day", &["0", ""][..]),
        ("to_day", &["6", "7", ""][..]),
        ("grace_period", &["0", ""][..]),
        ("free_seconds", &["0", ""][..]),
        ("rate_multiplier", &["1", "1.0", "1.00", ""][..]),
        ("rate_addition", &["0", "0.0", "0.00", ""][..]),
        ("surcharge_time", &["0", ""][..]),
    ]
    .into_iter()
    .filter_map(|(n, ok)| col(&[n]).map(|c| (c, n, ok)))
    .collect();

    let mut rows: Vec<TariffRow> = Vec::new();
    let mut by_prefix: HashMap<String, usize> = HashMap::new();
    let mut variants: Vec<(u64, String, TimeBand)> = Vec::new();
    for (line, text) in lines {
        let rec = split_fields(text, delimiter).map_err(|m| err(line, m))?;
        if rec.iter().all(String::is_empty) {
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).map_or("", String::as_str);
        let prefix = get(Some(prefix_c)).to_owned();
        if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(line, format!("bad prefix {prefix:?}")));
        }
        let money = |c: Option<usize>, name: &str| -> Result<Money, CsvError> {
            let t = get(c);
            if t.is_empty() {
                return Ok(Money::ZERO);
            }
            let m: Money = t.parse().map_err(|e| err(line, format!("{name}: {e}")))?;
            if m.is_negative() {
                return Err(err(line, format!("{name}: negative amount {t}")));
            }
            Ok(m)
        };
        let secs = |c: Option<usize>, name: &str| -> Result<Option<u32>, CsvError> {
            let t = get(c);
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<u32>()
                .map(Some)
                .map_err(|_| err(line, format!("{name}: {t:?} is not whole seconds")))
        };
        if get(Some(rate_c)).is_empty() {
            return Err(err(line, "voice_rate is empty"));
        }
        let price = money(Some(rate_c), "voice_rate")?;
        let fee = money(fee_c, "surcharge_amount")?;
        for &(c, name, ok) in &neutral {
            let v = get(Some(c));
            if !ok.contains(&v) {
                return Err(err(
                    line,
                    format!("{name} = {v:?} is not supported (only {:?})", ok[0]),
                ));
            }
        }
        let increments = if !get(inc_c).is_empty() {
            get(inc_c)
                .parse::<Increments>()
                .map_err(|e| err(line, e.to_string()))?
        } else {
            let next = secs(res_c, "resolution")?.unwrap_or(60);
            let first = match secs(min_time_c, "minimal_time")? {
                None => 60,
                Some(0) => next,
                Some(n) => n,
            };
            format!("{first}/{next}")
                .parse::<Increments>()
                .map_err(|e| err(line, e.to_string()))?
        };
        let min_duration = secs(min_dur_c, "min_duration")?.unwrap_or(0);
        let hour = |c: Option<usize>, name: &str, default: u16| -> Result<u16, CsvError> {
            let t = get(c);
            if t.is_empty() {
                return Ok(default);
            }
            let v: u16 = t
                .parse()
                .map_err(|_| err(line, format!("{name}: {t:?} is not HHMM")))?;
            if v > 2400 || v % 100 >= 60 {
                return Err(err(line, format!("{name}: {t:?} is not HHMM (0000-2400)")));
            }
            Ok(v / 100 * 60 + v % 100)
        };
        let from = hour(from_c, "from_hour", 0)?;
        let to = hour(to_c, "to_hour", 1440)?;
        let iso = Some(get(iso_c).to_ascii_uppercase()).filter(|s| !s.is_empty());
        if let Some(i) = &iso {
            if i.len() != 2 || !i.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(err(
                    line,
                    format!("iso: {i:?} is not a two-letter ISO code"),
                ));
            }
        }
        let whole_day = from == 0 && to == 1440;
        if whole_day {
            if by_prefix.contains_key(&prefix) {
                return Err(err(line, format!("prefix {prefix} appears twice")));
            }
            by_prefix.insert(prefix.clone(), rows.len());
            rows.push(TariffRow {
                prefix,
                description: get(desc_c).to_owned(),
                iso,
                price_per_min: price,
                connection_fee: fee,
                increments,
                min_duration,
                bands: Vec::new(),
            });
        } else {
            if from == to {
                return Err(err(line, "from_hour equals to_hour: an empty variant"));
            }
            variants.push((
                line,
                prefix,
                TimeBand {
                    from_minute: from,
                    to_minute: to % 1440,
                    price_per_min: price,
                    connection_fee: fee_c.filter(|_| !get(fee_c).is_empty()).map(|_| fee),
                },
            ));
        }
    }
    for (line, prefix, band) in variants {
        let Some(&i) = by_prefix.get(&prefix) else {
            return Err(err(
                line,
                format!("time-of-day variant of prefix {prefix}, which has no whole-day row"),
            ));
        };
        if rows[i].bands.iter().any(|b| {
            (0..1440u16)
                .step_by(1)
                .any(|m| b.contains(m) && band.contains(m))
        }) {
            return Err(err(
                line,
                format!("variant overlaps another of prefix {prefix}"),
            ));
        }
        rows[i].bands.push(band);
    }
    Ok(rows)
}

/// One line's fields: separated by `delimiter`, trimmed, `"quoted"` with `""` for a quote.
/// Fields never span lines, so every error names its line.
fn split_fields(line: &str, delimiter: char) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            c if c == delimiter && !quoted => {
                fields.push(std::mem::take(&mut cur).trim().to_owned());
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(cur.trim().to_owned());
    Ok(fields)
}
