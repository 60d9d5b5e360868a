//! The WebRTC media gateway: bridges a WebRTC endpoint (a browser: ICE-lite on our side,
//! DTLS-SRTP, RTCP mux, `UDP/TLS/RTP/SAVPF`) to a plain RTP side (`RTP/AVP`, G.711,
//! telephone-event), inside the media relay.
//!
//! # Where this sits
//!
//! A core crate (see `ARCHITECTURE.md`): no sockets, no clock, no threads. `media-io`'s relay
//! thread feeds it the datagrams of the two relay ports of a bridged call and sends what it
//! returns. The WebRTC protocol work is str0m's (sans-IO too); this crate adds the decision
//! ([`profile::decide`]), the plain SDP, payload-type/timestamp re-packetising and the codec
//! conversion ([`codec`]: G.711 tables, Opus via libopus).
//!
//! | module | input | output |
//! |---|---|---|
//! | [`profile`] | an SDP, what signalling knows of the answerer | [`profile::Bridge`], the plain offer |
//! | [`gateway`] | browser offer, plain SDP, datagrams from either leg, `now` | browser answer, [`gateway::Datagram`]s, next deadline |
//! | [`codec`] | payloads | payloads in the other side's codec |
//! | [`rtcp`] | the plain side's RTP and RTCP, `now` | the gateway's SR + SDES to the plain side |

pub mod codec;
pub mod g711;
pub mod gateway;
pub mod profile;
pub mod rtcp;
mod rtp;

pub use gateway::{Datagram, Gateway, GatewayConfig, GatewayError, GatewayStats, Leg};
pub use profile::{decide, is_webrtc, Bridge};
