//! SQLite files at rest: the database holds the accounts' credentials, so its directory is
//! created 0700 and the file (with its `-wal` and `-shm`) 0600.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use store::Store;

use crate::support::account;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_dir_is_0700_and_the_database_files_0600() {
    let top = tempfile::tempdir().unwrap();
    let data = top.path().join("srv/data");
    let db = data.join("ferroswitch.db");
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
        .add_account(&account("alice", "pw", None))
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700, "data dir");
    for suffix in ["", "-wal", "-shm"] {
        let f = data.join(format!("ferroswitch.db{suffix}"));
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    store.close().await;

    // a database file left readable by an older release is made private when opened
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    assert_eq!(mode(&db), 0o600);
    store.close().await;
}
