//! The process's metrics, through the `metrics` facade, rendered in the Prometheus text
//! format on the admin API's `GET /metrics`. Names follow the Kamailio/OpenSIPS exporters'
//! shape with our prefix: `_total` counters, gauges without a suffix, `_seconds`/`_bytes` units.
//! Label values are `&'static str`; the per-message counters are pre-registered handles
//! ([`sip`]), so recording costs an atomic add, no lookup, no allocation.
//!
//! The sans-IO cores know nothing of this module: the drivers count what they carry
//! (transports, dispatcher, persist writer, hook callers), and what a core or another driver
//! counts itself (transactions, bindings, calls, relay and STUN counters) is read on a tick:
//! the dispatcher's one-second gauge tick ([`dispatcher_gauges`]) and the five-second
//! [`spawn_upkeep`].
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `ferroswitch_build_info` | gauge | `version` | always 1 |
//! | `ferroswitch_sip_requests_received_total` | counter | `method` | requests that passed parse and sanity (retransmissions included) |
//! | `ferroswitch_sip_requests_sent_total` | counter | `method` | requests sent (retransmissions included) |
//! | `ferroswitch_sip_responses_received_total` | counter | `method`, `code_class` | responses received, by CSeq method and class (`1xx`..`6xx`) |
//! | `ferroswitch_sip_responses_sent_total` | counter | `method`, `code_class` | responses sent, stateless ones (400 at the edge) included |
//! | `ferroswitch_sip_dropped_total` | counter | `reason` (`unparsable`, `malformed`) | messages dropped or refused at the edge |
//! | `ferroswitch_sip_transactions` | gauge | — | transactions in the transaction layer (all four kinds) |
//! | `ferroswitch_registered_users` | gauge | — | logins with at least one live contact |
//! | `ferroswitch_registrations` | gauge | `transport` | logins with at least one live contact over that transport |
//! | `ferroswitch_contacts` | gauge | `transport` | live contacts (bindings) |
//! | `ferroswitch_calls` | gauge | — | calls in the B2BUA's table (ringing, up, or finishing) |
//! | `ferroswitch_parked_calls` | gauge | — | calls ringing while a pushed device may wake up |
//! | `ferroswitch_calls_total` | counter | `result` (see [`call_result`]) | call attempts ended (one per CDR) |
//! | `ferroswitch_push_total` | counter | `event`, `result` (`ok`, `failed`, `no_hook`) | push events posted |
//! | `ferroswitch_push_wakeup_seconds` | histogram | — | push posted → the woken device answered or picked the call up |
//! | `ferroswitch_db_write_queue` | gauge | — | writes queued or being retried by the storage writer |
//! | `ferroswitch_db_rows_written_total` | counter | `table` | rows the storage writer wrote |
//! | `ferroswitch_db_write_errors_total` | counter | `table`, `action` (`retried`, `dropped`) | failed write batches |
//! | `ferroswitch_hook_requests_total` | counter | `hook` (`buddy_list`, `push`, `sms_out`), `result` (`ok`, `failed`) | operator API calls (retries inside one call not counted) |
//! | `ferroswitch_hook_duration_seconds` | histogram | `hook` | operator API call latency, retries included |
//! | `ferroswitch_relay_sessions` | gauge | — | media relay sessions |
//! | `ferroswitch_relay_packets_total` | counter | `outcome` (`relayed`, `dropped`) | datagrams received on relay ports |
//! | `ferroswitch_relay_bytes_total` | counter | — | bytes relayed |
//! | `ferroswitch_stun_answers_total` | counter | `listener` (`stun`, `sip`), `result` (`success`, `error`) | STUN Binding responses sent |
//! | `ferroswitch_tls_handshakes_total` | counter | `result` (`ok`, `failed`, `timeout`) | inbound TLS handshakes |
//! | `ferroswitch_tls_certificate_expiry_timestamp_seconds` | gauge | — | the loaded certificate's notAfter, seconds since the epoch |
//! | `ferroswitch_process_resident_memory_bytes` | gauge | — | RSS |
//! | `ferroswitch_process_open_fds` | gauge | — | open file descriptors |
//! | `ferroswitch_process_start_time_seconds` | gauge | — | start time, seconds since the epoch |
//! | `ferroswitch_uptime_seconds` | gauge | — | seconds since start |
//!
//! The flood and connection-limit counters are listed in [`limits`].

