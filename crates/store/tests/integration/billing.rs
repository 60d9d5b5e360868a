//! Billing tables: tariffs, accounts, the ledger, reservations, the charge with its CDR in one
//! transaction (exactly once), plans and reports, on SQLite and MariaDB.

use store::{
    BillingAccountRow, CdrRow, ChargeRow, PlanRow, ReportBy, ReservationRow, TariffDeletion,
    TariffRecord, TariffRowRecord,
};

use crate::support::each_backend;

fn tariff() -> TariffRecord {
    TariffRecord {
        id: 0,
        name: "retail".into(),
        currency: "EUR".into(),
        rounding_decimals: 6,
        rounding_mode: "up".into(),
        utc_offset_minutes: 0,
        bill_onnet: false,
    }
}

fn trow(prefix: &str, iso: Option<&str>, price: i64) -> TariffRowRecord {
    TariffRowRecord {
        prefix: prefix.into(),
        description: format!("dest {prefix}"),
        iso: iso.map(Into::into),
        from_minute: 0,
        to_minute: 1440,
        price_micros: price,
        fee_micros: Some(0),
        inc_first: 1,
        inc_next: 1,
        min_duration: 0,
    }
}

async fn billed(store: &store::Store, login: &str, balance: i64) -> i64 {
    let id = store.upsert_tariff(&tariff()).await.unwrap();
    store
        .set_billing_account(&BillingAccountRow {
            login: login.into(),
            tariff_id: id,
            kind: "prepaid".into(),
            balance_micros: balance,
            credit_limit_micros: 0,
            currency: "EUR".into(),
        })
        .await
        .unwrap();
    id
}

fn cdr(call_id: &str, secs: i64) -> CdrRow {
    let start = 1_700_000_000_000;
    CdrRow {
        call_id: call_id.into(),
        caller: "alice".into(),
        callee: "4420".into(),
        dialed: "int4420".into(),
        routed_number: "4420".into(),
        route: "gateway".into(),
        gateway: Some("gw".into()),
        start_ms: start,
        ringing_ms: None,
        answer_ms: Some(start + 1_000),
        end_ms: start + 1_000 + secs * 1_000,
        duration_ms: secs * 1_000,
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
    }
}

fn charge(call_id: &str, cost: i64, secs: i64) -> ChargeRow {
    ChargeRow {
        call_key: format!("n1:{call_id}"),
        login: "alice".into(),
        cost_micros: cost,
        rate_micros: 600_000,
        tariff_prefix: "44".into(),
        billed_seconds: secs,
        bundle: None,
        at_ms: 1_700_000_100_000,
        kind: "call",
    }
}

fn reservation(call_id: &str) -> ReservationRow {
    ReservationRow {
        call_key: format!("n1:{call_id}"),
        node_id: "n1".into(),
        call_id: call_id.into(),
        login: "alice".into(),
        number: "4420".into(),
        tariff_id: 1,
        prefix: "44".into(),
        price_micros: 600_000,
        fee_micros: 0,
        inc_first: 1,
        inc_next: 1,
        min_duration: 0,
        rounding_decimals: 6,
        rounding_mode: "up".into(),
        bundle_id: None,
        bundle_seconds: None,
        start_ms: 1_700_000_000_000,
        answer_ms: None,
        max_ms: 90_000,
        seen_ms: 1_700_000_000_000,
    }
}

