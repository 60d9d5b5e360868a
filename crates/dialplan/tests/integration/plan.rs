//! The dialing plan: longest prefix, then priority; catch-all; strip/prepend; `routes`.

use dialplan::{Action, DialPlan, Entry, Route};

fn gw(text: &str) -> Action {
    format!("gateway:{text}").parse().expect("gateway action")
}

/// The action text of the winning entry, or `None`.
fn winner(plan: &DialPlan, number: &str) -> Option<String> {
    plan.route(number).map(|r| r.entry.action.to_string())
}

#[test]
fn longest_prefix_wins_over_priority() {
    let plan = DialPlan::new(vec![
        Entry::new("4", -100, gw("world")),
        Entry::new("48", 50, gw("pl")),
        Entry::new("4860", 99, gw("pl-mobile")),
    ]);
    assert_eq!(
        winner(&plan, "4860123").as_deref(),
        Some("gateway:pl-mobile")
    );
    assert_eq!(winner(&plan, "4861123").as_deref(), Some("gateway:pl"));
    assert_eq!(
        winner(&plan, "486").as_deref(),
        Some("gateway:pl"),
        "4860 is longer than the number"
    );
    assert_eq!(winner(&plan, "4").as_deref(), Some("gateway:world"));
    assert_eq!(winner(&plan, "44").as_deref(), Some("gateway:world"));
    assert_eq!(winner(&plan, "5"), None);
    assert_eq!(winner(&plan, ""), None);
}

#[test]
fn lowest_priority_value_first_then_input_order() {
    let plan = DialPlan::new(vec![
        Entry::new("44", 10, gw("c")),
        Entry::new("44", -5, gw("a")),
        Entry::new("44", 10, gw("d")),
        Entry::new("44", 0, gw("b")),
    ]);
    let order: Vec<String> = plan
        .routes("4420")
        .map(|r| r.entry.action.to_string())
        .collect();
    assert_eq!(order, ["gateway:a", "gateway:b", "gateway:c", "gateway:d"]);
    assert_eq!(plan.route("4420").map(|r| r.entry.priority), Some(-5));
    assert_eq!(plan.routes("4420").len(), 4);
    assert_eq!(
        plan.routes("4420")
            .next_back()
            .map(|r| r.entry.action.to_string())
            .as_deref(),
        Some("gateway:d")
    );
}

#[test]
fn routes_only_lists_the_longest_prefix() {
    let plan = DialPlan::new(vec![
        Entry::new("", 0, Action::Reject { code: 404 }),
        Entry::new("48", 0, gw("pl")),
        Entry::new("4822", 2, gw("waw-b")),
        Entry::new("4822", 1, gw("waw-a")),
    ]);
    let routes: Vec<Route<'_>> = plan.routes("48221234").collect();
    assert_eq!(routes.len(), 2);
    assert!(routes
        .iter()
        .all(|r| r.entry.prefix == "4822" && r.rest == "1234"));
    assert!(routes.iter().all(|r| r.number == "48221234"));
    assert_eq!(
        plan.routes("48331234")
            .map(|r| r.entry.prefix.as_str())
            .collect::<Vec<_>>(),
        ["48"]
    );
    assert_eq!(
        plan.routes("1")
            .map(|r| r.entry.prefix.as_str())
            .collect::<Vec<_>>(),
        [""]
    );
    let empty = DialPlan::new(vec![Entry::new("48", 0, gw("pl"))]);
    assert_eq!(empty.routes("1").count(), 0);
    assert_eq!(empty.routes("1").size_hint(), (0, Some(0)));
}

#[test]
fn empty_prefix_is_a_catch_all() {
    let plan = DialPlan::new(vec![
        Entry::new("", 0, gw("default")),
        Entry::new("onnet", 0, Action::UserLookup),
    ]);
    for number in ["", "1", "onne", "xyz", "4420123"] {
        let r = plan
            .route(number)
            .unwrap_or_else(|| panic!("`{number}` should hit the catch-all"));
        assert_eq!(r.entry.prefix, "", "`{number}`");
        assert_eq!(r.rest, number, "nothing is removed by the empty prefix");
    }
    assert_eq!(plan.route("onnetalice").map(|r| r.rest), Some("alice"));
}

#[test]
fn prefixes_are_case_sensitive_ascii() {
    let plan = DialPlan::new(vec![
        Entry::new("onnet", 0, Action::UserLookup),
        Entry::new("int", 0, gw("intl")),
        Entry::new("Int", 0, Action::Reject { code: 403 }),
    ]);
    assert_eq!(plan.route("onnetBob").map(|r| r.rest), Some("Bob"));
    assert_eq!(winner(&plan, "int44").as_deref(), Some("gateway:intl"));
    assert_eq!(winner(&plan, "Int44").as_deref(), Some("reject:403"));
    assert_eq!(winner(&plan, "ONNETbob"), None);
    assert_eq!(winner(&plan, "in"), None);
}

