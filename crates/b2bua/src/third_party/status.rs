//! The call status enumeration of the call-control API (the BYON seed's table) and the one
//! mapping from SIP responses to it. docs/api.md prints the same table.

/// Where an API call is, as the API's events and `GET` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallStatus {
    /// Created, nothing sent yet.
    Initial,
    /// 183 Session Progress from the destination.
    SessionProgress,
    /// 180 Ringing: the destination is alerting.
    Ringing,
    /// The call is being set up (the destination is being called).
    Progressing,
    /// 200 OK: the session is in place.
    Connected,
    /// The call is ending; the event carries a reason.
    Terminating,
    /// The call was put on hold.
    Hold,
    /// The call was resumed from hold.
    Resumed,
    /// 487 Request Terminated, or cancelled before an answer.
    Cancelled,
    /// 603 Decline (or 600/606-class refusals).
    Declined,
    /// Ended without a 200 for another reason (412, 430, 5xx, ...).
    Failed,
    /// 182 Queued.
    Queued,
    /// 408 Request Timeout, or 480 when no device answered in time.
    NoAnswer,
    /// 404 Not Found (and 484, 604).
    NotFound,
    /// 486 Busy Here (and 600 Busy Everywhere): the seed's "occupied user".
    Busy,
}

/// One row of the table: the status, its machine-readable name, the SIP response it stands
/// for (if one) and what it means.
#[derive(Debug, Clone, Copy)]
pub struct StatusRow {
    pub status: CallStatus,
    pub name: &'static str,
    pub sip: &'static str,
    pub description: &'static str,
}

/// The table, in the seed's order: the only place names and SIP codes are tied together.
pub const STATUS_TABLE: &[StatusRow] = &[
    row(
        CallStatus::Initial,
        "initial",
        "n/a",
        "initial status of the call",
    ),
    row(
        CallStatus::SessionProgress,
        "session_progress",
        "183 Session Progress",
        "updated information about the session",
    ),
    row(
        CallStatus::Ringing,
        "ringing",
        "180 Ringing",
        "the destination is alerting the user",
    ),
    row(
        CallStatus::Progressing,
        "progressing",
        "n/a",
        "the call is progressing (the destination is being called)",
    ),
    row(
        CallStatus::Connected,
        "connected",
        "200 OK",
        "the session is in place",
    ),
    row(
        CallStatus::Terminating,
        "terminating",
        "n/a (BYE)",
        "the call is being terminated; `reason` says why",
    ),
    row(
        CallStatus::Hold,
        "hold",
        "n/a (re-INVITE a=sendonly)",
        "the call is on hold",
    ),
    row(
        CallStatus::Resumed,
        "resumed",
        "n/a (re-INVITE a=sendrecv)",
        "the call was resumed",
    ),
    row(
        CallStatus::Cancelled,
        "cancelled",
        "487 Request Terminated / CANCEL + 200",
        "the call was cancelled before an answer",
    ),
    row(
        CallStatus::Declined,
        "declined",
        "603 Decline",
        "the destination does not want to take part",
    ),
    row(
        CallStatus::Failed,
        "failed",
        "412 / 430 and any other final response without 200",
        "the call ended without a 200 OK",
    ),
    row(
        CallStatus::Queued,
        "queued",
        "182 Queued",
        "the call is pending, waiting to be processed",
    ),
    row(
        CallStatus::NoAnswer,
        "no_answer",
        "408 Request Timeout (also 480)",
        "no answer before the timer expired",
    ),
    row(
        CallStatus::NotFound,
        "not_found",
        "404 Not Found (also 484, 604)",
        "the destination was not found",
    ),
    row(
        CallStatus::Busy,
        "busy",
        "486 Busy Here (also 600)",
        "the callee is busy",
    ),
];

const fn row(
    status: CallStatus,
    name: &'static str,
    sip: &'static str,
    description: &'static str,
) -> StatusRow {
    StatusRow {
        status,
        name,
        sip,
        description,
    }
}

impl CallStatus {
    /// The machine-readable name (`ringing`, `no_answer`, ...).
    pub fn name(self) -> &'static str {
        STATUS_TABLE
            .iter()
            .find(|r| r.status == self)
            .map_or("failed", |r| r.name)
    }

    /// The status a provisional response stands for; `None` for 100 and other 1xx.
    pub fn from_provisional(code: u16) -> Option<Self> {
        match code {
            180 => Some(Self::Ringing),
            182 => Some(Self::Queued),
            183 => Some(Self::SessionProgress),
            _ => None,
        }
    }

    /// The status a final response stands for.
    pub fn from_final(code: u16) -> Self {
        match code {
            200..=299 => Self::Connected,
            487 => Self::Cancelled,
            603 | 606 => Self::Declined,
            486 | 600 => Self::Busy,
            404 | 484 | 604 => Self::NotFound,
            408 | 480 => Self::NoAnswer,
            _ => Self::Failed,
        }
    }

    /// Whether the call is over in this status.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Cancelled
                | Self::Declined
                | Self::Failed
                | Self::NoAnswer
                | Self::NotFound
                | Self::Busy
                | Self::Terminating
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_row_and_the_seed_codes_map() {
        assert_eq!(STATUS_TABLE.len(), 15);
        for r in STATUS_TABLE {
            assert_eq!(r.status.name(), r.name);
        }
        let cases = [
            (200, "connected"),
            (487, "cancelled"),
            (603, "declined"),
            (412, "failed"),
            (430, "failed"),
            (503, "failed"),
            (408, "no_answer"),
            (404, "not_found"),
            (486, "busy"),
        ];
        for (code, name) in cases {
            assert_eq!(CallStatus::from_final(code).name(), name, "{code}");
        }
        assert_eq!(CallStatus::from_provisional(180), Some(CallStatus::Ringing));
        assert_eq!(CallStatus::from_provisional(182), Some(CallStatus::Queued));
        assert_eq!(
            CallStatus::from_provisional(183),
            Some(CallStatus::SessionProgress)
        );
        assert_eq!(CallStatus::from_provisional(100), None);
    }
}
