//! The call-control API's clients (`api_clients`): add, read, list, remove, limits.

use store::{ApiClient, StoreError};

use crate::support::each_backend;

fn client(id: &str, scope: &str) -> ApiClient {
    ApiClient {
        client_id: id.to_owned(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        scope: scope.to_owned(),
        created_at: 1_765_000_000,
    }
}

#[tokio::test]
async fn clients_are_added_listed_and_removed() {
    each_backend("clients_are_added_listed_and_removed", |ctx| async move {
        let s = &ctx.store;
        s.add_api_client(&client("crm", "alice bob")).await.unwrap();
        s.add_api_client(&client("app", "*")).await.unwrap();
        assert!(
            s.add_api_client(&client("crm", "x")).await.is_err(),
            "ids are unique"
        );
        assert_eq!(
            s.get_api_client("crm").await.unwrap(),
            Some(client("crm", "alice bob"))
        );
        assert_eq!(s.get_api_client("none").await.unwrap(), None);
        let ids: Vec<String> = s
            .list_api_clients()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        assert_eq!(ids, ["app", "crm"]);
        assert!(s.remove_api_client("crm").await.unwrap());
        assert!(!s.remove_api_client("crm").await.unwrap());
        let long = "x".repeat(65);
        assert!(matches!(
            s.add_api_client(&client(&long, "*")).await,
            Err(StoreError::TooLong {
                field: "client_id",
                ..
            })
        ));
        assert!(matches!(
            s.add_api_client(&client("y", "")).await,
            Err(StoreError::Empty { field: "scope" })
        ));
    })
    .await;
}
