//! Prepaid billing end to end: the real binary, SIPp callers and a SIPp gateway, tariffs and
//! balances in the database, costs read back from the CDRs and the ledger.
//!
//! The tariff sells `44…` at 0.60 a minute per second (1/1): 0.01 a second, so a balance of
//! 0.90 is 90 s of talk.

use std::time::{Duration, Instant};

use crate::calls::{assert_ok, cdrs, cli_ok, free_port, Sipp};
use crate::harness::{block, MariaDb, Server, Site};

const CENT: i64 = 10_000;

fn with_store<T>(site: &Site, f: impl AsyncFnOnce(&store::Store) -> T) -> T {
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        s.migrate().await.unwrap();
        let r = f(&s).await;
        s.close().await;
        r
    })
}

/// A site with billing on, alice prepaid with `balance` micro-units, a gateway at `gw` for
/// `00…` (the `00` stripped: the tariff sees `44…`).
fn billed_site(site: Site, balance: i64, gw: u16) -> Site {
    site.add_account("alice", "wonderland");
    cli_ok(&site, &["gateway", "add", "gw", &format!("127.0.0.1:{gw}")]);
    cli_ok(&site, &["route", "add", "00", "gateway:gw strip=2"]);
    cli_ok(&site, &["route", "add", "", "user-lookup"]);
    with_store(&site, async |s| {
        let id = s
            .upsert_tariff(&store::TariffRecord {
                id: 0,
                name: "retail".into(),
                currency: "EUR".into(),
                rounding_decimals: 6,
                rounding_mode: "up".into(),
                utc_offset_minutes: 0,
                bill_onnet: false,
            })
            .await
            .unwrap();
        s.replace_tariff_rows(
            id,
            &[store::TariffRowRecord {
                prefix: "44".into(),
                description: "United Kingdom".into(),
                iso: Some("GB".into()),
                from_minute: 0,
                to_minute: 1440,
                price_micros: 600_000,
                fee_micros: Some(0),
                inc_first: 1,
                inc_next: 1,
                min_duration: 0,
            }],
        )
        .await
        .unwrap();
        s.set_billing_account(&store::BillingAccountRow {
            login: "alice".into(),
            tariff_id: id,
            kind: "prepaid".into(),
            balance_micros: balance,
            credit_limit_micros: 0,
            currency: "EUR".into(),
        })
        .await
        .unwrap();
    });
    site
}

fn balance(site: &Site) -> i64 {
    with_store(site, async |s| {
        s.billing_account("alice")
            .await
            .unwrap()
            .unwrap()
            .balance_micros
    })
}

fn costs(site: &Site) -> Vec<Option<i64>> {
    with_store(site, async |s| s.cdr_costs("alice").await.unwrap())
}

fn cost_total(site: &Site) -> i64 {
    with_store(site, async |s| s.cdr_cost_total("alice").await.unwrap())
}

/// A caller that stays on the line until the server hangs up (BYE from the other side).
fn held_call(site: &Site, server: &Server, number: &str) -> crate::calls::Running {
    held_call_with(site, server, number, &[])
}

/// [`held_call`] with more SIPp options.
fn held_call_with(
    site: &Site,
    server: &Server,
    number: &str,
    extra: &[&str],
) -> crate::calls::Running {
    Sipp::new(site, "uac_call_remote_bye.xml", free_port())
        .rows(&[&format!("alice;wonderland;{number}")])
        .target(server.udp)
        .args(&["-timeout", "150"])
        .args(extra)
        .spawn()
}

/// A gateway that answers `n` calls and waits for each BYE.
fn gateway(site: &Site, port: u16, n: usize) -> crate::calls::Running {
    Sipp::new(site, "uas_answer.xml", port)
        .args(&["-m", &n.to_string(), "-timeout", "150"])
        .spawn()
}

#[test]
fn a_prepaid_call_is_cut_at_90_s_with_bye_to_both_legs() {
    let gw = free_port();
    let site = billed_site(Site::with_calls("billing = true\n"), 90 * CENT, gw);
    let server = site.start();
    let g = gateway(&site, gw, 1);
    let t = Instant::now();
    let caller = held_call(&site, &server, "004420");
    // both SIPps end only on a BYE from the server
    assert_ok("caller (BYE from the server)", caller.wait());
    assert_ok("gateway (BYE from the server)", g.wait());
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!(c.hangup_by, "credit");
    assert_eq!(c.final_code, 200);
    let talk = Duration::from_millis(c.duration_ms as u64);
    assert!(
        (Duration::from_secs(89)..=Duration::from_secs(91)).contains(&talk),
        "cut after {talk:?} (whole call {:?})",
        t.elapsed()
    );
    assert_eq!(balance(&site), 0, "the balance is spent, not overspent");
    assert_eq!(cost_total(&site), 90 * CENT);
    server.stop();
}

