//! The routing tables: dialing plan, gateways, ring groups, local dialing plan.

use store::{GatewayRow, LocalPlanRow, NewPlanEntry, RingGroupRow, StoreError};

use crate::support::each_backend;

fn entry(prefix: &str, priority: i32, action: &str, description: Option<&str>) -> NewPlanEntry {
    NewPlanEntry {
        prefix: prefix.to_owned(),
        priority,
        action: action.to_owned(),
        description: description.map(str::to_owned),
    }
}

#[tokio::test]
async fn dial_plan_add_list_delete() {
    each_backend("dial_plan_add_list_delete", |ctx| async move {
        let s = &ctx.store;
        assert!(s.list_dial_plan().await.unwrap().is_empty());
        let onnet = s
            .add_plan_entry(&entry("onnet", 0, "user-lookup", Some("ONNET logins")))
            .await
            .unwrap();
        let mobile_b = s
            .add_plan_entry(&entry("4860", 5, "gateway:mobile-b", None))
            .await
            .unwrap();
        let mobile_a = s
            .add_plan_entry(&entry(
                "4860",
                -3,
                "gateway:mobile-a,mobile-b strip=2 prepend=0",
                Some("Zoë's mobile route 😀"),
            ))
            .await
            .unwrap();
        let catch_all = s
            .add_plan_entry(&entry("", i32::MAX, "reject:404", None))
            .await
            .unwrap();
        // Same prefix and priority twice: both kept, in the order added.
        let vm1 = s
            .add_plan_entry(&entry(
                "950",
                0,
                "voicemail:sip:onnet950@10.0.0.5:5080",
                None,
            ))
            .await
            .unwrap();
        let vm2 = s
            .add_plan_entry(&entry("950", 0, "service:sip:onnet950@10.0.0.6", None))
            .await
            .unwrap();
        let ids = [onnet, mobile_b, mobile_a, catch_all, vm1, vm2];
        assert!(ids.iter().all(|id| *id > 0), "{ids:?}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

        let plan = s.list_dial_plan().await.unwrap();
        let order: Vec<(i64, &str, i32)> = plan
            .iter()
            .map(|e| (e.id, e.prefix.as_str(), e.priority))
            .collect();
        assert_eq!(
            order,
            [
                (catch_all, "", i32::MAX),
                (mobile_a, "4860", -3),
                (mobile_b, "4860", 5),
                (vm1, "950", 0),
                (vm2, "950", 0),
                (onnet, "onnet", 0),
            ],
            "ordered by prefix (byte order), priority, id"
        );
        let a = &plan[1];
        assert_eq!(a.action, "gateway:mobile-a,mobile-b strip=2 prepend=0");
        assert_eq!(a.description.as_deref(), Some("Zoë's mobile route 😀"));
        assert_eq!(plan[2].description, None);

        assert!(s.delete_plan_entry(mobile_b).await.unwrap());
        assert!(
            !s.delete_plan_entry(mobile_b).await.unwrap(),
            "already gone"
        );
        assert!(!s.delete_plan_entry(999_999).await.unwrap());
        let left: Vec<i64> = s
            .list_dial_plan()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, [catch_all, mobile_a, vm1, vm2, onnet]);
    })
    .await;
}

