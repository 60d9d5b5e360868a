//! Integration tests of the media drivers over real UDP sockets on the loopback interface.

mod fork;
mod gateway;
mod relay;
mod rtcp;
mod stun;