#[test]
fn parallel_calls_share_the_balance_and_never_exceed_it() {
    let gw = free_port();
    // 10 s of talk for two calls at once: both are cut after about 5 s
    let site = billed_site(Site::with_calls("billing = true\n"), 10 * CENT, gw);
    let server = site.start();
    let g = gateway(&site, gw, 2);
    let a = held_call(&site, &server, "004420");
    let b = held_call(&site, &server, "004421");
    assert_ok("first caller", a.wait());
    assert_ok("second caller", b.wait());
    assert_ok("gateway", g.wait());
    let rows = cdrs(&site, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|c| c.hangup_by == "credit"), "{rows:?}");
    let total: i64 = costs(&site).iter().map(|c| c.unwrap()).sum();
    assert!(total <= 10 * CENT, "together {total} > the balance");
    assert_eq!(balance(&site), 10 * CENT - total);
    assert!(balance(&site) >= 0);
    server.stop();
}

/// With two core shards, an account's parallel calls on different shards draw on one balance:
/// both are cut together (by the shard whose timer comes first, the other told) and together
/// they never cost more than it.
#[test]
fn parallel_calls_on_two_shards_share_the_balance() {
    let gw = free_port();
    let site = billed_site(Site::with_calls("billing = true\n"), 10 * CENT, gw);
    let server = site.start_with(&["--shards", "2"]);
    server.assert_shards(2);
    let g = gateway(&site, gw, 2);
    // each caller's one call (SIPp's %u is 1) gets a Call-ID of the shard given
    let call_id_of = |shard: usize| {
        (0..)
            .map(|i| format!("bill{i}"))
            .find(|p| sip_message::shard::index(&format!("{p}-1@x"), 2) == shard)
            .map(|p| format!("{p}-%u@x"))
            .unwrap()
    };
    let (on_0, on_1) = (call_id_of(0), call_id_of(1));
    let a = held_call_with(&site, &server, "004420", &["-cid_str", &on_0]);
    let b = held_call_with(&site, &server, "004421", &["-cid_str", &on_1]);
    assert_ok("first caller", a.wait());
    assert_ok("second caller", b.wait());
    assert_ok("gateway", g.wait());
    let rows = cdrs(&site, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let mut ids: Vec<&str> = rows.iter().map(|c| c.call_id.as_str()).collect();
    ids.sort_unstable();
    let mut want = [on_0.replace("%u", "1"), on_1.replace("%u", "1")];
    want.sort_unstable();
    assert_eq!(ids, want, "the calls were placed on both shards");
    assert!(rows.iter().all(|c| c.hangup_by == "credit"), "{rows:?}");
    // 10 s of talk for both at once: each about 5 s (5 ± half the time between the two
    // answers), never the 10 s one call alone would get
    for c in &rows {
        let talk = Duration::from_millis(c.duration_ms as u64);
        assert!(
            (Duration::from_secs(2)..=Duration::from_secs(8)).contains(&talk),
            "{talk:?}: {rows:?}"
        );
    }
    let total: i64 = costs(&site).iter().map(|c| c.unwrap()).sum();
    assert!(total <= 10 * CENT, "together {total} > the balance");
    assert_eq!(balance(&site), 10 * CENT - total);
    server.stop();
}

#[test]
fn a_call_without_enough_balance_is_refused_with_402_and_the_reason() {
    let gw = free_port();
    let site = billed_site(Site::with_calls("billing = true\n"), 0, gw);
    let server = site.start();
    let refused = Sipp::new(&site, "uac_expect_402.xml", free_port())
        .rows(&["alice;wonderland;004420"])
        .target(server.udp)
        .run();
    assert_ok("caller sees 402 Insufficient Balance", refused);
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 402);
    assert_eq!(costs(&site), [None]);
    server.stop();
}

/// Short calls (the caller hangs up after its pause), then the balance equals the start
/// minus the sum of the CDR costs, to the micro-unit, on this backend.
fn balance_is_the_sum_of_the_cdr_costs(site: Site) {
    let gw = free_port();
    let start = 500 * CENT;
    let site = billed_site(site, start, gw);
    let server = site.start();
    let g = gateway(&site, gw, 3);
    for n in ["004420", "004421", "004422"] {
        let ok = Sipp::new(&site, "uac_call.xml", free_port())
            .rows(&[&format!("alice;wonderland;{n}")])
            .target(server.udp)
            .run();
        assert_ok("caller", ok);
    }
    assert_ok("gateway", g.wait());
    let rows = cdrs(&site, 3);
    assert_eq!(rows.len(), 3);
    assert!(
        costs(&site).iter().all(|c| c.unwrap_or(0) > 0),
        "{:?}",
        costs(&site)
    );
    // the charge is written with the CDR: wait for the ledger to have the three
    let deadline = Instant::now() + Duration::from_secs(5);
    while cost_total(&site) != start - balance(&site) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let total = cost_total(&site);
    assert_eq!(start - balance(&site), total);
    assert_eq!(costs(&site).iter().map(|c| c.unwrap()).sum::<i64>(), total);
    server.stop();
}

