//! Voicemail counts per mailbox: the `voicemail_boxes` table, keyed by login. The voicemail
//! system (or the operator API) writes them; message-summary (RFC 3842) NOTIFYs read them.

use sqlx::any::AnyRow;

use crate::{limits, sql, Store, StoreError};

/// A mailbox's message counts (RFC 3842 `Voice-Message: new/old (urgent_new/urgent_old)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct VoicemailCounts {
    /// New (unheard) messages, urgent ones included.
    pub new: u32,
    /// Old (heard) messages, urgent ones included.
    pub old: u32,
    /// New urgent messages.
    pub urgent_new: u32,
    /// Old urgent messages.
    pub urgent_old: u32,
}

fn counts_from_row(row: &AnyRow) -> Result<VoicemailCounts, sqlx::Error> {
    Ok(VoicemailCounts {
        new: sql::int_column(row, "new_messages")?,
        old: sql::int_column(row, "old_messages")?,
        urgent_new: sql::int_column(row, "urgent_new")?,
        urgent_old: sql::int_column(row, "urgent_old")?,
    })
}

impl Store {
    /// Sets the counts of `login`'s mailbox (creating its row, or overwriting it).
    pub async fn set_voicemail_counts(
        &self,
        login: &str,
        counts: VoicemailCounts,
    ) -> Result<(), StoreError> {
        limits::check_login(login)?;
        let statement = format!(
            "INSERT INTO voicemail_boxes (login, new_messages, old_messages, urgent_new, \
             urgent_old) VALUES (?, ?, ?, ?, ?){}",
            sql::upsert_tail(
                self.backend,
                &["login"],
                &["new_messages", "old_messages", "urgent_new", "urgent_old"]
            )
        );
        sqlx::query(&statement)
            .bind(login)
            .bind(i64::from(counts.new))
            .bind(i64::from(counts.old))
            .bind(i64::from(counts.urgent_new))
            .bind(i64::from(counts.urgent_old))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set_voicemail_counts"))?;
        Ok(())
    }

    /// The counts of `login`'s mailbox; all zero when it has no row.
    pub async fn voicemail_counts(&self, login: &str) -> Result<VoicemailCounts, StoreError> {
        let op = "voicemail_counts";
        let row = sqlx::query(
            "SELECT new_messages, old_messages, urgent_new, urgent_old FROM voicemail_boxes \
             WHERE login = ?",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        Ok(row
            .as_ref()
            .map(counts_from_row)
            .transpose()
            .map_err(StoreError::query(op))?
            .unwrap_or_default())
    }
}
