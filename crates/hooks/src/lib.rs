//! `hooks`: the operator API client over HTTP.
//!
//! ferroswitch calls the operator's API (voipswitch's "EMCI") for what it does not own: the
//! buddy lists behind resource-list subscriptions, push notifications for parked calls and
//! stored messages, and SMS to OFFNET numbers. This crate sits above the protocol cores (it
//! returns [`presence::Buddy`] values) and below the server binary, whose drivers call it
//! from tasks of their own so the SIP loop never waits on HTTP.
//!
//! Every call is an HTTP `POST` of a JSON document (`docs/hooks.md` documents each payload so
//! an operator can implement it), with HTTP basic auth when the endpoint has credentials.
//!
//! Failure policy, per call:
//! - each attempt has [`HookConfig::timeout`] for connecting, sending and reading the answer;
//! - transient failures are retried up to [`HookConfig::retries`] times, waiting
//!   [`HookConfig::backoff`] and doubling (at most 5 s): refused/failed connections and 5xx
//!   answers always; timeouts and connections lost mid-request only for the buddy list (a
//!   read), never for push and SMS (which the API may already have acted on);
//! - 4xx (and 3xx: redirects are not followed) are final at once;
//! - every failed attempt logs one `WARN` line with the hook, the URL (no credentials, no
//!   query), the attempt number, and the status or the error.
//!
//! So a call takes at most `(retries + 1) × timeout` plus the backoffs.

mod client;
mod config;
mod error;
mod payload;

pub use client::HookClient;
pub use config::{Endpoint, HookConfig};
pub use error::HookError;
pub use payload::{
    excerpt, CallEvent, EndReason, MessageEvent, MissedReason, Party, PushDevice, PushEvent,
    VoicemailEvent, VoicemailMessage, EXCERPT_CHARS,
};
pub use presence::Buddy;
