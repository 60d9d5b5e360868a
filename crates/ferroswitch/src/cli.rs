//! The command line: what `ferroswitch` is asked to do ([`Cli`], parsed by the binary) and
//! [`run`], which loads the config and carries the command out (the server, a config check,
//! or an operator command over a table).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{
    accounts, answering_cli, billing_cli, ops_cli, push_cli, reload_api, routing_cli, run_options,
    server,
};

/// The config file read when neither `-c` nor `FERROSWITCH_CONFIG` names one.
const DEFAULT_CONFIG: &str = "etc/ferroswitch.toml";

/// SIP softswitch: registrar, presence, B2BUA and media relay in one binary.
#[derive(Debug, Parser)]
#[command(name = "ferroswitch", version, about)]
pub struct Cli {
    /// Config file (TOML, or voipswitch-style XML).
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        env = "FERROSWITCH_CONFIG",
        default_value = DEFAULT_CONFIG
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server. The options override the config file's listeners and data directory
    /// for this run (a second instance needs no copy of the config).
    #[command(
        after_help = "Example: a second server beside the first, on the same config:\n  \
        ferroswitch run --sip 7060 --tls 7061 --stun off --admin off --data-dir /tmp/fs2"
    )]
    Run(run_options::RunOptions),
    /// Validate the config file and exit (non-zero with file:line: key: message on error).
    Check,
    /// Manage SIP accounts (the `clientsshared` table).
    #[command(subcommand)]
    Account(accounts::AccountCommand),
    /// Manage the dialing plan (the `dialing_plan` table).
    #[command(subcommand)]
    Route(routing_cli::RouteCommand),
    /// Manage OFFNET gateways (the `gateways` table).
    #[command(subcommand)]
    Gateway(routing_cli::GatewayCommand),
    /// Manage ring groups (the `ring_groups` table).
    #[command(subcommand)]
    Group(routing_cli::GroupCommand),
    /// Manage the local dialing plan softphones download (the `local_dialing_plan` table).
    #[command(subcommand)]
    LocalPlan(routing_cli::LocalPlanCommand),
    /// Show call detail records (the `cdr` table).
    #[command(subcommand)]
    Cdr(routing_cli::CdrCommand),
    /// Prepaid billing: tariffs, billed accounts, credits and debits, plans, reports.
    #[command(subcommand)]
    Billing(billing_cli::BillingCommand),
    /// Ask the running server to reload its config (its admin API's POST /api/reload, the
    /// same as SIGHUP). Sends `Authorization: Bearer $FERROSWITCH_ADMIN_TOKEN` when it is set.
    Reload {
        /// The server's admin API address; default: `admin.listen` from the config.
        #[arg(long)]
        admin: Option<std::net::SocketAddr>,
    },
    /// Manage an account's answering rules (the `answering_rules` table): who is rejected,
    /// forwarded, sent to voicemail, or rung for N seconds first.
    #[command(subcommand)]
    Rules(answering_cli::RulesCommand),
    /// An account's built-in voicemail mailbox (the `voicemailusers` table): on/off, and the
    /// address new messages are mailed to.
    #[command(subcommand)]
    Mailbox(crate::mailbox_cli::MailboxCommand),
    /// Manage devices' push tokens (the `push_device_token` table).
    #[command(subcommand)]
    Push(push_cli::PushCommand),
    /// The call-control API's OAuth clients (docs/api.md).
    #[command(subcommand)]
    ApiClient(crate::api::clients::ApiClientCommand),
    /// Show the running server's registrations (through its admin API).
    Registrations {
        /// Only this login's bindings.
        #[arg(long)]
        login: Option<String>,
        /// Only bindings over this transport (udp, tcp, tls).
        #[arg(long)]
        transport: Option<String>,
    },
    /// Show the running server's calls, or hang one up (through its admin API).
    Calls {
        #[command(subcommand)]
        action: Option<ops_cli::CallsCommand>,
    },
}

/// Runs a parsed command line: the exit code says how it went (2: the config did not load).
pub fn run(cli: Cli) -> ExitCode {
    let mut config = match ferroswitch_config::load(&cli.config) {
        Ok(c) => c,
        Err(ferroswitch_config::ConfigError::Io { path, source })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            eprintln!("error: {}", missing_config(&path));
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Run(options) = &cli.command {
        if let Err(e) = options.apply(&mut config) {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Check => {
            println!(
                "{}: OK ({} listener(s), database {})",
                cli.config.display(),
                config.listeners.len(),
                store::redact_url(&config.database.url)
            );
            return ExitCode::SUCCESS;
        }
        Command::Run(_) => runtime().and_then(|rt| rt.block_on(server::run(config))),
        Command::Account(cmd) => runtime().and_then(|rt| rt.block_on(accounts::run(&config, cmd))),
        Command::Route(cmd) => routing(&config, routing_cli::RoutingCommand::Route(cmd)),
        Command::Gateway(cmd) => routing(&config, routing_cli::RoutingCommand::Gateway(cmd)),
        Command::Group(cmd) => routing(&config, routing_cli::RoutingCommand::Group(cmd)),
        Command::LocalPlan(cmd) => routing(&config, routing_cli::RoutingCommand::LocalPlan(cmd)),
        Command::Cdr(cmd) => routing(&config, routing_cli::RoutingCommand::Cdr(cmd)),
        Command::Billing(cmd) => {
            runtime().and_then(|rt| rt.block_on(billing_cli::run(&config, cmd)))
        }
        Command::Reload { admin } => {
            runtime().and_then(|rt| rt.block_on(reload_api::run(&config, admin)))
        }
        Command::Rules(cmd) => {
            runtime().and_then(|rt| rt.block_on(answering_cli::run(&config, cmd)))
        }
        Command::Mailbox(cmd) => {
            runtime().and_then(|rt| rt.block_on(crate::mailbox_cli::run(&config, cmd)))
        }
        Command::Push(cmd) => runtime().and_then(|rt| rt.block_on(push_cli::run(&config, cmd))),
        Command::ApiClient(cmd) => {
            runtime().and_then(|rt| rt.block_on(crate::api::clients::run(&config, cmd)))
        }
        Command::Registrations { login, transport } => {
            runtime().and_then(|rt| rt.block_on(ops_cli::registrations(&config, login, transport)))
        }
        Command::Calls { action } => {
            runtime().and_then(|rt| rt.block_on(ops_cli::calls(&config, action)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// "no config file etc/ferroswitch.toml (looked for /home/me/etc/ferroswitch.toml, the
/// default, relative to the current directory): pass -c FILE or set FERROSWITCH_CONFIG"
fn missing_config(path: &std::path::Path) -> String {
    let looked = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let given = if path == std::path::Path::new(DEFAULT_CONFIG)
        && std::env::var_os("FERROSWITCH_CONFIG").is_none()
    {
        ", the default, relative to the current directory"
    } else {
        ""
    };
    format!(
        "no config file {} (looked for {}{given}): pass -c FILE (e.g. -c /path/to/ferroswitch/etc/ferroswitch.toml) or set FERROSWITCH_CONFIG",
        path.display(),
        looked.display()
    )
}

fn routing(
    config: &ferroswitch_config::Config,
    cmd: routing_cli::RoutingCommand,
) -> anyhow::Result<()> {
    runtime().and_then(|rt| rt.block_on(routing_cli::run(config, cmd)))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
