//! `sip-dialog`: dialog identity and state (RFC 3261 §12), sans-IO.
//!
//! Sits on `sip-message`, below the modules that hold dialogs (b2bua, presence). A [`Dialog`]
//! is the state one side keeps: Call-ID, local and remote tags, local and remote URIs, the
//! CSeq counters, the remote target and route set, and the flow ([`Peer`]) its requests go
//! out on. It builds in-dialog requests ([`Dialog::request`], [`Dialog::ack`]) and judges the
//! CSeq of received ones ([`Dialog::accept_remote_cseq`]); it sends nothing itself.
//!
//! ```text
//!   1xx with To tag      2xx
//!  ----------------> Early ----> Confirmed ---- BYE / dead leg ---> Terminated
//!          2xx                       ^
//!  ----------------------------------+
//! ```

use sip_message::{HeaderName, Message, MessageBuilder, Method, NameAddr, Peer};

/// Where a dialog is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

/// Why a message could not start a dialog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    #[error("missing or malformed {header}")]
    Header { header: &'static str },
    #[error("the response carries no To tag")]
    NoRemoteTag,
}

/// One side's view of a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our name-addr without tag, as printed in From of our requests.
    pub local_uri: String,
    /// The peer's name-addr without tag, as printed in To of our requests.
    pub remote_uri: String,
    /// CSeq of the last request we sent in this dialog.
    pub local_cseq: u32,
    /// CSeq of the last request the peer sent, once it sent one.
    pub remote_cseq: Option<u32>,
    /// The peer's Contact URI: Request-URI of our requests.
    pub remote_target: String,
    /// Route headers of our requests, in order.
    pub route_set: Vec<String>,
    /// The flow our requests go out on.
    pub peer: Peer,
    pub state: DialogState,
}

