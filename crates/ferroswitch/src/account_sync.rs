//! Account changes reach the running server within a second: every account write in the
//! store (CLI, admin API, import, other nodes) adds a row to the `account_changes` log in the
//! same transaction; this driver reads the rows after the last one it saw every second (or at
//! once when [`AccountSync::now`] asks, as the admin API does after its own writes), reads the
//! changed accounts (all of them after an import) and hands them to the dispatcher as
//! [`Input::Accounts`], which replaces its cache entries (a deleted or disabled login also
//! loses its bindings). The dispatcher never waits on the database for it.
//!
//! Rows older than an hour are pruned. A writer that bypasses the store (a foreign tool on a
//! shared table) is still seen by the cache's 60 s re-read.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::dispatcher::Input;

/// How often the change log is read.
pub(crate) const POLL: Duration = Duration::from_secs(1);
/// Rows read at a time; more than this means "reload every account".
const BATCH: u32 = 1000;
/// Log rows older than this are deleted.
const KEEP: Duration = Duration::from_secs(3600);

/// Accounts read again after a change.
#[derive(Debug, Clone)]
pub(crate) enum Reloaded {
    /// Every account (after an import, or many changes at once).
    All(Vec<store::Account>),
    /// These logins: `None` when the account no longer exists.
    Some(Vec<(String, Option<store::Account>)>),
}

/// Asks the driver to read the log now.
#[derive(Debug, Clone)]
pub(crate) struct AccountSync {
    nudge: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl AccountSync {
    /// Reads the change log now; `true` once the dispatcher applied what was found (within
    /// 2 s), `false` otherwise (the next poll still applies it).
    pub(crate) async fn now(&self) -> bool {
        let (done, applied) = oneshot::channel();
        if self.nudge.send(done).is_err() {
            return false;
        }
        matches!(
            tokio::time::timeout(Duration::from_secs(2), applied).await,
            Ok(Ok(()))
        )
    }
}

/// Starts the driver, reading the rows after `after` (the newest id when the accounts were
/// loaded).
pub(crate) fn spawn(store: Store, after: i64, inputs: mpsc::UnboundedSender<Input>) -> AccountSync {
    let (nudge, mut nudges) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    tokio::spawn(async move {
        let mut after = after;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = Instant::now();
        let mut nudges_open = true;
        loop {
            let mut done = Vec::new();
            tokio::select! {
                _ = tick.tick() => {}
                n = nudges.recv(), if nudges_open => match n {
                    Some(d) => done.push(d),
                    None => nudges_open = false,
                },
            }
            while let Ok(d) = nudges.try_recv() {
                done.push(d);
            }
            match read(&store, after).await {
                Ok(Some((last, changed))) => {
                    after = last;
                    if inputs.send(Input::Accounts { changed, done }).is_err() {
                        break;
                    }
                }
                Ok(None) => {
                    for d in done {
                        let _ = d.send(());
                    }
                }
                Err(e) => tracing::warn!("account changes not read (retrying in 1 s): {e}"),
            }
            if pruned.elapsed() >= KEEP {
                pruned = Instant::now();
                let before = (crate::clock::unix_ms() / 1000) as i64 - KEEP.as_secs() as i64;
                if let Err(e) = store.prune_account_changes(before).await {
                    tracing::warn!("old account changes not pruned: {e}");
                }
            }
        }
    });
    AccountSync { nudge }
}

/// The changes after `after`: the last id read and the accounts to reload; `None` when
/// nothing changed.
async fn read(store: &Store, after: i64) -> Result<Option<(i64, Reloaded)>, StoreError> {
    let changes = store.account_changes_since(after, BATCH).await?;
    let Some(last) = changes.last().map(|c| c.id) else {
        return Ok(None);
    };
    if changes.len() >= BATCH as usize || changes.iter().any(|c| c.login.is_empty()) {
        return Ok(Some((last, Reloaded::All(store.list_accounts().await?))));
    }
    let logins: BTreeSet<String> = changes.into_iter().map(|c| c.login).collect();
    let mut out = Vec::with_capacity(logins.len());
    for login in logins {
        let account = store.get_account(&login).await?;
        out.push((login, account));
    }
    Ok(Some((last, Reloaded::Some(out))))
}
