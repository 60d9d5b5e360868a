//! The wall clock, read in one place. The cores run on [`std::time::Instant`]; rows in the
//! database, the cluster's Redis records and the CDRs speak unix time. [`epoch`] reads both
//! clocks once, at start, into the one [`Epoch`] that `server.rs` hands to everything that
//! converts (the dispatcher, the storage writer, the cluster's writer, the call engine,
//! the presence driver).
//!
//! [`unix_ms`] stays for what is about the wall clock itself and never meets a core's
//! `Instant`: CLI and admin commands that stamp rows, the account-change log, certificate
//! expiry.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sip_message::Epoch;

/// Milliseconds since the Unix epoch (0 while the system clock is set before it).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The monotonic clock and the wall clock, read together.
pub(crate) fn epoch() -> Epoch {
    Epoch::new(Instant::now(), unix_ms())
}
