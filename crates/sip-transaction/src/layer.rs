//! [`TransactionLayer`]: the transaction index, the timer table, the output queues, and the
//! dispatch of inputs to the machines.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use sip_message::{Ids, Message, Method, Peer, Token};
use tracing::{debug, debug_span, trace};

use crate::key::{ClientKey, Fingerprinter, Fp, FpMap, ServerKey, TxId, MAGIC_COOKIE};
use crate::server::layer_response;
use crate::slab::Slab;
use crate::timer::{Entry, TimerKind, TimerTable};
use crate::transaction::{
    ClientInvite, ClientNonInvite, Fate, Machine, Out, ServerInvite, ServerNonInvite, Transaction,
};
use crate::{Event, TimerConfig, Transmit, TxError};

/// The RFC 3261 §17 transaction layer: server and client transactions of one shard, driven
/// by messages and time, with no I/O of its own. See the [crate docs](crate) for the machines
/// and the polling order.
#[derive(Debug)]
pub struct TransactionLayer {
    cfg: TimerConfig,
    txs: Slab,
    /// Matching fingerprint → transaction (client and server keys live in separate domains).
    index: FpMap<TxId>,
    /// Merged-request fingerprint → the server transaction still handling that request.
    merging: FpMap<TxId>,
    timers: TimerTable,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    fps: Fingerprinter,
    /// Branches and tags of the TU's requests and the layer's own answers.
    ids: Ids,
}

/// The output context for transaction `$id`, borrowing the layer's fields one by one so that
/// the transaction itself can be borrowed from `txs` at the same time.
macro_rules! out {
    ($layer:ident, $now:expr, $id:expr) => {
        Out {
            now: $now,
            cfg: &$layer.cfg,
            id: $id,
            timers: &mut $layer.timers,
            transmits: &mut $layer.transmits,
            events: &mut $layer.events,
        }
    };
}

/// The status code of a response's status line (`SIP/2.0 NNN ...`), without parsing the rest.
fn status_code(response: &[u8]) -> Option<u16> {
    let line = response.get(..12)?;
    if !line[..8].eq_ignore_ascii_case(b"SIP/2.0 ") || !matches!(line[11], b' ' | b'\r' | b'\n') {
        return None;
    }
    let digits = &line[8..11];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    (100..=699).contains(&code).then_some(code)
}

impl TransactionLayer {
    /// A layer whose branch and tag generator is keyed from the process' random keys.
    pub fn new(cfg: TimerConfig) -> Self {
        Self::with_ids(cfg, Ids::random())
    }

    /// A layer whose branch and tag generator starts from `seed` (deterministic tests).
    pub fn with_seed(cfg: TimerConfig, seed: u64) -> Self {
        Self::with_ids(cfg, Ids::new(seed))
    }

    fn with_ids(cfg: TimerConfig, ids: Ids) -> Self {
        Self {
            cfg,
            txs: Slab::default(),
            index: FpMap::default(),
            merging: FpMap::default(),
            timers: TimerTable::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            fps: Fingerprinter::new(),
            ids,
        }
    }

    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    /// Makes this layer shard `index` of `count` (`sip_message::shard`): the branches and
    /// tags it makes hash back to `index`, so their responses and in-dialog requests are routed
    /// to it.
    pub fn set_shard(&mut self, index: usize, count: usize) {
        self.ids.set_shard(index, count);
    }

    /// A fresh RFC 3261 branch (`z9hG4bK` + 16 hex digits), unique within this layer.
    pub fn new_branch(&mut self) -> Token {
        self.ids.branch()
    }

    /// A fresh To/From tag (16 hex digits), unique within this layer.
    pub fn new_tag(&mut self) -> Token {
        self.ids.tag()
    }