#[test]
fn balance_is_the_sum_of_the_cdr_costs_on_sqlite() {
    balance_is_the_sum_of_the_cdr_costs(Site::with_calls("billing = true\n"));
}

#[test]
fn balance_is_the_sum_of_the_cdr_costs_on_mariadb() {
    let Some(db) = MariaDb::create("ferro_e2e_bill") else {
        return;
    };
    let site = Site::with_database(&format!(
        "url = \"{}\"\n\n[calls]\nbilling = true\n",
        db.url(3306)
    ));
    balance_is_the_sum_of_the_cdr_costs(site);
}

#[test]
fn kill_9_during_a_call_then_restart_settles_the_reservation_once() {
    let gw = free_port();
    let site = billed_site(Site::with_calls("billing = true\n"), 500 * CENT, gw);
    let server = site.start();
    let _g = gateway(&site, gw, 1);
    let _caller = held_call(&site, &server, "004420");
    // answered: its reservation row has its answer time
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered = with_store(&site, async |s| {
            s.reservations("test1")
                .await
                .unwrap()
                .iter()
                .any(|r| r.answer_ms.is_some())
        });
        if answered {
            break;
        }
        assert!(Instant::now() < deadline, "the call was never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    server.signal("KILL");
    drop(server);
    assert_eq!(
        balance(&site),
        500 * CENT,
        "nothing charged before the restart"
    );
    let server = site.start();
    let after = balance(&site);
    let settled = with_store(&site, async |s| {
        (
            s.reservations("test1").await.unwrap().len(),
            s.ledger(Some("alice"), 0, 100).await.unwrap(),
        )
    });
    assert_eq!(settled.0, 0, "no reservation left");
    let settles: Vec<_> = settled.1.iter().filter(|l| l.kind == "settle").collect();
    assert_eq!(settles.len(), 1, "{:?}", settled.1);
    // answered ≥ 2 s before the kill, charged up to the last heartbeat + 5 s: not free
    assert!(after < 500 * CENT - 2 * CENT, "balance {after}");
    assert_eq!(500 * CENT - after, cost_total(&site));
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].hangup_by, "restart");
    // a second restart settles nothing more
    server.stop();
    let server = site.start();
    assert_eq!(balance(&site), after);
    assert_eq!(cdrs(&site, 2).len(), 1);
    server.stop();
}

#[test]
fn the_cli_imports_tariffs_names_bad_lines_and_keeps_a_ledger() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let csv = site.dir.path().join("rates.csv");
    std::fs::write(
        &csv,
        "prefix;description;voice_rate;minimal_time;resolution;iso\n\
         44;United Kingdom;0.10;30;6;GB\n\
         447;UK Mobile;0.30;1;1;GB\n",
    )
    .unwrap();
    let path = csv.display().to_string();
    cli_ok(&site, &["billing", "import", "retail", &path]);
    let (ok, out, _) = site.cli(&["billing", "rates", "retail"]);
    assert!(
        ok && out.contains("447\t0.30") && out.contains("30/6"),
        "{out}"
    );
    std::fs::write(&csv, "prefix;voice_rate\n44;0.1\n45;ten\n").unwrap();
    let (ok, _, err) = site.cli(&["billing", "import", "retail", &path]);
    assert!(
        !ok && err.contains("line 3") && err.contains("voice_rate"),
        "{err}"
    );
    cli_ok(
        &site,
        &["billing", "account", "alice", "--tariff", "retail"],
    );
    cli_ok(
        &site,
        &["billing", "credit", "alice", "10", "--reason", "top-up"],
    );
    cli_ok(
        &site,
        &["billing", "debit", "alice", "2.5", "--reason", "fee"],
    );
    let (ok, out, _) = site.cli(&["billing", "balance", "alice"]);
    assert!(ok && out.trim() == "7.50 EUR", "{out}");
    let (ok, out, _) = site.cli(&["billing", "ledger", "alice"]);
    assert!(ok && out.contains("credit\t10.00\t10.00\ttop-up"), "{out}");
    assert!(out.contains("debit\t-2.50\t7.50\tfee"), "{out}");
    let (ok, _, err) = site.cli(&["billing", "credit", "bob", "1", "--reason", "x"]);
    assert!(!ok && err.contains("not billed"), "{err}");
}
