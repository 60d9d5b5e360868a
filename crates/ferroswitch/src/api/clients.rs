//! The API's clients: `ferroswitch api-client add|list|remove` (the database directly) and the
//! checks the admin API's `/api/api-clients` routes share. A secret is shown once, at
//! creation; only its argon2id hash is stored.

use anyhow::bail;
use clap::Subcommand;
use ferroswitch_config::Config;
use store::{ApiClient, Store};

use crate::accounts::open_store;
use crate::routing_cli::{print_table, utc_datetime};

use super::token::{hash_secret, unix_s};

/// `ferroswitch api-client ...`: the call-control API's OAuth clients.
#[derive(Debug, Subcommand)]
pub(crate) enum ApiClientCommand {
    /// Add a client; prints its secret once (generated unless --secret is given).
    Add {
        /// The client id (1 to 64 of letters, digits, '.', '_', '-').
        client_id: String,
        /// The logins it may act for, space or comma separated; "*" for every login.
        #[arg(long)]
        scope: String,
        /// The secret (at least 16 characters); default: 32 random bytes in hex.
        #[arg(long)]
        secret: Option<String>,
    },
    /// List the clients (never their secrets).
    List,
    /// Remove a client (tokens it holds stay valid until they expire).
    Remove { client_id: String },
}

/// Why a new client is refused (the CLI's and the admin API's wording).
pub(crate) fn check_new(client_id: &str, scope: &str, secret: &str) -> Result<String, String> {
    let id_ok = !client_id.is_empty()
        && client_id.len() <= 64
        && client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !id_ok {
        return Err("client_id: 1 to 64 of letters, digits, '.', '_', '-'".into());
    }
    if secret.len() < 16 {
        return Err("secret: at least 16 characters".into());
    }
    let scope: Vec<&str> = scope.split([' ', ',']).filter(|s| !s.is_empty()).collect();
    if scope.is_empty() {
        return Err("scope: at least one login, or \"*\"".into());
    }
    Ok(scope.join(" "))
}

/// Adds a checked client; the scope normalised.
pub(crate) async fn add(
    store: &Store,
    client_id: &str,
    scope: &str,
    secret: &str,
) -> anyhow::Result<ApiClient> {
    let scope = check_new(client_id, scope, secret).map_err(anyhow::Error::msg)?;
    if store.get_api_client(client_id).await?.is_some() {
        bail!("API client {client_id} exists already (remove it first)");
    }
    let secret = secret.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_secret(&secret)).await??;
    let c = ApiClient {
        client_id: client_id.to_owned(),
        secret_hash: hash,
        scope,
        created_at: unix_s() as i64,
    };
    store.add_api_client(&c).await?;
    Ok(c)
}

pub(crate) async fn run(config: &Config, cmd: ApiClientCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = command(&store, cmd).await;
    store.close().await;
    result
}

async fn command(store: &Store, cmd: ApiClientCommand) -> anyhow::Result<()> {
    match cmd {
        ApiClientCommand::Add {
            client_id,
            scope,
            secret,
        } => {
            let generated = secret.is_none();
            let secret = secret.unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
            let c = add(store, &client_id, &scope, &secret).await?;
            println!("API client {} added, scope: {}", c.client_id, c.scope);
            if generated {
                println!("secret: {secret}");
                println!("(shown once: only its hash is stored)");
            }
        }
        ApiClientCommand::List => {
            let rows = store
                .list_api_clients()
                .await?
                .into_iter()
                .map(|c| vec![c.client_id, c.scope, utc_datetime(c.created_at * 1000)])
                .collect();
            print_table(&["CLIENT", "SCOPE", "CREATED"], rows)?;
        }
        ApiClientCommand::Remove { client_id } => {
            if !store.remove_api_client(&client_id).await? {
                bail!("no API client {client_id}");
            }
            println!("API client {client_id} removed");
        }
    }
    Ok(())
}
