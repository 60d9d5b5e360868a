//! Why the caller gets a final non-2xx answer from a call: one enum, and in one place the
//! status code, the reason phrase, the `Warning` text and `Retry-After` each case carries.

use std::fmt;

/// The final non-2xx answer a call gives its caller (see [`super::Call::answer_a`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Refusal {
    /// The routing refused the call (the dialing plan's `reject`, an unknown user, no route,
    /// credit control): its status and why. A 402 carries `reason` as its reason phrase
    /// (`402 Insufficient Balance`), every status in a `Warning`.
    Routed { status: u16, reason: &'static str },
    /// The branches' best final answer (603 if a device declined, else 486, else the callee's
    /// own code, else 480/408): passed on without a `Warning`.
    Callee { status: u16 },
    /// The callee's answering rule rejects the call with this status (no `Warning`).
    Rule { status: u16 },
    /// The caller CANCELled its INVITE: 487.
    Cancelled,
    /// Nobody answered within the call timeout: 480 "no answer".
    NoAnswer,
    /// An anchored call saw no media through the relay while ringing: 480 "no media".
    NoMedia,
    /// The operator hung the ringing call up: 480.
    HungUpByOperator,
    /// The server shuts down: 503 with `Retry-After` (seconds).
    ShuttingDown { retry_after: u32 },
    /// The caller never PRACKed our reliable provisional (RFC 3262 §3): 504.
    NoPrack,
}

impl Refusal {
    /// The status code of the answer.
    pub(crate) fn status(self) -> u16 {
        match self {
            Self::Routed { status, .. } | Self::Callee { status } | Self::Rule { status } => status,
            Self::Cancelled => 487,
            Self::NoAnswer | Self::NoMedia | Self::HungUpByOperator => 480,
            Self::ShuttingDown { .. } => 503,
            Self::NoPrack => 504,
        }
    }

    /// A reason phrase of our own instead of the standard one (credit control's 402).
    pub(crate) fn phrase(self) -> Option<&'static str> {
        match self {
            Self::Routed {
                status: 402,
                reason,
            } => Some(reason),
            _ => None,
        }
    }

    /// Whether the answer says why in a `Warning: 399` (the `Display` text).
    pub(crate) fn warns(self) -> bool {
        !matches!(
            self,
            Self::Callee { .. } | Self::Rule { .. } | Self::Cancelled
        )
    }

    /// `Retry-After` seconds, when the caller may try again later.
    pub(crate) fn retry_after(self) -> Option<u32> {
        match self {
            Self::ShuttingDown { retry_after } => Some(retry_after),
            _ => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Routed { reason, .. } => reason,
            Self::Callee { .. } | Self::Rule { .. } => "refused by the callee",
            Self::Cancelled => "cancelled",
            Self::NoAnswer => "no answer",
            Self::NoMedia => "no media",
            Self::HungUpByOperator => "Hung Up By The Operator",
            Self::ShuttingDown { .. } => "server shutting down",
            Self::NoPrack => "no PRACK",
        })
    }
}

/// Why an INVITE with `Replaces` does not pick a parked call up (the answer to the woken
/// app): its status in [`Self::status`], its `Warning` text in `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PickUpRefusal {
    /// A `Replaces` header that does not parse: 400.
    #[error("bad Replaces")]
    BadReplaces,
    /// No parked call by that Call-ID and those tags: 481.
    #[error("no such parked call")]
    NoSuchCall,
    /// Another login than the callee's (or a trusted peer): 403.
    #[error("only the callee may pick up its call")]
    NotTheCallee,
    /// The parked call already ended: 481.
    #[error("the call is over")]
    CallOver,
    /// Neither the caller's INVITE nor the app's carries an SDP offer: 488.
    #[error("neither side made an SDP offer")]
    NoOffer,
    /// A dialog cannot be made of the two INVITEs (a missing Contact): 400.
    #[error("no usable dialog (Contact?)")]
    NoDialog,
}

impl PickUpRefusal {
    pub(crate) fn status(self) -> u16 {
        match self {
            Self::BadReplaces | Self::NoDialog => 400,
            Self::NotTheCallee => 403,
            Self::NoSuchCall | Self::CallOver => 481,
            Self::NoOffer => 488,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal;

    #[test]
    fn each_refusal_maps_to_its_answer() {
        let credit = Refusal::Routed {
            status: 402,
            reason: "Insufficient Balance",
        };
        assert_eq!(
            (credit.status(), credit.phrase(), credit.warns()),
            (402, Some("Insufficient Balance"), true)
        );
        let plan = Refusal::Routed {
            status: 404,
            reason: "no such user",
        };
        assert_eq!((plan.status(), plan.phrase()), (404, None));
        assert_eq!(plan.to_string(), "no such user");
        assert_eq!(Refusal::Callee { status: 486 }.status(), 486);
        assert!(!Refusal::Callee { status: 603 }.warns());
        assert!(!Refusal::Cancelled.warns());
        assert_eq!(Refusal::Cancelled.status(), 487);
        assert_eq!(
            (Refusal::NoAnswer.status(), Refusal::NoAnswer.to_string()),
            (480, "no answer".to_owned())
        );
        let down = Refusal::ShuttingDown { retry_after: 30 };
        assert_eq!((down.status(), down.retry_after()), (503, Some(30)));
        assert_eq!(Refusal::NoPrack.status(), 504);
        assert_eq!(
            Refusal::HungUpByOperator.to_string(),
            "Hung Up By The Operator"
        );
    }

    #[test]
    fn pick_up_refusals_map_to_their_status() {
        use super::PickUpRefusal as P;
        let all = [
            (P::BadReplaces, 400),
            (P::NoSuchCall, 481),
            (P::NotTheCallee, 403),
            (P::CallOver, 481),
            (P::NoOffer, 488),
            (P::NoDialog, 400),
        ];
        for (r, status) in all {
            assert_eq!(r.status(), status, "{r}");
        }
        assert_eq!(
            P::NotTheCallee.to_string(),
            "only the callee may pick up its call"
        );
    }
}