fn name_addr_without_tag(n: &NameAddr<'_>) -> String {
    let mut s = String::new();
    if let Some(d) = n.display {
        s.push_str(d);
        s.push(' ');
    }
    s.push('<');
    s.push_str(n.uri.as_str());
    s.push('>');
    for (k, v) in n.params.iter() {
        if k.eq_ignore_ascii_case("tag") {
            continue;
        }
        s.push(';');
        s.push_str(k);
        if let Some(v) = v {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

fn contact_uri(msg: &Message) -> Option<String> {
    match msg.contacts() {
        Ok(Some(sip_message::ContactList::Contacts(list))) => {
            list.first().map(|c| c.0.uri.as_str().to_owned())
        }
        _ => None,
    }
}

impl Dialog {
    /// The UAS side of a dialog created by the received request `req` (INVITE, SUBSCRIBE,
    /// REFER) with our tag `local_tag`; our requests go back over `peer`. The route set is
    /// the request's Record-Route in order (§12.1.1).
    pub fn from_request(req: &Message, local_tag: &str, peer: Peer) -> Result<Self, DialogError> {
        let from = req
            .from_header()
            .map_err(|_| DialogError::Header { header: "From" })?;
        let to = req
            .to_header()
            .map_err(|_| DialogError::Header { header: "To" })?;
        let remote_tag = from
            .tag()
            .ok_or(DialogError::Header { header: "From tag" })?;
        let call_id = req
            .call_id()
            .ok_or(DialogError::Header { header: "Call-ID" })?;
        let cseq = req
            .cseq()
            .map_err(|_| DialogError::Header { header: "CSeq" })?;
        let remote_target = contact_uri(req).ok_or(DialogError::Header { header: "Contact" })?;
        Ok(Self {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: remote_tag.to_owned(),
            local_uri: name_addr_without_tag(&to),
            remote_uri: name_addr_without_tag(&from),
            local_cseq: 0,
            remote_cseq: Some(cseq.seq),
            remote_target,
            route_set: req
                .header_list(&HeaderName::RecordRoute)
                .map(str::to_owned)
                .collect(),
            peer,
            state: DialogState::Early,
        })
    }

    /// The UAC side of a dialog created by our request `sent` and the response `resp` (1xx
    /// with To tag: early; 2xx: confirmed). The route set is the response's Record-Route in
    /// reverse (§12.1.2).
    pub fn from_response(sent: &Message, resp: &Message, peer: Peer) -> Result<Self, DialogError> {
        let from = sent
            .from_header()
            .map_err(|_| DialogError::Header { header: "From" })?;
        let local_tag = from
            .tag()
            .ok_or(DialogError::Header { header: "From tag" })?;
        let to = resp
            .to_header()
            .map_err(|_| DialogError::Header { header: "To" })?;
        let remote_tag = to.tag().ok_or(DialogError::NoRemoteTag)?;
        let call_id = sent
            .call_id()
            .ok_or(DialogError::Header { header: "Call-ID" })?;
        let cseq = sent
            .cseq()
            .map_err(|_| DialogError::Header { header: "CSeq" })?;
        let remote_target = contact_uri(resp)
            .or_else(|| sent.request_uri_str().map(str::to_owned))
            .ok_or(DialogError::Header { header: "Contact" })?;
        let mut route_set: Vec<String> = resp
            .header_list(&HeaderName::RecordRoute)
            .map(str::to_owned)
            .collect();
        route_set.reverse();
        let confirmed = resp.status().is_some_and(|s| (200..300).contains(&s));
        Ok(Self {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: remote_tag.to_owned(),
            local_uri: name_addr_without_tag(&from),
            remote_uri: name_addr_without_tag(&to),
            local_cseq: cseq.seq,
            remote_cseq: None,
            remote_target,
            route_set,
            peer,
            state: if confirmed {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
        })
    }

    /// Whether a request with these identifiers (its Call-ID, its To tag, its From tag)
    /// belongs to this dialog.
    pub fn matches(&self, call_id: &str, to_tag: Option<&str>, from_tag: Option<&str>) -> bool {
        self.call_id == call_id
            && to_tag == Some(self.local_tag.as_str())
            && from_tag == Some(self.remote_tag.as_str())
    }

    /// Judges the CSeq of a received in-dialog request (§12.2.2): a lower number than the last
    /// one is out of order (answer 500); otherwise it is remembered. ACK and CANCEL carry the
    /// number of the request they belong to and must not be passed here.
    pub fn accept_remote_cseq(&mut self, seq: u32) -> bool {
        match self.remote_cseq {
            Some(last) if seq < last => false,
            _ => {
                self.remote_cseq = Some(seq);
                true
            }
        }
    }

    /// Updates the remote target from a target-refresh request or response (re-INVITE,
    /// UPDATE and their 2xx: §12.2).
    pub fn refresh_target(&mut self, msg: &Message) {
        if let Some(t) = contact_uri(msg) {
            self.remote_target = t;
        }
    }

    /// Starts a new in-dialog request (not ACK, not CANCEL): the next CSeq, Via with `branch`
    /// sent from the dialog's flow, Max-Forwards, From/To with tags, Call-ID, Route set and
    /// `Contact: contact` (when given). The caller adds the rest and finishes it.
    pub fn request(
        &mut self,
        method: &Method,
        branch: &str,
        contact: Option<&str>,
    ) -> MessageBuilder {
        self.local_cseq += 1;
        let cseq = self.local_cseq;
        let mut b = self.head(method, branch, cseq);
        if let Some(c) = contact {
            b.header("Contact", c);
        }
        b
    }

    /// An ACK for the 2xx of our INVITE with CSeq number `invite_cseq` (§13.2.2.4): a new
    /// branch, the same CSeq number.
    pub fn ack(&self, invite_cseq: u32, branch: &str) -> MessageBuilder {
        self.head(&Method::Ack, branch, invite_cseq)
    }

    fn head(&self, method: &Method, branch: &str, cseq: u32) -> MessageBuilder {
        let mut b = MessageBuilder::request(method, &self.remote_target);
        b.header(
            "Via",
            format_args!(
                "SIP/2.0/{} {};branch={branch};rport",
                self.peer.transport.via_name(),
                self.peer.local
            ),
        )
        .header("Max-Forwards", 70)
        .header(
            "From",
            format_args!("{};tag={}", self.local_uri, self.local_tag),
        )
        .header(
            "To",
            format_args!("{};tag={}", self.remote_uri, self.remote_tag),
        )
        .header("Call-ID", &self.call_id)
        .header("CSeq", format_args!("{cseq} {}", method.as_str()));
        for r in &self.route_set {
            b.header("Route", r);
        }
        b
    }
}
