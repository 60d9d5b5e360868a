//! Billing at start and while running: the tariffs and billed accounts read from storage
//! into the core's types, the settlement of the reservations a crash left, and the upkeep
//! task (ledger lines of the operator, changed tariffs and accounts, the heartbeat).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use billing::{
    Account, AccountKind, Bundle, Credit, Increments, Money, Quote, Rounding, RoundingMode, Tariff,
    TariffRow, TimeBand,
};

use crate::billing_io::{charge_row, CreditHandle, HEARTBEAT};
use crate::clock::unix_ms;

/// A stored tariff with its rows as the core's [`Tariff`].
pub(crate) fn tariff(
    t: &store::TariffRecord,
    rows: &[store::TariffRowRecord],
) -> anyhow::Result<Tariff> {
    let mut whole: BTreeMap<&str, TariffRow> = BTreeMap::new();
    let inc = |r: &store::TariffRowRecord| -> anyhow::Result<Increments> {
        format!("{}/{}", r.inc_first, r.inc_next)
            .parse()
            .with_context(|| format!("tariff {} prefix {}", t.name, r.prefix))
    };
    for r in rows
        .iter()
        .filter(|r| r.from_minute == 0 && r.to_minute == 1440)
    {
        whole.insert(
            &r.prefix,
            TariffRow {
                prefix: r.prefix.clone(),
                description: r.description.clone(),
                iso: r.iso.clone(),
                price_per_min: Money(r.price_micros),
                connection_fee: Money(r.fee_micros.unwrap_or(0)),
                increments: inc(r)?,
                min_duration: u32::try_from(r.min_duration).unwrap_or(0),
                bands: Vec::new(),
            },
        );
    }
    for r in rows
        .iter()
        .filter(|r| !(r.from_minute == 0 && r.to_minute == 1440))
    {
        let Some(row) = whole.get_mut(r.prefix.as_str()) else {
            anyhow::bail!(
                "tariff {}: time-of-day row of prefix {} without a whole-day row",
                t.name,
                r.prefix
            );
        };
        row.bands.push(TimeBand {
            from_minute: u16::try_from(r.from_minute.rem_euclid(1440)).unwrap_or(0),
            to_minute: u16::try_from(r.to_minute.rem_euclid(1440)).unwrap_or(0),
            price_per_min: Money(r.price_micros),
            connection_fee: r.fee_micros.map(Money),
        });
    }
    let mut out = Tariff::new(t.id, &t.name, &t.currency, whole.into_values().collect());
    out.rounding = Rounding {
        decimals: u8::try_from(t.rounding_decimals.clamp(0, 6)).unwrap_or(6),
        mode: t
            .rounding_mode
            .parse::<RoundingMode>()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("tariff {}", t.name))?,
    };
    out.utc_offset_minutes = i32::try_from(t.utc_offset_minutes).unwrap_or(0);
    out.bill_onnet = t.bill_onnet;
    Ok(out)
}

/// A billed account with the plans it holds.
pub(crate) fn account(a: &store::BillingAccountRow, plans: &[store::AccountPlanRow]) -> Account {
    Account {
        login: a.login.clone(),
        tariff: a.tariff_id,
        kind: if a.kind == "postpaid" {
            AccountKind::Postpaid {
                credit_limit: Money(a.credit_limit_micros),
            }
        } else {
            AccountKind::Prepaid
        },
        balance: Money(a.balance_micros),
        currency: a.currency.clone(),
        bundles: plans
            .iter()
            .filter(|p| p.login == a.login)
            .map(|p| Bundle {
                id: p.id,
                plan: p.plan.clone(),
                prefixes: p
                    .prefixes
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                seconds_left: u64::try_from(p.seconds_left).unwrap_or(0),
                valid_from_ms: u64::try_from(p.valid_from_ms).unwrap_or(0),
                valid_until_ms: u64::try_from(p.valid_until_ms).unwrap_or(0),
            })
            .collect(),
    }
}

