//! Billing over HTTP through the real binary: the apps' `GET /api/balance` and `GET
//! /api/rates` with the login's SIP credentials (Digest, computed here, sent by reqwest), and
//! the operator's billing routes (tariff CSV import, credit/debit with the ledger, plans,
//! reports), on SQLite and MariaDB, after real calls through a SIPp gateway. Also issue 20
//! item 6: ONNET, voicemail and service calls are free unless the tariff rates them.

use std::time::{Duration, Instant};

use serde_json::Value;
use sip_message::digest::{self, Algorithm, ResponseParams};

use crate::calls::{assert_ok, cdrs, cli_ok, device, free_port, Sipp};
use crate::harness::{block, MariaDb, Server, Site};

const TOKEN: &str = "e2e-billing-token-0123456789abcdef";

/// The tariff as voipswitch exports it: the UK rows grouped under one description and price
/// for the apps, a mobile row, France, and a row without ISO code (rated, never listed).
const CSV: &str = "prefix;description;voice_rate;minimal_time;resolution;iso\n\
                   44;United Kingdom;0.60;1;1;GB\n\
                   4420;United Kingdom;0.60;1;1;GB\n\
                   447;United Kingdom Mobile;0.90;30;6;GB\n\
                   33;France;0.30;60;60;FR\n\
                   49;Germany;0.20;1;1;\n";

/// `[admin]` on a fixed port with the token, billing on, on `database` (a `[database]` body).
fn site(database: Option<&str>) -> Site {
    let port = free_port();
    let sections = format!(
        "[admin]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"admin.token\"\n\n[calls]\nbilling = true\n"
    );
    let site = match database {
        None => Site::with_sections(&sections),
        Some(db) => Site::with_database(&format!("{db}\n\n{sections}")),
    };
    std::fs::write(site.dir.path().join("admin.token"), format!("{TOKEN}\n")).unwrap();
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

/// An HTTP answer read by reqwest.
struct Reply {
    status: u16,
    challenges: Vec<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Reply {
    let url = format!("http://{}{path}", server.http.expect("admin listener"));
    block(async {
        let client = reqwest::Client::new();
        let mut rq = client.request(method, &url).body(body.to_owned());
        if let Some(a) = auth {
            rq = rq.header("Authorization", a);
        }
        let r = rq.send().await.expect("the admin API answers");
        let status = r.status().as_u16();
        let challenges = r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        Reply {
            status,
            challenges,
            body: r.text().await.unwrap(),
        }
    })
}

/// The operator's request, with the bearer token.
fn op(server: &Server, method: &str, path: &str, body: &str) -> Reply {
    let auth = format!("Bearer {TOKEN}");
    send(server, method.parse().unwrap(), path, Some(&auth), body)
}

/// The app's `GET path` as `login`/`password`: the 401 challenge first (MD5), then the
/// Digest answer to it (RFC 7616, qop=auth, the request-target as uri).
fn app_get(server: &Server, path: &str, login: &str, password: &str) -> Reply {
    let first = send(server, reqwest::Method::GET, path, None, "");
    assert_eq!(first.status, 401, "no credentials: {}", first.body);
    let challenge = first
        .challenges
        .iter()
        .find(|c| c.contains("algorithm=MD5"))
        .unwrap_or_else(|| panic!("no MD5 challenge in {:?}", first.challenges));
    let c = sip_message::Challenge::parse(challenge).expect("a digest challenge");
    let alg = Algorithm::Md5;
    let (nc, cnonce) = ("00000001", "7d1c0a4b");
    let response = digest::response(
        alg,
        &alg.ha1(login, &c.realm, password),
        &ResponseParams {
            method: "GET",
            uri: path,
            nonce: &c.nonce,
            qop_auth: Some((nc, cnonce)),
        },
    );
    let auth = format!(
        "Digest username=\"{login}\", realm=\"{}\", nonce=\"{}\", uri=\"{path}\", \
         algorithm=MD5, response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\"",
        c.realm, c.nonce
    );
    send(server, reqwest::Method::GET, path, Some(&auth), "")
}

fn micros(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn ledger(site: &Site, login: &str) -> Vec<store::LedgerEntry> {
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let l = s.ledger(Some(login), 0, 1000).await.unwrap();
        s.close().await;
        l
    })
}

/// The cost of each CDR of `login`, newest first (`None`: not rated).
fn costs(site: &Site, login: &str) -> Vec<Option<i64>> {
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let c = s.cdr_costs(login).await.unwrap();
        s.close().await;
        c
    })
}

