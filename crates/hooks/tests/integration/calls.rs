//! Each hook's request payload and auth, against the fake API.

use hooks::{
    Buddy, CallEvent, Endpoint, HookClient, HookConfig, HookError, MissedReason, Party, PushDevice,
    PushEvent,
};
use serde_json::json;

use crate::fake_api::{basic, Canned, FakeApi};

fn client(api: &FakeApi) -> HookClient {
    HookClient::new(HookConfig {
        buddy_list: Some(
            Endpoint::new(&api.url("/bl.ashx"))
                .unwrap()
                .with_credentials("vs", "s3cret"),
        ),
        push: Some(Endpoint::new(&api.url("/emc.ashx")).unwrap()),
        sms: Some(Endpoint::new(&api.url("/VSServices/sms_send.ashx")).unwrap()),
        ..HookConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn buddy_list_posts_the_login_with_basic_auth() {
    let api = FakeApi::start(
        vec![Canned::json(
            r#"{"buddies":[{"login":"bob","push":true},{"login":"447700900123","push":false}]}"#,
        )],
        Canned::status(500),
    )
    .await;
    let buddies = client(&api).buddy_list("alice").await.unwrap();
    assert_eq!(
        buddies,
        vec![Buddy::new("bob", true), Buddy::new("447700900123", false)]
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/bl.ashx");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(basic("vs", "s3cret").as_str())
    );
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(seen[0].json, json!({"login": "alice"}));
}

#[tokio::test]
async fn credentials_in_the_url_become_basic_auth() {
    let api = FakeApi::start(vec![], Canned::json("[]")).await;
    let url = format!("http://op:p%40ss@{}/bl.ashx", api.addr);
    let c = HookClient::new(HookConfig {
        buddy_list: Some(Endpoint::new(&url).unwrap()),
        ..HookConfig::default()
    })
    .unwrap();
    assert_eq!(c.buddy_list("alice").await.unwrap(), vec![]);
    assert_eq!(
        api.seen()[0].authorization.as_deref(),
        Some(basic("op", "p@ss").as_str())
    );
}

#[tokio::test]
async fn push_events_carry_what_the_app_needs() {
    let api = FakeApi::start(vec![], Canned::status(200)).await;
    let c = client(&api);
    let caller = Party::new("alice", Some("Alice A.".into()));
    let device = |i: &str, token: &str, platform: &str, param: &str| PushDevice {
        instance: i.into(),
        token: token.into(),
        platform: platform.into(),
        param: param.into(),
    };
    c.push(&PushEvent::incoming_call(CallEvent::new(
        caller.clone(),
        "bob",
        "parked-1@fs",
        ("ft1".into(), "pk2".into()),
        vec![
            device("<urn:uuid:1111>", "apns-tok", "apns", "T.com.x.voip"),
            device("<urn:uuid:2222>", "fcm-tok", "fcm", ""),
        ],
    )))
    .await
    .unwrap();
    c.push(&PushEvent::missed_call(
        CallEvent::new(
            caller.clone(),
            "bob",
            "parked-1@fs",
            ("ft1".into(), "pk2".into()),
            vec![device(
                "<urn:uuid:1111>",
                "apns-tok",
                "apns",
                "T.com.x.voip",
            )],
        ),
        MissedReason::Timeout,
    ))
    .await
    .unwrap();
    let body = "Zażółć gęślą jaźń — a message well over forty characters long";
    c.push(&PushEvent::message(
        Party::new("alice", None),
        "bob",
        "msg-7@fs",
        "text/plain",
        body,
        vec![],
    ))
    .await
    .unwrap();

    let seen = api.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|s| s.path == "/emc.ashx" && s.authorization.is_none()));
    let mut incoming = seen[0].json.clone();
    assert!(incoming["timestamp"].as_u64().unwrap() > 1_600_000_000);
    incoming.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(
        incoming,
        json!({
            "event": "incoming_call",
            "caller": {"login": "alice", "display_name": "Alice A."},
            "callee": "bob",
            "call_id": "parked-1@fs",
            "instances": ["<urn:uuid:1111>", "<urn:uuid:2222>"],
            "devices": [
                {"instance": "<urn:uuid:1111>", "token": "apns-tok", "platform": "apns", "param": "T.com.x.voip"},
                {"instance": "<urn:uuid:2222>", "token": "fcm-tok", "platform": "fcm", "param": ""}
            ],
            "to_tag": "ft1",
            "from_tag": "pk2",
            "replaces": "parked-1@fs;to-tag=ft1;from-tag=pk2"
        })
    );
    assert_eq!(seen[1].json["event"], "missed_call");
    assert_eq!(seen[1].json["reason"], "timeout");
    assert_eq!(seen[1].json["call_id"], "parked-1@fs");
    assert_eq!(seen[1].json["caller"]["login"], "alice");

    let m = &seen[2].json;
    assert_eq!(m["event"], "message");
    assert_eq!(m["sender"], json!({"login": "alice", "display_name": null}));
    assert_eq!(m["recipient"], "bob");
    assert_eq!(m["call_id"], "msg-7@fs");
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(m["truncated"], true);
    let excerpt = m["excerpt"].as_str().unwrap();
    assert_eq!(excerpt.chars().count(), 40);
    assert!(body.starts_with(excerpt));
}

#[tokio::test]
async fn sms_out_posts_from_to_body() {
    let api = FakeApi::start(vec![], Canned::status(204)).await;
    client(&api)
        .sms_out("alice", "447700900123", "hello")
        .await
        .unwrap();
    let seen = api.seen();
    assert_eq!(seen[0].path, "/VSServices/sms_send.ashx");
    assert_eq!(seen[0].json["from"], "alice");
    assert_eq!(seen[0].json["to"], "447700900123");
    assert_eq!(seen[0].json["body"], "hello");
    assert!(seen[0].json["timestamp"].is_u64());
}

#[tokio::test]
async fn unconfigured_hooks_say_so() {
    let c = HookClient::new(HookConfig::default()).unwrap();
    assert_eq!(
        c.buddy_list("a").await,
        Err(HookError::NotConfigured { hook: "buddy_list" })
    );
    assert!(matches!(
        c.sms_out("a", "b", "c").await,
        Err(HookError::NotConfigured { hook: "sms" })
    ));
}
