//! The driver of the billing core (`billing::Credit`): the b2bua's [`CreditControl`], the
//! reservation rows and charges it queues for the writer, and the cut-off deadline the
//! dispatcher waits for.
//!
//! One `Credit` behind a `std::sync::Mutex`, shared by the dispatcher (through the b2bua's
//! hook, every call locks it for microseconds) and the upkeep task (ledger lines written by
//! the operator, tariffs and accounts changed in storage, the reservations' heartbeat). It is
//! never locked across an `.await`.

use std::collections::HashMap;
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
    writes: mpsc::UnboundedSender<Write>,
}

impl CreditHandle {
    pub(crate) fn new(
        credit: Credit,
        node_id: String,
        epoch: sip_message::Epoch,
        writes: mpsc::UnboundedSender<Write>,
    ) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                credit,
                rows: HashMap::new(),
                charges: HashMap::new(),
                epoch,
                node_id,
            })),
            writes,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding it leaves consistent data (every update is one statement)
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the next call must be cut.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.lock().credit.poll_timeout()
    }

    /// The calls to cut now (hang them up with `Calls::hang_up_for_credit`, lock released).
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