pub(crate) mod limits;
pub(crate) mod process;
pub(crate) mod sip;
pub(crate) mod tls;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub(crate) const BUILD_INFO: &str = "ferroswitch_build_info";
pub(crate) const REQUESTS_RECEIVED: &str = "ferroswitch_sip_requests_received_total";
pub(crate) const REQUESTS_SENT: &str = "ferroswitch_sip_requests_sent_total";
pub(crate) const RESPONSES_RECEIVED: &str = "ferroswitch_sip_responses_received_total";
pub(crate) const RESPONSES_SENT: &str = "ferroswitch_sip_responses_sent_total";
pub(crate) const DROPPED: &str = "ferroswitch_sip_dropped_total";
pub(crate) const SHARD_HANDOFFS: &str = "ferroswitch_shard_handoffs_total";
pub(crate) const SHARD_KEPT: &str = "ferroswitch_shard_kept_invites_total";
pub(crate) const SHARDS_MERGED: &str = "ferroswitch_shards_merged";
pub(crate) const TRANSACTIONS: &str = "ferroswitch_sip_transactions";
pub(crate) const REGISTERED_USERS: &str = "ferroswitch_registered_users";
pub(crate) const REGISTRATIONS: &str = "ferroswitch_registrations";
pub(crate) const CONTACTS: &str = "ferroswitch_contacts";
pub(crate) const CALLS: &str = "ferroswitch_calls";
pub(crate) const PARKED_CALLS: &str = "ferroswitch_parked_calls";
pub(crate) const CALLS_TOTAL: &str = "ferroswitch_calls_total";
pub(crate) const PUSH_TOTAL: &str = "ferroswitch_push_total";
pub(crate) const PUSH_WAKEUP: &str = "ferroswitch_push_wakeup_seconds";
pub(crate) const DB_WRITE_QUEUE: &str = "ferroswitch_db_write_queue";
pub(crate) const DB_ROWS_WRITTEN: &str = "ferroswitch_db_rows_written_total";
pub(crate) const DB_WRITE_ERRORS: &str = "ferroswitch_db_write_errors_total";
pub(crate) const HOOK_REQUESTS: &str = "ferroswitch_hook_requests_total";
pub(crate) const HOOK_DURATION: &str = "ferroswitch_hook_duration_seconds";
pub(crate) const RELAY_SESSIONS: &str = "ferroswitch_relay_sessions";
pub(crate) const RELAY_PACKETS: &str = "ferroswitch_relay_packets_total";
pub(crate) const RELAY_BYTES: &str = "ferroswitch_relay_bytes_total";
pub(crate) const STUN_ANSWERS: &str = "ferroswitch_stun_answers_total";
pub(crate) const TLS_HANDSHAKES: &str = "ferroswitch_tls_handshakes_total";
pub(crate) const TLS_CERT_EXPIRY: &str = "ferroswitch_tls_certificate_expiry_timestamp_seconds";
pub(crate) const AUTH_FAILURES: &str = "ferroswitch_auth_failures_total";
pub(crate) const AUTH_DROPPED: &str = "ferroswitch_auth_throttled_dropped_total";
pub(crate) const PROCESS_RSS: &str = "ferroswitch_process_resident_memory_bytes";
pub(crate) const PROCESS_FDS: &str = "ferroswitch_process_open_fds";
pub(crate) const PROCESS_START: &str = "ferroswitch_process_start_time_seconds";
pub(crate) const UPTIME: &str = "ferroswitch_uptime_seconds";

/// Wake-up buckets, seconds: a woken app takes from a few hundred milliseconds to tens of seconds.
const WAKEUP_BUCKETS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0];
/// Hook latency buckets, seconds: a local API answers in milliseconds, the hook client gives
/// up after its timeout and retries (several seconds).
const HOOK_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide recorder; `None` (logged) if one is installed already.
pub(crate) fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(PUSH_WAKEUP.into()), WAKEUP_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(HOOK_DURATION.into()), HOOK_BUCKETS));
    let builder = match builder {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("metrics not recorded: {e}");
            return None;
        }
    };
    match builder.install_recorder() {
        Ok(h) => {
            describe();
            process::started();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(h)
        }
        Err(e) => {
            tracing::warn!("metrics not recorded: {e}");
            None
        }
    }
}

