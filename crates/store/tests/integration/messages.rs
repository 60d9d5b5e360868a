//! Instant messages (`sms_inbox`).

use store::{MessageStatus, NewMessage, Store, StoreError};

use crate::support::each_backend;

const T0: i64 = 1_700_000_000_000;

fn message(sender: &str, recipient: &str, call_id: &str, cseq: i64, created_ms: i64) -> NewMessage {
    NewMessage {
        sender: sender.to_owned(),
        recipient: recipient.to_owned(),
        content_type: "text/plain;charset=UTF-8".to_owned(),
        body: format!("hello {recipient} from {sender} at {created_ms} — Zoë 😀").into_bytes(),
        call_id: call_id.to_owned(),
        cseq,
        created_ms,
    }
}

#[tokio::test]
async fn a_retransmitted_message_is_stored_once() {
    each_backend("a_retransmitted_message_is_stored_once", |ctx| async move {
        let s = &ctx.store;
        let m = message("alice", "bob", "a84b4c76e66710@pc33", 1, T0);
        let (id, inserted) = s.store_message(&m, MessageStatus::Deferred).await.unwrap();
        assert!(inserted);

        // The same transaction again, even with another status or body: the first row stands.
        let mut again = m.clone();
        again.body = b"changed".to_vec();
        again.created_ms = T0 + 5_000;
        assert_eq!(
            s.store_message(&again, MessageStatus::Delivered)
                .await
                .unwrap(),
            (id, false)
        );
        assert_eq!(ctx.count("SELECT COUNT(*) FROM sms_inbox").await, 1);
        let stored = s.pending_messages("bob", 10).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!((stored[0].id, &stored[0].body), (id, &m.body));

        // Any part of the key differing makes another message.
        let mut distinct = Vec::new();
        for (sender, recipient, call_id, cseq) in [
            ("alice", "bob", "a84b4c76e66710@pc33", 2), // same Call-ID, next CSeq
            ("alice", "carol", "a84b4c76e66710@pc33", 1),
            ("dave", "bob", "a84b4c76e66710@pc33", 1),
            ("alice", "bob", "A84B4C76E66710@pc33", 1), // Call-IDs are case-sensitive
        ] {
            let (other, inserted) = s
                .store_message(
                    &message(sender, recipient, call_id, cseq, T0),
                    MessageStatus::Deferred,
                )
                .await
                .unwrap();
            assert!(inserted, "{sender} {recipient} {call_id} {cseq}");
            assert!(other > id && !distinct.contains(&other));
            distinct.push(other);
        }
        assert_eq!(ctx.count("SELECT COUNT(*) FROM sms_inbox").await, 5);

        // A delivered message's retransmission is still recognised (and stays delivered).
        assert!(s
            .set_message_status(id, MessageStatus::Delivered, T0 + 1)
            .await
            .unwrap());
        assert_eq!(
            s.store_message(&m, MessageStatus::Deferred).await.unwrap(),
            (id, false)
        );
        let listed = s.list_messages(Some("bob"), 10).await.unwrap();
        let first = listed.iter().find(|x| x.id == id).unwrap();
        assert_eq!(first.status, MessageStatus::Delivered);
    })
    .await;
}

#[tokio::test]
async fn retransmissions_are_recognised_after_a_restart() {
    each_backend("retransmissions_after_a_restart", |ctx| async move {
        let url = ctx.url.clone();
        let m = message("alice", "bob", "restart-1@pc33", 7, T0);
        let (id, inserted) = ctx
            .store
            .store_message(&m, MessageStatus::Deferred)
            .await
            .unwrap();
        assert!(inserted);
        ctx.store.close().await;
        drop(ctx);

        let reopened = Store::connect(&url).await.unwrap();
        reopened.migrate().await.unwrap();
        let pending = reopened.pending_messages("bob", 10).await.unwrap();
        assert_eq!(pending.len(), 1, "the deferred message survived");
        assert_eq!(pending[0].id, id);
        assert_eq!(
            reopened
                .store_message(&m, MessageStatus::Deferred)
                .await
                .unwrap(),
            (id, false)
        );
        let (next, inserted) = reopened
            .store_message(
                &message("alice", "bob", "restart-2@pc33", 1, T0 + 1),
                MessageStatus::Deferred,
            )
            .await
            .unwrap();
        assert!(inserted && next > id, "ids keep rising after a restart");
        reopened.close().await;
    })
    .await;
}