async fn tariffs(store: &store::Store) -> anyhow::Result<Vec<Tariff>> {
    let mut out = Vec::new();
    for t in store.list_tariffs().await.context("loading tariffs")? {
        let rows = store
            .tariff_rows(t.id)
            .await
            .context("loading tariff rows")?;
        match tariff(&t, &rows) {
            Ok(t) => out.push(t),
            Err(e) => tracing::error!("tariff skipped: {e:#}"),
        }
    }
    Ok(out)
}

/// The billing core with every tariff and billed account.
pub(crate) async fn load(store: &store::Store, cap: Duration) -> anyhow::Result<Credit> {
    let now = Instant::now();
    let mut credit = Credit::new(cap);
    credit.set_tariffs(tariffs(store).await?);
    let plans = store.account_plans(None).await.context("loading plans")?;
    let accounts = store
        .list_billing_accounts()
        .await
        .context("loading billed accounts")?;
    tracing::info!(
        tariffs = store.list_tariffs().await.map(|t| t.len()).unwrap_or(0),
        accounts = accounts.len(),
        "billing loaded"
    );
    for a in &accounts {
        credit.set_account(now, account(a, &plans));
    }
    Ok(credit)
}

/// The quote a reservation row was authorized at.
pub(crate) fn quote(r: &store::ReservationRow) -> anyhow::Result<Quote> {
    Ok(Quote {
        tariff: r.tariff_id,
        prefix: r.prefix.clone(),
        price_per_min: Money(r.price_micros),
        connection_fee: Money(r.fee_micros),
        increments: format!("{}/{}", r.inc_first, r.inc_next).parse()?,
        min_duration: u32::try_from(r.min_duration).unwrap_or(0),
        rounding: Rounding {
            decimals: u8::try_from(r.rounding_decimals.clamp(0, 6)).unwrap_or(6),
            mode: r.rounding_mode.parse().map_err(anyhow::Error::msg)?,
        },
    })
}

/// Settles the reservations this node left when it stopped without ending its calls (a crash,
/// `kill -9`): an unanswered one is released; an answered one is charged from its answer to
/// its last heartbeat plus [`HEARTBEAT`] (it may have lasted that long: nothing free), at most
/// what it was authorized for, and never below the prepaid floor; a CDR with `hangup_by`
/// `restart` is written with it, in the same transaction. Exactly once: see
/// `store::Store::insert_rated_cdrs`.
pub(crate) async fn settle(store: &store::Store, node_id: &str) -> anyhow::Result<usize> {
    let rows = store
        .reservations(node_id)
        .await
        .context("reading reservations")?;
    let mut settled = 0;
    for r in rows {
        let Some(answer) = r.answer_ms else {
            store.release_reservation(&r.call_key).await?;
            tracing::info!(call = %r.call_key, "unanswered reservation released");
            continue;
        };
        let q = match quote(&r) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(call = %r.call_key, "reservation not settled: {e:#}");
                continue;
            }
        };
        let heartbeat = HEARTBEAT.as_millis() as i64;
        let d = (r.seen_ms.max(answer) + heartbeat - answer).clamp(0, r.max_ms.max(0));
        let d = u64::try_from(d).unwrap_or(0);
        let covered = r
            .bundle_seconds
            .map_or(0, |s| q.billed(d).min(u64::try_from(s).unwrap_or(0)));
        let mut cost = q.cost(d, covered);
        let acc = store.billing_account(&r.login).await?;
        if let Some(a) = acc.filter(|a| a.kind != "postpaid") {
            cost = cost.min(Money(a.balance_micros.max(0)));
        }
        let charge = billing::Charge {
            call: 0,
            login: r.login.clone(),
            quote: q.clone(),
            duration_ms: d,
            billed_seconds: q.billed(d),
            bundle: r.bundle_id.filter(|_| covered > 0).map(|b| (b, covered)),
            cost,
            cut: false,
        };
        let end = answer + d as i64;
        let cdr = store::CdrRow {
            call_id: r.call_id.clone(),
            caller: r.login.clone(),
            callee: r.number.clone(),
            dialed: r.number.clone(),
            routed_number: r.number.clone(),
            route: "gateway".into(),
            gateway: None,
            start_ms: r.start_ms,
            ringing_ms: None,
            answer_ms: Some(answer),
            end_ms: end,
            duration_ms: d as i64,
            final_code: 200,
            hangup_by: "restart".into(),
            media_a_packets: None,
            media_b_packets: None,
            node_id: node_id.into(),
            wakeup_ms: None,
            b_call_id: None,
            media_a_bytes: None,
            media_b_bytes: None,
            media_a_lost: None,
            media_b_lost: None,
        };
        let c = charge_row(r.call_key.clone(), &charge, unix_ms(), "settle");
        let done = store.insert_rated_cdrs(&[(cdr, c)]).await?;
        tracing::warn!(call = %r.call_key, login = %r.login, duration_ms = d, cost = %cost, charged = done[0], "reservation of a call cut by a restart settled");
        settled += usize::from(done[0]);
    }
    Ok(settled)
}

