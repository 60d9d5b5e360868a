//! Presence publications (`presence_publications`).

use store::{PublicationChange, StoreError, StoredPublication};

use crate::support::each_backend;

const NOW: i64 = 1_700_000_000_000;

/// A PIDF-like body with bytes that are not UTF-8, so a text round trip would show.
fn body(tag: &str) -> Vec<u8> {
    let mut b = format!(
        "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         entity=\"sip:x@example.com\"><tuple id=\"{tag}\"><status><basic>open</basic>\
         </status><note>Zoë 😀</note></tuple></presence>"
    )
    .into_bytes();
    b.extend_from_slice(&[0x00, 0xff, 0xfe, b'\n']);
    b
}

fn publication(
    login: &str,
    etag: &str,
    expires_at_ms: i64,
    modified_at_ms: i64,
) -> StoredPublication {
    StoredPublication {
        login: login.to_owned(),
        etag: etag.to_owned(),
        expires_at_ms,
        modified_at_ms,
        body: body(etag),
    }
}

fn insert(row: &StoredPublication) -> PublicationChange {
    PublicationChange::Upsert {
        row: row.clone(),
        replaces: None,
    }
}

fn replace(row: &StoredPublication, old: &str) -> PublicationChange {
    PublicationChange::Upsert {
        row: row.clone(),
        replaces: Some(old.to_owned()),
    }
}

fn remove(login: &str, etag: &str) -> PublicationChange {
    PublicationChange::Remove {
        login: login.to_owned(),
        etag: etag.to_owned(),
    }
}

#[tokio::test]
async fn publications_round_trip_per_node_and_unexpired_only() {
    each_backend("publications_round_trip", |ctx| async move {
        let s = &ctx.store;
        assert!(s.load_publications(NOW, None).await.unwrap().is_empty());
        s.apply_publication_changes("node-a", &[]).await.unwrap();

        let a_old = publication("alice", "00000000000000a1", NOW + 3_600_000, NOW - 5_000);
        let a_new = publication("alice", "00000000000000a2", NOW + 60_000, NOW - 1_000);
        let mut a_empty = publication("alice", "00000000000000a3", NOW + 1, NOW);
        a_empty.body = Vec::new();
        let bob = publication("bob", "00000000000000b1", NOW + 3_600_000, NOW - 9_000);
        let carol_expired = publication("carol", "00000000000000c1", NOW, NOW - 99_000);
        s.apply_publication_changes(
            "node-a",
            &[
                insert(&bob),
                insert(&a_new),
                insert(&a_old),
                insert(&carol_expired),
            ],
        )
        .await
        .unwrap();
        s.apply_publication_changes("node-b", &[insert(&a_empty)])
            .await
            .unwrap();

        // Every field back (binary and empty bodies included), by (login, modified_at, etag);
        // a row expiring exactly at `now` is not live.
        assert_eq!(
            s.load_publications(NOW, None).await.unwrap(),
            [a_old.clone(), a_new.clone(), a_empty.clone(), bob.clone()]
        );
        assert_eq!(
            s.load_publications(NOW, Some("node-a")).await.unwrap(),
            [a_old.clone(), a_new.clone(), bob.clone()]
        );
        assert_eq!(
            s.load_publications(NOW, Some("node-b")).await.unwrap(),
            [a_empty.clone()]
        );
        assert!(s
            .load_publications(NOW, Some("node-z"))
            .await
            .unwrap()
            .is_empty());
        // Expired rows are still stored until purged, and load once `now` is earlier.
        assert_eq!(
            s.load_publications(NOW - 1, Some("node-a"))
                .await
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            s.load_publications(NOW + 60_000, None).await.unwrap(),
            [a_old, bob]
        );
    })
    .await;
}

