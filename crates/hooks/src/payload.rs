//! The JSON bodies exchanged with the operator API (documented in `docs/hooks.md`).

use presence::Buddy;
use serde::Serialize;
use serde_json::Value;

/// Most characters of a message body carried in a `message` push event.
pub const EXCERPT_CHARS: usize = 40;

/// A caller or sender: login and display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    pub login: String,
    /// The account's display name; `null` when it has none.
    pub display_name: Option<String>,
}

impl Party {
    pub fn new(login: impl Into<String>, display_name: Option<String>) -> Self {
        Self {
            login: login.into(),
            display_name,
        }
    }
}

/// Why a parked call became a missed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedReason {
    /// The caller hung up before anyone answered.
    Cancelled,
    /// The push timeout passed without a device picking the call up.
    Timeout,
}

/// Why the pushed devices' call screen must go away although nobody missed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Another device of the callee answered.
    AnsweredElsewhere,
}

/// A device to wake, with its push token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushDevice {
    /// The `+sip.instance` value.
    pub instance: String,
    /// The device's push token (RFC 8599 `pn-prid`).
    pub token: String,
    /// `apns`, `apns-voip`, `fcm`, ... (RFC 8599 `pn-provider` or what the app said).
    pub platform: String,
    /// RFC 8599 `pn-param` (e.g. the APNs topic), empty when none.
    pub param: String,
}

/// A call for the push hook: the parked call and the devices to wake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEvent {
    pub caller: Party,
    /// The called login.
    pub callee: String,
    /// Call-ID of the parked call: the woken app sends `INVITE` with `Replaces` naming it.
    pub call_id: String,
    /// `+sip.instance` values of the devices this event is for.
    pub instances: Vec<String>,
    /// The same devices with their push tokens.
    pub devices: Vec<PushDevice>,
    /// The tags of the parked dialog: the woken app's INVITE carries
    /// `Replaces: {call_id};to-tag={to_tag};from-tag={from_tag}` (RFC 3891), given whole in
    /// `replaces`.
    pub to_tag: String,
    pub from_tag: String,
    pub replaces: String,
}

impl CallEvent {
    /// A call event; `replaces` is made from the Call-ID and tags.
    pub fn new(
        caller: Party,
        callee: impl Into<String>,
        call_id: impl Into<String>,
        (to_tag, from_tag): (String, String),
        devices: Vec<PushDevice>,
    ) -> Self {
        let call_id = call_id.into();
        let replaces = format!("{call_id};to-tag={to_tag};from-tag={from_tag}");
        Self {
            caller,
            callee: callee.into(),
            call_id,
            instances: devices.iter().map(|d| d.instance.clone()).collect(),
            devices,
            to_tag,
            from_tag,
            replaces,
        }
    }
}

/// A stored MESSAGE for the push hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageEvent {
    pub sender: Party,
    /// The addressee's login.
    pub recipient: String,
    /// Call-ID of the MESSAGE (an id for the stored message).
    pub call_id: String,
    pub content_type: String,
    /// The body, or its first 40 characters when it is longer.
    pub excerpt: String,
    /// The body was longer than the excerpt.
    pub truncated: bool,
    /// Devices of the addressee that are not registered.
    pub instances: Vec<String>,
}

/// The message a `voicemail` event announces (a deposit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoicemailMessage {
    /// The message's id (`950msgN` plays it).
    pub id: i64,
    pub caller: Party,
    /// When it was recorded, Unix seconds.
    pub created: i64,
    /// Its length in milliseconds.
    pub duration_ms: i64,
}

/// A mailbox changed (a message deposited, heard or deleted): for the devices of its owner
/// that are asleep (a push token, no live registration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoicemailEvent {
    /// The mailbox's login.
    pub mailbox: String,
    /// New (unheard) messages now.
    pub new: u32,
    /// Old (heard) messages now.
    pub old: u32,
    /// The message deposited, when the change is a deposit; `null` otherwise.
    pub message: Option<VoicemailMessage>,
    /// `+sip.instance` values of the devices this event is for.
    pub instances: Vec<String>,
    /// The same devices with their push tokens.
    pub devices: Vec<PushDevice>,
}

/// An event for the push hook. Serialized with an `event` field naming the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PushEvent {
    IncomingCall(CallEvent),
    MissedCall {
        #[serde(flatten)]
        call: CallEvent,
        reason: MissedReason,
    },
    CallEnded {
        #[serde(flatten)]
        call: CallEvent,
        reason: EndReason,
    },
    Message(MessageEvent),
    Voicemail(VoicemailEvent),
}

impl PushEvent {
    pub fn incoming_call(call: CallEvent) -> Self {
        Self::IncomingCall(call)
    }

    pub fn missed_call(call: CallEvent, reason: MissedReason) -> Self {
        Self::MissedCall { call, reason }
    }

    pub fn call_ended(call: CallEvent, reason: EndReason) -> Self {
        Self::CallEnded { call, reason }
    }

