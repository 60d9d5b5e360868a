//! Tech-prefix rules: the voipswitch examples, several rules, DP vs TP, parse errors.

use std::borrow::Cow;

use dialplan::{RuleError, RuleKind, RulePart, TechPrefix};

fn tp(text: &str) -> TechPrefix {
    TechPrefix::parse(text).unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
}

fn err(text: &str) -> RuleError {
    match TechPrefix::parse(text) {
        Ok(t) => panic!("`{text}` should be rejected, parsed as {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn rcs_default_strips_int_or_prepends_onnet() {
    let t = tp("DP:int-> OR onnet");
    assert_eq!(t.apply_dp("int4420"), "4420");
    assert_eq!(t.apply_dp("int44208745690"), "44208745690");
    assert_eq!(t.apply_dp("alice"), "onnetalice");
    assert_eq!(t.apply_dp("44208745690"), "onnet44208745690");
    // Only a leading `int` counts, and the match is case-sensitive.
    assert_eq!(t.apply_dp("44int"), "onnet44int");
    assert_eq!(t.apply_dp("Int44"), "onnetInt44");
    // `int` alone becomes the empty number.
    assert_eq!(t.apply_dp("int"), "");
}

#[test]
fn replace_leading_00_by_48() {
    let t = tp("DP:00->48");
    assert_eq!(t.apply_dp("0012"), "4812");
    assert_eq!(t.apply_dp("12"), "12");
    assert_eq!(t.apply_dp("0"), "0");
    assert_eq!(t.apply_dp("1200"), "1200");
}

#[test]
fn empty_match_always_prepends() {
    let t = tp("DP:->44");
    assert_eq!(t.apply_dp("20"), "4420");
    assert_eq!(t.apply_dp(""), "44");
    assert_eq!(t.apply_dp("4420"), "444420");
}

#[test]
fn empty_match_with_empty_replacement_changes_nothing() {
    let t = tp("DP:-> OR 99");
    assert_eq!(t.apply_dp("123"), "123", "the match always wins over OR");
}

#[test]
fn strip_and_no_change_borrow_from_the_input() {
    let t = tp("DP:int->");
    assert!(matches!(t.apply_dp("int44"), Cow::Borrowed("44")));
    assert!(matches!(t.apply_dp("alice"), Cow::Borrowed("alice")));
    assert!(matches!(tp("").apply_dp("x"), Cow::Borrowed("x")));
}

#[test]
fn empty_and_blank_strings_have_no_rules() {
    for text in ["", "   ", ";", " ; ;; "] {
        let t = tp(text);
        assert!(t.is_empty(), "`{text}`");
        assert_eq!(t.apply_dp("0012"), "0012");
        assert_eq!(t.apply_tp("0012"), "0012");
        assert_eq!(t.to_string(), "");
    }
}

#[test]
fn first_applicable_dp_rule_wins() {
    let t = tp("DP:00->;DP:0->48;DP:+->");
    assert_eq!(
        t.apply_dp("0044"),
        "44",
        "first rule, the second is not applied on top"
    );
    assert_eq!(t.apply_dp("012"), "4812");
    assert_eq!(t.apply_dp("+4812"), "4812");
    assert_eq!(t.apply_dp("4812"), "4812", "no rule applies");
}

#[test]
fn a_rule_with_or_shadows_later_rules() {
    let t = tp("DP:int-> OR onnet;DP:00->48");
    assert_eq!(
        t.apply_dp("0012"),
        "onnet0012",
        "the OR branch of rule 1 applies first"
    );
    let reordered = tp("DP:00->48;DP:int-> OR onnet");
    assert_eq!(reordered.apply_dp("0012"), "4812");
    assert_eq!(reordered.apply_dp("int0012"), "0012");
    assert_eq!(reordered.apply_dp("bob"), "onnetbob");
}

#[test]
fn dp_and_tp_rules_are_applied_separately() {
    let t = tp("DP:int->;TP:int->");
    assert_eq!(t.apply_dp("int4420"), "4420");
    assert_eq!(t.apply_tp("int4420"), "4420");

    let t = tp("TP:44->0; DP:00->+");
    assert_eq!(t.apply_tp("4420"), "020");
    assert_eq!(
        t.apply_dp("4420"),
        "4420",
        "TP rules do not touch the dialed number"
    );
    assert_eq!(t.apply_dp("0048"), "+48");
    assert_eq!(
        t.apply_tp("0048"),
        "0048",
        "DP rules do not touch the caller"
    );

    let kinds: Vec<_> = t.rules().iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [RuleKind::Tp, RuleKind::Dp]);
}

#[test]
fn rule_accessors_expose_the_parts() {
    let t = tp("DP:int-> OR onnet;TP:00->48");
    let [dp, tpr] = t.rules() else {
        panic!("two rules expected, got {:?}", t.rules())
    };
    assert_eq!(
        (dp.kind(), dp.pattern(), dp.replacement(), dp.or_prepend()),
        (RuleKind::Dp, "int", "", Some("onnet"))
    );
    assert_eq!(
        (
            tpr.kind(),
            tpr.pattern(),
            tpr.replacement(),
            tpr.or_prepend()
        ),
        (RuleKind::Tp, "00", "48", None)
    );
    assert_eq!(dp.apply("x").as_deref(), Some("onnetx"));
    assert_eq!(
        tpr.apply("12"),
        None,
        "no match and no OR: the rule does not apply"
    );
}

#[test]
fn whitespace_and_case_are_tolerated_and_printed_canonically() {
    let loose = tp("  dp : int ->   or   onnet ;  Tp:int-> ; ");
    assert_eq!(loose.to_string(), "DP:int-> OR onnet;TP:int->");
    assert_eq!(loose, tp("DP:int-> OR onnet;TP:int->"));
    assert_eq!(
        tp("DP:int->OR onnet"),
        tp("DP:int-> OR onnet"),
        "OR right after the arrow"
    );
    assert_eq!(tp("DP:00->48 OR 0").to_string(), "DP:00->48 OR 0");
    assert_eq!(tp("DP:00 -> 48").to_string(), "DP:00->48");
}

#[test]
fn display_round_trips() {
    for text in [
        "DP:int-> OR onnet",
        "DP:int->;TP:int->",
        "DP:00->48",
        "DP:->44",
        "DP:+->00 OR 00;TP:a:b->c",
        "DP:*#->#* OR OR",
        "",
    ] {
        let t = tp(text);
        assert_eq!(t.to_string(), text, "canonical text prints as written");
        assert_eq!(tp(&t.to_string()), t);
        assert_eq!(
            text.parse::<TechPrefix>().as_ref(),
            Ok(&t),
            "FromStr agrees with parse"
        );
    }
}

#[test]
fn unknown_kind_points_at_the_rule() {
    let e = err("DP:int-> OR onnet;XX:1->2");
    assert_eq!(
        e,
        RuleError::UnknownKind {
            index: 2,
            rule: "XX:1->2".into(),
            kind: "XX".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "tech-prefix rule 2 `XX:1->2`: unknown kind `XX:` (expected `DP:` or `TP:`)"
    );
}

#[test]
fn error_index_counts_non_empty_rules_from_one() {
    let e = err(";DP:00->48;; TP:1->2 ;DP:oops;");
    assert_eq!((e.index(), e.rule()), (3, "DP:oops"));
    assert!(
        matches!(
            e,
            RuleError::MissingArrow {
                kind: RuleKind::Dp,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(err("DP:x").index(), 1);
}

#[test]
fn missing_kind() {
    for (text, index, rule) in [
        ("int->", 1, "int->"),
        ("DP:1->2;int->sip:x", 2, "int->sip:x"),
        ("DP:1->2; :0->", 2, ":0->"),
    ] {
        assert_eq!(
            err(text),
            RuleError::MissingKind {
                index,
                rule: rule.into()
            },
            "`{text}`"
        );
    }
}

#[test]
fn missing_arrow() {
    let e = err("TP:int");
    assert_eq!(
        e,
        RuleError::MissingArrow {
            index: 1,
            rule: "TP:int".into(),
            kind: RuleKind::Tp
        }
    );
    assert!(e.to_string().contains("missing `->`"), "{e}");
    assert!(matches!(err("DP:int-"), RuleError::MissingArrow { .. }));
    assert!(matches!(err("DP:int>"), RuleError::MissingArrow { .. }));
}

#[test]
fn garbage_after_or() {
    let e = err("DP:int-> OR onnet extra");
    assert_eq!(
        e,
        RuleError::TrailingAfterOr {
            index: 1,
            rule: "DP:int-> OR onnet extra".into(),
            prepend: "onnet".into(),
            found: "extra".into()
        }
    );
    assert!(
        e.to_string()
            .contains("unexpected `extra` after `OR onnet`"),
        "{e}"
    );
}

#[test]
fn or_without_prefix() {
    for text in ["DP:int-> OR", "DP:int->OR", "DP:int->48 OR  "] {
        assert!(
            matches!(err(text), RuleError::MissingPrepend { index: 1, .. }),
            "`{text}`"
        );
    }
}

#[test]
fn something_other_than_or_after_the_replacement() {
    let e = err("DP:00->48 44");
    assert_eq!(
        e,
        RuleError::UnexpectedToken {
            index: 1,
            rule: "DP:00->48 44".into(),
            found: "44".into()
        }
    );
    assert!(
        matches!(err("DP:00->48OR onnet"), RuleError::UnexpectedToken { ref found, .. } if found == "onnet")
    );
    assert!(
        matches!(err("DP:int-> AND onnet"), RuleError::UnexpectedToken { ref found, .. } if found == "onnet")
    );
}

#[test]
fn bad_characters_name_the_part() {
    let cases = [
        ("DP:in t->x", RulePart::Match, ' '),
        ("DP:in\tt->x", RulePart::Match, '\t'),
        ("DP:ä->x", RulePart::Match, 'ä'),
        ("DP:00->4\u{7f}8", RulePart::Replacement, '\u{7f}'),
        ("DP:00-> OR é", RulePart::Prepend, 'é'),
    ];
    for (text, part, ch) in cases {
        match err(text) {
            RuleError::BadChar {
                index: 1,
                part: p,
                ch: c,
                ..
            } => {
                assert_eq!((p, c), (part, ch), "`{text}`");
            }
            other => panic!("`{text}`: {other:?}"),
        }
    }
}

#[test]
fn a_second_arrow_is_rejected() {
    assert_eq!(
        err("DP:a->b->c"),
        RuleError::ExtraArrow {
            index: 1,
            rule: "DP:a->b->c".into()
        }
    );
    assert!(matches!(
        err("DP:a-> OR b->c"),
        RuleError::ExtraArrow { .. }
    ));
}
