//! The voicemail core on a virtual clock: `t0 + offsets`, no sleeping.

mod dtmf;
mod endpoint;
mod play;
mod record;
mod session;
mod support;