#[test]
fn user_lookup_target_is_the_rest() {
    let plan = DialPlan::new(vec![Entry::new("onnet", 0, Action::UserLookup)]);
    let r = plan.route("onnetalice").expect("route");
    assert_eq!(r.rest, "alice");
    assert_eq!(r.target_number().as_deref(), Some("alice"));
}

#[test]
fn gateway_target_strips_the_full_number_then_prepends() {
    let plan = DialPlan::new(vec![
        Entry::new("00", 0, gw("a strip=2 prepend=48")),
        Entry::new("0048", 0, gw("b strip=2")),
        Entry::new("9", 0, gw("c prepend=+")),
        Entry::new("8", 0, gw("d")),
        Entry::new("7", 0, gw("e strip=10 prepend=1")),
    ]);
    let target = |n: &str| {
        plan.route(n)
            .and_then(|r| r.target_number())
            .map(|t| t.into_owned())
    };
    assert_eq!(target("0012").as_deref(), Some("4812"));
    assert_eq!(target("0048601").as_deref(), Some("48601"));
    assert_eq!(
        target("9123").as_deref(),
        Some("+9123"),
        "strip=0 keeps the prefix"
    );
    assert_eq!(
        target("8123").as_deref(),
        Some("8123"),
        "no strip, no prepend: the number as is"
    );
    assert_eq!(
        target("712").as_deref(),
        Some("1"),
        "stripping more than the number leaves only the prepend"
    );
}

#[test]
fn other_actions_have_no_target_number() {
    let plan = DialPlan::new(vec![
        Entry::new(
            "950",
            0,
            "voicemail:sip:onnet950@10.0.0.5".parse().expect("action"),
        ),
        Entry::new("sales", 0, "ring-group:sales".parse().expect("action")),
        Entry::new("666", 0, "reject:403".parse().expect("action")),
    ]);
    for n in ["950", "sales", "666"] {
        let r = plan.route(n).expect("route");
        assert_eq!(r.rest, "");
        assert_eq!(r.target_number(), None, "`{n}`");
    }
}

#[test]
fn entries_are_kept_sorted_and_counted() {
    let plan: DialPlan = [
        Entry::new("49", 1, gw("de")),
        Entry::new("", 0, gw("default")),
        Entry::new("48", 2, gw("pl-b")),
        Entry::new("48", 1, gw("pl-a")),
    ]
    .into_iter()
    .collect();
    assert_eq!(plan.len(), 4);
    assert!(!plan.is_empty());
    let order: Vec<(&str, i32)> = plan
        .entries()
        .iter()
        .map(|e| (e.prefix.as_str(), e.priority))
        .collect();
    assert_eq!(order, [("", 0), ("48", 1), ("48", 2), ("49", 1)]);
    assert!(format!("{plan:?}").contains("pl-a"));
}

#[test]
fn an_empty_plan_routes_nothing() {
    let plan = DialPlan::new(Vec::new());
    assert!(plan.is_empty());
    assert_eq!(plan.len(), 0);
    assert!(plan.route("").is_none());
    assert!(plan.route("4420").is_none());
    assert!(DialPlan::default().route("x").is_none());
}

#[test]
fn non_ascii_numbers_and_prefixes_do_not_panic() {
    let plan = DialPlan::new(vec![
        Entry::new("é", 0, Action::UserLookup),
        Entry::new("e", 0, gw("e strip=1 prepend=x")),
    ]);
    assert_eq!(plan.route("élan").map(|r| r.rest), Some("lan"));
    assert_eq!(
        plan.route("ëlan"),
        None,
        "shares the first UTF-8 byte with é only"
    );
    let r = plan.route("eé").expect("route");
    assert_eq!(
        r.target_number().as_deref(),
        Some("xé"),
        "strip counts characters"
    );
}

#[test]
fn long_prefixes_build_and_match() {
    let long = "1".repeat(10_000);
    let plan = DialPlan::new(vec![
        Entry::new(long.clone(), 0, gw("deep")),
        Entry::new("1", 0, gw("shallow")),
    ]);
    let number = format!("{long}2");
    assert_eq!(plan.route(&number).map(|r| r.rest), Some("2"));
    assert_eq!(
        plan.route(&long[1..]).map(|r| r.entry.prefix.len()),
        Some(1)
    );
}
