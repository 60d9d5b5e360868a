//! Tokio drivers for the media crate: STUN listener and the batched RTP relay.
