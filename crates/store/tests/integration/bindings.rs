use std::time::Instant;

use store::{BindingChange, BindingRecord, StoreError};

use crate::support::{bare_binding, each_backend, full_binding};

fn up(r: &BindingRecord) -> BindingChange {
    BindingChange::Upsert(r.clone())
}

fn remove(login: &str, key: &str) -> BindingChange {
    BindingChange::Remove {
        login: login.into(),
        binding_key: key.into(),
    }
}

#[tokio::test]
async fn upsert_replace_remove_load_round_trip() {
    each_backend("upsert_replace_remove_load_round_trip", |ctx| async move {
        let s = &ctx.store;
        let a1 = full_binding(
            "alice",
            "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>;reg-id=1",
        );
        let a2 = bare_binding("alice", "sip:alice@192.0.2.4:5060");
        let b1 = bare_binding("bob", "sip:bob@192.0.2.9:5060");
        s.apply_binding_changes(&[up(&a1), up(&a2), up(&b1)])
            .await
            .unwrap();

        // Exact round trip, NULLs included, ordered by (login, binding_key).
        let all = s.load_bindings(None).await.unwrap();
        assert_eq!(all, [a1.clone(), a2.clone(), b1.clone()]);
        assert_eq!(
            s.load_bindings(Some("node-a")).await.unwrap(),
            std::slice::from_ref(&a1)
        );
        assert_eq!(
            s.load_bindings(Some("node-b")).await.unwrap(),
            [a2.clone(), b1.clone()]
        );
        assert!(s.load_bindings(Some("node-z")).await.unwrap().is_empty());

        // Replace: every field overwritten, Some -> None and None -> Some, extremes kept.
        let mut a1b = bare_binding("alice", &a1.binding_key);
        a1b.cseq = i64::MAX;
        a1b.expires_at = i64::MAX;
        a1b.q_milli = Some(0);
        a1b.reg_id = Some(-1);
        let mut a2b = full_binding("alice", &a2.binding_key);
        a2b.node_id = "node-c".into();
        s.apply_binding_changes(&[up(&a1b), up(&a2b)])
            .await
            .unwrap();
        assert_eq!(
            s.load_bindings(None).await.unwrap(),
            [a1b.clone(), a2b.clone(), b1.clone()]
        );

        // Remove one (and one that does not exist), then remove all of a login.
        s.apply_binding_changes(&[remove("alice", &a1.binding_key), remove("alice", "nope")])
            .await
            .unwrap();
        assert_eq!(
            s.load_bindings(None).await.unwrap(),
            [a2b.clone(), b1.clone()]
        );
        s.apply_binding_changes(&[BindingChange::RemoveAll {
            login: "alice".into(),
        }])
        .await
        .unwrap();
        assert_eq!(s.load_bindings(None).await.unwrap(), [b1]);
        s.apply_binding_changes(&[]).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_batch_applies_in_order() {
    each_backend("a_batch_applies_in_order", |ctx| async move {
        let s = &ctx.store;
        let v1 = bare_binding("alice", "k");
        let mut v2 = v1.clone();
        v2.cseq = 2;
        let mut v3 = v1.clone();
        v3.cseq = 3;
        v3.user_agent = Some("v3".into());
        let other = bare_binding("bob", "k");
        s.apply_binding_changes(&[
            up(&v1),
            remove("alice", "k"),
            up(&v2),
            up(&v3), // same key twice in one multi-row upsert: the later row wins
            up(&other),
            BindingChange::RemoveAll {
                login: "bob".into(),
            },
            up(&bare_binding("carol", "k")),
            remove("carol", "k"),
        ])
        .await
        .unwrap();
        assert_eq!(s.load_bindings(None).await.unwrap(), [v3]);
    })
    .await;
}

#[tokio::test]
async fn a_bad_record_rejects_the_whole_batch() {
    each_backend("a_bad_record_rejects_the_whole_batch", |ctx| async move {
        let s = &ctx.store;
        let mut bad = bare_binding("bob", "k");
        bad.contact = format!("sip:{}@h", "x".repeat(store::limits::CONTACT));
        let result = s
            .apply_binding_changes(&[up(&bare_binding("alice", "k")), up(&bad)])
            .await;
        assert!(
            matches!(
                result,
                Err(StoreError::TooLong {
                    field: "contact",
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(s.load_bindings(None).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn purge_removes_expired_bindings_only() {
    each_backend("purge_removes_expired_bindings_only", |ctx| async move {
        let s = &ctx.store;
        let mut changes = Vec::new();
        for (i, expires_at) in [100, 200, 300].into_iter().enumerate() {
            let mut b = bare_binding("alice", &format!("k{i}"));
            b.expires_at = expires_at;
            changes.push(BindingChange::Upsert(b));
        }
        s.apply_binding_changes(&changes).await.unwrap();
        assert_eq!(s.purge_expired_bindings(99).await.unwrap(), 0);
        assert_eq!(
            s.purge_expired_bindings(200).await.unwrap(),
            2,
            "expires_at <= now is expired"
        );
        let left = s.load_bindings(None).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].expires_at, 300);
        assert_eq!(s.purge_expired_bindings(200).await.unwrap(), 0);

        // More expired rows than one MySQL delete slice.
        let many: Vec<BindingChange> = (0..12_345)
            .map(|i| {
                let mut b = bare_binding(&format!("u{i}"), "k");
                b.expires_at = 50;
                BindingChange::Upsert(b)
            })
            .collect();
        s.apply_binding_changes(&many).await.unwrap();
        assert_eq!(s.purge_expired_bindings(250).await.unwrap(), 12_345);
        assert_eq!(s.load_bindings(None).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn twenty_thousand_upserts_in_batches_of_1000() {
    each_backend("twenty_thousand_upserts_in_batches_of_1000", |ctx| async move {
        const N: usize = 20_000;
        const BATCH: usize = 1_000;
        let s = &ctx.store;
        let records: Vec<BindingRecord> = (0..N)
            .map(|i| {
                let mut b = full_binding(&format!("4860{:07}", i / 2), &format!("<urn:uuid:{i:032x}>;reg-id=1"));
                b.expires_at = 1_900_000_000 + i as i64;
                b.cseq = i as i64;
                if i % 4 == 0 {
                    b.path = None;
                    b.q_milli = None;
                }
                b
            })
            .collect();

        for round in ["insert", "refresh"] {
            let changes: Vec<BindingChange> = records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    if round == "refresh" {
                        r.cseq += 1;
                        r.expires_at += 3600;
                    }
                    BindingChange::Upsert(r)
                })
                .collect();
            let started = Instant::now();
            for batch in changes.chunks(BATCH) {
                s.apply_binding_changes(batch).await.unwrap();
            }
            let elapsed = started.elapsed();
            eprintln!(
                "[{}] {N} binding upserts ({round}) in batches of {BATCH}: {:.2?} ({:.0} changes/s)",
                ctx.backend(),
                elapsed,
                N as f64 / elapsed.as_secs_f64()
            );
        }

        let loaded = s.load_bindings(None).await.unwrap();
        assert_eq!(loaded.len(), N);
        let mut expected = records;
        for r in &mut expected {
            r.cseq += 1;
            r.expires_at += 3600;
        }
        expected.sort_by(|a, b| (&a.login, &a.binding_key).cmp(&(&b.login, &b.binding_key)));
        assert!(loaded == expected, "loaded bindings differ from what was written");
    })
    .await;
}
