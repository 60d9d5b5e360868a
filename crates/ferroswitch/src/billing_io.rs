//! The driver of the billing core (`billing::Credit`): the b2bua's [`CreditControl`], the
//! reservation rows and charges it queues for the writer, and the cut-off deadline the
//! dispatcher waits for.
//!
//! One `Credit` behind a `std::sync::Mutex`, shared by every core shard's dispatcher
//! (through the b2bua's hook, every rated call locks it for microseconds: an account's
//! parallel calls may be on different shards and draw on one balance) and the upkeep task
//! (ledger lines written by the operator, tariffs and accounts changed in storage, the
//! reservations' heartbeat). It is never locked across an `.await`. Its next cut-off deadline
//! is mirrored in an atomic ([`CreditHandle::poll_timeout`]) each time a lock is let go: each
//! shard reads it at every turn of its loop, without the lock.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use b2bua::{Cdr, CreditControl, CreditRefusal};
use billing::{Authorization, Charge, Credit, Reservation};
use tokio::sync::mpsc;

use crate::persist::Write;

/// The reservations' heartbeat: a crash is settled up to the last beat plus this.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

pub(crate) struct Inner {
    pub(crate) credit: Credit,
    /// The reservation row of each rated call in progress, by engine call id.
    rows: HashMap<u64, store::ReservationRow>,
    /// Charges of ended calls, by A-leg Call-ID, until their CDR goes to the writer.
    charges: HashMap<String, store::ChargeRow>,
    /// `Instant` → unix ms: the server's one epoch.
    epoch: sip_message::Epoch,
    node_id: String,
}

/// The shared billing core (cheap to clone).
#[derive(Clone)]
pub(crate) struct CreditHandle {
    inner: Arc<Mutex<Inner>>,
    next: Arc<NextDeadline>,
    writes: mpsc::UnboundedSender<Write>,
}

/// The credit core's next deadline, written while the lock is held (as a [`Locked`] guard
/// goes), read without it.
struct NextDeadline {
    base: Instant,
    /// Nanoseconds after `base`; `u64::MAX`: none.
    at: AtomicU64,
}

impl NextDeadline {
    fn set(&self, t: Option<Instant>) {
        let v = t.map_or(u64::MAX, |t| {
            u64::try_from(t.saturating_duration_since(self.base).as_nanos())
                .unwrap_or(u64::MAX - 1)
                .min(u64::MAX - 1)
        });
        self.at.store(v, Ordering::Release);
    }

    fn get(&self) -> Option<Instant> {
        match self.at.load(Ordering::Acquire) {
            u64::MAX => None,
            ns => Some(self.base + Duration::from_nanos(ns)),
        }
    }
}

/// The locked credit state; on drop (still under the lock) the next deadline is mirrored for
/// [`CreditHandle::poll_timeout`], whoever changed it (a call, the operator's ledger line, a
/// reload).
pub(crate) struct Locked<'a> {
    guard: MutexGuard<'a, Inner>,
    next: &'a NextDeadline,
}

impl Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.next.set(self.guard.credit.poll_timeout());
    }
}

impl CreditHandle {
    pub(crate) fn new(
        credit: Credit,
        node_id: String,
        epoch: sip_message::Epoch,
        writes: mpsc::UnboundedSender<Write>,
    ) -> Self {
        let next = NextDeadline {
            base: Instant::now(),
            at: AtomicU64::new(u64::MAX),
        };
        next.set(credit.poll_timeout());
        Self {
            inner: Arc::new(Mutex::new(Inner {
                credit,
                rows: HashMap::new(),
                charges: HashMap::new(),
                epoch,
                node_id,
            })),
            next: Arc::new(next),
            writes,
        }
    }

    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked {
            // a panic while holding it leaves consistent data (every update is one statement)
            guard: self.inner.lock().unwrap_or_else(|p| p.into_inner()),
            next: &self.next,
        }
    }

    /// When the next call must be cut: read without the lock (every shard asks at every turn
    /// of its loop).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next.get()
    }

    /// The calls to cut now, of every shard (hang each up on its shard with
    /// `Calls::hang_up_for_credit`, lock released). Every shard's timer waits for the same
    /// deadline; the first to come takes the calls.
    pub(crate) fn handle_timeout(&self, now: Instant) -> Vec<u64> {
        self.lock().credit.handle_timeout(now)
    }

    /// The charge of the call whose CDR this is, if it was rated and answered.
    pub(crate) fn take_charge(&self, call_id: &str) -> Option<store::ChargeRow> {
        self.lock().charges.remove(call_id)
    }
}

