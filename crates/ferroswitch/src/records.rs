//! Conversions between the cores' types and the store's rows, in one place.
//!
//! `store` depends on no core (its rows are its own), and the cores know nothing of
//! storage, so the orphan rule leaves no crate where a `From` between the two could live
//! but this binary, which may not implement a foreign trait for two foreign types: these
//! are plain functions instead: accounts, bindings, CDRs, push tokens, presence
//! publications and messages. The billing rows are converted beside the credit driver
//! (`billing_io.rs`, `billing_load.rs`).

use std::net::SocketAddr;
use std::time::Instant;

use messaging::{Deferred, Status, Text};
use presence::{Persist, PublicationRow};
use registrar::Binding;
use sip_message::{Epoch, Peer, Transport};
use store::{BindingRecord, MessageStatus, NewMessage};

/// A stored account as the registrar's: its login, whether it is enabled, and its HA1
/// values for `realm` (empty, so it never authenticates, when they were stored for another
/// realm and no plain password is kept: [`crate::secrets::ha1`] logs it). The registrar
/// cannot know the store's type (a core does not depend on the I/O crate), so the two stay
/// two types and this is the one conversion between them.
pub(crate) fn registrar_account(a: &store::Account, realm: &str) -> registrar::Account {
    registrar::Account {
        login: a.login.clone(),
        ha1: crate::secrets::ha1(a, realm).unwrap_or_default(),
        enabled: a.enabled,
    }
}

/// A device's push registration (RFC 8599 parameters of a REGISTER at `at`) as its
/// `push_tokens` row: `at` in epoch seconds.
pub(crate) fn push_token(
    login: &str,
    p: registrar::PushRegistration,
    at: Instant,
    epoch: &Epoch,
) -> store::PushToken {
    store::PushToken {
        login: login.to_owned(),
        instance: p.instance,
        token: p.prid,
        platform: p.provider,
        param: p.param,
        updated_at: epoch.wall_secs(at) as i64,
    }
}

/// A `push_tokens` row as the device the B2BUA pushes.
pub(crate) fn push_device(t: &store::PushToken) -> b2bua::PushDevice {
    b2bua::PushDevice {
        instance: t.instance.clone(),
        token: t.token.clone(),
        platform: t.platform.clone(),
        param: t.param.clone(),
    }
}

/// A call's record as a `cdr` row of this node (times and counters as the columns' integers).
pub(crate) fn cdr_row(c: &b2bua::Cdr, node_id: &str) -> store::CdrRow {
    let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    store::CdrRow {
        call_id: c.call_id.clone(),
        caller: c.caller.clone(),
        callee: c.callee.clone(),
        dialed: c.dialed.clone(),
        routed_number: c.routed.clone(),
        route: c.route.clone(),
        gateway: c.gateway.clone(),
        start_ms: ms(c.start_ms),
        ringing_ms: c.ringing_ms.map(ms),
        answer_ms: c.answer_ms.map(ms),
        end_ms: ms(c.end_ms),
        duration_ms: ms(c.duration_ms()),
        final_code: c.final_code,
        hangup_by: c.hangup_by.as_str().to_owned(),
        media_a_packets: c.media.as_ref().map(|m| ms(m.a_to_b.packets)),
        media_b_packets: c.media.as_ref().map(|m| ms(m.b_to_a.packets)),
        node_id: node_id.to_owned(),
        wakeup_ms: c.wakeup_ms.map(ms),
        b_call_id: c.b_call_id.clone(),
        media_a_bytes: c.media.as_ref().map(|m| ms(m.a_to_b.bytes)),
        media_b_bytes: c.media.as_ref().map(|m| ms(m.b_to_a.bytes)),
        media_a_lost: c.media.as_ref().map(|m| ms(m.a_to_b.lost)),
        media_b_lost: c.media.as_ref().map(|m| ms(m.b_to_a.lost)),
    }
}

/// A binding of the location table as a `location` row of this node: its `Instant`s in epoch
/// seconds through the server's one `epoch`.
pub(crate) fn binding_record(
    login: &str,
    b: &Binding,
    node_id: &str,
    epoch: &Epoch,
) -> BindingRecord {
    BindingRecord {
        login: login.to_owned(),
        binding_key: b.key.clone(),
        contact: b.contact.clone(),
        instance: b.instance.clone(),
        reg_id: b.reg_id.map(i64::from),
        q_milli: b.q_milli.map(i64::from),
        expires_at: epoch.wall_secs(b.expires_at) as i64,
        call_id: b.call_id.clone(),
        cseq: i64::from(b.cseq),
        received: b.source.remote.to_string(),
        transport: b.source.transport.as_str().to_owned(),
        local_addr: b.source.local.to_string(),
        node_id: node_id.to_owned(),
        path: b.path.clone(),
        user_agent: b.user_agent.clone(),
        updated_at: epoch.wall_secs(b.updated_at) as i64,
    }
}

