//! Integration tests of the media core: STUN against the RFC 5769 vectors, SDP from real
//! softphones, and the relay table on a virtual clock.

mod relay;
mod sdp;
mod stun;
