use store::{InstanceRecord, InstanceSeen};

use crate::support::each_backend;

fn seen(login: &str, instance: &str, at: i64) -> InstanceSeen {
    InstanceSeen {
        login: login.to_owned(),
        instance: instance.to_owned(),
        at,
    }
}

const I1: &str = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>";
const I2: &str = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";

#[tokio::test]
async fn touch_keeps_first_seen_and_moves_last_seen() {
    each_backend(
        "touch_keeps_first_seen_and_moves_last_seen",
        |ctx| async move {
            let s = &ctx.store;
            s.touch_instances(&[seen("alice", I1, 100)]).await.unwrap();
            let first = s.list_instances("alice").await.unwrap();
            assert_eq!(first.len(), 1);
            let id1 = first[0].id;
            assert_eq!(
                first[0],
                InstanceRecord {
                    id: id1,
                    login: "alice".into(),
                    instance: I1.into(),
                    first_seen: 100,
                    last_seen: 100
                }
            );

            s.touch_instances(&[
                seen("alice", I1, 200),
                seen("alice", I2, 150),
                seen("bob", I1, 120), // same instance string, other login: its own row
                seen("carol", I2, 10),
                seen("carol", I2, 20), // repeated in one batch: the later entry wins
            ])
            .await
            .unwrap();
            let alice = s.list_instances("alice").await.unwrap();
            assert_eq!(alice.len(), 2);
            assert_eq!(
                alice[0],
                InstanceRecord {
                    id: id1,
                    login: "alice".into(),
                    instance: I1.into(),
                    first_seen: 100,
                    last_seen: 200
                }
            );
            assert_eq!(
                (
                    alice[1].instance.as_str(),
                    alice[1].first_seen,
                    alice[1].last_seen
                ),
                (I2, 150, 150)
            );
            assert_ne!(alice[1].id, id1);

            let bob = s.list_instances("bob").await.unwrap();
            assert_eq!(
                (bob.len(), bob[0].first_seen, bob[0].last_seen),
                (1, 120, 120)
            );
            let carol = s.list_instances("carol").await.unwrap();
            assert_eq!(
                (carol.len(), carol[0].first_seen, carol[0].last_seen),
                (1, 10, 20)
            );
            assert!(s.list_instances("nobody").await.unwrap().is_empty());
            s.touch_instances(&[]).await.unwrap();

            // A batch larger than one multi-row statement.
            let many: Vec<InstanceSeen> =
                (0..1_234).map(|i| seen(&format!("u{i}"), I1, i)).collect();
            s.touch_instances(&many).await.unwrap();
            assert_eq!(
                ctx.count("SELECT COUNT(*) FROM aa_ue_instance").await,
                4 + 1_234
            );
            assert_eq!(s.list_instances("u1233").await.unwrap()[0].last_seen, 1_233);
        },
    )
    .await;
}

#[tokio::test]
async fn push_device_token_references_an_instance() {
    each_backend("push_device_token_references_an_instance", |ctx| async move {
        ctx.store.touch_instances(&[seen("alice", I1, 100)]).await.unwrap();
        let id = ctx.store.list_instances("alice").await.unwrap()[0].id;
        let raw = ctx.raw().await;
        sqlx::query("INSERT INTO push_device_token (instance_id, token, platform, updated_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind("fcm:APA91bH...")
            .bind("android")
            .bind(1_700_000_000_i64)
            .execute(&raw)
            .await
            .unwrap();
        let (token, platform, updated_at): (String, String, i64) = sqlx::query_as(
            "SELECT token, platform, updated_at FROM push_device_token WHERE instance_id = ?",
        )
        .bind(id)
        .fetch_one(&raw)
        .await
        .unwrap();
        assert_eq!((token.as_str(), platform.as_str(), updated_at), ("fcm:APA91bH...", "android", 1_700_000_000));
        // The foreign key holds on both backends (SQLite: foreign_keys=ON).
        let orphan = sqlx::query("INSERT INTO push_device_token (instance_id, token, updated_at) VALUES (?, 't', 0)")
            .bind(id + 1_000)
            .execute(&raw)
            .await;
        assert!(orphan.is_err(), "orphan token accepted");
        raw.close().await;
    })
    .await;
}
