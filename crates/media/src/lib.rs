//! Media: STUN Binding, SDP rewriting, the sans-IO RTP relay table.
