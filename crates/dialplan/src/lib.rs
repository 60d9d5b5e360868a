//! Tech-prefix rules and the dialing plan as pure functions (no I/O).
