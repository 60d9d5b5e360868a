//! Write-through of registrar changes to storage, batched, retried on a DB outage.

use std::time::Duration;

use registrar::{Binding, BindingChange};
use store::{BindingRecord, InstanceSeen, Store};
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
}

pub(crate) fn record(login: &str, b: &Binding, node_id: &str) -> BindingRecord {
    BindingRecord {
        login: login.to_owned(),
        binding_key: b.key.clone(),
        contact: b.contact.clone(),
        instance: b.instance.clone(),
        reg_id: b.reg_id.map(i64::from),
        q_milli: b.q_milli.map(i64::from),
        expires_at: (b.expires_at_ms / 1000) as i64,
        call_id: b.call_id.clone(),
        cseq: i64::from(b.cseq),
        received: b.source.remote.to_string(),
        transport: b.source.transport.as_str().to_owned(),
        local_addr: b.source.local.to_string(),
        node_id: node_id.to_owned(),
        path: b.path.clone(),
        user_agent: b.user_agent.clone(),
        updated_at: (b.updated_at_ms / 1000) as i64,
    }
}

/// Runs until the sender side closes, then flushes what is left.
pub(crate) async fn writer(store: Store, node_id: String, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut batch = Vec::with_capacity(1024);
    let mut changes = Vec::with_capacity(1024);
    let mut instances = Vec::new();
    loop {
        if rx.recv_many(&mut batch, 2000).await == 0 {
            break;
        }
        for w in batch.drain(..) {
            match w {
                Write::Binding(c) => changes.push(match c {
                    BindingChange::Upsert { login, binding } => {
                        store::BindingChange::Upsert(record(&login, &binding, &node_id))
                    }
                    BindingChange::Remove { login, key } => store::BindingChange::Remove {
                        login,
                        binding_key: key,
                    },
                    BindingChange::RemoveAll { login } => store::BindingChange::RemoveAll { login },
                }),
                Write::Instance(i) => instances.push(i),
            }
        }
        let mut delay = Duration::from_millis(100);
        loop {
            let r1 = if changes.is_empty() {
                Ok(())
            } else {
                store.apply_binding_changes(&changes).await
            };
            let r2 = match &r1 {
                Ok(()) if !instances.is_empty() => store.touch_instances(&instances).await,
                _ => Ok(()),
            };
            match r1.and(r2) {
                Ok(()) => break,
                Err(e) if !e.is_transient() => {
                    tracing::error!(
                        dropped = changes.len() + instances.len(),
                        "database refused a write batch (not retrying): {e}"
                    );
                    break;
                }
                Err(e) => {
                    tracing::error!(
                        pending = changes.len() + instances.len(),
                        "database write failed, retrying in {:?}: {e}",
                        delay
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        changes.clear();
        instances.clear();
    }
}
