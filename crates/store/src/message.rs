//! Instant messages (RFC 3428 MESSAGE): the `sms_inbox` table (voipswitch's name).
//!
//! Every MESSAGE that ferroswitch accepts is kept with its status: a copy of a message
//! forwarded to a registered device (`delivered`), a message stored for a login with no
//! registered device (`deferred`, delivered in order when a device registers), one handed to
//! the SMS hook (`sent-offnet`), or one that could not be delivered (`failed`).
//!
//! A MESSAGE transaction is identified by (Call-ID, CSeq number, sender, recipient): a
//! retransmission that arrives after a restart (when the transaction layer no longer absorbs
//! it) is recognised by [`Store::store_message`] and not stored twice. The CSeq is part of the
//! key because RFC 3428 does not forbid a client from sending successive MESSAGEs with one
//! Call-ID and rising CSeq numbers; those are distinct messages.

use std::fmt;

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// Where a stored message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Waiting for a device of the recipient to register (`deferred`).
    Deferred,
    /// Accepted by a device of the recipient (`delivered`).
    Delivered,
    /// Given up on (`failed`).
    Failed,
    /// Handed to the SMS hook for an OFFNET destination (`sent-offnet`).
    SentOffnet,
}

impl MessageStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 4] = [
        Self::Deferred,
        Self::Delivered,
        Self::Failed,
        Self::SentOffnet,
    ];

    /// The text stored in `sms_inbox.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deferred => "deferred",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::SentOffnet => "sent-offnet",
        }
    }

    /// The status stored as `s` (exact, lower case), if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The sender's login (or the From user part of a trusted peer's system command).
    pub sender: String,
    /// The recipient: a login, or the number for an OFFNET destination.
    pub recipient: String,
    /// The MESSAGE's `Content-Type` (`text/plain;charset=UTF-8`, ...).
    pub content_type: String,
    /// The body as received (at most [`limits::BODY_BYTES`]; may be empty).
    pub body: Vec<u8>,
    /// The MESSAGE's Call-ID.
    pub call_id: String,
    /// The MESSAGE's CSeq number.
    pub cseq: i64,
    /// When it arrived, ms since the Unix epoch.
    pub created_ms: i64,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// `sms_inbox.id`: rises with every stored message (the delivery order).
    pub id: i64,
    /// See [`NewMessage::sender`].
    pub sender: String,
    /// See [`NewMessage::recipient`].
    pub recipient: String,
    /// See [`NewMessage::content_type`].
    pub content_type: String,
    /// The body as received.
    pub body: Vec<u8>,
    /// The MESSAGE's Call-ID.
    pub call_id: String,
    /// The MESSAGE's CSeq number.
    pub cseq: i64,
    /// When it arrived, ms since the Unix epoch.
    pub created_ms: i64,
    /// Where it stands.
    pub status: MessageStatus,
    /// When the status was last set, ms since the Unix epoch.
    pub status_ms: i64,
    /// Delivery attempts so far (see [`Store::increment_attempts`]).
    pub attempts: u32,
}

const MESSAGE_COLUMNS: &str = "id, sender, recipient, content_type, body, call_id, cseq, \
     created_ms, status, status_ms, attempts";

impl NewMessage {
    fn check(&self) -> Result<(), StoreError> {
        limits::check_non_empty("sender", &self.sender, limits::LOGIN)?;
        limits::check_non_empty("recipient", &self.recipient, limits::LOGIN)?;
        limits::check("content_type", &self.content_type, limits::CONTENT_TYPE)?;
        limits::check("call_id", &self.call_id, limits::CALL_ID)?;
        limits::check_bytes("message body", &self.body, limits::BODY_BYTES)
    }
}

fn message_from_row(row: &AnyRow) -> Result<StoredMessage, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let status = MessageStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "status".to_owned(),
        source: format!("unknown message status `{status}`").into(),
    })?;
    Ok(StoredMessage {
        id: row.try_get("id")?,
        sender: row.try_get("sender")?,
        recipient: row.try_get("recipient")?,
        content_type: row.try_get("content_type")?,
        body: row.try_get("body")?,
        call_id: row.try_get("call_id")?,
        cseq: row.try_get("cseq")?,
        created_ms: row.try_get("created_ms")?,
        status,
        status_ms: row.try_get("status_ms")?,
        attempts: sql::int_column(row, "attempts")?,
    })
}

