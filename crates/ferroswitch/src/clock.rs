//! The wall clock. The registrar, presence and the stored rows keep absolute times in unix
//! milliseconds (or seconds); the transaction layer and the call engine run on
//! [`std::time::Instant`] and never read this.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 while the system clock is set before it).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
