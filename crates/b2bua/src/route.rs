//! Routing a new call: the caller's tech-prefix rule, then the dialing plan, then the
//! [`Directory`] for bindings, gateways and ring groups. Pure: the result is a [`Decision`].

use std::time::Duration;

use dialplan::{Action, DialPlan};
use sip_message::Peer;

use crate::{Caller, Directory};

/// One device to ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The login the device is registered for.
    pub login: String,
    /// Request-URI of the B-leg INVITE (the binding's Contact).
    pub uri: String,
    /// The flow the binding registered on.
    pub peer: Peer,
    /// The binding's `+sip.instance`, when it has one.
    pub instance: Option<String>,
}

/// A gateway (OFFNET peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayTarget {
    pub name: String,
    /// `host:port` used in the Request-URI and To.
    pub host: String,
    pub peer: Peer,
    /// Replaces the From user part of calls through it.
    pub caller_id: Option<String>,
    /// The trunk's credentials, answered to the gateway's 401/407.
    pub auth: Option<crate::GatewayAuth>,
}

/// A ring group: members in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingGroupDef {
    pub members: Vec<String>,
    /// 0: all members at once; otherwise one more member every `step_delay`.
    pub step_delay: Duration,
    /// At most this many members are rung (0: all).
    pub max_steps: usize,
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ring every device of `login` at once, and push the devices with a token (those
    /// without a binding at once, the others when they stay silent).
    Fork {
        login: String,
        targets: Vec<Target>,
        push: Vec<crate::PushDevice>,
    },
    /// Try the gateways in order with `number`.
    Gateways {
        number: String,
        gateways: Vec<GatewayTarget>,
    },
    /// A service URI (voicemail, media server).
    Service { uri: String, peer: Peer },
    /// A ring group: members (with their devices) rung per `step_delay`.
    RingGroup {
        group: String,
        members: Vec<(String, Vec<Target>)>,
        step_delay: Duration,
    },
    /// Answer the caller with this code.
    Reject { code: u16, reason: &'static str },
}

impl Decision {
    /// Whether the callee side is reached over IPv6: the first device, gateway or service the
    /// decision names (a fork over both IP versions takes the first one's); `None` when it
    /// names none.
    pub(crate) fn callee_ipv6(&self) -> Option<bool> {
        let peer = match self {
            Self::Fork { targets, .. } => targets.first().map(|t| &t.peer),
            Self::Gateways { gateways, .. } => gateways.first().map(|g| &g.peer),
            Self::Service { peer, .. } => Some(peer),
            Self::RingGroup { members, .. } => members
                .iter()
                .find_map(|(_, targets)| targets.first().map(|t| &t.peer)),
            Self::Reject { .. } => None,
        };
        peer.map(|p| p.remote.is_ipv6())
    }

    /// Whether the callee is a WebRTC endpoint, for the relay's WebRTC gateway
    /// ([`crate::MediaRelay::peer_webrtc`]): `Some(true)` when every device the call forks to
    /// registered a WebSocket contact (`;transport=ws`/`wss`, RFC 7118: browsers) or is a
    /// WebRTC endpoint of the call-control API (`;endpoint=webrtc`), `Some(false)`
    /// when none did, `None` for a mix (then each branch gets an offer of its own kind through
    /// [`crate::MediaRelay::branch_offer`], see docs/media.md) and for other routes.
    pub(crate) fn callee_webrtc(&self) -> Option<bool> {
        let uris: Vec<&str> = match self {
            Self::Fork { targets, .. } => targets.iter().map(|t| t.uri.as_str()).collect(),
            Self::RingGroup { members, .. } => members
                .iter()
                .flat_map(|(_, targets)| targets.iter().map(|t| t.uri.as_str()))
                .collect(),
            Self::Gateways { .. } | Self::Service { .. } => return Some(false),
            Self::Reject { .. } => return None,
        };
        let ws = uris
            .iter()
            .filter(|u| is_websocket_contact(u) || has_uri_param(u, "endpoint", "webrtc"))
            .count();
        match ws {
            0 => Some(false),
            n if n == uris.len() => Some(true),
            _ => None,
        }
    }
}

/// A contact URI with `transport=ws` or `transport=wss` (RFC 7118 section 5).
pub(crate) fn is_websocket_contact(uri: &str) -> bool {
    has_uri_param(uri, "transport", "ws") || has_uri_param(uri, "transport", "wss")
}

/// Whether `uri` (maybe in `<>`) has the URI parameter `key=value` (case-insensitive).
/// A device that takes WebRTC media: a WebSocket contact (a browser, RFC 7118) or a WebRTC
/// endpoint of the call-control API (`;endpoint=webrtc`).
pub(crate) fn is_webrtc_device(uri: &str, transport: sip_message::Transport) -> bool {
    transport.is_websocket()
        || is_websocket_contact(uri)
        || has_uri_param(uri, "endpoint", "webrtc")
}

fn has_uri_param(uri: &str, key: &str, value: &str) -> bool {
    let uri = uri.trim_start_matches('<');
    let params = uri.split(['>', '?']).next().unwrap_or(uri);
    params.split(';').skip(1).any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case(key) && v.trim().eq_ignore_ascii_case(value)
        })
    })
}