impl Store {
    /// Stores a message with `status` (`status_ms = created_ms`, no attempts yet) and returns
    /// `(id, true)`; or, when a message with the same (call_id, cseq, sender, recipient) is
    /// stored already (a retransmission), stores nothing and returns `(its id, false)`, whatever
    /// its status.
    pub async fn store_message(
        &self,
        message: &NewMessage,
        status: MessageStatus,
    ) -> Result<(i64, bool), StoreError> {
        message.check()?;
        let err = StoreError::query("store_message");
        // The Any driver does not report SQLite's rowid: ask the connection that inserted.
        let mut conn = self.pool.acquire().await.map_err(&err)?;
        let inserted = sqlx::query(
            "INSERT INTO sms_inbox (sender, recipient, content_type, body, call_id, cseq, \
             created_ms, status, status_ms, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(message.sender.as_str())
        .bind(message.recipient.as_str())
        .bind(message.content_type.as_str())
        .bind(message.body.as_slice())
        .bind(message.call_id.as_str())
        .bind(message.cseq)
        .bind(message.created_ms)
        .bind(status.as_str())
        .bind(message.created_ms)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => {
                let id = sqlx::query_scalar::<_, i64>(sql::last_insert_id(self.backend))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(&err)?;
                Ok((id, true))
            }
            // The unique key on (call_id, cseq, sender, recipient): a retransmission. Checking
            // by inserting (rather than looking first) is race-free between nodes.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                let id = sqlx::query_scalar::<_, i64>(
                    "SELECT id FROM sms_inbox \
                     WHERE call_id = ? AND cseq = ? AND sender = ? AND recipient = ?",
                )
                .bind(message.call_id.as_str())
                .bind(message.cseq)
                .bind(message.sender.as_str())
                .bind(message.recipient.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err(&err)?;
                tracing::debug!(
                    id,
                    call_id = %message.call_id,
                    "MESSAGE already stored (retransmission), not stored again"
                );
                Ok((id, false))
            }
            Err(source) => Err(err(source)),
        }
    }

    /// The `deferred` messages for `recipient`, oldest first (by id), at most `limit`.
    pub async fn pending_messages(
        &self,
        recipient: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let op = "pending_messages";
        let statement = format!(
            "SELECT {MESSAGE_COLUMNS} FROM sms_inbox \
             WHERE recipient = ? AND status = ? ORDER BY id LIMIT ?"
        );
        let mut rows = sqlx::query(&statement)
            .bind(recipient)
            .bind(MessageStatus::Deferred.as_str())
            .bind(i64::from(limit))
            .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(message_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }

    /// Sets a message's status and `status_ms`. `false` if there is no message with this id.
    pub async fn set_message_status(
        &self,
        id: i64,
        status: MessageStatus,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        // MySQL reports matched rows (CLIENT_FOUND_ROWS): setting the same status again still
        // finds the row.
        let result = sqlx::query("UPDATE sms_inbox SET status = ?, status_ms = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set_message_status"))?;
        Ok(result.rows_affected() > 0)
    }

    /// Counts one more delivery attempt. `false` if there is no message with this id.
    pub async fn increment_attempts(&self, id: i64) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE sms_inbox SET attempts = attempts + 1 WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("increment_attempts"))?;
        Ok(result.rows_affected() > 0)
    }

    /// The latest `limit` messages, of every recipient or to `recipient` only, newest first
    /// (by id), whatever their status.
    pub async fn list_messages(
        &self,
        recipient: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let op = "list_messages";
        let filter = if recipient.is_some() {
            " WHERE recipient = ?"
        } else {
            ""
        };
        let statement =
            format!("SELECT {MESSAGE_COLUMNS} FROM sms_inbox{filter} ORDER BY id DESC LIMIT ?");
        let mut q = sqlx::query(&statement);
        if let Some(r) = recipient {
            q = q.bind(r);
        }
        let mut rows = q.bind(i64::from(limit)).fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(message_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        let texts: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(texts, ["deferred", "delivered", "failed", "sent-offnet"]);
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        for bad in ["", "Deferred", "sent_offnet", "sent-offnet ", "pending"] {
            assert_eq!(MessageStatus::parse(bad), None, "{bad:?}");
        }
    }
}
