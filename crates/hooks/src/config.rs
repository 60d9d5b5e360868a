//! Where the hooks live and how hard to try.

use std::time::Duration;

use reqwest::Url;

use crate::HookError;

/// One operator API method: its URL and optional HTTP basic-auth credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
    username: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.display_url())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Endpoint {
    /// From a full `http://` or `https://` URL. Credentials written into the URL
    /// (`http://user:pass@host/...`) are taken out of it and sent as basic auth instead.
    pub fn new(url: &str) -> Result<Self, HookError> {
        let invalid = |reason: &str| HookError::InvalidUrl {
            url: redact(url),
            reason: reason.to_owned(),
        };
        let mut parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        let username = Some(parsed.username().to_owned()).filter(|u| !u.is_empty());
        let password = parsed.password().map(str::to_owned);
        // cannot fail for http(s) URLs with a host
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        Ok(Self {
            url: parsed,
            username: username.map(|u| percent_decode(&u)),
            password: password.map(|p| percent_decode(&p)),
        })
    }

    /// The voipswitch form (`<web_service>` / `<push_service>`: `ipaddr`, `port`, `service`):
    /// `http://{ipaddr}:{port}/{service}`. An IPv6 address may be given with or without
    /// brackets; `service` may start with `/` and may contain a path.
    pub fn from_parts(ipaddr: &str, port: u16, service: &str) -> Result<Self, HookError> {
        let host = if ipaddr.contains(':') && !ipaddr.starts_with('[') {
            format!("[{ipaddr}]")
        } else {
            ipaddr.to_owned()
        };
        let service = service.trim_start_matches('/').replace('\\', "/");
        Self::new(&format!("http://{host}:{port}/{service}"))
    }

    /// Calls over HTTPS (`true`) or plain HTTP (`false`), keeping host, port and path (the
    /// config's `https` flag of a voipswitch-style hook).
    pub fn with_https(mut self, https: bool) -> Self {
        // switching between the two special schemes cannot fail
        let _ = self.url.set_scheme(if https { "https" } else { "http" });
        self
    }

    /// Sets basic-auth credentials; an empty username means none (as in the voipswitch XML,
    /// where `username` and `password` may be `""`).
    pub fn with_credentials(mut self, username: &str, password: &str) -> Self {
        if username.is_empty() {
            self.username = None;
            self.password = None;
        } else {
            self.username = Some(username.to_owned());
            self.password = Some(password.to_owned());
        }
        self
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    pub(crate) fn credentials(&self) -> Option<(&str, Option<&str>)> {
        self.username
            .as_deref()
            .map(|u| (u, self.password.as_deref()))
    }

    /// The URL as logs show it: no credentials, no query string.
    pub fn display_url(&self) -> String {
        let mut u = self.url.clone();
        u.set_query(None);
        u.set_fragment(None);
        u.to_string()
    }
}

/// For URLs that did not even parse: drop anything between `//` and `@`, and the query.
fn redact(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    match (no_query.find("//"), no_query.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &no_query[..s + 2], &no_query[at + 1..]),
        _ => no_query.to_owned(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The hooks and the retry policy. The server's config is mapped onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// The buddy-list method (voipswitch `<web_service>`, by default `bl.ashx`).
    pub buddy_list: Option<Endpoint>,
    /// The push method (voipswitch `<push_service>`, by default `emc.ashx`).
    pub push: Option<Endpoint>,
    /// The SMS-out method (voipswitch `sms_send.ashx`).
    pub sms: Option<Endpoint>,
    /// Per attempt: connecting, sending and reading the whole answer.
    pub timeout: Duration,
    /// Attempts after the first one, for transient failures only.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one (capped at 5 s).
    pub backoff: Duration,
}

impl Default for HookConfig {
    fn default() -> Self {
        Self {
            buddy_list: None,
            push: None,
            sms: None,
            timeout: Duration::from_secs(3),
            retries: 2,
            backoff: Duration::from_millis(200),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let e = Endpoint::new("http://op%40x:s3cr%3At@10.0.0.5:81/bl.ashx?key=abc").unwrap();
        assert_eq!(e.credentials(), Some(("op@x", Some("s3cr:t"))));
        assert_eq!(e.display_url(), "http://10.0.0.5:81/bl.ashx");
        assert!(!format!("{e:?}").contains("s3cr"));
        assert_eq!(e.url().as_str(), "http://10.0.0.5:81/bl.ashx?key=abc");
    }

    #[test]
    fn voipswitch_parts() {
        let e = Endpoint::from_parts("1.2.3.4", 81, "bl.ashx")
            .unwrap()
            .with_credentials("u", "p");
        assert_eq!(e.display_url(), "http://1.2.3.4:81/bl.ashx");
        assert_eq!(e.credentials(), Some(("u", Some("p"))));
        let e = Endpoint::from_parts("::1", 81, "/VSServices\\sms_send.ashx")
            .unwrap()
            .with_credentials("", "ignored");
        assert_eq!(e.display_url(), "http://[::1]:81/VSServices/sms_send.ashx");
        assert_eq!(e.credentials(), None);
        let e = Endpoint::from_parts("api.example.com", 443, "bl.ashx")
            .unwrap()
            .with_https(true);
        assert_eq!(e.display_url(), "https://api.example.com/bl.ashx");
        let e = Endpoint::from_parts("api.example.com", 8443, "bl.ashx")
            .unwrap()
            .with_https(true);
        assert_eq!(e.display_url(), "https://api.example.com:8443/bl.ashx");
    }

    #[test]
    fn bad_urls_are_refused_without_leaking_secrets() {
        let err = Endpoint::new("ftp://u:pw@host/x").unwrap_err();
        assert!(matches!(&err, HookError::InvalidUrl { url, .. } if url == "ftp://host/x"));
        assert!(Endpoint::new("not a url").is_err());
        assert!(Endpoint::from_parts("", 81, "bl.ashx").is_err());
    }
}
