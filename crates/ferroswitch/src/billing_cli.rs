//! `ferroswitch billing ...`: tariffs (CSV import of the voipswitch export), billed accounts,
//! credits and debits with a reason (the ledger), plans, and reports. Writes go to the
//! database; a running server picks them up (ledger lines within a second, tariffs and
//! accounts within 10 s, see docs/billing.md).

use anyhow::{bail, Context as _};
use billing::Money;
use clap::{Subcommand, ValueEnum};
use ferroswitch_config::Config;
use store::{BillingAccountRow, PlanRow, ReportBy, Store, TariffRecord, TariffRowRecord};

use crate::accounts::open_store;
use crate::clock::unix_ms;

#[derive(Debug, Subcommand)]
pub(crate) enum BillingCommand {
    /// Create a tariff or replace its rows from a voipswitch CSV export (errors name the line).
    Import {
        /// The tariff's name (created when new).
        tariff: String,
        /// The CSV file (`;` or `,` separated, columns by header, see docs/billing.md).
        file: std::path::PathBuf,
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Decimals a call's cost is rounded to (0-6).
        #[arg(long, default_value_t = 6)]
        rounding_decimals: u8,
        #[arg(long, default_value = "up")]
        rounding_mode: String,
        /// Rate ONNET calls by their routed number (default: free).
        #[arg(long)]
        bill_onnet: bool,
    },
    /// Rows of a tariff.
    Rates { tariff: String },
    /// Bill an account: its tariff, prepaid (default) or postpaid with a credit limit.
    Account {
        login: String,
        #[arg(long)]
        tariff: String,
        /// Postpaid, with this credit limit (decimal).
        #[arg(long)]
        postpaid: Option<String>,
        #[arg(long, default_value = "EUR")]
        currency: String,
    },
    /// The balance of an account.
    Balance { login: String },
    /// Add money to an account (ledger kind `credit`).
    Credit {
        login: String,
        amount: String,
        #[arg(long)]
        reason: String,
    },
    /// Take money from an account (ledger kind `debit`).
    Debit {
        login: String,
        amount: String,
        #[arg(long)]
        reason: String,
    },
    /// The ledger of an account, oldest first.
    Ledger { login: String },
    /// Create or change a plan for sale: SECONDS to the comma-separated PREFIXES for DAYS.
    PlanAdd {
        name: String,
        #[arg(long)]
        prefixes: String,
        #[arg(long)]
        seconds: i64,
        #[arg(long)]
        days: i64,
        #[arg(long, default_value = "0")]
        price: String,
    },
    /// Give a plan to an account from now (its price is debited).
    PlanAssign { login: String, plan: String },
    /// Rated calls grouped by account, UTC day or destination prefix.
    Report {
        #[arg(long, value_enum)]
        by: By,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum By {
    Account,
    Day,
    Destination,
}

fn amount(text: &str) -> anyhow::Result<Money> {
    let m: Money = text.parse().with_context(|| format!("amount {text:?}"))?;
    if m.is_negative() {
        bail!("amount {text:?}: give a positive amount (credit or debit says the direction)");
    }
    Ok(m)
}

async fn tariff_id(store: &Store, name: &str) -> anyhow::Result<i64> {
    match store.tariff_by_name(name).await? {
        Some(t) => Ok(t.id),
        None => bail!("no tariff named {name:?} (billing import creates one)"),
    }
}

pub(crate) async fn run(config: &Config, cmd: BillingCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let r = exec(&store, cmd).await;
    store.close().await;
    r
}

async fn exec(store: &Store, cmd: BillingCommand) -> anyhow::Result<()> {
    match cmd {
        BillingCommand::Import {
            tariff,
            file,
            currency,
            rounding_decimals,
            rounding_mode,
            bill_onnet,
        } => {
            if rounding_decimals > 6 {
                bail!("--rounding-decimals {rounding_decimals}: 0 to 6");
            }
            rounding_mode
                .parse::<billing::RoundingMode>()
                .map_err(anyhow::Error::msg)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rows =
                billing::parse_tariff_csv(&text).with_context(|| format!("{}", file.display()))?;
            let mut records = Vec::new();
            for r in &rows {
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
            let id = store
                .upsert_tariff(&TariffRecord {
                    id: 0,
                    name: tariff.clone(),
                    currency,
                    rounding_decimals: rounding_decimals.into(),
                    rounding_mode,
                    utc_offset_minutes: 0,
                    bill_onnet,
                })
                .await?;
            store.replace_tariff_rows(id, &records).await?;
            println!("tariff {tariff}: {} prefixes imported", rows.len());
        }
        BillingCommand::Rates { tariff } => {
            let id = tariff_id(store, &tariff).await?;
            for r in store.tariff_rows(id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}/{}\t{:02}:{:02}-{:02}:{:02}\t{}",
                    r.prefix,
                    Money(r.price_micros),
                    Money(r.fee_micros.unwrap_or(0)),
                    r.iso.as_deref().unwrap_or("-"),
                    r.inc_first,
                    r.inc_next,
                    r.from_minute / 60,
                    r.from_minute % 60,
                    r.to_minute / 60,
                    r.to_minute % 60,
                    r.description
                );
            }
        }
        BillingCommand::Account {
            login,
            tariff,
            postpaid,
            currency,
        } => {
            let tariff_id = tariff_id(store, &tariff).await?;
            let limit = postpaid.as_deref().map(amount).transpose()?;
            store
                .set_billing_account(&BillingAccountRow {
                    login: login.clone(),
                    tariff_id,
                    kind: if limit.is_some() {
                        "postpaid"
                    } else {
                        "prepaid"
                    }
                    .into(),
                    balance_micros: 0,
                    credit_limit_micros: limit.map_or(0, Money::micros),
                    currency,
                })
                .await?;
            println!("{login}: billed with tariff {tariff}");
        }
        BillingCommand::Balance { login } => match store.billing_account(&login).await? {
            Some(a) => println!("{} {}", Money(a.balance_micros), a.currency),
            None => bail!("{login} is not billed (billing account {login} --tariff NAME)"),
        },
        BillingCommand::Credit {
            login,
            amount: a,
            reason,
        } => adjust(store, &login, amount(&a)?.micros(), &reason).await?,
        BillingCommand::Debit {
            login,
            amount: a,
            reason,
        } => adjust(store, &login, -amount(&a)?.micros(), &reason).await?,
        BillingCommand::Ledger { login } => {
            for l in store.ledger(Some(&login), 0, u32::MAX).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    l.id,
                    l.at_ms,
                    l.kind,
                    Money(l.amount_micros),
                    Money(l.balance_after_micros),
                    l.reason
                );
            }
        }
        BillingCommand::PlanAdd {
            name,
            prefixes,
            seconds,
            days,
            price,
        } => {
            if seconds <= 0 || days <= 0 {
                bail!("--seconds and --days must be positive");
            }
            store
                .upsert_plan(&PlanRow {
                    id: 0,
                    name: name.clone(),
                    prefixes,
                    seconds,
                    days,
                    price_micros: amount(&price)?.micros(),
                })
                .await?;
            println!("plan {name} saved");
        }
        BillingCommand::PlanAssign { login, plan } => {
            match store.assign_plan(&login, &plan, unix_ms() as i64).await? {
                Some(_) => println!("{login}: plan {plan} assigned"),
                None => bail!("no plan {plan:?} or {login} is not billed"),
            }
        }
        BillingCommand::Report { by } => {
            let by = match by {
                By::Account => ReportBy::Account,
                By::Day => ReportBy::Day,
                By::Destination => ReportBy::Destination,
            };
            for l in store.billing_report(by, 0, i64::MAX).await? {
                let key = match by {
                    ReportBy::Day => day(l.key.parse().unwrap_or(0)),
                    _ => l.key,
                };
                println!(
                    "{key}\t{} calls\t{} s\t{}",
                    l.calls,
                    l.billed_seconds,
                    Money(l.cost_micros)
                );
            }
        }
    }
    Ok(())
}

async fn adjust(store: &Store, login: &str, micros: i64, reason: &str) -> anyhow::Result<()> {
    if reason.trim().is_empty() {
        bail!("--reason must say why");
    }
    match store
        .adjust_balance(login, micros, reason, unix_ms() as i64)
        .await?
    {
        Some(b) => {
            println!("{login}: balance {}", Money(b));
            Ok(())
        }
        None => bail!("{login} is not billed (billing account {login} --tariff NAME)"),
    }
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (civil from days, H. Hinnant).
fn day(z: i64) -> String {
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

#[cfg(test)]
mod tests {
    #[test]
    fn days() {
        assert_eq!(super::day(0), "1970-01-01");
        assert_eq!(super::day(19_675), "2023-11-14");
    }
}
