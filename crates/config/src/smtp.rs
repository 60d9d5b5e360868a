//! `[smtp]` (TOML) / `<smtp>` (XML): the mail server voicemail to email goes through. Both
//! formats build an [`SmtpSettings`] recording the line and file key of each value; [`check`]
//! applies the rules shared by both and names the offending key.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required); default port 587.
    StartTls,
    /// TLS from the first byte (SMTPS); default port 465.
    Tls,
    /// No encryption; default port 25. Only for a relay on the same host.
    None,
}

impl SmtpSecurity {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// The SMTP server voicemail to email uses. Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpSettings {
    /// The server's host name (checked against its TLS certificate) or IP address.
    pub host: String,
    /// Default by `security`: 587, 465 or 25.
    pub port: u16,
    /// Default `starttls`.
    pub security: SmtpSecurity,
    /// AUTH user name; with `password`.
    pub username: Option<String>,
    /// AUTH password (given, or read from `password_file`).
    pub password: Option<String>,
    /// Where the password was read from (absolute).
    pub password_file: Option<PathBuf>,
    /// The From address of the mails, `addr@domain` or `Name <addr@domain>`.
    pub from: String,
    /// Extra CA certificates (PEM) trusted for the server, besides the system's (absolute).
    pub ca_file: Option<PathBuf>,
    /// Attempts per message before it is marked `failed`. Default 10; 1 to 100.
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each, up to one hour. Default 30 s;
    /// 1 to 3600 s.
    pub retry_delay: Duration,
    /// Where each value was written: key name → (line, key as the file spells it).
    at: HashMap<&'static str, (usize, String)>,
    /// The section's line.
    line: usize,
    /// The section's name in errors (`smtp`).
    section: &'static str,
}

impl SmtpSettings {
    /// Settings for `host` with the defaults (STARTTLS on 587, no AUTH).
    pub fn new(host: &str, from: &str) -> Self {
        Self {
            host: host.to_owned(),
            port: SmtpSecurity::StartTls.default_port(),
            security: SmtpSecurity::StartTls,
            username: None,
            password: None,
            password_file: None,
            from: from.to_owned(),
            ca_file: None,
            attempts: 10,
            retry_delay: Duration::from_secs(30),
            at: HashMap::new(),
            line: 1,
            section: "smtp",
        }
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .field("attempts", &self.attempts)
            .field("retry_delay", &self.retry_delay)
            .finish_non_exhaustive()
    }
}

/// The TOML section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    host: Spanned<String>,
    port: Option<Spanned<u16>>,
    security: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    from: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    attempts: Option<Spanned<u32>>,
    /// Seconds.
    retry_delay: Option<Spanned<u32>>,
}

/// One value as a format layer read it: its text and where it was.
pub(crate) struct Given {
    pub(crate) text: String,
    pub(crate) line: usize,
    pub(crate) key: String,
}

/// Builds the settings from the values a format gave, by key name (`host`, `port`, ...,
/// `password_file`, `ca_file`, `retry_delay`), then checks them.
pub(crate) fn build(
    section_line: usize,
    given: Vec<(&'static str, Given)>,
    path: &Path,
) -> Result<SmtpSettings, ConfigError> {
    let mut s = SmtpSettings::new("", "");
    s.line = section_line;
    let mut port = None;
    let mut security = None;
    for (name, g) in given {
        let fail = |message: String| ConfigError::invalid(path, g.line, g.key.clone(), message);
        let v = g.text.clone();
        match name {
            "host" => s.host = v,
            "port" => {
                port = Some(
                    v.trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| fail(format!("{v:?} is not a port (1 to 65535)")))?,
                );
            }
            "security" => {
                security = Some(SmtpSecurity::parse(v.trim()).ok_or_else(|| {
                    fail(format!("{v:?}: expected \"starttls\", \"tls\" or \"none\""))
                })?);
            }
            "username" => s.username = Some(v),
            "password" => s.password = Some(v),
            "password_file" => s.password_file = Some(PathBuf::from(v)),
            "from" => s.from = v,
            "ca_file" => s.ca_file = Some(PathBuf::from(v)),
            "attempts" => {
                s.attempts = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| fail(format!("{v:?}: expected 1 to 100 attempts")))?;
            }
            "retry_delay" => {
                let n: u64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=3600).contains(n))
                    .ok_or_else(|| fail(format!("{v:?}: expected 1 to 3600 seconds")))?;
                s.retry_delay = Duration::from_secs(n);
            }
            _ => {}
        }
        s.at.insert(name, (g.line, g.key));
    }
    s.security = security.unwrap_or(SmtpSecurity::StartTls);
    s.port = port.unwrap_or_else(|| s.security.default_port());
    Ok(s)
}