#[tokio::test]
async fn tariffs_round_trip_and_replace() {
    each_backend("tariffs_round_trip_and_replace", |ctx| async move {
        let s = &ctx.store;
        let id = s.upsert_tariff(&tariff()).await.unwrap();
        let again = s
            .upsert_tariff(&TariffRecord {
                rounding_decimals: 2,
                ..tariff()
            })
            .await
            .unwrap();
        assert_eq!(id, again, "same name, same tariff");
        assert_eq!(s.list_tariffs().await.unwrap()[0].rounding_decimals, 2);
        let mut band = trow("44", None, 20_000);
        band.from_minute = 1320;
        band.to_minute = 360;
        band.fee_micros = None;
        s.replace_tariff_rows(id, &[trow("44", Some("GB"), 100_000), band.clone()])
            .await
            .unwrap();
        let rows = s.tariff_rows(id).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], band);
        s.replace_tariff_rows(id, &[trow("33", Some("FR"), 50_000)])
            .await
            .unwrap();
        assert_eq!(s.tariff_rows(id).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn credits_and_debits_are_in_the_ledger() {
    each_backend("credits_and_debits_are_in_the_ledger", |ctx| async move {
        let s = &ctx.store;
        billed(s, "alice", 1_000_000).await;
        assert_eq!(
            s.adjust_balance("alice", 2_500_000, "top-up", 10)
                .await
                .unwrap(),
            Some(3_500_000)
        );
        assert_eq!(
            s.adjust_balance("alice", -500_000, "refund reversal", 11)
                .await
                .unwrap(),
            Some(3_000_000)
        );
        assert_eq!(s.adjust_balance("nobody", 1, "x", 12).await.unwrap(), None);
        let l = s.ledger(Some("alice"), 0, 10).await.unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].kind.as_str(), l[0].amount_micros),
            ("credit", 2_500_000)
        );
        assert_eq!(
            (l[1].kind.as_str(), l[1].reason.as_str()),
            ("debit", "refund reversal")
        );
        assert_eq!(l[1].balance_after_micros, 3_000_000);
        assert_eq!(s.ledger(None, l[0].id, 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_charge_and_its_cdr_are_one_transaction_and_happen_once() {
    each_backend(
        "a_charge_and_its_cdr_are_one_transaction",
        |ctx| async move {
            let s = &ctx.store;
            billed(s, "alice", 1_000_000).await;
            s.put_reservations(&[reservation("c1"), reservation("c2")])
                .await
                .unwrap();
            assert_eq!(s.reservations("n1").await.unwrap().len(), 2);
            let charged = s
                .insert_rated_cdrs(&[
                    (cdr("c1", 13), charge("c1", 130_000, 13)),
                    (cdr("c2", 7), charge("c2", 70_000, 7)),
                ])
                .await
                .unwrap();
            assert_eq!(charged, vec![true, true]);
            assert!(s.reservations("n1").await.unwrap().is_empty());
            let acc = s.billing_account("alice").await.unwrap().unwrap();
            assert_eq!(acc.balance_micros, 800_000);
            assert_eq!(s.cdr_cost_total("alice").await.unwrap(), 200_000);
            // the same call again (a settlement racing the normal end): not charged twice
            let again = s
                .insert_rated_cdrs(&[(cdr("c1", 13), charge("c1", 130_000, 13))])
                .await
                .unwrap();
            assert_eq!(again, vec![false]);
            let acc = s.billing_account("alice").await.unwrap().unwrap();
            assert_eq!(acc.balance_micros, 800_000);
            assert_eq!(s.cdr_cost_total("alice").await.unwrap(), 200_000);
            assert_eq!(
                ctx.count("SELECT COUNT(*) FROM cdr WHERE cost_micros IS NULL")
                    .await,
                1
            );
            // balance = start - sum of the CDR costs, to the micro-unit
            assert_eq!(
                1_000_000 - s.cdr_cost_total("alice").await.unwrap(),
                acc.balance_micros
            );
        },
    )
    .await;
}

#[tokio::test]
async fn reservations_answer_heartbeat_release() {
    each_backend("reservations_answer_heartbeat_release", |ctx| async move {
        let s = &ctx.store;
        s.put_reservations(&[reservation("c1")]).await.unwrap();
        let mut r = reservation("c1");
        r.answer_ms = Some(1_700_000_001_000);
        s.put_reservations(&[r]).await.unwrap();
        assert_eq!(
            s.touch_reservations("n1", 1_700_000_050_000).await.unwrap(),
            1
        );
        assert_eq!(s.touch_reservations("n2", 1).await.unwrap(), 0);
        let rows = s.reservations("n1").await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].answer_ms, Some(1_700_000_001_000));
        assert_eq!(rows[0].seen_ms, 1_700_000_050_000);
        assert!(s.release_reservation("n1:c1").await.unwrap());
        assert!(!s.release_reservation("n1:c1").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn plans_are_bought_and_consumed() {
    each_backend("plans_are_bought_and_consumed", |ctx| async move {
        let s = &ctx.store;
        billed(s, "alice", 5_000_000).await;
        s.upsert_plan(&PlanRow {
            id: 0,
            name: "UK 100".into(),
            prefixes: "44,4420".into(),
            seconds: 6_000,
            days: 30,
            price_micros: 2_000_000,
        })
        .await
        .unwrap();
        let id = s
            .assign_plan("alice", "UK 100", 1_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.assign_plan("alice", "none", 1_000).await.unwrap(), None);
        assert_eq!(s.assign_plan("bob", "UK 100", 1_000).await.unwrap(), None);
        let held = s.account_plans(Some("alice")).await.unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].valid_until_ms, 1_000 + 30 * 86_400_000);
        assert_eq!(
            s.billing_account("alice")
                .await
                .unwrap()
                .unwrap()
                .balance_micros,
            3_000_000,
            "the plan's price is debited"
        );
        let mut c = charge("c1", 0, 60);
        c.bundle = Some((id, 60));
        s.insert_rated_cdrs(&[(cdr("c1", 60), c)]).await.unwrap();
        assert_eq!(s.account_plans(None).await.unwrap()[0].seconds_left, 5_940);
    })
    .await;
}

#[tokio::test]
async fn reports_group_by_account_day_destination() {
    each_backend(
        "reports_group_by_account_day_destination",
        |ctx| async move {
            let s = &ctx.store;
            billed(s, "alice", 10_000_000).await;
            let mut c3 = charge("c3", 50_000, 5);
            c3.tariff_prefix = "33".into();
            let mut d3 = cdr("c3", 5);
            d3.start_ms += 86_400_000;
            s.insert_rated_cdrs(&[
                (cdr("c1", 13), charge("c1", 130_000, 13)),
                (cdr("c2", 7), charge("c2", 70_000, 7)),
                (d3, c3),
            ])
            .await
            .unwrap();
            s.insert_cdrs(&[cdr("free", 100)]).await.unwrap();
            let all = (0, i64::MAX);
            let by_acc = s
                .billing_report(ReportBy::Account, all.0, all.1)
                .await
                .unwrap();
            assert_eq!(by_acc.len(), 1);
            assert_eq!((by_acc[0].calls, by_acc[0].cost_micros), (3, 250_000));
            let by_day = s.billing_report(ReportBy::Day, all.0, all.1).await.unwrap();
            assert_eq!(by_day.len(), 2);
            assert_eq!(by_day[0].billed_seconds, 20);
            let by_dest = s
                .billing_report(ReportBy::Destination, all.0, all.1)
                .await
                .unwrap();
            assert_eq!(
                by_dest.iter().map(|l| l.key.as_str()).collect::<Vec<_>>(),
                ["33", "44"]
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_tariff_in_use_is_not_deleted_and_held_plans_are_taken_back() {
    each_backend(
        "a_tariff_in_use_is_not_deleted_and_held_plans_are_taken_back",
        |ctx| async move {
            let s = &ctx.store;
            let id = billed(s, "alice", 5_000_000).await;
            s.replace_tariff_rows(id, &[trow("44", Some("GB"), 100_000)])
                .await
                .unwrap();
            assert_eq!(
                s.delete_tariff("retail").await.unwrap(),
                TariffDeletion::InUse(vec!["alice".into()])
            );
            assert_eq!(s.tariff_rows(id).await.unwrap().len(), 1, "kept");
            assert_eq!(
                s.delete_tariff("nothing").await.unwrap(),
                TariffDeletion::NotFound
            );
            let spare = s
                .upsert_tariff(&TariffRecord {
                    name: "spare".into(),
                    ..tariff()
                })
                .await
                .unwrap();
            s.replace_tariff_rows(spare, &[trow("33", None, 1)])
                .await
                .unwrap();
            assert_eq!(
                s.delete_tariff("spare").await.unwrap(),
                TariffDeletion::Deleted
            );
            assert!(s.tariff_by_name("spare").await.unwrap().is_none());
            assert!(s.tariff_rows(spare).await.unwrap().is_empty());

            s.upsert_plan(&PlanRow {
                id: 0,
                name: "UK".into(),
                prefixes: "44".into(),
                seconds: 600,
                days: 30,
                price_micros: 0,
            })
            .await
            .unwrap();
            let held = s.assign_plan("alice", "UK", 1).await.unwrap().unwrap();
            assert!(
                !s.remove_account_plan("bob", held).await.unwrap(),
                "not bob's"
            );
            assert!(s.remove_account_plan("alice", held).await.unwrap());
            assert!(s.account_plans(Some("alice")).await.unwrap().is_empty());
            assert!(!s.remove_account_plan("alice", held).await.unwrap());

            // reports sum the talk time too
            s.insert_rated_cdrs(&[(cdr("c1", 13), charge("c1", 130_000, 13))])
                .await
                .unwrap();
            let r = s
                .billing_report(ReportBy::Account, 0, i64::MAX)
                .await
                .unwrap();
            assert_eq!(r[0].duration_ms, 13_000);
        },
    )
    .await;
}
