//! The process's metrics, through the `metrics` facade, rendered in the Prometheus text
//! format on the admin API's `GET /metrics`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ferroswitch_push_total` | counter | `event` (`incoming_call`, `missed_call`, `call_ended`), `result` (`ok`, `failed`, `no_hook`) |
//! | `ferroswitch_calls` | gauge | — calls in the B2BUA's table (ringing, up, or finishing) |
//! | `ferroswitch_parked_calls` | gauge | — calls ringing while a pushed device may wake up |
//! | `ferroswitch_push_wakeup_seconds` | histogram | — push posted → the woken device answered or picked the call up |

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub(crate) const PUSH_TOTAL: &str = "ferroswitch_push_total";
pub(crate) const CALLS: &str = "ferroswitch_calls";
pub(crate) const PARKED_CALLS: &str = "ferroswitch_parked_calls";
pub(crate) const PUSH_WAKEUP: &str = "ferroswitch_push_wakeup_seconds";

/// Wake-up buckets, seconds: a woken app takes from a few hundred milliseconds to tens of seconds.
const WAKEUP_BUCKETS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0];

/// Installs the process-wide recorder; `None` (logged) if one is installed already.
pub(crate) fn install() -> Option<PrometheusHandle> {
    let builder = match PrometheusBuilder::new().set_buckets_for_metric(
        metrics_exporter_prometheus::Matcher::Full(PUSH_WAKEUP.into()),
        WAKEUP_BUCKETS,
    ) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("metrics not recorded: {e}");
            return None;
        }
    };
    match builder.install_recorder() {
        Ok(h) => {
            metrics::describe_counter!(PUSH_TOTAL, "Push hook posts by event and result");
            metrics::describe_gauge!(PARKED_CALLS, "Calls parked for a pushed device");
            metrics::describe_gauge!(CALLS, "Calls in the B2BUA's table");
            metrics::describe_histogram!(
                PUSH_WAKEUP,
                metrics::Unit::Seconds,
                "Push posted to the woken device answering or picking the call up"
            );
            Some(h)
        }
        Err(e) => {
            tracing::warn!("metrics not recorded: {e}");
            None
        }
    }
}
