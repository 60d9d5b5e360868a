//! Answering rules (`answering_rules`) and voicemail to email's retry state (the
//! `mail_attempts`/`mail_next_ms` columns of `voicemessages`).
//!
//! The rules are stored as text (`caller`, `rule_when`, `action`); the `voicemail` crate parses
//! and checks them, this crate only keeps their order.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError, VoiceMessage};

/// One stored answering rule, in its account's order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnsweringRuleRow {
    /// The account.
    pub login: String,
    /// A caller-ID prefix, or `*`.
    pub caller: String,
    /// `always`, `busy`, `no-answer` or `unavailable`.
    pub when: String,
    /// `voicemail`, `forward:NUMBER`, `reject:CODE` or `ring:SECONDS`.
    pub action: String,
}

/// A message waiting to be mailed, with its attempts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMail {
    /// The message.
    pub message: VoiceMessage,
    /// Attempts made so far.
    pub attempts: u32,
}

fn rule_from_row(row: &AnyRow) -> Result<AnsweringRuleRow, sqlx::Error> {
    Ok(AnsweringRuleRow {
        login: row.try_get("login")?,
        caller: row.try_get("caller")?,
        when: row.try_get("rule_when")?,
        action: row.try_get("action")?,
    })
}

const RULE_QUERY: &str = "SELECT login, caller, rule_when, action FROM answering_rules";

impl Store {
    /// `login`'s rules, in order.
    pub async fn answering_rules(&self, login: &str) -> Result<Vec<AnsweringRuleRow>, StoreError> {
        let op = "answering_rules";
        let rows = sqlx::query(&format!("{RULE_QUERY} WHERE login = ? ORDER BY position"))
            .bind(login)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        rows.iter()
            .map(rule_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// Every account's rules, by login then order (loaded once at start into the account cache).
    pub async fn all_answering_rules(&self) -> Result<Vec<AnsweringRuleRow>, StoreError> {
        let op = "all_answering_rules";
        let rows = sqlx::query(&format!("{RULE_QUERY} ORDER BY login, position"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        rows.iter()
            .map(rule_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// Replaces `login`'s rules by `rules` (in this order; their `login` fields are ignored),
    /// in one transaction. An empty list removes them all.
    pub async fn set_answering_rules(
        &self,
        login: &str,
        rules: &[AnsweringRuleRow],
    ) -> Result<(), StoreError> {
        limits::check_login(login)?;
        let err = StoreError::query("set_answering_rules");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        sqlx::query("DELETE FROM answering_rules WHERE login = ?")
            .bind(login)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        // the account's cache entries are read again (account_sync)
        crate::account::record_change(&mut tx, login)
            .await
            .map_err(&err)?;
        for (position, r) in rules.iter().enumerate() {
            sqlx::query(
                "INSERT INTO answering_rules (login, position, caller, rule_when, action) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(login)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(r.caller.as_str())
            .bind(r.when.as_str())
            .bind(r.action.as_str())
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(())
    }

    /// Messages whose mail is `pending` and due at `now_ms`, oldest first, at most `limit`.
    pub async fn voice_mail_due(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<PendingMail>, StoreError> {
        let op = "voice_mail_due";
        let rows = sqlx::query(
            "SELECT id, login, caller_id, display_name, created_ms, duration_ms, status, \
             file_path, mail_status, mail_attempts FROM voicemessages \
             WHERE mail_status = 'pending' AND mail_next_ms <= ? ORDER BY mail_next_ms, id LIMIT ?",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|r| {
                Ok(PendingMail {
                    message: crate::voicemessage::message_from_row(r)?,
                    attempts: sql::int_column(r, "mail_attempts")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query(op))
    }

    /// When the next `pending` mail is due (Unix ms), if any is.
    pub async fn next_voice_mail_due(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(mail_next_ms) FROM voicemessages WHERE mail_status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("next_voice_mail_due"))
    }

    /// Records an attempt at mailing message `id`: its status (`pending` again, `sent` or
    /// `failed`), the attempts made and when the next is due (Unix ms).
    pub async fn record_voice_mail_attempt(
        &self,
        id: i64,
        status: &str,
        attempts: u32,
        next_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE voicemessages SET mail_status = ?, mail_attempts = ?, mail_next_ms = ? \
             WHERE id = ?",
        )
        .bind(status)
        .bind(i64::from(attempts))
        .bind(next_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("record_voice_mail_attempt"))?;
        Ok(())
    }
}
