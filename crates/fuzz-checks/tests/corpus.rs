//! Replays every committed corpus file (`fuzz/corpus/<target>/*`) through the property its fuzz
//! target checks: what the fuzzer found interesting once stays a regression test on stable.

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus of {target} ({}): {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("a corpus entry").path();
        let data = std::fs::read(&path).expect("a corpus file");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails its property (cargo fuzz run {target} {} to debug)",
            path.display(),
            path.display()
        );
        n += 1;
    }
    n
}

/// One test per target, so a failure names it.
macro_rules! corpus_tests {
    ($($target:ident),* $(,)?) => {$(
        #[test]
        fn $target() {
            let n = replay(stringify!($target), fuzz_checks::$target);
            assert!(n >= 5, "{}: only {n} corpus files", stringify!($target));
        }
    )*};
}

corpus_tests!(
    parse_roundtrip,
    frame_stream,
    stun,
    sdp_roundtrip,
    digest_auth,
    config_toml,
    config_xml,
);

#[test]
fn every_target_is_replayed() {
    // the list above and the library's (which fuzz/Cargo.toml's targets mirror) agree
    let names: Vec<&str> = fuzz_checks::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "parse_roundtrip",
            "frame_stream",
            "stun",
            "sdp_roundtrip",
            "digest_auth",
            "config_toml",
            "config_xml"
        ]
    );
    for name in names {
        assert!(corpus_dir(name).is_dir(), "no corpus for {name}");
    }
}
