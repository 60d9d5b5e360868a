//! The built-in voicemail's mailboxes (`voicemailusers`) and messages (`voicemessages`).
//! Every change to a mailbox's messages recounts its `voicemail_boxes` row, which
//! message-summary NOTIFYs read, in the same transaction.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError, VoicemailCounts};

/// A mailbox of the built-in voicemail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VoicemailUser {
    /// The account's login.
    pub login: String,
    /// Whether calls may go to the mailbox.
    pub enabled: bool,
    /// Voicemail to email: where new messages are mailed.
    pub email: Option<String>,
    /// The owner's own greeting (a WAV file); `None`: the standard greeting.
    pub greeting_path: Option<String>,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVoiceMessage {
    /// The mailbox.
    pub login: String,
    /// Who called (login or number).
    pub caller_id: String,
    /// The caller's display name, empty when none.
    pub display_name: String,
    /// When it was left (Unix ms).
    pub created_ms: i64,
    /// Its length.
    pub duration_ms: i64,
    /// The WAV file.
    pub file_path: String,
    /// `none` (no email address) or `pending`.
    pub mail_status: String,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceMessage {
    /// The message id (the `N` of `950msgN`).
    pub id: i64,
    /// The mailbox.
    pub login: String,
    /// Who called.
    pub caller_id: String,
    /// The caller's display name.
    pub display_name: String,
    /// When it was left (Unix ms).
    pub created_ms: i64,
    /// Its length.
    pub duration_ms: i64,
    /// `true` while not heard.
    pub new: bool,
    /// The WAV file.
    pub file_path: String,
    /// `none`, `pending`, `sent` or `failed`.
    pub mail_status: String,
}

pub(crate) fn message_from_row(row: &AnyRow) -> Result<VoiceMessage, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(VoiceMessage {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        caller_id: row.try_get("caller_id")?,
        display_name: row.try_get("display_name")?,
        created_ms: row.try_get("created_ms")?,
        duration_ms: row.try_get("duration_ms")?,
        new: status == "new",
        file_path: row.try_get("file_path")?,
        mail_status: row.try_get("mail_status")?,
    })
}

const MESSAGE_COLUMNS: &str = "id, login, caller_id, display_name, created_ms, duration_ms, \
                               status, file_path, mail_status";

