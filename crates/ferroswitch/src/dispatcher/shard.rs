//! The dispatcher as one of several core shards (`shards.rs`, docs/architecture.md "Core shards"):
//! a datagram of another shard's transaction or dialog goes there, a publication made here is
//! known to the other shards (`shards::tee_publications`) and theirs here, and a REGISTER on
//! its login's shard reaches a call parked on another.

use super::*;
use crate::transport::Inbound;

/// How long a shard may hold an INVITE transaction it kept where it landed: the longest a
/// call rings (`calls.call_timeout` is at most 600 s; a parked call's push timeout is shorter)
/// and then 64·T1 of Completed or Accepted, with room to spare.
const KEPT_FOR: Duration = Duration::from_secs(15 * 60);

/// What becomes of a datagram read here ([`Dispatcher::landing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landing {
    /// Handed to its owner unparsed (or dropped with the owner's queue full).
    Handed,
    /// This shard's for sure (one shard, or a response the kernel steered here by our
    /// branch): parsed and kept without the owner check.
    Mine,
    /// Parsed here, then kept or handed by the owner the parse finds.
    Parse,
}

impl Dispatcher {
    /// A datagram read here, or handed over by the shard that read it: to the transaction
    /// layer when this shard owns it (after the edge's checks), else to its owner.
    pub(super) fn datagram(&mut self, now: Instant, inbound: Inbound) {
        if let Some(inbound) = self.owned(now, inbound, false) {
            self.owned_message(now, inbound);
        }
    }

    /// A datagram read here: handed to its owner unparsed, or parsed and then, unless the
    /// steering found it this shard's for sure, checked as [`Self::datagram`] checks it.
    pub(super) fn datagram_read(
        &mut self,
        now: Instant,
        listener: usize,
        sock: &UdpSocket,
        local: SocketAddr,
        data: &[u8],
        remote: SocketAddr,
    ) {
        let landing = self.landing(now, listener, data, remote);
        if landing == Landing::Handed {
            return;
        }
        let Some(inbound) = crate::transport::accept_datagram(sock, local, data, remote) else {
            return;
        };
        if landing == Landing::Mine {
            self.owned_message(now, inbound);
        } else if let Some(inbound) = self.owned(now, inbound, true) {
            self.owned_message(now, inbound);
        }
    }

    /// Whether `msg`, which landed on this shard's socket and whose key names another shard,
    /// stays here: an INVITE or a CANCEL keyed by its Call-ID (no To tag, no `Replaces`) that
    /// an INVITE transaction here matches (a retransmission, its CANCEL), or, while the shards
    /// are merged on one task, a new INVITE: its call then lives here, one core doing all the
    /// work anyway, and takes no hop (the hand-off and the other shard's loop turn cost about
    /// as much as the rest of two shards' price on one core: docs/benchmarks.md, "Shards,
    /// session 14"). Everything else of the call finds this shard by the tokens it makes (our
    /// To tag, our branches, the Contacts' `;shard`, and a pick-up's `Replaces` by the parked
    /// dialog's Call-ID, one this shard made: `shard::key`); its retransmissions and its
    /// CANCEL come from the same 4-tuple, which the kernel hashes to this socket again, and
    /// find the transaction here (while split, such datagrams are parsed here, not handed over
    /// unparsed, until `kept_until`: `landing`).
    ///
    /// No new INVITE is kept for 64·T1 after this shard last saw the shards split: one it
    /// handed to its Call-ID's shard then could still be retransmitted, and must reach the
    /// transaction there.
    fn kept_where_landed(&mut self, now: Instant, msg: &Message) -> bool {
        let invite = match msg.method() {
            Some(Method::Invite) => true,
            Some(Method::Cancel) => false,
            _ => return false,
        };
        if msg.to_tag().is_some() {
            return false;
        }
        // keyed by its Call-ID: not an INVITE with Replaces (the replaced dialog's shard)
        match (sip_message::shard::key(msg), msg.call_id()) {
            (Some(key), Some(call_id)) if std::ptr::eq(key, call_id) => {}
            _ => return false,
        }
        let grace = self.tx.config().t1 * 64;
        if let Some(s) = &mut self.siblings {
            if invite
                && s.merged.load(std::sync::atomic::Ordering::Relaxed)
                && s.keeping
                    .split_seen
                    .is_none_or(|t| now.saturating_duration_since(t) >= grace)
            {
                // new or a retransmission, it stays (without the transaction lookup: the
                // Via's parse is ~3,500 instructions)
                s.keeping.kept_until = Some(now + KEPT_FOR);
                crate::metrics::sip::kept_where_landed();
                return true;
            }
        }
        self.tx.holds_invite(msg)
    }