    /// Live transactions, all four kinds (for metrics).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.len() == 0
    }

    /// Entries in the timer table, including cancelled ones not yet reaped (for metrics).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Whether an INVITE server transaction here matches `msg`: the one a retransmitted
    /// INVITE would be absorbed by, or the one a CANCEL would cancel (same top Via). For the
    /// core shards: a shard that took an INVITE another shard's key names keeps what else
    /// belongs to its transaction.
    pub fn holds_invite(&self, msg: &Message) -> bool {
        let Ok(via) = msg.top_via() else {
            return false;
        };
        self.fps
            .server(msg, &via, &Method::Invite)
            .and_then(|fp| self.index.get(&fp))
            .and_then(|&id| self.txs.get(id))
            .is_some_and(|tx| matches!(tx.machine, Machine::ServerInvite(_)))
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A message from the network, already parsed and sanity-checked by the caller. Requests
    /// create or match server transactions; responses match client transactions (or are
    /// dropped). A message without the fields matching needs is dropped.
    pub fn handle_message(&mut self, now: Instant, msg: Message, from: Peer) {
        if msg.is_request() {
            self.handle_request(now, msg, from);
        } else {
            self.handle_response(now, msg, from);
        }
        self.reap_timers();
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Entry { at, id, kind }) = self.timers.pop_due(now) {
            let Some(tx) = self.txs.get_mut(id) else {
                continue;
            };
            if !tx.is_armed(at, kind) {
                continue;
            }
            tx.disarm(kind);
            let mut out = out!(self, now, id);
            let fate = if tx.machine.is_server() {
                tx.on_server_timer(&mut out, kind)
            } else {
                tx.on_client_timer(&mut out, kind)
            };
            if fate == Fate::Terminate {
                self.terminate(id);
            }
        }
        self.reap_timers();
    }

    /// The TU answers a server transaction with a provisional or final response, built with
    /// `MessageBuilder::response_to(&request, code, to_tag, Some(from.remote))` so that the
    /// top Via carries `received`/`rport` (RFC 3581). The layer sends it to the peer the
    /// request came from (same source address and port, same connection) and keeps it for
    /// retransmission as the machine requires. After a 2xx to an INVITE, further 2xx
    /// (retransmissions by the TU) pass through until Timer L.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &ServerKey,
        response: Bytes,
    ) -> Result<(), TxError> {
        let code = status_code(&response).ok_or(TxError::NotAResponse)?;
        self.respond_id(now, key.0, code, response)?;
        self.reap_timers();
        Ok(())
    }

    fn respond_id(
        &mut self,
        now: Instant,
        id: TxId,
        code: u16,
        response: Bytes,
    ) -> Result<(), TxError> {
        let tx = self
            .txs
            .get_mut(id)
            .filter(|tx| tx.machine.is_server())
            .ok_or(TxError::NoSuchTransaction)?;
        let mut out = out!(self, now, id);
        let fate = tx.on_respond(&mut out, code, response)?;
        // A request with a final response is no longer "being handled" (RFC 3261 §8.2.2.2).
        if tx.machine.final_sent() {
            if let Some(mfp) = tx.merge_fp.take() {
                if self.merging.get(&mfp) == Some(&id) {
                    self.merging.remove(&mfp);
                }
            }
        }
        if fate == Fate::Terminate {
            self.terminate(id);
        }
        Ok(())
    }

    /// Answers a server transaction with a final response and ends the transaction at once,
    /// keeping nothing for retransmissions (Kamailio's `sl_send_reply`): a retransmitted
    /// request then arrives as a new request. For answers that are cheap and safe to compute
    /// again, such as a digest challenge, this saves the 64·T1 of state that Timer J would hold
    /// on UDP. An INVITE may be answered so with a non-2xx only (a 2xx is the dialog's); the
    /// ACK to that answer then matches no transaction and reaches the TU as [`Event::Ack`],
    /// and nothing is retransmitted to an address that may be spoofed.
    pub fn respond_and_forget(&mut self, key: &ServerKey, response: Bytes) -> Result<(), TxError> {
        let code = status_code(&response).ok_or(TxError::NotAResponse)?;
        if code < 200 {
            return Err(TxError::NotAResponse);
        }
        let to = self
            .txs
            .get(key.0)
            .filter(|tx| match tx.machine {
                Machine::ServerNonInvite(_) => true,
                Machine::ServerInvite(ServerInvite::Proceeding) => code >= 300,
                _ => false,
            })
            .map(|tx| tx.peer)
            .ok_or(TxError::NoSuchTransaction)?;
        self.transmits.push_back(Transmit {
            to,
            payload: response,
        });
        self.terminate(key.0);
        self.reap_timers();
        Ok(())
    }

    /// Starts a client transaction for a request the TU built, whose top Via carries a fresh
    /// branch ([`Self::new_branch`]). The layer sends it to `to` and retransmits it on
    /// unreliable transports. A CANCEL is its own transaction (same branch as the INVITE it
    /// cancels); an ACK is not a transaction: use [`Self::send_stateless`].
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Message,
        to: Peer,
    ) -> Result<ClientKey, TxError> {
        let method = request.method().ok_or(TxError::NotARequest)?.clone();
        if method == Method::Ack {
            return Err(TxError::AckIsNotATransaction);
        }
        let (fp, invite_fp, _span) = {
            let via = request.top_via().map_err(|_| TxError::MissingBranch)?;
            let branch = via
                .branch()
                .filter(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
                .ok_or(TxError::MissingBranch)?;
            let invite_fp =
                (method == Method::Cancel).then(|| self.fps.client(&Method::Invite, branch));
            let call_id = request.call_id().unwrap_or("");
            let span = debug_span!("client_tx", %method, branch, call_id).entered();
            (self.fps.client(&method, branch), invite_fp, span)
        };
        if self.index.contains_key(&fp) {
            return Err(TxError::DuplicateTransaction);
        }
        let machine = if method == Method::Invite {
            Machine::ClientInvite {
                state: ClientInvite::Calling,
                cancelled: false,
            }
        } else {
            Machine::ClientNonInvite(ClientNonInvite::Trying)
        };
        let id = self
            .txs
            .insert(Transaction::new(machine, fp, to, request.to_bytes()));
        self.index.insert(fp, id);
        debug!(%id, "client transaction started");
        let mut out = out!(self, now, id);
        if let Some(tx) = self.txs.get_mut(id) {
            tx.start_client(&mut out);
        }
        if let Some(invite) = invite_fp.and_then(|f| self.index.get(&f).copied()) {
            let mut out = out!(self, now, invite);
            if let Some(tx) = self.txs.get_mut(invite) {
                tx.on_cancel_sent(&mut out);
            }
        }
        self.reap_timers();
        Ok(ClientKey(id))
    }

    /// Sends something outside any transaction: the ACK for a 2xx, a stateless response.
    pub fn send_stateless(&mut self, payload: Bytes, to: Peer) {
        self.transmits.push_back(Transmit { to, payload });
    }

    /// The transport could not send `sent` (no open connection to the peer, a failed
    /// connection or a refused datagram). A client transaction whose request it was, still
    /// waiting for a final response, ends now and the TU gets [`Event::TransportError`]
    /// (RFC 3261 §8.1.3.1, §18.4: as a 503, at once instead of at Timer B/F). Returns the
    /// transaction that ended; a response or an ACK that failed changes nothing.
    pub fn handle_send_error(&mut self, sent: &Transmit) -> Option<ClientKey> {
        let msg = Message::parse(sent.payload.clone()).ok()?;
        let method = msg.method()?.clone();
        if method == Method::Ack {
            return None;
        }
        let fp = {
            let via = msg.top_via().ok()?;
            let branch = via.branch()?;
            self.fps.client(&method, branch)
        };
        let id = *self.index.get(&fp)?;
        let tx = self.txs.get(id)?;
        let waiting = match tx.machine {
            Machine::ClientInvite { state, .. } => {
                matches!(state, ClientInvite::Calling | ClientInvite::Proceeding)
            }
            Machine::ClientNonInvite(state) => {
                matches!(state, ClientNonInvite::Trying | ClientNonInvite::Proceeding)
            }
            _ => false,
        };
        if !waiting {
            return None;
        }
        debug!(%id, %method, peer = %sent.to, "send failed: the client transaction ends as a 503");
        let key = ClientKey(id);
        self.terminate(id);
        self.events.push_back(Event::TransportError { key });
        self.reap_timers();
        Some(key)
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next datagram or stream write to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next thing the TU must know.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest timer deadline: call [`Self::handle_timeout`] then. Cancelled timers are
    /// reaped after every input, so this is a live timer; `None` when no timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|e| e.at)
    }

    // ----- internals ----------------------------------------------------------------------

    fn terminate(&mut self, id: TxId) {
        let Some(tx) = self.txs.remove(id) else {
            return;
        };
        if self.index.get(&tx.fp) == Some(&id) {
            self.index.remove(&tx.fp);
        }
        if let Some(mfp) = tx.merge_fp {
            if self.merging.get(&mfp) == Some(&id) {
                self.merging.remove(&mfp);
            }
        }
        trace!(%id, "transaction terminated");
    }

    /// Drops cancelled entries from the top of the timer table, so that
    /// [`Self::poll_timeout`] reports a live deadline as often as possible.
    fn reap_timers(&mut self) {
        let txs = &self.txs;
        self.timers
            .reap(|e| txs.get(e.id).is_some_and(|tx| tx.is_armed(e.at, e.kind)));
    }

    fn insert_server(&mut self, machine: Machine, fp: Fp, peer: Peer) -> TxId {
        let id = self
            .txs
            .insert(Transaction::new(machine, fp, peer, Bytes::new()));
        self.index.insert(fp, id);
        id
    }

    /// A server transaction the layer answers itself (481, 482, 200 to CANCEL).
    fn answer_by_layer(
        &mut self,
        now: Instant,
        invite: bool,
        fp: Fp,
        from: Peer,
        code: u16,
        response: Bytes,
    ) {
        let machine = if invite {
            Machine::ServerInvite(ServerInvite::Proceeding)
        } else {
            Machine::ServerNonInvite(ServerNonInvite::Trying)
        };
        let id = self.insert_server(machine, fp, from);
        if let Some(tx) = self.txs.get_mut(id) {
            tx.by_layer = true;
        }
        if let Err(e) = self.respond_id(now, id, code, response) {
            debug!(%e, "layer response not sent");
        }
    }

    fn handle_request(&mut self, now: Instant, msg: Message, from: Peer) {
        let Some(method) = msg.method().cloned() else {
            return;
        };
        // Matching keys, computed while the top Via is borrowed from the message.
        let (keys, _span) = {
            let via = match msg.top_via() {
                Ok(v) => v,
                Err(e) => {
                    debug!(%e, %from, "request without a usable top Via dropped");
                    return;
                }
            };
            let span = debug_span!(
                "server_tx",
                %method,
                branch = via.branch().unwrap_or(""),
                call_id = msg.call_id().unwrap_or("")
            )
            .entered();
            let own = match method {
                Method::Ack => Method::Invite,
                ref m => m.clone(),
            };
            let fp = self.fps.server(&msg, &via, &own);
            let invite_fp = match method {
                Method::Cancel => self.fps.server(&msg, &via, &Method::Invite),
                _ => None,
            };
            (fp.map(|fp| (fp, invite_fp)), span)
        };
        let Some((fp, invite_fp)) = keys else {
            debug!(%from, "request without the fields transaction matching needs dropped");
            return;
        };
        match method {
            Method::Ack => self.handle_ack(now, fp, msg, from),
            Method::Cancel => self.handle_cancel(now, fp, invite_fp, msg, from),
            _ => self.handle_new_or_retransmitted(now, fp, method, msg, from),
        }
    }

    fn handle_ack(&mut self, now: Instant, fp: Fp, msg: Message, from: Peer) {
        match self.index.get(&fp).copied() {
            Some(id) => {
                let mut out = out!(self, now, id);
                let fate = match self.txs.get_mut(id) {
                    Some(tx) if matches!(tx.machine, Machine::ServerInvite(_)) => {
                        tx.on_ack(&mut out, msg, from)
                    }
                    _ => Fate::Keep,
                };
                if fate == Fate::Terminate {
                    self.terminate(id);
                }
            }
            // The ACK for a 2xx (own branch) belongs to the dialog.
            None => self.events.push_back(Event::Ack { request: msg, from }),
        }
    }

    fn handle_cancel(
        &mut self,
        now: Instant,
        fp: Fp,
        invite_fp: Option<Fp>,
        msg: Message,
        from: Peer,
    ) {
        if let Some(id) = self.index.get(&fp).copied() {
            return self.retransmission(now, id);
        }
        let invite = invite_fp
            .and_then(|f| self.index.get(&f).copied())
            .and_then(|id| self.txs.get(id).map(|tx| (id, tx)))
            .and_then(|(id, tx)| match tx.machine {
                Machine::ServerInvite(state) => Some((id, state, tx.stored.clone())),
                _ => None,
            });
        match invite {
            Some((id, state, last_response)) => {
                // RFC 3261 §9.2: the To tag of the 200 should be that of the INVITE's responses.
                let tag = Message::parse(last_response)
                    .ok()
                    .and_then(|r| r.to_header().ok().and_then(|t| t.tag().map(str::to_owned)))
                    .unwrap_or_else(|| self.new_tag().into());
                let ok = layer_response(&msg, 200, Some(&tag), &from);
                self.answer_by_layer(now, false, fp, from, 200, ok);
                if state == ServerInvite::Proceeding {
                    debug!(invite = %id, "CANCEL for a pending INVITE");
                    self.events.push_back(Event::Cancelled {
                        invite: ServerKey(id),
                        cancel: msg,
                    });
                }
            }
            None => {
                debug!(%from, "CANCEL matches no transaction: 481");
                let tag = self.new_tag();
                let resp = layer_response(&msg, 481, Some(&tag), &from);
                self.answer_by_layer(now, false, fp, from, 481, resp);
            }
        }
    }

    fn retransmission(&mut self, now: Instant, id: TxId) {
        let mut out = out!(self, now, id);
        if let Some(tx) = self.txs.get_mut(id) {
            if tx.machine.is_server() {
                let _ = tx.on_request_retransmission(&mut out);
            }
        }
    }

    fn handle_new_or_retransmitted(
        &mut self,
        now: Instant,
        fp: Fp,
        method: Method,
        msg: Message,
        from: Peer,
    ) {
        if let Some(id) = self.index.get(&fp).copied() {
            return self.retransmission(now, id);
        }
        let invite = method == Method::Invite;
        // Merged requests (RFC 3261 §8.2.2.2): only out-of-dialog requests are checked.
        let no_to_tag = msg.to_tag().is_none();
        let merge_fp = if no_to_tag {
            self.fps.merge(&msg)
        } else {
            None
        };
        if let Some(mfp) = merge_fp {
            if self.merging.contains_key(&mfp) {
                debug!(%from, %method, "merged request: 482");
                let tag = self.new_tag();
                let resp = layer_response(&msg, 482, Some(&tag), &from);
                self.answer_by_layer(now, invite, fp, from, 482, resp);
                return;
            }
        }
        let machine = if invite {
            Machine::ServerInvite(ServerInvite::Proceeding)
        } else {
            Machine::ServerNonInvite(ServerNonInvite::Trying)
        };
        let id = self.insert_server(machine, fp, from);
        if let Some(mfp) = merge_fp {
            self.merging.insert(mfp, id);
        }
        let trying = invite.then(|| layer_response(&msg, 100, None, &from));
        let guard = self.cfg.t1 * 64;
        let mut out = out!(self, now, id);
        if let Some(tx) = self.txs.get_mut(id) {
            tx.merge_fp = merge_fp;
            match trying {
                // RFC 3261 §17.2.1: 100 Trying right away, and kept as the last provisional.
                Some(trying) => {
                    tx.stored = trying;
                    tx.resend(&mut out);
                }
                None => tx.arm_expire(&mut out, TimerKind::TuGuard, guard),
            }
        }
        trace!(%id, %method, "new server transaction");
        self.events.push_back(Event::Request {
            key: ServerKey(id),
            request: msg,
            from,
        });
    }

    fn handle_response(&mut self, now: Instant, msg: Message, from: Peer) {
        let fp = {
            let Ok(cseq) = msg.cseq() else { return };
            let Some(branch) = msg.top_branch() else {
                debug!(%from, "response without a branch dropped");
                return;
            };
            self.fps.client(&cseq.method, branch)
        };
        let Some(id) = self.index.get(&fp).copied() else {
            debug!(%from, status = msg.status(), "response matches no transaction: dropped");
            return;
        };
        let mut out = out!(self, now, id);
        let Some(tx) = self.txs.get_mut(id) else {
            return;
        };
        if tx.on_response(&mut out, msg, from) == Fate::Terminate {
            self.terminate(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::status_code;

    #[test]
    fn status_codes() {
        assert_eq!(status_code(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"SIP/2.0 100 \r\n"), Some(100));
        assert_eq!(status_code(b"sip/2.0 486 Busy\r\n"), Some(486));
        assert_eq!(status_code(b"SIP/2.0 099 x\r\n"), None);
        assert_eq!(status_code(b"SIP/2.0 2000 x\r\n"), None);
        assert_eq!(status_code(b"INVITE sip:a SIP/2.0\r\n"), None);
        assert_eq!(status_code(b"SIP/2.0 20"), None);
    }
}
