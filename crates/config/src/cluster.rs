//! `[cluster]`: several nodes sharing location, presence and parked calls through Redis
//! (docs/cluster.md). Absent, the node runs alone on its embedded location table.

use std::net::SocketAddr;

use crate::model::{SipListener, Transport};
use crate::validate::Field;
use crate::ConfigError;

/// How this node joins the cluster. Its `Debug` shows neither the secret nor a password in
/// the Redis URL.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterSettings {
    /// The Redis server every node shares: `redis://host:port/db`, `rediss://...` or
    /// `redis+unix:///path/to/socket`.
    pub redis: String,
    /// This node's address for node-to-node SIP: one of its UDP listeners. Other nodes send
    /// the requests for the phones this node holds there, and it sends theirs from there.
    pub internal: SocketAddr,
    /// The other nodes' internal addresses: the only sources whose requests are relayed to
    /// this node's phones (an outsider cannot inject requests as a node).
    pub nodes: Vec<SocketAddr>,
    /// Signs the flow tokens in the `Path` this node gives its phones' bindings; the same on
    /// every node, at least 16 visible ASCII characters.
    pub secret: String,
    /// The prefix of every Redis key and channel (several clusters may share one Redis).
    pub key_prefix: String,
}

impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `scheme://user:password@host` → `scheme://user:***@host`
        let redis = match (self.redis.find("://"), self.redis.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let auth = &self.redis[s + 3..at];
                let user = auth.split(':').next().unwrap_or("");
                format!("{}{user}:***{}", &self.redis[..s + 3], &self.redis[at..])
            }
            _ => self.redis.clone(),
        };
        f.debug_struct("ClusterSettings")
            .field("redis", &redis)
            .field("internal", &self.internal)
            .field("nodes", &self.nodes)
            .field("secret", &"***")
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl ClusterSettings {
    /// The default of [`ClusterSettings::key_prefix`].
    pub const KEY_PREFIX_DEFAULT: &'static str = "ferroswitch";
    /// The shortest accepted [`ClusterSettings::secret`].
    pub const SECRET_MIN_LEN: usize = 16;

    pub fn new(redis: &str, internal: SocketAddr, secret: &str) -> Self {
        Self {
            redis: redis.to_owned(),
            internal,
            nodes: Vec::new(),
            secret: secret.to_owned(),
            key_prefix: Self::KEY_PREFIX_DEFAULT.to_owned(),
        }
    }
}

/// Whether `url` names a Redis server the client can reach.
pub(crate) fn redis_url_problem(url: &str) -> Option<&'static str> {
    let schemes = ["redis://", "rediss://", "redis+unix://", "unix://"];
    match schemes.iter().find(|s| url.starts_with(**s)) {
        None => Some("must start with redis://, rediss://, redis+unix:// or unix://"),
        Some(s) if url.len() == s.len() => Some("names no host or socket"),
        Some(_) => None,
    }
}

/// The rules of `[cluster]`; `fail` names the setting at fault.
pub(crate) fn check(
    c: &ClusterSettings,
    listeners: &[SipListener],
    fail: impl Fn(Field, String) -> ConfigError,
) -> Result<(), ConfigError> {
    if let Some(problem) = redis_url_problem(&c.redis) {
        return Err(fail(
            Field::ClusterRedis,
            format!("{:?} {problem}", c.redis),
        ));
    }
    if !listeners
        .iter()
        .any(|l| l.transport == Transport::Udp && l.addr == c.internal)
    {
        return Err(fail(
            Field::ClusterInternal,
            format!(
                "{} is not the address of one of this node's UDP listeners (node-to-node SIP \
                 goes over a UDP listener; give its exact address, not 0.0.0.0)",
                c.internal
            ),
        ));
    }
    if c.internal.ip().is_unspecified() {
        return Err(fail(
            Field::ClusterInternal,
            "must be an address other nodes can send to, not 0.0.0.0 or ::".to_owned(),
        ));
    }
    if let Some(n) = c.nodes.iter().find(|n| **n == c.internal) {
        return Err(fail(
            Field::ClusterNodes,
            format!("{n} is this node's own internal address: list the other nodes"),
        ));
    }
    if c.secret.len() < ClusterSettings::SECRET_MIN_LEN
        || !c.secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(fail(
            Field::ClusterSecret,
            format!(
                "must be at least {} visible ASCII characters without spaces (the same on every node)",
                ClusterSettings::SECRET_MIN_LEN
            ),
        ));
    }
    if c.key_prefix.is_empty()
        || c.key_prefix.len() > 64
        || !c
            .key_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(fail(
            Field::ClusterKeyPrefix,
            "must be 1 to 64 letters, digits, '.', '_' or '-'".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_and_the_redis_password() {
        let c = ClusterSettings::new(
            "redis://app:s3cr3t@10.0.0.5:6379/0",
            "127.0.0.1:5060".parse().unwrap(),
            "0123456789abcdefXYZ",
        );
        let d = format!("{c:?}");
        assert!(
            !d.contains("s3cr3t") && !d.contains("0123456789abcdefXYZ"),
            "{d}"
        );
        assert!(d.contains("redis://app:***@10.0.0.5:6379/0"), "{d}");
    }
}
