//! `sip-transaction`: the RFC 3261 §17 transaction layer of ferroswitch, sans-IO.
//!
//! It sits between `sip-message` (below: parsed messages, [`Peer`]s) and the transaction users
//! (above: registrar, presence, b2bua), inside the server's driver task. It owns no socket and
//! no clock: inputs are [`TransactionLayer::handle_message`] (a parsed, sanity-checked message
//! and the peer it came from), [`TransactionLayer::handle_timeout`] (time passed), and the
//! TU's calls [`respond`](TransactionLayer::respond),
//! [`send_request`](TransactionLayer::send_request) and
//! [`send_stateless`](TransactionLayer::send_stateless); outputs are drained with
//! [`poll_transmit`](TransactionLayer::poll_transmit) (what to send where),
//! [`poll_event`](TransactionLayer::poll_event) (what the TU must know) and
//! [`poll_timeout`](TransactionLayer::poll_timeout) (when to call `handle_timeout` next).
//! `now` is always an argument, so tests run the machines on a virtual clock. A TU that should
//! not hold the layer itself is handed an [`Outbox`] over it: what a transaction user asks of
//! the transaction layer.
//!
//! # Polling order
//!
//! After every input (`handle_*`, `respond`, `send_*`), the driver:
//!
//! 1. drains [`poll_event`](TransactionLayer::poll_event) and hands each event to the TU,
//!    which may call `respond` / `send_request` / `send_stateless` (more outputs);
//! 2. drains [`poll_transmit`](TransactionLayer::poll_transmit) and sends each [`Transmit`]; a send
//!    that fails at once (no connection to the peer) goes back through
//!    [`handle_send_error`](TransactionLayer::handle_send_error), which ends the client
//!    transaction with [`Event::TransportError`];
//! 3. repeats 1–2 until both are empty;
//! 4. re-arms its sleep at [`poll_timeout`](TransactionLayer::poll_timeout) and, when it
//!    expires, calls [`handle_timeout`](TransactionLayer::handle_timeout) with the time.
//!
//! Transmits within one queue keep their order; nothing requires draining one queue before
//! the other.
//!
//! # Matching
//!
//! Server transactions match by RFC 3261 §17.2.3: the top Via branch (with the magic cookie
//! `z9hG4bK`), its sent-by (host case-insensitively, port defaulted per transport) and the
//! method, where an ACK looks for the INVITE transaction and a CANCEL is a transaction of its
//! own that is matched to the INVITE with the same branch and sent-by. Without the cookie the
//! RFC 2543 fallback is used: Request-URI, From tag, Call-ID, CSeq number and the whole top
//! Via (the To tag is not compared). Client transactions match by the top Via branch of the
//! response and its CSeq method (§17.1.3); a response matching nothing is dropped.
//!
//! The layer answers by itself: 100 Trying to every new INVITE (at once, which RFC 3261
//! §17.2.1 allows; it carries `received`/`rport` and echoes `Timestamp`), 200 to a CANCEL that
//! matches an INVITE transaction (then [`Event::Cancelled`] if the INVITE has no final
//! response yet: the TU answers it with 487), 481 to a CANCEL that matches nothing, and 482
//! to a merged request (§8.2.2.2: no To tag; same From tag, Call-ID and CSeq as a request
//! still without a final response, but another transaction key).
//!
//! Responses the TU passes to [`respond`](TransactionLayer::respond) go back to the peer the
//! request came from (source address and port, same connection: RFC 3581 symmetric
//! response routing). Build them with
//! `MessageBuilder::response_to(&request, code, to_tag, Some(from.remote))`, which writes
//! `received`/`rport` into the top Via.
//!
//! # The machines
//!
//! Timers marked † run only on unreliable transports ([`Transport::is_reliable`](sip_message::Transport::is_reliable)); on TCP/TLS
//! the waits D, I, J and K are zero, so those states end at once. `64·T1` is 32 s by default.
//!
//! INVITE client (§17.1.1, with the Accepted state of RFC 6026):
//!
//! ```text
//!                     send_request(INVITE): sent; A† = T1, B = 64·T1
//!                                  |
//!                                  v
//!                            +-----------+  A fires: sent again, A = 2·A (no cap)
//!                            |  Calling  |  B fires: Event::Timeout ---------> terminated
//!                            +-----------+
//!                 1xx: up      |   |   |  2xx: up
//!                 +------------+   |   +-------------------------+
//!                 v                |                             v
//!         +------------+           | 300-699: ACK sent, up  +----------+  2xx (again, or
//!  1xx:up | Proceeding |           |                        | Accepted |  another fork): up
//!         +------------+           |                        +----------+  M = 64·T1 fires:
//!            |      |  2xx: up     |                             ^        terminated
//!            |      +--------------|-----------------------------+
//!            |  300-699: ACK, up   v
//!            +------------> +-----------+  300-699 again: ACK sent again, not up
//!                           | Completed |  D† = 32 s fires: terminated
//!                           +-----------+
//! ```
//!
//! After the TU sends a CANCEL for it, an INVITE in Proceeding that gets no final response
//! within 64·T1 ends with [`Event::Timeout`] (RFC 3261 §9.1).
//!
//! Non-INVITE client (§17.1.2):
//!
//! ```text
//!                 send_request: sent; E† = T1, F = 64·T1
//!                          |
//!                          v
//!                    +------------+  E fires: sent again, E = min(2·E, T2)
//!                    |   Trying   |  F fires: Event::Timeout ----------> terminated
//!                    +------------+
//!              1xx: up  |      | 200-699: up
//!                       v      |
//!                +------------+ |  E fires: sent again, E = T2
//!       1xx: up  | Proceeding | |  F fires: Event::Timeout ----------> terminated
//!                +------------+ |
//!         200-699: up   |      |
//!                       v      v
//!                    +------------+  responses again: absorbed
//!                    | Completed  |  K† = T4 fires: terminated
//!                    +------------+
//! ```
//!
//! INVITE server (§17.2.1, with the Accepted state of RFC 6026):
//!
//! ```text
//!              INVITE: Event::Request, 100 Trying sent
//!                      v
//!                +------------+  INVITE again: last provisional again
//!                | Proceeding |  respond(1xx): sent, kept
//!                +------------+
//!     respond(2xx) |        | respond(300-699): sent, kept; G† = T1, H = 64·T1
//!                  v        v
//!        +----------+    +-----------+  G fires: resend, G = min(2G, T2)
//!        | Accepted |    | Completed |  INVITE again: final again
//!        | L=64·T1  |    +-----------+  H fires: Event::AckTimeout --> terminated
//!        +----------+          | ACK (absorbed)
//!   INVITE absorbed;           v
//!   ACK: Event::Ack;     +-----------+  ACK absorbed
//!   respond(2xx): sent   | Confirmed |  I† = T4 --> terminated
//!   L fires: terminated  +-----------+
//! ```
//!
//! RFC 3261 ends the transaction at the 2xx; RFC 6026 keeps it (Accepted) so that a
//! retransmitted INVITE is not taken for a new one. The layer still never retransmits a 2xx
//! (the TU does, with `respond` or `send_stateless`), and every ACK not absorbed by a
//! Completed/Confirmed transaction — in particular the ACK for a 2xx — comes up as
//! [`Event::Ack`].
//!
//! Non-INVITE server (§17.2.2):
//!
//! ```text
//!          request: Event::Request
//!                  v
//!             +--------+  request again: absorbed
//!             | Trying |  (guard: no final response within 64·T1 -> terminated)
//!             +--------+
//!     respond(1xx) |    | respond(200-699): sent, kept
//!                  v    |
//!        +------------+ |          +-----------+   request again: final again
//!        | Proceeding |-+--------->| Completed |   J† = 64·T1 --> terminated
//!        +------------+ 200-699    +-----------+
//!   request again: last provisional again
//! ```
//!
//! # Cost
//!
//! A transaction is one slab slot (224 bytes) plus the one message it may have to send again,
//! one entry in a fingerprint index (matching keys are kept as 128-bit keyed hashes, not
//! strings) and one or two 32-byte entries in the timer queues, where cancelled timers are
//! skipped lazily. A REGISTER answered on UDP and waiting out Timer J holds about 600 bytes
//! including its 200 (see the `stress` test); the handles given to the TU are two integers.