#[tokio::test]
async fn pending_messages_are_the_deferred_ones_oldest_first() {
    each_backend("pending_messages_oldest_first", |ctx| async move {
        let s = &ctx.store;
        assert!(s.pending_messages("bob", 10).await.unwrap().is_empty());
        // Stored in this order; created_ms deliberately not monotonic (clocks of senders
        // differ): the order is the store's (id).
        let specs = [
            ("alice", "bob", 30, MessageStatus::Deferred),
            ("carol", "bob", 10, MessageStatus::Deferred),
            ("alice", "bob", 20, MessageStatus::Delivered),
            ("alice", "dave", 40, MessageStatus::Deferred),
            ("dave", "bob", 50, MessageStatus::SentOffnet),
            ("dave", "bob", 60, MessageStatus::Failed),
            ("alice", "bob", 5, MessageStatus::Deferred),
        ];
        let mut ids = Vec::new();
        for (i, (sender, recipient, at, status)) in specs.iter().enumerate() {
            let (id, inserted) = s
                .store_message(
                    &message(sender, recipient, &format!("c{i}"), 1, T0 + at),
                    *status,
                )
                .await
                .unwrap();
            assert!(inserted);
            ids.push(id);
        }
        let pending = s.pending_messages("bob", 10).await.unwrap();
        assert_eq!(
            pending.iter().map(|m| m.id).collect::<Vec<_>>(),
            [ids[0], ids[1], ids[6]]
        );
        assert!(pending.iter().all(|m| m.status == MessageStatus::Deferred));
        // Every field as stored; status_ms starts at created_ms, no attempts yet.
        let p = &pending[1];
        let m = message("carol", "bob", "c1", 1, T0 + 10);
        assert_eq!(
            (
                &p.sender,
                &p.recipient,
                &p.content_type,
                &p.body,
                &p.call_id,
                p.cseq
            ),
            (
                &m.sender,
                &m.recipient,
                &m.content_type,
                &m.body,
                &m.call_id,
                m.cseq
            )
        );
        assert_eq!(
            (p.created_ms, p.status_ms, p.attempts),
            (T0 + 10, T0 + 10, 0)
        );

        assert_eq!(
            s.pending_messages("bob", 2)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            [ids[0], ids[1]]
        );
        assert!(s.pending_messages("bob", 0).await.unwrap().is_empty());
        assert_eq!(s.pending_messages("dave", 10).await.unwrap()[0].id, ids[3]);
        assert!(
            s.pending_messages("Bob", 10).await.unwrap().is_empty(),
            "logins are case-sensitive"
        );
    })
    .await;
}

