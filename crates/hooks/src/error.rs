//! What a hook call can fail with.

use std::time::Duration;

/// A failed hook call. `url` fields never carry credentials or a query string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    #[error("the {hook} hook is not configured")]
    NotConfigured { hook: &'static str },
    #[error("invalid hook URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The operator API answered with a non-2xx status (4xx at once, 5xx after the retries).
    #[error("{hook} hook {url}: HTTP {status} after {attempts} attempt(s)")]
    Status {
        hook: &'static str,
        url: String,
        status: u16,
        attempts: u32,
    },
    /// No answer within the per-attempt timeout.
    #[error("{hook} hook {url}: no answer within {timeout:?} after {attempts} attempt(s)")]
    Timeout {
        hook: &'static str,
        url: String,
        timeout: Duration,
        attempts: u32,
    },
    /// Connection refused, reset, DNS or TLS failure.
    #[error("{hook} hook {url}: {reason} after {attempts} attempt(s)")]
    Transport {
        hook: &'static str,
        url: String,
        reason: String,
        attempts: u32,
    },
    /// A 2xx whose body is not what the API documents.
    #[error("{hook} hook {url}: bad response: {reason}")]
    BadResponse {
        hook: &'static str,
        url: String,
        reason: String,
    },
    /// The HTTP client could not be built (TLS roots, ...).
    #[error("HTTP client: {0}")]
    Client(String),
}

impl HookError {
    /// Whether trying again later may succeed (timeouts, transport errors, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