/// The routing result with what the CDR records of it.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub(crate) decision: Decision,
    /// The number after the tech-prefix rule (and strip/prepend for gateways).
    pub(crate) routed: String,
    /// Login/group/number the call is for.
    pub(crate) callee: String,
    /// Route label: `user-lookup`, `gateway`, `service`, `ring-group`, `reject`, `none`.
    pub(crate) route: &'static str,
}

pub(crate) fn decide(
    plan: &DialPlan,
    caller: &Caller,
    dialed: &str,
    dir: &dyn Directory,
    push_enabled: bool,
) -> Routed {
    let number = caller.tech_prefix.apply_dp(dialed).into_owned();
    let planned = plan.route(&number);
    // the built-in voicemail's numbers, unless the plan sends them to a service of its own
    if !matches!(
        planned.as_ref().map(|r| &r.entry.action),
        Some(Action::Service { .. })
    ) {
        if let Some(routed) = crate::voicemail::builtin_route(caller, &number, dir) {
            return routed;
        }
    }
    let Some(r) = planned else {
        return Routed {
            decision: Decision::Reject {
                code: 404,
                reason: "no route",
            },
            callee: number.clone(),
            routed: number,
            route: "none",
        };
    };
    let rest = r.rest.to_owned();
    match &r.entry.action {
        Action::UserLookup => {
            let targets = dir.contacts(&rest);
            let push = if push_enabled {
                dir.push_devices(&rest)
            } else {
                Vec::new()
            };
            // a sleeping device (a token, no binding) makes the call wait for it
            let sleeping = push.iter().any(|d| {
                !targets
                    .iter()
                    .any(|t| t.instance.as_ref() == Some(&d.instance))
            });
            let decision = if !targets.is_empty() || sleeping {
                Decision::Fork {
                    login: rest.clone(),
                    targets,
                    push,
                }
            } else if let Some(uri) = dir.voicemail(&rest) {
                match dir.service(&uri) {
                    Some(peer) => Decision::Service {
                        uri: crate::voicemail::with_cause(&uri, 480),
                        peer,
                    },
                    None => Decision::Reject {
                        code: 480,
                        reason: "voicemail unreachable",
                    },
                }
            } else if dir.account_exists(&rest) {
                Decision::Reject {
                    code: 480,
                    reason: "not registered",
                }
            } else {
                Decision::Reject {
                    code: 404,
                    reason: "unknown user",
                }
            };
            Routed {
                decision,
                callee: rest.clone(),
                routed: rest,
                route: "user-lookup",
            }
        }
        Action::Gateway { gateways, .. } => {
            let target = r
                .target_number()
                .map_or_else(|| number.clone(), |c| c.into_owned());
            let gws: Vec<GatewayTarget> = gateways
                .iter()
                .flat_map(|g| dir.gateway_targets(g))
                .collect();
            let decision = if gws.is_empty() {
                Decision::Reject {
                    code: 503,
                    reason: "no gateway available",
                }
            } else {
                Decision::Gateways {
                    number: target.clone(),
                    gateways: gws,
                }
            };
            Routed {
                decision,
                callee: target.clone(),
                routed: target,
                route: "gateway",
            }
        }
        Action::Service { uri, voicemail } => {
            // `950msg230` routed by a `950` entry: the mailbox server needs the `msg230`
            let uri = &if *voicemail {
                crate::voicemail::with_user_suffix(uri, &rest)
            } else {
                uri.clone()
            };
            let decision = match dir.service(uri) {
                Some(peer) => Decision::Service {
                    uri: uri.clone(),
                    peer,
                },
                None => Decision::Reject {
                    code: 503,
                    reason: "service unreachable",
                },
            };
            Routed {
                decision,
                callee: uri.clone(),
                routed: number,
                route: "service",
            }
        }
        Action::RingGroup { group } => {
            let decision = match dir.ring_group(group) {
                Some(def) => {
                    let mut members: Vec<(String, Vec<Target>)> = def
                        .members
                        .iter()
                        // the caller is never rung in his own group
                        .filter(|m| **m != caller.login)
                        .map(|m| (m.clone(), dir.contacts(m)))
                        .collect();
                    if def.max_steps > 0 {
                        members.truncate(def.max_steps);
                    }
                    Decision::RingGroup {
                        group: group.clone(),
                        members,
                        step_delay: def.step_delay,
                    }
                }
                None => Decision::Reject {
                    code: 404,
                    reason: "unknown ring group",
                },
            };
            Routed {
                decision,
                callee: group.clone(),
                routed: number,
                route: "ring-group",
            }
        }
        Action::Reject { code } => Routed {
            decision: Decision::Reject {
                code: *code,
                reason: "rejected by the dialing plan",
            },
            callee: number.clone(),
            routed: number,
            route: "reject",
        },
    }
}

