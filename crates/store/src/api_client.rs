//! The call-control API's clients: the `api_clients` table (OAuth 2.0 client credentials,
//! docs/api.md). The secret is stored as a PHC hash string made by the binary (argon2id); the
//! store never sees the secret itself.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, Store, StoreError};

/// One API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    /// The public id sent to `POST /oauth/token`.
    pub client_id: String,
    /// The PHC string of the secret's hash.
    pub secret_hash: String,
    /// The logins the client may act for, space separated; `*` for every login.
    pub scope: String,
    /// Epoch seconds.
    pub created_at: i64,
}

fn client_from_row(row: &AnyRow) -> Result<ApiClient, sqlx::Error> {
    Ok(ApiClient {
        client_id: row.try_get("client_id")?,
        secret_hash: row.try_get("secret_hash")?,
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
    })
}

const SELECT: &str = "SELECT client_id, secret_hash, scope, created_at FROM api_clients";

impl Store {
    /// Adds a client; `Err(Duplicate)` style errors come back as query errors when the id is
    /// taken (the caller checks with [`Store::get_api_client`] first for a clear message).
    pub async fn add_api_client(&self, c: &ApiClient) -> Result<(), StoreError> {
        limits::check_non_empty("client_id", &c.client_id, limits::API_CLIENT_ID)?;
        limits::check_non_empty("secret_hash", &c.secret_hash, limits::API_SECRET_HASH)?;
        limits::check_non_empty("scope", &c.scope, limits::API_SCOPE)?;
        sqlx::query(
            "INSERT INTO api_clients (client_id, secret_hash, scope, created_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(c.client_id.as_str())
        .bind(c.secret_hash.as_str())
        .bind(c.scope.as_str())
        .bind(c.created_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("add_api_client"))?;
        Ok(())
    }

    /// One client by id.
    pub async fn get_api_client(&self, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE client_id = ?"))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("get_api_client"))?;
        row.as_ref()
            .map(client_from_row)
            .transpose()
            .map_err(StoreError::query("get_api_client"))
    }

    /// Every client, by id.
    pub async fn list_api_clients(&self) -> Result<Vec<ApiClient>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT} ORDER BY client_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("list_api_clients"))?;
        rows.iter()
            .map(client_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("list_api_clients"))
    }

    /// Removes a client; whether it existed.
    pub async fn remove_api_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_clients WHERE client_id = ?")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("remove_api_client"))?;
        Ok(done.rows_affected() > 0)
    }
}
