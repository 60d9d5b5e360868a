//! `presence`: the SUBSCRIBE/NOTIFY/PUBLISH framework of ferroswitch, sans-IO.
//!
//! It sits above `sip-message` (parsed requests in, responses out as bytes, NOTIFYs out as
//! messages built once) and `sip-transaction` (only its handle types and the
//! transaction-user trait [`Outbox`](sip_transaction::Outbox)), beside the registrar,
//! messaging and the B2BUA, as a transaction user: the server's driver authenticates a
//! SUBSCRIBE or PUBLISH, hands it here with `now` and an outbox over the transaction layer,
//! and feeds back NOTIFY responses, hook answers and time. Nothing here does I/O or reads a
//! clock; time is an `Instant` the driver passes in (stored rows' absolute times are
//! converted by the driver, at the persistence boundary).
//!
//! - [`Publications`]: PUBLISH (RFC 3903) — entity-tags, refresh/modify/remove, expiry, and
//!   the composition of several devices' PIDF documents into one per login ([`pidf`] has the
//!   rule), with write-through [`Persist`] actions and [`PresenceServer::restore`].
//! - [`PresenceServer`]: subscriptions (RFC 6665) through [`EventPackage`]s: `presence`
//!   (PIDF, RFC 3856), `presence` resource lists (RFC 4662, multipart/related + RLMI, buddies
//!   from the driver), `message-summary` (RFC 3842, counts from the driver).
//!
//! # Driving protocol
//!
//! The convention of messaging and the B2BUA: inputs take `now: Instant` and, when they may
//! answer a request or send a NOTIFY, the `&mut dyn Outbox` lent for that input.
//!
//! | input | when |
//! |---|---|
//! | [`handle_subscribe(now, key, login, &req, &origin, out)`](PresenceServer::handle_subscribe) | an authenticated SUBSCRIBE (new or in-dialog) on server transaction `key` |
//! | [`handle_publish(now, key, login, &req, peer, out)`](PresenceServer::handle_publish) | an authenticated PUBLISH on server transaction `key` |
//! | [`response(now, client_key, status, out)`](PresenceServer::response) | a response to one of its NOTIFYs ([`owns`](PresenceServer::owns)); 408 for a timeout, 503 for a transport error |
//! | [`buddies_fetched(now, key, buddies, out)`](PresenceServer::buddies_fetched) | the answer to [`Action::FetchBuddies`] (empty on hook error) |
//! | [`set_message_summary(now, login, counts, out)`](PresenceServer::set_message_summary) | the answer to [`Action::FetchState`], or a voicemail count change |
//! | [`set_message_summary_with_details(now, login, counts, details, out)`](PresenceServer::set_message_summary_with_details) | the same with the new messages' details (the built-in voicemail) |
//! | [`remote_publications(now, rows, gone, out)`](PresenceServer::remote_publications) | another cluster node's publications |
//! | [`restore(now, rows)`](PresenceServer::restore) | at start, before any request: the `presence_publications` rows |
//! | [`handle_timeout(now, out)`](PresenceServer::handle_timeout) | at [`poll_timeout`](PresenceServer::poll_timeout) |
//!
//! Outputs go two ways, as in messaging:
//!
//! - through the [`Outbox`](sip_transaction::Outbox): the response to a SUBSCRIBE or
//!   PUBLISH (`respond` on its server transaction), then the NOTIFYs the input made, each a
//!   `Message` built once and handed to `send_request` as it is (a new non-INVITE client
//!   transaction to the flow of the last SUBSCRIBE). Retransmissions are the transaction
//!   layer's; the final response (408 on a timeout) comes back through `response`. A NOTIFY
//!   the layer refuses counts as answered 408.
//! - after **every** input the driver drains [`poll_action`](PresenceServer::poll_action) in
//!   order: [`Action::FetchBuddies`] / [`Action::FetchState`] (ask the hook/store without
//!   blocking the loop; answer with `buddies_fetched` / `set_message_summary`, always —
//!   empty or zero on failure — or the subscription never gets its first NOTIFY) and
//!   [`Action::Persist`] (write-through to `presence_publications`, in order).
//!
//! Finally it re-arms its timer at [`poll_timeout`](PresenceServer::poll_timeout).
//!
//! # A subscription
//!
//! ```text
//!  SUBSCRIBE (new) ──▶ 200 (Expires, our tag, Contact)
//!        │               ├─ state at hand ─────────────▶ NOTIFY active (full state)
//!        │               ├─ list ──▶ FetchBuddies ──▶ buddies_fetched ──▶ NOTIFY (RLMI v0, full)
//!        │               └─ MWI unknown ──▶ FetchState ──▶ set_message_summary ──▶ NOTIFY
//!        ▼
//!     active ── state change ──▶ NOTIFY (single: full PIDF; list: partial, version+1)
//!        │   ── in-dialog SUBSCRIBE ──▶ 200, NOTIFY full state (list: after a new fetch)
//!        │   ── SUBSCRIBE Expires: 0 ──▶ 200, NOTIFY terminated ──────────────▶ gone
//!        │   ── expiry (handle_timeout) ──▶ NOTIFY terminated;reason=timeout ──▶ gone
//!        └── NOTIFY answered 481 / 408 / never (guard) ──────────────────────▶ gone
//! ```
//!
//! At most one NOTIFY per subscription is in flight; changes that arrive meanwhile are
//! coalesced into the next one (sent when the response comes back), so NOTIFYs of one
//! subscription never overtake each other and list versions arrive in order.

mod config;
mod ids;
mod mwi;
mod package;
pub mod pidf;
mod publish;
mod reply;
mod rlmi;
mod server;
mod timer;
pub mod uri_list;
mod xml;

pub use config::PresenceConfig;
pub use mwi::{message_details, message_summary_body, MessageDetail, MessageSummary};
pub use package::{Body, EventPackage, MessageSummaryPackage, PresencePackage, Resource, State};
pub use publish::{Persist, PublicationRow, Publications};
pub use server::{Action, Buddy, Origin, PresenceServer, SubscriptionKey};
pub use xml::login_uri;
