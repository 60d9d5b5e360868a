//! Integration tests of the `dialplan` crate through its public API: tech-prefix rules,
//! actions, the dialing plan, `resolve`, and randomized comparisons against naive models.

mod action;
mod plan;
mod properties;
mod resolve;
mod rng;
mod tech_prefix;
