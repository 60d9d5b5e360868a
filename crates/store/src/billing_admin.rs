//! What the operator does to billing besides importing tariffs and moving balances
//! (`tariff.rs`, `charge.rs`): deleting a tariff, taking a plan back from an account.

use crate::{sql, Store, StoreError};

/// What [`Store::delete_tariff`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TariffDeletion {
    /// Deleted, with its rows.
    Deleted,
    /// No tariff of that name.
    NotFound,
    /// Billed accounts still use it (their logins, sorted); nothing was deleted.
    InUse(Vec<String>),
}

impl Store {
    /// Deletes tariff `name` and its rows in one transaction, unless a billed account uses it.
    pub async fn delete_tariff(&self, name: &str) -> Result<TariffDeletion, StoreError> {
        let err = StoreError::query("delete_tariff");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM tariffs WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(&err)?;
        let Some(id) = id else {
            return Ok(TariffDeletion::NotFound);
        };
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT login FROM billing_accounts WHERE tariff_id = ? ORDER BY login",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?;
        if !users.is_empty() {
            return Ok(TariffDeletion::InUse(users));
        }
        for statement in [
            "DELETE FROM tariff_rows WHERE tariff_id = ?",
            "DELETE FROM tariffs WHERE id = ?",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(TariffDeletion::Deleted)
    }

    /// Takes the held plan `id` away from `login` (no refund: the operator credits one if
    /// due). `false` when `login` holds no such plan.
    pub async fn remove_account_plan(&self, login: &str, id: i64) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM account_plans WHERE id = ? AND login = ?")
                .bind(id)
                .bind(login)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("remove_account_plan"))?
                .rows_affected()
                == 1,
        )
    }
}
