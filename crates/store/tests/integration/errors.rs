use store::{Store, StoreError};

#[tokio::test]
async fn unreachable_server_is_transient_and_the_password_is_not_shown() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let err = Store::connect("mysql://ferro:s3cret@127.0.0.1:1/ferro")
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(
        err.is_transient(),
        "a refused connection is an outage: {err:?}"
    );
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("mysql://ferro:***@127.0.0.1:1/ferro"),
        "{shown}"
    );
}

#[tokio::test]
async fn bad_urls_are_refused_with_a_hint() {
    for url in ["postgres://u:pw@h/db", "/var/lib/ferro.db", "sqlite://"] {
        let err = Store::connect(url).await.expect_err(url);
        assert!(matches!(err, StoreError::BadUrl { .. }), "{url}: {err:?}");
        assert!(!err.is_transient());
        assert!(err.to_string().contains("sqlite:///abs/path.db"), "{err}");
        assert!(!err.to_string().contains(":pw@"), "{err}");
    }
}

#[tokio::test]
async fn sqlite_directory_that_cannot_be_created_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let url = format!("sqlite://{}/sub/ferro.db", blocker.display());
    let err = Store::connect(&url).await.expect_err("parent is a file");
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
}

#[tokio::test]
async fn a_closed_store_fails_without_claiming_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ferro.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    let err = store.ping().await.expect_err("closed");
    assert!(
        matches!(err, StoreError::Query { op: "ping", .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn in_memory_sqlite_works_for_throwaway_use() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store
        .add_account(&crate::support::account("alice", "pw", None))
        .await
        .unwrap();
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
}
