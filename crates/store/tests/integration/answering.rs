//! Answering rules keep their order per account; voicemail to email's retry state survives.

use store::{AnsweringRuleRow, NewVoiceMessage};

use crate::support::each_backend;

fn rule(caller: &str, when: &str, action: &str) -> AnsweringRuleRow {
    AnsweringRuleRow {
        login: "alice".to_owned(),
        caller: caller.to_owned(),
        when: when.to_owned(),
        action: action.to_owned(),
    }
}

#[tokio::test]
async fn answering_rules_are_replaced_in_order_per_account() {
    each_backend("answering_rules", |ctx| async move {
        let s = &ctx.store;
        assert!(s.answering_rules("alice").await.unwrap().is_empty());
        let rules = vec![
            rule("666", "always", "reject:603"),
            rule("*", "always", "ring:20"),
            rule("*", "no-answer", "forward:1002"),
        ];
        s.set_answering_rules("alice", &rules).await.unwrap();
        let mut bob = rule("*", "busy", "voicemail");
        bob.login = "bob".to_owned();
        s.set_answering_rules("bob", std::slice::from_ref(&bob))
            .await
            .unwrap();
        assert_eq!(s.answering_rules("alice").await.unwrap(), rules);
        // Reordered: the list is replaced whole.
        let reordered = vec![rules[2].clone(), rules[0].clone()];
        s.set_answering_rules("alice", &reordered).await.unwrap();
        assert_eq!(s.answering_rules("alice").await.unwrap(), reordered);
        let all = s.all_answering_rules().await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2], bob, "by login, then order");
        s.set_answering_rules("alice", &[]).await.unwrap();
        assert!(s.answering_rules("alice").await.unwrap().is_empty());
        assert_eq!(s.answering_rules("bob").await.unwrap(), vec![bob]);
    })
    .await;
}

#[tokio::test]
async fn pending_mail_is_due_then_rescheduled_then_sent() {
    each_backend("voice_mail_retry", |ctx| async move {
        let s = &ctx.store;
        let message = |mail: &str, at: i64| NewVoiceMessage {
            login: "alice".to_owned(),
            caller_id: "bob".to_owned(),
            display_name: String::new(),
            created_ms: at,
            duration_ms: 3000,
            file_path: format!("/v/{at}.wav"),
            mail_status: mail.to_owned(),
        };
        let (a, _) = s
            .insert_voice_message(&message("pending", 1))
            .await
            .unwrap();
        s.insert_voice_message(&message("none", 2)).await.unwrap();
        assert_eq!(s.next_voice_mail_due().await.unwrap(), Some(0));
        let due = s.voice_mail_due(1000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].message.id, due[0].attempts), (a, 0));
        // A failed attempt: pending again, due later.
        s.record_voice_mail_attempt(a, "pending", 1, 5000)
            .await
            .unwrap();
        assert!(s.voice_mail_due(1000, 10).await.unwrap().is_empty());
        assert_eq!(s.next_voice_mail_due().await.unwrap(), Some(5000));
        let due = s.voice_mail_due(5000, 10).await.unwrap();
        assert_eq!(due[0].attempts, 1);
        s.record_voice_mail_attempt(a, "sent", 2, 5000)
            .await
            .unwrap();
        assert_eq!(s.next_voice_mail_due().await.unwrap(), None);
        let m = s.voice_message(a).await.unwrap().unwrap();
        assert_eq!(m.mail_status, "sent");
    })
    .await;
}

/// The account cache gets the rules with the account (no query per call), and a rule change
/// is an account change the running server's sync picks up.
#[tokio::test]
async fn accounts_carry_their_rules_and_a_change_is_logged() {
    each_backend("answering_rules_accounts", |ctx| async move {
        let s = &ctx.store;
        for login in ["alice", "bob", "carol"] {
            s.add_account(&crate::support::account(login, "pw", None))
                .await
                .unwrap();
        }
        let before = s.last_account_change().await.unwrap();
        let mut bob = rule("666", "always", "reject:603");
        bob.login = "bob".to_owned();
        s.set_answering_rules("bob", std::slice::from_ref(&bob))
            .await
            .unwrap();
        let changes = s.account_changes_since(before, 10).await.unwrap();
        assert_eq!(
            changes.iter().map(|c| c.login.as_str()).collect::<Vec<_>>(),
            ["bob"]
        );
        let all = s.list_accounts().await.unwrap();
        let rules: Vec<usize> = all.iter().map(|a| a.answering_rules.len()).collect();
        assert_eq!(rules, [0, 1, 0], "alice, bob, carol");
        assert_eq!(all[1].answering_rules, vec![bob.clone()]);
        let got = s.get_account("bob").await.unwrap().unwrap();
        assert_eq!(got.answering_rules, vec![bob]);
    })
    .await;
}
