//! Digest authentication towards a gateway that challenges our INVITE (RFC 3261 §22.2,
//! §22.3): a 401 (`WWW-Authenticate`) or 407 (`Proxy-Authenticate`) to a gateway branch whose
//! trunk has credentials gets the INVITE again, once, with the same Call-ID, From tag and
//! body, the next CSeq, a new Via branch and the `Authorization` / `Proxy-Authorization`
//! answering the challenge (MD5 or SHA-256, `qop=auth` when offered). The transaction layer has
//! already ACKed the challenge. A second challenge is a final answer like any other.

use std::fmt;
use std::time::Instant;

use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, HeaderName, Message, MessageBuilder, Method};

use super::{After, BranchState, Call};
use crate::shared::{Pending, Shared};
use crate::Outbox;

/// A trunk's credentials for one gateway.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayAuth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for GatewayAuth {
    /// The password is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayAuth")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

impl Call {
    /// Gateway branch `n` got a 401/407: answered with credentials when the trunk has them
    /// (once); otherwise our trunk is refused, which counts as a server failure (503: the next
    /// gateway is tried, and the caller never gets a challenge that is not about him).
    pub(super) fn gateway_challenged(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        n: usize,
        status: u16,
        resp: &Message,
        out: &mut dyn Outbox,
    ) -> After {
        if self.answer_gateway_challenge(ctx, n, status, resp, out) {
            return After::Nothing;
        }
        tracing::info!(call = self.id, status, gateway = ?self.branches[n].gateway, "gateway refused our credentials (or we have none): counted as 503");
        let b = &mut self.branches[n];
        if b.live() {
            b.state = BranchState::Done(503);
        }
        self.branch_final(ctx, now, n, 503, out)
    }

    /// Branch `n` got a 401/407: true when the INVITE went out again with credentials (the
    /// branch stays live), false when the challenge is the branch's final answer.
    fn answer_gateway_challenge(
        &mut self,
        ctx: &mut Shared,
        n: usize,
        status: u16,
        resp: &Message,
        out: &mut dyn Outbox,
    ) -> bool {
        let Some(b) = self.branches.get(n) else {
            return false;
        };
        let Some(auth) = b.auth.as_ref() else {
            return false;
        };
        if !b.live() || b.auth_sent {
            return false;
        }
        let (challenge_header, answer_header) = if status == 407 {
            (HeaderName::ProxyAuthenticate, "Proxy-Authorization")
        } else {
            (HeaderName::WwwAuthenticate, "Authorization")
        };
        let Some(challenge) = resp
            .header_values(&challenge_header)
            .filter_map(|v| Challenge::parse(v).ok())
            .find(|c| {
                c.scheme.eq_ignore_ascii_case("Digest")
                    && c.algorithm
                        .as_deref()
                        .is_none_or(|a| Algorithm::from_name(a).is_some())
            })
        else {
            tracing::info!(
                call = self.id,
                status,
                "gateway challenge without a digest we speak"
            );
            return false;
        };
        let alg = challenge
            .algorithm
            .as_deref()
            .and_then(Algorithm::from_name)
            .unwrap_or(Algorithm::Md5);
        let Some(uri) = b.invite.request_uri_str() else {
            return false;
        };
        let qop = challenge
            .qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")));
        let cnonce = ctx.ids.tag();
        let ha1 = alg.ha1(&auth.username, &challenge.realm, &auth.password);
        let response = digest::response(
            alg,
            &ha1,
            &ResponseParams {
                method: "INVITE",
                uri,
                nonce: &challenge.nonce,
                qop_auth: qop.then_some(("00000001", cnonce.as_str())),
            },
        );
        let mut credentials = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm={}",
            auth.username,
            challenge.realm,
            challenge.nonce,
            alg.name()
        );
        if let Some(o) = &challenge.opaque {
            credentials.push_str(&format!(", opaque=\"{o}\""));
        }
        if qop {
            credentials.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\""));
        }
        let Some(invite) = reissue(&b.invite, &ctx.ids.branch(), answer_header, &credentials)
        else {
            return false;
        };
        let peer = b.peer;
        let Some(key) = out.send_request(invite.clone(), peer) else {
            return false;
        };
        tracing::debug!(call = self.id, status, user = %auth.username, "gateway challenged: INVITE sent with credentials");
        ctx.track(key, self.id, Pending::Branch(n));
        let b = &mut self.branches[n];
        b.invite = invite;
        b.auth_sent = true;
        b.state = BranchState::Calling;
        true
    }
}

/// `old` with a new top Via branch, the next CSeq and one credentials header; the rest (and
/// the body) as they were.
fn reissue(old: &Message, branch: &str, name: &str, credentials: &str) -> Option<Message> {
    let uri = old.request_uri_str()?;
    let old_branch = old.top_via().ok()?.branch()?.to_owned();
    let seq = old.cseq().ok()?.seq + 1;
    let mut m = MessageBuilder::request(&Method::Invite, uri);
    let mut via_done = false;
    for h in old.headers() {
        match h.name {
            HeaderName::Via if !via_done => {
                via_done = true;
                m.header("Via", h.value().replace(&old_branch, branch));
            }
            HeaderName::CSeq => {
                m.header("CSeq", format_args!("{seq} INVITE"));
            }
            HeaderName::ContentLength | HeaderName::ContentType => {}
            HeaderName::Authorization | HeaderName::ProxyAuthorization => {}
            _ => {
                m.header(h.name.as_str(), h.value());
            }
        }
    }
    m.header(name, credentials);
    let msg = match old.content_type() {
        Some(ct) if !old.body().is_empty() => m.finish_request_with_body(ct, old.body()),
        _ => m.finish_request(),
    };
    msg.ok()
}
