//! A parked call's push state: which devices of the callee are pushed, when, and what came
//! of it. Pure bookkeeping: the call (`call/park.rs`) owns the timers and the SIP side, the
//! table (`calls/parking.rs`) the indexes and the ghosts.
//!
//! ```text
//!  device with a token, no binding ───────────────▶ Pushed (incoming_call at once)
//!  device with a token, ringing ── silent for push_delay, or its branch failed unanswered ─▶ Pushed
//!                               └─ any 1xx/2xx/final from it ──▶ Spoke (never pushed)
//!  Pushed ── hook failed ──▶ Failed
//!  Pushed ── it registers / sends INVITE+Replaces / answers ──▶ woken (wake-up time in the CDR)
//! ```
//! One push per device per call, whatever happens (retransmissions, re-forks). The call waits
//! for pushed devices until `push_timeout` after the first push; then `missed_call`.

use std::time::Instant;

use crate::PushDevice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceState {
    /// Registered and ringing: pushed at this time unless it speaks first.
    Waiting(Instant),
    /// `incoming_call` posted for it.
    Pushed,
    /// It answered something: it is awake, no push.
    Spoke,
    /// The push hook failed for it.
    Failed,
}

#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) dev: PushDevice,
    pub(crate) state: DeviceState,
}

/// The push side of a call to a login with devices that have push tokens.
#[derive(Debug)]
pub(crate) struct Park {
    /// The callee's login (only it may pick the call up with Replaces).
    pub(crate) login: String,
    /// The parked dialog's Call-ID and tags, as given to the app.
    pub(crate) call_id: String,
    pub(crate) our_tag: String,
    pub(crate) their_tag: String,
    pub(crate) devices: Vec<Device>,
    /// First push posted (the wake-up time counts from it).
    pub(crate) first_push: Option<Instant>,
    /// The push timeout, once something was pushed.
    pub(crate) deadline: Option<Instant>,
    /// A pushed device came back (registered, Replaces, answered).
    pub(crate) woke: Option<Instant>,
    /// 180 sent to the caller for the parked call.
    pub(crate) ringing_sent: bool,
    /// Pushed devices of the ended park, not yet handed to the table's ghost list.
    pub(crate) orphans: Vec<Orphan>,
}

/// A pushed device whose parked call ended: the call leaves it here, and the table turns it
/// into a ghost (an INVITE at once CANCELled with `reason` if it registers before `until`).
#[derive(Debug)]
pub(crate) struct Orphan {
    pub(crate) instance: String,
    pub(crate) reason: &'static str,
    pub(crate) until: Instant,
}

impl Park {
    /// Devices pushed now, or waiting for their turn (the call must wait for them).
    pub(crate) fn outstanding(&self, now: Instant) -> bool {
        let waiting = self
            .devices
            .iter()
            .any(|d| matches!(d.state, DeviceState::Waiting(_)));
        let pushed = self.devices.iter().any(|d| d.state == DeviceState::Pushed)
            && self.deadline.is_some_and(|d| now < d);
        waiting || pushed
    }

    pub(crate) fn pushed(&self) -> Vec<PushDevice> {
        self.devices
            .iter()
            .filter(|d| d.state == DeviceState::Pushed)
            .map(|d| d.dev.clone())
            .collect()
    }

    pub(crate) fn was_pushed(&self, instance: &str) -> bool {
        self.devices
            .iter()
            .any(|d| d.dev.instance == instance && d.state == DeviceState::Pushed)
    }

    /// `instance` sent a response: a pending push for it is off.
    pub(crate) fn spoke(&mut self, instance: &str) {
        for d in &mut self.devices {
            if d.dev.instance == instance && matches!(d.state, DeviceState::Waiting(_)) {
                d.state = DeviceState::Spoke;
            }
        }
    }

    /// Marks the devices due (waiting since before `now`, or `instance` at once) as pushed
    /// and returns them.
    pub(crate) fn take_due(&mut self, now: Instant, instance: Option<&str>) -> Vec<PushDevice> {
        let mut due = Vec::new();
        for d in &mut self.devices {
            let go = match d.state {
                DeviceState::Waiting(at) => at <= now || instance == Some(d.dev.instance.as_str()),
                _ => false,
            };
            if go {
                d.state = DeviceState::Pushed;
                due.push(d.dev.clone());
            }
        }
        if !due.is_empty() && self.first_push.is_none() {
            self.first_push = Some(now);
        }
        due
    }

    /// The hook failed for these devices.
    pub(crate) fn failed(&mut self, instances: &[String]) {
        for d in &mut self.devices {
            if d.state == DeviceState::Pushed && instances.contains(&d.dev.instance) {
                d.state = DeviceState::Failed;
            }
        }
    }

    /// A pushed device is back: the wake-up ends now (first time only).
    pub(crate) fn wake(&mut self, now: Instant) {
        if self.first_push.is_some() && self.woke.is_none() {
            self.woke = Some(now);
        }
    }

    /// First push → a pushed device came back, in ms (the CDR's wake-up time).
    pub(crate) fn wakeup_ms(&self) -> Option<u64> {
        Some(self.woke?.duration_since(self.first_push?).as_millis() as u64)
    }

    /// The next time a waiting device is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.devices
            .iter()
            .filter_map(|d| match d.state {
                DeviceState::Waiting(at) => Some(at),
                _ => None,
            })
            .min()
    }
}

/// `Replaces: call-id;to-tag=..;from-tag=..` (RFC 3891), parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Replaces<'a> {
    pub(crate) call_id: &'a str,
    pub(crate) to_tag: Option<&'a str>,
    pub(crate) from_tag: Option<&'a str>,
}

pub(crate) fn parse_replaces(v: &str) -> Option<Replaces<'_>> {
    let mut parts = v.split(';');
    let call_id = parts.next()?.trim();
    if call_id.is_empty() {
        return None;
    }
    let mut r = Replaces {
        call_id,
        to_tag: None,
        from_tag: None,
    };
    for p in parts {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "to-tag" => r.to_tag = Some(val.trim()),
            "from-tag" => r.from_tag = Some(val.trim()),
            _ => {}
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_header_parses_in_any_order() {
        assert_eq!(
            parse_replaces("abc@h;from-tag=2;to-tag=1;early-only"),
            Some(Replaces {
                call_id: "abc@h",
                to_tag: Some("1"),
                from_tag: Some("2")
            })
        );
        assert_eq!(parse_replaces(" ;to-tag=1"), None);
    }
}
