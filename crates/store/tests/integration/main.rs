//! Integration tests for `store`, against real databases: every test runs on an SQLite file in
//! a temporary directory and on a fresh database in the local MariaDB (127.0.0.1:3306, root,
//! no password). Without MariaDB the MariaDB half is skipped loudly, unless
//! `FERRO_REQUIRE_MARIADB=1`, which turns the skip into a failure.

mod accounts;
mod answering;
mod api_clients;
mod api_sessions;
mod billing;
mod bindings;
mod cdrs;
mod contacts;
mod errors;
#[cfg(unix)]
mod files;
mod instances;
mod messages;
mod migrate;
mod persistence;
mod publications;
mod push_tokens;
mod routing;
mod support;
mod voicemessages;
