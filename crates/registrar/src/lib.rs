//! `registrar`: REGISTER processing as a pure state machine (RFC 3261 §10.3, RFC 5626 instances,
//! RFC 7616/8760 digest with MD5 and SHA-256).
//!
//! Sits above `sip-message` and below the server binary. It holds the in-memory location table
//! ([`Location`], one table several registrars may share: [`Registrar::with_location`]) and the
//! nonce state ([`NonceKeeper`]); it never touches a socket, a clock or a database. Time is an [`std::time::Instant`] passed in by the driver; binding expiry is kept
//! in `Instant`s, and the driver's [`sip_message::Epoch`] turns them into epoch seconds for
//! storage.
//!
//! Driving protocol (the shape of every core, docs/architecture.md §3):
//!
//! | input | output |
//! |---|---|
//! | [`Registrar::handle_register(now, &Register, from, account)`](Registrar::handle_register) | returns the [`Outcome`]: the response and why the request was refused if it was ([`RegisterError`]; [`AuthRejection`] for authentication) |
//! | [`Registrar::authenticate(now, req, &Presented, from, account)`](Registrar::authenticate) (INVITE, MESSAGE, SUBSCRIBE, PUBLISH) | returns the account or the [`Rejection`] to send |
//! | [`Registrar::handle_timeout(now)`](Registrar::handle_timeout) at [`Registrar::poll_timeout`] | the purge of expired bindings |
//!
//! After each input the driver drains [`Registrar::poll_event`]: push tokens, binding changes
//! (to write through to storage), instances seen ([`Event`]). The answer to a request is
//! returned rather than pushed through an outbox because the driver judges a refusal before it
//! goes out (it may read the account again, and sends refusals without a transaction).
//!
//! [`Register`] and [`Presented`] parse the headers both the registrar and its driver read
//! (To, the credentials) once per request.

mod auth;
mod error;
mod location;
mod nonce;
mod reach;
mod register;

pub use auth::{AuthKind, Presented, Rejection};
pub use error::{AuthRejection, CredentialsProblem, ForbiddenReason, RegisterError};
pub use location::{Binding, BindingChange, Bindings, BindingsIter, Location};
pub use nonce::{NonceCheck, NonceKeeper};
pub use reach::{contact_addr, reach, ContactRouting, Reach};
pub use register::{
    Account, Event, Ha1, Outcome, PushRegistration, Register, Registrar, RegistrarConfig,
};