    /// A `message` event; the excerpt is cut from `body` (see [`excerpt`]).
    pub fn message(
        sender: Party,
        recipient: impl Into<String>,
        call_id: impl Into<String>,
        content_type: impl Into<String>,
        body: &str,
        instances: Vec<String>,
    ) -> Self {
        let (text, truncated) = excerpt(body, EXCERPT_CHARS);
        Self::Message(MessageEvent {
            sender,
            recipient: recipient.into(),
            call_id: call_id.into(),
            content_type: content_type.into(),
            excerpt: text.to_owned(),
            truncated,
            instances,
        })
    }

    /// A `voicemail` event.
    pub fn voicemail(event: VoicemailEvent) -> Self {
        Self::Voicemail(event)
    }

    /// The `event` name (`incoming_call`, `missed_call`, `call_ended`, `message`, `voicemail`), for logs
    /// and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::IncomingCall(_) => "incoming_call",
            Self::MissedCall { .. } => "missed_call",
            Self::CallEnded { .. } => "call_ended",
            Self::Message(_) => "message",
            Self::Voicemail(_) => "voicemail",
        }
    }
}

/// The first `max_chars` characters (Unicode scalar values) of `text`, cut at a character
/// boundary, and whether anything was cut.
pub fn excerpt(text: &str, max_chars: usize) -> (&str, bool) {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    }
}

/// The SMS-out request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SmsOut<'a> {
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) body: &'a str,
}

/// The buddy-list request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BuddyListRequest<'a> {
    pub(crate) login: &'a str,
}

/// Reads a buddy-list answer: `{"buddies": [...]}` or a bare array; each entry
/// `{"login": "...", "push": true}` (also `push_supported`; booleans, 0/1 or "true"/"1"),
/// or a bare login string (no push).
pub(crate) fn parse_buddies(body: &[u8]) -> Result<Vec<Buddy>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("buddies") {
            Some(Value::Array(a)) => a,
            Some(Value::Null) | None => return Ok(Vec::new()),
            Some(_) => return Err("\"buddies\" is not an array".into()),
        },
        _ => return Err("neither an object nor an array".into()),
    };
    list.iter()
        .enumerate()
        .map(|(i, e)| match e {
            Value::String(s) => Ok(Buddy::new(s.clone(), false)),
            Value::Object(o) => {
                let login = match o.get("login") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err(format!("buddy {i} has no login")),
                };
                let push = o.get("push").or_else(|| o.get("push_supported"));
                let push = match push {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
                    Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "True" | "yes"),
                    Some(_) => return Err(format!("buddy {i}: bad push flag")),
                };
                Ok(Buddy::new(login, push))
            }
            _ => Err(format!("buddy {i} is neither an object nor a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_at_char_boundaries() {
        assert_eq!(excerpt("short", 40), ("short", false));
        let exact = "a".repeat(40);
        assert_eq!(excerpt(&exact, 40), (exact.as_str(), false));
        let long = "é".repeat(41);
        let (e, cut) = excerpt(&long, 40);
        assert!(cut);
        assert_eq!(e.chars().count(), 40);
        assert_eq!(e.len(), 80);
        let emoji = format!("{}🙂🙂", "x".repeat(39));
        assert_eq!(
            excerpt(&emoji, 40),
            (format!("{}🙂", "x".repeat(39)).as_str(), true)
        );
    }

    #[test]
    fn buddy_answers_are_read_leniently() {
        let want = vec![Buddy::new("bob", true), Buddy::new("carol", false)];
        for body in [
            r#"{"buddies":[{"login":"bob","push":true},{"login":"carol","push":false}]}"#,
            r#"[{"login":"bob","push_supported":1},{"login":"carol"}]"#,
            r#"{"buddies":[{"login":"bob","push":"true"},"carol"]}"#,
        ] {
            assert_eq!(parse_buddies(body.as_bytes()), Ok(want.clone()), "{body}");
        }
        assert_eq!(
            parse_buddies(br#"{"buddies":[{"login":48600111222}]}"#),
            Ok(vec![Buddy::new("48600111222", false)])
        );
        assert_eq!(parse_buddies(br#"{"buddies":null}"#), Ok(vec![]));
        assert!(parse_buddies(b"<html>").is_err());
        assert!(parse_buddies(br#"{"buddies":[{"push":true}]}"#).is_err());
    }

    #[test]
    fn events_serialize_with_their_name() {
        let call = CallEvent::new(
            Party::new("alice", None),
            "bob",
            "c1",
            ("t1".into(), "t2".into()),
            vec![PushDevice {
                instance: "<urn:uuid:1>".into(),
                token: "tok".into(),
                platform: "fcm".into(),
                param: String::new(),
            }],
        );
        let e = PushEvent::missed_call(call.clone(), MissedReason::Cancelled);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "missed_call");
        assert_eq!(v["reason"], "cancelled");
        assert_eq!(v["caller"]["display_name"], Value::Null);
        assert_eq!(v["replaces"], "c1;to-tag=t1;from-tag=t2");
        assert_eq!(v["instances"][0], "<urn:uuid:1>");
        assert_eq!(v["devices"][0]["token"], "tok");
        assert_eq!(e.name(), "missed_call");
        let e = PushEvent::call_ended(call, EndReason::AnsweredElsewhere);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "call_ended");
        assert_eq!(v["reason"], "answered_elsewhere");
    }
}