#[tokio::test]
async fn dial_plan_rejects_bad_entries_before_writing() {
    each_backend("dial_plan_rejects_bad_entries", |ctx| async move {
        let s = &ctx.store;
        match s.add_plan_entry(&entry("48", 0, "  ", None)).await {
            Err(StoreError::Empty { field }) => assert_eq!(field, "action"),
            other => panic!("{other:?}"),
        }
        let long_prefix = "9".repeat(store::limits::PREFIX + 1);
        match s
            .add_plan_entry(&entry(&long_prefix, 0, "user-lookup", None))
            .await
        {
            Err(StoreError::TooLong { field, max, len }) => {
                assert_eq!((field, max, len), ("prefix", 64, 65));
            }
            other => panic!("{other:?}"),
        }
        let long_description = "é".repeat(store::limits::DESCRIPTION + 1);
        let err = s
            .add_plan_entry(&entry("1", 0, "user-lookup", Some(&long_description)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::TooLong {
                    field: "description",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_transient());
        // At the limit (in characters, not bytes) it fits on both backends.
        let max_description = "é".repeat(store::limits::DESCRIPTION);
        s.add_plan_entry(&entry("1", 0, "user-lookup", Some(&max_description)))
            .await
            .unwrap();
        let plan = s.list_dial_plan().await.unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(
            plan[0].description.as_deref(),
            Some(max_description.as_str())
        );
    })
    .await;
}

fn gateway(name: &str, address: &str) -> GatewayRow {
    GatewayRow {
        name: name.to_owned(),
        address: address.to_owned(),
        transport: "udp".to_owned(),
        caller_id: None,
        enabled: true,
    }
}

#[tokio::test]
async fn gateways_upsert_list_delete() {
    each_backend("gateways_upsert_list_delete", |ctx| async move {
        let s = &ctx.store;
        s.upsert_gateway(&gateway("pl1", "192.0.2.10:5060"))
            .await
            .unwrap();
        let v6 = GatewayRow {
            name: "de-v6".to_owned(),
            address: "[2001:db8::5]:5080".to_owned(),
            transport: "tcp".to_owned(),
            caller_id: Some("4930123456".to_owned()),
            enabled: false,
        };
        s.upsert_gateway(&v6).await.unwrap();
        assert_eq!(
            s.list_gateways().await.unwrap(),
            [v6.clone(), gateway("pl1", "192.0.2.10:5060")],
            "ordered by name"
        );

        // Upsert on an existing name replaces every field, and does not add a row.
        let moved = GatewayRow {
            name: "pl1".to_owned(),
            address: "198.51.100.7:5070".to_owned(),
            transport: "tcp".to_owned(),
            caller_id: Some("48221112233".to_owned()),
            enabled: false,
        };
        s.upsert_gateway(&moved).await.unwrap();
        // ... and back: caller ID cleared, enabled again.
        let back = gateway("de-v6", "[2001:db8::5]:5080");
        s.upsert_gateway(&back).await.unwrap();
        assert_eq!(s.list_gateways().await.unwrap(), [back, moved.clone()]);

        assert!(s.delete_gateway("de-v6").await.unwrap());
        assert!(!s.delete_gateway("de-v6").await.unwrap());
        assert!(
            !s.delete_gateway("PL1").await.unwrap(),
            "names are case-sensitive"
        );
        assert_eq!(s.list_gateways().await.unwrap(), [moved]);

        match s.upsert_gateway(&gateway("", "192.0.2.1:5060")).await {
            Err(StoreError::Empty { field }) => assert_eq!(field, "gateway name"),
            other => panic!("{other:?}"),
        }
        match s.upsert_gateway(&gateway("gw", "")).await {
            Err(StoreError::Empty { field }) => assert_eq!(field, "gateway address"),
            other => panic!("{other:?}"),
        }
        let long = "g".repeat(store::limits::GATEWAY_NAME + 1);
        assert!(matches!(
            s.upsert_gateway(&gateway(&long, "192.0.2.1:5060")).await,
            Err(StoreError::TooLong {
                field: "gateway name",
                max: 64,
                len: 65
            })
        ));
        assert_eq!(s.list_gateways().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn gateway_table_defaults_are_udp_and_enabled() {
    each_backend("gateway_table_defaults", |ctx| async move {
        // A row written by another tool with only the required columns.
        let raw = ctx.raw().await;
        sqlx::query("INSERT INTO gateways (name, address) VALUES ('legacy', '192.0.2.9:5060')")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        let gws = ctx.store.list_gateways().await.unwrap();
        assert_eq!(gws, [gateway("legacy", "192.0.2.9:5060")]);
    })
    .await;
}

fn group(login: &str, members: &[&str], step_delay_s: u32, max_steps: u32) -> RingGroupRow {
    RingGroupRow {
        login: login.to_owned(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        step_delay_s,
        max_steps,
    }
}

#[tokio::test]
async fn ring_groups_keep_member_order_and_replace_on_upsert() {
    each_backend("ring_groups_upsert_list_delete", |ctx| async move {
        let s = &ctx.store;
        let sales = group("sales", &["zoë", "48600100200", "alice"], 0, 0);
        let support = group("support", &["bob", "carol"], 15, 1);
        s.upsert_ring_group(&support).await.unwrap();
        s.upsert_ring_group(&sales).await.unwrap();
        assert_eq!(
            s.list_ring_groups().await.unwrap(),
            [sales.clone(), support.clone()],
            "ordered by login; members in the order given, not sorted"
        );

        let sales2 = group("sales", &["alice", "dave"], u32::MAX, u32::MAX);
        s.upsert_ring_group(&sales2).await.unwrap();
        assert_eq!(
            s.list_ring_groups().await.unwrap(),
            [sales2, support.clone()],
            "replaced, full u32 range kept"
        );

        assert!(s.delete_ring_group("sales").await.unwrap());
        assert!(!s.delete_ring_group("sales").await.unwrap());
        assert_eq!(s.list_ring_groups().await.unwrap(), [support]);
    })
    .await;
}

#[tokio::test]
async fn ring_groups_reject_bad_member_lists() {
    each_backend("ring_groups_reject_bad_member_lists", |ctx| async move {
        let s = &ctx.store;
        let cases: [(&[&str], &str, &str); 5] = [
            (&["a", ""], "", "is empty"),
            (&["a,b"], "a,b", "contains a comma"),
            (&["a", "b", "a"], "a", "is listed twice"),
            (&["a", "hunt"], "hunt", "is the group itself"),
            (
                &["a b"],
                "a b",
                "contains white space or a control character",
            ),
        ];
        for (members, bad, why) in cases {
            match s.upsert_ring_group(&group("hunt", members, 0, 0)).await {
                Err(StoreError::BadRingGroupMember {
                    group,
                    member,
                    reason,
                }) => {
                    assert_eq!(
                        (group.as_str(), member.as_str(), reason),
                        ("hunt", bad, why)
                    );
                }
                other => panic!("{members:?}: {other:?}"),
            }
        }
        let err = s
            .upsert_ring_group(&group("hunt", &[], 0, 0))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Empty {
                    field: "ring group members"
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("ring group members is empty"),
            "{err}"
        );
        assert!(matches!(
            s.upsert_ring_group(&group("", &["a"], 0, 0)).await,
            Err(StoreError::EmptyLogin)
        ));
        assert!(
            s.list_ring_groups().await.unwrap().is_empty(),
            "nothing written"
        );
    })
    .await;
}

#[tokio::test]
async fn a_ring_group_row_edited_out_of_range_is_a_decode_error() {
    each_backend("ring_group_out_of_range", |ctx| async move {
        let raw = ctx.raw().await;
        sqlx::query("INSERT INTO ring_groups (login, members, step_delay) VALUES ('g', 'a,b', -5)")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        let err = ctx.store.list_ring_groups().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Query {
                    op: "list_ring_groups",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("step_delay"),
            "names the column: {err}"
        );
        assert!(!err.is_transient());
    })
    .await;
}

#[tokio::test]
async fn local_plan_add_replace_list_delete() {
    each_backend("local_plan_add_replace_list_delete", |ctx| async move {
        let s = &ctx.store;
        let row = |prefix: &str, server: &str| LocalPlanRow {
            prefix: prefix.to_owned(),
            server: server.to_owned(),
        };
        s.add_local_plan(&row("48", "sip2.company.com"))
            .await
            .unwrap();
        s.add_local_plan(&row("4420", "sip3.company.com"))
            .await
            .unwrap();
        s.add_local_plan(&row("44", "sip1.company.com"))
            .await
            .unwrap();
        s.add_local_plan(&row("1", "[2001:db8::1]:5060"))
            .await
            .unwrap();
        // The same prefix again points it at the new server.
        s.add_local_plan(&row("48", "sip4.company.com"))
            .await
            .unwrap();
        assert_eq!(
            s.list_local_plan().await.unwrap(),
            [
                row("1", "[2001:db8::1]:5060"),
                row("44", "sip1.company.com"),
                row("4420", "sip3.company.com"),
                row("48", "sip4.company.com"),
            ]
        );
        assert!(s.delete_local_plan("44").await.unwrap());
        assert!(!s.delete_local_plan("44").await.unwrap());
        assert!(
            !s.delete_local_plan("4").await.unwrap(),
            "exact prefix only"
        );
        assert_eq!(s.list_local_plan().await.unwrap().len(), 3);
        match s.add_local_plan(&row("49", "")).await {
            Err(StoreError::Empty { field }) => assert_eq!(field, "server"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.list_local_plan().await.unwrap().len(), 3);
    })
    .await;
}