mod client;
mod key;
mod layer;
mod server;
mod slab;
mod timer;
mod transaction;
mod tu;

use std::time::Duration;

use bytes::Bytes;
use sip_message::{Message, Peer};

pub use key::{ClientKey, ServerKey, MAGIC_COOKIE};
pub use layer::TransactionLayer;
pub use tu::Outbox;

/// The RFC 3261 timer base values (§17.1.1.1, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate: first retransmission interval; 64·T1 bounds a transaction. 500 ms.
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests and INVITE responses. 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network. 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// A message to send: the payload and the peer (transport, remote address, local address,
/// connection) to send it to.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: Peer,
    pub payload: Bytes,
}

/// What the transaction user must know.
#[derive(Debug, Clone)]
pub enum Event {
    /// A new request (not a retransmission) for the TU, to be answered with
    /// [`TransactionLayer::respond`]. For INVITE the layer has already sent 100 Trying.
    Request {
        key: ServerKey,
        request: Message,
        from: Peer,
    },
    /// An ACK that no INVITE server transaction absorbed: the ACK for a 2xx, which belongs
    /// to the dialog.
    Ack { request: Message, from: Peer },
    /// A CANCEL matched a pending INVITE server transaction. The layer has answered the CANCEL
    /// with 200; the TU must answer the INVITE with 487.
    Cancelled { invite: ServerKey, cancel: Message },
    /// A response for a client transaction: provisional and final. For INVITE, every 2xx
    /// (retransmissions and other forks) comes up, since the TU ACKs each; non-2xx finals
    /// come up once, and the layer has ACKed them.
    Response {
        key: ClientKey,
        response: Message,
        from: Peer,
    },
    /// A client transaction ended without a final response (Timer B or F, or no answer to a
    /// CANCELled INVITE): the TU acts as on a 408.
    Timeout { key: ClientKey },
    /// A client transaction's request could not be sent (no open connection to the peer,
    /// a failed connection, a refused datagram), reported through
    /// [`TransactionLayer::handle_send_error`]: the transaction has ended and the TU acts as
    /// on a 503 (RFC 3261 §8.1.3.1).
    TransportError { key: ClientKey },
    /// An INVITE server transaction's non-2xx final response was never acknowledged
    /// (Timer H).
    AckTimeout { key: ServerKey },
}

/// Why the layer refused a call from the TU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The key names no live transaction (it ended, or never was a server transaction).
    #[error("no such transaction")]
    NoSuchTransaction,
    /// The bytes passed to `respond` do not start with a SIP/2.0 status line.
    #[error("not a SIP/2.0 response")]
    NotAResponse,
    /// The message passed to `send_request` is a response.
    #[error("not a request")]
    NotARequest,
    /// The transaction already sent its final response (only further 2xx to an INVITE pass).
    #[error("response {status} refused: the transaction already sent its final response")]
    ResponseAfterFinal { status: u16 },
    /// The request's top Via has no RFC 3261 branch (`z9hG4bK...`).
    #[error("the top Via has no RFC 3261 branch")]
    MissingBranch,
    /// ACK is not sent in a client transaction: use `send_stateless`.
    #[error("an ACK is not a transaction; send it with send_stateless")]
    AckIsNotATransaction,
    /// A client transaction with this branch and method is already live.
    #[error("a client transaction with this branch and method already exists")]
    DuplicateTransaction,
}
