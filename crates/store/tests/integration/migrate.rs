use std::path::Path;

use store::{AccountUpdate, Backend, Store, VoicemailCounts};

use crate::support::{account, each_backend, each_empty_database, pw, secret};

/// Migrations embedded in the store, in order.
const MIGRATIONS: i64 = 12;

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
        // the change log holds alice's creation; emptied here for the loop below
        ctx.store.prune_account_changes(i64::MAX).await.unwrap();
        assert!(ctx.store.get_account("alice").await.unwrap().is_some());
        assert_eq!(
            ctx.count("SELECT COUNT(*) FROM _sqlx_migrations").await,
            MIGRATIONS,
            "each migration recorded once"
        );
        // Every table exists (and is empty where nothing was written).
        for table in [
            "aa_ue_instance",
            "push_device_token",
            "location",
            "dialing_plan",
            "gateways",
            "ring_groups",
            "local_dialing_plan",
            "cdr",
            "presence_publications",
            "sms_inbox",
            "contacts",
            "voicemail_boxes",
            "account_changes",
            "tariffs",
            "tariff_rows",
            "billing_accounts",
            "billing_ledger",
            "billing_reservations",
            "plans",
            "account_plans",
            "api_clients",
            "api_sessions",
            "api_channels",
        ] {
            assert_eq!(ctx.count(&format!("SELECT COUNT(*) FROM {table}")).await, 0);
        }
        ctx.store.ping().await.unwrap();
    })
    .await;
}

/// A database created by an earlier release (foundation schema only) with accounts in it is
/// upgraded in place: the accounts survive and get no voicemail route.
#[tokio::test]
async fn upgrade_from_the_foundation_schema_keeps_accounts() {
    each_empty_database(
        "upgrade_from_the_foundation_schema",
        |backend, url| async move {
            let dir = match backend {
                Backend::Sqlite => "sqlite",
                Backend::MySql => "mysql",
            };
            // Only 0001, from the same files the store embeds (same checksum).
            let only_first = tempfile::tempdir().unwrap();
            let src = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../sql")
                .join(dir)
                .join("0001_foundation.sql");
            std::fs::copy(&src, only_first.path().join("0001_foundation.sql")).unwrap();
            let old = sqlx::migrate::Migrator::new(only_first.path())
                .await
                .unwrap();

            let store = Store::connect(&url).await.unwrap();
            {
                sqlx::any::install_default_drivers();
                let raw = sqlx::AnyPool::connect(&url).await.unwrap();
                old.run(&raw).await.expect("apply 0001 only");
                // an account as releases before HA1 values (and voipswitch) stored it
                sqlx::query(
                    "INSERT INTO clientsshared (login, password, display_name) \
                     VALUES ('old-timer', 'pw', 'Old Timer')",
                )
                .execute(&raw)
                .await
                .unwrap();
                raw.close().await;
            }

            store.migrate().await.expect("upgrade");
            let a = store.get_account("old-timer").await.unwrap().unwrap();
            assert_eq!(
                (
                    a.secret.password.as_deref(),
                    a.secret.ha1.as_str(),
                    a.display_name.as_deref(),
                    a.voicemail_uri.clone()
                ),
                (Some("pw"), "", Some("Old Timer"), None),
                "a plain password, no HA1 values yet"
            );
            // the server (or any CLI command) hashes it at start; the plain one goes
            let hashed = store
                .hash_plain_passwords("ferro.test", false, &|login, password| {
                    assert_eq!((login, password), ("old-timer", "pw"));
                    secret(password)
                })
                .await
                .unwrap();
            assert_eq!(hashed, 1);
            let a = store.get_account("old-timer").await.unwrap().unwrap();
            assert_eq!((pw(&a), a.secret.password.as_deref()), ("pw", None));
            assert_eq!(
                store
                    .hash_plain_passwords("ferro.test", false, &|_, _| unreachable!())
                    .await
                    .unwrap(),
                0,
                "nothing left to hash"
            );
            assert!(store
                .update_account(
                    "old-timer",
                    &AccountUpdate {
                        voicemail_uri: Some(Some("sip:onnet950@10.0.0.5".to_owned())),
                        ..AccountUpdate::default()
                    }
                )
                .await
                .unwrap());
            assert!(store.list_dial_plan().await.unwrap().is_empty());
            // 0003 too: its tables are there and usable.
            assert_eq!(
                store.voicemail_counts("old-timer").await.unwrap(),
                VoicemailCounts::default()
            );
            assert!(store.add_contact("old-timer", "bob").await.unwrap());
            store.close().await;
        },
    )
    .await;
}
