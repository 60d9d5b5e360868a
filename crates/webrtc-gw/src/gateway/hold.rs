//! Hold across the gateway (RFC 3264 §8.4, RFC 6337 §5): the direction of one leg's SDP becomes
//! the direction of the SDP the gateway writes for the other leg, so a `sendonly`, `inactive`
//! (or, from a plain phone, `c=0.0.0.0`) re-INVITE from either side reaches the other side as
//! such, and the resume (`sendrecv`) too.
//!
//! ```text
//!  browser re-offer (dir)  ─▶ accept_reoffer: str0m answers  ─▶ plain_offer says dir
//!  plain re-offer (dir)    ─▶ plain_reoffer: str0m offers dir ─▶ browser answers (dir')
//!                                              accept_browser_answer ─▶ plain_answer says dir'
//! ```
//!
//! The media themselves follow the directions: str0m does not send towards a browser that
//! said `sendonly`/`inactive`, and the plain side's `sendonly`/`inactive`/hold address stops
//! what goes to it ([`crate::profile::PlainMedia::hold`]).

use media::sdp::{Direction, Sdp};
use str0m::media::Direction as MediaDirection;

use super::{Gateway, GatewayError};
use crate::profile;

/// The direction of the audio line of an SDP text (`sendrecv` when it does not parse).
pub(super) fn direction_of(sdp: &str) -> Direction {
    Sdp::parse(sdp.as_bytes())
        .map(|s| profile::audio_direction(&s))
        .unwrap_or(Direction::SendRecv)
}

fn to_str0m(d: Direction) -> MediaDirection {
    match d {
        Direction::SendRecv => MediaDirection::SendRecv,
        Direction::SendOnly => MediaDirection::SendOnly,
        Direction::RecvOnly => MediaDirection::RecvOnly,
        Direction::Inactive => MediaDirection::Inactive,
    }
}

impl Gateway {
    /// A new offer from the plain side in the same call (a re-INVITE: hold, resume, or a
    /// session refresh). Its address and codec are taken as from its answer
    /// ([`Gateway::set_plain`]). When its direction differs from the browser leg's, the gateway
    /// makes a new WebRTC offer with that direction on the same ICE/DTLS session and returns
    /// it: the browser's answer then goes to [`Gateway::accept_browser_answer`], and
    /// [`Gateway::plain_answer`] is the plain side's answer, with the browser's direction.
    /// `None`: nothing to negotiate (the browser gets [`Gateway::browser_answer`] again).
    pub fn plain_reoffer(&mut self, sdp: &Sdp) -> Result<Option<String>, GatewayError> {
        self.set_plain(sdp)?;
        let dir = to_str0m(profile::audio_direction(sdp));
        let Some(mid) = self.mid else {
            return Ok(None);
        };
        if self.pending.is_some() || self.rtc.media(mid).is_some_and(|m| m.direction() == dir) {
            return Ok(None);
        }
        let mut api = self.rtc.sdp_api();
        api.set_direction(mid, dir);
        let Some((offer, pending)) = api.apply() else {
            return Ok(None);
        };
        self.pending = Some(pending);
        self.answer = offer.to_sdp_string();
        self.drain();
        Ok(Some(self.answer.clone()))
    }

    /// The direction the plain side's SDP says (the browser's last one).
    pub fn plain_direction(&self) -> Direction {
        self.plain_dir
    }
}
