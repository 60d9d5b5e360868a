//! Event packages (RFC 6665 §7): what a subscription to an `Event` delivers.
//!
//! The subscription framework ([`crate::PresenceServer`]) owns dialogs, expiry, NOTIFY
//! sequencing and resource lists; a package only says which event it serves, which body
//! types it writes and how it renders one resource's state. Resource lists (RFC 4662) are
//! package-independent: the framework wraps each member's [`EventPackage::full_state`] (or
//! [`EventPackage::partial_state`]) into the multipart/RLMI body.

use std::collections::HashMap;

use bytes::Bytes;

use crate::mwi::{message_details, message_summary_body, MessageDetail, MessageSummary, MWI_TYPE};
use crate::pidf::{self, PIDF_TYPE};
use crate::publish::Publications;

/// A rendered state document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub content_type: &'static str,
    pub bytes: Bytes,
}

/// The resource a body is rendered for.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    /// The login whose state this is.
    pub login: &'a str,
    /// Its canonical URI (`sip:{login}@{domain}`).
    pub uri: &'a str,
    /// From the buddy list: the login can be woken by push (false outside resource lists).
    pub push_supported: bool,
}

/// Read access to the state packages render: the composed publications and the voicemail
/// counts the driver supplied.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    pub(crate) publications: &'a Publications,
    pub(crate) summaries: &'a HashMap<String, MessageSummary>,
    pub(crate) details: &'a HashMap<String, Vec<MessageDetail>>,
}

impl<'a> State<'a> {
    pub fn publications(&self) -> &'a Publications {
        self.publications
    }

    /// The voicemail counts of `login`, when the driver has supplied them.
    pub fn message_summary(&self, login: &str) -> Option<&'a MessageSummary> {
        self.summaries.get(login)
    }
}

/// An event package. Implementations are stateless renderers over [`State`].
pub trait EventPackage: std::fmt::Debug + Send + Sync {
    /// The `Event` token (`presence`, `message-summary`).
    fn name(&self) -> &'static str;

    /// Body types this package writes for one resource, preferred first. A SUBSCRIBE whose
    /// `Accept` allows none of them is refused with 406.
    fn content_types(&self) -> &'static [&'static str];

    /// Subscription duration when the SUBSCRIBE has no `Expires` (seconds).
    fn default_expires(&self) -> u32 {
        3600
    }

    /// Whether a SUBSCRIBE with `Supported: eventlist` to the subscriber's own URI is a
    /// resource-list subscription (RFC 4662) for this package.
    fn supports_lists(&self) -> bool {
        false
    }

    /// Whether a login may subscribe only to its own resource (others get 403): private
    /// state such as voicemail counts.
    fn own_resource_only(&self) -> bool {
        false
    }

    /// Whether the state of `login` is at hand. When it is not, the framework emits
    /// [`crate::Action::FetchState`] and sends the first NOTIFY once the driver has supplied
    /// it.
    fn has_state(&self, _login: &str, _state: &State<'_>) -> bool {
        true
    }

    /// The full state of one resource.
    fn full_state(&self, resource: &Resource<'_>, state: &State<'_>) -> Body;

    /// The state of one resource that changed since the last NOTIFY; the default is its full
    /// state (PIDF has no partial documents here: RFC 5263 is not used).
    fn partial_state(&self, resource: &Resource<'_>, state: &State<'_>) -> Body {
        self.full_state(resource, state)
    }
}

/// `presence` (RFC 3856): the login's composed PIDF document.
///
/// - a composed document with an open tuple: as composed;
/// - otherwise, for a buddy that supports push: the composed document plus the push tuple
///   (`<tuple id="ferroswitch-push">` with basic `open` and `<note>push</note>`), or a
///   document with only that tuple when nothing is published;
/// - otherwise the composed (closed) document, or one `closed` tuple when nothing is
///   published.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresencePackage;

impl EventPackage for PresencePackage {
    fn name(&self) -> &'static str {
        "presence"
    }

    fn content_types(&self) -> &'static [&'static str] {
        &[PIDF_TYPE]
    }

    fn supports_lists(&self) -> bool {
        true
    }

    fn full_state(&self, r: &Resource<'_>, state: &State<'_>) -> Body {
        let bytes = match state.publications.composed(r.login) {
            Some(c) if c.open || !r.push_supported => c.body.clone(),
            Some(c) => pidf::with_push(c),
            None if r.push_supported => pidf::push_doc(r.uri),
            None => pidf::closed_doc(r.uri),
        };
        Body {
            content_type: PIDF_TYPE,
            bytes,
        }
    }
}

/// `message-summary` (RFC 3842): voicemail counts the driver supplies
/// ([`crate::PresenceServer::set_message_summary`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageSummaryPackage;

impl EventPackage for MessageSummaryPackage {
    fn name(&self) -> &'static str {
        "message-summary"
    }

    fn content_types(&self) -> &'static [&'static str] {
        &[MWI_TYPE]
    }

    fn own_resource_only(&self) -> bool {
        true
    }

    fn has_state(&self, login: &str, state: &State<'_>) -> bool {
        state.summaries.contains_key(login)
    }

    fn full_state(&self, r: &Resource<'_>, state: &State<'_>) -> Body {
        let s = state.summaries.get(r.login).copied().unwrap_or_default();
        Body {
            content_type: MWI_TYPE,
            bytes: Bytes::from(match state.details.get(r.login) {
                Some(d) => message_summary_body(r.uri, &s) + &message_details(r.uri, d),
                None => message_summary_body(r.uri, &s),
            }),
        }
    }
}
