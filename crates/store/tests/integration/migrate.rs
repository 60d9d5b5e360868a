use crate::support::{account, each_backend};

#[tokio::test]
async fn migrate_twice_is_idempotent() {
    each_backend("migrate_twice_is_idempotent", |ctx| async move {
        // The harness migrated once already; data written in between must survive.
        ctx.store
            .add_account(&account("alice", "pw", None))
            .await
            .unwrap();
        ctx.store.migrate().await.expect("second migrate");
        ctx.store.migrate().await.expect("third migrate");
        assert!(ctx.store.get_account("alice").await.unwrap().is_some());
        assert_eq!(
            ctx.count("SELECT COUNT(*) FROM _sqlx_migrations").await,
            1,
            "each migration recorded once"
        );
        // Every table of the foundation exists (and is empty where nothing was written).
        for table in ["aa_ue_instance", "push_device_token", "location"] {
            assert_eq!(ctx.count(&format!("SELECT COUNT(*) FROM {table}")).await, 0);
        }
        ctx.store.ping().await.unwrap();
    })
    .await;
}
