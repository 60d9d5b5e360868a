//! Randomized comparisons against naive models, with a fixed-seed PRNG (`rng`): the trie
//! against a linear scan, the rule parser against the rules it was generated from, and
//! print → parse round trips.

use dialplan::{Action, DialPlan, Entry, TechPrefix};

use crate::rng::Rng;

/// Few distinct bytes so that prefixes collide, nest and share paths often.
const ALPHABET: &[u8] = b"0123ab";

fn random_plan(rng: &mut Rng, size: usize) -> Vec<Entry> {
    (0..size)
        .map(|i| {
            let len = if rng.chance(3) { 0 } else { 1 + rng.below(5) };
            Entry::new(
                rng.string(ALPHABET, len),
                rng.below(4) as i32 - 1,
                // A unique group name tells equal (prefix, priority) entries apart.
                Action::RingGroup {
                    group: format!("g{i}"),
                },
            )
        })
        .collect()
}

/// The specification, by brute force: longest matching prefix, then lowest priority, then
/// input order.
fn naive_routes<'a>(entries: &'a [Entry], number: &str) -> Vec<&'a Entry> {
    let Some(longest) = entries
        .iter()
        .filter(|e| number.starts_with(e.prefix.as_str()))
        .map(|e| e.prefix.len())
        .max()
    else {
        return Vec::new();
    };
    let mut hits: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.prefix.len() == longest && number.starts_with(e.prefix.as_str()))
        .collect();
    hits.sort_by_key(|e| e.priority); // stable: equal priorities keep input order
    hits
}

#[test]
fn route_agrees_with_a_linear_scan() {
    let mut rng = Rng::new(0x5EED_D1A1);
    let mut hits = 0;
    let mut misses = 0;
    for round in 0..300 {
        let size = rng.below(60);
        let entries = random_plan(&mut rng, size);
        let plan = DialPlan::new(entries.clone());
        assert_eq!(plan.len(), size);
        for _ in 0..60 {
            let number = if rng.chance(50) && !entries.is_empty() {
                // Extend an existing prefix so lookups hit deep nodes.
                let base = &rng.pick(&entries).prefix;
                let extra = rng.below(4);
                format!("{base}{}", rng.string(ALPHABET, extra))
            } else {
                let len = rng.below(7);
                rng.string(b"01234abc", len)
            };
            let expected = naive_routes(&entries, &number);
            let got: Vec<&Entry> = plan.routes(&number).map(|r| r.entry).collect();
            assert_eq!(
                got, expected,
                "round {round}, number `{number}`, plan {entries:?}"
            );
            match plan.route(&number) {
                Some(r) => {
                    hits += 1;
                    assert_eq!(
                        Some(&r.entry),
                        expected.first(),
                        "round {round}, `{number}`"
                    );
                    assert_eq!(format!("{}{}", r.entry.prefix, r.rest), number);
                    assert_eq!(r.number, number);
                }
                None => {
                    misses += 1;
                    assert!(expected.is_empty(), "round {round}, `{number}`");
                }
            }
        }
    }
    assert!(
        hits > 1_000 && misses > 1_000,
        "both paths exercised: {hits} hits, {misses} misses"
    );
}

/// A rule as generated, and its meaning computed independently of the crate.
struct ModelRule {
    dp: bool,
    pattern: String,
    replacement: String,
    or: Option<String>,
}

impl ModelRule {
    fn apply(&self, number: &str) -> Option<String> {
        match number.strip_prefix(self.pattern.as_str()) {
            Some(rest) => Some(format!("{}{rest}", self.replacement)),
            None => self.or.as_ref().map(|p| format!("{p}{number}")),
        }
    }
}

fn model_apply(rules: &[ModelRule], dp: bool, number: &str) -> String {
    rules
        .iter()
        .filter(|r| r.dp == dp)
        .find_map(|r| r.apply(number))
        .unwrap_or_else(|| number.to_owned())
}

fn spaces(rng: &mut Rng) -> &'static str {
    const SPACES: [&str; 5] = ["", "", " ", "  ", "\t"];
    SPACES[rng.below(SPACES.len())]
}

