//! The service's SIP side: a minimal UAS (and BYE-sending UAC) on one UDP socket.
//!
//! INVITE: 100 Trying, then a setup task reads the store and answers 200 with SDP (or 403/404/
//! 488), the 200 retransmitted until the ACK (RFC 3261 §13.3.1.4). BYE: 200 and the call ends.
//! When a script ends the call, BYE is sent and retransmitted until answered.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::{HeaderName, Message};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::call::{self, CallSetup, Ctl};
use crate::Shared;

/// What a voicemail call asks for (from its Request-URI and From).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `950` / `950msgN`: the owner listens.
    Playback {
        /// The caller.
        owner: String,
        /// `N` of `950msgN`.
        message: Option<i64>,
    },
    /// `750`: the owner records the greeting.
    Greeting {
        /// The caller.
        owner: String,
    },
    /// Anything else: leave a message.
    Deposit {
        /// The mailbox.
        mailbox: String,
    },
}

/// The login in an RFC 4458 `target` value: `sip:alice@host` (percent-escaped or not) or `alice`.
pub fn mailbox_of(target: &str) -> String {
    let decoded = sip_message::percent_decode(target);
    let t = String::from_utf8_lossy(&decoded).into_owned();
    let t = t
        .strip_prefix("sips:")
        .or_else(|| t.strip_prefix("sip:"))
        .unwrap_or(&t);
    t.split(['@', ';', '?'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Request {
    /// Classifies a call: `user` of the Request-URI, its `target` parameter, the From user.
    pub fn classify(user: &str, target: Option<&str>, from_user: &str) -> Self {
        if let Some(rest) = user.strip_prefix("950") {
            let message = rest.strip_prefix("msg").and_then(|n| n.parse().ok());
            if rest.is_empty() || message.is_some() {
                return Self::Playback {
                    owner: from_user.to_owned(),
                    message,
                };
            }
        }
        if user == "750" {
            return Self::Greeting {
                owner: from_user.to_owned(),
            };
        }
        let mailbox = target.map_or_else(|| user.to_owned(), mailbox_of);
        Self::Deposit { mailbox }
    }
}

struct Dialog {
    peer: SocketAddr,
    /// The final response, resent on INVITE retransmissions and until ACK.
    response: Option<(String, bool)>,
    acked: bool,
    sends: u32,
    next_resend: Instant,
    ctl: Option<mpsc::UnboundedSender<Ctl>>,
    /// Ours: local tag; theirs: From and Contact, for our BYE.
    to_tag: String,
    from: String,
    to: String,
    contact: String,
    bye: Option<(String, u32, Instant)>,
}

/// Reports of setup and call tasks back to the SIP loop.
pub(crate) enum Event {
    Final {
        call_id: String,
        response: String,
        ok: bool,
        ctl: Option<mpsc::UnboundedSender<Ctl>>,
    },
    Hangup {
        call_id: String,
    },
}

fn header(m: &Message, name: HeaderName) -> String {
    m.header(&name).unwrap_or_default().to_owned()
}

pub(crate) fn response(
    req: &Message,
    code: u16,
    reason: &str,
    to_tag: &str,
    extra: &str,
    body: &str,
) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for v in req.header_values(&HeaderName::Via) {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    let to = header(req, HeaderName::To);
    let to = if to.contains(";tag=") || code == 100 {
        to
    } else {
        format!("{to};tag={to_tag}")
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        header(req, HeaderName::From),
        header(req, HeaderName::CallId),
        header(req, HeaderName::CSeq),
        body.len()
    ));
    out
}

fn contact_uri(m: &Message) -> Option<String> {
    let c = m.header(&HeaderName::Contact)?;
    let start = c.find('<').map_or(0, |i| i + 1);
    let end = c[start..].find(['>', ';']).map_or(c.len(), |i| start + i);
    Some(c[start..end].trim().to_owned())
}

pub(crate) async fn serve(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    let local = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("voicemail socket: {e}");
            return;
        }
    };
    let (events_tx, mut events) = mpsc::unbounded_channel::<Event>();
    let mut dialogs: HashMap<String, Dialog> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("voicemail recv: {e}");
                        continue;
                    }
                };
                let trusted = &shared.settings.trusted;
                if !(from.ip().is_loopback() && trusted.is_empty() || trusted.contains(&from.ip())) {
                    tracing::warn!(%from, "voicemail: SIP from an untrusted source dropped");
                    continue;
                }
                let msg = match Message::parse(Bytes::copy_from_slice(&buf[..n])) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(%from, "voicemail: unparsable SIP: {e}");
                        continue;
                    }
                };
                handle_message(&socket, &shared, local, &mut dialogs, &events_tx, msg, from).await;
            }
            Some(ev) = events.recv() => handle_event(&socket, local, &mut dialogs, ev).await,
            _ = tick.tick() => resend(&socket, &mut dialogs).await,
        }
    }
}

