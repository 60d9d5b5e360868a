//! Integration tests of the messaging core: a bench plays the server's driver on a real
//! transaction layer without sockets (the sender's MESSAGE arrives on a server transaction,
//! forwards leave on client transactions, devices answer them), carries out the core's
//! actions by hand and reports back. Nothing sleeps.

mod answer;
mod common;
mod incoming;
mod rounds;
mod routing;
