use store::{Backend, BindingChange, InstanceSeen, Store};

use crate::support::{account, bare_binding, each_backend, full_binding};

#[tokio::test]
async fn reopening_keeps_everything() {
    each_backend("reopening_keeps_everything", |ctx| async move {
        let url = ctx.url.clone();
        let bindings = vec![full_binding("alice", "k1"), bare_binding("alice", "k2")];
        {
            let s = ctx.store.clone();
            s.add_account(&account("alice", "pw", Some("Alice")))
                .await
                .unwrap();
            s.touch_instances(&[InstanceSeen {
                login: "alice".into(),
                instance: "<urn:uuid:1>".into(),
                at: 42,
            }])
            .await
            .unwrap();
            s.apply_binding_changes(
                &bindings
                    .iter()
                    .cloned()
                    .map(BindingChange::Upsert)
                    .collect::<Vec<_>>(),
            )
            .await
            .unwrap();
        }
        let before = ctx.store.get_account("alice").await.unwrap().unwrap();
        drop(ctx); // every clone of the first store is gone: its pool closes

        let reopened = Store::connect(&url).await.expect("reopen");
        reopened.migrate().await.expect("migrate on reopen");
        assert_eq!(reopened.get_account("alice").await.unwrap(), Some(before));
        let instances = reopened.list_instances("alice").await.unwrap();
        assert_eq!((instances.len(), instances[0].first_seen), (1, 42));
        assert_eq!(reopened.load_bindings(None).await.unwrap(), bindings);

        if reopened.backend() == Backend::Sqlite {
            // The file was created below directories that did not exist, and is in WAL mode.
            let path = url.strip_prefix("sqlite://").unwrap();
            assert!(std::path::Path::new(path).is_file(), "{path}");
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            pool.close().await;
        }
        reopened.close().await;
    })
    .await;
}
