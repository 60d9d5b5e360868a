//! Conversions between the cores' types and the store's rows, in one place.
//!
//! `store` depends on no core (its rows are its own), and the cores know nothing of
//! storage, so the orphan rule leaves no crate where a `From` between the two could live
//! but this binary, which may not implement a foreign trait for two foreign types: these
//! are plain functions instead. The billing rows are converted beside the credit driver
//! (`billing_io.rs`), presence's and messaging's in their drivers.

use std::net::SocketAddr;

use registrar::Binding;
use sip_message::{Epoch, Peer, Transport};
use store::BindingRecord;

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