fn describe() {
    use metrics::{describe_counter as c, describe_gauge as g, describe_histogram as h};
    g!(BUILD_INFO, "Always 1; the version in a label");
    limits::describe();
    c!(REQUESTS_RECEIVED, "SIP requests received, by method");
    c!(REQUESTS_SENT, "SIP requests sent, by method");
    c!(
        RESPONSES_RECEIVED,
        "SIP responses received, by CSeq method and code class"
    );
    c!(
        RESPONSES_SENT,
        "SIP responses sent, by CSeq method and code class"
    );
    c!(DROPPED, "SIP messages dropped or refused at the edge");
    c!(
        SHARD_HANDOFFS,
        "Datagrams read by one core shard and handed to the shard that owns them: unparsed (parsed=no, the owner found in the raw bytes) or parsed (the raw scan was not sure, or the shards are merged on one task)"
    );
    c!(
        SHARD_KEPT,
        "INVITEs a core shard kept where they landed instead of handing them to their Call-ID's shard (the shards were merged on one task): their calls live there"
    );
    g!(
        SHARDS_MERGED,
        "1 while one task drives every core shard (the load fits one core), 0 while each has a task of its own"
    );
    c!(
        AUTH_FAILURES,
        "Failed authentications (403 or bad credentials), by method"
    );
    c!(
        AUTH_DROPPED,
        "Requests dropped because their source is throttled for failed authentications"
    );
    g!(TRANSACTIONS, "SIP transactions in use");
    g!(REGISTERED_USERS, "Logins with at least one live contact");
    g!(
        REGISTRATIONS,
        "Logins with at least one live contact, by transport"
    );
    g!(CONTACTS, "Live contacts (bindings), by transport");
    g!(CALLS, "Calls in the B2BUA's table");
    g!(PARKED_CALLS, "Calls parked for a pushed device");
    c!(CALLS_TOTAL, "Call attempts ended, by result");
    c!(PUSH_TOTAL, "Push hook posts by event and result");
    h!(
        PUSH_WAKEUP,
        Unit::Seconds,
        "Push posted to the woken device answering or picking the call up"
    );
    g!(DB_WRITE_QUEUE, "Database writes queued or being retried");
    c!(
        DB_ROWS_WRITTEN,
        "Rows written by the storage writer, by table"
    );
    c!(
        DB_WRITE_ERRORS,
        "Failed database write batches, by table and action"
    );
    c!(
        HOOK_REQUESTS,
        "Operator API (hook) calls, by hook and result"
    );
    h!(
        HOOK_DURATION,
        Unit::Seconds,
        "Operator API (hook) call latency"
    );
    g!(RELAY_SESSIONS, "Media relay sessions");
    c!(
        RELAY_PACKETS,
        "Datagrams received on media relay ports, by outcome"
    );
    c!(RELAY_BYTES, Unit::Bytes, "Bytes relayed by the media relay");
    c!(
        STUN_ANSWERS,
        "STUN Binding responses sent, by listener and result"
    );
    c!(TLS_HANDSHAKES, "Inbound TLS handshakes, by result");
    g!(
        TLS_CERT_EXPIRY,
        Unit::Seconds,
        "The TLS certificate's notAfter, seconds since the epoch"
    );
    g!(PROCESS_RSS, Unit::Bytes, "Resident memory");
    g!(PROCESS_FDS, "Open file descriptors");
    g!(
        PROCESS_START,
        Unit::Seconds,
        "Start time, seconds since the epoch"
    );
    g!(UPTIME, Unit::Seconds, "Seconds since start");
}

/// Lazily registered counters, one per index.
pub(crate) struct Handles<const N: usize> {
    make: fn(usize) -> Counter,
    cells: [OnceLock<Counter>; N],
}

impl<const N: usize> Handles<N> {
    pub(crate) const fn new(make: fn(usize) -> Counter) -> Self {
        Self {
            make,
            cells: [const { OnceLock::new() }; N],
        }
    }

    pub(crate) fn get(&self, i: usize) -> &Counter {
        self.cells[i].get_or_init(|| (self.make)(i))
    }
}

