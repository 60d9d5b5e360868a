//! The operator CLI for calls: dialing plan, gateways, ring groups, local plan, account
//! settings and CDRs, through the real binary on a site's SQLite database.

use crate::harness::{block, Site};

/// Runs a command that must succeed; returns its stdout.
fn ok(site: &Site, args: &[&str]) -> String {
    let (ok, out, err) = site.cli(args);
    assert!(ok, "{args:?} failed: {err}");
    out
}

/// Runs a command that must fail; returns its stderr.
fn fails(site: &Site, args: &[&str]) -> String {
    let (ok, out, err) = site.cli(args);
    assert!(!ok, "{args:?} should have failed: {out}");
    err
}

/// The id printed by `route add` ("added route 3: ...").
fn route_id(out: &str) -> String {
    out.split("added route ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no id in {out:?}"))
        .to_owned()
}

#[test]
fn dialing_plan_lifecycle() {
    let site = Site::new();
    let onnet = route_id(&ok(
        &site,
        &[
            "route",
            "add",
            "onnet",
            "user-lookup",
            "--description",
            "ONNET logins",
        ],
    ));
    // Unquoted multi-word action, extra spaces normalised; negative priority.
    let (okay, out, err) = site.cli(&[
        "route",
        "add",
        "4860",
        "gateway:",
        "mobile-a,mobile-b",
        "prepend=0",
        "strip=2",
        "--priority",
        "-1",
    ]);
    assert!(okay, "{err}");
    assert!(
        out.contains("-> gateway:mobile-a,mobile-b strip=2 prepend=0"),
        "stored in canonical form: {out}"
    );
    assert!(
        err.contains("gateway \"mobile-a\" is not defined yet")
            && err.contains("ferroswitch gateway add mobile-a"),
        "warns about unknown gateways and says how to add them: {err}"
    );
    let mobile = route_id(&out);
    let catch_all = route_id(&ok(&site, &["route", "add", "", "reject:404"]));
    ok(
        &site,
        &[
            "route",
            "add",
            "950",
            "voicemail:sip:onnet950@10.0.0.5:5080",
        ],
    );

    let list = ok(&site, &["route", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("id") && lines[0].contains("action"),
        "{list}"
    );
    assert!(
        lines[1].starts_with(&catch_all) && lines[1].contains("(any)"),
        "{list}"
    );
    assert!(
        lines[2].starts_with(&mobile) && lines[2].contains("-1"),
        "{list}"
    );
    assert!(
        lines[3].contains("voicemail:sip:onnet950@10.0.0.5:5080"),
        "{list}"
    );
    assert!(
        lines[4].starts_with(&onnet) && lines[4].contains("ONNET logins"),
        "{list}"
    );
    assert!(list.contains("4 route(s)"), "{list}");

    // Bad actions are refused, naming what is wrong, and nothing is stored.
    for (action, why) in [
        (
            "gateway:gw1 strip=x",
            "strip=`x` is not a non-negative integer",
        ),
        ("teleport:mars", "unknown action `teleport`"),
        ("reject:200", "code 200 is not a final error or redirect"),
        ("service:http://x", "is not a sip: or sips: URI"),
    ] {
        let err = fails(&site, &["route", "add", "48", action]);
        assert!(
            err.contains("bad ACTION") && err.contains(why) && err.contains("user-lookup"),
            "{action}: {err}"
        );
    }
    let err = fails(&site, &["route", "add", "48 60", "user-lookup"]);
    assert!(err.contains("prefix \"48 60\" contains ' '"), "{err}");
    assert!(ok(&site, &["route", "list"]).contains("4 route(s)"));

    ok(&site, &["route", "del", &mobile]);
    let err = fails(&site, &["route", "del", &mobile]);
    assert!(err.contains(&format!("no route with id {mobile}")), "{err}");
    let list = ok(&site, &["route", "list"]);
    assert!(
        !list.contains("mobile-a") && list.contains("3 route(s)"),
        "{list}"
    );
}

#[test]
fn gateways_and_ring_groups() {
    let site = Site::new();
    let out = ok(
        &site,
        &[
            "gateway",
            "add",
            "pl1",
            "192.0.2.10:5060",
            "--caller-id",
            "48221112233",
        ],
    );
    assert!(
        out.contains("udp 192.0.2.10:5060, caller ID 48221112233"),
        "{out}"
    );
    ok(
        &site,
        &[
            "gateway",
            "add",
            "v6",
            "[2001:db8::5]:5080",
            "--transport",
            "tcp",
            "--disabled",
        ],
    );
    let list = ok(&site, &["gateway", "list"]);
    let pl1 = list.lines().find(|l| l.starts_with("pl1")).expect(&list);
    assert!(
        pl1.contains("48221112233") && pl1.ends_with("yes"),
        "{list}"
    );
    let v6 = list.lines().find(|l| l.starts_with("v6")).expect(&list);
    assert!(
        v6.contains("[2001:db8::5]:5080") && v6.contains("tcp") && v6.ends_with("no"),
        "{list}"
    );
    // Upsert: same name, new address, caller ID dropped.
    ok(&site, &["gateway", "add", "pl1", "198.51.100.7:5070"]);
    let list = ok(&site, &["gateway", "list"]);
    assert!(
        list.contains("198.51.100.7:5070")
            && !list.contains("48221112233")
            && list.contains("2 gateway(s)"),
        "{list}"
    );
    // DNS names are stored as written (lower case), located at routing time (RFC 3263)
    let out = ok(
        &site,
        &[
            "gateway",
            "add",
            "dns",
            "GW.example.com",
            "--transport",
            "tls",
        ],
    );
    assert!(out.contains("gateway dns: tls gw.example.com"), "{out}");
    ok(&site, &["gateway", "del", "dns"]);
    let err = fails(&site, &["gateway", "add", "gw", "gw example.com:5060"]);
    assert!(
        err.contains("neither an IP address nor a DNS name") && err.contains("[2001:db8::10]:5060"),
        "{err}"
    );
    let err = fails(&site, &["gateway", "add", "gw", "192.0.2.1"]);
    assert!(err.contains("has no port"), "{err}");
    let err = fails(&site, &["gateway", "add", "a,b", "192.0.2.1:5060"]);
    assert!(err.contains("gateway name \"a,b\" is not valid"), "{err}");
    let err = fails(
        &site,
        &[
            "gateway",
            "add",
            "gw",
            "192.0.2.1:5060",
            "--transport",
            "sctp",
        ],
    );
    assert!(err.contains("sctp"), "{err}");
    ok(&site, &["gateway", "del", "v6"]);
    let err = fails(&site, &["gateway", "del", "v6"]);
    assert!(err.contains("no gateway \"v6\""), "{err}");

    site.add_account("alice", "pw");
    site.add_account("bob", "pw");
    let (okay, out, err) = site.cli(&[
        "group",
        "add",
        "sales",
        "--members",
        "bob,alice,carol",
        "--step-delay",
        "10",
        "--max-steps",
        "2",
    ]);
    assert!(okay, "{err}");
    assert!(
        out.contains("ring group sales: bob, alice, carol (one more every 10 s, at most 2)"),
        "{out}"
    );
    assert!(err.contains("member \"carol\" is not an account"), "{err}");
    ok(&site, &["group", "add", "all", "--members", "alice,bob"]);
    let list = ok(&site, &["group", "list"]);
    assert!(
        list.contains("bob,alice,carol")
            && list.contains("all at once")
            && list.contains("2 group(s)"),
        "{list}"
    );
    let err = fails(&site, &["group", "add", "loop", "--members", "alice,loop"]);
    assert!(err.contains("member `loop` is the group itself"), "{err}");
    let err = fails(
        &site,
        &["group", "add", "twice", "--members", "alice,alice"],
    );
    assert!(err.contains("member `alice` is listed twice"), "{err}");
    let err = fails(&site, &["group", "add", "bad", "--members", "alice,b c"]);
    assert!(err.contains("not a valid SIP user part"), "{err}");
    ok(&site, &["group", "del", "all"]);
    assert!(ok(&site, &["group", "list"]).contains("1 group(s)"));

    // A route to the group no longer warns once it exists.
    let (okay, _, err) = site.cli(&["route", "add", "700", "ring-group:sales"]);
    assert!(okay && !err.contains("warning"), "{err}");
}

#[test]
fn local_plan_lifecycle() {
    let site = Site::new();
    ok(&site, &["local-plan", "add", "48", "sip2.company.com"]);
    ok(&site, &["local-plan", "add", "44", "sip1.company.com:5060"]);
    ok(&site, &["local-plan", "add", "48", "sip3.company.com"]);
    let list = ok(&site, &["local-plan", "list"]);
    let lines: Vec<&str> = list.lines().skip(1).collect();
    assert!(
        lines[0].starts_with("44") && lines[0].ends_with("sip1.company.com:5060"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("48") && lines[1].ends_with("sip3.company.com"),
        "{list}"
    );
    assert!(list.contains("2 prefix(es)"), "{list}");
    let err = fails(&site, &["local-plan", "add", "49", "not a host"]);
    assert!(
        err.contains("server \"not a host\"") && err.contains("host name or IP address"),
        "{err}"
    );
    ok(&site, &["local-plan", "del", "44"]);
    let err = fails(&site, &["local-plan", "del", "44"]);
    assert!(
        err.contains("prefix \"44\" is not in the local plan"),
        "{err}"
    );
}

#[test]
fn account_set_changes_settings() {
    let site = Site::new();
    site.add_account("dave", "pw");
    let out = ok(
        &site,
        &[
            "account",
            "set",
            "dave",
            "--display-name",
            "Dave D",
            "--tech-prefix",
            " DP:int->  or onnet ",
            "--voicemail",
            "sip:onnet950msg230@10.0.0.5:5080",
            "--disable",
        ],
    );
    assert!(
        out.contains("display name \"Dave D\"")
            && out.contains("tech prefix \"DP:int-> OR onnet\"")
            && out.contains("voicemail sip:onnet950msg230@10.0.0.5:5080")
            && out.contains("disabled"),
        "canonical rule stored: {out}"
    );
    let list = ok(&site, &["account", "list"]);
    let dave = list.lines().find(|l| l.starts_with("dave")).expect(&list);
    assert!(
        dave.contains("Dave D")
            && dave.contains(" no ")
            && dave.contains("DP:int-> OR onnet")
            && dave.ends_with("sip:onnet950msg230@10.0.0.5:5080"),
        "{list}"
    );

    let out = ok(
        &site,
        &[
            "account",
            "set",
            "dave",
            "--no-voicemail",
            "--enable",
            "--display-name",
            "",
        ],
    );
    assert!(
        out.contains("display name (none)")
            && out.contains("voicemail (off)")
            && out.trim_end().ends_with(", enabled")
            && out.contains("DP:int-> OR onnet"),
        "only the given settings change: {out}"
    );

    // A bad rule is refused with the parser's pointer at the rule, and nothing changes.
    let err = fails(
        &site,
        &[
            "account",
            "set",
            "dave",
            "--tech-prefix",
            "DP:int-> OR onnet;XX:1->2",
            "--disable",
        ],
    );
    assert!(
        err.contains("bad --tech-prefix")
            && err.contains("rule 2 `XX:1->2`")
            && err.contains("unknown kind"),
        "{err}"
    );
    let err = fails(
        &site,
        &[
            "account",
            "set",
            "dave",
            "--voicemail",
            "http://vm.example.com",
        ],
    );
    assert!(
        err.contains("--voicemail \"http://vm.example.com\"") && err.contains("sip:"),
        "{err}"
    );
    let err = fails(
        &site,
        &[
            "account",
            "set",
            "dave",
            "--voicemail",
            "sip:x@h",
            "--no-voicemail",
        ],
    );
    assert!(err.contains("cannot be used with"), "{err}");
    let err = fails(&site, &["account", "set", "dave"]);
    assert!(err.contains("nothing to change"), "{err}");
    let err = fails(&site, &["account", "set", "nobody", "--enable"]);
    assert!(err.contains("no account \"nobody\""), "{err}");
    let list = ok(&site, &["account", "list"]);
    let dave = list.lines().find(|l| l.starts_with("dave")).expect(&list);
    assert!(
        dave.contains(" yes ") && dave.contains("DP:int-> OR onnet"),
        "unchanged: {list}"
    );
}

#[test]
fn cdr_list_shows_the_latest_calls() {
    let site = Site::new();
    let out = ok(&site, &["cdr", "list"]);
    assert!(
        out.contains("start (UTC)") && out.contains("0 call(s)"),
        "{out}"
    );

    let cdr = |i: i64, answered: bool| store::CdrRow {
        call_id: format!("call-{i}"),
        caller: "alice".to_owned(),
        callee: format!("4822{i:07}"),
        dialed: format!("int4822{i:07}"),
        routed_number: format!("4822{i:07}"),
        route: "gateway:pl1".to_owned(),
        gateway: Some("pl1".to_owned()),
        // 2023-11-14 22:13:20 UTC + i minutes
        start_ms: 1_700_000_000_000 + i * 60_000,
        ringing_ms: Some(1_700_000_000_500 + i * 60_000),
        answer_ms: answered.then_some(1_700_000_002_000 + i * 60_000),
        end_ms: 1_700_000_014_500 + i * 60_000,
        duration_ms: if answered { 12_500 } else { 0 },
        final_code: if answered { 200 } else { 486 },
        hangup_by: if answered { "caller" } else { "callee" }.to_owned(),
        media_a_packets: None,
        media_b_packets: None,
        node_id: "test1".to_owned(),
        wakeup_ms: None,
        b_call_id: None,
        media_a_bytes: None,
        media_b_bytes: None,
        media_a_lost: None,
        media_b_lost: None,
    };
    block(async {
        let s = store::Store::connect(&site.db_url).await.expect("open db");
        s.insert_cdrs(&[cdr(0, true), cdr(1, false), cdr(2, true)])
            .await
            .expect("insert CDRs");
        s.close().await;
    });

    let out = ok(&site, &["cdr", "list", "--limit", "2"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("caller")
            && lines[0].contains("duration s")
            && lines[0].contains("hangup by"),
        "{out}"
    );
    let fields: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        fields,
        [
            "2023-11-14",
            "22:15:20",
            "alice",
            "48220000002",
            "int48220000002",
            "gateway:pl1",
            "200",
            "12.5",
            "caller"
        ],
        "newest first: {out}"
    );
    let fields: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(fields[1], "22:14:20", "{out}");
    assert_eq!(&fields[6..], ["486", "0.0", "callee"], "{out}");
    assert_eq!(lines[3], "2 call(s)", "{out}");
    assert!(ok(&site, &["cdr", "list"]).contains("3 call(s)"));
}
