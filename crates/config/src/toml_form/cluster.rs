//! The TOML `[cluster]` section.

use serde::Deserialize;
use toml::Spanned;

use super::{Addr, Parsed, Recorder};
use crate::validate::Field;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    redis: Spanned<String>,
    internal: Spanned<Parsed<Addr>>,
    nodes: Option<Spanned<Vec<Parsed<Addr>>>>,
    secret: Spanned<String>,
    key_prefix: Option<Spanned<String>>,
}

pub(super) fn cluster(c: RawCluster, at: &mut Recorder<'_>) -> crate::ClusterSettings {
    let mut cluster = crate::ClusterSettings::new(
        &at.take(c.redis, Field::ClusterRedis, "cluster.redis"),
        at.take(c.internal, Field::ClusterInternal, "cluster.internal")
            .0
             .0,
        &at.take(c.secret, Field::ClusterSecret, "cluster.secret"),
    );
    if let Some(nodes) = at.take_opt(c.nodes, Field::ClusterNodes, "cluster.nodes") {
        cluster.nodes = nodes.into_iter().map(|a| a.0 .0).collect();
    }
    if let Some(p) = at.take_opt(c.key_prefix, Field::ClusterKeyPrefix, "cluster.key_prefix") {
        cluster.key_prefix = p;
    }
    cluster
}