async fn send(socket: &UdpSocket, to: SocketAddr, text: &str) {
    if let Err(e) = socket.send_to(text.as_bytes(), to).await {
        tracing::warn!(%to, "voicemail send: {e}");
    }
}

async fn handle_message(
    socket: &UdpSocket,
    shared: &Arc<Shared>,
    local: SocketAddr,
    dialogs: &mut HashMap<String, Dialog>,
    events: &mpsc::UnboundedSender<Event>,
    msg: Message,
    from: SocketAddr,
) {
    let call_id = msg.call_id().unwrap_or_default().to_owned();
    let Some(method) = msg.method().map(|m| m.as_str().to_owned()) else {
        // A response: to our BYE.
        if msg.cseq().is_ok_and(|c| c.method.as_str() == "BYE") {
            dialogs.remove(&call_id);
        }
        return;
    };
    match method.as_str() {
        "INVITE" => {
            if let Some(d) = dialogs.get(&call_id) {
                if let Some((r, _)) = &d.response {
                    send(socket, d.peer, r).await;
                }
                return;
            }
            let to_tag = format!("vm{:x}", rand::random::<u64>());
            send(
                socket,
                from,
                &response(&msg, 100, "Trying", &to_tag, "", ""),
            )
            .await;
            let user = msg
                .request_uri()
                .ok()
                .and_then(|u| u.user.map(str::to_owned))
                .unwrap_or_default();
            let target = msg
                .request_uri()
                .ok()
                .and_then(|u| u.param("target").flatten().map(str::to_owned));
            let from_hdr = msg.from_header().ok();
            let from_user = msg.from_user().map(|u| u.into_owned()).unwrap_or_default();
            let display = from_hdr
                .as_ref()
                .and_then(|f| f.display.as_ref().map(|d| d.trim_matches('"').to_owned()))
                .unwrap_or_default();
            let request = Request::classify(&user, target.as_deref(), &from_user);
            dialogs.insert(
                call_id.clone(),
                Dialog {
                    peer: from,
                    response: None,
                    acked: false,
                    sends: 0,
                    next_resend: Instant::now(),
                    ctl: None,
                    to_tag: to_tag.clone(),
                    from: header(&msg, HeaderName::From),
                    to: header(&msg, HeaderName::To),
                    contact: contact_uri(&msg).unwrap_or_else(|| format!("sip:{from}")),
                    bye: None,
                },
            );
            let setup = CallSetup {
                call_id,
                request,
                caller_id: from_user,
                display_name: display,
                invite: msg,
                to_tag,
                local,
            };
            tokio::spawn(call::setup(shared.clone(), setup, events.clone()));
        }
        "ACK" => {
            if let Some(d) = dialogs.get_mut(&call_id) {
                d.acked = true;
                if d.response.as_ref().is_some_and(|(_, ok)| !ok) {
                    dialogs.remove(&call_id);
                }
            }
        }
        "BYE" | "CANCEL" => {
            let known = dialogs.contains_key(&call_id);
            let (code, reason) = if known {
                (200, "OK")
            } else {
                (481, "Call/Transaction Does Not Exist")
            };
            send(socket, from, &response(&msg, code, reason, "", "", "")).await;
            if method == "BYE" {
                if let Some(d) = dialogs.remove(&call_id) {
                    if let Some(ctl) = d.ctl {
                        let _ = ctl.send(Ctl::Hangup);
                    }
                }
            }
        }
        "OPTIONS" => send(socket, from, &response(&msg, 200, "OK", "opt", "", "")).await,
        _ => {
            send(
                socket,
                from,
                &response(
                    &msg,
                    405,
                    "Method Not Allowed",
                    "x",
                    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n",
                    "",
                ),
            )
            .await;
        }
    }
    let _ = local;
}