impl Store {
    /// `login`'s mailbox, if it has one.
    pub async fn voicemail_user(&self, login: &str) -> Result<Option<VoicemailUser>, StoreError> {
        let op = "voicemail_user";
        let row = sqlx::query(
            "SELECT login, enabled, email, greeting_path FROM voicemailusers WHERE login = ?",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        row.map(|r| {
            Ok(VoicemailUser {
                login: r.try_get("login")?,
                enabled: r.try_get::<i64, _>("enabled")? != 0,
                email: r.try_get("email")?,
                greeting_path: r.try_get("greeting_path")?,
            })
        })
        .transpose()
        .map_err(StoreError::query(op))
    }

    /// Creates or replaces `user`'s mailbox settings.
    pub async fn set_voicemail_user(&self, user: &VoicemailUser) -> Result<(), StoreError> {
        limits::check_login(&user.login)?;
        let statement = format!(
            "INSERT INTO voicemailusers (login, enabled, email, greeting_path) VALUES (?, ?, ?, ?){}",
            sql::upsert_tail(
                self.backend,
                &["login"],
                &["enabled", "email", "greeting_path"]
            )
        );
        sqlx::query(&statement)
            .bind(user.login.as_str())
            .bind(i64::from(user.enabled))
            .bind(user.email.as_deref())
            .bind(user.greeting_path.as_deref())
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set_voicemail_user"))?;
        Ok(())
    }

    /// Sets `login`'s greeting file (creating an enabled mailbox when it has none).
    pub async fn set_voicemail_greeting(&self, login: &str, path: &str) -> Result<(), StoreError> {
        let mut user = self.voicemail_user(login).await?.unwrap_or(VoicemailUser {
            login: login.to_owned(),
            enabled: true,
            ..VoicemailUser::default()
        });
        user.greeting_path = Some(path.to_owned());
        self.set_voicemail_user(&user).await
    }

    /// Stores a message; returns its id and the mailbox's new counts.
    pub async fn insert_voice_message(
        &self,
        m: &NewVoiceMessage,
    ) -> Result<(i64, VoicemailCounts), StoreError> {
        limits::check_login(&m.login)?;
        let err = StoreError::query("insert_voice_message");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        sqlx::query(
            "INSERT INTO voicemessages (login, caller_id, display_name, created_ms, duration_ms, \
             status, file_path, mail_status) VALUES (?, ?, ?, ?, ?, 'new', ?, ?)",
        )
        .bind(m.login.as_str())
        .bind(m.caller_id.as_str())
        .bind(m.display_name.as_str())
        .bind(m.created_ms)
        .bind(m.duration_ms)
        .bind(m.file_path.as_str())
        .bind(m.mail_status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        let id = sqlx::query_scalar::<_, i64>(sql::last_insert_id(self.backend))
            .fetch_one(&mut *tx)
            .await
            .map_err(&err)?;
        let counts = self.recount(&mut tx, &m.login).await.map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok((id, counts))
    }

    async fn recount(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        login: &str,
    ) -> Result<VoicemailCounts, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM voicemessages WHERE login = ? GROUP BY status",
        )
        .bind(login)
        .fetch_all(&mut **tx)
        .await?;
        let mut counts = VoicemailCounts::default();
        for r in rows {
            let status: String = r.try_get("status")?;
            let n: u32 = sql::int_column(&r, "n")?;
            match status.as_str() {
                "new" => counts.new = n,
                _ => counts.old += n,
            }
        }
        let statement = format!(
            "INSERT INTO voicemail_boxes (login, new_messages, old_messages, urgent_new, \
             urgent_old) VALUES (?, ?, ?, 0, 0){}",
            sql::upsert_tail(self.backend, &["login"], &["new_messages", "old_messages"])
        );
        sqlx::query(&statement)
            .bind(login)
            .bind(i64::from(counts.new))
            .bind(i64::from(counts.old))
            .execute(&mut **tx)
            .await?;
        Ok(counts)
    }

    /// One message.
    pub async fn voice_message(&self, id: i64) -> Result<Option<VoiceMessage>, StoreError> {
        let op = "voice_message";
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM voicemessages WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        row.as_ref()
            .map(message_from_row)
            .transpose()
            .map_err(StoreError::query(op))
    }

    /// `login`'s messages: new ones first, newest first within each status.
    pub async fn voice_messages(&self, login: &str) -> Result<Vec<VoiceMessage>, StoreError> {
        let op = "voice_messages";
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM voicemessages WHERE login = ? \
             ORDER BY CASE WHEN status = 'new' THEN 0 ELSE 1 END, id DESC"
        ))
        .bind(login)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(message_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// Marks message `id` heard; returns its mailbox's counts (`None`: no such message).
    pub async fn mark_voice_message_old(
        &self,
        id: i64,
    ) -> Result<Option<(String, VoicemailCounts)>, StoreError> {
        self.change_message(id, "UPDATE voicemessages SET status = 'old' WHERE id = ?")
            .await
    }

    /// Deletes message `id`'s row (the caller removes the file); returns its mailbox's counts.
    pub async fn delete_voice_message(
        &self,
        id: i64,
    ) -> Result<Option<(String, VoicemailCounts)>, StoreError> {
        self.change_message(id, "DELETE FROM voicemessages WHERE id = ?")
            .await
    }

    async fn change_message(
        &self,
        id: i64,
        statement: &str,
    ) -> Result<Option<(String, VoicemailCounts)>, StoreError> {
        let err = StoreError::query("change_voice_message");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let login: Option<String> =
            sqlx::query_scalar("SELECT login FROM voicemessages WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(&err)?;
        let Some(login) = login else {
            return Ok(None);
        };
        sqlx::query(statement)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        let counts = self.recount(&mut tx, &login).await.map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Some((login, counts)))
    }

    /// Records the outcome of mailing message `id` (`sent`, `failed`, `pending`).
    pub async fn set_voice_message_mail_status(
        &self,
        id: i64,
        status: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE voicemessages SET mail_status = ? WHERE id = ?")
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set_voice_message_mail_status"))?;
        Ok(())
    }
}