/// The TOML section's values, by key name.
pub(crate) fn from_toml(
    raw: RawSmtp,
    text: &str,
    line_at: fn(&str, usize) -> usize,
) -> (usize, Vec<(&'static str, Given)>) {
    let mut given = Vec::new();
    let mut put = |name: &'static str, span: std::ops::Range<usize>, value: String| {
        given.push((
            name,
            Given {
                text: value,
                line: line_at(text, span.start),
                key: format!("smtp.{name}"),
            },
        ));
    };
    let section_line = line_at(text, raw.host.span().start);
    put("host", raw.host.span(), raw.host.into_inner());
    put("from", raw.from.span(), raw.from.into_inner());
    for (name, v) in [
        ("security", raw.security),
        ("username", raw.username),
        ("password", raw.password),
        ("password_file", raw.password_file),
        ("ca_file", raw.ca_file),
    ] {
        if let Some(v) = v {
            put(name, v.span(), v.into_inner());
        }
    }
    if let Some(p) = raw.port {
        put("port", p.span(), p.into_inner().to_string());
    }
    if let Some(n) = raw.attempts {
        put("attempts", n.span(), n.into_inner().to_string());
    }
    if let Some(n) = raw.retry_delay {
        put("retry_delay", n.span(), n.into_inner().to_string());
    }
    (section_line, given)
}

fn plausible_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\",;".contains(c))
}

/// Whether `from` is `addr@domain` or `Name <addr@domain>`.
pub(crate) fn plausible_from(from: &str) -> bool {
    let from = from.trim();
    match from.strip_suffix('>').and_then(|f| f.rsplit_once('<')) {
        Some((name, addr)) => !name.contains(['<', '>', '"']) && plausible_address(addr),
        None => plausible_address(from),
    }
}

/// The rules shared by both formats; resolves file paths against `base`, reads the password
/// file.
pub(crate) fn check(s: &mut SmtpSettings, path: &Path, base: &Path) -> Result<(), ConfigError> {
    let fail = |name: &'static str, message: String| {
        let (line, key) =
            s.at.get(name)
                .cloned()
                .unwrap_or_else(|| (s.line, format!("{}.{name}", s.section)));
        ConfigError::invalid(path, line, key, message)
    };
    if s.host.is_empty() || s.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(
            "host",
            format!("{:?} is not a host name or address", s.host),
        ));
    }
    if !plausible_from(&s.from) {
        return Err(fail(
            "from",
            format!(
                "{:?} is not a mail address (`voicemail@example.com` or \
                 `Voicemail <voicemail@example.com>`)",
                s.from
            ),
        ));
    }
    if s.password.is_some() && s.password_file.is_some() {
        return Err(fail(
            "password_file",
            "set either password or password_file, not both".into(),
        ));
    }
    if let Some(file) = &s.password_file {
        let file = crate::validate::resolve(base, file);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            fail(
                "password_file",
                format!("cannot read the password from {}: {e}", file.display()),
            )
        })?;
        s.password = Some(text.trim_end_matches(['\r', '\n']).to_owned());
        s.password_file = Some(file);
    }
    match (&s.username, &s.password) {
        (Some(_), None) => {
            return Err(fail(
                "username",
                "give password or password_file with username".into(),
            ))
        }
        (None, Some(_)) => {
            let name = if s.password_file.is_some() {
                "password_file"
            } else {
                "password"
            };
            return Err(fail(name, "give username with the password".into()));
        }
        _ => {}
    }
    if s.username.is_some() && s.security == SmtpSecurity::None {
        return Err(fail(
            "security",
            "\"none\" would send the password in clear: use \"starttls\" or \"tls\" with \
             username/password"
                .into(),
        ));
    }
    if let Some(ca) = &s.ca_file {
        let ca = crate::validate::resolve(base, ca);
        if let Err(e) = std::fs::metadata(&ca) {
            return Err(fail(
                "ca_file",
                format!("cannot read {}: {e}", ca.display()),
            ));
        }
        s.ca_file = Some(ca);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_addresses() {
        assert!(plausible_from("vm@example.com"));
        assert!(plausible_from("Voicemail <vm@example.com>"));
        assert!(!plausible_from("vm"));
        assert!(!plausible_from("a b@example.com"));
        assert!(!plausible_from("Voicemail <vm@>"));
    }
}