#[cfg(test)]
mod webrtc_tests {
    use super::{is_websocket_contact, Decision, Target};

    fn fork(uris: &[&str]) -> Decision {
        let peer = sip_message::Peer {
            transport: sip_message::Transport::Udp,
            remote: "127.0.0.1:5070".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
        };
        Decision::Fork {
            login: "alice".into(),
            targets: uris
                .iter()
                .map(|u| Target {
                    login: "alice".into(),
                    uri: (*u).to_owned(),
                    peer,
                    instance: None,
                })
                .collect(),
            push: Vec::new(),
        }
    }

    #[test]
    fn an_api_webrtc_endpoint_is_a_webrtc_callee() {
        let api = "sip:alice@127.0.0.1:40000;api-session=reg-1;endpoint=webrtc";
        assert_eq!(fork(&[api]).callee_webrtc(), Some(true));
        assert_eq!(
            fork(&["sip:alice@127.0.0.1:40000;api-session=reg-1"]).callee_webrtc(),
            Some(false)
        );
        assert_eq!(
            fork(&[api, "sip:alice@192.0.2.1:5060"]).callee_webrtc(),
            None
        );
    }

    #[test]
    fn websocket_contacts_are_recognised() {
        assert!(is_websocket_contact(
            "sip:abc@df7jal23ls0d.invalid;transport=ws"
        ));
        assert!(is_websocket_contact(
            "<sip:abc@h.invalid;ob;transport=WSS>;expires=600"
        ));
        assert!(!is_websocket_contact("sip:alice@192.0.2.1:5060"));
        assert!(!is_websocket_contact("sip:alice@192.0.2.1;transport=tcp"));
        assert!(!is_websocket_contact("sip:a@h?x=transport=ws"));
    }
}