/// Every value of the `result` label of `ferroswitch_calls_total`.
const CALL_RESULTS: [&str; 7] = [
    "answered",
    "busy",
    "cancelled",
    "no_answer",
    "not_found",
    "rejected",
    "failed",
];

/// The result label of `ferroswitch_calls_total` for a call that ended with `final_code`
/// sent to the caller: `answered` (2xx), `busy` (486, 600), `cancelled` (487: the caller gave
/// up), `no_answer` (408, 480), `not_found` (404, 484, 604), `rejected` (403, 603 and other
/// 4xx), `failed` (5xx and anything else).
pub(crate) fn call_result(final_code: u16) -> &'static str {
    match final_code {
        200..=299 => "answered",
        486 | 600 => "busy",
        487 => "cancelled",
        408 | 480 => "no_answer",
        404 | 484 | 604 => "not_found",
        403 | 603 | 400..=499 => "rejected",
        _ => "failed",
    }
}

/// A call attempt ended (its CDR).
pub(crate) fn call_ended(cdr: &b2bua::Cdr) {
    static TOTAL: Handles<{ CALL_RESULTS.len() }> =
        Handles::new(|i| metrics::counter!(CALLS_TOTAL, "result" => CALL_RESULTS[i]));
    let result = call_result(cdr.final_code);
    let i = CALL_RESULTS.iter().position(|r| *r == result).unwrap_or(0);
    TOTAL.get(i).increment(1);
    if let Some(ms) = cdr.wakeup_ms {
        metrics::histogram!(PUSH_WAKEUP).record(ms as f64 / 1000.0);
    }
}

/// The dispatcher's gauges, set on its one-second tick: what the cores hold.
pub(crate) fn dispatcher_gauges(
    shard: usize,
    location: &registrar::Location,
    calls: &b2bua::Calls,
    transactions: usize,
    now: Instant,
) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    // each core shard's figures; the gauges are their sums (`shards.rs`: at most 256 shards)
    static PER_SHARD: [[AtomicUsize; 3]; 256] = [const { [const { AtomicUsize::new(0) }; 3] }; 256];
    let mine = &PER_SHARD[shard % 256];
    mine[0].store(transactions, Relaxed);
    mine[1].store(calls.parked(), Relaxed);
    mine[2].store(calls.len(), Relaxed);
    let sum = |i: usize| PER_SHARD.iter().map(|s| s[i].load(Relaxed)).sum::<usize>() as f64;
    metrics::gauge!(TRANSACTIONS).set(sum(0));
    metrics::gauge!(PARKED_CALLS).set(sum(1));
    metrics::gauge!(CALLS).set(sum(2));
    // the location table is shared: the first shard counts it
    if shard != 0 {
        return;
    }
    let reg = sip::count_registrations(location, now);
    metrics::gauge!(REGISTERED_USERS).set(reg.users as f64);
    for (i, t) in sip::TRANSPORTS.iter().enumerate() {
        metrics::gauge!(REGISTRATIONS, "transport" => *t).set(reg.users_by_transport[i] as f64);
        metrics::gauge!(CONTACTS, "transport" => *t).set(reg.contacts_by_transport[i] as f64);
    }
}

/// The operator API's hooks, as labelled.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hook {
    BuddyList = 0,
    Push = 1,
    SmsOut = 2,
}

const HOOKS: [&str; 3] = ["buddy_list", "push", "sms_out"];

/// Times one operator API call and counts its result.
pub(crate) async fn hook_call<T, E>(
    hook: Hook,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    static DURATION: [OnceLock<Histogram>; 3] = [const { OnceLock::new() }; 3];
    // hook i: ok at 2i, failed at 2i + 1
    static REQUESTS: Handles<6> = Handles::new(
        |i| metrics::counter!(HOOK_REQUESTS, "hook" => HOOKS[i / 2], "result" => ["ok", "failed"][i % 2]),
    );
    let h = hook as usize;
    let started = Instant::now();
    let r = call.await;
    DURATION[h]
        .get_or_init(|| metrics::histogram!(HOOK_DURATION, "hook" => HOOKS[h]))
        .record(started.elapsed().as_secs_f64());
    REQUESTS.get(2 * h + usize::from(r.is_err())).increment(1);
    r
}

