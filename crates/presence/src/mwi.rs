//! `message-summary` bodies (RFC 3842): voicemail counts for message-waiting indication.

use std::fmt::Write as _;

pub(crate) const MWI_TYPE: &str = "application/simple-message-summary";

/// Voicemail counts of one account, as the driver reads them from the voicemail store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MessageSummary {
    pub new: u32,
    pub old: u32,
    pub urgent_new: u32,
    pub urgent_old: u32,
}

impl MessageSummary {
    pub fn new(new: u32, old: u32) -> Self {
        Self {
            new,
            old,
            ..Self::default()
        }
    }

    /// Whether a message waits: any new message (RFC 3842 §5.2: `Messages-Waiting: yes` when
    /// there are new messages).
    pub fn waiting(&self) -> bool {
        self.new > 0 || self.urgent_new > 0
    }
}

/// The `application/simple-message-summary` body:
///
/// ```text
/// Messages-Waiting: yes
/// Message-Account: sip:alice@example.com
/// Voice-Message: 2/8 (0/2)
/// ```
pub fn message_summary_body(account: &str, s: &MessageSummary) -> String {
    let mut out = String::with_capacity(96 + account.len());
    let _ = write!(
        out,
        "Messages-Waiting: {}\r\nMessage-Account: {account}\r\nVoice-Message: {}/{} ({}/{})\r\n",
        if s.waiting() { "yes" } else { "no" },
        s.new,
        s.old,
        s.urgent_new,
        s.urgent_old
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(
            message_summary_body("sip:a@x", &MessageSummary::new(2, 8)),
            "Messages-Waiting: yes\r\nMessage-Account: sip:a@x\r\nVoice-Message: 2/8 (0/0)\r\n"
        );
        let none = message_summary_body("sip:a@x", &MessageSummary::new(0, 3));
        assert!(none.starts_with("Messages-Waiting: no\r\n"));
        assert!(none.ends_with("Voice-Message: 0/3 (0/0)\r\n"));
    }
}
