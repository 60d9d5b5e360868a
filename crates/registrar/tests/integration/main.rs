//! Integration tests of the registrar on a virtual clock: a test UA (`client`) registers
//! against a `Registrar` the way a phone would, signing with digest it computes itself.

mod auth;
mod bindings;
mod client;
mod expires;
mod location;
mod proxy_auth;
mod reach;
mod shared;