/// The methods that authenticate, in the `method` label of `ferroswitch_auth_failures_total`.
const AUTH_METHODS: [&str; 6] = [
    "REGISTER",
    "INVITE",
    "MESSAGE",
    "SUBSCRIBE",
    "PUBLISH",
    "other",
];

/// A failed authentication of a `method` request.
pub(crate) fn auth_failed(method: &str) {
    static TOTAL: Handles<6> =
        Handles::new(|i| metrics::counter!(AUTH_FAILURES, "method" => AUTH_METHODS[i]));
    let i = AUTH_METHODS[..5]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(5);
    TOTAL.get(i).increment(1);
}

/// A request of a throttled source was dropped.
pub(crate) fn auth_dropped() {
    static TOTAL: Handles<1> = Handles::new(|_| metrics::counter!(AUTH_DROPPED));
    TOTAL.get(0).increment(1);
}

/// An inbound TLS handshake ended.
pub(crate) fn tls_handshake(result: Handshake) {
    static TOTAL: Handles<3> = Handles::new(
        |i| metrics::counter!(TLS_HANDSHAKES, "result" => ["ok", "failed", "timeout"][i]),
    );
    TOTAL.get(result as usize).increment(1);
}

/// How an inbound TLS handshake ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handshake {
    Ok = 0,
    Failed = 1,
    Timeout = 2,
}

/// A STUN Binding request on a SIP UDP socket was answered (`success`) or refused (`error`).
pub(crate) fn stun_on_sip_answered(success: bool) {
    static TOTAL: Handles<2> = Handles::new(
        |i| metrics::counter!(STUN_ANSWERS, "listener" => "sip", "result" => ["success", "error"][i]),
    );
    TOTAL.get(usize::from(!success)).increment(1);
}

/// What the upkeep task copies from other drivers' own counters.
static RELAY: OnceLock<media_io::RelayHandle> = OnceLock::new();
static STUN: OnceLock<Arc<media_io::StunCounters>> = OnceLock::new();

/// The media relay whose sessions and counters [`spawn_upkeep`] reports.
pub(crate) fn watch_relay(handle: media_io::RelayHandle) {
    let _ = RELAY.set(handle);
}

/// The STUN listener whose counters [`spawn_upkeep`] reports.
pub(crate) fn watch_stun(counters: Arc<media_io::StunCounters>) {
    let _ = STUN.set(counters);
}

/// How often the upkeep task runs.
const UPKEEP: Duration = Duration::from_secs(5);

/// Every five seconds: summarises the histograms (not at every render), reads the process's
/// memory and descriptors and copies the relay's and the STUN listener's counters.
pub(crate) fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            handle.run_upkeep();
            process::record();
            if let Some(r) = RELAY.get() {
                let c = r.counters();
                metrics::gauge!(RELAY_SESSIONS).set(r.sessions() as f64);
                let relayed = c.relayed.load(std::sync::atomic::Ordering::Relaxed);
                let dropped = c.dropped.load(std::sync::atomic::Ordering::Relaxed);
                let bytes = c.relayed_bytes.load(std::sync::atomic::Ordering::Relaxed);
                metrics::counter!(RELAY_PACKETS, "outcome" => "relayed").absolute(relayed);
                metrics::counter!(RELAY_PACKETS, "outcome" => "dropped").absolute(dropped);
                metrics::counter!(RELAY_BYTES).absolute(bytes);
            }
            if let Some(s) = STUN.get() {
                let ok = s.answered.load(std::sync::atomic::Ordering::Relaxed);
                let err = s.errors.load(std::sync::atomic::Ordering::Relaxed);
                metrics::counter!(STUN_ANSWERS, "listener" => "stun", "result" => "success")
                    .absolute(ok);
                metrics::counter!(STUN_ANSWERS, "listener" => "stun", "result" => "error")
                    .absolute(err);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_codes_map_to_call_results() {
        for (code, result) in [
            (200, "answered"),
            (202, "answered"),
            (486, "busy"),
            (600, "busy"),
            (487, "cancelled"),
            (480, "no_answer"),
            (408, "no_answer"),
            (404, "not_found"),
            (484, "not_found"),
            (604, "not_found"),
            (403, "rejected"),
            (603, "rejected"),
            (488, "rejected"),
            (503, "failed"),
            (500, "failed"),
            (0, "failed"),
        ] {
            assert_eq!(call_result(code), result, "{code}");
        }
    }
}
