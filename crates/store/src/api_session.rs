//! The call-control API's registration sessions and notification channels (`api_sessions`,
//! `api_channels`, migration 0012; docs/api.md): written when the API makes, refreshes or
//! ends them, read once at start-up so that a restart keeps them.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, Store, StoreError};

/// A registration session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSession {
    /// `reg-` + hex.
    pub id: String,
    pub login: String,
    /// The API client that made it.
    pub client_id: String,
    /// `rtp` or `webrtc`.
    pub endpoint: String,
    /// Epoch seconds.
    pub expires_at: i64,
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiChannel {
    pub id: String,
    /// `websocket`, `webhook` or `pns`.
    pub kind: String,
    pub login: String,
    pub client_id: String,
    /// A webhook's target.
    pub url: Option<String>,
    /// A webhook's HMAC key (hex).
    pub secret: Option<String>,
    /// Epoch seconds.
    pub created_at: i64,
}

fn session_from_row(row: &AnyRow) -> Result<ApiSession, sqlx::Error> {
    Ok(ApiSession {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        client_id: row.try_get("client_id")?,
        endpoint: row.try_get("endpoint")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn channel_from_row(row: &AnyRow) -> Result<ApiChannel, sqlx::Error> {
    Ok(ApiChannel {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        login: row.try_get("login")?,
        client_id: row.try_get("client_id")?,
        url: row.try_get::<Option<String>, _>("url")?,
        secret: row.try_get::<Option<String>, _>("secret")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Records a new registration session.
    pub async fn add_api_session(&self, s: &ApiSession) -> Result<(), StoreError> {
        limits::check_non_empty("id", &s.id, limits::API_OBJECT_ID)?;
        limits::check_non_empty("login", &s.login, limits::LOGIN)?;
        limits::check_non_empty("client_id", &s.client_id, limits::API_CLIENT_ID)?;
        limits::check_non_empty("endpoint", &s.endpoint, limits::API_KIND)?;
        sqlx::query(
            "INSERT INTO api_sessions (id, login, client_id, endpoint, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(s.id.as_str())
        .bind(s.login.as_str())
        .bind(s.client_id.as_str())
        .bind(s.endpoint.as_str())
        .bind(s.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("add_api_session"))?;
        Ok(())
    }

    /// A refreshed session's new expiry; whether it existed.
    pub async fn refresh_api_session(&self, id: &str, expires_at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_sessions SET expires_at = ? WHERE id = ?")
            .bind(expires_at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("refresh_api_session"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a session; whether it existed.
    pub async fn remove_api_session(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_sessions WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("remove_api_session"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Purges the sessions expired at `now` (epoch s), then lists the others, by id.
    pub async fn live_api_sessions(&self, now: i64) -> Result<Vec<ApiSession>, StoreError> {
        sqlx::query("DELETE FROM api_sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("live_api_sessions"))?;
        let rows = sqlx::query(
            "SELECT id, login, client_id, endpoint, expires_at FROM api_sessions ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("live_api_sessions"))?;
        rows.iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("live_api_sessions"))
    }

    /// Records a new channel.
    pub async fn add_api_channel(&self, c: &ApiChannel) -> Result<(), StoreError> {
        limits::check_non_empty("id", &c.id, limits::API_OBJECT_ID)?;
        limits::check_non_empty("kind", &c.kind, limits::API_KIND)?;
        limits::check_non_empty("login", &c.login, limits::LOGIN)?;
        limits::check_non_empty("client_id", &c.client_id, limits::API_CLIENT_ID)?;
        if let Some(url) = &c.url {
            limits::check("url", url, limits::API_URL)?;
        }
        sqlx::query(
            "INSERT INTO api_channels (id, kind, login, client_id, url, secret, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.as_str())
        .bind(c.kind.as_str())
        .bind(c.login.as_str())
        .bind(c.client_id.as_str())
        .bind(c.url.as_deref())
        .bind(c.secret.as_deref())
        .bind(c.created_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("add_api_channel"))?;
        Ok(())
    }

    /// Removes a channel; whether it existed.
    pub async fn remove_api_channel(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_channels WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("remove_api_channel"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every channel, by id.
    pub async fn list_api_channels(&self) -> Result<Vec<ApiChannel>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, login, client_id, url, secret, created_at FROM api_channels \
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list_api_channels"))?;
        rows.iter()
            .map(channel_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("list_api_channels"))
    }
}