async fn handle_event(
    socket: &UdpSocket,
    local: SocketAddr,
    dialogs: &mut HashMap<String, Dialog>,
    ev: Event,
) {
    match ev {
        Event::Final {
            call_id,
            response,
            ok,
            ctl,
        } => {
            let Some(d) = dialogs.get_mut(&call_id) else {
                // BYE/CANCEL came first: stop the call.
                if let Some(ctl) = ctl {
                    let _ = ctl.send(Ctl::Hangup);
                }
                return;
            };
            send(socket, d.peer, &response).await;
            d.response = Some((response, ok));
            d.ctl = ctl;
            d.sends = 1;
            d.next_resend = Instant::now() + Duration::from_millis(500);
        }
        Event::Hangup { call_id } => {
            let Some(d) = dialogs.get_mut(&call_id) else {
                return;
            };
            d.ctl = None;
            let bye = format!(
                "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKvm{:x};rport\r\n\
                 Max-Forwards: 70\r\nFrom: {};tag={}\r\nTo: {}\r\nCall-ID: {call_id}\r\n\
                 CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
                d.contact,
                rand::random::<u64>(),
                d.to.split(";tag=").next().unwrap_or_default(),
                d.to_tag,
                d.from,
            );
            send(socket, d.peer, &bye).await;
            d.bye = Some((bye, 1, Instant::now() + Duration::from_millis(500)));
        }
    }
}

async fn resend(socket: &UdpSocket, dialogs: &mut HashMap<String, Dialog>) {
    let now = Instant::now();
    let mut dead = Vec::new();
    for (id, d) in dialogs.iter_mut() {
        if let Some((bye, n, at)) = &mut d.bye {
            if *at <= now {
                if *n >= 7 {
                    dead.push(id.clone());
                    continue;
                }
                send(socket, d.peer, bye).await;
                *n += 1;
                *at = now + Duration::from_millis(500) * (1 << (*n).min(3));
            }
        } else if let Some((r, _)) = &d.response {
            if !d.acked && d.next_resend <= now {
                if d.sends >= 10 {
                    // No ACK in ~32 s: the call is dead (RFC 3261 §13.3.1.4).
                    if let Some(ctl) = &d.ctl {
                        let _ = ctl.send(Ctl::Hangup);
                    }
                    dead.push(id.clone());
                    continue;
                }
                send(socket, d.peer, r).await;
                d.sends += 1;
                d.next_resend = now + Duration::from_millis(500) * (1 << d.sends.min(3));
            }
        }
    }
    for id in dead {
        dialogs.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified() {
        assert_eq!(
            Request::classify("950msg230", None, "alice"),
            Request::Playback {
                owner: "alice".into(),
                message: Some(230)
            }
        );
        assert_eq!(
            Request::classify("950", None, "alice"),
            Request::Playback {
                owner: "alice".into(),
                message: None
            }
        );
        assert_eq!(
            Request::classify("750", None, "bob"),
            Request::Greeting {
                owner: "bob".into()
            }
        );
        assert_eq!(
            Request::classify("vm", Some("sip:carol%40example.com"), "bob"),
            Request::Deposit {
                mailbox: "carol".into()
            }
        );
        assert_eq!(
            Request::classify("dave", None, "bob"),
            Request::Deposit {
                mailbox: "dave".into()
            }
        );
        assert_eq!(
            Request::classify("950xyz", None, "bob"),
            Request::Deposit {
                mailbox: "950xyz".into()
            }
        );
        assert_eq!(mailbox_of("sip:alice@h;user=phone"), "alice");
        assert_eq!(mailbox_of("alice"), "alice");
    }
}
