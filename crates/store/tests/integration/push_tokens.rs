//! Push tokens (`push_device_token`): set, replace, remove with a tombstone, re-read changes.

use store::PushToken;

use crate::support::each_backend;

const I1: &str = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>";
const I2: &str = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";

fn token(login: &str, instance: &str, token: &str, platform: &str, at: i64) -> PushToken {
    PushToken {
        login: login.to_owned(),
        instance: instance.to_owned(),
        token: token.to_owned(),
        platform: platform.to_owned(),
        param: if platform.starts_with("apns") {
            "ABCD1234.com.example.voip".to_owned()
        } else {
            String::new()
        },
        updated_at: at,
    }
}

#[tokio::test]
async fn one_token_per_instance_replaced_and_removed() {
    each_backend(
        "one_token_per_instance_replaced_and_removed",
        |ctx| async move {
            let s = &ctx.store;
            assert!(s.list_push_tokens(None).await.unwrap().is_empty());
            // the instance was never seen in a REGISTER: its row is created
            s.set_push_token(&token("alice", I1, "t1", "apns", 100))
                .await
                .unwrap();
            s.set_push_token(&token("alice", I2, "f1", "fcm", 110))
                .await
                .unwrap();
            s.set_push_token(&token("bob", I1, "b1", "fcm", 120))
                .await
                .unwrap();
            // a new token for the same device replaces the old one
            s.set_push_token(&token("alice", I1, "t2", "apns-voip", 130))
                .await
                .unwrap();
            let alice = s.list_push_tokens(Some("alice")).await.unwrap();
            assert_eq!(
                alice,
                vec![
                    token("alice", I1, "t2", "apns-voip", 130),
                    token("alice", I2, "f1", "fcm", 110)
                ]
            );
            assert_eq!(s.list_instances("alice").await.unwrap().len(), 2);
            assert_eq!(s.list_push_tokens(None).await.unwrap().len(), 3);

            // removal leaves a tombstone that a running server sees as a change
            assert!(s.delete_push_token("alice", I1, 140).await.unwrap());
            assert!(!s.delete_push_token("alice", I1, 141).await.unwrap());
            assert!(!s.delete_push_token("carol", I1, 141).await.unwrap());
            let alice = s.list_push_tokens(Some("alice")).await.unwrap();
            assert_eq!(alice, vec![token("alice", I2, "f1", "fcm", 110)]);
            let changed = s.push_tokens_changed_since(125).await.unwrap();
            assert_eq!(changed.len(), 1);
            assert_eq!(changed[0].instance, I1);
            assert!(changed[0].token.is_empty(), "a tombstone: {changed:?}");
            assert_eq!(s.push_tokens_changed_since(0).await.unwrap().len(), 3);
            // the instance itself (seen by the registrar) is kept
            assert_eq!(s.list_instances("alice").await.unwrap().len(), 2);
        },
    )
    .await;
}

#[tokio::test]
async fn overlong_token_is_refused() {
    each_backend("overlong_token_is_refused", |ctx| async move {
        let long = "x".repeat(1025);
        let err = ctx
            .store
            .set_push_token(&token("alice", I1, &long, "fcm", 1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
        assert!(ctx.store.list_push_tokens(None).await.unwrap().is_empty());
    })
    .await;
}
