//! Call detail records.

use store::CdrRow;

use crate::support::each_backend;

/// An answered OFFNET call with every optional field set.
fn answered(i: i64) -> CdrRow {
    let start = 1_700_000_000_000 + i * 1_000;
    CdrRow {
        call_id: format!("a84b4c76e66710-{i}@[2001:db8::7]"),
        caller: "48600100200".to_owned(),
        callee: format!("4822{i:07}"),
        dialed: format!("int4822{i:07}"),
        routed_number: format!("4822{i:07}"),
        route: "gateway:pl1".to_owned(),
        gateway: Some("pl1".to_owned()),
        start_ms: start,
        ringing_ms: Some(start + 800),
        answer_ms: Some(start + 4_250),
        end_ms: start + 64_250,
        duration_ms: 60_000,
        final_code: 200,
        hangup_by: "callee".to_owned(),
        media_a_packets: Some(3_000),
        media_b_packets: Some(2_998),
        node_id: "node-a".to_owned(),
        wakeup_ms: Some(1_850),
        b_call_id: Some(format!("b-leg-{i}@192.0.2.1")),
        media_a_bytes: Some(516_000),
        media_b_bytes: Some(515_656),
        media_a_lost: Some(3),
        media_b_lost: Some(0),
    }
}

/// An unanswered ONNET attempt with every optional field empty.
fn cancelled(start_ms: i64, call_id: &str) -> CdrRow {
    CdrRow {
        call_id: call_id.to_owned(),
        caller: "alice".to_owned(),
        callee: "Zoë".to_owned(),
        dialed: "Zoë".to_owned(),
        routed_number: "onnetZoë".to_owned(),
        route: "user-lookup".to_owned(),
        gateway: None,
        start_ms,
        ringing_ms: None,
        answer_ms: None,
        end_ms: start_ms + 2_000,
        duration_ms: 0,
        final_code: 487,
        hangup_by: "caller".to_owned(),
        media_a_packets: None,
        media_b_packets: None,
        node_id: "node-b".to_owned(),
        wakeup_ms: None,
        b_call_id: None,
        media_a_bytes: None,
        media_b_bytes: None,
        media_a_lost: None,
        media_b_lost: None,
    }
}

#[tokio::test]
async fn cdrs_round_trip_newest_first() {
    each_backend("cdrs_round_trip_newest_first", |ctx| async move {
        let s = &ctx.store;
        assert!(s.list_cdrs(10).await.unwrap().is_empty());
        s.insert_cdrs(&[]).await.unwrap();

        // Inserted out of order; two attempts share a start time (ordered by insertion then).
        let rows = vec![
            answered(1),
            cancelled(1_700_000_500_000, "first-at-500"),
            answered(0),
            cancelled(1_700_000_500_000, "second-at-500"),
        ];
        s.insert_cdrs(&rows).await.unwrap();
        let listed = s.list_cdrs(10).await.unwrap();
        assert_eq!(
            listed,
            [
                rows[3].clone(),
                rows[1].clone(),
                rows[0].clone(),
                rows[2].clone()
            ],
            "every field back, newest start first"
        );
        assert_eq!(s.list_cdrs(2).await.unwrap(), listed[..2]);
        assert!(s.list_cdrs(0).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn cdrs_in_a_large_batch_are_all_written() {
    each_backend("cdrs_in_a_large_batch", |ctx| async move {
        let s = &ctx.store;
        // 1,234 rows: two full multi-row inserts and a shorter one, one transaction.
        let rows: Vec<CdrRow> = (0..1_234).map(answered).collect();
        s.insert_cdrs(&rows).await.unwrap();
        assert_eq!(ctx.count("SELECT COUNT(*) FROM cdr").await, 1_234);
        let latest = s.list_cdrs(3).await.unwrap();
        assert_eq!(
            latest,
            [
                rows[1_233].clone(),
                rows[1_232].clone(),
                rows[1_231].clone()
            ]
        );
        let all = s.list_cdrs(u32::MAX).await.unwrap();
        assert_eq!(all.len(), 1_234);
        assert_eq!(all.last(), Some(&rows[0]));
    })
    .await;
}

#[tokio::test]
async fn overlong_cdr_text_is_cut_to_fit_not_refused() {
    each_backend("overlong_cdr_text_is_cut", |ctx| async move {
        let s = &ctx.store;
        let mut long = answered(7);
        // A dialed number from the network longer than the column, in multi-byte characters.
        long.dialed = "ż".repeat(300);
        long.call_id = format!("{}@host", "c".repeat(400));
        long.gateway = Some("g".repeat(100));
        let ok = answered(8);
        s.insert_cdrs(&[long.clone(), ok.clone()]).await.unwrap();
        let listed = s.list_cdrs(10).await.unwrap();
        assert_eq!(listed.len(), 2, "the batch went in");
        assert_eq!(listed[0], ok);
        let cut = &listed[1];
        assert_eq!(cut.dialed, "ż".repeat(store::limits::NUMBER));
        assert_eq!(cut.call_id, "c".repeat(store::limits::CALL_ID));
        assert_eq!(cut.gateway.as_deref(), Some("g".repeat(64).as_str()));
        assert_eq!(cut.caller, long.caller, "fields that fit are untouched");
        assert_eq!(cut.duration_ms, long.duration_ms);
    })
    .await;
}
