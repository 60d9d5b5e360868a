//! Answering rules (docs/voicemail.md): `ferroswitch rules list|add|del|move|clear LOGIN ...`,
//! the edits the admin API shares (`/api/accounts/LOGIN/answering-rules`), and the parsing of
//! the stored rows into the account cache.
//!
//! A rule is `CALLER WHEN ACTION` (`voicemail::rules`): CALLER a caller-ID prefix or `*`;
//! WHEN always | busy | no-answer | unavailable; ACTION voicemail | forward:NUMBER |
//! reject:CODE | ring:SECONDS. The first matching rule decides. Positions are 1-based.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use ferroswitch_config::Config;
use store::{AnsweringRuleRow, Store};
use voicemail::rules::{AnsweringRules, Rule};

use crate::accounts::{check_login, open_store};

/// `ferroswitch rules ...`: an account's answering rules.
#[derive(Debug, Subcommand)]
pub(crate) enum RulesCommand {
    /// Show LOGIN's rules in order (or the default when it has none).
    List { login: String },
    /// Add a rule: CALLER (a caller-ID prefix or `*`), WHEN (always, busy, no-answer,
    /// unavailable), ACTION (voicemail, forward:NUMBER, reject:CODE, ring:SECONDS).
    Add {
        login: String,
        caller: String,
        when: String,
        action: String,
        /// Insert at this position (1 = first); default: last.
        #[arg(long, value_name = "N")]
        at: Option<usize>,
    },
    /// Remove the rule at position N.
    Del { login: String, position: usize },
    /// Move the rule at position N to position M.
    Move {
        login: String,
        position: usize,
        #[arg(long, value_name = "M")]
        to: usize,
    },
    /// Remove every rule (back to the default).
    Clear { login: String },
}

/// One change to an account's list.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Add { rule: Rule, at: Option<usize> },
    Remove(usize),
    Move { from: usize, to: usize },
    Replace(Vec<Rule>),
}

/// The stored rows as rules; rows that do not parse (written around the store) are skipped
/// with an error. `None` when there are none: the default applies.
pub(crate) fn parse_rows(login: &str, rows: &[AnsweringRuleRow]) -> Option<Arc<AnsweringRules>> {
    if rows.is_empty() {
        return None;
    }
    let rules = rows
        .iter()
        .filter_map(|r| {
            Rule::parse(&format!("{} {} {}", r.caller, r.when, r.action))
                .map_err(|e| tracing::error!(%login, "answering rule skipped: {e}"))
                .ok()
        })
        .collect();
    Some(Arc::new(AnsweringRules(rules)))
}

/// The most rules an account may have.
pub(crate) const MAX_RULES: usize = 100;

fn rows(login: &str, rules: &[Rule]) -> Vec<AnsweringRuleRow> {
    rules
        .iter()
        .map(|r| {
            let text = r.to_string();
            let mut f = text.splitn(3, ' ');
            AnsweringRuleRow {
                login: login.to_owned(),
                caller: f.next().unwrap_or_default().to_owned(),
                when: f.next().unwrap_or_default().to_owned(),
                action: f.next().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

/// `login`'s rules as stored.
pub(crate) async fn list(store: &Store, login: &str) -> anyhow::Result<Vec<Rule>> {
    check_login(login)?;
    let rows = store.answering_rules(login).await?;
    Ok(parse_rows(login, &rows).map_or_else(Vec::new, |r| r.0.clone()))
}

/// Applies `edit` to `login`'s rules and stores the result (the running server's account
/// cache picks it up through the account change log); returns the new list.
pub(crate) async fn edit(store: &Store, login: &str, edit: Edit) -> anyhow::Result<Vec<Rule>> {
    check_login(login)?;
    if store.get_account(login).await?.is_none() {
        bail!("no such account {login}");
    }
    let mut rules = list(store, login).await?;
    let n = rules.len();
    let position = |p: usize, max: usize| -> anyhow::Result<usize> {
        if p == 0 || p > max {
            bail!("position {p}: {login} has {n} rule(s) (positions start at 1)");
        }
        Ok(p - 1)
    };
    match edit {
        Edit::Add { rule, at } => {
            let i = match at {
                Some(p) => position(p, n + 1)?,
                None => n,
            };
            rules.insert(i, rule);
        }
        Edit::Remove(p) => {
            rules.remove(position(p, n)?);
        }
        Edit::Move { from, to } => {
            let r = rules.remove(position(from, n)?);
            rules.insert(position(to, n)?, r);
        }
        Edit::Replace(list) => rules = list,
    }
    if rules.len() > MAX_RULES {
        bail!("at most {MAX_RULES} rules per account");
    }
    store
        .set_answering_rules(login, &rows(login, &rules))
        .await
        .context("storing the answering rules")?;
    Ok(rules)
}

fn print(login: &str, rules: &[Rule]) {
    if rules.is_empty() {
        println!("{login}: no rules of its own; the default: voicemail on busy/decline, no answer and unreachable when the account has voicemail");
        return;
    }
    for (i, r) in rules.iter().enumerate() {
        println!("{:>3}  {r}", i + 1);
    }
}

pub(crate) async fn run(config: &Config, cmd: RulesCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = rules(&store, cmd).await;
    store.close().await;
    result
}

async fn rules(store: &Store, cmd: RulesCommand) -> anyhow::Result<()> {
    let (login, change) = match cmd {
        RulesCommand::List { login } => {
            let rules = list(store, &login).await?;
            print(&login, &rules);
            return Ok(());
        }
        RulesCommand::Add {
            login,
            caller,
            when,
            action,
            at,
        } => {
            let rule = Rule::parse(&format!("{caller} {when} {action}"))?;
            (login, Edit::Add { rule, at })
        }
        RulesCommand::Del { login, position } => (login, Edit::Remove(position)),
        RulesCommand::Move {
            login,
            position,
            to,
        } => (login, Edit::Move { from: position, to }),
        RulesCommand::Clear { login } => (login, Edit::Replace(Vec::new())),
    };
    let rules = edit(store, &login, change).await?;
    print(&login, &rules);
    Ok(())
}
