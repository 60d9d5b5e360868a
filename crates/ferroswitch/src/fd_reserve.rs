//! Running out of file descriptors (issue 12 item 5). A listener whose `accept` fails with
//! EMFILE/ENFILE leaves the connection in the kernel's backlog, so the listener is ready again
//! at once and the failure repeats. As nginx and HAProxy do, one spare descriptor is held from
//! the start ([`keep`]); at EMFILE it is closed, the pending connection accepted and closed at
//! once (the peer sees the connection end instead of hanging in the backlog), and the spare is
//! opened again ([`accept_and_close`]). The transports also shed idle untrusted connections
//! then ([`crate::transport::Transports::shed_untrusted`]), and the log line is rate-limited
//! ([`LogEvery`]).

use std::fs::File;
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;

static SPARE: Mutex<Option<File>> = Mutex::new(None);

fn spare() -> std::sync::MutexGuard<'static, Option<File>> {
    SPARE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Holds the spare descriptor (once per process; again after it was used).
pub(crate) fn keep() {
    let mut s = spare();
    if s.is_none() {
        *s = File::open("/dev/null").ok();
    }
}

/// Whether `e` says the process (EMFILE) or the system (ENFILE) is out of descriptors.
pub(crate) fn exhausted(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Frees the spare descriptor, accepts one pending connection on `listener` and closes it,
/// then takes the spare again. `true` if a connection was closed so.
pub(crate) async fn accept_and_close(listener: &TcpListener) -> bool {
    drop(spare().take());
    let closed = matches!(
        tokio::time::timeout(Duration::from_millis(5), listener.accept()).await,
        Ok(Ok(_))
    );
    keep();
    closed
}

/// Lets a repeated log line through once per `every`, counting what it held back.
#[derive(Debug)]
pub(crate) struct LogEvery {
    every: Duration,
    last: Option<Instant>,
    held: u64,
}

impl LogEvery {
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            held: 0,
        }
    }

    /// `Some(lines held back since the last one)` when the line is to be logged at `now`.
    pub(crate) fn tick(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut l = LogEvery::new(Duration::from_secs(10));
        assert_eq!(l.tick(t0), Some(0));
        for i in 1..200 {
            assert_eq!(l.tick(t0 + Duration::from_millis(i * 50)), None);
        }
        assert_eq!(l.tick(t0 + Duration::from_secs(10)), Some(199));
        assert_eq!(l.tick(t0 + Duration::from_secs(11)), None);
    }

    #[test]
    fn descriptor_errors_are_recognised() {
        assert!(exhausted(&std::io::Error::from_raw_os_error(24)));
        assert!(exhausted(&std::io::Error::from_raw_os_error(23)));
        assert!(!exhausted(&std::io::Error::from_raw_os_error(104)));
    }
}