#[test]
fn tech_prefix_matches_its_model_and_round_trips() {
    let mut rng = Rng::new(0x7EC4_0001);
    const VALUE: &[u8] = b"01+*#ab";
    for round in 0..500 {
        let count = rng.below(4);
        let mut rules = Vec::new();
        let mut text = String::new();
        for i in 0..count {
            let pattern_len = rng.below(3);
            let replacement_len = rng.below(3);
            let rule = ModelRule {
                dp: rng.chance(70),
                pattern: rng.string(VALUE, pattern_len),
                replacement: rng.string(VALUE, replacement_len),
                or: rng.chance(30).then(|| {
                    let len = 1 + rng.below(3);
                    rng.string(VALUE, len)
                }),
            };
            if i > 0 || rng.chance(10) {
                text.push(';');
            }
            let kind = if rule.dp {
                *rng.pick(&["DP", "dp"])
            } else {
                *rng.pick(&["TP", "Tp"])
            };
            let (s1, s2, s3) = (spaces(&mut rng), spaces(&mut rng), spaces(&mut rng));
            text.push_str(&format!(
                "{s1}{kind}:{s2}{}{s3}->{}",
                rule.pattern, rule.replacement
            ));
            if let Some(p) = &rule.or {
                let or = *rng.pick(&["OR", "or"]);
                text.push_str(&format!(" {or}{} {p}", spaces(&mut rng)));
            }
            text.push_str(spaces(&mut rng));
            rules.push(rule);
        }
        if rng.chance(20) {
            text.push(';');
        }

        let tp =
            TechPrefix::parse(&text).unwrap_or_else(|e| panic!("round {round}: `{text}`: {e}"));
        assert_eq!(tp.rules().len(), rules.len(), "round {round}: `{text}`");
        let printed = tp.to_string();
        assert_eq!(
            TechPrefix::parse(&printed).as_ref(),
            Ok(&tp),
            "round {round}: `{text}` → `{printed}`"
        );
        assert!(
            !printed.contains('\t') && !printed.contains("  "),
            "canonical: `{printed}`"
        );

        for _ in 0..10 {
            let len = rng.below(5);
            let number = rng.string(VALUE, len);
            assert_eq!(
                tp.apply_dp(&number),
                model_apply(&rules, true, &number),
                "round {round}: `{text}` DP `{number}`"
            );
            assert_eq!(
                tp.apply_tp(&number),
                model_apply(&rules, false, &number),
                "round {round}: `{text}` TP `{number}`"
            );
        }
    }
}

#[test]
fn actions_round_trip_through_text() {
    let mut rng = Rng::new(0xAC71_0002);
    const NAME: &[u8] = b"abcxyz019-_.";
    for round in 0..500 {
        let action = match rng.below(5) {
            0 => Action::UserLookup,
            1 => {
                let n = 1 + rng.below(3);
                Action::Gateway {
                    gateways: (0..n)
                        .map(|_| {
                            let len = 1 + rng.below(6);
                            rng.string(NAME, len)
                        })
                        .collect(),
                    strip: if rng.chance(50) { 0 } else { rng.below(12) },
                    prepend: if rng.chance(50) {
                        String::new()
                    } else {
                        let len = 1 + rng.below(3);
                        rng.string(b"0123+#*", len)
                    },
                }
            }
            2 => {
                let user = {
                    let len = 1 + rng.below(8);
                    rng.string(NAME, len)
                };
                let port = rng.below(65_536);
                let scheme = *rng.pick(&["sip", "sips"]);
                Action::Service {
                    uri: format!("{scheme}:{user}@10.0.0.5:{port}"),
                    voicemail: rng.chance(50),
                }
            }
            3 => {
                let len = 1 + rng.below(8);
                Action::RingGroup {
                    group: rng.string(NAME, len),
                }
            }
            _ => Action::Reject {
                code: 300 + rng.below(400) as u16,
            },
        };
        let text = action.to_string();
        assert_eq!(
            text.parse::<Action>().as_ref(),
            Ok(&action),
            "round {round}: `{text}`"
        );
    }
}
