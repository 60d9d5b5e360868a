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

/// One new message in a `message-summary` body (the seed's "details of all new voicemails":
/// duration, time of recording, caller ID and the system ID of the message).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MessageDetail {
    /// The message's system id (`950msgN` plays it).
    pub id: i64,
    /// The caller's number/login.
    pub caller: String,
    /// The caller's display name; empty when none.
    pub display_name: String,
    /// When it was recorded, Unix milliseconds.
    pub created_ms: i64,
    /// Its length in milliseconds.
    pub duration_ms: i64,
}

/// The message-context part (RFC 3842 §5.2) that follows the summary lines: per message a
/// blank line, then `To`, `From` (the caller at the account's host), `Date`, `Message-ID`,
/// `Message-Context: voice-message` and `Content-Duration` in whole seconds (RFC 3938 style).
pub fn message_details(account: &str, details: &[MessageDetail]) -> String {
    let domain = account.rsplit('@').next().unwrap_or(account);
    let mut out = String::new();
    for m in details {
        let display = m.display_name.replace(['"', '\\', '\r', '\n'], "");
        let _ = write!(
            out,
            "\r\nTo: <{account}>\r\nFrom: \"{display}\" <sip:{}@{domain}>\r\nDate: {}\r\n\
             Message-ID: <{}@{domain}>\r\nMessage-Context: voice-message\r\n\
             Content-Duration: {}\r\n",
            m.caller,
            rfc2822(m.created_ms),
            m.id,
            (m.duration_ms + 500) / 1000
        );
    }
    out
}

/// RFC 2822 date of a Unix time in milliseconds (UTC).
pub(crate) fn rfc2822(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        months[(month - 1) as usize],
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
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

    #[test]
    fn dates() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc2822(1_796_558_400_000),
            "Sun, 06 Dec 2026 12:00:00 +0000"
        );
        assert_eq!(rfc2822(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn new_messages_are_detailed() {
        let d = MessageDetail {
            id: 230,
            caller: "bob".into(),
            display_name: "Bob \"B\"".into(),
            created_ms: 1_796_558_400_000,
            duration_ms: 5_620,
        };
        let body = message_summary_body("sip:alice@example.com", &MessageSummary::new(1, 1))
            + &message_details("sip:alice@example.com", &[d]);
        assert_eq!(
            body,
            "Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.com\r\n\
             Voice-Message: 1/1 (0/0)\r\n\r\nTo: <sip:alice@example.com>\r\n\
             From: \"Bob B\" <sip:bob@example.com>\r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\n\
             Message-ID: <230@example.com>\r\nMessage-Context: voice-message\r\n\
             Content-Duration: 6\r\n"
        );
    }
}