    /// Challenges an INVITE or a REGISTER without credentials that another shard owns here,
    /// where it landed, instead of handing it over (`true`: answered, or dropped for a
    /// throttled source). No transaction exists anywhere for it (the owner would answer with
    /// `respond_and_forget` or statelessly too), the nonce is good on every shard (one
    /// `NonceKeeper`), and the challenge's To tag names this shard (`Registrar::challenge`),
    /// so the ACK of a 407, which comes from the same 4-tuple and so to this shard's socket,
    /// is this shard's to drop too: a challenged call's first INVITE and its ACK, and a
    /// REGISTER cycle's first REGISTER, take no hop. Not with `[cluster]`, whose relay of a
    /// pick-up comes before any challenge (`owned_message`).
    fn challenged_where_landed(&mut self, now: Instant, inbound: &Inbound) -> bool {
        if self.cluster.is_some() {
            return false;
        }
        let Some(kind) = self.challengeable(&inbound.msg, &inbound.from) else {
            return false;
        };
        if self.admits(now, &inbound.msg, &inbound.from) {
            self.challenge_statelessly(now, &inbound.msg, &inbound.from, kind);
        }
        true
    }

    /// A message of this shard's: to the transaction layer, after the edge's checks.
    pub(super) fn owned_message(&mut self, now: Instant, Inbound { msg, from }: Inbound) {
        if self.cluster_relayed(now, &msg, &from) {
            return;
        }
        if !self.admits(now, &msg, &from) {
            return;
        }
        if self.challenged_statelessly(now, &msg, &from) {
            return;
        }
        self.tx.handle_message(now, msg, from);
        self.drain(now);
    }

    /// Datagrams that other shards read and handed over unparsed (counted by their flood
    /// guards), each on this shard's socket of the listener it came in on.
    pub(super) fn handed_datagrams(
        &mut self,
        now: Instant,
        udp: &[Arc<UdpSocket>],
        locals: &[SocketAddr],
        datagrams: &mut Vec<crate::shards::Datagram>,
    ) {
        for d in datagrams.drain(..) {
            let (Some(sock), Some(&local)) = (udp.get(d.listener), locals.get(d.listener)) else {
                continue;
            };
            if let Some(inbound) =
                crate::transport::accept_datagram_bytes(sock, local, d.data, d.remote)
            {
                self.datagram(now, inbound);
            }
        }
    }

    /// What becomes of the datagram read on UDP listener `listener`, before any parse: handed
    /// to its owner when its raw bytes name another shard ([`Landing::Handed`], or dropped
    /// with a full queue), else parsed here, kept at once when the steering says it is this
    /// shard's response ([`Landing::Mine`]). While the shards are merged on one task only the
    /// steering twin's reading counts: what it does not name is parsed here.
    fn landing(
        &mut self,
        now: Instant,
        listener: usize,
        data: &[u8],
        remote: SocketAddr,
    ) -> Landing {
        let merged = match &mut self.siblings {
            None => return Landing::Mine,
            Some(s) => {
                let merged = s.merged.load(std::sync::atomic::Ordering::Relaxed);
                if !merged {
                    s.keeping.split_seen = Some(now);
                }
                merged
            }
        };
        let Some(s) = &self.siblings else {
            return Landing::Mine;
        };
        let hand = |owner: usize| {
            s.net.hand_datagram(
                owner,
                crate::shards::Datagram {
                    data: bytes::Bytes::copy_from_slice(data),
                    remote,
                    listener,
                },
            );
            Landing::Handed
        };
        // What the kernel's steering program names (a response by our branch, an in-dialog
        // request by our Contact's `shard`: `steer.rs`) is read without the longer scan below
        // (~3,000 instructions a datagram, most of a call's datagrams). Named here, it is this
        // shard's to parse; for a response both read the same bytes of the same branch
        // (`shard::token_low_bits`), so the parse's check is skipped too, while for a request
        // the check after the parse still has the last word, as for any datagram. Named
        // elsewhere (the steering is off, `udp_steering = false`, or the kernel hashed it), it
        // goes there, and its owner checks it after its parse as any hand-off.
        match sip_message::steer::native(data, s.count()) {
            Some(owner) if owner == s.index => {
                return if data.starts_with(b"SIP/") {
                    Landing::Mine
                } else {
                    Landing::Parse
                };
            }
            Some(owner) => return hand(owner),
            None => {}
        }
        // Merged on one task, the owner would parse it on this core too: parsed here, and
        // handed over parsed if another's (the scans below cost more than that hand-off).
        if merged {
            return Landing::Parse;
        }
        // An INVITE or a CANCEL may be of an INVITE transaction this shard kept while merged
        // (`kept_where_landed`): parsed here while there may be any.
        if s.keeping.kept_until.is_some_and(|t| now < t)
            && (data.starts_with(b"INVITE ") || data.starts_with(b"CANCEL "))
        {
            return Landing::Parse;
        }
        // An INVITE or a REGISTER without credentials is parsed where it landed, to be
        // challenged here (`challenged_where_landed`). One with credentials, or an INVITE of a
        // trusted peer, goes to its owner unparsed as below: the parse is the owner's work,
        // which keeps the shards even when one source's datagrams all land on one shard
        // (SIPp, or an SBC in front).
        if self.cluster.is_none()
            && (data.starts_with(b"REGISTER ")
                || (data.starts_with(b"INVITE ") && !self.trusted_address(remote)))
            && !sip_message::shard::may_carry_credentials(data)
        {
            return Landing::Parse;
        }
        match sip_message::shard::peek_owner(data, s.count()) {
            Some(owner) if owner != s.index => hand(owner),
            _ => Landing::Parse,
        }
    }