/// A `location` row back as the login and its binding; `None` for a row that does not
/// read (an unknown transport, an address that does not parse, numbers out of range). Its
/// epoch seconds become `Instant`s through the server's `epoch`.
pub(crate) fn restored_binding(rec: BindingRecord, epoch: &Epoch) -> Option<(String, Binding)> {
    let transport = Transport::from_name(&rec.transport)?;
    let remote: SocketAddr = rec.received.parse().ok()?;
    let local: SocketAddr = rec.local_addr.parse().ok()?;
    let binding = Binding {
        key: rec.binding_key,
        contact: rec.contact,
        instance: rec.instance,
        reg_id: rec.reg_id.and_then(|r| u32::try_from(r).ok()),
        q_milli: rec.q_milli.and_then(|q| u16::try_from(q).ok()),
        expires_at: epoch.instant(u64::try_from(rec.expires_at).ok()? * 1000),
        call_id: rec.call_id,
        cseq: u32::try_from(rec.cseq).ok()?,
        // rows written before wildcard listeners were resolved may hold 0.0.0.0
        source: crate::transport::concrete(Peer {
            transport,
            remote,
            local,
            conn: None,
        }),
        // not stored: a restored binding is reached over its flow until it registers again
        reach: registrar::Reach::Flow,
        path: rec.path,
        user_agent: rec.user_agent,
        updated_at: epoch.instant(u64::try_from(rec.updated_at).unwrap_or(0) * 1000),
    };
    Some((rec.login, binding))
}

/// A mailbox's `voicemail_boxes` counts as the presence core's message summary.
pub(crate) fn message_summary(c: &store::VoicemailCounts) -> presence::MessageSummary {
    presence::MessageSummary {
        new: c.new,
        old: c.old,
        urgent_new: c.urgent_new,
        urgent_old: c.urgent_old,
    }
}

/// A `presence_publications` row as the core's: its epoch ms as `Instant`s.
pub(crate) fn publication_row(r: store::StoredPublication, epoch: &Epoch) -> PublicationRow {
    let at = |ms: i64| epoch.instant(u64::try_from(ms).unwrap_or(0));
    PublicationRow {
        login: r.login,
        etag: r.etag,
        expires_at: at(r.expires_at_ms),
        modified_at: at(r.modified_at_ms),
        body: r.body.into(),
    }
}

/// A presence core write as the store's change: its `Instant`s as epoch ms; `None` (logged)
/// for a kind of write this build does not know.
pub(crate) fn publication_change(p: Persist, epoch: &Epoch) -> Option<store::PublicationChange> {
    let ms = |t: Instant| i64::try_from(epoch.wall(t)).unwrap_or(i64::MAX);
    Some(match p {
        Persist::Upsert { row, replaces } => store::PublicationChange::Upsert {
            row: store::StoredPublication {
                login: row.login,
                etag: row.etag,
                expires_at_ms: ms(row.expires_at),
                modified_at_ms: ms(row.modified_at),
                body: row.body.to_vec(),
            },
            replaces,
        },
        Persist::Remove { login, etag } => store::PublicationChange::Remove { login, etag },
        // a kind of write added to the core later: this build does not know it
        _ => {
            tracing::warn!("presence write of an unknown kind skipped");
            return None;
        }
    })
}

/// A message as its new `sms_inbox` row, created at `now_ms` (unix ms).
pub(crate) fn new_message(text: &Text, now_ms: u64) -> NewMessage {
    NewMessage {
        sender: text.sender.clone(),
        recipient: text.recipient.clone(),
        content_type: text.content_type.clone(),
        body: text.body.to_vec(),
        call_id: text.call_id.clone(),
        cseq: text.cseq,
        created_ms: i64::try_from(now_ms).unwrap_or(i64::MAX),
    }
}

/// A message's status in the core as its `sms_inbox` status.
pub(crate) fn message_status(s: Status) -> MessageStatus {
    match s {
        Status::Delivered => MessageStatus::Delivered,
        Status::Deferred => MessageStatus::Deferred,
        Status::SentOffnet => MessageStatus::SentOffnet,
        Status::Failed => MessageStatus::Failed,
    }
}

/// A stored, not yet delivered `sms_inbox` row as the core's.
pub(crate) fn deferred(m: store::StoredMessage) -> Deferred {
    Deferred {
        id: m.id,
        attempts: m.attempts,
        text: Text {
            sender: m.sender,
            display_name: None,
            recipient: m.recipient,
            call_id: m.call_id,
            cseq: m.cseq,
            content_type: m.content_type,
            body: m.body.into(),
        },
    }
}
