//! End-to-end tests: the real `ferroswitch` binary on loopback, driven by SIPp, stunnel, raw
//! sockets and the CLI. SIPp (Debian `sip-tester`) and stunnel must be installed; `.ci/run`
//! installs them.

mod calls;
mod cli;
mod harness;
mod media;
mod messaging;
mod metrics;
mod outage;
mod presence;
mod push;
mod push_tokens;
mod register;
mod routing_cli;
mod systemd;
mod ua;
mod wire;
