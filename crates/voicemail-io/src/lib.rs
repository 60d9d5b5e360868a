//! The built-in voicemail service: a SIP user agent on a loopback UDP port that the B2BUA
//! routes voicemail calls to, like an outside voicemail server, and one tokio task per call
//! running the `voicemail` core's [`voicemail::Session`] over its own RTP socket.
//!
//! # Where this sits
//!
//! A driver crate (see `ARCHITECTURE.md`): sockets, tasks, files and the database. The decisions
//! are in `voicemail` (sans-IO). The server binary starts it ([`VoicemailService::start`]) and
//! forwards its [`MailboxChange`]s to presence (message-summary NOTIFY) and to the push hook.
//!
//! # What a call's Request-URI means
//!
//! | Request-URI | script |
//! |---|---|
//! | user `950msgN` (From: the owner) | play message N, if the caller owns it (else 403) |
//! | user `950` | play the caller's messages, new first, with the menu |
//! | user `750` | record the caller's greeting |
//! | anything else | deposit into the mailbox named by the RFC 4458 `target` parameter (a SIP URI or a login), else by the user part |
//!
//! The caller is the From user: the B2BUA has authenticated it, and only the B2BUA reaches
//! this socket (it binds loopback only and answers only `trusted` sources).

mod call;
pub mod mail;
mod sip;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use voicemail::{Prompts, RecordLimits};

pub use sip::{mailbox_of, Request};

/// How the service runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VoicemailSettings {
    /// Where messages and greetings are written (`DIR/LOGIN/ID-TIME.wav`, `DIR/LOGIN/greeting.wav`).
    pub dir: PathBuf,
    /// The prompts.
    pub prompts: Prompts,
    /// The address the RTP sockets bind (and the SDP advertises).
    pub rtp_ip: IpAddr,
    /// Recording limits of deposits.
    pub limits: RecordLimits,
    /// Sources allowed to send SIP (the B2BUA's addresses). Empty: any loopback source.
    pub trusted: Vec<IpAddr>,
    /// Voicemail to email, when the server has `[smtp]`: woken by each deposit.
    pub mailer: Option<mail::Mailer>,
}

impl VoicemailSettings {
    /// Defaults: RTP on 127.0.0.1, default limits.
    pub fn new(dir: PathBuf, prompts: Prompts) -> Self {
        Self {
            dir,
            prompts,
            rtp_ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            limits: RecordLimits::default(),
            trusted: Vec::new(),
            mailer: None,
        }
    }
}

/// A mailbox's messages changed (deposit, heard, deleted): for MWI and push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxChange {
    /// The mailbox.
    pub login: String,
    /// Its counts now.
    pub counts: store::VoicemailCounts,
    /// The message deposited, when the change is a deposit.
    pub deposited: Option<store::VoiceMessage>,
}

/// The running service.
#[derive(Debug)]
pub struct VoicemailService {
    /// The SIP address calls are sent to.
    pub sip_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

pub(crate) struct Shared {
    pub(crate) settings: VoicemailSettings,
    pub(crate) store: store::Store,
    pub(crate) changes: mpsc::UnboundedSender<MailboxChange>,
}

impl VoicemailService {
    /// Serves voicemail calls on `socket` (bound by the caller, loopback).
    pub fn start(
        socket: UdpSocket,
        settings: VoicemailSettings,
        store: store::Store,
    ) -> std::io::Result<(Self, mpsc::UnboundedReceiver<MailboxChange>)> {
        let sip_addr = socket.local_addr()?;
        let (changes, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            settings,
            store,
            changes,
        });
        let task = tokio::spawn(sip::serve(Arc::new(socket), shared));
        tracing::info!(%sip_addr, "voicemail listening");
        Ok((Self { sip_addr, task }, rx))
    }

    /// Stops taking calls (server shutdown): the SIP socket closes; calls in progress end
    /// with the runtime.
    pub fn stop(&self) {
        self.task.abort();
    }
}
