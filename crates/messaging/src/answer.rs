//! The sender's answer when devices stay silent, and the domain of relayed URIs.
//!
//! A MESSAGE forwarded to devices waits for their answers, up to a transaction timeout
//! (32 s) when a device is silent. The sender must not wait that long: its own transaction
//! times out, and a user who resends stores a duplicate. So the core arms a short timer per
//! forwarded MESSAGE ([`Messaging::poll_timeout`]); when it fires before any device took the
//! message, the sender gets 202 Accepted at once ([`Messaging::handle_timeout`]). The job goes on:
//! a device's late 2xx records the message as delivered, and when every device failed it is
//! stored for delivery when the login registers again, without a second answer. Either way
//! the message is stored once and delivered once.

use std::cmp::Reverse;
use std::time::Instant;

use sip_transaction::Outbox;

use crate::{respond, Job, JobId, Messaging};

impl Messaging {
    /// The answer timers due at `now` fire: 202 Accepted to each sender whose MESSAGE no
    /// device took yet. Nothing for a job that is over.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut dyn Outbox) {
        while let Some(Reverse((at, job))) = self.answer_timers.peek().copied() {
            if at > now {
                break;
            }
            self.answer_timers.pop();
            self.answer_due(job, out);
        }
    }

    fn answer_due(&mut self, job: JobId, out: &mut dyn Outbox) {
        if let Some(Job::Incoming {
            key,
            request,
            from,
            text,
            answered: false,
            early: early @ false,
            ..
        }) = self.jobs.get_mut(&job)
        {
            tracing::info!(sender = %text.sender, recipient = %text.recipient, "no device answered the MESSAGE in time: 202, delivered or stored when the devices are done");
            *early = true;
            respond(out, key, request, *from, 202, None);
        }
    }

    /// The host of the From and To URIs of relayed MESSAGEs (`sip:{login}@{domain}`): the
    /// domain the clients use, never the digest realm.
    pub fn set_domain(&mut self, domain: &str) {
        domain.clone_into(&mut self.domain);
    }

    /// The host of relayed URIs.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}
