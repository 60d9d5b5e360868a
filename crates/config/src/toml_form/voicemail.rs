//! `[voicemail]` in the TOML form.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Recorder;
use crate::validate::Field;
use crate::voicemail::VoicemailSettings;

/// Times in seconds.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVoicemail {
    enabled: Option<bool>,
    directory: Option<Spanned<String>>,
    prompts: Option<Spanned<String>>,
    max_message: Option<Spanned<u32>>,
    silence_timeout: Option<Spanned<u32>>,
    access_prefixes: Option<Spanned<Vec<String>>>,
}

pub(super) fn convert(raw: RawVoicemail, v: &mut VoicemailSettings, at: &mut Recorder<'_>) {
    v.enabled = raw.enabled.unwrap_or(false);
    if let Some(d) = at.take_opt(
        raw.directory,
        Field::VoicemailDirectory,
        "voicemail.directory",
    ) {
        v.directory = PathBuf::from(d);
    }
    v.prompts = at
        .take_opt(raw.prompts, Field::VoicemailPrompts, "voicemail.prompts")
        .map(PathBuf::from);
    for (value, field, key, slot) in [
        (
            raw.max_message,
            Field::VoicemailMaxMessage,
            "voicemail.max_message",
            &mut v.max_message,
        ),
        (
            raw.silence_timeout,
            Field::VoicemailSilenceTimeout,
            "voicemail.silence_timeout",
            &mut v.silence_timeout,
        ),
    ] {
        if let Some(seconds) = at.take_opt(value, field, key) {
            *slot = Duration::from_secs(seconds.into());
        }
    }
    if let Some(p) = at.take_opt(
        raw.access_prefixes,
        Field::VoicemailAccessPrefixes,
        "voicemail.access_prefixes",
    ) {
        v.access_prefixes = p;
    }
}
