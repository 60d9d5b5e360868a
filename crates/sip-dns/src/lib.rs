//! Locating SIP servers through DNS (RFC 3263): NAPTR, SRV, A/AAAA, and the order in which
//! to try the servers found (RFC 2782 priorities and weights).
//!
//! # Where this sits
//!
//! [`locate`] is a sans-IO core: it names the DNS questions to ask and turns the answers into
//! a list of servers ([`Located`]); it has no sockets and no clock. [`resolve`] is its driver
//! over `hickory-resolver`, an async I/O library like `store`: the binary calls it from the
//! routing reload task (never from the dispatcher), and the gateways' [`Located`] lists go to
//! the dispatcher with the other routing tables. Depends on no other ferroswitch crate.

pub mod locate;
pub mod resolve;

pub use locate::{
    AddressError, Answer, Destination, Hop, Locate, Located, NaptrRecord, Query, Server, SrvRecord,
    Transport,
};
pub use resolve::{Resolver, ResolverError};
