//! `[voicemail]`: the built-in voicemail service (docs/voicemail.md).

use std::path::PathBuf;
use std::time::Duration;

/// The built-in voicemail service: whether `ferroswitch run` starts it, where it keeps the
/// messages, which prompts it plays, its recording limits and the numbers that reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VoicemailSettings {
    /// Start the service with the server. Default `false` (calls go to an account's outside
    /// `voicemail_uri` only, as before).
    pub enabled: bool,
    /// Where messages and greetings are written (`DIR/LOGIN/...wav`). Default: `voicemail`
    /// beside the SQLite database file (the data directory), else `data/voicemail`; relative
    /// paths are resolved against the config file's directory.
    pub directory: PathBuf,
    /// A directory of replacement prompts (same file names as the built-in ones); `None`
    /// plays the built-in prompts.
    pub prompts: Option<PathBuf>,
    /// A message is cut at this length. Default 120 s; 5 to 3600 s.
    pub max_message: Duration,
    /// A recording stops after this long without voice. Default 5 s; 1 to 60 s.
    pub silence_timeout: Duration,
    /// The prefixes (after the caller's tech-prefix rule) before `950`, `950msgN` and `750`
    /// that reach the service: with `onnet`, `onnet950msg230` plays message 230. Default
    /// `["", "onnet"]`; letters and digits only, at most 16 each.
    pub access_prefixes: Vec<String>,
}

impl VoicemailSettings {
    /// The default of [`Self::max_message`].
    pub const MAX_MESSAGE_DEFAULT: Duration = Duration::from_secs(120);
    /// The default of [`Self::silence_timeout`].
    pub const SILENCE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
}

impl Default for VoicemailSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            directory: PathBuf::new(),
            prompts: None,
            max_message: Self::MAX_MESSAGE_DEFAULT,
            silence_timeout: Self::SILENCE_TIMEOUT_DEFAULT,
            access_prefixes: vec![String::new(), "onnet".to_owned()],
        }
    }
}

/// Whether `p` is a usable access prefix.
pub(crate) fn is_access_prefix(p: &str) -> bool {
    p.len() <= 16 && p.bytes().all(|b| b.is_ascii_alphanumeric())
}
