use std::time::{Duration, Instant};

use billing::{Account, AccountKind, Authorization, Bundle, Credit, Money, Refusal, Reservation};

use crate::{m, row, tariff};

const CAP: Duration = Duration::from_secs(12 * 3600);

fn credit(balance: &str, kind: AccountKind) -> (Credit, Instant) {
    let now = Instant::now();
    let mut c = Credit::new(CAP);
    // 0.60 per minute, per second: 0.01 a second
    let mut t = tariff(vec![row("44", "0.60", "1/1"), row("49", "0.60", "60/60")]);
    t.bill_onnet = false;
    c.set_tariff(t);
    c.set_account(
        now,
        Account {
            login: "alice".into(),
            tariff: 1,
            kind,
            balance: m(balance),
            currency: "EUR".into(),
            bundles: Vec::new(),
        },
    );
    (c, now)
}

fn rated(a: Result<Authorization, Refusal>) -> Reservation {
    match a {
        Ok(Authorization::Rated(r)) => r,
        other => panic!("not rated: {other:?}"),
    }
}

#[test]
fn one_call_is_cut_when_the_balance_is_spent() {
    // 0.90 at 0.01/s: 90 s
    let (mut c, t0) = credit("0.90", AccountKind::Prepaid);
    let r = rated(c.authorize(t0, 0, 1, "alice", "4420", false));
    assert_eq!(r.max_ms, 90_000);
    assert_eq!(r.quote.prefix, "44");
    let answer = t0 + Duration::from_secs(2);
    let deadline = c.answered(answer, 1).unwrap();
    assert_eq!(deadline, answer + Duration::from_secs(90));
    assert_eq!(c.poll_timeout(), Some(deadline));
    assert!(c
        .handle_timeout(deadline - Duration::from_millis(1))
        .is_empty());
    // the timer fires a little late: the lateness is not billed
    let late = deadline + Duration::from_millis(40);
    assert_eq!(c.handle_timeout(late), vec![1]);
    let charge = c.ended(late, 1, 90_040).unwrap();
    assert!(charge.cut);
    assert_eq!(charge.duration_ms, 90_000);
    assert_eq!(charge.billed_seconds, 90);
    assert_eq!(charge.cost, m("0.90"));
    assert_eq!(c.account("alice").unwrap().balance, Money::ZERO);
    assert!(c.is_empty());
    // nothing left: refused with 402 and a reason
    let refused = c.authorize(late, 0, 2, "alice", "4420", false).unwrap_err();
    assert_eq!(refused.status(), 402);
    assert_eq!(refused.reason(), "Insufficient Balance");
}

#[test]
fn a_call_ended_before_its_deadline_pays_its_duration() {
    let (mut c, t0) = credit("5", AccountKind::Prepaid);
    rated(c.authorize(t0, 0, 1, "alice", "4420", false));
    c.answered(t0, 1);
    let charge = c
        .ended(t0 + Duration::from_millis(12_300), 1, 12_300)
        .unwrap();
    assert!(!charge.cut);
    assert_eq!(charge.billed_seconds, 13);
    assert_eq!(charge.cost, m("0.13"));
    assert_eq!(c.account("alice").unwrap().balance, m("4.87"));
    assert_eq!(
        c.poll_timeout().map(|_| ()),
        Some(()),
        "stale timers are lazy"
    );
    assert!(c.handle_timeout(t0 + CAP).is_empty());
}

#[test]
fn unanswered_calls_cost_nothing_and_release_their_hold() {
    let (mut c, t0) = credit("0.60", AccountKind::Prepaid);
    // 60/60 to 49: the first charge is the whole balance
    rated(c.authorize(t0, 0, 1, "alice", "4930", false));
    assert_eq!(c.available(t0, "alice"), Some(Money::ZERO));
    // a second call while the first rings: nothing left to hold
    let e = c.authorize(t0, 0, 2, "alice", "4420", false).unwrap_err();
    assert_eq!(
        e,
        Refusal::InsufficientBalance {
            available: Money::ZERO,
            needed: m("0.01")
        }
    );
    let charge = c.ended(t0, 1, 0).unwrap();
    assert_eq!(charge.cost, Money::ZERO);
    assert_eq!(c.available(t0, "alice"), Some(m("0.60")));
    rated(c.authorize(t0, 0, 3, "alice", "4420", false));
}

