//! What the messaging core asks of its driver about the recipients' devices, lent per input
//! ([`Devices`]), and who sent a MESSAGE ([`Sender`]).

use sip_message::Peer;

/// A registered device of a login: where a forwarded MESSAGE goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The binding's Contact: the Request-URI.
    pub contact: String,
    /// The flow it registered on.
    pub peer: Peer,
    /// Its `Path` (RFC 3327), sent as `Route`.
    pub path: Option<String>,
}

/// What the messaging core asks of the location table and the accounts, lent per input.
pub trait Devices {
    /// The login's live devices; `None` when no such account exists.
    fn devices(&self, login: &str) -> Option<Vec<Device>>;

    /// Whether the login has a live device now (an implementation may answer without
    /// listing them).
    fn online(&self, login: &str) -> bool {
        self.devices(login).is_some_and(|d| !d.is_empty())
    }
}

/// Who sent a MESSAGE: the authenticated login (or, from a trusted peer, its From user) and
/// the display name forwarded MESSAGEs carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub login: String,
    pub display_name: Option<String>,
}
