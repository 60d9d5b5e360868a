//! Voicemail: the media endpoint that answers calls as a UA, and the voicemail scripts.
//!
//! # Where this sits
//!
//! A core crate (see `ARCHITECTURE.md`): no tokio, no sockets, no clock, no files. Time is an
//! argument (`now: Instant`); tests run it on a virtual clock. The binary's voicemail driver
//! owns the UDP sockets (from the media port range), the files and the database rows.
//!
//! | module | input | output |
//! |---|---|---|
//! | [`codec`] | linear samples / G.711 bytes | G.711 bytes / linear samples (PCMU, PCMA) |
//! | [`rtp`] | a datagram | the RTP header and payload; packets written |
//! | [`dtmf`] | RFC 4733 `telephone-event` packets, `now` | digits (once per event, end bit, lost ends) |
//! | [`play`] | clips of samples, `now` | RTP packets paced at 20 ms with timestamps and marker |
//! | [`record`] | RTP audio packets, digits, BYE, `now` | one track (reorder window, silence fill), a stop reason |
//! | [`endpoint`] | datagrams, `now` | the three above for one call: events, packets, deadline |
//! | [`session`] | an endpoint + a script (deposit, greeting, playback) | [`session::Action`]s for the driver |
//! | [`offer`] | an SDP offer | where to send, the codec, the telephone-event type; the answer |
//! | [`rules`] | an account's answering rules, the caller, the situation | the action (voicemail, forward, reject, ring first) |
//! | [`wav`] | WAV bytes | samples; samples to a 16-bit PCM WAV |
//! | [`prompts`] | the operator's prompt directory (optional) | the built-in prompts, or the operator's |

pub mod codec;
pub mod dtmf;
pub mod endpoint;
pub mod offer;
pub mod play;
pub mod prompts;
pub mod record;
pub mod rtp;
pub mod rules;
pub mod session;
pub mod wav;

pub use codec::Codec;
pub use dtmf::{Digit, DtmfReceiver};
pub use endpoint::{Endpoint, EndpointConfig, EndpointEvent, EndpointStats};
pub use play::{Audio, Player, FRAME, FRAME_SAMPLES};
pub use record::{RecordLimits, Recorder, Recording, StopReason};
pub use session::{Action, Prompts, Script, Session};
