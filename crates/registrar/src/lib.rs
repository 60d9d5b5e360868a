//! `registrar`: REGISTER processing as a pure state machine (RFC 3261 §10.3, RFC 5626 instances,
//! RFC 7616/8760 digest with MD5 and SHA-256).
//!
//! Sits above `sip-message` and below the server binary. It owns the in-memory location table
//! ([`Location`]) and the nonce state ([`NonceKeeper`]); it never touches a socket, a clock or a
//! database. [`Registrar::handle_register`] takes the request, the peer it came from, the account
//! (looked up by the driver from its cache) and `now`, and returns a [`Outcome`]: the response to
//! send, why the request was refused if it was ([`RegisterError`]; [`AuthRejection`] for
//! authentication), and the binding changes the driver writes through to storage.

mod auth;
mod error;
mod location;
mod nonce;
mod reach;
mod register;

pub use auth::{AuthKind, Rejection};
pub use error::{AuthRejection, CredentialsProblem, ForbiddenReason, RegisterError};
pub use location::{Binding, BindingChange, Location};
pub use nonce::{NonceCheck, NonceKeeper};
pub use reach::{contact_addr, reach, ContactRouting, Reach};
pub use register::{Account, Ha1, Outcome, PushRegistration, Registrar, RegistrarConfig};
