use billing::{billed_seconds, Increments, Money, Rounding, RoundingMode, TimeBand};

use crate::{m, row, tariff};

const H: u64 = 3_600_000;

#[test]
fn increments_60_60_30_6_1_1() {
    let per_min = Increments::PER_MINUTE;
    let t30_6: Increments = "30/6".parse().unwrap();
    let per_s = Increments::PER_SECOND;
    // (duration ms, 60/60, 30/6, 1/1)
    for (ms, a, b, c) in [
        (0, 60, 30, 1),
        (1, 60, 30, 1),
        (1_000, 60, 30, 1),
        (1_001, 60, 30, 2),
        (29_999, 60, 30, 30),
        (30_000, 60, 30, 30),
        (30_001, 60, 36, 31),
        (36_000, 60, 36, 36),
        (36_001, 60, 42, 37),
        (60_000, 60, 60, 60),
        (60_001, 120, 66, 61),
        (90_000, 120, 90, 90),
        (119_500, 120, 120, 120),
        (3_600_000, 3600, 3600, 3600),
    ] {
        assert_eq!(billed_seconds(ms, per_min, 0), a, "60/60 at {ms} ms");
        assert_eq!(billed_seconds(ms, t30_6, 0), b, "30/6 at {ms} ms");
        assert_eq!(billed_seconds(ms, per_s, 0), c, "1/1 at {ms} ms");
    }
    // minimum duration: billed at least that long, then the increments
    assert_eq!(billed_seconds(5_000, per_s, 20), 20);
    assert_eq!(billed_seconds(5_000, t30_6, 45), 48);
    assert_eq!(billed_seconds(50_000, t30_6, 45), 54);
    for bad in ["60", "0/6", "6/0", "a/b", "60/60/60", ""] {
        assert!(bad.parse::<Increments>().is_err(), "{bad}");
    }
}

#[test]
fn cost_with_fee_and_rounding_rules() {
    let mut r = row("44", "0.10", "1/1");
    r.connection_fee = m("0.05");
    let mut t = tariff(vec![r]);
    let q = t.quote("4420", 0).unwrap();
    // 0.10/min for 7 s = 0.011666..., + 0.05 fee: up to the micro-unit
    assert_eq!(q.cost(7_000, 0), m("0.061667"));
    assert_eq!(q.cost(60_000, 0), m("0.15"));
    assert_eq!(q.cost(90_000, 0), m("0.20"));
    // to the cent, three modes
    for (mode, want) in [
        (RoundingMode::Up, "0.07"),
        (RoundingMode::HalfUp, "0.06"),
        (RoundingMode::Down, "0.06"),
    ] {
        t.rounding = Rounding { decimals: 2, mode };
        assert_eq!(t.quote("44", 0).unwrap().cost(7_000, 0), m(want), "{mode}");
    }
    // half-up at exactly a half: 0.06/min for 5 s = 0.005
    let mut t = tariff(vec![row("1", "0.06", "1/1")]);
    t.rounding = Rounding {
        decimals: 2,
        mode: RoundingMode::HalfUp,
    };
    assert_eq!(t.quote("1", 0).unwrap().cost(5_000, 0), m("0.01"));
    t.rounding.mode = RoundingMode::Down;
    assert_eq!(t.quote("1", 0).unwrap().cost(5_000, 0), Money::ZERO);
    // whole units
    t.rounding = Rounding {
        decimals: 0,
        mode: RoundingMode::Up,
    };
    assert_eq!(t.quote("1", 0).unwrap().cost(5_000, 0), m("1"));
    // exactness over many calls: 1000 calls of 7 s at 0.10/min, micro-unit rounding
    let t = tariff(vec![row("44", "0.10", "1/1")]);
    let q = t.quote("44", 0).unwrap();
    let total: Money = (0..1000).map(|_| q.cost(7_000, 0)).sum();
    assert_eq!(total, m("11.667"));
}

