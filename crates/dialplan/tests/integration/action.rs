//! The textual form of actions: parsing, canonical printing, errors naming the bad part.

use dialplan::{Action, ActionError, REJECT_CODES};

fn action(text: &str) -> Action {
    text.parse()
        .unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
}

fn err(text: &str) -> ActionError {
    match text.parse::<Action>() {
        Ok(a) => panic!("`{text}` should be rejected, parsed as {a:?}"),
        Err(e) => e,
    }
}

fn gateway(names: &[&str], strip: usize, prepend: &str) -> Action {
    Action::Gateway {
        gateways: names.iter().map(|s| s.to_string()).collect(),
        strip,
        prepend: prepend.into(),
    }
}

#[test]
fn every_kind_parses_and_prints_back() {
    let cases = [
        ("user-lookup", Action::UserLookup),
        ("gateway:gw1", gateway(&["gw1"], 0, "")),
        (
            "gateway:gw1,gw2 strip=2 prepend=48",
            gateway(&["gw1", "gw2"], 2, "48"),
        ),
        ("gateway:gw1 strip=3", gateway(&["gw1"], 3, "")),
        ("gateway:gw1 prepend=+", gateway(&["gw1"], 0, "+")),
        (
            "service:sip:onnet950@10.0.0.5:5080",
            Action::Service {
                uri: "sip:onnet950@10.0.0.5:5080".into(),
                voicemail: false,
            },
        ),
        (
            "voicemail:sip:onnet950msg230@10.0.0.5",
            Action::Service {
                uri: "sip:onnet950msg230@10.0.0.5".into(),
                voicemail: true,
            },
        ),
        (
            "service:sips:onnet750@media.example.com",
            Action::Service {
                uri: "sips:onnet750@media.example.com".into(),
                voicemail: false,
            },
        ),
        (
            "ring-group:sales",
            Action::RingGroup {
                group: "sales".into(),
            },
        ),
        ("reject:404", Action::Reject { code: 404 }),
    ];
    for (text, expected) in cases {
        let parsed = action(text);
        assert_eq!(parsed, expected, "`{text}`");
        assert_eq!(parsed.to_string(), text, "canonical text prints as written");
        assert_eq!(action(&parsed.to_string()), parsed);
    }
}

#[test]
fn voicemail_is_a_service_that_remembers_its_spelling() {
    let vm = action("voicemail:sip:onnet950@h");
    let svc = action("service:sip:onnet950@h");
    assert!(matches!(&vm, Action::Service { uri, voicemail: true } if uri == "sip:onnet950@h"));
    assert!(matches!(&svc, Action::Service { uri, voicemail: false } if uri == "sip:onnet950@h"));
    assert_eq!(vm.to_string(), "voicemail:sip:onnet950@h");
    assert_eq!(svc.to_string(), "service:sip:onnet950@h");
}

#[test]
fn loose_spellings_are_accepted_and_printed_canonically() {
    let cases = [
        ("  USER-LOOKUP  ", "user-lookup"),
        (
            "Gateway : gw1 , gw2 ,gw3 prepend=0 strip=1",
            "gateway:gw1,gw2,gw3 strip=1 prepend=0",
        ),
        ("gateway gw1 strip=0", "gateway:gw1"),
        ("reject 486", "reject:486"),
        ("reject:  603 ", "reject:603"),
        ("ring-group sales", "ring-group:sales"),
        ("gateway:gw1\tstrip=2", "gateway:gw1 strip=2"),
        ("service: SIP:x@h", "service:SIP:x@h"),
    ];
    for (loose, canonical) in cases {
        assert_eq!(action(loose).to_string(), canonical, "`{loose}`");
    }
}

#[test]
fn empty_and_unknown_kinds() {
    assert_eq!(err(""), ActionError::Empty);
    assert_eq!(err("   "), ActionError::Empty);
    assert_eq!(
        err("forward:gw1"),
        ActionError::UnknownKind {
            kind: "forward".into()
        }
    );
    assert_eq!(
        err("userlookup"),
        ActionError::UnknownKind {
            kind: "userlookup".into()
        }
    );
    let e = err("ringgroup:sales");
    assert!(e.to_string().contains("unknown action `ringgroup`"), "{e}");
}

