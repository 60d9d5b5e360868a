//! The message-summary body (RFC 3842) with the details of each new message, as the seed asks
//! ("details of all new voicemails ... duration, time of recording, caller ID and the system ID
//! of the message"): the summary lines, then per new message a blank line and its
//! message-context headers (RFC 3842 §5.2: `To`, `From`, `Date`, `Message-ID`,
//! `Message-Context`, plus `Content-Duration` in seconds, RFC 3938 style).

use std::fmt::Write as _;

/// RFC 2822 date of a Unix time in milliseconds (UTC).
pub fn rfc2822(unix_ms: i64) -> String {
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

/// The body for `account` (`sip:alice@example.com`) with `counts` and the `messages` of the
/// mailbox (only the new ones are detailed, newest first as given).
pub fn summary_with_details(
    account: &str,
    domain: &str,
    counts: &store::VoicemailCounts,
    messages: &[store::VoiceMessage],
) -> String {
    let mut out = format!(
        "Messages-Waiting: {}\r\nMessage-Account: {account}\r\nVoice-Message: {}/{} ({}/{})\r\n",
        if counts.new > 0 { "yes" } else { "no" },
        counts.new,
        counts.old,
        counts.urgent_new,
        counts.urgent_old
    );
    for m in messages.iter().filter(|m| m.new) {
        let display = m.display_name.replace('"', "");
        let _ = write!(
            out,
            "\r\nTo: <{account}>\r\nFrom: \"{display}\" <sip:{}@{domain}>\r\nDate: {}\r\n\
             Message-ID: <{}@{domain}>\r\nMessage-Context: voice-message\r\n\
             Content-Duration: {}\r\n",
            m.caller_id,
            rfc2822(m.created_ms),
            m.id,
            (m.duration_ms + 500) / 1000
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let m = |id, new| store::VoiceMessage {
            id,
            login: "alice".into(),
            caller_id: "bob".into(),
            display_name: "Bob \"B\"".into(),
            created_ms: 1_796_558_400_000,
            duration_ms: 5_620,
            new,
            file_path: String::new(),
            mail_status: "none".into(),
        };
        let counts = store::VoicemailCounts {
            new: 1,
            old: 1,
            ..Default::default()
        };
        let body = summary_with_details(
            "sip:alice@example.com",
            "example.com",
            &counts,
            &[m(230, true), m(7, false)],
        );
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
