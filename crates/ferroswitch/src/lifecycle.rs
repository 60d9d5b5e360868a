//! Signals and the end of the process.
//!
//! | signal | what happens |
//! |---|---|
//! | SIGHUP | the config is reloaded ([`crate::reload::Reloader`]); the process never exits on it |
//! | SIGTERM, SIGINT | [`shutdown`]: listeners stop accepting, calls are ended, writes flushed, exit 0 |
//! | a second SIGTERM/SIGINT | the dispatcher is stopped at once; queued writes still get the rest of the budget |
//!
//! The handlers are installed first thing at start ([`Signals::install`]), so that a SIGHUP
//! that comes while the server is still starting is not the default action (which ends the
//! process).

use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::dispatcher::Input;
use crate::reload::Reloader;

/// The signals the server handles, installed once.
pub(crate) struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    pub(crate) fn install() -> anyhow::Result<Self> {
        let kind = |k: SignalKind, name: &str| {
            signal(k).with_context(|| format!("installing the {name} handler"))
        };
        Ok(Self {
            hup: kind(SignalKind::hangup(), "SIGHUP")?,
            term: kind(SignalKind::terminate(), "SIGTERM")?,
            int: kind(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    /// Serves SIGHUPs (reloads, one at a time) until SIGTERM or SIGINT; returns its name.
    pub(crate) async fn until_stop(&mut self, reloader: &Reloader) -> &'static str {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    tracing::info!(signal = "SIGHUP", "reloading the config");
                    // the outcome is logged by the reloader; a refused config changes nothing
                    let _ = reloader.reload().await;
                }
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
            }
        }
    }

    /// The next SIGTERM or SIGINT (SIGHUPs meanwhile are ignored: no reload while stopping).
    async fn next_stop(&mut self) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => tracing::info!("SIGHUP while shutting down: ignored"),
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
            }
        }
    }
}

/// What [`shutdown`] stops.
pub(crate) struct Running {
    /// The TCP/TLS accept loops: aborted first, so no new connection is taken.
    pub(crate) accept: Vec<JoinHandle<()>>,
    pub(crate) dispatcher: JoinHandle<()>,
    /// The dispatcher's input channel, for [`Input::Shutdown`].
    pub(crate) inputs: mpsc::UnboundedSender<Input>,
    /// The storage writer: it ends once every sender of writes (the dispatcher) is gone.
    pub(crate) writer: JoinHandle<()>,
    pub(crate) store: store::Store,
}

/// Stops the server within `timeout`: no new connection is accepted; the dispatcher ends
/// every call (BYE, or CANCEL + 503), refuses new requests with 503 and returns once nothing
/// is left in flight, within three quarters of the budget; then the storage writer flushes
/// every queued binding, CDR and publication within what remains. `Err` when the writes did
/// not all finish in time (the process then exits non-zero: some were lost).
pub(crate) async fn shutdown(
    running: Running,
    timeout: Duration,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let Running {
        accept,
        mut dispatcher,
        inputs,
        writer,
        store,
    } = running;
    let start = tokio::time::Instant::now();
    let deadline = start + timeout;
    for a in &accept {
        a.abort();
    }
    let _ = inputs.send(Input::Shutdown);
    drop(inputs);
    let drain_until = start + timeout.mul_f64(0.75);
    tokio::select! {
        _ = &mut dispatcher => tracing::info!(elapsed_ms = start.elapsed().as_millis() as u64, "calls ended, requests in flight answered"),
        () = tokio::time::sleep_until(drain_until) => {
            tracing::warn!("calls or requests still in flight after {:?}: stopping the dispatcher", drain_until - start);
        }
        () = signals.next_stop() => tracing::warn!("second stop signal: stopping the dispatcher now"),
    }
    if !dispatcher.is_finished() {
        dispatcher.abort();
        let _ = dispatcher.await;
    }
    // the dispatcher owned every sender of writes: the writer drains what is queued and stops
    let flushed = tokio::time::timeout_at(deadline, writer).await.is_ok();
    store.close().await;
    if !flushed {
        anyhow::bail!(
            "database writes did not finish within the shutdown timeout ({timeout:?}, `shutdown_timeout`)"
        );
    }
    tracing::info!(
        elapsed_ms = start.elapsed().as_millis() as u64,
        "stopped: every queued write flushed"
    );
    Ok(())
}