fn stored_balance(site: &Site, login: &str) -> i64 {
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let b = s
            .billing_account(login)
            .await
            .unwrap()
            .unwrap()
            .balance_micros;
        s.close().await;
        b
    })
}

fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    // civil from days (H. Hinnant)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The whole story on one backend: the operator sets billing up over the API, alice makes
/// two calls through a SIPp gateway, then the apps and the operator read the figures.
fn balance_rates_and_operator_routes(site: Site) {
    let gw = free_port();
    cli_ok(&site, &["gateway", "add", "gw", &format!("127.0.0.1:{gw}")]);
    cli_ok(&site, &["route", "add", "00", "gateway:gw strip=2"]);
    cli_ok(&site, &["route", "add", "", "user-lookup"]);
    let server = site.start();

    // a CSV error names its line, and nothing is written
    let bad = op(
        &server,
        "PUT",
        "/api/billing/tariffs/retail",
        "prefix;voice_rate\n44;0.1\n45;ten\n",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body.contains("line 3") && bad.body.contains("voice_rate"),
        "{}",
        bad.body
    );
    assert_eq!(
        op(&server, "GET", "/api/billing/tariffs", "").json(),
        serde_json::json!([])
    );
    let put = op(
        &server,
        "PUT",
        "/api/billing/tariffs/retail?currency=EUR",
        CSV,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["prefixes"], 5);
    let shown = op(&server, "GET", "/api/billing/tariffs/retail", "").json();
    assert_eq!(shown["rows"].as_array().unwrap().len(), 5, "{shown}");
    // by prefix: 33, 44, 4420, 447, 49
    assert_eq!(shown["rows"][3]["prefix"], "447", "{shown}");
    assert_eq!(shown["rows"][3]["increments"], "30/6", "{shown}");
    assert_eq!(shown["rows"][4]["iso"], Value::Null, "{shown}");
    for login in ["alice", "bob"] {
        let a = op(
            &server,
            "PUT",
            &format!("/api/billing/accounts/{login}"),
            r#"{"tariff":"retail"}"#,
        );
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.json()["balance_micros"], 0);
    }

    // credit and debit: the balance moves and each writes its ledger line
    let c = op(
        &server,
        "POST",
        "/api/billing/accounts/alice/credit",
        r#"{"amount":"5.00","reason":"top-up by card"}"#,
    );
    assert_eq!(c.status, 200, "{}", c.body);
    let c = c.json();
    assert_eq!(micros(&c, "balance_micros"), 5_000_000);
    assert_eq!(c["ledger"]["kind"], "credit");
    assert_eq!(c["ledger"]["reason"], "top-up by card");
    let d = op(
        &server,
        "POST",
        "/api/billing/accounts/alice/debit",
        r#"{"amount":0.5,"reason":"monthly fee"}"#,
    )
    .json();
    assert_eq!(micros(&d, "balance_micros"), 4_500_000, "{d}");
    assert_eq!(stored_balance(&site, "alice"), 4_500_000);
    let lines = ledger(&site, "alice");
    assert_eq!(
        lines
            .iter()
            .map(|l| (
                l.kind.as_str(),
                l.amount_micros,
                l.balance_after_micros,
                l.reason.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("credit", 5_000_000, 5_000_000, "top-up by card"),
            ("debit", -500_000, 4_500_000, "monthly fee")
        ]
    );
    for (body, why) in [
        (r#"{"amount":"-1","reason":"x"}"#, "negative"),
        (r#"{"amount":"1","reason":" "}"#, "no reason"),
        (r#"{"amount":"1.0000001","reason":"x"}"#, "7 decimals"),
    ] {
        let r = op(&server, "POST", "/api/billing/accounts/alice/credit", body);
        assert_eq!(r.status, 400, "{why}: {}", r.body);
    }
    let r = op(
        &server,
        "POST",
        "/api/billing/accounts/nobody/credit",
        r#"{"amount":"1","reason":"x"}"#,
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        stored_balance(&site, "alice"),
        4_500_000,
        "refused: unchanged"
    );
    op(
        &server,
        "POST",
        "/api/billing/accounts/bob/credit",
        r#"{"amount":"1.25","reason":"welcome"}"#,
    );

    // two rated calls through the gateway; a restart instead of the 10 s poll of billed accounts
    server.stop();
    let server = site.start();
    let g = Sipp::new(&site, "uas_answer.xml", gw)
        .args(&["-m", "2", "-timeout", "60"])
        .spawn();
    for n in ["00442079460000", "00442079460001"] {
        let ok = Sipp::new(&site, "uac_call.xml", free_port())
            .rows(&[&format!("alice;wonderland;{n}")])
            .target(server.udp)
            .run();
        assert_ok("caller", ok);
    }
    assert_ok("gateway", g.wait());
    let rows = cdrs(&site, 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ledger(&site, "alice").len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = ledger(&site, "alice");
    let charged: i64 = lines
        .iter()
        .filter(|l| l.kind == "call")
        .map(|l| -l.amount_micros)
        .sum();
    let cdr_sum: i64 = costs(&site, "alice").into_iter().flatten().sum();
    assert_eq!(
        lines.iter().filter(|l| l.kind == "call").count(),
        2,
        "{lines:?}"
    );
    assert!(cdr_sum > 0, "{rows:?}");
    assert_eq!(charged, cdr_sum, "ledger and CDRs agree");

    // the app's balance: after the calls, to the micro-unit
    let bal = app_get(&server, "/api/balance", "alice", "wonderland");
    assert_eq!(bal.status, 200, "{}", bal.body);
    let bal = bal.json();
    assert_eq!(micros(&bal, "balance_micros"), 4_500_000 - cdr_sum, "{bal}");
    assert_eq!(
        micros(&bal, "balance_micros"),
        lines.last().unwrap().balance_after_micros
    );
    assert_eq!(bal["currency"], "EUR");
    assert_eq!(bal["type"], "prepaid");
    assert_eq!(bal["login"], "alice");
    // a wrong password, an unknown login: 401, no figure
    for (login, password) in [("alice", "guess"), ("mallory", "wonderland")] {
        let r = app_get(&server, "/api/balance", login, password);
        assert_eq!(r.status, 401, "{login}: {}", r.body);
        assert!(!r.body.contains("balance_micros"), "{}", r.body);
    }
    // bob sees his own balance, never alice's; no parameter can name another login
    let b = app_get(&server, "/api/balance", "bob", "builder").json();
    assert_eq!(
        (b["login"].as_str(), micros(&b, "balance_micros")),
        (Some("bob"), 1_250_000)
    );
    let r = app_get(&server, "/api/balance?login=alice", "bob", "builder");
    assert_eq!(r.status, 400, "{}", r.body);
    // the operator token is not an app credential, and the apps' routes need no token
    let r = op(&server, "GET", "/api/balance", "");
    assert_eq!(r.status, 401);

    // rates of a country: the GB rows grouped by description and price, no row without ISO
    let gb = app_get(&server, "/api/rates?country=gb", "alice", "wonderland");
    assert_eq!(gb.status, 200, "{}", gb.body);
    let gb = gb.json();
    assert_eq!(gb["country"], "GB");
    assert_eq!(gb["currency"], "EUR");
    let rates = gb["rates"].as_array().unwrap();
    assert_eq!(rates.len(), 2, "{gb}");
    assert_eq!(rates[0]["description"], "United Kingdom");
    assert_eq!(rates[0]["prefixes"], serde_json::json!(["44", "4420"]));
    assert_eq!(rates[0]["price"], "0.60");
    assert_eq!(rates[1]["description"], "United Kingdom Mobile");
    assert_eq!(rates[1]["increments"], "30/6");
    let fr = app_get(&server, "/api/rates?country=FR", "bob", "builder").json();
    assert_eq!(fr["rates"].as_array().unwrap().len(), 1, "{fr}");
    let de = app_get(&server, "/api/rates?country=DE", "alice", "wonderland").json();
    assert_eq!(
        de["rates"],
        serde_json::json!([]),
        "49 has no ISO code: hidden"
    );
    assert!(!de.to_string().contains("Germany"));

    // the rate of a dialled number, as the B2BUA rates it (the `00` stripped by the route)
    let n = app_get(
        &server,
        "/api/rates?number=00447700900123",
        "alice",
        "wonderland",
    )
    .json();
    assert_eq!(n["rated_number"], "447700900123", "{n}");
    assert_eq!(
        (n["prefix"].as_str(), n["price"].as_str()),
        (Some("447"), Some("0.90"))
    );
    assert_eq!(n["onnet"], false);
    let n = app_get(
        &server,
        "/api/rates?number=0049301234",
        "alice",
        "wonderland",
    )
    .json();
    assert_eq!(
        n["description"], "Germany",
        "found by number even without ISO: {n}"
    );
    let n = app_get(&server, "/api/rates?number=bob", "alice", "wonderland").json();
    assert_eq!(
        (n["onnet"].as_bool(), n["free"].as_bool()),
        (Some(true), Some(true)),
        "{n}"
    );
    let r = app_get(&server, "/api/rates?number=0099123", "alice", "wonderland");
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app_get(&server, "/api/rates", "alice", "wonderland");
    assert_eq!(r.status, 400, "{}", r.body);

    // the operator's ledger and reports agree with the CDRs
    let l = op(&server, "GET", "/api/billing/accounts/alice/ledger", "").json();
    assert_eq!(l.as_array().unwrap().len(), 4, "{l}");
    let day = today();
    let by_acc = op(
        &server,
        "GET",
        &format!("/api/billing/reports?by=account&from={day}&to={day}"),
        "",
    )
    .json();
    assert_eq!(by_acc.as_array().unwrap().len(), 1, "{by_acc}");
    assert_eq!(by_acc[0]["key"], "alice");
    assert_eq!(by_acc[0]["calls"], 2);
    assert_eq!(micros(&by_acc[0], "cost_micros"), cdr_sum);
    let talk: i64 = rows.iter().map(|c| c.duration_ms).sum::<i64>() / 1000;
    assert_eq!(by_acc[0]["duration_seconds"], talk, "{by_acc}");
    let by_day = op(&server, "GET", "/api/billing/reports?by=day", "").json();
    assert_eq!(by_day[0]["key"], day.as_str());
    let by_dest = op(&server, "GET", "/api/billing/reports?by=destination", "").json();
    assert_eq!(by_dest[0]["key"], "4420", "{by_dest}");
    let none = op(
        &server,
        "GET",
        "/api/billing/reports?by=account&from=2001-01-01&to=2001-01-31",
        "",
    )
    .json();
    assert_eq!(none, serde_json::json!([]));
    let r = op(&server, "GET", "/api/billing/reports?by=week", "");
    assert_eq!(r.status, 400);

    // plans: for sale, assigned (price debited), listed, taken back
    let p = op(
        &server,
        "PUT",
        "/api/billing/plans/UK%20100",
        r#"{"prefixes":["44"],"seconds":6000,"days":30,"price":"1"}"#,
    );
    assert_eq!(p.status, 200, "{}", p.body);
    let before = stored_balance(&site, "alice");
    let held = op(
        &server,
        "POST",
        "/api/billing/accounts/alice/plans",
        r#"{"plan":"UK 100"}"#,
    );
    assert_eq!(held.status, 201, "{}", held.body);
    let id = held.json()["id"].as_i64().unwrap();
    assert_eq!(stored_balance(&site, "alice"), before - 1_000_000);
    assert_eq!(ledger(&site, "alice").last().unwrap().kind, "plan");
    let list = op(&server, "GET", "/api/billing/accounts/alice/plans", "").json();
    assert_eq!(list[0]["seconds_left"], 6000, "{list}");
    assert_eq!(
        op(&server, "GET", "/api/billing/accounts/bob/plans", "").json(),
        serde_json::json!([])
    );
    let r = op(
        &server,
        "DELETE",
        &format!("/api/billing/accounts/bob/plans/{id}"),
        "",
    );
    assert_eq!(r.status, 404, "not bob's plan");
    let r = op(
        &server,
        "DELETE",
        &format!("/api/billing/accounts/alice/plans/{id}"),
        "",
    );
    assert_eq!(r.status, 204, "{}", r.body);

    // a tariff in use is kept; the balance list shows both accounts
    let r = op(&server, "DELETE", "/api/billing/tariffs/retail", "");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("alice") && r.body.contains("bob"),
        "{}",
        r.body
    );
    let all = op(&server, "GET", "/api/billing/accounts", "").json();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    // the operator routes need the token
    let r = send(
        &server,
        reqwest::Method::GET,
        "/api/billing/accounts",
        None,
        "",
    );
    assert_eq!(r.status, 401);
    server.stop();
}

#[test]
fn the_apps_balance_and_rates_and_the_operator_billing_routes_on_sqlite() {
    balance_rates_and_operator_routes(site(None));
}

#[test]
fn the_apps_balance_and_rates_and_the_operator_billing_routes_on_mariadb() {
    let Some(db) = MariaDb::create("ferro_e2e_billapi") else {
        return;
    };
    balance_rates_and_operator_routes(site(Some(&format!("url = \"{}\"", db.url(3306)))));
}

/// Issue 20 item 6: a billed prepaid account with nothing on it still calls users, their
/// voicemail and the service numbers of this server, unrated; once the tariff rates ONNET
/// calls and has a row for a service number, that call needs money like any other.
#[test]
fn onnet_voicemail_and_service_calls_are_free_unless_the_tariff_rates_them() {
    let site = site(None);
    site.add_account("carol", "c4rol");
    let svc = free_port();
    let vm = format!("sip:vm@127.0.0.1:{svc}");
    cli_ok(&site, &["route", "add", "950", &format!("voicemail:{vm}")]);
    cli_ok(
        &site,
        &[
            "route",
            "add",
            "951",
            &format!("service:sip:conf@127.0.0.1:{svc}"),
        ],
    );
    cli_ok(&site, &["route", "add", "", "user-lookup"]);
    cli_ok(&site, &["account", "set", "carol", "--voicemail", &vm]);
    let csv = site.dir.path().join("rates.csv");
    std::fs::write(
        &csv,
        "prefix;description;voice_rate;minimal_time;resolution\n44;UK;0.60;1;1\n",
    )
    .unwrap();
    let path = csv.display().to_string();
    cli_ok(&site, &["billing", "import", "retail", &path]);
    cli_ok(
        &site,
        &["billing", "account", "alice", "--tariff", "retail"],
    );
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_answer.xml");
    let services = Sipp::new(&site, "uas_answer.xml", svc)
        .args(&["-m", "3", "-timeout", "60"])
        .spawn();
    // bob (a user), 950 (voicemail number), 951 (a service), carol (not registered: her voicemail)
    for callee in ["bob", "950", "951", "carol"] {
        let ok = Sipp::new(&site, "uac_call.xml", free_port())
            .rows(&[&format!("alice;wonderland;{callee}")])
            .target(server.udp)
            .run();
        assert_ok(&format!("alice with 0.00 calls {callee}"), ok);
    }
    assert_ok("bob", bob.wait());
    assert_ok("voicemail and service", services.wait());
    let rows = cdrs(&site, 4);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        rows.iter().all(|c| c.final_code == 200),
        "answered: {rows:?}"
    );
    assert_eq!(costs(&site, "alice"), [None; 4], "unrated");
    assert_eq!(stored_balance(&site, "alice"), 0);
    assert!(ledger(&site, "alice").is_empty());
    // the apps say so too
    let n = app_get(&server, "/api/rates?number=950", "alice", "wonderland").json();
    assert_eq!(
        (n["onnet"].as_bool(), n["free"].as_bool()),
        (Some(true), Some(true)),
        "{n}"
    );
    server.stop();

    // the tariff now rates ONNET calls and prices 95…: 950 needs money, alice has none
    std::fs::write(
        &csv,
        "prefix;description;voice_rate;minimal_time;resolution\n44;UK;0.60;1;1\n95;Voicemail;0.06;60;60\n",
    )
    .unwrap();
    cli_ok(
        &site,
        &["billing", "import", "retail", &path, "--bill-onnet"],
    );
    let server = site.start();
    let n = app_get(&server, "/api/rates?number=950", "alice", "wonderland").json();
    assert_eq!(
        (n["free"].as_bool(), n["price"].as_str()),
        (Some(false), Some("0.06")),
        "{n}"
    );
    let refused = Sipp::new(&site, "uac_expect_402.xml", free_port())
        .rows(&["alice;wonderland;950"])
        .target(server.udp)
        .run();
    assert_ok("950 refused with 402 once rated", refused);
    server.stop();
}

/// The CLI covers what the operator API does: tariffs listed and deleted (not while used),
/// billed accounts with balances, plans for sale and held (with ids) and taken back, reports
/// over a date range.
#[test]
fn the_cli_lists_and_deletes_tariffs_and_plans_and_reports_a_date_range() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let csv = site.dir.path().join("rates.csv");
    std::fs::write(&csv, CSV).unwrap();
    let path = csv.display().to_string();
    cli_ok(&site, &["billing", "import", "retail", &path]);
    cli_ok(
        &site,
        &["billing", "import", "spare", &path, "--currency", "USD"],
    );
    let (ok, out, err) = site.cli(&["billing", "import", "x", &path, "--currency", "euro"]);
    assert!(!ok && err.contains("currency"), "{out}{err}");
    let (ok, out, _) = site.cli(&["billing", "tariffs"]);
    assert!(
        ok && out.contains("retail\tEUR\t5 rows") && out.contains("spare\tUSD"),
        "{out}"
    );
    cli_ok(
        &site,
        &["billing", "account", "alice", "--tariff", "retail"],
    );
    cli_ok(
        &site,
        &["billing", "credit", "alice", "3", "--reason", "gift"],
    );
    let (ok, out, _) = site.cli(&["billing", "accounts"]);
    assert!(
        ok && out.contains("alice\tprepaid\t3.00 EUR") && out.contains("tariff retail"),
        "{out}"
    );
    let (ok, _, err) = site.cli(&["billing", "tariff-delete", "retail"]);
    assert!(
        !ok && err.contains("used by 1 billed account(s) (alice)"),
        "{err}"
    );
    cli_ok(&site, &["billing", "tariff-delete", "spare"]);
    let (_, out, _) = site.cli(&["billing", "tariffs"]);
    assert!(!out.contains("spare"), "{out}");
    let (ok, _, err) = site.cli(&["billing", "tariff-delete", "spare"]);
    assert!(!ok && err.contains("no tariff"), "{err}");

    cli_ok(
        &site,
        &[
            "billing",
            "plan-add",
            "UK",
            "--prefixes",
            "44",
            "--seconds",
            "600",
            "--days",
            "7",
            "--price",
            "1",
        ],
    );
    let (ok, out, _) = site.cli(&["billing", "plans"]);
    assert!(ok && out.contains("UK\t44\t600 s\t7 days\t1.00"), "{out}");
    cli_ok(&site, &["billing", "plan-assign", "alice", "UK"]);
    let (ok, out, _) = site.cli(&["billing", "plans", "alice"]);
    assert!(ok && out.contains("\tUK\t44\t600 s left"), "{out}");
    let id = out.split('\t').next().unwrap().trim().to_owned();
    let (ok, _, err) = site.cli(&["billing", "plan-remove", "alice", "999"]);
    assert!(!ok && err.contains("holds no plan 999"), "{err}");
    cli_ok(&site, &["billing", "plan-remove", "alice", &id]);
    let (_, out, _) = site.cli(&["billing", "plans", "alice"]);
    assert!(out.trim().is_empty(), "{out}");
    let (_, out, _) = site.cli(&["billing", "balance", "alice"]);
    assert_eq!(out.trim(), "2.00 EUR", "the plan's price stays paid");

    // a rated call on 2023-11-14 and one on the 15th: the range picks the first
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let day = 19_675_i64 * 86_400_000;
        for (n, start) in [(1, day + 3_600_000), (2, day + 86_400_000 + 60_000)] {
            let call_id = format!("c{n}");
            let cdr = store::CdrRow {
                call_id: call_id.clone(),
                caller: "alice".into(),
                callee: "4420".into(),
                dialed: "004420".into(),
                routed_number: "4420".into(),
                route: "gateway".into(),
                gateway: Some("gw".into()),
                start_ms: start,
                ringing_ms: None,
                answer_ms: Some(start + 1_000),
                end_ms: start + 31_000,
                duration_ms: 30_000,
                final_code: 200,
                hangup_by: "caller".into(),
                media_a_packets: None,
                media_b_packets: None,
                node_id: "n1".into(),
                wakeup_ms: None,
                b_call_id: None,
                media_a_bytes: None,
                media_b_bytes: None,
                media_a_lost: None,
                media_b_lost: None,
            };
            let charge = store::ChargeRow {
                call_key: format!("n1:{call_id}"),
                login: "alice".into(),
                cost_micros: 300_000,
                rate_micros: 600_000,
                tariff_prefix: "4420".into(),
                billed_seconds: 30,
                bundle: None,
                at_ms: start + 31_000,
                kind: "call",
            };
            s.insert_rated_cdrs(&[(cdr, charge)]).await.unwrap();
        }
        s.close().await;
    });
    let (ok, out, _) = site.cli(&[
        "billing",
        "report",
        "--by",
        "day",
        "--from",
        "2023-11-14",
        "--to",
        "2023-11-14",
    ]);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "2023-11-14\t1 calls\t30 s talk\t30 s billed\t0.30",
        "{out}"
    );
    let (_, out, _) = site.cli(&["billing", "report", "--by", "account"]);
    assert_eq!(
        out.trim(),
        "alice\t2 calls\t60 s talk\t60 s billed\t0.60",
        "{out}"
    );
    let (ok, _, err) = site.cli(&["billing", "report", "--by", "day", "--from", "2023-02-30"]);
    assert!(!ok && err.contains("not a date"), "{err}");
}
