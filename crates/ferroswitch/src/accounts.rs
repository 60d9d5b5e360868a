//! `ferroswitch account ...`: operator commands over the `clientsshared` table.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use ferroswitch_config::Config;
use store::{NewAccount, Store};

#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// Add an account.
    Add {
        login: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List accounts (login, display name, enabled).
    List,
    /// Change an account's password.
    Passwd {
        login: String,
        #[arg(long)]
        password: String,
    },
    /// Delete an account and its bindings.
    Del { login: String },
    /// Import accounts from a CSV file: login,password[,display_name] (a header line is optional).
    Import { file: PathBuf },
}

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database.url)
        .await
        .with_context(|| {
            format!(
                "opening database {}",
                store::redact_url(&config.database.url)
            )
        })?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

pub(crate) async fn run(config: &Config, cmd: AccountCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        AccountCommand::Add {
            login,
            password,
            display_name,
        } => {
            check_login(&login)?;
            store
                .add_account(&NewAccount {
                    login: login.clone(),
                    password,
                    display_name,
                })
                .await?;
            println!("added {login}");
        }
        AccountCommand::List => {
            let accounts = store.list_accounts().await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<32} {:<32} enabled", "login", "display name")?;
            for a in &accounts {
                writeln!(
                    out,
                    "{:<32} {:<32} {}",
                    a.login,
                    a.display_name.as_deref().unwrap_or(""),
                    if a.enabled { "yes" } else { "no" }
                )?;
            }
            writeln!(out, "{} account(s)", accounts.len())?;
        }
        AccountCommand::Passwd { login, password } => {
            if !store.set_password(&login, &password).await? {
                bail!("no account {login:?}; add it with `ferroswitch account add {login} --password ...`");
            }
            println!("password changed for {login}");
        }
        AccountCommand::Del { login } => {
            if !store.delete_account(&login).await? {
                bail!("no account {login:?}");
            }
            println!("deleted {login}");
        }
        AccountCommand::Import { file } => import(&store, &file).await?,
    }
    store.close().await;
    Ok(())
}

fn check_login(login: &str) -> anyhow::Result<()> {
    // SIP user part characters (RFC 3261 unreserved + user-unreserved), no '@' or ':'
    let ok = !login.is_empty()
        && login.len() <= 128
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/%".contains(&b));
    if !ok {
        bail!("login {login:?} is not a valid SIP user part (letters, digits and -_.!~*'()&=+$,;?/ only)");
    }
    Ok(())
}

async fn import(store: &Store, file: &PathBuf) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 1;
        let rec = rec.with_context(|| format!("{}:{line}: unreadable CSV", file.display()))?;
        if line == 1 && rec.get(0).is_some_and(|f| f.eq_ignore_ascii_case("login")) {
            continue;
        }
        let (Some(login), Some(password)) = (rec.get(0), rec.get(1)) else {
            bail!(
                "{}:{line}: expected login,password[,display_name]",
                file.display()
            );
        };
        if rec.len() > 3 {
            bail!(
                "{}:{line}: expected at most 3 fields (login,password,display_name), found {}",
                file.display(),
                rec.len()
            );
        }
        check_login(login).with_context(|| format!("{}:{line}", file.display()))?;
        if password.is_empty() {
            bail!("{}:{line}: empty password for {login}", file.display());
        }
        rows.push(NewAccount {
            login: login.to_owned(),
            password: password.to_owned(),
            display_name: rec.get(2).filter(|d| !d.is_empty()).map(str::to_owned),
        });
    }
    let total = rows.len();
    let mut last_shown = 0;
    let report = store
        .import_accounts(&rows, &mut |done| {
            if done - last_shown >= 10_000 || done == total {
                eprintln!("imported {done}/{total} rows");
                last_shown = done;
            }
        })
        .await?;
    println!(
        "imported {} row(s) from {}: {} new, {} updated, in {:.2} s",
        total,
        file.display(),
        report.inserted,
        report.updated,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
