//! One leg of an API call: our INVITE, its transaction and, once answered, its dialog.

use sip_dialog::Dialog;
use sip_message::{HeaderName, Message, MessageBuilder, Method};
use sip_transaction::ClientKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LegState {
    /// INVITE sent, nothing but 100 back.
    Calling,
    /// A provisional response with a To tag.
    Early,
    /// 2xx received, our ACK not sent yet (the click-to-call A leg waits for B's answer).
    Answered,
    /// ACKed: in the call.
    Up,
    /// Ended (or CANCEL/BYE sent).
    Done,
}

pub(super) struct Leg {
    pub(super) invite: Message,
    pub(super) dialog: Option<Dialog>,
    pub(super) state: LegState,
    /// The CSeq of the re-INVITE in flight, whose 2xx we ACK.
    pub(super) reinvite_cseq: Option<u32>,
}

impl Leg {
    /// `sent`: whether the transaction layer took the INVITE.
    pub(super) fn new(invite: Message, key: Option<ClientKey>) -> Self {
        Self {
            invite,
            state: if key.is_some() {
                LegState::Calling
            } else {
                LegState::Done
            },
            dialog: None,
            reinvite_cseq: None,
        }
    }

    /// The leg of an incoming call: the caller's INVITE and our dialog with it (early).
    pub(super) fn incoming(invite: Message, dialog: Dialog) -> Self {
        Self {
            invite,
            dialog: Some(dialog),
            state: LegState::Early,
            reinvite_cseq: None,
        }
    }

    /// A CANCEL of our INVITE (same Via branch, RFC 3261 §9.1).
    pub(super) fn cancel(&self) -> Option<Message> {
        let inv = &self.invite;
        let uri = inv.request_uri_str()?;
        let mut m = MessageBuilder::request(&Method::Cancel, uri);
        if let Some(v) = inv.header(&HeaderName::Via) {
            m.header("Via", v);
        }
        m.header("Max-Forwards", 70);
        for h in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = inv.header(&h) {
                m.header(h.as_str(), v);
            }
        }
        let seq = inv.cseq().map(|c| c.seq).unwrap_or(1);
        m.header("CSeq", format_args!("{seq} CANCEL"));
        m.finish_request().ok()
    }

    /// The ACK of the INVITE's 2xx (with `body` as SDP when given), as bytes.
    pub(super) fn ack(&self, branch: &str, body: Option<&str>) -> Option<bytes::Bytes> {
        let d = self.dialog.as_ref()?;
        let seq = self.invite.cseq().map(|c| c.seq).unwrap_or(1);
        let b = d.ack(seq, branch);
        Some(match body {
            Some(sdp) => b.finish_with_body("application/sdp", sdp.as_bytes()),
            None => b.finish(),
        })
    }

    /// The ACK of a re-INVITE's 2xx (CSeq `seq`).
    pub(super) fn ack_reinvite(&self, seq: u32, branch: &str) -> Option<bytes::Bytes> {
        let d = self.dialog.as_ref()?;
        Some(d.ack(seq, branch).finish())
    }

    /// An in-dialog request, finished by `finish`; `None` without a dialog.
    pub(super) fn in_dialog(
        &mut self,
        method: &Method,
        branch: &str,
        user_agent: &str,
        finish: impl FnOnce(MessageBuilder) -> sip_message::Result<Message>,
    ) -> Option<Message> {
        let d = self.dialog.as_mut()?;
        let contact = format!("<sip:api@{}>", d.peer.local);
        let mut b = d.request(method, branch, Some(&contact));
        b.header("User-Agent", user_agent);
        finish(b).ok()
    }
}