#[tokio::test]
async fn status_changes_and_attempts() {
    each_backend("message_status_changes_and_attempts", |ctx| async move {
        let s = &ctx.store;
        let (first, _) = s
            .store_message(
                &message("alice", "bob", "s1", 1, T0),
                MessageStatus::Deferred,
            )
            .await
            .unwrap();
        let (second, _) = s
            .store_message(
                &message("alice", "bob", "s2", 1, T0 + 1),
                MessageStatus::Deferred,
            )
            .await
            .unwrap();

        // A failed attempt, twice: counted, still pending.
        assert!(s.increment_attempts(first).await.unwrap());
        assert!(s.increment_attempts(first).await.unwrap());
        let pending = s.pending_messages("bob", 10).await.unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|m| (m.id, m.attempts))
                .collect::<Vec<_>>(),
            [(first, 2), (second, 0)]
        );

        // Delivered: no longer pending, status time recorded; setting it again still finds it.
        assert!(s
            .set_message_status(first, MessageStatus::Delivered, T0 + 9_000)
            .await
            .unwrap());
        assert!(s
            .set_message_status(first, MessageStatus::Delivered, T0 + 9_000)
            .await
            .unwrap());
        assert_eq!(
            s.pending_messages("bob", 10)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            [second]
        );
        let listed = s.list_messages(Some("bob"), 10).await.unwrap();
        let first_row = listed.iter().find(|m| m.id == first).unwrap();
        assert_eq!(
            (
                first_row.status,
                first_row.status_ms,
                first_row.attempts,
                first_row.created_ms
            ),
            (MessageStatus::Delivered, T0 + 9_000, 2, T0)
        );

        // Back to deferred (a device took it but the driver gave it back): pending again,
        // in its original place.
        assert!(s
            .set_message_status(first, MessageStatus::Deferred, T0 + 9_500)
            .await
            .unwrap());
        assert_eq!(
            s.pending_messages("bob", 10)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            [first, second]
        );
        assert!(s
            .set_message_status(second, MessageStatus::Failed, T0 + 10_000)
            .await
            .unwrap());
        assert_eq!(s.pending_messages("bob", 10).await.unwrap().len(), 1);

        // Unknown ids.
        assert!(!s
            .set_message_status(second + 1000, MessageStatus::Delivered, T0)
            .await
            .unwrap());
        assert!(!s.increment_attempts(second + 1000).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn list_messages_newest_first() {
    each_backend("list_messages_newest_first", |ctx| async move {
        let s = &ctx.store;
        assert!(s.list_messages(None, 10).await.unwrap().is_empty());
        let mut ids = Vec::new();
        for (i, (recipient, status)) in [
            ("bob", MessageStatus::Delivered),
            ("carol", MessageStatus::Deferred),
            ("48600100200", MessageStatus::SentOffnet),
            ("bob", MessageStatus::Failed),
        ]
        .into_iter()
        .enumerate()
        {
            let mut m = message("alice", recipient, &format!("l{i}"), 1, T0 + i as i64);
            if i == 2 {
                m.content_type = "application/vnd.gsma.rcs-ft-http+xml".into();
                m.body = Vec::new();
            }
            ids.push(s.store_message(&m, status).await.unwrap().0);
        }
        let all = s.list_messages(None, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|m| (m.id, m.status)).collect::<Vec<_>>(),
            [
                (ids[3], MessageStatus::Failed),
                (ids[2], MessageStatus::SentOffnet),
                (ids[1], MessageStatus::Deferred),
                (ids[0], MessageStatus::Delivered),
            ]
        );
        assert_eq!(all[1].recipient, "48600100200");
        assert!(all[1].body.is_empty(), "an empty body round-trips");
        assert_eq!(all[1].content_type, "application/vnd.gsma.rcs-ft-http+xml");
        assert_eq!(s.list_messages(None, 2).await.unwrap(), all[..2]);
        assert_eq!(
            s.list_messages(Some("bob"), 10).await.unwrap(),
            [all[0].clone(), all[3].clone()]
        );
        assert!(s
            .list_messages(Some("nobody"), 10)
            .await
            .unwrap()
            .is_empty());
        assert!(s.list_messages(None, 0).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn bad_messages_are_refused_and_unknown_statuses_are_reported() {
    each_backend("bad_messages_are_refused", |ctx| async move {
        let s = &ctx.store;
        let ok = message("alice", "bob", "x1", 1, T0);
        let cases: Vec<(NewMessage, &str)> = vec![
            (
                NewMessage {
                    sender: String::new(),
                    ..ok.clone()
                },
                "sender",
            ),
            (
                NewMessage {
                    recipient: String::new(),
                    ..ok.clone()
                },
                "recipient",
            ),
            (
                NewMessage {
                    recipient: "b".repeat(store::limits::LOGIN + 1),
                    ..ok.clone()
                },
                "recipient",
            ),
            (
                NewMessage {
                    content_type: "t".repeat(store::limits::CONTENT_TYPE + 1),
                    ..ok.clone()
                },
                "content_type",
            ),
            (
                NewMessage {
                    call_id: "c".repeat(store::limits::CALL_ID + 1),
                    ..ok.clone()
                },
                "call_id",
            ),
            (
                NewMessage {
                    body: vec![0; store::limits::BODY_BYTES + 1],
                    ..ok.clone()
                },
                "message body",
            ),
        ];
        for (m, field) in cases {
            let err = s
                .store_message(&m, MessageStatus::Deferred)
                .await
                .unwrap_err();
            let got = match &err {
                StoreError::Empty { field }
                | StoreError::TooLong { field, .. }
                | StoreError::TooLarge { field, .. } => *field,
                other => panic!("{field}: {other:?}"),
            };
            assert_eq!(got, field, "{err}");
            assert!(!err.is_transient());
        }
        assert_eq!(ctx.count("SELECT COUNT(*) FROM sms_inbox").await, 0);

        // Column-sized values (multi-byte characters) fit on both backends.
        let full = NewMessage {
            recipient: "ż".repeat(store::limits::LOGIN),
            call_id: "ć".repeat(store::limits::CALL_ID),
            body: vec![0xff; store::limits::BODY_BYTES],
            ..ok.clone()
        };
        let (id, _) = s
            .store_message(&full, MessageStatus::Deferred)
            .await
            .unwrap();
        let back = s.pending_messages(&full.recipient, 1).await.unwrap();
        assert_eq!(
            (back[0].id, &back[0].call_id, &back[0].body),
            (id, &full.call_id, &full.body)
        );

        // A status written by hand that the store does not know is an error naming it, not a
        // silent guess.
        let raw = ctx.raw().await;
        sqlx::query("UPDATE sms_inbox SET status = 'pending' WHERE id = ?")
            .bind(id)
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        let err = s.list_messages(None, 10).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Query {
                    op: "list_messages",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("pending"), "{err}");
        assert!(!err.is_transient());
    })
    .await;
}
