//! Presence policy, from the server config.

/// Limits and defaults of the presence core. The driver maps the server config onto it
/// (`subscribe-expiration` of the voipswitch `<listener type="registrar">` is
/// `max_expires`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceConfig {
    /// The host part of the canonical URIs the core writes (`sip:{login}@{domain}`): PIDF
    /// `entity`, RLMI resource URIs, `Message-Account`.
    pub domain: String,
    /// SUBSCRIBE: shortest accepted non-zero `Expires` (shorter → 423 with `Min-Expires`).
    pub min_expires: u32,
    /// SUBSCRIBE: longer requests are shortened to this.
    pub max_expires: u32,
    /// PUBLISH: shortest accepted non-zero `Expires`.
    pub publish_min_expires: u32,
    /// PUBLISH: longer requests are shortened to this.
    pub publish_max_expires: u32,
    /// PUBLISH without `Expires` (RFC 3903 leaves the default to the event package; RFC 3856
    /// suggests an hour).
    pub publish_default_expires: u32,
    /// Most live publications of one login; a new one beyond it evicts the one whose body is
    /// oldest.
    pub max_publications_per_login: usize,
    /// Largest PUBLISH body accepted (larger → 413).
    pub max_publish_body: usize,
    /// Most subscriptions one login may hold as a watcher (more → 403).
    pub max_subscriptions_per_login: usize,
    /// Most buddies kept from one buddy list (the rest are dropped, with a warning).
    pub max_list_size: usize,
    /// How long a NOTIFY may stay unanswered before the core gives up on it as if it had got
    /// a 408 (a guard in case the driver loses a transaction; the transaction layer's own
    /// Timer F is 32 s).
    pub notify_guard_ms: u64,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            domain: "localhost".into(),
            min_expires: 60,
            max_expires: 3600,
            publish_min_expires: 60,
            publish_max_expires: 3600,
            publish_default_expires: 3600,
            max_publications_per_login: 16,
            max_publish_body: 64 * 1024,
            max_subscriptions_per_login: 64,
            max_list_size: 2000,
            notify_guard_ms: 40_000,
        }
    }
}
