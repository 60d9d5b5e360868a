//! One call ringing browsers and plain phones at once ("rings on the phone and in the
//! browser"): each kind of branch gets the offer it understands, and the kind that answers
//! keeps its media path while the other is released.
//!
//! The call's first offer goes through [`RelayHandle::offer`] as usual (the *primary* session,
//! named by the call): what it returns is what the branches of its kind get. A branch of the
//! other kind (a browser when the primary offer is plain RTP, a plain phone when it is WebRTC)
//! gets, from [`RelayHandle::branch_offer`], the caller's own offer put through the relay as if
//! the call went to that kind only, in a second session named `<call>#alt` (the *alternative*):
//!
//! | caller  | plain branches get                  | browser branches get                          |
//! |---------|-------------------------------------|-----------------------------------------------|
//! | plain   | the relay's usual offer (primary)   | the gateway's WebRTC offer (alternative)       |
//! | browser | the gateway's plain offer (primary) | the caller's WebRTC offer, relayed as between two browsers (alternative) |
//!
//! Answers from the callee side are routed by their profile: a WebRTC answer to the session
//! that offered WebRTC, a plain one to the other. When a branch wins (its 2xx,
//! [`RelayHandle::branch_won`], before that 2xx's answer), the session of its kind stays and
//! the other one ends (ports, sockets, gateway released); an alternative that wins takes the
//! call's name. Branches of one kind share one offer (one gateway): the first to answer wins.
//!
//! ```text
//!  offer(A) ─▶ primary ──────▶ branches of the primary's kind
//!  branch_offer(kind ≠ primary) ─▶ <call>#alt ─▶ branches of the other kind
//!  answer(B, sdp) ─▶ the session whose offer has sdp's profile
//!  branch_won(kind) ─▶ that session is the call's; the other ends
//! ```

use bytes::Bytes;
use media::relay::Side;
use media::sdp::Sdp;
use webrtc_gw::Bridge;

use super::{side_idx, RelayHandle};
use crate::{MediaError, Mode};

/// The name of the alternative session of `call`.
pub(super) fn alt_key(call: &str) -> String {
    format!("{call}#alt")
}

/// The alternative offer of a forking call (kept in the primary's state).
#[derive(Debug)]
pub(super) struct Alternative {
    /// It was made for browsers (`true`) or for plain phones.
    webrtc: bool,
    /// What those branches get.
    offer: Bytes,
    /// It has a relay session (`<call>#alt`); `false`: the caller's offer went unchanged.
    session: bool,
}

/// Where a callee's answer goes.
pub(super) enum Route {
    /// The call's session, as for any call.
    Primary,
    /// The alternative session of that name.
    Alternative(String),
    /// Nowhere: the alternative offer was the caller's own, unchanged.
    Unchanged,
}

fn profile_is_webrtc(sdp: &[u8]) -> Result<bool, MediaError> {
    Ok(webrtc_gw::is_webrtc(&Sdp::parse(sdp)?))
}

impl RelayHandle {
    /// The offer for one callee branch of `call`, a browser (`webrtc_branch`) or a plain
    /// phone: `None` when `sent` — what [`Self::offer`] made of the caller's offer, which the
    /// other branches get — already has the branch's profile; otherwise the offer of the other
    /// kind, made once per call from `caller_offer` (the caller's SDP as it came) in the
    /// alternative session (see the [module](self)). A WebRTC caller's offer to browsers is
    /// relayed in `mode`, as between two browsers; with [`Mode::CandidateOnly`] and no ICE
    /// candidate in it, it goes unchanged.
    pub fn branch_offer(
        &self,
        call: &str,
        webrtc_branch: bool,
        caller_offer: &[u8],
        sent: &[u8],
        mode: Mode,
    ) -> Result<Option<Bytes>, MediaError> {
        if profile_is_webrtc(sent)? == webrtc_branch {
            return Ok(None);
        }
        let alt = alt_key(call);
        {
            let mut core = self.inner.shared.lock();
            let st = core.calls.entry(call.to_owned()).or_default();
            if let Some(a) = st.fork.as_ref().filter(|a| a.webrtc == webrtc_branch) {
                return Ok(Some(a.offer.clone()));
            }
            let v6 = st.v6;
            let a = core.calls.entry(alt.clone()).or_default();
            a.v6 = v6;
            a.webrtc[side_idx(Side::B)] = Some(webrtc_branch);
        }
        let caller = Sdp::parse(caller_offer)?;
        let relayed =
            webrtc_gw::decide(webrtc_gw::is_webrtc(&caller), Some(webrtc_branch)) == Bridge::Relay;
        let candidates = caller.media.iter().any(|m| m.candidates().next().is_some());
        let unchanged = relayed && mode == Mode::CandidateOnly && !candidates;
        let offer = if unchanged {
            self.inner.shared.lock().calls.remove(&alt);
            Bytes::copy_from_slice(caller_offer)
        } else {
            match self.offer(&alt, Side::A, caller_offer, mode) {
                Ok(b) => b,
                Err(e) => {
                    self.inner.shared.lock().end_session(&alt);
                    return Err(e);
                }
            }
        };
        tracing::debug!(
            call,
            webrtc_branch,
            relayed = !unchanged,
            "a fork to browsers and plain phones: the other kind's offer"
        );
        let mut core = self.inner.shared.lock();
        core.calls.entry(call.to_owned()).or_default().fork = Some(Alternative {
            webrtc: webrtc_branch,
            offer: offer.clone(),
            session: !unchanged,
        });
        Ok(Some(offer))
    }

    /// A callee branch of `call` answered with a 2xx, a browser (`webrtc_branch`) or a plain
    /// phone: the session of its kind is the call's from now on, the other one ends. Nothing
    /// to do for a call without an alternative offer. Told before that 2xx's answer.
    pub fn branch_won(&self, call: &str, webrtc_branch: bool) {
        let mut guard = self.inner.shared.lock();
        let core = &mut *guard;
        let Some(alt) = core.calls.get_mut(call).and_then(|s| s.fork.take()) else {
            return;
        };
        let key = alt_key(call);
        if alt.webrtc != webrtc_branch {
            core.end_session(&key);
            tracing::debug!(
                call,
                webrtc_branch,
                "fork answered: the other offer released"
            );
            return;
        }
        // the alternative won: the primary's ports and gateway go, the alternative's stay
        let state = core.calls.remove(&key);
        core.end_session(call);
        if alt.session {
            core.table.rename(&key, call);
            core.gateways.rename(&key, call);
        }
        if let Some(s) = state {
            core.calls.insert(call.to_owned(), s);
        }
        tracing::debug!(
            call,
            webrtc_branch,
            "fork answered by the other kind: its session is the call's"
        );
    }

    /// Where an answer from side B of `call` goes (see [`Route`]).
    pub(super) fn fork_route(&self, call: &str, answer: &Sdp) -> Route {
        let core = self.inner.shared.lock();
        let Some(alt) = core.calls.get(call).and_then(|s| s.fork.as_ref()) else {
            return Route::Primary;
        };
        if webrtc_gw::is_webrtc(answer) != alt.webrtc {
            Route::Primary
        } else if alt.session {
            Route::Alternative(alt_key(call))
        } else {
            Route::Unchanged
        }
    }
}
