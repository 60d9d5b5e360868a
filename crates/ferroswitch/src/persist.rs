//! Write-through of registrar and presence changes to storage, batched, retried on a DB
//! outage.

use std::time::Duration;

use registrar::BindingChange;
use sip_message::Epoch;
use store::{InstanceSeen, Store};

use crate::records::{binding_record as record, cdr_row};
use tokio::sync::mpsc;

/// Work for the writer task.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every write is a binding; boxing would add an allocation to each"
)]
pub(crate) enum Write {
    Binding(BindingChange),
    Instance(InstanceSeen),
    /// A call attempt's record for the `cdr` table.
    Cdr(Box<b2bua::Cdr>),
    /// A change to `presence_publications` (applied in order).
    Publication(store::PublicationChange),
    /// A device's push token set or removed (RFC 8599 REGISTER, API, CLI).
    PushToken(store::PushToken),
    /// A rated call's reservation row, written or rewritten (`billing_io.rs`).
    Reservation(store::ReservationRow),
    /// An unanswered rated call's reservation goes.
    ReleaseReservation(String),
    /// A rated call's CDR with its charge: one transaction.
    RatedCdr(Box<(b2bua::Cdr, store::ChargeRow)>),
}

/// How many writes wait for the writer (queued, or in hand and not stored yet), as of its
/// last look: updated at each batch and each retry (at least every 5 s in an outage).
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueDepth(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl QueueDepth {
    pub(crate) fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set(&self, n: usize) {
        self.0.store(n, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Most writes applied in one batch.
const BATCH_MAX: usize = 2000;

/// After the first write of a batch arrives, the writer waits this long for more before it
/// applies them. Under load this turns one database transaction, one task wake-up and one
/// round trip to the SQLite thread per REGISTER into one per window (docs/benchmarks.md); a
/// write reaches the database at most this much later, which nobody waits for (the SIP
/// answer never waits on storage).
const GATHER: Duration = Duration::from_millis(10);

/// Runs until the sender side closes, then flushes what is left.
pub(crate) async fn writer(
    store: Store,
    node_id: String,
    epoch: Epoch,
    mut rx: mpsc::UnboundedReceiver<Write>,
    depth: QueueDepth,
) {
    let mut batch = Vec::with_capacity(1024);
    let mut changes = Vec::with_capacity(1024);
    let mut instances = Vec::new();
    let mut cdrs = Vec::new();
    let mut publications = Vec::new();
    let mut tokens: Vec<store::PushToken> = Vec::new();
    let mut billing = crate::billing_io::Batch::default();
    loop {
        depth.set(rx.len());
        if rx.recv_many(&mut batch, BATCH_MAX).await == 0 {
            break;
        }
        if batch.len() < BATCH_MAX && !rx.is_closed() {
            tokio::time::sleep(GATHER).await;
            let room = BATCH_MAX - batch.len();
            if !rx.is_empty() {
                rx.recv_many(&mut batch, room).await;
            }
        }
        depth.set(rx.len() + batch.len());
        for w in batch.drain(..) {
            match w {
                Write::Binding(c) => changes.push(match c {
                    BindingChange::Upsert { login, binding } => {
                        store::BindingChange::Upsert(record(&login, &binding, &node_id, &epoch))
                    }
                    BindingChange::Remove { login, key } => store::BindingChange::Remove {
                        login,
                        binding_key: key,
                    },
                    BindingChange::RemoveAll { login } => store::BindingChange::RemoveAll { login },
                }),
                Write::Instance(i) => instances.push(i),
                Write::Cdr(c) => cdrs.push(cdr_row(&c, &node_id)),
                Write::Publication(p) => publications.push(p),
                Write::PushToken(t) => tokens.push(t),
                w => billing.push(w, &node_id),
            }
        }
        // Steps in order; a step's rows are cleared once written, so a retry after a
        // transient error starts at the step that failed and never writes a row twice (a
        // CDR is a plain INSERT). A step the database refuses for good is dropped (logged)
        // and the later steps still go.
        let mut delay = Duration::from_millis(100);
        loop {
            let pending =
                changes.len() + instances.len() + cdrs.len() + publications.len() + tokens.len();
            metrics::gauge!(crate::metrics::DB_WRITE_QUEUE).set((pending + rx.len()) as f64);
            let mut failed = None;
            if !changes.is_empty() {
                match store.apply_binding_changes(&changes).await {
                    Ok(()) => {
                        written("bindings", changes.len());
                        changes.clear();
                    }
                    Err(e) => failed = Some(("bindings", changes.len(), e)),
                }
            }
            if failed.is_none() && !instances.is_empty() {
                match store.touch_instances(&instances).await {
                    Ok(()) => {
                        written("instances", instances.len());
                        instances.clear();
                    }
                    Err(e) => failed = Some(("instances", instances.len(), e)),
                }
            }
            if failed.is_none() && !billing.is_empty() {
                let n = billing.len();
                match billing.apply(&store).await {
                    Ok(()) => written("billing", n),
                    Err(e) => failed = Some(("billing", billing.len(), e)),
                }
            }
            if failed.is_none() && !cdrs.is_empty() {
                match store.insert_cdrs(&cdrs).await {
                    Ok(()) => {
                        written("cdrs", cdrs.len());
                        cdrs.clear();
                    }
                    Err(e) => failed = Some(("cdrs", cdrs.len(), e)),
                }
            }
            if failed.is_none() && !publications.is_empty() {
                match store
                    .apply_publication_changes(&node_id, &publications)
                    .await
                {
                    Ok(()) => {
                        written("publications", publications.len());
                        publications.clear();
                    }
                    Err(e) => failed = Some(("publications", publications.len(), e)),
                }
            }
            while failed.is_none() && !tokens.is_empty() {
                match store.set_push_token(&tokens[0]).await {
                    Ok(()) => {
                        written("push_tokens", 1);
                        tokens.remove(0);
                    }
                    Err(e) => failed = Some(("push_tokens", 1, e)),
                }
            }
            let Some((table, rows, e)) = failed else {
                break;
            };
            write_failed(table, !e.is_transient());
            if !e.is_transient() {
                tracing::error!(
                    table,
                    dropped = rows,
                    "database refused a write (not retrying): {e}"
                );
                match table {
                    "bindings" => changes.clear(),
                    "instances" => instances.clear(),
                    "cdrs" => cdrs.clear(),
                    "billing" => billing.clear(),
                    "publications" => publications.clear(),
                    _ => {
                        tokens.remove(0);
                    }
                }
                continue;
            }
            let pending =
                changes.len() + instances.len() + cdrs.len() + publications.len() + tokens.len();
            depth.set(rx.len() + pending);
            metrics::gauge!(crate::metrics::DB_WRITE_QUEUE).set((pending + rx.len()) as f64);
            tracing::error!(
                table,
                pending,
                "database write failed, retrying in {:?}: {e}",
                delay
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        metrics::gauge!(crate::metrics::DB_WRITE_QUEUE).set(rx.len() as f64);
    }
}

/// `rows` rows of `table` were written.
fn written(table: &'static str, rows: usize) {
    metrics::counter!(crate::metrics::DB_ROWS_WRITTEN, "table" => table).increment(rows as u64);
}

/// A write batch of `table` failed: retried, or (refused for good) dropped.
fn write_failed(table: &'static str, dropped: bool) {
    let action = if dropped { "dropped" } else { "retried" };
    metrics::counter!(crate::metrics::DB_WRITE_ERRORS, "table" => table, "action" => action)
        .increment(1);
}