    /// `inbound` when this shard owns it, or when it `landed` on this shard's socket and stays
    /// here all the same (`kept_where_landed`); otherwise `None`: it is handed to its owner (or,
    /// an INVITE or REGISTER without credentials, challenged here: `challenged_where_landed`).
    /// The owner found by the parse has the last word: a datagram handed over unparsed is
    /// checked again here.
    pub(super) fn owned(
        &mut self,
        now: Instant,
        inbound: Inbound,
        landed: bool,
    ) -> Option<Inbound> {
        let Some(s) = &self.siblings else {
            return Some(inbound);
        };
        let owner = s.net.owner(&inbound.msg);
        if owner == s.index {
            return Some(inbound);
        }
        if self.challenged_where_landed(now, &inbound) {
            return None;
        }
        if landed && self.kept_where_landed(now, &inbound.msg) {
            return Some(inbound);
        }
        if let Some(s) = &self.siblings {
            s.net.hand(owner, inbound);
        }
        None
    }

    /// Call `id` ran out of credit: hung up here if it is this shard's, else on its shard.
    pub(super) fn credit_cut(&mut self, now: Instant, id: u64) {
        if let Some(s) = &self.siblings {
            let owner = b2bua::shard_of_call(id, s.count());
            if owner != s.index {
                let _ = s.inputs[owner].send(Input::CreditCut(id));
                return;
            }
        }
        let mut out = TxOut {
            tx: &mut self.tx,
            tu: Tu::Calls,
            now,
        };
        self.calls.hang_up_for_credit(now, id, &mut out);
    }

    /// A stable To tag for a response this shard makes up for `msg`
    /// (`Message::stable_tag_for`): it names this shard, which holds the request's transaction
    /// (a shard may keep an INVITE whose key names another: `kept_where_landed`), so the ACK of
    /// a refused INVITE, routed by its To tag, comes back here.
    pub(super) fn answer_tag(&self, msg: &Message) -> String {
        let index = self.siblings.as_ref().map_or(0, |s| s.index);
        msg.stable_tag_for(index, self.shard_count())
    }

    /// How many core shards the server runs (1 without siblings).
    pub(super) fn shard_count(&self) -> usize {
        self.siblings.as_ref().map_or(1, |s| s.count())
    }

    /// A call parked here waits for `login`: a REGISTER on another shard must say so here.
    pub(super) fn awaits_elsewhere(&self, login: &str) {
        if let Some(s) = &self.siblings {
            s.awaited.mark(login, s.index);
        }
    }

    /// A binding of `login` changed here: the shards where a call waits for it are told.
    pub(super) fn tell_waiting_shards(&self, login: &str, binding: &registrar::Binding) {
        let Some(s) = &self.siblings else {
            return;
        };
        for other in s.awaited.others(login, s.index) {
            let _ = s.inputs[other].send(Input::Registered {
                login: login.to_owned(),
                binding: Box::new(binding.clone()),
            });
        }
    }

    /// Another shard saw `login` register `binding`: a call parked here forks to it.
    pub(super) fn sibling_registered(
        &mut self,
        now: Instant,
        login: &str,
        binding: registrar::Binding,
    ) {
        if self.calls.awaits_registration(login) {
            self.registered_for_call(now, login, &binding);
        }
        if !self.calls.awaits_registration(login) {
            if let Some(s) = &self.siblings {
                s.awaited.unmark(login, s.index);
            }
        }
    }

    /// Another shard's publication changed: kept as a remote one, watchers here notified.
    pub(super) fn sibling_publication(&mut self, now: Instant, change: store::PublicationChange) {
        let (rows, gone) = match change {
            store::PublicationChange::Upsert { row, replaces } => {
                (vec![row], replaces.into_iter().collect::<Vec<_>>())
            }
            store::PublicationChange::Remove { etag, .. } => (Vec::new(), vec![etag]),
        };
        self.presence.remote(&mut self.tx, now, rows, &gone);
    }
}
