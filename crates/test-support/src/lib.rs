//! Shared by the test suites of several crates (a dev-dependency only): a test that cannot
//! run here says so loudly and records why, so that `scripts/test --allow-skip` can list every
//! skip in its summary (`$FERRO_SKIP_LOG`).

use std::io::Write as _;

/// Prints `SKIPPED <suite>: <why>` to stderr and appends it to the file `$FERRO_SKIP_LOG`
/// names (scripts/test sets it and prints the lines at the end).
pub fn skipped(suite: &str, why: &str) {
    let line = format!("SKIPPED {suite}: {why}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("FERRO_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_skip_is_appended_to_the_log_file() {
        let dir = std::env::temp_dir().join(format!("skiplog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips");
        // the variable is read by this process only; tests of this crate run no other skip
        std::env::set_var("FERRO_SKIP_LOG", &log);
        super::skipped("suite", "first");
        super::skipped("suite", "second");
        std::env::remove_var("FERRO_SKIP_LOG");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, "SKIPPED suite: first\nSKIPPED suite: second\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
