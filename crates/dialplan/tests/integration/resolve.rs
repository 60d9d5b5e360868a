//! `resolve`: the tech-prefix step followed by the dialing plan, as the B2BUA calls it.

use dialplan::{resolve, Action, DialPlan, Entry, NoRoute, TechPrefix};

fn rcs_plan() -> DialPlan {
    DialPlan::new(vec![
        Entry::new("onnet", 0, Action::UserLookup),
        Entry::new(
            "onnet950",
            0,
            "voicemail:sip:onnet950@10.0.0.5:5080"
                .parse()
                .expect("action"),
        ),
        Entry::new(
            "44",
            0,
            "gateway:uk-a,uk-b prepend=00".parse().expect("action"),
        ),
        Entry::new("44", 5, "gateway:uk-backup".parse().expect("action")),
        Entry::new(
            "48",
            0,
            "gateway:pl strip=2 prepend=0".parse().expect("action"),
        ),
    ])
}

#[test]
fn onnet_logins_go_to_user_lookup() {
    let tech = TechPrefix::parse("DP:int-> OR onnet").expect("rule");
    let r = resolve(&tech, &rcs_plan(), "alice").expect("route");
    assert_eq!(r.number(), "onnetalice");
    assert_eq!(r.rest(), "alice");
    assert_eq!(r.entry().action, Action::UserLookup);
    assert_eq!(r.target_number().as_deref(), Some("alice"));
    assert!(r.fallbacks().is_empty());

    let numeric = resolve(&tech, &rcs_plan(), "44208745690").expect("route");
    assert_eq!(
        numeric.entry().prefix,
        "onnet",
        "an ONNET call to a numeric login"
    );
    assert_eq!(numeric.rest(), "44208745690");
}

#[test]
fn offnet_numbers_go_to_gateways_with_fallback_entries() {
    let tech = TechPrefix::parse("DP:int-> OR onnet").expect("rule");
    let r = resolve(&tech, &rcs_plan(), "int44208745690").expect("route");
    assert_eq!(r.number(), "44208745690");
    assert_eq!(r.entry().action.to_string(), "gateway:uk-a,uk-b prepend=00");
    assert_eq!(r.target_number().as_deref(), Some("0044208745690"));
    let fallbacks: Vec<String> = r.fallbacks().iter().map(|e| e.action.to_string()).collect();
    assert_eq!(fallbacks, ["gateway:uk-backup"]);
    assert_eq!(r.route().rest, "208745690");
    assert_eq!(r.route().number, "44208745690");

    let pl = resolve(&tech, &rcs_plan(), "int48601234").expect("route");
    assert_eq!(pl.target_number().as_deref(), Some("0601234"));
}

#[test]
fn longer_onnet_entry_wins_for_services() {
    let tech = TechPrefix::parse("DP:int-> OR onnet").expect("rule");
    let r = resolve(&tech, &rcs_plan(), "950").expect("route");
    assert_eq!(r.entry().prefix, "onnet950");
    assert_eq!(
        r.entry().action.to_string(),
        "voicemail:sip:onnet950@10.0.0.5:5080"
    );
    assert_eq!(r.target_number(), None);
}

#[test]
fn no_route_reports_both_numbers() {
    let tech = TechPrefix::parse("DP:int-> OR onnet").expect("rule");
    let e = resolve(&tech, &rcs_plan(), "int1555").expect_err("no entry for 1");
    assert_eq!(
        e,
        NoRoute {
            dialed: "int1555".into(),
            number: "1555".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "no dialing-plan entry matches `1555` (dialed `int1555`)"
    );
}

#[test]
fn without_rules_the_dialed_number_is_routed_as_is() {
    let tech = TechPrefix::default();
    let r = resolve(&tech, &rcs_plan(), "onnetbob").expect("route");
    assert_eq!((r.number(), r.rest()), ("onnetbob", "bob"));
    assert!(resolve(&tech, &rcs_plan(), "bob").is_err());
}

#[test]
fn tp_rules_do_not_affect_routing() {
    let tech = TechPrefix::parse("TP:int->").expect("rule");
    let e = resolve(&tech, &rcs_plan(), "int44").expect_err("TP must not strip the dialed int");
    assert_eq!(e.number, "int44");
}