#[tokio::test]
async fn a_refresh_replaces_the_old_entity_tag() {
    each_backend("a_refresh_replaces_the_old_entity_tag", |ctx| async move {
        let s = &ctx.store;
        let e1 = publication("alice", "e1", NOW + 3_600_000, NOW);
        let other = publication("alice", "f1", NOW + 3_600_000, NOW);
        s.apply_publication_changes("n", &[insert(&e1), insert(&other)])
            .await
            .unwrap();

        // Refresh: new tag, new expiry, same body and modified_at.
        let mut e2 = e1.clone();
        e2.etag = "e2".into();
        e2.expires_at_ms += 3_600_000;
        s.apply_publication_changes("n", &[replace(&e2, "e1")])
            .await
            .unwrap();
        assert_eq!(
            s.load_publications(NOW, None).await.unwrap(),
            [e2.clone(), other.clone()]
        );
        assert_eq!(
            ctx.count("SELECT COUNT(*) FROM presence_publications WHERE etag = 'e1'")
                .await,
            0,
            "the old entity-tag's row is gone"
        );

        // Modification: new tag and body; the other device's publication is untouched.
        let mut e3 = e2.clone();
        e3.etag = "e3".into();
        e3.modified_at_ms = NOW + 10;
        e3.body = b"<presence/>".to_vec();
        s.apply_publication_changes("n", &[replace(&e3, "e2")])
            .await
            .unwrap();
        assert_eq!(
            s.load_publications(NOW, None).await.unwrap(),
            [other.clone(), e3.clone()]
        );

        // Removal, then a removal of a tag that is not there: no error, nothing else touched.
        s.apply_publication_changes("n", &[remove("alice", "e3"), remove("alice", "nope")])
            .await
            .unwrap();
        assert_eq!(s.load_publications(NOW, None).await.unwrap(), [other]);
    })
    .await;
}

#[tokio::test]
async fn a_replacement_whose_old_row_is_gone_still_writes_the_new_row() {
    each_backend("replacement_of_a_missing_row", |ctx| async move {
        let s = &ctx.store;
        let e1 = publication("alice", "e1", NOW + 1_000, NOW);
        s.apply_publication_changes("n", &[insert(&e1)])
            .await
            .unwrap();
        // Purged (expired) before the driver wrote the refresh.
        assert_eq!(s.purge_expired_publications(NOW + 1_000).await.unwrap(), 1);
        let mut e2 = e1.clone();
        e2.etag = "e2".into();
        e2.expires_at_ms = NOW + 3_600_000;
        s.apply_publication_changes("n", &[replace(&e2, "e1")])
            .await
            .unwrap();
        assert_eq!(s.load_publications(NOW, None).await.unwrap(), [e2.clone()]);
        // Replacing a tag that never existed.
        let e9 = publication("bob", "e9", NOW + 3_600_000, NOW);
        s.apply_publication_changes("n", &[replace(&e9, "never-stored")])
            .await
            .unwrap();
        assert_eq!(
            s.load_publications(NOW, None).await.unwrap(),
            [e2, e9],
            "the new row is present either way"
        );
    })
    .await;
}

#[tokio::test]
async fn a_batch_ends_as_if_applied_in_order_and_can_be_replayed() {
    each_backend("publication_batch_in_order", |ctx| async move {
        let s = &ctx.store;
        let e1 = publication("alice", "e1", NOW + 1_000_000, NOW);
        let mut e2 = e1.clone();
        e2.etag = "e2".into();
        let mut e3 = e2.clone();
        e3.etag = "e3".into();
        e3.body = b"third".to_vec();
        let b1 = publication("bob", "b1", NOW + 1_000_000, NOW);
        let mut b1_again = b1.clone();
        b1_again.modified_at_ms = NOW + 5;
        let c1 = publication("carol", "c1", NOW + 1_000_000, NOW);
        let batch = [
            insert(&e1),
            replace(&e2, "e1"), // e1 written and replaced in the same batch
            insert(&b1),
            replace(&e3, "e2"),
            remove("bob", "b1"),
            insert(&b1_again), // removed, then published again under the same tag
            insert(&c1),
            remove("carol", "c1"),
        ];
        s.apply_publication_changes("n", &batch).await.unwrap();
        let expected = [e3.clone(), b1_again.clone()];
        assert_eq!(s.load_publications(NOW, None).await.unwrap(), expected);
        assert_eq!(
            ctx.count("SELECT COUNT(*) FROM presence_publications")
                .await,
            2
        );

        // A retry of the same batch (say the driver did not learn that the commit went
        // through) leaves the same rows.
        s.apply_publication_changes("n", &batch).await.unwrap();
        assert_eq!(s.load_publications(NOW, None).await.unwrap(), expected);

        // Inserting an entity-tag that exists overwrites it (node too).
        let mut moved = e3.clone();
        moved.expires_at_ms += 1;
        s.apply_publication_changes("m", &[insert(&moved)])
            .await
            .unwrap();
        assert_eq!(s.load_publications(NOW, Some("m")).await.unwrap(), [moved]);
    })
    .await;
}

