//! `ferroswitch account ...`: operator commands over the `clientsshared` table.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use ferroswitch_config::Config;
use store::{Account, AccountUpdate, NewAccount, Store};

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
    /// List accounts (login, display name, enabled, tech prefix, voicemail).
    List,
    /// Change an account's password.
    Passwd {
        login: String,
        #[arg(long)]
        password: String,
    },
    /// Change an account's settings (only those given).
    Set {
        login: String,
        /// From display name of its calls; "" removes it.
        #[arg(long)]
        display_name: Option<String>,
        /// Tech-prefix rule, e.g. "DP:int-> OR onnet" or "DP:00->48" (`;` between rules);
        /// "" removes it.
        #[arg(long, value_name = "RULE")]
        tech_prefix: Option<String>,
        /// Send unanswered, busy and declined calls to this SIP URI.
        #[arg(long, value_name = "URI", conflicts_with = "no_voicemail")]
        voicemail: Option<String>,
        /// Turn the voicemail route off.
        #[arg(long)]
        no_voicemail: bool,
        /// Allow the account to register and call.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Stop the account from registering and calling.
        #[arg(long)]
        disable: bool,
    },
    /// Delete an account and its bindings.
    Del { login: String },
    /// Import accounts from a CSV file: login,password[,display_name] (a header line is optional).
    Import { file: PathBuf },
}

/// Opens and migrates the database; rows with a plain password are hashed (see
/// [`crate::secrets`]).
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
    let realm = config.registrar.realm.as_str();
    let keep = config.database.keep_plain_passwords;
    let hashed = store
        .hash_plain_passwords(realm, keep, &|login, password| {
            crate::secrets::secret(login, realm, password, keep)
        })
        .await
        .context("storing passwords as digest HA1 values")?;
    if hashed > 0 {
        tracing::info!(
            accounts = hashed,
            realm,
            kept_plain = keep,
            "plain passwords stored as digest HA1 values"
        );
    }
    Ok(store)
}

/// What to store for `login`'s `password` under this config.
fn secret(config: &Config, login: &str, password: &str) -> store::Secret {
    crate::secrets::secret(
        login,
        &config.registrar.realm,
        password,
        config.database.keep_plain_passwords,
    )
}

pub(crate) async fn run(config: &Config, cmd: AccountCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let mut changed = false;
    match cmd {
        AccountCommand::Add {
            login,
            password,
            display_name,
        } => {
            check_login(&login)?;
            store
                .add_account(&NewAccount {
                    secret: secret(config, &login, &password),
                    login: login.clone(),
                    display_name,
                })
                .await?;
            println!("added {login}");
            changed = true;
        }
        AccountCommand::List => {
            let accounts = store.list_accounts().await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<32} {:<32} {:<7} {:<24} voicemail",
                "login", "display name", "enabled", "tech prefix"
            )?;
            for a in &accounts {
                let line = format!(
                    "{:<32} {:<32} {:<7} {:<24} {}",
                    a.login,
                    a.display_name.as_deref().unwrap_or(""),
                    if a.enabled { "yes" } else { "no" },
                    a.tech_prefix,
                    a.voicemail_uri.as_deref().unwrap_or("")
                );
                writeln!(out, "{}", line.trim_end())?;
            }
            writeln!(out, "{} account(s)", accounts.len())?;
        }
        AccountCommand::Passwd { login, password } => {
            if !store
                .set_secret(&login, &secret(config, &login, &password))
                .await?
            {
                bail!("no account {login:?}; add it with `ferroswitch account add {login} --password ...`");
            }
            println!("password changed for {login}");
            changed = true;
        }
        AccountCommand::Set {
            login,
            display_name,
            tech_prefix,
            voicemail,
            no_voicemail,
            enable,
            disable,
        } => {
            let update = AccountUpdate {
                display_name: display_name.map(|d| Some(d).filter(|d| !d.is_empty())),
                tech_prefix: tech_prefix.as_deref().map(check_tech_prefix).transpose()?,
                voicemail_uri: match (voicemail, no_voicemail) {
                    (Some(uri), _) => Some(Some(check_voicemail_uri(&uri)?)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                enabled: match (enable, disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            if update.is_empty() {
                bail!(
                    "nothing to change for {login:?}: give --display-name, --tech-prefix, \
                     --voicemail URI or --no-voicemail, --enable or --disable"
                );
            }
            if !store.update_account(&login, &update).await? {
                bail!("no account {login:?}; add it with `ferroswitch account add {login} --password ...`");
            }
            if let Some(a) = store.get_account(&login).await? {
                println!("updated {}", describe(&a));
            }
            changed = true;
        }
        AccountCommand::Del { login } => {
            if !store.delete_account(&login).await? {
                bail!("no account {login:?}");
            }
            println!("deleted {login}");
            changed = true;
        }
        AccountCommand::Import { file } => {
            import(config, &store, &file).await?;
            changed = true;
        }
    }
    store.close().await;
    if changed {
        // a running server applies it at once (else within its 1 s poll of the change log)
        crate::ops_cli::AdminClient::nudge_accounts(config).await;
    }
    Ok(())
}

/// An account's settings on one line, for `account set`.
fn describe(a: &Account) -> String {
    format!(
        "{}: display name {}, tech prefix {}, voicemail {}, {}",
        a.login,
        a.display_name
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), |d| format!("{d:?}")),
        if a.tech_prefix.is_empty() {
            "(none)".to_owned()
        } else {
            format!("{:?}", a.tech_prefix)
        },
        a.voicemail_uri.as_deref().unwrap_or("(off)"),
        if a.enabled { "enabled" } else { "disabled" }
    )
}