impl Inner {
    fn unix_ms(&self, t: Instant) -> u64 {
        self.epoch.wall(t)
    }
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The reservation row of a rated call.
pub(crate) fn reservation_row(
    node_id: &str,
    call_id: &str,
    r: &Reservation,
    start_ms: u64,
) -> store::ReservationRow {
    let q = &r.quote;
    store::ReservationRow {
        call_key: format!("{node_id}:{call_id}"),
        node_id: node_id.into(),
        call_id: call_id.into(),
        login: r.login.clone(),
        number: r.number.clone(),
        tariff_id: q.tariff,
        prefix: q.prefix.clone(),
        price_micros: q.price_per_min.micros(),
        fee_micros: q.connection_fee.micros(),
        inc_first: q.increments.first.into(),
        inc_next: q.increments.next.into(),
        min_duration: q.min_duration.into(),
        rounding_decimals: q.rounding.decimals.into(),
        rounding_mode: q.rounding.mode.to_string(),
        bundle_id: r.bundle.map(|(b, _)| b),
        bundle_seconds: r.bundle.map(|(_, s)| ms(s)),
        start_ms: ms(start_ms),
        answer_ms: None,
        max_ms: ms(r.max_ms),
        seen_ms: ms(start_ms),
    }
}

/// What is written with the CDR of a charged call.
pub(crate) fn charge_row(
    call_key: String,
    c: &Charge,
    at_ms: u64,
    kind: &'static str,
) -> store::ChargeRow {
    store::ChargeRow {
        call_key,
        login: c.login.clone(),
        cost_micros: c.cost.micros(),
        rate_micros: c.quote.price_per_min.micros(),
        tariff_prefix: c.quote.prefix.clone(),
        billed_seconds: ms(c.billed_seconds),
        bundle: c.bundle.map(|(b, s)| (b, ms(s))),
        at_ms: ms(at_ms),
        kind,
    }
}

impl CreditControl for CreditHandle {
    fn authorize(
        &mut self,
        now: Instant,
        call: u64,
        call_id: &str,
        caller: &str,
        number: &str,
        onnet: bool,
    ) -> Result<(), CreditRefusal> {
        let mut g = self.lock();
        let unix = g.unix_ms(now);
        match g.credit.authorize(now, unix, call, caller, number, onnet) {
            Ok(Authorization::Unrated) => Ok(()),
            Ok(Authorization::Rated(r)) => {
                tracing::debug!(call, %caller, %number, prefix = %r.quote.prefix, max_ms = r.max_ms, "call authorized");
                let row = reservation_row(&g.node_id, call_id, &r, unix);
                let _ = self.writes.send(Write::Reservation(row.clone()));
                g.rows.insert(call, row);
                Ok(())
            }
            Err(e) => {
                tracing::info!(call, %caller, %number, "call refused: {e}");
                Err(CreditRefusal {
                    status: e.status(),
                    reason: e.reason(),
                })
            }
        }
    }

    fn answered(&mut self, now: Instant, call: u64) {
        let mut g = self.lock();
        let deadline = g.credit.answered(now, call);
        let unix = g.unix_ms(now);
        if let Some(row) = g.rows.get_mut(&call) {
            row.answer_ms = Some(ms(unix));
            row.seen_ms = ms(unix);
            let _ = self.writes.send(Write::Reservation(row.clone()));
            tracing::debug!(call, in_ms = ?deadline.map(|d| d.saturating_duration_since(now).as_millis()), "rated call answered");
        }
    }

