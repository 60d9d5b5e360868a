//! Local buddy lists (`contacts`) and voicemail counts (`voicemail_boxes`).

use store::{StoreError, VoicemailCounts};

use crate::support::each_backend;

#[tokio::test]
async fn buddy_lists_add_list_remove() {
    each_backend("buddy_lists_add_list_remove", |ctx| async move {
        let s = &ctx.store;
        assert!(s.list_contacts("alice").await.unwrap().is_empty());
        for buddy in ["carol", "Bob", "48600100200", "bob", "Zoë"] {
            assert!(s.add_contact("alice", buddy).await.unwrap(), "{buddy}");
        }
        assert!(
            !s.add_contact("alice", "carol").await.unwrap(),
            "already listed"
        );
        assert!(s.add_contact("bob", "alice").await.unwrap());

        // Byte order on both backends (digits, upper case, lower case, then multi-byte).
        assert_eq!(
            s.list_contacts("alice").await.unwrap(),
            ["48600100200", "Bob", "Zoë", "bob", "carol"]
        );
        assert_eq!(s.list_contacts("bob").await.unwrap(), ["alice"]);
        assert!(s.list_contacts("Alice").await.unwrap().is_empty());

        assert!(s.remove_contact("alice", "Bob").await.unwrap());
        assert!(!s.remove_contact("alice", "Bob").await.unwrap());
        assert!(!s.remove_contact("carol", "alice").await.unwrap());
        assert_eq!(
            s.list_contacts("alice").await.unwrap(),
            ["48600100200", "Zoë", "bob", "carol"]
        );
        assert_eq!(
            s.list_contacts("bob").await.unwrap(),
            ["alice"],
            "other lists untouched"
        );

        let err = s.add_contact("alice", "").await.unwrap_err();
        assert!(
            matches!(err, StoreError::Empty { field: "buddy" }),
            "{err:?}"
        );
        let err = s.add_contact("", "bob").await.unwrap_err();
        assert!(
            matches!(err, StoreError::Empty { field: "owner" }),
            "{err:?}"
        );
        let err = s
            .add_contact("alice", &"x".repeat(store::limits::LOGIN + 1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::TooLong { field: "buddy", .. }),
            "{err:?}"
        );
        assert_eq!(ctx.count("SELECT COUNT(*) FROM contacts").await, 5);
    })
    .await;
}

#[tokio::test]
async fn voicemail_counts_default_to_zero_and_are_overwritten() {
    each_backend("voicemail_counts", |ctx| async move {
        let s = &ctx.store;
        assert_eq!(
            s.voicemail_counts("alice").await.unwrap(),
            VoicemailCounts::default()
        );

        let two_new = VoicemailCounts {
            new: 2,
            old: 8,
            urgent_new: 0,
            urgent_old: 2,
        };
        s.set_voicemail_counts("alice", two_new).await.unwrap();
        assert_eq!(s.voicemail_counts("alice").await.unwrap(), two_new);
        assert_eq!(
            s.voicemail_counts("bob").await.unwrap(),
            VoicemailCounts::default()
        );

        // Listened to: overwritten, not added up; extremes round-trip.
        let heard = VoicemailCounts {
            new: 0,
            old: 10,
            urgent_new: 0,
            urgent_old: 2,
        };
        s.set_voicemail_counts("alice", heard).await.unwrap();
        let extreme = VoicemailCounts {
            new: u32::MAX,
            old: 0,
            urgent_new: u32::MAX,
            urgent_old: 1,
        };
        s.set_voicemail_counts("bob", extreme).await.unwrap();
        assert_eq!(s.voicemail_counts("alice").await.unwrap(), heard);
        assert_eq!(s.voicemail_counts("bob").await.unwrap(), extreme);
        assert_eq!(ctx.count("SELECT COUNT(*) FROM voicemail_boxes").await, 2);

        assert!(matches!(
            s.set_voicemail_counts("", heard).await,
            Err(StoreError::EmptyLogin)
        ));
    })
    .await;
}
