//! Integration tests of `sip-message`: RFC 4475 torture messages, print/parse round trips,
//! stream framing, and regressions found by fuzzing.

mod framing;
mod regressions;
mod roundtrip;
mod torture;
