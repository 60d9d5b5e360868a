//! What a transaction user asks of the transaction layer.
//!
//! A transaction user (the B2BUA, the messaging and presence cores) does not hold the
//! [`TransactionLayer`](crate::TransactionLayer) itself: the driver hands it an [`Outbox`] over
//! the layer for the duration of one input, so the TU stays sans-IO and tests can put a
//! recording outbox (or a whole virtual network) in its place.

use bytes::Bytes;
use sip_message::{Message, Peer};

use crate::{ClientKey, ServerKey};

/// What a transaction user asks of the transaction layer.
pub trait Outbox {
    /// Sends a response on a server transaction.
    fn respond(&mut self, key: &ServerKey, response: Bytes);
    /// Starts a client transaction; `None` if the layer refused it (the B2BUA treats that
    /// as a 503 from that peer).
    fn send_request(&mut self, request: Message, to: Peer) -> Option<ClientKey>;
    /// Sends outside any transaction: ACK for a 2xx, a 2xx again.
    fn send_stateless(&mut self, payload: Bytes, to: Peer);
}
