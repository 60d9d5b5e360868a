//! The built-in voicemail's mailboxes and messages; every change recounts `voicemail_boxes`.

use store::{NewVoiceMessage, VoicemailCounts, VoicemailUser};

use crate::support::each_backend;

fn message(login: &str, caller: &str, at: i64) -> NewVoiceMessage {
    NewVoiceMessage {
        login: login.to_owned(),
        caller_id: caller.to_owned(),
        display_name: format!("{caller} display"),
        created_ms: at,
        duration_ms: 4200,
        file_path: format!("/data/voicemail/{login}/{at}.wav"),
        mail_status: "none".to_owned(),
    }
}

#[tokio::test]
async fn messages_are_stored_listed_marked_deleted_and_counted() {
    each_backend("voice_messages", |ctx| async move {
        let s = &ctx.store;
        let (a, counts) = s
            .insert_voice_message(&message("alice", "bob", 1000))
            .await
            .unwrap();
        assert_eq!(
            counts,
            VoicemailCounts {
                new: 1,
                ..VoicemailCounts::default()
            }
        );
        let (b, _) = s
            .insert_voice_message(&message("alice", "carol", 2000))
            .await
            .unwrap();
        let (_, other) = s
            .insert_voice_message(&message("dave", "bob", 3000))
            .await
            .unwrap();
        assert_eq!(other.new, 1, "another mailbox");
        assert!(b > a);
        assert_eq!(s.voicemail_counts("alice").await.unwrap().new, 2);

        let m = s.voice_message(a).await.unwrap().unwrap();
        assert_eq!(
            (m.login.as_str(), m.caller_id.as_str(), m.duration_ms),
            ("alice", "bob", 4200)
        );
        assert!(m.new);
        assert_eq!(m.display_name, "bob display");

        let (login, counts) = s.mark_voice_message_old(a).await.unwrap().unwrap();
        assert_eq!(login, "alice");
        assert_eq!((counts.new, counts.old), (1, 1));
        assert_eq!(s.voicemail_counts("alice").await.unwrap(), counts);
        // New first, newest first.
        let ids: Vec<i64> = s
            .voice_messages("alice")
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec![b, a]);

        let (_, counts) = s.delete_voice_message(b).await.unwrap().unwrap();
        assert_eq!((counts.new, counts.old), (0, 1));
        assert!(s.voice_message(b).await.unwrap().is_none());
        assert!(s.delete_voice_message(b).await.unwrap().is_none(), "gone");
        assert!(s.mark_voice_message_old(9999).await.unwrap().is_none());

        s.set_voice_message_mail_status(a, "sent").await.unwrap();
        assert_eq!(
            s.voice_message(a).await.unwrap().unwrap().mail_status,
            "sent"
        );
    })
    .await;
}

#[tokio::test]
async fn mailboxes_keep_email_and_greeting() {
    each_backend("voicemail_users", |ctx| async move {
        let s = &ctx.store;
        assert!(s.voicemail_user("alice").await.unwrap().is_none());
        s.set_voicemail_greeting("alice", "/data/g/alice.wav")
            .await
            .unwrap();
        let u = s.voicemail_user("alice").await.unwrap().unwrap();
        assert!(u.enabled);
        assert_eq!(u.greeting_path.as_deref(), Some("/data/g/alice.wav"));
        s.set_voicemail_user(&VoicemailUser {
            email: Some("alice@example.com".to_owned()),
            enabled: false,
            ..u
        })
        .await
        .unwrap();
        let u = s.voicemail_user("alice").await.unwrap().unwrap();
        assert_eq!(u.email.as_deref(), Some("alice@example.com"));
        assert!(!u.enabled);
        assert_eq!(u.greeting_path.as_deref(), Some("/data/g/alice.wav"));
    })
    .await;
}
