use std::time::{Instant, SystemTime, UNIX_EPOCH};

use store::{AccountUpdate, BindingChange, ImportReport, NewAccount, StoreError};

use crate::support::{account, bare_binding, each_backend, pw, secret};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn add_duplicate_get_list_passwd_delete() {
    each_backend("add_duplicate_get_list_passwd_delete", |ctx| async move {
        let s = &ctx.store;
        s.add_account(&account("48600100200", "s3cret", Some("Zoë Kowalska 😀")))
            .await
            .unwrap();
        s.add_account(&account("bob", "pw-bob", None))
            .await
            .unwrap();
        // Logins compare case-sensitively on both backends (MySQL collation utf8mb4_bin).
        s.add_account(&account("Bob", "pw-Bob", None))
            .await
            .unwrap();

        match s.add_account(&account("bob", "other", None)).await {
            Err(StoreError::AccountExists { login }) => assert_eq!(login, "bob"),
            other => panic!("duplicate add: {other:?}"),
        }

        let a = s.get_account("48600100200").await.unwrap().expect("exists");
        assert!(a.id > 0);
        assert_eq!(a.login, "48600100200");
        assert_eq!(pw(&a), "s3cret");
        assert_eq!(a.display_name.as_deref(), Some("Zoë Kowalska 😀"));
        assert_eq!(a.tech_prefix, "");
        assert!(a.enabled);
        assert!(
            (a.created_at - now()).abs() < 120,
            "created_at {}",
            a.created_at
        );
        assert!(
            !format!("{a:?}").contains("s3cret"),
            "Debug hides the credentials"
        );
        assert_eq!(a.secret.password, None, "no plain password stored");
        assert_eq!(s.get_account("nobody").await.unwrap(), None);

        let bob = s.get_account("bob").await.unwrap().unwrap();
        assert_eq!((pw(&bob), bob.display_name.as_deref()), ("pw-bob", None));

        let logins: Vec<String> = s
            .list_accounts()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.login)
            .collect();
        assert_eq!(logins, ["48600100200", "Bob", "bob"], "byte order");

        assert!(s.set_secret("bob", &secret("new-pw")).await.unwrap());
        assert_eq!(pw(&s.get_account("bob").await.unwrap().unwrap()), "new-pw");
        assert!(
            s.set_secret("bob", &secret("new-pw")).await.unwrap(),
            "same password again still finds the login"
        );
        assert_eq!(pw(&s.get_account("Bob").await.unwrap().unwrap()), "pw-Bob");
        assert!(!s.set_secret("nobody", &secret("x")).await.unwrap());

        // Deleting an account removes its bindings, not other logins' bindings.
        s.apply_binding_changes(&[
            BindingChange::Upsert(bare_binding("bob", "k1")),
            BindingChange::Upsert(bare_binding("bob", "k2")),
            BindingChange::Upsert(bare_binding("Bob", "k1")),
        ])
        .await
        .unwrap();
        assert!(s.delete_account("bob").await.unwrap());
        assert_eq!(s.get_account("bob").await.unwrap(), None);
        let left: Vec<(String, String)> = s
            .load_bindings(None)
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.login, b.binding_key))
            .collect();
        assert_eq!(left, [("Bob".to_owned(), "k1".to_owned())]);
        assert!(!s.delete_account("bob").await.unwrap());
        assert_eq!(s.list_accounts().await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn rejects_bad_fields_the_same_on_both_backends() {
    each_backend(
        "rejects_bad_fields_the_same_on_both_backends",
        |ctx| async move {
            let s = &ctx.store;
            let long = "x".repeat(store::limits::LOGIN + 1);
            match s.add_account(&account(&long, "pw", None)).await {
                Err(StoreError::TooLong { field, max, len }) => {
                    assert_eq!((field, max, len), ("login", 128, 129));
                }
                other => panic!("{other:?}"),
            }
            // 128 multi-byte characters fit (limits count characters, MySQL VARCHAR too).
            let max = "ż".repeat(store::limits::LOGIN);
            s.add_account(&account(&max, "pw", None)).await.unwrap();
            assert_eq!(s.get_account(&max).await.unwrap().unwrap().login, max);
            assert!(matches!(
                s.add_account(&account("", "pw", None)).await,
                Err(StoreError::EmptyLogin)
            ));
            assert_eq!(s.list_accounts().await.unwrap().len(), 1);
        },
    )
    .await;
}

fn import_rows(n: usize, password_tag: &str) -> Vec<NewAccount> {
    (0..n)
        .map(|i| NewAccount {
            // Mix phone numbers and usernames: logins are not assumed to be digits.
            login: if i % 2 == 0 {
                format!("48{:09}", i)
            } else {
                format!("user.{i}")
            },
            secret: secret(&format!("{password_tag}-{i}")),
            display_name: (i % 3 != 0).then(|| format!("User {i}")),
        })
        .collect()
}

#[tokio::test]
async fn import_100k_then_reimport_updates() {
    each_backend("import_100k_then_reimport_updates", |ctx| async move {
        const N: usize = 100_000;
        let s = &ctx.store;
        // An existing account keeps its id, tech prefix and enabled flag through an import.
        s.add_account(&account("user.1", "old", None)).await.unwrap();
        let raw = ctx.raw().await;
        sqlx::query("UPDATE clientsshared SET tech_prefix = 'DP:00->48', enabled = 0 WHERE login = 'user.1'")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        let id_before = s.get_account("user.1").await.unwrap().unwrap().id;

        let rows = import_rows(N, "first");
        let mut progress = Vec::new();
        let started = Instant::now();
        let report = s
            .import_accounts(&rows, &mut |done| progress.push(done))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        eprintln!(
            "[{}] import of {N} new accounts: {:.2?} ({:.0} rows/s)",
            ctx.backend(),
            elapsed,
            N as f64 / elapsed.as_secs_f64()
        );
        assert_eq!(report, ImportReport { inserted: N as u64 - 1, updated: 1 });
        assert_eq!(progress.len(), N / 1000);
        assert!(progress.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(progress.last(), Some(&N));
        assert_eq!(ctx.count("SELECT COUNT(*) FROM clientsshared").await, N as i64);

        let spot = s.get_account("48000077776").await.unwrap().unwrap();
        assert_eq!(pw(&spot), "first-77776");
        assert_eq!(spot.display_name.as_deref(), Some("User 77776"));
        assert!(spot.enabled);
        let kept = s.get_account("user.1").await.unwrap().unwrap();
        assert_eq!(kept.id, id_before);
        assert_eq!(pw(&kept), "first-1");
        assert_eq!(kept.tech_prefix, "DP:00->48");
        assert!(!kept.enabled);

        // Re-import: new passwords for all, display names dropped for some, 10 new logins.
        let mut rows = import_rows(N + 10, "second");
        rows[3].display_name = None; // had none: 3 % 3 == 0
        rows[4].display_name = None; // had "User 4"
        let started = Instant::now();
        let report = s.import_accounts(&rows, &mut |_| {}).await.unwrap();
        let elapsed = started.elapsed();
        eprintln!(
            "[{}] re-import of {N} existing + 10 new accounts: {:.2?} ({:.0} rows/s)",
            ctx.backend(),
            elapsed,
            (N + 10) as f64 / elapsed.as_secs_f64()
        );
        assert_eq!(report, ImportReport { inserted: 10, updated: N as u64 });
        assert_eq!(ctx.count("SELECT COUNT(*) FROM clientsshared").await, N as i64 + 10);
        assert_eq!(
            pw(&s.get_account("48000077776").await.unwrap().unwrap()),
            "second-77776"
        );
        assert_eq!(s.get_account("48000000004").await.unwrap().unwrap().display_name, None);
        assert_eq!(
            pw(&s.get_account("user.100009").await.unwrap().unwrap()),
            "second-100009"
        );
    })
    .await;
}

#[tokio::test]
async fn import_checks_every_row_first_and_counts_repeats_as_updates() {
    each_backend("import_checks_every_row_first", |ctx| async move {
        let s = &ctx.store;
        let mut rows = import_rows(1_200, "p");
        rows[1_100].login = "y".repeat(200);
        match s.import_accounts(&rows, &mut |_| {}).await {
            Err(StoreError::ImportRow { row, source }) => {
                assert_eq!(row, 1_100);
                assert!(matches!(
                    *source,
                    StoreError::TooLong { field: "login", .. }
                ));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            s.list_accounts().await.unwrap().is_empty(),
            "nothing imported"
        );

        // The same login twice in one import: the later row wins.
        let rows = [
            account("carol", "one", None),
            account("carol", "two", Some("C")),
        ];
        let report = s.import_accounts(&rows, &mut |_| {}).await.unwrap();
        assert_eq!(
            report,
            ImportReport {
                inserted: 1,
                updated: 1
            }
        );
        let carol = s.get_account("carol").await.unwrap().unwrap();
        assert_eq!(
            (pw(&carol), carol.display_name.as_deref()),
            ("two", Some("C"))
        );

        let report = s
            .import_accounts(&[], &mut |_| panic!("no chunks"))
            .await
            .unwrap();
        assert_eq!(report, ImportReport::default());
    })
    .await;
}

#[tokio::test]
async fn update_account_changes_only_what_is_given() {
    each_backend(
        "update_account_changes_only_what_is_given",
        |ctx| async move {
            let s = &ctx.store;
            s.add_account(&account("dave", "pw", Some("Dave")))
                .await
                .unwrap();
            s.add_account(&account("erin", "pw", Some("Erin")))
                .await
                .unwrap();
            let before = s.get_account("dave").await.unwrap().unwrap();
            assert_eq!(
                before.voicemail_uri, None,
                "new accounts have no voicemail route"
            );

            let vm = "sip:onnet950msg230@10.0.0.5:5080".to_owned();
            let changed = s
                .update_account(
                    "dave",
                    &AccountUpdate {
                        tech_prefix: Some("DP:int-> OR onnet".to_owned()),
                        voicemail_uri: Some(Some(vm.clone())),
                        ..AccountUpdate::default()
                    },
                )
                .await
                .unwrap();
            assert!(changed);
            let dave = s.get_account("dave").await.unwrap().unwrap();
            assert_eq!(dave.tech_prefix, "DP:int-> OR onnet");
            assert_eq!(dave.voicemail_uri.as_deref(), Some(vm.as_str()));
            assert_eq!(dave.display_name.as_deref(), Some("Dave"), "left alone");
            assert!(dave.enabled, "left alone");
            assert_eq!((dave.id, pw(&dave)), (before.id, "pw"));

            // Clear the display name and the voicemail route, disable; the tech prefix stays.
            let update = AccountUpdate {
                display_name: Some(None),
                voicemail_uri: Some(None),
                enabled: Some(false),
                ..AccountUpdate::default()
            };
            assert!(s.update_account("dave", &update).await.unwrap());
            assert!(
                s.update_account("dave", &update).await.unwrap(),
                "the same update again still finds the login"
            );
            let dave = s.get_account("dave").await.unwrap().unwrap();
            assert_eq!(
                (dave.display_name, dave.voicemail_uri, dave.enabled),
                (None, None, false)
            );
            assert_eq!(dave.tech_prefix, "DP:int-> OR onnet");

            // Re-enable, rename, drop the tech prefix.
            s.update_account(
                "dave",
                &AccountUpdate {
                    display_name: Some(Some("Dave Ø".to_owned())),
                    tech_prefix: Some(String::new()),
                    enabled: Some(true),
                    ..AccountUpdate::default()
                },
            )
            .await
            .unwrap();
            let listed = s.list_accounts().await.unwrap();
            let dave = listed.iter().find(|a| a.login == "dave").unwrap();
            assert_eq!(
                (
                    dave.display_name.as_deref(),
                    dave.tech_prefix.as_str(),
                    dave.enabled
                ),
                (Some("Dave Ø"), "", true)
            );
            let erin = listed.iter().find(|a| a.login == "erin").unwrap();
            assert_eq!(
                (
                    erin.display_name.as_deref(),
                    erin.voicemail_uri.as_deref(),
                    erin.enabled
                ),
                (Some("Erin"), None, true),
                "other accounts untouched"
            );

            // Unknown login, empty update.
            assert!(!s
                .update_account(
                    "nobody",
                    &AccountUpdate {
                        enabled: Some(false),
                        ..AccountUpdate::default()
                    }
                )
                .await
                .unwrap());
            assert!(AccountUpdate::default().is_empty());
            assert!(s
                .update_account("erin", &AccountUpdate::default())
                .await
                .unwrap());
            assert!(!s
                .update_account("nobody", &AccountUpdate::default())
                .await
                .unwrap());
        },
    )
    .await;
}

#[tokio::test]
async fn update_account_checks_lengths_first() {
    each_backend("update_account_checks_lengths_first", |ctx| async move {
        let s = &ctx.store;
        s.add_account(&account("frank", "pw", None)).await.unwrap();
        let update = AccountUpdate {
            enabled: Some(false),
            tech_prefix: Some("D".repeat(store::limits::TECH_PREFIX + 1)),
            ..AccountUpdate::default()
        };
        match s.update_account("frank", &update).await {
            Err(StoreError::TooLong { field, max, .. }) => {
                assert_eq!((field, max), ("tech_prefix", 255))
            }
            other => panic!("{other:?}"),
        }
        let empty_vm = AccountUpdate {
            voicemail_uri: Some(Some(String::new())),
            ..AccountUpdate::default()
        };
        assert!(matches!(
            s.update_account("frank", &empty_vm).await,
            Err(StoreError::Empty {
                field: "voicemail_uri"
            })
        ));
        assert!(
            s.get_account("frank").await.unwrap().unwrap().enabled,
            "nothing written"
        );
    })
    .await;
}

#[tokio::test]
async fn every_account_change_is_logged_for_running_servers() {
    each_backend("every_account_change_is_logged", |ctx| async move {
        let s = &ctx.store;
        let start = s.last_account_change().await.unwrap();
        let logins = |c: Vec<store::AccountChange>| -> Vec<String> {
            c.into_iter().map(|c| c.login).collect()
        };
        s.add_account(&account("alice", "pw", None)).await.unwrap();
        assert!(s.set_secret("alice", &secret("pw2")).await.unwrap());
        assert!(s
            .update_account(
                "alice",
                &AccountUpdate {
                    enabled: Some(false),
                    ..AccountUpdate::default()
                }
            )
            .await
            .unwrap());
        // no such login: nothing changed, nothing logged
        assert!(!s.set_secret("nobody", &secret("x")).await.unwrap());
        assert!(!s.delete_account("nobody").await.unwrap());
        assert!(s.delete_account("alice").await.unwrap());
        s.import_accounts(&[account("bob", "b", None)], &mut |_| {})
            .await
            .unwrap();
        let changes = s.account_changes_since(start, 100).await.unwrap();
        assert!(
            changes.windows(2).all(|w| w[0].id < w[1].id),
            "ids increase"
        );
        assert_eq!(
            logins(changes.clone()),
            ["alice", "alice", "alice", "alice", ""],
            "an import says: reload everything"
        );
        let last = s.last_account_change().await.unwrap();
        assert_eq!(last, changes.last().unwrap().id);
        assert!(s.account_changes_since(last, 100).await.unwrap().is_empty());
        assert_eq!(s.account_changes_since(start, 2).await.unwrap().len(), 2);
        // pruning by age
        assert_eq!(s.prune_account_changes(0).await.unwrap(), 0);
        assert_eq!(s.prune_account_changes(i64::MAX).await.unwrap(), 5);
        assert_eq!(s.last_account_change().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn plain_passwords_are_kept_only_when_asked_and_a_new_realm_rehashes_them() {
    each_backend("plain_passwords_kept_when_asked", |ctx| async move {
        let s = &ctx.store;
        let kept = store::Secret {
            password: Some("plain".to_owned()),
            ..secret("plain")
        };
        s.add_account(&NewAccount {
            login: "carol".to_owned(),
            secret: kept.clone(),
            display_name: None,
        })
        .await
        .unwrap();
        s.add_account(&account("dave", "d", None)).await.unwrap();
        assert_eq!(s.get_account("carol").await.unwrap().unwrap().secret, kept);
        // kept and already hashed for this realm: left alone
        let derive = |login: &str, password: &str| store::Secret {
            realm: "new.realm".to_owned(),
            password: Some(password.to_owned()),
            ..secret(&format!("{login}/{password}"))
        };
        assert_eq!(
            s.hash_plain_passwords("ferro.test", true, &derive)
                .await
                .unwrap(),
            0
        );
        // a new realm: the rows with a plain password get HA1 values for it
        assert_eq!(
            s.hash_plain_passwords("new.realm", true, &derive)
                .await
                .unwrap(),
            1
        );
        let carol = s.get_account("carol").await.unwrap().unwrap();
        assert_eq!(
            (
                carol.secret.realm.as_str(),
                pw(&carol),
                carol.secret.password.as_deref()
            ),
            ("new.realm", "carol/plain", Some("plain"))
        );
        // dave had no plain password: nothing to compute it from
        assert_eq!(pw(&s.get_account("dave").await.unwrap().unwrap()), "d");
    })
    .await;
}
