//! `ferroswitch billing ...`: tariffs (CSV import of the voipswitch export), billed accounts,
//! credits and debits with a reason (the ledger), plans, and reports. Writes go to the
//! database; a running server picks them up (ledger lines within a second, tariffs and
//! accounts within 10 s, see docs/billing.md).

use anyhow::{bail, Context as _};
use billing::Money;
use clap::{Subcommand, ValueEnum};
use ferroswitch_config::Config;
use store::{BillingAccountRow, PlanRow, ReportBy, Store, TariffDeletion};

use crate::accounts::open_store;
use crate::billing_ops::{day, day_range, import_tariff, ImportError, TariffSettings};
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
    /// The tariffs, with their settings and number of rows.
    Tariffs,
    /// Delete a tariff and its rows (refused while a billed account uses it).
    TariffDelete { tariff: String },
    /// The billed accounts with their balances.
    Accounts,
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
    /// The plans for sale, or (with LOGIN) the plans an account holds, with their ids.
    Plans { login: Option<String> },
    /// Take a held plan (its id from `billing plans LOGIN`) back from an account; no refund.
    PlanRemove { login: String, id: i64 },
    /// Rated calls grouped by account, UTC day or destination prefix: calls, talk time,
    /// billed seconds, cost.
    Report {
        #[arg(long, value_enum)]
        by: By,
        /// First day (YYYY-MM-DD, UTC) of calls started on it or later.
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD, UTC), included.
        #[arg(long)]
        to: Option<String>,
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
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let settings = TariffSettings {
                currency,
                rounding_decimals,
                rounding_mode,
                bill_onnet,
            };
            let n = match import_tariff(store, &tariff, &text, &settings).await {
                Ok(n) => n,
                Err(ImportError::Invalid(e)) => bail!("{}: {e}", file.display()),
                Err(ImportError::Store(e)) => return Err(e.into()),
            };
            println!("tariff {tariff}: {n} prefixes imported");
        }
        BillingCommand::Tariffs => {
            for t in store.list_tariffs().await? {
                let rows = store.tariff_rows(t.id).await?.len();
                println!(
                    "{}\t{}\t{} rows\trounding {} {}\tonnet {}",
                    t.name,
                    t.currency,
                    rows,
                    t.rounding_decimals,
                    t.rounding_mode,
                    if t.bill_onnet { "rated" } else { "free" }
                );
            }
        }
        BillingCommand::TariffDelete { tariff } => match store.delete_tariff(&tariff).await? {
            TariffDeletion::Deleted => println!("tariff {tariff} deleted"),
            TariffDeletion::NotFound => bail!("no tariff named {tariff:?}"),
            TariffDeletion::InUse(logins) => bail!(
                "tariff {tariff} is used by {} billed account(s) ({}): give them another tariff first",
                logins.len(),
                logins.join(", ")
            ),
        },
        BillingCommand::Accounts => {
            let tariffs = store.list_tariffs().await?;
            for a in store.list_billing_accounts().await? {
                let tariff = tariffs
                    .iter()
                    .find(|t| t.id == a.tariff_id)
                    .map_or("?", |t| t.name.as_str());
                println!(
                    "{}\t{}\t{} {}\tcredit limit {}\ttariff {tariff}",
                    a.login,
                    a.kind,
                    Money(a.balance_micros),
                    a.currency,
                    Money(a.credit_limit_micros)
                );
            }
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
        BillingCommand::Plans { login: None } => {
            for p in store.list_plans().await? {
                println!(
                    "{}\t{}\t{} s\t{} days\t{}",
                    p.name,
                    p.prefixes,
                    p.seconds,
                    p.days,
                    Money(p.price_micros)
                );
            }
        }
        BillingCommand::Plans { login: Some(login) } => {
            for p in store.account_plans(Some(&login)).await? {
                println!(
                    "{}\t{}\t{}\t{} s left\tuntil {}",
                    p.id,
                    p.plan,
                    p.prefixes,
                    p.seconds_left,
                    day(p.valid_until_ms.div_euclid(86_400_000))
                );
            }
        }
        BillingCommand::PlanRemove { login, id } => {
            if store.remove_account_plan(&login, id).await? {
                println!("{login}: plan {id} removed");
            } else {
                bail!("{login} holds no plan {id} (billing plans {login})");
            }
        }
        BillingCommand::Report { by, from, to } => {
            let (from_ms, to_ms) =
                day_range(from.as_deref(), to.as_deref()).map_err(anyhow::Error::msg)?;
            let by = match by {
                By::Account => ReportBy::Account,
                By::Day => ReportBy::Day,
                By::Destination => ReportBy::Destination,
            };
            for l in store.billing_report(by, from_ms, to_ms).await? {
                let key = match by {
                    ReportBy::Day => day(l.key.parse().unwrap_or(0)),
                    _ => l.key,
                };
                println!(
                    "{key}\t{} calls\t{} s talk\t{} s billed\t{}",
                    l.calls,
                    l.duration_ms / 1000,
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