    fn ended(&mut self, now: Instant, call: u64, cdr: &Cdr) {
        let mut g = self.lock();
        let Some(charge) = g.credit.ended(now, call, cdr.duration_ms()) else {
            return;
        };
        let Some(row) = g.rows.remove(&call) else {
            return;
        };
        if cdr.answer_ms.is_none() {
            // never answered: nothing to charge, the hold goes
            let _ = self.writes.send(Write::ReleaseReservation(row.call_key));
            return;
        }
        tracing::info!(call, caller = %charge.login, cost = %charge.cost, billed_s = charge.billed_seconds, cut = charge.cut, "call charged");
        let at = cdr.end_ms;
        let c = charge_row(row.call_key, &charge, at, "call");
        g.charges.insert(cdr.call_id.clone(), c);
    }
}

/// The billing writes of one writer batch, applied in order: reservation rows, released
/// reservations, then rated CDRs with their charges (one transaction). Each part is cleared
/// once written, so a retry never writes a row twice.
#[derive(Default)]
pub(crate) struct Batch {
    reservations: Vec<store::ReservationRow>,
    releases: Vec<String>,
    rated: Vec<(store::CdrRow, store::ChargeRow)>,
}

impl Batch {
    pub(crate) fn push(&mut self, w: Write, node_id: &str) {
        match w {
            Write::Reservation(r) => {
                // the answer rewrites the authorization's row: keep the last of each call
                self.reservations.retain(|o| o.call_key != r.call_key);
                self.reservations.push(r);
            }
            Write::ReleaseReservation(k) => {
                self.reservations.retain(|o| o.call_key != k);
                self.releases.push(k);
            }
            Write::RatedCdr(b) => {
                let (cdr, charge) = *b;
                self.rated
                    .push((crate::records::cdr_row(&cdr, node_id), charge));
            }
            _ => {}
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.reservations.len() + self.releases.len() + self.rated.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    pub(crate) async fn apply(&mut self, store: &store::Store) -> Result<(), store::StoreError> {
        if !self.reservations.is_empty() {
            store.put_reservations(&self.reservations).await?;
            self.reservations.clear();
        }
        while let Some(k) = self.releases.first() {
            store.release_reservation(k).await?;
            self.releases.remove(0);
        }
        if !self.rated.is_empty() {
            store.insert_rated_cdrs(&self.rated).await?;
            self.rated.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing::{Account, AccountKind, Money, Tariff, TariffRow};

    /// alice, prepaid with `balance`, at 0.60 a minute (0.01 a second) to 44.
    fn credit(balance: &str, now: Instant) -> Credit {
        let mut c = Credit::new(Duration::from_secs(3600));
        c.set_tariff(Tariff::new(
            1,
            "retail",
            "EUR",
            vec![TariffRow {
                prefix: "44".into(),
                description: "UK".into(),
                iso: None,
                price_per_min: "0.60".parse().unwrap(),
                connection_fee: Money::ZERO,
                increments: "1/1".parse().unwrap(),
                min_duration: 0,
                bands: Vec::new(),
            }],
        ));
        c.set_account(
            now,
            Account {
                login: "alice".into(),
                tariff: 1,
                kind: AccountKind::Prepaid,
                balance: balance.parse().unwrap(),
                currency: "EUR".into(),
                bundles: Vec::new(),
            },
        );
        c
    }

    #[test]
    fn the_next_cut_is_read_without_the_lock_and_follows_every_change() {
        let now = Instant::now();
        let (writes, _rx) = mpsc::unbounded_channel();
        let epoch = sip_message::Epoch::new(now, 1_700_000_000_000);
        let handle = CreditHandle::new(credit("0.90", now), "n1".into(), epoch, writes);
        assert_eq!(handle.poll_timeout(), None, "no call, no deadline");
        // a call on one shard (through its b2bua hook) is answered: 90 s
        let mut hook = handle.clone();
        hook.authorize(now, 1, "c1@x", "alice", "4420", false)
            .expect("authorized");
        hook.answered(now, 1);
        let first = handle.poll_timeout().expect("a deadline");
        assert_eq!(first, now + Duration::from_secs(90));
        // a second call of the account, as another shard would make it: both get 45 s
        hook.authorize(now, 2, "c2@x", "alice", "4421", false)
            .expect("authorized");
        hook.answered(now, 2);
        assert_eq!(handle.poll_timeout(), Some(now + Duration::from_secs(45)));
        // a debit by the upkeep task (no dispatcher involved) brings it nearer: 0.40 for two calls, 20 s
        handle
            .lock()
            .credit
            .adjust(now, "alice", "-0.50".parse().unwrap());
        let cut_at = now + Duration::from_secs(20);
        assert_eq!(handle.poll_timeout(), Some(cut_at));
        // both calls come out of one timeout, whichever shard asks
        assert_eq!(handle.handle_timeout(cut_at), vec![1, 2]);
        // the deadlines they had before wake a shard for nothing, then none is left
        assert_eq!(handle.poll_timeout(), Some(now + Duration::from_secs(45)));
        assert!(handle
            .handle_timeout(now + Duration::from_secs(90))
            .is_empty());
        assert_eq!(handle.poll_timeout(), None, "nothing left to cut");
    }
}