#[test]
fn parallel_calls_split_the_balance_and_never_exceed_it() {
    // 0.90: one call alone would last 90 s; two at once 45 s each
    let (mut c, t0) = credit("0.90", AccountKind::Prepaid);
    rated(c.authorize(t0, 0, 1, "alice", "4420", false));
    let d1 = c.answered(t0, 1).unwrap();
    assert_eq!(d1, t0 + Duration::from_secs(90));
    // 10 s later a second call: 0.10 spent by call 1, 0.80 left for two → 40 s more
    let t1 = t0 + Duration::from_secs(10);
    let r2 = rated(c.authorize(t1, 0, 2, "alice", "4420", false));
    // while it rings it holds its first second: call 1 now ends at 10 + 79 s
    assert_eq!(c.deadline(1), Some(t1 + Duration::from_secs(79)));
    assert_eq!(r2.max_ms, 80_000, "what is left now, were it alone");
    let d2 = c.answered(t1, 2).unwrap();
    assert_eq!(d2, t1 + Duration::from_secs(40));
    assert_eq!(c.deadline(1), Some(d2), "both calls are cut together");
    let mut cut = c.handle_timeout(d2);
    cut.sort_unstable();
    assert_eq!(cut, vec![1, 2]);
    let a = c.ended(d2, 1, 50_000).unwrap();
    let b = c.ended(d2, 2, 40_000).unwrap();
    assert_eq!(a.cost + b.cost, m("0.90"));
    assert_eq!(c.account("alice").unwrap().balance, Money::ZERO);
}

#[test]
fn a_call_ending_gives_its_share_back_to_the_others() {
    let (mut c, t0) = credit("1.00", AccountKind::Prepaid);
    rated(c.authorize(t0, 0, 1, "alice", "4420", false));
    rated(c.authorize(t0, 0, 2, "alice", "4420", false));
    c.answered(t0, 1);
    let both = c.answered(t0, 2).unwrap();
    assert_eq!(both, t0 + Duration::from_secs(50));
    let t1 = t0 + Duration::from_secs(20);
    let charge = c.ended(t1, 2, 20_000).unwrap();
    assert_eq!(charge.cost, m("0.20"));
    // 0.80 left, call 1 has spent 0.20 of it: 60 s more
    assert_eq!(c.deadline(1), Some(t1 + Duration::from_secs(60)));
}

#[test]
fn postpaid_calls_run_to_the_credit_limit() {
    let (mut c, t0) = credit(
        "0.10",
        AccountKind::Postpaid {
            credit_limit: m("0.50"),
        },
    );
    rated(c.authorize(t0, 0, 1, "alice", "4420", false));
    assert_eq!(c.answered(t0, 1), Some(t0 + Duration::from_secs(60)));
    let charge = c.ended(t0 + Duration::from_secs(60), 1, 60_000).unwrap();
    assert_eq!(charge.cost, m("0.60"));
    assert_eq!(c.account("alice").unwrap().balance, m("-0.50"));
}

#[test]
fn an_operator_debit_moves_the_deadline() {
    let (mut c, t0) = credit("0.90", AccountKind::Prepaid);
    rated(c.authorize(t0, 0, 1, "alice", "4420", false));
    c.answered(t0, 1);
    let t1 = t0 + Duration::from_secs(10);
    c.adjust(t1, "alice", m("-0.50"));
    assert_eq!(c.deadline(1), Some(t0 + Duration::from_secs(40)));
    c.adjust(t1, "alice", m("-0.50"));
    // already over: cut at once
    assert_eq!(c.deadline(1), Some(t1));
    assert_eq!(c.handle_timeout(t1), vec![1]);
}

