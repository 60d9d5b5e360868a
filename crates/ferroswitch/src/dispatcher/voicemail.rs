//! The dispatcher's side of the built-in voicemail (`voicemail_service.rs`): the service the
//! directory routes to, and the `voicemail` push for a changed mailbox's sleeping devices.

use super::Dispatcher;
use crate::presence_io::Fetched;
use crate::voicemail_service::{push_event, Builtin};

impl Dispatcher {
    /// The running built-in voicemail service.
    pub(crate) fn with_voicemail(mut self, builtin: Option<Builtin>) -> Self {
        self.voicemail = builtin;
        self
    }

    /// A mailbox change: a `voicemail` push event for the owner's devices that have a push
    /// token and no live registration (asleep). The NOTIFYs are the presence driver's.
    pub(super) fn voicemail_push(&mut self, f: &Fetched) {
        let Fetched::Mailbox(m) = f else {
            return;
        };
        let (Some(deposited), Some(poster)) = (&m.change, &self.push) else {
            return;
        };
        let now = std::time::Instant::now();
        let awake: Vec<String> = self
            .registrar
            .location()
            .lookup(&m.login, now)
            .iter()
            .filter_map(|b| b.instance.clone())
            .collect();
        let asleep: Vec<b2bua::PushDevice> = self
            .push_tokens
            .devices(&m.login)
            .into_iter()
            .filter(|d| !awake.contains(&d.instance))
            .collect();
        if asleep.is_empty() {
            return;
        }
        tracing::debug!(mailbox = %m.login, devices = asleep.len(), "voicemail push");
        poster.post_event(push_event(m, deposited.as_ref(), asleep));
    }
}
