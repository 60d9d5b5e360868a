//! Starts voicemail to email ([`voicemail_io::mail::Mailer`]) when the config has `[smtp]`.
//! The mailer works from the `voicemessages` rows: what an earlier run left pending goes out
//! first; the voicemail service wakes it on each deposit (`VoicemailSettings::mailer`).

use anyhow::Context as _;
use ferroswitch_config::{Config, SmtpSecurity};
use voicemail_io::mail::{MailSecurity, MailSettings, Mailer};

/// The mail settings of `[smtp]`, if set (the CA file is read here).
pub(crate) fn settings(config: &Config) -> anyhow::Result<Option<MailSettings>> {
    let Some(smtp) = &config.smtp else {
        return Ok(None);
    };
    let mut s = MailSettings::new(&smtp.host, smtp.port, &smtp.from);
    s.security = match smtp.security {
        SmtpSecurity::StartTls => MailSecurity::StartTls,
        SmtpSecurity::Tls => MailSecurity::Tls,
        _ => MailSecurity::None,
    };
    s.credentials = smtp.username.clone().zip(smtp.password.clone());
    s.attempts = smtp.attempts;
    s.retry_delay = smtp.retry_delay;
    if let Some(ca) = &smtp.ca_file {
        s.ca_pem =
            Some(std::fs::read(ca).with_context(|| format!("smtp.ca_file {}", ca.display()))?);
    }
    Ok(Some(s))
}

/// Starts the mailer when `[smtp]` is set.
pub(crate) fn start(config: &Config, store: &store::Store) -> anyhow::Result<Option<Mailer>> {
    let Some(s) = settings(config)? else {
        return Ok(None);
    };
    Mailer::start(s, store.clone())
        .map(Some)
        .context("starting voicemail to email ([smtp])")
}
