//! The built-in voicemail wired into the server (docs/voicemail.md): `[voicemail]` starts
//! [`voicemail_io::VoicemailService`] on a loopback UDP port; the B2BUA reaches it through the
//! [`Builtin`] the dispatcher's directory holds (deposits of accounts without an outside
//! voicemail URI, the access numbers `950`, `950msgN`, `750`); every [`MailboxChange`] it
//! reports is read back with the mailbox's new messages and handed to the dispatcher on the
//! presence driver's channel ([`Fetched::Mailbox`]): a `message-summary` NOTIFY with the
//! details to every subscription of the mailbox at once, and a `voicemail` push event for
//! its sleeping devices.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use ferroswitch_config::Config;
use presence::{MessageDetail, MessageSummary};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use voicemail_io::{MailboxChange, VoicemailService, VoicemailSettings};

use crate::presence_io::Fetched;

/// How long reading a mailbox's messages may take before the change goes out with counts only.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the B2BUA finds the running service.
#[derive(Debug, Clone)]
pub(crate) struct Builtin {
    /// The service's SIP socket (loopback).
    pub(crate) addr: SocketAddr,
    /// `[voicemail] access_prefixes`.
    pub(crate) prefixes: Vec<String>,
}

impl Builtin {
    /// The service's URI for a Request-URI user (`950msg230`, `750`).
    pub(crate) fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.addr)
    }

    /// Where deposits go (the mailbox is the RFC 4458 `target` the directory adds).
    pub(crate) fn deposit_uri(&self) -> String {
        self.uri("voicemail")
    }
}

/// A mailbox change as the dispatcher takes it: counts, the new messages' details, and
/// whether (and with which deposited message) to push its sleeping devices.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) login: String,
    pub(crate) summary: MessageSummary,
    pub(crate) details: Vec<MessageDetail>,
    /// `None`: the state a new subscription asked for (no push); `Some`: a change.
    pub(crate) change: Option<Option<store::VoiceMessage>>,
}

/// Starts the service when `[voicemail] enabled`: its directory is created, the prompts are
/// loaded (a bad replacement prompt stops the start, naming the file), the SIP socket binds
/// 127.0.0.1 port 0. `listener_ips` are our SIP listeners' addresses: the B2BUA's requests
/// come from them.
pub(crate) async fn start(
    config: &Config,
    store: &store::Store,
    presence: mpsc::UnboundedSender<Fetched>,
    listener_ips: &[IpAddr],
    mailer: Option<voicemail_io::mail::Mailer>,
) -> anyhow::Result<Option<(Builtin, VoicemailService)>> {
    let v = &config.voicemail;
    if !v.enabled {
        return Ok(None);
    }
    tokio::fs::create_dir_all(&v.directory)
        .await
        .with_context(|| format!("voicemail.directory {}", v.directory.display()))?;
    let prompts = voicemail::prompts::load(v.prompts.as_deref()).map_err(|e| {
        anyhow::anyhow!(
            "voicemail.prompts {}: {e}",
            v.prompts
                .as_deref()
                .map_or_else(|| "(built in)".into(), |p| p.display().to_string())
        )
    })?;
    let mut settings = VoicemailSettings::new(v.directory.clone(), prompts);
    settings.limits.max_length = v.max_message;
    settings.limits.silence = v.silence_timeout;
    // voicemail to email ([smtp]): a deposit wakes the mailer at once
    settings.mailer = mailer;
    // only the B2BUA: loopback, and our listeners' own addresses
    let mut trusted = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    trusted.extend(listener_ips.iter().filter(|ip| !ip.is_unspecified()));
    settings.trusted = trusted;
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding the voicemail SIP socket on 127.0.0.1")?;
    let (svc, changes) = VoicemailService::start(socket, settings, store.clone())
        .context("starting the voicemail service")?;
    tracing::info!(
        "voicemail service on udp {} (messages in {})",
        svc.sip_addr,
        v.directory.display()
    );
    tokio::spawn(forward(changes, store.clone(), presence));
    let builtin = Builtin {
        addr: svc.sip_addr,
        prefixes: v.access_prefixes.clone(),
    };
    Ok(Some((builtin, svc)))
}

/// Each change, with the mailbox's new messages read back, to the dispatcher.
async fn forward(
    mut changes: mpsc::UnboundedReceiver<MailboxChange>,
    store: store::Store,
    presence: mpsc::UnboundedSender<Fetched>,
) {
    while let Some(c) = changes.recv().await {
        tracing::info!(mailbox = %c.login, new = c.counts.new, old = c.counts.old, deposit = c.deposited.is_some(), "voicemail mailbox changed");
        let summary = crate::records::message_summary(&c.counts);
        let details = details(&store, &c.login).await;
        let m = Mailbox {
            login: c.login,
            summary,
            details,
            change: Some(c.deposited),
        };
        if presence.send(Fetched::Mailbox(Box::new(m))).is_err() {
            return;
        }
    }
}

/// The details of `login`'s new messages, newest first; none when the store fails (the
/// counts still go out).
pub(crate) async fn details(store: &store::Store, login: &str) -> Vec<MessageDetail> {
    match tokio::time::timeout(READ_TIMEOUT, store.voice_messages(login)).await {
        Ok(Ok(v)) => {
            let mut v: Vec<MessageDetail> = v
                .into_iter()
                .filter(|m| m.new)
                .map(|m| MessageDetail {
                    id: m.id,
                    caller: m.caller_id,
                    display_name: m.display_name,
                    created_ms: m.created_ms,
                    duration_ms: m.duration_ms,
                })
                .collect();
            v.sort_by_key(|m| std::cmp::Reverse(m.id));
            v
        }
        Ok(Err(e)) => {
            tracing::error!(%login, "reading voice messages failed: {e}");
            Vec::new()
        }
        Err(_) => {
            tracing::error!(%login, "reading voice messages timed out");
            Vec::new()
        }
    }
}

/// The `voicemail` push event of a change for `devices`.
pub(crate) fn push_event(
    m: &Mailbox,
    deposited: Option<&store::VoiceMessage>,
    devices: Vec<b2bua::PushDevice>,
) -> hooks::PushEvent {
    hooks::PushEvent::voicemail(hooks::VoicemailEvent {
        mailbox: m.login.clone(),
        new: m.summary.new,
        old: m.summary.old,
        message: deposited.map(|d| hooks::VoicemailMessage {
            id: d.id,
            caller: hooks::Party::new(
                d.caller_id.clone(),
                Some(d.display_name.clone()).filter(|n| !n.is_empty()),
            ),
            created: d.created_ms.div_euclid(1000),
            duration_ms: d.duration_ms,
        }),
        instances: devices.iter().map(|d| d.instance.clone()).collect(),
        devices: devices
            .into_iter()
            .map(|d| hooks::PushDevice {
                instance: d.instance,
                token: d.token,
                platform: d.platform,
                param: d.param,
            })
            .collect(),
    })
}
