//! Tells systemd what the server is doing (`sd_notify(3)`, for `Type=notify` in
//! `etc/ferroswitch.service`): `READY=1` once every listener is bound, `RELOADING=1` when a
//! reload starts (followed by `READY=1` when it ends), `STOPPING=1` when a shutdown starts.
//! Without `NOTIFY_SOCKET` in the environment (not started by systemd) each call does
//! nothing. A failure to notify is logged, never fatal.

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    // keep NOTIFY_SOCKET: the later states go to the same socket
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("could not notify systemd: {e}");
    }
}

/// Listeners are up: the service is started (and, after [`reloading`], the reload is done).
pub(crate) fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// A reload (SIGHUP, `POST /api/reload`) starts. Call [`ready`] when it is over.
#[allow(dead_code, reason = "called by the reload path")]
pub(crate) fn reloading() {
    // systemd 253+ wants the monotonic time with RELOADING=1 (Type=notify-reload)
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A shutdown starts (SIGTERM, SIGINT).
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}
