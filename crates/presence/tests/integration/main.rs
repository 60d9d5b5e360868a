//! Integration tests of the presence core on a virtual clock: a harness plays the server's
//! driver (drains actions, answers NOTIFYs, supplies buddy lists and counts) and test UAs
//! build SUBSCRIBE and PUBLISH the way phones do. Nothing sleeps.

mod common;
mod lists;
mod mwi;
mod publish;
mod restore;
mod subscribe;
mod uri_lists;