#[test]
fn longest_prefix_wins_through_the_trie() {
    let t = tariff(vec![
        row("4", "1.00", "60/60"),
        row("44", "0.10", "60/60"),
        row("447", "0.30", "30/6"),
        row("4479", "0.50", "1/1"),
    ]);
    assert_eq!(t.row("4420").unwrap().prefix, "44");
    assert_eq!(t.row("447700").unwrap().prefix, "447");
    assert_eq!(t.row("447912").unwrap().prefix, "4479");
    assert_eq!(t.row("49").unwrap().prefix, "4");
    assert!(t.row("1").is_none());
    assert!(t.row("").is_none());
}

#[test]
fn time_of_day_boundaries() {
    let mut r = row("44", "0.10", "60/60");
    r.bands = vec![
        // off-peak over midnight, 22:00 to 06:00
        TimeBand {
            from_minute: 22 * 60,
            to_minute: 6 * 60,
            price_per_min: m("0.02"),
            connection_fee: None,
        },
        // lunch, 12:00 to 13:00, with its own fee
        TimeBand {
            from_minute: 12 * 60,
            to_minute: 13 * 60,
            price_per_min: m("0.05"),
            connection_fee: Some(m("0.01")),
        },
    ];
    let mut t = tariff(vec![r]);
    let at = |h: u64, min: u64| h * H + min * 60_000;
    let price = |t: &billing::Tariff, ms: u64| t.quote("44", ms).unwrap().price_per_min;
    assert_eq!(price(&t, at(21, 59)), m("0.10"));
    assert_eq!(price(&t, at(22, 0)), m("0.02"), "start inclusive");
    assert_eq!(price(&t, at(0, 0)), m("0.02"), "over midnight");
    assert_eq!(price(&t, at(5, 59) + 59_999), m("0.02"));
    assert_eq!(price(&t, at(6, 0)), m("0.10"), "end exclusive");
    assert_eq!(price(&t, at(12, 0)), m("0.05"));
    assert_eq!(t.quote("44", at(12, 30)).unwrap().connection_fee, m("0.01"));
    assert_eq!(price(&t, at(13, 0)), m("0.10"));
    assert_eq!(
        t.quote("44", at(13, 0)).unwrap().connection_fee,
        Money::ZERO
    );
    // the next day works the same (the day is taken modulo 24 h)
    assert_eq!(price(&t, 86_400_000 + at(23, 0)), m("0.02"));
    // a tariff one hour east of UTC: 21:00 UTC is 22:00 there
    t.utc_offset_minutes = 60;
    assert_eq!(price(&t, at(21, 0)), m("0.02"));
    assert_eq!(price(&t, at(4, 59)), m("0.02"));
    assert_eq!(price(&t, at(5, 0)), m("0.10"));
    // the price is the one at the start: a call from 21:59 is rated at the day price even if
    // it lasts past 22:00 (the quote is fixed when the call is authorized)
    t.utc_offset_minutes = 0;
    let q = t.quote("44", at(21, 59)).unwrap();
    assert_eq!(q.cost(10 * 60_000, 0), m("1.00"));
}

#[test]
fn plan_seconds_are_used_before_money() {
    let mut r = row("44", "0.60", "60/60");
    r.connection_fee = m("0.10");
    let t = tariff(vec![r]);
    let q = t.quote("4420", 0).unwrap();
    // fully covered: free, no fee
    assert_eq!(q.cost(59_000, 60), Money::ZERO);
    assert_eq!(q.cost(120_000, 600), Money::ZERO);
    // partly covered: the rest at the price, no fee
    assert_eq!(q.cost(150_000, 60), m("1.20"));
    // not covered: fee + price
    assert_eq!(q.cost(150_000, 0), m("1.90"));
    // max duration with a budget: 1.90 pays 180 s (fee 0.10 + 3 min)
    assert_eq!(q.max_duration_ms(m("1.90"), 12 * H), Some(180_000));
    assert_eq!(q.max_duration_ms(m("0.69"), 12 * H), None);
}
