//! Voicemail to email: a task that mails each new message of a mailbox with an email address,
//! the WAV attached, through the operator's SMTP server (`lettre`, rustls).
//!
//! The state lives in the `voicemessages` row (`mail_status` pending/sent/failed,
//! `mail_attempts`, `mail_next_ms`), so the task is a loop over the due rows: it starts by
//! sending what an earlier run left pending, is woken by each deposit ([`Mailer::wake`]), and
//! otherwise sleeps until the next retry is due. A failed attempt is retried after
//! `retry_delay`, doubling up to an hour, at most `attempts` times (a permanent 5xx refusal
//! ends it at once), then the row is marked `failed`. Failures are logged; the message always
//! stays in the mailbox.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailSecurity {
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte.
    Tls,
    /// Plain (a relay on the same host).
    None,
}

/// Where and how mail is sent.
#[derive(Clone)]
#[non_exhaustive]
pub struct MailSettings {
    /// The server (name checked against its certificate, or an address).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Encryption.
    pub security: MailSecurity,
    /// AUTH user name and password.
    pub credentials: Option<(String, String)>,
    /// The From of the mails.
    pub from: String,
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// Attempts per message.
    pub attempts: u32,
    /// The wait after the first failure (doubling, at most an hour).
    pub retry_delay: Duration,
    /// How long one SMTP exchange may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("from", &self.from)
            .field("attempts", &self.attempts)
            .field("retry_delay", &self.retry_delay)
            .finish_non_exhaustive()
    }
}

impl MailSettings {
    /// Plain SMTP to `host:port` from `from`, 10 attempts from 30 s apart.
    pub fn new(host: &str, port: u16, from: &str) -> Self {
        Self {
            host: host.to_owned(),
            port,
            security: MailSecurity::None,
            credentials: None,
            from: from.to_owned(),
            ca_pem: None,
            attempts: 10,
            retry_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why the mailer cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The From address does not parse.
    #[error("smtp from {0:?}: {1}")]
    From(String, String),
    /// The TLS settings (CA file) are unusable.
    #[error("smtp TLS: {0}")]
    Tls(String),
}

/// The running mailer; clones share it.
#[derive(Debug, Clone)]
pub struct Mailer {
    wake: Arc<Notify>,
}

impl Mailer {
    /// Starts the task (on the current tokio runtime). Rows left `pending` by an earlier run
    /// are sent first.
    pub fn start(settings: MailSettings, store: store::Store) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::From(settings.from.clone(), format!("{e}")))?;
        let transport = transport(&settings)?;
        let wake = Arc::new(Notify::new());
        let task = Task {
            settings,
            from,
            transport,
            store,
            wake: wake.clone(),
        };
        tokio::spawn(task.run());
        Ok(Self { wake })
    }

    /// A message may be due now (a deposit).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Hands a mailbox change over: a deposit to a mailbox with an address wakes the task.
    pub fn on_change(&self, change: &crate::MailboxChange) {
        if change
            .deposited
            .as_ref()
            .is_some_and(|m| m.mail_status == "pending")
        {
            self.wake();
        }
    }
}

