//! End-to-end tests: the real `ferroswitch` binary on loopback, driven by SIPp, stunnel, raw
//! sockets and the CLI. SIPp (Debian `sip-tester`) and stunnel must be installed; `.ci/run`
//! installs them.

mod admin_api;
mod advertise;
mod billing;
mod calls;
mod cli;
mod demo;
mod harness;
mod lifecycle;
mod logs;
mod media;
mod messaging;
mod metrics;
mod outage;
mod ports;
mod presence;
mod push;
mod push_tokens;
mod register;
mod routing_cli;
mod security;
mod systemd;
mod ua;
mod wire;
