//! `ferroswitch push add|list|del`: operator commands over the devices' push tokens (the
//! `push_device_token` table, one token per `+sip.instance` of a login).
//!
//! The fields are checked like the app's `POST /api/push-tokens` does (`push_fields`). A
//! running server learns of a change made here when it re-reads the tokens changed since
//! its last look (`Store::push_tokens_changed_since`), not at once.

use anyhow::bail;
use clap::Subcommand;
use ferroswitch_config::Config;
use store::{PushToken, Store};

use crate::accounts::{check_login, open_store};
use crate::push_fields::{self, unix_secs, FieldError};
use crate::routing_cli::{print_table, utc_datetime};

/// `ferroswitch push ...`: devices' push tokens.
#[derive(Debug, Subcommand)]
pub(crate) enum PushCommand {
    /// Set the push token of LOGIN's device INSTANCE (replaces the one it had).
    Add {
        /// An existing account's login.
        login: String,
        /// The device's +sip.instance, e.g. "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"
        /// (quote it for the shell).
        instance: String,
        /// The token the push platform gave the app.
        token: String,
        /// The push platform: apns, apns-voip, fcm, ... (default fcm).
        #[arg(long, default_value = "fcm")]
        platform: String,
        /// The RFC 8599 pn-param, e.g. the APNs topic.
        #[arg(long, value_name = "PARAM", default_value = "")]
        param: String,
    },
    /// List push tokens (of LOGIN, or of every login), tokens shortened.
    List { login: Option<String> },
    /// Remove the push token of LOGIN's device INSTANCE.
    Del { login: String, instance: String },
}

/// How many characters of a token `push list` shows.
const TOKEN_SHOWN: usize = 12;

pub(crate) async fn run(config: &Config, cmd: PushCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = push(&store, cmd).await;
    store.close().await;
    result
}

async fn push(store: &Store, cmd: PushCommand) -> anyhow::Result<()> {
    match cmd {
        PushCommand::Add {
            login,
            instance,
            token,
            platform,
            param,
        } => {
            check_login(&login)?;
            let instance = push_fields::instance(&instance)?;
            push_fields::token(&token)?;
            let platform = push_fields::platform(&platform).map_err(as_option)?;
            push_fields::param(&param).map_err(as_option)?;
            if store.get_account(&login).await?.is_none() {
                bail!("no such account {login}; add it with `ferroswitch account add {login} --password ...`");
            }
            let t = PushToken {
                login,
                instance,
                token,
                platform,
                param,
                updated_at: unix_secs(),
            };
            store.set_push_token(&t).await?;
            println!(
                "push token of {} device {}: {} {}{}",
                t.login,
                t.instance,
                t.platform,
                push_fields::shortened(&t.token, TOKEN_SHOWN),
                if t.param.is_empty() {
                    String::new()
                } else {
                    format!(", param {}", t.param)
                }
            );
        }
        PushCommand::List { login } => {
            if let Some(l) = &login {
                check_login(l)?;
            }
            let tokens = store.list_push_tokens(login.as_deref()).await?;
            let rows = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.login.clone(),
                        t.instance.clone(),
                        t.platform.clone(),
                        push_fields::shortened(&t.token, TOKEN_SHOWN),
                        utc_datetime(t.updated_at.saturating_mul(1000)),
                    ]
                })
                .collect();
            print_table(
                &["login", "instance", "platform", "token", "updated (UTC)"],
                rows,
            )?;
            println!("{} token(s)", tokens.len());
        }
        PushCommand::Del { login, instance } => {
            check_login(&login)?;
            let instance = push_fields::instance(&instance)?;
            if !store
                .delete_push_token(&login, &instance, unix_secs())
                .await?
            {
                bail!(
                    "{login} has no push token for device {instance}; \
                     `ferroswitch push list {login}` shows its devices"
                );
            }
            println!("removed the push token of {login} device {instance}");
        }
    }
    Ok(())
}

/// An error about a field given as an option (`--platform must be ...`).
fn as_option(e: FieldError) -> anyhow::Error {
    anyhow::anyhow!("--{} {}", e.field, e.reason)
}