#[test]
fn onnet_and_unbilled_accounts_are_free_and_unknown_destinations_refused() {
    let (mut c, t0) = credit("0", AccountKind::Prepaid);
    assert_eq!(
        c.authorize(t0, 0, 1, "alice", "bob", true),
        Ok(Authorization::Unrated)
    );
    assert_eq!(
        c.authorize(t0, 0, 2, "carol", "4420", false),
        Ok(Authorization::Unrated)
    );
    let e = c.authorize(t0, 0, 3, "alice", "1555", false).unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(c.is_empty());
    assert!(c.ended(t0, 1, 10_000).is_none());
}

#[test]
fn onnet_is_rated_when_the_tariff_says_so() {
    let t0 = Instant::now();
    let mut c = Credit::new(CAP);
    let mut t = tariff(vec![row("onnet", "0.06", "60/60")]);
    t.bill_onnet = true;
    c.set_tariff(t);
    c.set_account(
        t0,
        Account {
            login: "alice".into(),
            tariff: 1,
            kind: AccountKind::Prepaid,
            balance: m("1"),
            currency: "EUR".into(),
            bundles: Vec::new(),
        },
    );
    let r = rated(c.authorize(t0, 0, 1, "alice", "onnetbob", true));
    assert_eq!(r.quote.prefix, "onnet");
    // an ONNET number without a row stays free
    assert_eq!(
        c.authorize(t0, 0, 2, "alice", "bob", true),
        Ok(Authorization::Unrated)
    );
}

#[test]
fn plan_minutes_are_consumed_before_money() {
    let t0 = Instant::now();
    let mut c = Credit::new(CAP);
    c.set_tariff(tariff(vec![
        row("44", "0.60", "1/1"),
        row("49", "0.60", "1/1"),
    ]));
    let bundle = Bundle {
        id: 7,
        plan: "UK 100".into(),
        prefixes: vec!["44".into()],
        seconds_left: 30,
        valid_from_ms: 1_000,
        valid_until_ms: 10_000_000,
    };
    c.set_account(
        t0,
        Account {
            login: "alice".into(),
            tariff: 1,
            kind: AccountKind::Prepaid,
            balance: m("0.10"),
            currency: "EUR".into(),
            bundles: vec![bundle],
        },
    );
    // a plan makes a call possible that the balance alone covers for 10 s: 30 + 10 s
    let r = rated(c.authorize(t0, 5_000, 1, "alice", "4420", false));
    assert_eq!(r.bundle, Some((7, 30)));
    assert_eq!(r.max_ms, 40_000);
    // a second parallel call to 44 cannot use the busy plan: money only
    let r2 = rated(c.authorize(t0, 5_000, 2, "alice", "4421", false));
    assert_eq!(r2.bundle, None);
    assert!(c.ended(t0, 2, 0).is_some());
    c.answered(t0, 1);
    let charge = c.ended(t0 + Duration::from_secs(35), 1, 35_000).unwrap();
    assert_eq!(charge.bundle, Some((7, 30)));
    assert_eq!(charge.cost, m("0.05"));
    let acc = c.account("alice").unwrap();
    assert_eq!(acc.balance, m("0.05"));
    assert_eq!(acc.bundles[0].seconds_left, 0);
    // plan used up, other prefixes and expired plans: money only
    let r3 = rated(c.authorize(t0, 5_000, 3, "alice", "4420", false));
    assert_eq!(r3.bundle, None);
    assert_eq!(r3.max_ms, 5_000);
}

#[test]
fn a_plan_outside_its_period_or_prefixes_is_not_used() {
    let b = Bundle {
        id: 1,
        plan: "p".into(),
        prefixes: vec!["44".into(), "33".into()],
        seconds_left: 60,
        valid_from_ms: 1_000,
        valid_until_ms: 2_000,
    };
    assert!(b.covers("4420", 1_000));
    assert!(b.covers("3312", 1_999));
    assert!(!b.covers("4420", 999));
    assert!(!b.covers("4420", 2_000));
    assert!(!b.covers("4920", 1_500));
    let used = Bundle {
        seconds_left: 0,
        ..b
    };
    assert!(!used.covers("4420", 1_500));
}
