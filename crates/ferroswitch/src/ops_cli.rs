//! `ferroswitch registrations` and `ferroswitch calls [hangup ID]`: operator commands over
//! the running server's state, through its admin API (the SIP core holds the truth, not the
//! database). The URL is the config's `[admin] listen` (or `FERROSWITCH_ADMIN_URL`), the
//! token the config's (or `FERROSWITCH_ADMIN_TOKEN`). [`AdminClient::nudge_accounts`] is what
//! the account commands call after a write, so that a running server applies it at once.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use ferroswitch_config::Config;
use serde_json::Value;

use crate::routing_cli::print_table;

/// `ferroswitch calls ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum CallsCommand {
    /// Hang a call up (its id from `ferroswitch calls`): BYE to both legs.
    Hangup { id: u64 },
}

/// An HTTP client of the running server's admin API.
pub(crate) struct AdminClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// Where the settings came from, for error messages.
    config: String,
}

impl AdminClient {
    /// The client for the server `config` describes; an error when it has no admin API.
    pub(crate) fn new(config: &Config) -> anyhow::Result<Self> {
        Self::new_at(config, None)
    }

    /// The client for the server `config` describes, or for the admin API at `at` (a
    /// command's `--admin`) when given.
    pub(crate) fn new_at(
        config: &Config,
        at: Option<std::net::SocketAddr>,
    ) -> anyhow::Result<Self> {
        let base = match (at, std::env::var("FERROSWITCH_ADMIN_URL"), &config.admin) {
            (Some(addr), _, _) => format!("http://{addr}"),
            (None, Ok(url), _) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
            (None, _, Some(admin)) => {
                // a server listening on every address is reached on loopback
                let mut addr = admin.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
            (None, _, None) => bail!(
                "{} has no [admin] section: the server's admin API is off, so there is nothing \
                 to ask (add `[admin]` with `listen` and `token_file`, then restart the server)",
                config.source.display()
            ),
        };
        let token = std::env::var("FERROSWITCH_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| {
                config
                    .admin
                    .as_ref()
                    .and_then(|a| a.token.as_ref())
                    .map(|t| t.expose().to_owned())
            });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base,
            token,
            http,
            config: config.source.display().to_string(),
        })
    }

    /// One request; the JSON answer (`Null` for an empty body), or an error that says what to
    /// do.
    async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => bail!(
                "the server is not running, or not on {}: nothing answers there ([admin] listen \
                 in {})",
                self.base,
                self.config
            ),
            Err(e) => return Err(e).with_context(|| format!("asking {url}")),
        };
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("reading {url}"))?;
        let json: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(json);
        }
        let why = json
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| json.to_string(), str::to_owned);
        match status.as_u16() {
            401 => bail!(
                "the admin API refused the token ({why}): set FERROSWITCH_ADMIN_TOKEN or the \
                 [admin] token_file of {} to the server's token",
                self.config
            ),
            code => bail!("{url} answered {code}: {why}"),
        }
    }

    /// `POST path` without a body; the JSON answer.
    pub(crate) async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path).await
    }

    /// Asks a running server to apply account changes now. Silent when no server runs or
    /// no token is known (the server polls the change log every second anyway).
    pub(crate) async fn nudge_accounts(config: &Config) {
        let Ok(client) = Self::new(config) else {
            return;
        };
        if client.token.is_none() {
            return;
        }
        match client
            .call(reqwest::Method::POST, "/api/accounts/sync")
            .await
        {
            Ok(_) => {}
            Err(e) if e.to_string().contains("not running") => {}
            Err(e) => eprintln!(
                "note: the running server was not told at once ({e:#}); it applies the change \
                 within a second"
            ),
        }
    }
}

/// `ferroswitch registrations [--login L] [--transport T]`.
pub(crate) async fn registrations(
    config: &Config,
    login: Option<String>,
    transport: Option<String>,
) -> anyhow::Result<()> {
    let client = AdminClient::new(config)?;
    let mut query = Vec::new();
    if let Some(l) = &login {
        query.push(format!("login={}", encode(l)));
    }
    if let Some(t) = &transport {
        query.push(format!("transport={}", encode(t)));
    }
    let path = if query.is_empty() {
        "/api/registrations".to_owned()
    } else {
        format!("/api/registrations?{}", query.join("&"))
    };
    let list = client.call(reqwest::Method::GET, &path).await?;
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|b| {
            let s = |k: &str| match &b[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            };
            vec![
                s("login"),
                s("transport"),
                s("source"),
                s("expires_in"),
                s("contact"),
                s("user_agent"),
            ]
        })
        .collect();
    let n = rows.len();
    print_table(
        &[
            "login",
            "transport",
            "source",
            "expires s",
            "contact",
            "user agent",
        ],
        rows,
    )?;
    println!("{n} binding(s)");
    Ok(())
}

/// `ferroswitch calls [hangup ID]`.
pub(crate) async fn calls(config: &Config, cmd: Option<CallsCommand>) -> anyhow::Result<()> {
    let client = AdminClient::new(config)?;
    if let Some(CallsCommand::Hangup { id }) = cmd {
        client
            .call(reqwest::Method::DELETE, &format!("/api/calls/{id}"))
            .await?;
        println!("call {id} hung up");
        return Ok(());
    }
    let list = client.call(reqwest::Method::GET, "/api/calls").await?;
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let s = |k: &str| match &c[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            };
            let state = if c["parked"] == Value::Bool(true) {
                "parked".to_owned()
            } else {
                s("state")
            };
            vec![
                s("id"),
                state,
                s("caller"),
                s("dialed"),
                s("callee"),
                s("age_s"),
            ]
        })
        .collect();
    let n = rows.len();
    print_table(
        &["id", "state", "caller", "dialed", "callee", "age s"],
        rows,
    )?;
    println!("{n} call(s)");
    Ok(())
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