#[tokio::test]
async fn a_bad_publication_rejects_the_whole_batch() {
    each_backend("a_bad_publication_rejects_the_batch", |ctx| async move {
        let s = &ctx.store;
        let good = publication("alice", "e1", NOW + 1_000, NOW);
        let mut big = publication("bob", "e2", NOW + 1_000, NOW);
        big.body = vec![b'x'; store::limits::BODY_BYTES + 1];
        let mut long_tag = publication("bob", "e3", NOW + 1_000, NOW);
        long_tag.etag = "e".repeat(store::limits::ETAG + 1);
        let mut no_tag = publication("bob", "", NOW + 1_000, NOW);
        no_tag.etag.clear();
        let no_login = publication("", "e4", NOW + 1_000, NOW);

        let result = s
            .apply_publication_changes("n", &[insert(&good), insert(&big)])
            .await;
        assert!(
            matches!(
                result,
                Err(StoreError::TooLarge { field: "publication body", max, len })
                    if max == store::limits::BODY_BYTES && len == max + 1
            ),
            "{result:?}"
        );
        let result = s
            .apply_publication_changes("n", &[insert(&good), insert(&long_tag)])
            .await;
        assert!(
            matches!(result, Err(StoreError::TooLong { field: "etag", .. })),
            "{result:?}"
        );
        let result = s
            .apply_publication_changes("n", &[insert(&good), insert(&no_tag)])
            .await;
        assert!(
            matches!(result, Err(StoreError::Empty { field: "etag" })),
            "{result:?}"
        );
        let result = s.apply_publication_changes("n", &[insert(&no_login)]).await;
        assert!(matches!(result, Err(StoreError::EmptyLogin)), "{result:?}");
        let result = s
            .apply_publication_changes(&"n".repeat(store::limits::NODE_ID + 1), &[insert(&good)])
            .await;
        assert!(
            matches!(
                result,
                Err(StoreError::TooLong {
                    field: "node_id",
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(!result.unwrap_err().is_transient());
        assert!(s.load_publications(0, None).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn large_bodies_in_one_batch_are_written() {
    each_backend("large_publication_bodies", |ctx| async move {
        let s = &ctx.store;
        // 24 bodies of 700 KiB (16.8 MiB in one batch, more than MariaDB's default packet) and
        // one at the limit: the store splits the statements.
        let mut rows: Vec<StoredPublication> = (0..24)
            .map(|i| {
                let mut p = publication(&format!("u{i:02}"), &format!("t{i:02}"), NOW + 1, NOW);
                p.body = vec![u8::try_from(i).unwrap(); 700 * 1024];
                p
            })
            .collect();
        let mut max = publication("zz", "tmax", NOW + 1, NOW);
        max.body = (0..store::limits::BODY_BYTES)
            .map(|i| (i % 251) as u8)
            .collect();
        rows.push(max);
        let changes: Vec<PublicationChange> = rows.iter().map(insert).collect();
        s.apply_publication_changes("n", &changes).await.unwrap();
        assert!(s.load_publications(NOW, None).await.unwrap() == rows);
    })
    .await;
}

#[tokio::test]
async fn purge_removes_expired_publications_only() {
    each_backend("purge_removes_expired_publications", |ctx| async move {
        let s = &ctx.store;
        let rows: Vec<StoredPublication> = [100, 200, 300]
            .into_iter()
            .map(|at| publication("alice", &format!("e{at}"), NOW + at, NOW))
            .collect();
        let changes: Vec<PublicationChange> = rows.iter().map(insert).collect();
        s.apply_publication_changes("a", &changes[..2])
            .await
            .unwrap();
        s.apply_publication_changes("b", &changes[2..])
            .await
            .unwrap();
        assert_eq!(s.purge_expired_publications(NOW + 99).await.unwrap(), 0);
        assert_eq!(
            s.purge_expired_publications(NOW + 200).await.unwrap(),
            2,
            "expires_at_ms <= now is expired"
        );
        assert_eq!(
            s.load_publications(0, None).await.unwrap(),
            [rows[2].clone()]
        );
        assert_eq!(s.purge_expired_publications(NOW + 200).await.unwrap(), 0);

        // More expired rows than one MySQL delete slice, of several nodes.
        let many: Vec<PublicationChange> = (0..6_001)
            .map(|i| {
                insert(&publication(
                    &format!("u{i}"),
                    &format!("x{i:05}"),
                    NOW + 50,
                    NOW,
                ))
            })
            .collect();
        s.apply_publication_changes("c", &many).await.unwrap();
        assert_eq!(
            s.purge_expired_publications(NOW + 250).await.unwrap(),
            6_001
        );
        assert_eq!(
            s.load_publications(0, None).await.unwrap(),
            [rows[2].clone()]
        );
    })
    .await;
}
