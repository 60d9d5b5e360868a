//! Push tokens: the `push_device_token` table, one row per device instance
//! (`aa_ue_instance`). A token arrives from a REGISTER's RFC 8599 Contact parameters, from the
//! app through the HTTP API, or from the CLI; it is kept when the device's binding expires (a
//! sleeping phone has no binding: that is when its token is needed).
//!
//! A removed token stays as a row with an empty token (a tombstone), so that
//! [`Store::push_tokens_changed_since`] shows a running server the removal too.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// A device's push token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushToken {
    /// SIP login.
    pub login: String,
    /// The `+sip.instance` value, e.g. `<urn:uuid:...>`.
    pub instance: String,
    /// The token (RFC 8599 `pn-prid`); empty for a removed token (see the module docs).
    pub token: String,
    /// `apns`, `apns-voip`, `fcm`, ... (RFC 8599 `pn-provider`, or what the app said).
    pub platform: String,
    /// RFC 8599 `pn-param` (e.g. the APNs topic), empty when none.
    pub param: String,
    /// Epoch seconds of the last change.
    pub updated_at: i64,
}

fn token_from_row(row: &AnyRow) -> Result<PushToken, sqlx::Error> {
    Ok(PushToken {
        login: row.try_get("login")?,
        instance: row.try_get("instance")?,
        token: row.try_get("token")?,
        platform: row.try_get("platform")?,
        param: row.try_get("param")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const SELECT: &str = "SELECT i.login AS login, i.instance AS instance, t.token AS token, \
     t.platform AS platform, t.param AS param, t.updated_at AS updated_at \
     FROM push_device_token t JOIN aa_ue_instance i ON i.id = t.instance_id";

impl Store {
    /// Sets (or, with an empty `token`, removes) the push token of `login`'s device
    /// `instance`, creating the instance row when it was never seen. `updated_at` is epoch
    /// seconds.
    pub async fn set_push_token(&self, t: &PushToken) -> Result<(), StoreError> {
        limits::check_login(&t.login)?;
        limits::check("instance", &t.instance, limits::INSTANCE)?;
        limits::check("token", &t.token, limits::PUSH_TOKEN)?;
        limits::check("platform", &t.platform, limits::PUSH_PLATFORM)?;
        limits::check("param", &t.param, limits::PUSH_PARAM)?;
        let err = StoreError::query("set_push_token");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let statement = format!(
            "INSERT INTO aa_ue_instance (login, instance, first_seen, last_seen) VALUES {}{}",
            sql::values_tuples(1, 4),
            sql::upsert_tail(self.backend, &["login", "instance"], &["login"])
        );
        sqlx::query(&statement)
            .bind(t.login.as_str())
            .bind(t.instance.as_str())
            .bind(t.updated_at)
            .bind(t.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM aa_ue_instance WHERE login = ? AND instance = ?")
                .bind(t.login.as_str())
                .bind(t.instance.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(&err)?;
        let statement = format!(
            "INSERT INTO push_device_token (instance_id, token, platform, param, updated_at) \
             VALUES {}{}",
            sql::values_tuples(1, 5),
            sql::upsert_tail(
                self.backend,
                &["instance_id"],
                &["token", "platform", "param", "updated_at"]
            )
        );
        sqlx::query(&statement)
            .bind(id)
            .bind(t.token.as_str())
            .bind(t.platform.as_str())
            .bind(t.param.as_str())
            .bind(t.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    /// Removes a device's token (leaves a tombstone). Returns whether it had one.
    pub async fn delete_push_token(
        &self,
        login: &str,
        instance: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let had = self
            .list_push_tokens(Some(login))
            .await?
            .iter()
            .any(|t| t.instance == instance);
        if had {
            self.set_push_token(&PushToken {
                login: login.to_owned(),
                instance: instance.to_owned(),
                token: String::new(),
                platform: String::new(),
                param: String::new(),
                updated_at: at,
            })
            .await?;
        }
        Ok(had)
    }

    /// The live tokens (no tombstones), of one login or of all, by login then instance.
    pub async fn list_push_tokens(
        &self,
        login: Option<&str>,
    ) -> Result<Vec<PushToken>, StoreError> {
        let op = "list_push_tokens";
        let rows = match login {
            Some(l) => {
                sqlx::query(&format!(
                    "{SELECT} WHERE i.login = ? AND t.token <> '' ORDER BY i.instance"
                ))
                .bind(l)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(&format!(
                    "{SELECT} WHERE t.token <> '' ORDER BY i.login, i.instance"
                ))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(token_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// Every row changed at or after `since` (epoch seconds), tombstones included: what a
    /// running server re-reads to learn of tokens set or removed by others (CLI, operator).
    pub async fn push_tokens_changed_since(
        &self,
        since: i64,
    ) -> Result<Vec<PushToken>, StoreError> {
        let op = "push_tokens_changed_since";
        let rows = sqlx::query(&format!("{SELECT} WHERE t.updated_at >= ?"))
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        rows.iter()
            .map(token_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }
}