#[test]
fn missing_and_unexpected_arguments() {
    for (text, kind) in [
        ("gateway:", "gateway"),
        ("gateway", "gateway"),
        ("service:", "service"),
        ("voicemail", "voicemail"),
        ("ring-group: ", "ring-group"),
        ("reject:", "reject"),
    ] {
        assert_eq!(err(text), ActionError::MissingArgument { kind }, "`{text}`");
    }
    assert_eq!(
        err("user-lookup:alice"),
        ActionError::UnexpectedArgument {
            kind: "user-lookup",
            found: "alice".into()
        }
    );
    assert_eq!(
        err("reject:404 486"),
        ActionError::UnexpectedArgument {
            kind: "reject",
            found: "486".into()
        }
    );
    assert_eq!(
        err("ring-group:sales support"),
        ActionError::UnexpectedArgument {
            kind: "ring-group",
            found: "support".into()
        }
    );
    assert_eq!(
        err("service:sip:a@h sip:b@h"),
        ActionError::UnexpectedArgument {
            kind: "service",
            found: "sip:b@h".into()
        }
    );
}

#[test]
fn gateway_errors_name_the_bad_part() {
    assert_eq!(
        err("gateway:gw1,,gw2"),
        ActionError::EmptyGatewayName {
            list: "gw1,,gw2".into()
        }
    );
    assert_eq!(
        err("gateway:gw1,"),
        ActionError::EmptyGatewayName {
            list: "gw1,".into()
        }
    );
    assert_eq!(
        err("gateway:,gw1"),
        ActionError::EmptyGatewayName {
            list: ",gw1".into()
        }
    );
    assert_eq!(
        err("gateway:strip=2"),
        ActionError::BadGatewayName {
            name: "strip=2".into()
        }
    );
    assert_eq!(
        err("gateway:gw1 gw2"),
        ActionError::UnknownOption {
            option: "gw2".into()
        }
    );
    assert_eq!(
        err("gateway:gw1 add=48"),
        ActionError::UnknownOption {
            option: "add=48".into()
        }
    );
    assert_eq!(
        err("gateway:gw1 strip=x"),
        ActionError::BadStrip { value: "x".into() }
    );
    assert_eq!(
        err("gateway:gw1 strip=-1"),
        ActionError::BadStrip { value: "-1".into() }
    );
    assert_eq!(
        err("gateway:gw1 strip=+1"),
        ActionError::BadStrip { value: "+1".into() }
    );
    assert_eq!(
        err("gateway:gw1 strip="),
        ActionError::BadStrip { value: "".into() }
    );
    assert_eq!(
        err("gateway:gw1 strip"),
        ActionError::BadStrip { value: "".into() }
    );
    assert_eq!(
        err("gateway:gw1 strip=99999999999999999999999"),
        ActionError::BadStrip {
            value: "99999999999999999999999".into()
        }
    );
    assert_eq!(err("gateway:gw1 prepend="), ActionError::EmptyPrepend);
    assert_eq!(
        err("gateway:gw1 strip=1 strip=2"),
        ActionError::DuplicateOption { key: "strip" }
    );
    assert_eq!(
        err("gateway:gw1 prepend=1 prepend=2"),
        ActionError::DuplicateOption { key: "prepend" }
    );
    let e = err("gateway:gw1 add=48");
    assert!(e.to_string().contains("unknown option `add=48`"), "{e}");
}

#[test]
fn service_uris_must_be_sip() {
    for (text, kind, uri) in [
        ("service:onnet950", "service", "onnet950"),
        ("voicemail:http://vm", "voicemail", "http://vm"),
        ("service:sip:", "service", "sip:"),
        ("service:tel:+4812", "service", "tel:+4812"),
    ] {
        assert_eq!(
            err(text),
            ActionError::BadUri {
                kind,
                uri: uri.into()
            },
            "`{text}`"
        );
    }
}

#[test]
fn control_characters_are_rejected() {
    assert_eq!(
        err("ring-group:sa\u{1}les"),
        ActionError::ControlChar {
            kind: "ring-group",
            text: "sa\u{1}les".into(),
            ch: '\u{1}'
        }
    );
}

#[test]
fn reject_code_range_is_300_to_699() {
    assert_eq!(REJECT_CODES, 300..=699);
    for code in [300, 404, 486, 503, 603, 699] {
        assert_eq!(action(&format!("reject:{code}")), Action::Reject { code });
    }
    for code in [0, 100, 180, 200, 299, 700, 999, 65535] {
        assert_eq!(
            err(&format!("reject:{code}")),
            ActionError::CodeOutOfRange { code },
            "{code}"
        );
    }
    assert_eq!(
        err("reject:busy"),
        ActionError::BadCode {
            found: "busy".into()
        }
    );
    assert_eq!(
        err("reject:70000"),
        ActionError::BadCode {
            found: "70000".into()
        }
    );
    assert_eq!(
        err("reject:-404"),
        ActionError::BadCode {
            found: "-404".into()
        }
    );
    assert_eq!(
        err("reject:+404"),
        ActionError::BadCode {
            found: "+404".into()
        }
    );
    let e = err("reject:200");
    assert!(e.to_string().contains("code 200"), "{e}");
}
