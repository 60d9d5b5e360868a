//! The rules of `[voicemail]`.

use std::path::{Path, PathBuf};

use super::{resolve, Check, Field};
use crate::voicemail::{is_access_prefix, VoicemailSettings};
use crate::ConfigError;

impl Check<'_> {
    /// Resolves the directories (the default one beside the SQLite database) and checks the
    /// limits and prefixes.
    pub(super) fn voicemail(
        &self,
        v: &mut VoicemailSettings,
        base: &Path,
        database_url: &str,
    ) -> Result<(), ConfigError> {
        if v.directory.as_os_str().is_empty() {
            if self.at.get(Field::VoicemailDirectory).is_some() {
                return Err(self.fail(&[Field::VoicemailDirectory], "must not be empty"));
            }
            v.directory = data_dir(database_url)
                .unwrap_or_else(|| base.join("data"))
                .join("voicemail");
        } else {
            v.directory = resolve(base, &v.directory);
        }
        if let Some(p) = &mut v.prompts {
            if p.as_os_str().is_empty() {
                return Err(self.fail(&[Field::VoicemailPrompts], "must not be empty"));
            }
            *p = resolve(base, p);
        }
        self.seconds(Field::VoicemailMaxMessage, v.max_message, 5..=3600)?;
        self.seconds(Field::VoicemailSilenceTimeout, v.silence_timeout, 1..=60)?;
        if let Some(bad) = v.access_prefixes.iter().find(|p| !is_access_prefix(p)) {
            let message = format!(
                "{bad:?} is not a prefix: letters and digits only, at most 16 (\"\" for none)"
            );
            return Err(self.fail(&[Field::VoicemailAccessPrefixes], message));
        }
        Ok(())
    }
}

/// The directory of a (resolved) `sqlite://` database file.
fn data_dir(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let file = rest.split('?').next()?;
    if file == ":memory:" || file.is_empty() {
        return None;
    }
    Path::new(file).parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_directory_is_the_database_files() {
        assert_eq!(
            data_dir("sqlite:///var/lib/ferroswitch/ferroswitch.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/ferroswitch"))
        );
        assert_eq!(data_dir("sqlite::memory:"), None);
        assert_eq!(data_dir("mysql://root@127.0.0.1/test"), None);
    }
}
