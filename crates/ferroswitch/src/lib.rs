//! `ferroswitch`: the drivers, the top layer of the workspace (see `docs/architecture.md`).
//! The sans-IO cores below take messages and `now`; this crate owns the clock, the sockets,
//! the database and the HTTP clients, and calls the cores from one task, the dispatcher. The
//! binary (`src/main.rs`) only parses the command line and calls [`cli::run`]; the library's
//! public surface is that and nothing else.
//!
//! | module | what it holds |
//! |---|---|
//! | `cli` | the command line and its commands: `run`, `check`, the table commands |
//! | `server` | `ferroswitch run`: storage, listeners, the tasks; config into the cores' configs |
//! | `lifecycle`, `reload`, `reload_api` | signals, shutdown; live reload (config diff, TLS swap); `POST /api/reload` and `ferroswitch reload` |
//! | `dispatcher` | the one task that calls the cores: the request pipeline, inputs, timers |
//! | `transport`, `tls` | UDP sockets, TCP and TLS connections, parse and sanity at the edge |
//! | `outbound`, `gateways` | TCP/TLS connections we open to gateways; gateway rows located through DNS (RFC 3263) with their trunks |
//! | `calls`, `media` | the call engine's `Outbox`, `Directory` and routing tables; its media relay |
//! | `presence_io`, `messaging_io`, `push_io` | the drivers of presence, messaging and push, each answering on its own channel |
//! | `persist` | the storage writer (bindings, instances, CDRs, publications, push tokens) |
//! | `admin`, `push_fields`, `metrics` | the admin HTTP API, the push-token fields it checks, the metrics it serves (`metrics/`: names, SIP counters, process, TLS expiry) |
//! | `accounts`, `routing_cli`, `push_cli` | operator commands over the tables |
//! | `ops_cli` | `registrations`, `calls`: operator commands over the running server's admin API |
//! | `operator` | what the admin API asks of the SIP core (`CoreRequest`, `CoreLink`) |
//! | `account_sync` | account changes from storage into the running core within a second |
//! | `secrets` | accounts' credentials at rest: digest HA1 values per realm |
//! | `clock` | the wall clock (unix ms) |
//! | `notify` | `sd_notify` to systemd: ready, reloading, stopping |

pub mod cli;

mod account_cache;
mod account_sync;
mod accounts;
mod admin;
mod answering_cli;
mod api;
mod billing_cli;
mod billing_io;
mod billing_load;
mod billing_ops;
mod calls;
mod clock;
mod cluster;
mod conn_limits;
mod dispatcher;
mod fd_reserve;
mod flood;
mod gateways;
mod lifecycle;
mod listeners;
mod loading;
mod mailbox_cli;
mod media;
mod messaging_io;
mod metrics;
mod notify;
mod operator;
mod ops_cli;
mod outbound;
mod persist;
mod presence_io;
mod push_cli;
mod push_fields;
mod push_io;
mod records;
mod reload;
mod reload_api;
mod routing_cli;
mod run_options;
mod secrets;
mod security;
mod server;
mod shard_drive;
mod shards;
mod striped;
mod tls;
mod transport;
mod tu;
mod voicemail_mail;
mod voicemail_service;
mod webphone;
mod ws;
