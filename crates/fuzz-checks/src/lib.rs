//! The properties the cargo-fuzz targets in `fuzz/` check, one function per target, each taking
//! libFuzzer's input and panicking when a property fails. The targets are one-line calls of
//! these; `tests/corpus.rs` replays the committed corpora (`fuzz/corpus/<target>/`) through the
//! same functions, so `cargo test` (stable, no libFuzzer) catches a regression on any input the
//! fuzzer once found interesting. See fuzz/README.md.

mod auth;
mod config;
mod frame;
mod parse;
mod sdp;
mod stun;

pub use auth::digest_auth;
pub use config::{config_toml, config_xml};
pub use frame::frame_stream;
pub use parse::parse_roundtrip;
pub use sdp::sdp_roundtrip;
pub use stun::stun;

/// A property on one input: returns, or panics naming what failed.
pub type Check = fn(&[u8]);

/// Every target by its name in fuzz/Cargo.toml (and its corpus directory).
pub const TARGETS: &[(&str, Check)] = &[
    ("parse_roundtrip", parse_roundtrip),
    ("frame_stream", frame_stream),
    ("stun", stun),
    ("sdp_roundtrip", sdp_roundtrip),
    ("digest_auth", digest_auth),
    ("config_toml", config_toml),
    ("config_xml", config_xml),
];