fn transport(s: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls_params = || {
        let mut b = TlsParameters::builder(s.host.clone());
        if let Some(pem) = &s.ca_pem {
            let cert = Certificate::from_pem(pem).map_err(|e| MailError::Tls(e.to_string()))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| MailError::Tls(e.to_string()))
    };
    let tls = match s.security {
        MailSecurity::StartTls => Tls::Required(tls_params()?),
        MailSecurity::Tls => Tls::Wrapper(tls_params()?),
        MailSecurity::None => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
        .port(s.port)
        .tls(tls)
        .timeout(Some(s.timeout));
    if let Some((user, password)) = &s.credentials {
        b = b.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(b.build())
}

/// The wait before attempt `attempts + 1` (after `attempts` failures): the first delay,
/// doubling, at most one hour.
pub fn backoff(first: Duration, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    first.saturating_mul(factor).min(Duration::from_secs(3600))
}

struct Task {
    settings: MailSettings,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    store: store::Store,
    wake: Arc<Notify>,
}

/// What one attempt came to.
enum Outcome {
    Sent,
    /// No address any more: nothing to send.
    NoAddress,
    /// Worth another try.
    Transient(String),
    /// Will never work (a 5xx, an unreadable file, a bad address).
    Permanent(String),
}

const BATCH: u32 = 16;
/// The longest sleep without looking at the table (rows made pending by another process).
const IDLE_CHECK: Duration = Duration::from_secs(60);

impl Task {
    async fn run(self) {
        tracing::info!(host = %self.settings.host, port = self.settings.port, "voicemail to email started");
        loop {
            let due = match self
                .store
                .voice_mail_due(crate::call::unix_ms(), BATCH)
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!("voicemail to email: reading the pending messages: {e}");
                    self.sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            let full = due.len() == BATCH as usize;
            for p in due {
                self.attempt(p).await;
            }
            if full {
                continue;
            }
            let wait = match self.store.next_voice_mail_due().await {
                Ok(Some(at)) => {
                    Duration::from_millis(u64::try_from(at - crate::call::unix_ms()).unwrap_or(0))
                        .min(IDLE_CHECK)
                }
                Ok(None) => IDLE_CHECK,
                Err(e) => {
                    tracing::warn!("voicemail to email: {e}");
                    Duration::from_secs(5)
                }
            };
            if !wait.is_zero() {
                self.sleep(wait).await;
            }
        }
    }

    async fn sleep(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.wake.notified() => {}
        }
    }

    async fn attempt(&self, p: store::PendingMail) {
        let m = &p.message;
        let attempts = p.attempts + 1;
        let outcome = self.send(m).await;
        let now = crate::call::unix_ms();
        let (status, next) = match &outcome {
            Outcome::Sent => {
                tracing::info!(id = m.id, mailbox = %m.login, attempts, "voicemail mailed");
                ("sent", now)
            }
            Outcome::NoAddress => ("none", now),
            Outcome::Permanent(e) => {
                tracing::error!(id = m.id, mailbox = %m.login, attempts, "voicemail to email failed for good (the message stays in the mailbox): {e}");
                ("failed", now)
            }
            Outcome::Transient(e) if attempts >= self.settings.attempts => {
                tracing::error!(id = m.id, mailbox = %m.login, attempts, "voicemail to email gave up after {attempts} attempts (the message stays in the mailbox): {e}");
                ("failed", now)
            }
            Outcome::Transient(e) => {
                let wait = backoff(self.settings.retry_delay, attempts);
                tracing::warn!(id = m.id, mailbox = %m.login, attempts, retry_in = ?wait, "voicemail to email: {e}");
                (
                    "pending",
                    now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
                )
            }
        };
        if let Err(e) = self
            .store
            .record_voice_mail_attempt(m.id, status, attempts, next)
            .await
        {
            tracing::error!(id = m.id, "voicemail to email: recording the attempt: {e}");
        }
    }

    async fn send(&self, m: &store::VoiceMessage) -> Outcome {
        let email = match self.store.voicemail_user(&m.login).await {
            Ok(Some(u)) => u.email,
            Ok(None) => None,
            Err(e) => return Outcome::Transient(format!("reading the mailbox: {e}")),
        };
        let Some(email) = email.filter(|e| !e.trim().is_empty()) else {
            return Outcome::NoAddress;
        };
        let to: Mailbox = match email.parse() {
            Ok(to) => to,
            Err(e) => return Outcome::Permanent(format!("mailbox address {email:?}: {e}")),
        };
        let wav = match tokio::fs::read(&m.file_path).await {
            Ok(b) => b,
            Err(e) => return Outcome::Permanent(format!("{}: {e}", m.file_path)),
        };
        let mail = match compose(&self.from, to, m, wav) {
            Ok(mail) => mail,
            Err(e) => return Outcome::Permanent(format!("composing: {e}")),
        };
        match self.transport.send(mail).await {
            Ok(_) => Outcome::Sent,
            Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
            Err(e) => Outcome::Transient(e.to_string()),
        }
    }
}

/// The mail for message `m`: a short text and the WAV as `voicemail-ID.wav` (audio/wav).
pub fn compose(
    from: &Mailbox,
    to: Mailbox,
    m: &store::VoiceMessage,
    wav: Vec<u8>,
) -> Result<Message, lettre::error::Error> {
    let caller = if m.display_name.is_empty() {
        m.caller_id.clone()
    } else {
        format!("{} ({})", m.display_name, m.caller_id)
    };
    let seconds = (m.duration_ms + 500) / 1000;
    let when =
        std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(m.created_ms).unwrap_or(0));
    let text = format!(
        "New voicemail message {id} in mailbox {login}\n\nFrom: {caller}\nLength: {seconds} s\n\n\
         The recording is attached; dial 950msg{id} to hear it on your phone.\n",
        id = m.id,
        login = m.login,
    );
    let wav_type = ContentType::parse("audio/wav").expect("a valid content type");
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(format!("New voicemail from {caller} ({seconds} s)"))
        .date(when)
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text))
                .singlepart(Attachment::new(format!("voicemail-{}.wav", m.id)).body(wav, wav_type)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let s = Duration::from_secs(30);
        assert_eq!(backoff(s, 1), s);
        assert_eq!(backoff(s, 2), s * 2);
        assert_eq!(backoff(s, 4), s * 8);
        assert_eq!(backoff(s, 40), Duration::from_secs(3600));
    }

    #[test]
    fn the_mail_carries_the_wav_and_the_caller() {
        let m = store::VoiceMessage {
            id: 7,
            login: "alice".into(),
            caller_id: "1002".into(),
            display_name: "Bob".into(),
            created_ms: 1_700_000_000_000,
            duration_ms: 5620,
            new: true,
            file_path: String::new(),
            mail_status: "pending".into(),
        };
        let mail = compose(
            &"vm@example.com".parse().unwrap(),
            "alice@example.com".parse().unwrap(),
            &m,
            b"RIFF....WAVE".to_vec(),
        )
        .unwrap();
        let text = String::from_utf8(mail.formatted()).unwrap();
        assert!(
            text.contains("Subject: New voicemail from Bob (1002) (6 s)"),
            "{text}"
        );
        assert!(
            text.contains("voicemail-7.wav") && text.contains("audio/wav"),
            "{text}"
        );
        assert!(text.contains("950msg7"), "{text}");
    }
}
