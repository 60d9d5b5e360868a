//! [`HookClient`]: the calls, with timeouts and bounded retries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use presence::Buddy;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tracing::warn;

use crate::config::{Endpoint, HookConfig};
use crate::payload::{parse_buddies, BuddyListRequest, PushEvent, SmsOut};
use crate::HookError;

/// Largest buddy-list answer read (a list of a few thousand logins is far below it).
const MAX_BUDDY_ANSWER: usize = 4 * 1024 * 1024;
/// Largest answer read from the push and SMS hooks (the body is not used).
const MAX_ACK_ANSWER: usize = 64 * 1024;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The operator API client. Cheap to clone (one connection pool inside); every method may be
/// called concurrently.
#[derive(Debug, Clone)]
pub struct HookClient {
    cfg: HookConfig,
    http: reqwest::Client,
}

/// Whether a request may be sent again after an attempt whose fate is unknown (a timeout or
/// a connection lost mid-request): reads may, events may not (a push could be shown twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    Safe,
    Unsafe,
}

enum AttemptError {
    Http(reqwest::Error),
    TooLarge(usize),
}

impl From<reqwest::Error> for AttemptError {
    fn from(e: reqwest::Error) -> Self {
        Self::Http(e)
    }
}

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Bytes, AttemptError> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > max {
            return Err(AttemptError::TooLarge(max));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HookClient {
    pub fn new(cfg: HookConfig) -> Result<Self, HookError> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout)
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferroswitch/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| HookError::Client(root_cause(&e)))?;
        Ok(Self { cfg, http })
    }

    pub fn config(&self) -> &HookConfig {
        &self.cfg
    }

    /// `login`'s buddies and whether each can be woken by push. The caller (the presence
    /// driver) turns an error into an empty list: a hook failure never fails a SUBSCRIBE.
    pub async fn buddy_list(&self, login: &str) -> Result<Vec<Buddy>, HookError> {
        const HOOK: &str = "buddy_list";
        let ep = self.endpoint(HOOK, self.cfg.buddy_list.as_ref())?;
        let body = serde_json::to_vec(&BuddyListRequest { login }).unwrap_or_default();
        let answer = self
            .call(HOOK, ep, body, Replay::Safe, MAX_BUDDY_ANSWER)
            .await?;
        parse_buddies(&answer).map_err(|reason| {
            warn!(hook = HOOK, url = %ep.display_url(), %reason, "operator API answer unreadable");
            HookError::BadResponse {
                hook: HOOK,
                url: ep.display_url(),
                reason,
            }
        })
    }

    /// Posts an `incoming_call`, `missed_call` or `message` event to the push hook.
    pub async fn push(&self, event: &PushEvent) -> Result<(), HookError> {
        const HOOK: &str = "push";
        let ep = self.endpoint(HOOK, self.cfg.push.as_ref())?;
        let mut v = serde_json::to_value(event).unwrap_or_default();
        v["timestamp"] = unix_now().into();
        let body = serde_json::to_vec(&v).unwrap_or_default();
        self.call(HOOK, ep, body, Replay::Unsafe, MAX_ACK_ANSWER)
            .await
            .map(drop)
    }

    /// Posts a MESSAGE to an OFFNET destination to the SMS hook.
    pub async fn sms_out(&self, from: &str, to: &str, body: &str) -> Result<(), HookError> {
        const HOOK: &str = "sms";
        let ep = self.endpoint(HOOK, self.cfg.sms.as_ref())?;
        let mut v = serde_json::to_value(SmsOut { from, to, body }).unwrap_or_default();
        v["timestamp"] = unix_now().into();
        let body = serde_json::to_vec(&v).unwrap_or_default();
        self.call(HOOK, ep, body, Replay::Unsafe, MAX_ACK_ANSWER)
            .await
            .map(drop)
    }

    fn endpoint<'a>(
        &self,
        hook: &'static str,
        ep: Option<&'a Endpoint>,
    ) -> Result<&'a Endpoint, HookError> {
        ep.ok_or(HookError::NotConfigured { hook })
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(16);
        self.cfg.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }

    /// POSTs `body` as JSON, retrying transient failures; returns the 2xx answer's body.
    async fn call(
        &self,
        hook: &'static str,
        ep: &Endpoint,
        body: Vec<u8>,
        replay: Replay,
        max_answer: usize,
    ) -> Result<Bytes, HookError> {
        let url = ep.display_url();
        let attempts = 1 + self.cfg.retries;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .post(ep.url().clone())
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/json")
                .body(body.clone());
            if let Some((user, password)) = ep.credentials() {
                req = req.basic_auth(user, password);
            }
            let outcome = async {
                let resp = req.send().await?;
                let status = resp.status();
                let answer = read_limited(resp, max_answer).await?;
                Ok::<_, AttemptError>((status, answer))
            }
            .await;
            let last = attempt >= attempts;
            let (error, retry) = match outcome {
                Ok((status, answer)) if status.is_success() => return Ok(answer),
                Ok((status, _)) => {
                    // 5xx: the API is struggling, try again; anything else is final
                    let retry = status.is_server_error() && !last;
                    warn!(
                        hook,
                        url = %url,
                        attempt,
                        attempts,
                        status = status.as_u16(),
                        retry,
                        "operator API call failed"
                    );
                    let e = HookError::Status {
                        hook,
                        url: url.clone(),
                        status: status.as_u16(),
                        attempts: attempt,
                    };
                    (e, retry)
                }
                Err(AttemptError::TooLarge(max)) => {
                    warn!(hook, url = %url, attempt, max, "operator API answer too large");
                    let e = HookError::BadResponse {
                        hook,
                        url: url.clone(),
                        reason: format!("answer larger than {max} bytes"),
                    };
                    (e, false)
                }
                Err(AttemptError::Http(err)) => {
                    let reason = root_cause(&err);
                    // a refused connection never reached the API: always safe to repeat
                    let retry = !last && (err.is_connect() || replay == Replay::Safe);
                    warn!(
                        hook,
                        url = %url,
                        attempt,
                        attempts,
                        error = %reason,
                        timeout = err.is_timeout(),
                        retry,
                        "operator API call failed"
                    );
                    let e = if err.is_timeout() {
                        HookError::Timeout {
                            hook,
                            url: url.clone(),
                            timeout: self.cfg.timeout,
                            attempts: attempt,
                        }
                    } else {
                        HookError::Transport {
                            hook,
                            url: url.clone(),
                            reason,
                            attempts: attempt,
                        }
                    };
                    (e, retry)
                }
            };
            if !retry {
                return Err(error);
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }
}
