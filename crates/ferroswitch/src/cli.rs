//! The command line: what `ferroswitch` is asked to do ([`Cli`], parsed by the binary) and
//! [`run`], which loads the config and carries the command out (the server, a config check,
//! or an operator command over a table).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{accounts, ops_cli, push_cli, routing_cli, server};

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
        default_value = "etc/ferroswitch.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server.
    Run,
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
    /// Manage devices' push tokens (the `push_device_token` table).
    #[command(subcommand)]
    Push(push_cli::PushCommand),
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
    let config = match ferroswitch_config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
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
        Command::Run => runtime().and_then(|rt| rt.block_on(server::run(config))),
        Command::Account(cmd) => runtime().and_then(|rt| rt.block_on(accounts::run(&config, cmd))),
        Command::Route(cmd) => routing(&config, routing_cli::RoutingCommand::Route(cmd)),
        Command::Gateway(cmd) => routing(&config, routing_cli::RoutingCommand::Gateway(cmd)),
        Command::Group(cmd) => routing(&config, routing_cli::RoutingCommand::Group(cmd)),
        Command::LocalPlan(cmd) => routing(&config, routing_cli::RoutingCommand::LocalPlan(cmd)),
        Command::Cdr(cmd) => routing(&config, routing_cli::RoutingCommand::Cdr(cmd)),
        Command::Push(cmd) => runtime().and_then(|rt| rt.block_on(push_cli::run(&config, cmd))),
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
