//! The process's own gauges: resident memory and open descriptors (Linux `/proc`), start
//! time and uptime. Read every few seconds by the upkeep task, never per message.

use std::sync::OnceLock;
use std::time::Instant;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Records the start time (once, when the recorder is installed).
pub(crate) fn started() {
    STARTED.get_or_init(Instant::now);
    let epoch_s = crate::clock::unix_ms() as f64 / 1000.0;
    metrics::gauge!(super::PROCESS_START).set(epoch_s);
}

/// Sets the memory, descriptor and uptime gauges.
pub(crate) fn record() {
    if let Some(started) = STARTED.get() {
        metrics::gauge!(super::UPTIME).set(started.elapsed().as_secs_f64());
    }
    if let Some(rss) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| rss_bytes(&s))
    {
        metrics::gauge!(super::PROCESS_RSS).set(rss as f64);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // the directory handle itself is one of the entries
        let n = dir.count().saturating_sub(1);
        metrics::gauge!(super::PROCESS_FDS).set(n as f64);
    }
}

/// The resident set size in bytes from the text of `/proc/<pid>/status` (`VmRSS:  1234 kB`).
pub(crate) fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut it = line["VmRSS:".len()..].split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    let unit = match it.next() {
        Some(u) if u.eq_ignore_ascii_case("kb") => 1024,
        Some(u) if u.eq_ignore_ascii_case("mb") => 1024 * 1024,
        None => 1,
        Some(_) => return None,
    };
    n.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_proc_status() {
        let status =
            "Name:\tferroswitch\nVmPeak:\t  300000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1000 kB\n";
        assert_eq!(rss_bytes(status), Some(12345 * 1024));
        assert_eq!(rss_bytes("Name:\tx\n"), None);
        assert_eq!(rss_bytes("VmRSS:\tlots kB\n"), None);
        assert_eq!(rss_bytes("VmRSS:\t12 parsecs\n"), None);
    }

    /// This very process: a resident size between 1 MiB and 64 GiB.
    #[test]
    fn own_rss_is_plausible() {
        let s = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
        let rss = rss_bytes(&s).expect("VmRSS line");
        assert!((1 << 20..64 << 30).contains(&rss), "{rss}");
    }
}
