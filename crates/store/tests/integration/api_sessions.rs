//! The call-control API's registration sessions and channels (`api_sessions`,
//! `api_channels`, migration 0012): add, refresh, purge on expiry, list, remove.

use store::{ApiChannel, ApiSession, StoreError};

use crate::support::each_backend;

fn session(id: &str, expires_at: i64) -> ApiSession {
    ApiSession {
        id: id.to_owned(),
        login: "alice".to_owned(),
        client_id: "crm".to_owned(),
        endpoint: "webrtc".to_owned(),
        expires_at,
    }
}

#[tokio::test]
async fn sessions_expire_refresh_and_go() {
    each_backend("api_sessions_expire_refresh_and_go", |ctx| async move {
        let s = &ctx.store;
        s.add_api_session(&session("reg-a", 1_000)).await.unwrap();
        s.add_api_session(&session("reg-b", 2_000)).await.unwrap();
        assert!(s.add_api_session(&session("reg-a", 5)).await.is_err());
        assert_eq!(
            s.live_api_sessions(999).await.unwrap(),
            [session("reg-a", 1_000), session("reg-b", 2_000)]
        );
        assert!(s.refresh_api_session("reg-a", 3_000).await.unwrap());
        assert!(!s.refresh_api_session("reg-x", 3_000).await.unwrap());
        // at 2000 reg-b has expired: purged, not listed
        assert_eq!(
            s.live_api_sessions(2_000).await.unwrap(),
            [session("reg-a", 3_000)]
        );
        assert_eq!(ctx.count("SELECT COUNT(*) FROM api_sessions").await, 1);
        assert!(s.remove_api_session("reg-a").await.unwrap());
        assert!(s.live_api_sessions(0).await.unwrap().is_empty());
        assert!(matches!(
            s.add_api_session(&ApiSession {
                endpoint: String::new(),
                ..session("reg-c", 1)
            })
            .await,
            Err(StoreError::Empty { field: "endpoint" })
        ));
    })
    .await;
}

#[tokio::test]
async fn channels_are_kept_until_removed() {
    each_backend("api_channels_are_kept_until_removed", |ctx| async move {
        let s = &ctx.store;
        let hook = ApiChannel {
            id: "b".repeat(32),
            kind: "webhook".to_owned(),
            login: "alice".to_owned(),
            client_id: "crm".to_owned(),
            url: Some("https://app.example.com/events".to_owned()),
            secret: Some("ab".repeat(32)),
            created_at: 1_765_000_000,
        };
        let ws = ApiChannel {
            id: "a".repeat(32),
            kind: "websocket".to_owned(),
            url: None,
            secret: None,
            ..hook.clone()
        };
        s.add_api_channel(&hook).await.unwrap();
        s.add_api_channel(&ws).await.unwrap();
        assert_eq!(s.list_api_channels().await.unwrap(), [ws.clone(), hook]);
        assert!(s.remove_api_channel(&"b".repeat(32)).await.unwrap());
        assert!(!s.remove_api_channel(&"b".repeat(32)).await.unwrap());
        assert_eq!(s.list_api_channels().await.unwrap(), [ws]);
    })
    .await;
}
