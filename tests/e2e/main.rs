//! End-to-end tests: the real `ferroswitch` binary on loopback, driven by SIPp, stunnel, raw
//! sockets and the CLI. SIPp (Debian `sip-tester`) and stunnel must be installed; `.ci/run`
//! installs them.

mod admin_api;
mod advertise;
mod answering_rules;
mod api;
mod attacks;
mod billing;
mod billing_api;
mod calls;
mod cli;
mod cluster;
mod cluster_failover;
mod cluster_pickup;
mod cluster_tls;
mod demo;
mod dns_zone;
mod fd_limit;
mod flows;
mod gateways;
mod harness;
mod ice_relay;
mod lifecycle;
mod logs;
mod media;
mod media_ipv6;
mod messaging;
mod metrics;
mod outage;
mod ports;
mod prack_timers;
mod presence;
mod push;
mod push_tokens;
mod register;
mod routing_cli;
mod security;
mod shards;
mod systemd;
mod ua;
mod voicemail;
mod voicemail_mail;
mod webrtc;
mod websocket;
mod wire;
