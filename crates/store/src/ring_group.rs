//! Ring groups ("user groups"): the `ring_groups` table, keyed by the group's callable login.

use std::collections::HashSet;

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// A ring group: calling `login` rings `members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingGroupRow {
    /// The group's callable login (what the plan's `ring-group:NAME` names).
    pub login: String,
    /// Member logins, in ringing order; never empty, no repeats, none contains `,` (the column
    /// holds them comma-separated).
    pub members: Vec<String>,
    /// 0: ring every member at once; otherwise add one more member every `step_delay_s`
    /// seconds.
    pub step_delay_s: u32,
    /// With a step delay, ring at most this many members; 0 = all of them.
    pub max_steps: u32,
}

impl RingGroupRow {
    fn check(&self) -> Result<(), StoreError> {
        limits::check_login(&self.login)?;
        let bad = |member: &str, reason| StoreError::BadRingGroupMember {
            group: self.login.clone(),
            member: member.to_owned(),
            reason,
        };
        if self.members.is_empty() {
            return Err(StoreError::Empty {
                field: "ring group members",
            });
        }
        let mut seen = HashSet::with_capacity(self.members.len());
        for m in &self.members {
            if m.is_empty() {
                return Err(bad(m, "is empty"));
            }
            if m.contains(',') {
                return Err(bad(m, "contains a comma"));
            }
            if m.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(m, "contains white space or a control character"));
            }
            if m.chars().count() > limits::LOGIN {
                return Err(bad(m, "is longer than a login may be"));
            }
            if *m == self.login {
                return Err(bad(m, "is the group itself"));
            }
            if !seen.insert(m.as_str()) {
                return Err(bad(m, "is listed twice"));
            }
        }
        limits::check(
            "ring group members",
            &self.members.join(","),
            limits::MEMBERS,
        )
    }
}

fn ring_group_from_row(row: &AnyRow) -> Result<RingGroupRow, sqlx::Error> {
    let members: String = row.try_get("members")?;
    Ok(RingGroupRow {
        login: row.try_get("login")?,
        members: members
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        step_delay_s: sql::int_column(row, "step_delay")?,
        max_steps: sql::int_column(row, "max_steps")?,
    })
}

impl Store {
    /// Creates a ring group, or replaces the members and timing of the one with this login.
    pub async fn upsert_ring_group(&self, group: &RingGroupRow) -> Result<(), StoreError> {
        group.check()?;
        let statement = format!(
            "INSERT INTO ring_groups (login, members, step_delay, max_steps) VALUES (?, ?, ?, ?){}",
            sql::upsert_tail(
                self.backend,
                &["login"],
                &["members", "step_delay", "max_steps"]
            )
        );
        sqlx::query(&statement)
            .bind(group.login.as_str())
            .bind(group.members.join(","))
            .bind(i64::from(group.step_delay_s))
            .bind(i64::from(group.max_steps))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("upsert_ring_group"))?;
        Ok(())
    }

    /// Every ring group, ordered by login (byte order).
    pub async fn list_ring_groups(&self) -> Result<Vec<RingGroupRow>, StoreError> {
        let op = "list_ring_groups";
        let mut rows = sqlx::query(
            "SELECT login, members, step_delay, max_steps FROM ring_groups ORDER BY login",
        )
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(ring_group_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }

    /// Deletes a ring group. `false` if there is no group with this login.
    pub async fn delete_ring_group(&self, login: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM ring_groups WHERE login = ?")
            .bind(login)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete_ring_group"))?;
        Ok(result.rows_affected() > 0)
    }
}
