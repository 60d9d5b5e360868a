//! Integration tests of the call engine over a real transaction layer on a virtual clock.

mod calls;
mod credit;
mod extensions;
mod flows;
mod gateway_auth;
mod net;
mod push;
mod routing;
mod shutdown;
mod steering;
mod webrtc;
