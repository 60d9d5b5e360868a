//! Database URLs: which backend, the URL handed to sqlx, the SQLite file's directory, and a
//! redacted form (password replaced by `***`) for messages and logs.

use std::path::PathBuf;

use crate::{Backend, StoreError};

/// A database URL, checked and classified.
#[derive(Debug, Clone)]
pub(crate) struct DatabaseUrl {
    pub(crate) backend: Backend,
    /// What sqlx connects to (SQLite: `mode=rwc` added unless a mode was given).
    pub(crate) driver_url: String,
    /// Safe to print.
    pub(crate) redacted: String,
    /// SQLite only: the file path as written (percent-decoded), or `None` for in-memory.
    sqlite_path: Option<PathBuf>,
}

impl DatabaseUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let redacted = redact(url);
        let bad = || StoreError::BadUrl {
            url: redacted.clone(),
        };
        let (scheme, _) = url.split_once(':').ok_or_else(bad)?;
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let rest = &url[scheme.len() + 1..];
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                let (file, query) = match rest.split_once('?') {
                    Some((f, q)) => (f, Some(q)),
                    None => (rest, None),
                };
                let query_has_mode = query
                    .is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("mode")));
                let in_memory = file == ":memory:"
                    || query.is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"));
                if file.is_empty() && !in_memory {
                    return Err(bad());
                }
                let driver_url = if query_has_mode || in_memory {
                    url.to_owned()
                } else if query.is_some() {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                };
                Ok(Self {
                    backend: Backend::Sqlite,
                    driver_url,
                    redacted,
                    sqlite_path: (!in_memory).then(|| PathBuf::from(percent_decode(file))),
                })
            }
            "mysql" | "mariadb" => {
                if !url[scheme.len() + 1..].starts_with("//") {
                    return Err(bad());
                }
                Ok(Self {
                    backend: Backend::MySql,
                    driver_url: url.to_owned(),
                    redacted,
                    sqlite_path: None,
                })
            }
            _ => Err(bad()),
        }
    }

    /// The directory to create before opening an SQLite file, if any.
    pub(crate) fn sqlite_parent_dir(&self) -> Option<PathBuf> {
        let parent = self.sqlite_path.as_ref()?.parent()?;
        (!parent.as_os_str().is_empty()).then(|| parent.to_path_buf())
    }

    /// The SQLite database file, if any.
    pub(crate) fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_path.as_deref()
    }

    pub(crate) fn sqlite_in_memory(&self) -> bool {
        self.backend == Backend::Sqlite && self.sqlite_path.is_none()
    }
}

/// Replaces the password in `scheme://user:password@host/...` (and any `password=` query
/// parameter) with `***`.
pub(crate) fn redact(url: &str) -> String {
    let mut out = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let authority = &after[..authority_end];
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    let userinfo = if userinfo.contains(':') {
                        format!("{user}:***")
                    } else {
                        userinfo.to_owned()
                    };
                    format!(
                        "{}{userinfo}{}",
                        &url[..i + 3],
                        &url[i + 3 + at..] // from '@' on
                    )
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// Decodes `%XX` escapes (as sqlx does for SQLite file names); leaves malformed escapes as is.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_in_userinfo_and_query() {
        assert_eq!(
            redact("mysql://ferro:s3cr%40t@db:3306/ferro"),
            "mysql://ferro:***@db:3306/ferro"
        );
        assert_eq!(
            redact("mysql://root@127.0.0.1:3306/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
        assert_eq!(
            redact("mysql://u:p@h/db?ssl-mode=required&password=x"),
            "mysql://u:***@h/db?ssl-mode=required&password=***"
        );
        assert_eq!(redact("sqlite:///a/b.db"), "sqlite:///a/b.db");
    }

    #[test]
    fn classifies_urls() {
        let abs = DatabaseUrl::parse("sqlite:///var/lib/f/ferro.db").unwrap();
        assert_eq!(abs.backend, Backend::Sqlite);
        assert_eq!(abs.driver_url, "sqlite:///var/lib/f/ferro.db?mode=rwc");
        assert_eq!(abs.sqlite_parent_dir(), Some(PathBuf::from("/var/lib/f")));

        let rel = DatabaseUrl::parse("sqlite://ferro.db").unwrap();
        assert_eq!(rel.sqlite_parent_dir(), None);
        let rel = DatabaseUrl::parse("sqlite:data/ferro%20x.db?mode=ro").unwrap();
        assert_eq!(rel.driver_url, "sqlite:data/ferro%20x.db?mode=ro");
        assert_eq!(rel.sqlite_parent_dir(), Some(PathBuf::from("data")));

        let mem = DatabaseUrl::parse("sqlite::memory:").unwrap();
        assert!(mem.sqlite_in_memory());

        let my = DatabaseUrl::parse("mariadb://u:p@h/db").unwrap();
        assert_eq!(my.backend, Backend::MySql);
        assert_eq!(my.redacted, "mariadb://u:***@h/db");

        for bad in ["postgres://h/db", "ferro.db", "sqlite://", "mysql:h/db", ""] {
            assert!(
                matches!(DatabaseUrl::parse(bad), Err(StoreError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn percent_decodes_file_names() {
        assert_eq!(percent_decode("a%20b%3f.db"), "a b?.db");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
