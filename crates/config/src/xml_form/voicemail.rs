//! `<voicemail>` in the XML form.

use std::path::PathBuf;

use roxmltree::Node;

use crate::validate::Field;
use crate::ConfigError;

use super::values::Seconds;
use super::Reader;

impl<'d, 'input> Reader<'d, 'input> {
    /// `<voicemail>` with `enabled`, `directory`, `prompts`, `max-message`, `silence-timeout`
    /// and `access-prefixes` (comma-separated; an empty item is "no prefix": `,onnet`).
    pub(super) fn voicemail(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "voicemail", &[])?;
        let params = self.params(
            node,
            "voicemail".into(),
            &[
                "enabled",
                "directory",
                "prompts",
                "max-message",
                "silence-timeout",
                "access-prefixes",
            ],
        )?;
        let enabled = self.value(&params, "enabled", None)?.unwrap_or(false);
        let directory: Option<String> =
            self.value(&params, "directory", Some(Field::VoicemailDirectory))?;
        let prompts: Option<String> =
            self.value(&params, "prompts", Some(Field::VoicemailPrompts))?;
        let max: Option<Seconds> =
            self.value(&params, "max-message", Some(Field::VoicemailMaxMessage))?;
        let silence: Option<Seconds> = self.value(
            &params,
            "silence-timeout",
            Some(Field::VoicemailSilenceTimeout),
        )?;
        let prefixes: Option<String> = self.value(
            &params,
            "access-prefixes",
            Some(Field::VoicemailAccessPrefixes),
        )?;
        let v = &mut self.config.voicemail;
        v.enabled = enabled;
        if let Some(d) = directory {
            v.directory = PathBuf::from(d);
        }
        v.prompts = prompts.map(PathBuf::from);
        if let Some(Seconds(t)) = max {
            v.max_message = t;
        }
        if let Some(Seconds(t)) = silence {
            v.silence_timeout = t;
        }
        if let Some(p) = prefixes {
            v.access_prefixes = p.split(',').map(|s| s.trim().to_owned()).collect();
        }
        Ok(())
    }
}