/// Keeps the core in step with storage: every second the operator's ledger lines (credits,
/// debits, plans bought) move the balances; every 10 s tariffs are replaced and new or
/// changed accounts and plans come in (balances stay the core's: its calls' charges may not
/// be written yet); every [`HEARTBEAT`] the reservations of this node are marked alive.
pub(crate) fn spawn_upkeep(
    store: store::Store,
    handle: CreditHandle,
    node_id: String,
    mut last: i64,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            n += 1;
            match store.ledger(None, last, 1000).await {
                Ok(lines) => {
                    let now = Instant::now();
                    let mut g = handle.lock();
                    for l in lines {
                        last = last.max(l.id);
                        if matches!(l.kind.as_str(), "credit" | "debit" | "plan") {
                            g.credit.adjust(now, &l.login, Money(l.amount_micros));
                        }
                    }
                }
                Err(e) => tracing::debug!("billing ledger poll: {e}"),
            }
            if n % HEARTBEAT.as_secs() == 0 {
                if let Err(e) = store.touch_reservations(&node_id, unix_ms() as i64).await {
                    tracing::warn!("reservation heartbeat: {e}");
                }
            }
            if n % 10 == 0 {
                if let Err(e) = refresh(&store, &handle).await {
                    tracing::warn!("billing refresh: {e:#}");
                }
            }
        }
    });
}

async fn refresh(store: &store::Store, handle: &CreditHandle) -> anyhow::Result<()> {
    let tariffs = tariffs(store).await?;
    let plans = store.account_plans(None).await?;
    let accounts = store.list_billing_accounts().await?;
    let now = Instant::now();
    let mut g = handle.lock();
    g.credit.set_tariffs(tariffs);
    for a in &accounts {
        let mut fresh = account(a, &plans);
        if let Some(old) = g.credit.account(&a.login) {
            fresh.balance = old.balance;
            for b in &mut fresh.bundles {
                if let Some(o) = old.bundles.iter().find(|o| o.id == b.id) {
                    b.seconds_left = b.seconds_left.min(o.seconds_left);
                }
            }
            if &fresh == old {
                continue;
            }
        }
        g.credit.set_account(now, fresh);
    }
    Ok(())
}

/// Billing at start: the reservations a crash left are settled first, then the core is
/// loaded and its upkeep started.
pub(crate) async fn start(
    store: &store::Store,
    config: &ferroswitch_config::Config,
    epoch: sip_message::Epoch,
    writes: tokio::sync::mpsc::UnboundedSender<crate::persist::Write>,
) -> anyhow::Result<CreditHandle> {
    let settled = settle(store, &config.node_id).await?;
    if settled > 0 {
        tracing::warn!(settled, "reservations left by a crash settled");
    }
    let mut last = 0;
    loop {
        let lines = store.ledger(None, last, 1000).await?;
        match lines.last() {
            Some(l) => last = l.id,
            None => break,
        }
    }
    let credit = load(store, config.calls.max_duration).await?;
    let handle = CreditHandle::new(credit, config.node_id.clone(), epoch, writes);
    spawn_upkeep(store.clone(), handle.clone(), config.node_id.clone(), last);
    tracing::info!("billing on");
    Ok(handle)
}
