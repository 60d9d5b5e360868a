//! Counters of the open-internet defences (issue 12): requests dropped from flooding sources
//! ([`crate::flood`]) and TCP/TLS connections refused or closed by the connection limits
//! ([`crate::conn_limits`]).
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `ferroswitch_flood_dropped_total` | counter | — | requests (datagrams, stream messages) dropped because their source sent more than `source_rate` a second |
//! | `ferroswitch_flood_bans_total` | counter | — | sources banned for `source_ban` (one per ban, as the WARN line) |
//! | `ferroswitch_connections_refused_total` | counter | `reason` (`per_ip`, `fd_limit`) | TCP/TLS connections closed as soon as accepted |
//! | `ferroswitch_connections_closed_total` | counter | `reason` (`message_timeout`, `too_large`, `buffered`, `idle`, `shed`) | TCP/TLS connections the limits closed |

use super::Handles;

pub(crate) const FLOOD_DROPPED: &str = "ferroswitch_flood_dropped_total";
pub(crate) const FLOOD_BANS: &str = "ferroswitch_flood_bans_total";
pub(crate) const CONN_REFUSED: &str = "ferroswitch_connections_refused_total";
pub(crate) const CONN_CLOSED: &str = "ferroswitch_connections_closed_total";

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refused {
    PerIp = 0,
    FdLimit = 1,
}

/// Why the limits closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    MessageTimeout = 0,
    TooLarge = 1,
    Buffered = 2,
    Idle = 3,
    Shed = 4,
}

impl Closed {
    pub(crate) fn as_str(self) -> &'static str {
        ["message_timeout", "too_large", "buffered", "idle", "shed"][self as usize]
    }
}

pub(super) fn describe() {
    metrics::describe_counter!(
        FLOOD_DROPPED,
        "Requests dropped because their source exceeded security.source_rate"
    );
    metrics::describe_counter!(
        FLOOD_BANS,
        "Sources banned for exceeding security.source_rate"
    );
    metrics::describe_counter!(
        CONN_REFUSED,
        "TCP/TLS connections closed at accept (per-IP cap, fd limit)"
    );
    metrics::describe_counter!(
        CONN_CLOSED,
        "TCP/TLS connections closed by the connection limits"
    );
}

/// A request of a flooding source was dropped.
pub(crate) fn flood_dropped() {
    static TOTAL: Handles<1> = Handles::new(|_| metrics::counter!(FLOOD_DROPPED));
    TOTAL.get(0).increment(1);
}

/// A source was banned for flooding.
pub(crate) fn flood_banned() {
    static TOTAL: Handles<1> = Handles::new(|_| metrics::counter!(FLOOD_BANS));
    TOTAL.get(0).increment(1);
}

pub(crate) fn conn_refused(why: Refused) {
    static TOTAL: Handles<2> =
        Handles::new(|i| metrics::counter!(CONN_REFUSED, "reason" => ["per_ip", "fd_limit"][i]));
    TOTAL.get(why as usize).increment(1);
}

pub(crate) fn conn_closed(why: Closed) {
    static TOTAL: Handles<5> = Handles::new(
        |i| metrics::counter!(CONN_CLOSED, "reason" => ["message_timeout", "too_large", "buffered", "idle", "shed"][i]),
    );
    TOTAL.get(why as usize).increment(1);
}
