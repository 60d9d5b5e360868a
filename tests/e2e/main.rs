//! End-to-end tests: the real `ferroswitch` binary on loopback, driven by SIPp, stunnel, raw
//! sockets and the CLI. SIPp (Debian `sip-tester`) and stunnel must be installed; `.ci/run`
//! installs them.

mod admin_api;
mod calls;
mod cli;
mod harness;
mod media;
mod messaging;
mod outage;
mod presence;
mod push;
mod push_tokens;
mod register;
mod routing_cli;
mod ua;
mod wire;