/// Parses a tech-prefix rule with the `dialplan` crate (what the router will use) and returns
/// its canonical form, which is what gets stored. `""` (no rule) stays `""`.
pub(crate) fn check_tech_prefix(rule: &str) -> anyhow::Result<String> {
    let parsed = dialplan::TechPrefix::parse(rule).map_err(|e| {
        anyhow::anyhow!(
            "bad --tech-prefix: {e}; rules look like \"DP:int-> OR onnet\" or \"DP:00->48\", \
             several separated by `;`"
        )
    })?;
    Ok(parsed.to_string())
}

/// A voicemail route must be a `sip:` or `sips:` URI with a host.
pub(crate) fn check_voicemail_uri(uri: &str) -> anyhow::Result<String> {
    let hint = "e.g. sip:onnet950@10.0.0.5:5080";
    match sip_message::Uri::parse(uri) {
        Ok(u)
            if matches!(
                u.scheme,
                sip_message::Scheme::Sip | sip_message::Scheme::Sips
            ) =>
        {
            if uri.chars().count() > store::limits::VOICEMAIL_URI {
                bail!(
                    "--voicemail URI is longer than {} characters",
                    store::limits::VOICEMAIL_URI
                );
            }
            Ok(uri.to_owned())
        }
        Ok(_) => bail!("--voicemail {uri:?} is not a sip: or sips: URI ({hint})"),
        Err(e) => bail!("--voicemail {uri:?}: {e} ({hint})"),
    }
}

pub(crate) fn check_login(login: &str) -> anyhow::Result<()> {
    // SIP user part characters (RFC 3261 unreserved + user-unreserved), no '@' or ':'
    let ok = !login.is_empty()
        && login.len() <= 128
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/%".contains(&b));
    if !ok {
        // the WCS trap: a login with a space or <> was accepted, then every phone (the web
        // phone included) failed to register or call with it, stuck in "pending"
        let why = match login
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
        {
            Some(' ') => "it contains a space; ",
            Some(c) if c.is_whitespace() => "it contains white space; ",
            Some(_) => "it contains <, > or a double quote; ",
            None => "",
        };
        bail!("login {login:?} is not a valid SIP user part: {why}phones (the web phone included) put the login in SIP addresses and could not register or call with it (letters, digits and -_.!~*'()&=+$,;?/ only)");
    }
    Ok(())
}

async fn import(config: &Config, store: &Store, file: &PathBuf) -> anyhow::Result<()> {
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
            secret: secret(config, login, password),
            login: login.to_owned(),
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
