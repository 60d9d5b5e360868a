//! `ferroswitch`: the binary. It parses the command line and hands it to the library
//! (`src/lib.rs`), which holds everything else.

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc: the SIP path allocates many small, short-lived buffers across threads, where
/// glibc's malloc spent ~12% of the server's CPU under REGISTER load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ferroswitch::cli::run(ferroswitch::cli::Cli::parse())
}
