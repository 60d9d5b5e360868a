//! Dialing-plan lookups in a plan of 100k entries with E.164-like prefixes (country code plus
//! digits, 2–9 digits long, some prefixes with several priorities) plus the `onnet`, `onnet950`
//! and `int` entries of an RCS deployment; and the tech-prefix step.
//!
//! Most country codes end up fully covered by a short prefix (as in real plans, where the
//! country code itself has an entry). A few "sparse" codes (international networks such as
//! 882/883) only have 7–9 digit ranges; numbers under them that no range covers are the deep
//! misses: they walk several trie levels before failing.
//!
//! Every timed iteration does one lookup of the next number in a pre-built ring of 4096 numbers
//! (so caches see a realistic spread, not one hot path).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dialplan::{resolve, Action, DialPlan, Entry, TechPrefix};

const ENTRIES: usize = 100_000;
const RING: usize = 4096;

/// SplitMix64: deterministic, so every run measures the same plan.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn digits(&mut self, out: &mut String, n: usize) {
        for _ in 0..n {
            out.push(char::from(b'0' + self.below(10) as u8));
        }
    }
}

const COUNTRY_CODES: &[&str] = &[
    "1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45",
    "46", "47", "48", "49", "51", "52", "54", "55", "57", "60", "61", "62", "63", "64", "65", "66",
    "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98", "212", "213", "234", "254",
    "351", "353", "358", "380", "420", "421", "852", "886", "966", "971", "972",
];

/// Codes with only long (7–9 digit) ranges, so that deep misses exist.
const SPARSE_CODES: &[&str] = &["870", "881", "882", "883", "888"];

fn build_entries(rng: &mut Rng) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(ENTRIES + 4);
    entries.push(Entry::new("onnet", 0, Action::UserLookup));
    entries.push(Entry::new(
        "onnet950",
        0,
        "voicemail:sip:onnet950@10.0.0.5:5080"
            .parse()
            .expect("action"),
    ));
    entries.push(Entry::new(
        "int",
        0,
        "gateway:intl-a,intl-b strip=3".parse().expect("action"),
    ));
    entries.push(Entry::new(
        "int44",
        0,
        "gateway:uk strip=3 prepend=00".parse().expect("action"),
    ));
    while entries.len() < ENTRIES + 4 {
        let (cc, len) = if rng.below(20) == 0 {
            (
                SPARSE_CODES[rng.below(SPARSE_CODES.len())],
                7 + rng.below(3),
            )
        } else {
            let cc = COUNTRY_CODES[rng.below(COUNTRY_CODES.len())];
            (cc, (2 + rng.below(8)).max(cc.len()))
        };
        let mut prefix = String::from(cc);
        rng.digits(&mut prefix, len - cc.len());
        let gateways = vec![
            format!("gw{}", rng.below(50)),
            format!("gw{}", rng.below(50)),
        ];
        let strip = rng.below(3);
        let action = Action::Gateway {
            gateways,
            strip,
            prepend: String::new(),
        };
        entries.push(Entry::new(prefix.clone(), 0, action));
        // One prefix in ten has a second, lower-priority route.
        if rng.below(10) == 0 {
            entries.push(Entry::new(
                prefix,
                10,
                "gateway:backup".parse().expect("action"),
            ));
        }
    }
    entries
}

fn ring_of(mut make: impl FnMut() -> String) -> Vec<String> {
    (0..RING).map(|_| make()).collect()
}

fn bench_route(c: &mut Criterion) {
    let mut rng = Rng(0xD1A1_97A7);
    let entries = build_entries(&mut rng);
    let plan = DialPlan::new(entries.clone());
    assert_eq!(plan.len(), entries.len());

    // Hits: a random entry's prefix followed by subscriber digits (full numbers of 10–13 digits).
    let hits = ring_of(|| {
        let e = &entries[4 + rng.below(entries.len() - 4)];
        let mut n = e.prefix.clone();
        let extra = 11usize.saturating_sub(n.len()) + rng.below(3);
        rng.digits(&mut n, extra.max(1));
        n
    });
    assert!(hits.iter().all(|n| plan.route(n).is_some()));

    // Deep misses: numbers under a sparse code that none of its ranges covers.
    let mut misses = Vec::with_capacity(RING);
    for _ in 0..100 * RING {
        let cc = SPARSE_CODES[rng.below(SPARSE_CODES.len())];
        let mut n = String::from(cc);
        rng.digits(&mut n, 12 - cc.len());
        if plan.route(&n).is_none() {
            misses.push(n);
            if misses.len() == RING {
                break;
            }
        }
    }
    assert_eq!(
        misses.len(),
        RING,
        "not enough uncovered numbers for the miss ring"
    );
    let shallow_misses = ring_of(|| {
        let mut n = String::from("0");
        rng.digits(&mut n, 10);
        n
    });
    let onnet = ring_of(|| format!("onnet{}", rng.below(1_000_000)));

    let mut group = c.benchmark_group("route_100k");
    for (name, numbers) in [
        ("hit", &hits),
        ("miss_deep", &misses),
        ("miss_first_byte", &shallow_misses),
        ("onnet_login", &onnet),
    ] {
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % RING;
                black_box(plan.route(black_box(&numbers[i])))
            })
        });
    }
    group.bench_function("routes_all_hit", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % RING;
            black_box(plan.routes(black_box(&hits[i])).count())
        })
    });
    group.finish();

    let tech = TechPrefix::parse("DP:int-> OR onnet;TP:int->").expect("rule");
    let offnet = ring_of(|| format!("int{}", hits[rng.below(RING)]));
    let logins = ring_of(|| format!("user{}", rng.below(1_000_000)));
    let mut group = c.benchmark_group("tech_prefix");
    group.bench_function("apply_dp_strip_int", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % RING;
            black_box(tech.apply_dp(black_box(&offnet[i])))
        })
    });
    group.bench_function("apply_dp_prepend_onnet", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % RING;
            black_box(tech.apply_dp(black_box(&logins[i])))
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| black_box(TechPrefix::parse(black_box("DP:int-> OR onnet;TP:int->"))))
    });
    group.finish();

    let mut group = c.benchmark_group("resolve_100k");
    for (name, numbers) in [("offnet", &offnet), ("onnet", &logins)] {
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % RING;
                black_box(resolve(&tech, &plan, black_box(&numbers[i])))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.bench_function("dialplan_new_100k", |b| {
        b.iter_batched(|| entries.clone(), DialPlan::new, BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, bench_route);
criterion_main!(benches);
