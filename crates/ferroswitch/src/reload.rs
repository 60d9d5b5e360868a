//! Live reload (SIGHUP, `POST /api/reload`, `ferroswitch reload`): the config file is read
//! again, compared with the running one, and what can change without a restart is applied.
//!
//! ```text
//! file ─ ferroswitch_config::load ─▶ diff(running, new) ─▶ ReloadReport { applied, needs_restart }
//!   (an error: file:line:key,          │
//!    the running config stays)         ├─ TLS: a new rustls ServerConfig swapped into the ArcSwap
//!                                      ├─ log.level: the tracing filter's reload handle
//!                                      ├─ Input::Reload(LiveSettings) ─▶ the dispatcher (registrar,
//!                                      │    calls, trusted peers, hooks, purge interval)
//!                                      └─ the routing tables read again at once
//! ```
//!
//! [`diff`] is a pure function of two configs. Everything that can fail (the config, the TLS
//! files, the hook endpoints, the log filter) is built before anything is applied, so a reload
//! is applied whole or not at all. Keys that only take effect at a restart (listeners, the
//! database, the node id, ...) are reported, and the running config keeps their old values so
//! that the next reload reports them again.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ferroswitch_config::Config;
use rustls::pki_types::CertificateDer;
use serde::Serialize;
use tokio::sync::{mpsc, Mutex, Notify};

use crate::dispatcher::Input;

/// What a reload did: the keys (in the TOML form's terms) that were applied, and the changed
/// keys that take effect only at the next restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct ReloadReport {
    pub(crate) applied: Vec<String>,
    pub(crate) needs_restart: Vec<String>,
}

/// Why a reload was refused; the running config stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ReloadError {
    /// The file does not load: `file:line: key: message`.
    #[error(transparent)]
    Config(#[from] ferroswitch_config::ConfigError),
    /// The TLS certificate or key (as now configured) cannot be used.
    #[error("{key}: {message}")]
    Tls { key: &'static str, message: String },
    /// A hook endpoint cannot be built.
    #[error("{key}: {message}")]
    Hooks { key: &'static str, message: String },
    /// The log filter refused the new level.
    #[error("log.level: {message}")]
    Log { message: String },
}

/// Whether a key is applied live or needs a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Live,
    Restart,
}

/// Every key of the model, with how it changes and a way to compare it (its `Debug` text).
type KeyOf = fn(&Config) -> String;
const KEYS: &[(&str, Kind, KeyOf)] = &[
    ("node_id", Kind::Restart, |c| c.node_id.clone()),
    ("shutdown_timeout", Kind::Live, |c| {
        format!("{:?}", c.shutdown_timeout)
    }),
    // what a listener is, not where it was written (`origin` moves with every edit)
    ("listener", Kind::Restart, |c| {
        let l = c.listeners.iter();
        format!(
            "{:?}",
            l.map(|l| (l.addr, l.transport, l.role, l.advertise))
                .collect::<Vec<_>>()
        )
    }),
    ("tls", Kind::Live, |c| format!("{:?}", c.tls)),
    ("registrar.realm", Kind::Restart, |c| {
        c.registrar.realm.clone()
    }),
    ("registrar.min_expires", Kind::Live, |c| {
        c.registrar.min_expires.to_string()
    }),
    ("registrar.max_expires", Kind::Live, |c| {
        c.registrar.max_expires.to_string()
    }),
    ("registrar.default_expires", Kind::Live, |c| {
        c.registrar.default_expires.to_string()
    }),
    ("registrar.subscribe_expiration", Kind::Restart, |c| {
        c.registrar.subscribe_expiration.to_string()
    }),
    ("registrar.nonce_lifetime", Kind::Live, |c| {
        c.registrar.nonce_lifetime.to_string()
    }),
    ("registrar.nonce_secret", Kind::Restart, |c| {
        format!("{:?}", c.registrar.nonce_secret)
    }),
    ("registrar.algorithms", Kind::Live, |c| {
        format!("{:?}", c.registrar.algorithms)
    }),
    ("registrar.purge_interval", Kind::Live, |c| {
        c.registrar.purge_interval.to_string()
    }),
    ("registrar.contact_routing", Kind::Restart, |c| {
        format!("{:?}", c.registrar.contact_routing)
    }),
    ("registrar.domain", Kind::Restart, |c| {
        format!("{:?}", c.registrar.domain)
    }),
    ("security", Kind::Live, |c| format!("{:?}", c.security)),
    ("database", Kind::Restart, |c| c.database.url.clone()),
    // the built-in voicemail's socket, directory, prompts and limits are set at start
    ("voicemail", Kind::Restart, |c| format!("{:?}", c.voicemail)),
    ("database.keep_plain_passwords", Kind::Restart, |c| {
        c.database.keep_plain_passwords.to_string()
    }),
    ("stun", Kind::Restart, |c| {
        format!("{:?}", c.stun.as_ref().map(|s| s.addr))
    }),
    ("admin.listen", Kind::Restart, |c| {
        format!("{:?}", c.admin.as_ref().map(|a| a.listen))
    }),
    // the token's Debug hides it: compare the secret itself
    ("admin.token", Kind::Restart, |c| {
        let t = c.admin.as_ref().and_then(|a| a.token.as_ref());
        format!("{:?}", t.map(|t| t.expose().to_owned()))
    }),
    // the keys' Debug hides them: compared apart
    ("api", Kind::Restart, |c| format!("{:?}", c.api)),
    ("api.jwt_key", Kind::Restart, |c| {
        let k = c.api.as_ref().map(|a| {
            let prev = a.jwt_previous_key.as_ref().map(|p| p.expose().to_owned());
            (a.jwt_key.expose().to_owned(), prev)
        });
        format!("{k:?}")
    }),
    ("web_service", Kind::Live, |c| {
        format!("{:?}", c.web_service)
    }),
    ("push_service", Kind::Live, |c| {
        format!("{:?}", c.push_service)
    }),
    ("push_service.push_timeout", Kind::Live, |c| {
        format!("{:?}", c.push.timeout)
    }),
    ("push_service.push_delay", Kind::Live, |c| {
        format!("{:?}", c.push.delay)
    }),
    ("push_service.providers", Kind::Live, |c| {
        format!("{:?}", c.push.providers)
    }),
    ("push_service.system_content_types", Kind::Live, |c| {
        format!("{:?}", c.push.system_content_types)
    }),
    ("push_service.system_body_prefix", Kind::Live, |c| {
        c.push.system_body_prefix.clone()
    }),
    ("push_service.max_in_flight", Kind::Restart, |c| {
        c.push.max_in_flight.to_string()
    }),
    ("sms_service", Kind::Live, |c| {
        format!("{:?}", c.sms_service)
    }),
    ("log.level", Kind::Live, |c| c.log.level.clone()),
    ("log.format", Kind::Restart, |c| {
        format!("{:?}", c.log.format)
    }),
    ("calls.call_timeout", Kind::Live, |c| {
        format!("{:?}", c.calls.call_timeout)
    }),
    ("calls.gateway_timeout", Kind::Live, |c| {
        format!("{:?}", c.calls.gateway_timeout)
    }),
    ("calls.max_duration", Kind::Live, |c| {
        format!("{:?}", c.calls.max_duration)
    }),
    ("calls.message_timeout", Kind::Restart, |c| {
        format!("{:?}", c.calls.message_timeout)
    }),
    ("calls.session_expires", Kind::Live, |c| {
        format!("{:?}", c.calls.session_expires)
    }),
    ("calls.min_se", Kind::Live, |c| {
        format!("{:?}", c.calls.min_se)
    }),
    ("calls.billing", Kind::Restart, |c| {
        c.calls.billing.to_string()
    }),
    ("media", Kind::Restart, |c| {
        let m = c.media.as_ref();
        format!(
            "{:?}",
            m.map(|m| (
                m.public_address,
                m.public_address_v6,
                m.bind_address,
                m.port_min,
                m.port_max,
                m.anchor_onnet
            ))
        )
    }),
    ("media.inactivity_timeout", Kind::Live, |c| {
        format!("{:?}", c.media.as_ref().map(|m| m.inactivity_timeout))
    }),
    ("trusted_peers", Kind::Live, |c| {
        format!("{:?}", c.trusted_peers)
    }),
    ("dns.servers", Kind::Restart, |c| {
        format!("{:?}", c.dns.servers)
    }),
    // voicemail to email: the mailer is started with the server (compared only, never
    // printed: the password is part of the value)
    ("smtp", Kind::Restart, |c| {
        c.smtp
            .as_ref()
            .map(|s| format!("{s:?}\0{:?}", s.password))
            .unwrap_or_default()
    }),
    // compared only, never printed: the secret is part of the value
    ("cluster", Kind::Restart, |c| {
        c.cluster.as_ref().map_or_else(String::new, |c| {
            format!(
                "{}\0{}\0{:?}\0{}\0{}",
                c.redis, c.internal, c.nodes, c.secret, c.key_prefix
            )
        })
    }),
    // compared only, never printed: the password is part of the value
    ("trunk", Kind::Restart, |c| {
        c.trunks
            .iter()
            .map(|t| {
                format!(
                    "{}\0{}\0{}\0{:?}\n",
                    t.gateway, t.username, t.password, t.tls_ca_file
                )
            })
            .collect()
    }),
];

/// The changed keys between the running config and a newly loaded one, split into those a
/// reload applies and those that need a restart.
pub(crate) fn diff(running: &Config, new: &Config) -> ReloadReport {
    let mut report = ReloadReport::default();
    for (key, kind, of) in KEYS {
        if of(running) == of(new) {
            continue;
        }
        match kind {
            Kind::Live => report.applied.push((*key).to_owned()),
            Kind::Restart => report.needs_restart.push((*key).to_owned()),
        }
    }
    // `shards` as the file says it: left out of the file, the running count (one per core, or
    // `--shards`/FERRO_SHARDS) is no change
    if new.shards.is_some() && new.shards != running.shards {
        report.needs_restart.push("shards".to_owned());
    }
    if new.udp_steering != running.udp_steering {
        report.needs_restart.push("udp_steering".to_owned());
    }
    // `shard_merge` as the file says it: left out, the running way (`--shard-merge`) stays
    if new.shard_merge.is_some() && new.shard_merge != running.shard_merge {
        report.applied.push("shard_merge".to_owned());
    }
    report
}

/// The running config once `new` is applied: its live keys, and the running values of the
/// keys that need a restart.
fn adopt_live(running: &Config, new: &Config) -> Config {
    let mut next = running.clone();
    next.shutdown_timeout = new.shutdown_timeout;
    next.tls.clone_from(&new.tls);
    let (r, n) = (&mut next.registrar, &new.registrar);
    r.min_expires = n.min_expires;
    r.max_expires = n.max_expires;
    r.default_expires = n.default_expires;
    r.nonce_lifetime = n.nonce_lifetime;
    r.algorithms.clone_from(&n.algorithms);
    r.purge_interval = n.purge_interval;
    next.web_service.clone_from(&new.web_service);
    next.push_service.clone_from(&new.push_service);
    next.sms_service.clone_from(&new.sms_service);
    let max_in_flight = next.push.max_in_flight;
    next.push.clone_from(&new.push);
    next.push.max_in_flight = max_in_flight;
    next.log.level.clone_from(&new.log.level);
    next.calls.clone_from(&new.calls);
    next.trusted_peers.clone_from(&new.trusted_peers);
    next.security.clone_from(&new.security);
    if let (Some(m), Some(n)) = (&mut next.media, &new.media) {
        m.inactivity_timeout = n.inactivity_timeout;
    }
    if new.shard_merge.is_some() {
        next.shard_merge = new.shard_merge;
    }
    next
}

/// What the dispatcher applies at a reload ([`Input::Reload`]).
pub(crate) struct LiveSettings {
    pub(crate) registrar: registrar::RegistrarConfig,
    pub(crate) calls: b2bua::B2buaConfig,
    pub(crate) trusted: Vec<IpAddr>,
    pub(crate) system_commands: messaging::SystemCommands,
    /// The operator API client, when a hook section changed (`Some(None)`: no hook any more).
    pub(crate) hooks: Option<Option<hooks::HookClient>>,
    /// Told once the dispatcher applied these: a reload returns when they are in force.
    pub(crate) applied: Option<tokio::sync::oneshot::Sender<()>>,
    /// `[security]`: when a source is throttled for failed authentications.
    pub(crate) auth_limits: crate::security::Limits,
    /// `[security]`: requests per source per second.
    pub(crate) flood_limits: crate::flood::Limits,
    /// `[security]`: TCP/TLS connection limits.
    pub(crate) stream_limits: crate::conn_limits::StreamLimits,
}

impl std::fmt::Debug for LiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSettings")
            .field("trusted", &self.trusted)
            .field("hooks_changed", &self.hooks.is_some())
            .finish_non_exhaustive()
    }
}

impl LiveSettings {
    /// A copy for one core shard, told `applied` instead (`shards.rs`: the reload returns
    /// once every shard applied it).
    pub(crate) fn for_shard(&self, applied: tokio::sync::oneshot::Sender<()>) -> Self {
        Self {
            registrar: self.registrar.clone(),
            calls: self.calls.clone(),
            trusted: self.trusted.clone(),
            system_commands: self.system_commands.clone(),
            hooks: self.hooks.clone(),
            applied: Some(applied),
            auth_limits: self.auth_limits,
            flood_limits: self.flood_limits,
            stream_limits: self.stream_limits,
        }
    }

    pub(crate) fn from_config(config: &Config, hooks: Option<Option<hooks::HookClient>>) -> Self {
        Self {
            registrar: crate::server::registrar_config(config),
            calls: crate::server::b2bua_config(config),
            trusted: config.trusted_peers.clone(),
            system_commands: messaging::SystemCommands {
                content_types: config.push.system_content_types.clone(),
                body_prefix: config.push.system_body_prefix.clone(),
            },
            hooks,
            applied: None,
            auth_limits: (&config.security).into(),
            flood_limits: (&config.security).into(),
            stream_limits: (&config.security).into(),
        }
    }
}

/// The TLS server config new handshakes use; connections keep the one they started with.
pub(crate) type TlsConfig = Arc<ArcSwap<rustls::ServerConfig>>;

/// Sets the log filter (an `EnvFilter` directive); `Err` says why it was refused.
pub(crate) type LogReload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The config in force, and the certificate chain TLS handshakes present.
struct Running {
    config: Config,
    tls_chain: Vec<CertificateDer<'static>>,
}

/// Carries out reloads; one at a time.
pub(crate) struct Reloader {
    path: PathBuf,
    running: Mutex<Running>,
    tls: Option<TlsConfig>,
    /// `None` when `RUST_LOG` set the filter at start: the environment wins over the file.
    log: Option<LogReload>,
    inputs: mpsc::UnboundedSender<Input>,
    routing: Arc<Notify>,
    /// The media relay, once started: its inactivity timeout changes live.
    media: std::sync::Mutex<Option<media_io::RelayHandle>>,
    /// How the core shards are driven (with several): `shard_merge` changes live.
    shard_merge: std::sync::OnceLock<crate::shard_drive::MergeSetting>,
}

impl Reloader {
    pub(crate) fn new(
        running: Config,
        tls: Option<(TlsConfig, Vec<CertificateDer<'static>>)>,
        log: Option<LogReload>,
        inputs: mpsc::UnboundedSender<Input>,
        routing: Arc<Notify>,
    ) -> Self {
        let (tls, tls_chain) = match tls {
            Some((cfg, chain)) => (Some(cfg), chain),
            None => (None, Vec::new()),
        };
        Self {
            path: running.source.clone(),
            running: Mutex::new(Running {
                config: running,
                tls_chain,
            }),
            tls,
            log,
            inputs,
            routing,
            media: std::sync::Mutex::new(None),
            shard_merge: std::sync::OnceLock::new(),
        }
    }

    /// The core shards' driver started (with several): a reload sets how they are driven.
    pub(crate) fn set_shard_merge(&self, setting: crate::shard_drive::MergeSetting) {
        let _ = self.shard_merge.set(setting);
    }

    /// The media relay started: a reload sets its inactivity timeout.
    pub(crate) fn set_media(&self, relay: media_io::RelayHandle) {
        *self
            .media
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(relay);
    }

    /// The shutdown timeout in force.
    pub(crate) async fn shutdown_timeout(&self) -> std::time::Duration {
        self.running.lock().await.config.shutdown_timeout
    }

    /// Reads the config file again and applies what changed (see the module doc). Logs the
    /// outcome either way.
    /// The routing tables changed (the admin API wrote them): re-read them now.
    pub(crate) fn routing_changed(&self) {
        self.routing.notify_one();
    }

    pub(crate) async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        // systemd (Type=notify) shows the unit as reloading until READY=1 again
        crate::notify::reloading();
        let result = self.reload_inner().await;
        crate::notify::ready();
        match &result {
            Ok(r) => {
                tracing::info!(config = %self.path.display(), applied = ?r.applied, needs_restart = ?r.needs_restart, "config reloaded");
                for key in &r.needs_restart {
                    tracing::warn!(%key, "config reload: {key} changed; it needs a restart");
                }
            }
            Err(e) => {
                tracing::error!(config = %self.path.display(), "config reload refused, the running config stays: {e}")
            }
        }
        result
    }

    async fn reload_inner(&self) -> Result<ReloadReport, ReloadError> {
        let mut running = self.running.lock().await;
        let new = ferroswitch_config::load(&self.path)?;
        let mut report = diff(&running.config, &new);
        // Build everything that can fail first: nothing is applied unless all of it is good.
        let tls = match (&self.tls, &new.tls) {
            (Some(current), Some(settings)) => {
                let (cfg, chain) =
                    crate::tls::server_config(settings).map_err(|e| ReloadError::Tls {
                        key: "tls.certificate",
                        message: format!("{e:#}"),
                    })?;
                if chain != running.tls_chain && !report.applied.iter().any(|k| k == "tls") {
                    // same files, new content: a renewed certificate
                    report.applied.push("tls".to_owned());
                }
                Some((current, cfg, chain))
            }
            _ => None,
        };
        let hooks_changed = ["web_service", "push_service", "sms_service"]
            .iter()
            .any(|k| report.applied.iter().any(|a| a == k));
        let hooks = if hooks_changed {
            Some(
                crate::server::hook_client(&new).map_err(|e| ReloadError::Hooks {
                    key: "hooks",
                    message: format!("{e:#}"),
                })?,
            )
        } else {
            None
        };
        if report.applied.iter().any(|k| k == "log.level") {
            match &self.log {
                Some(set) => set(&new.log.level).map_err(|message| ReloadError::Log { message })?,
                None => {
                    report.applied.retain(|k| k != "log.level");
                    report
                        .needs_restart
                        .push("log.level (RUST_LOG is set and wins)".to_owned());
                }
            }
        }
        if report
            .applied
            .iter()
            .any(|k| k == "media.inactivity_timeout")
        {
            let relay = self
                .media
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            match (relay, &new.media) {
                (Some(relay), Some(m)) => relay.set_inactivity_timeout(m.inactivity_timeout),
                _ => {
                    // the relay is switched on or off: that is the `media` restart key
                    report.applied.retain(|k| k != "media.inactivity_timeout");
                }
            }
        }
        if let Some((current, cfg, chain)) = tls {
            current.store(cfg);
            running.tls_chain = chain;
        }
        if let (Some(merge), Some(setting)) = (new.shard_merge, self.shard_merge.get()) {
            // with one shard there is nothing to drive: the key is kept, and does nothing
            setting.set(merge);
        }
        let (applied, in_force) = tokio::sync::oneshot::channel();
        // the cores get the live keys only: a restart-only key (the realm, say) keeps its
        // running value until the restart
        let next = adopt_live(&running.config, &new);
        let live = LiveSettings {
            applied: Some(applied),
            ..LiveSettings::from_config(&next, hooks)
        };
        if self.inputs.send(Input::Reload(Box::new(live))).is_ok() {
            // the next request after this returns sees the new settings
            if tokio::time::timeout(std::time::Duration::from_secs(5), in_force)
                .await
                .is_err()
            {
                tracing::warn!("the dispatcher did not confirm the new settings within 5 s");
            }
        }
        // the routing tables are read again at once, not at the next poll
        self.routing.notify_one();
        report.applied.push("routing".to_owned());
        running.config = next;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(extra_top: &str, rest: &str) -> Config {
        let text = format!(
            "{extra_top}\n[[listener]]\naddress = \"127.0.0.1:5060\"\n\n[registrar]\nrealm = \"r\"\n{rest}"
        );
        ferroswitch_config::parse_toml(&text, Path::new("/etc/t.toml")).unwrap()
    }

    #[test]
    fn restart_only_keys_keep_their_running_values_in_what_the_cores_get() {
        let running = config("", "");
        let new = config(
            "trusted_peers = [\"10.0.0.1\"]",
            "min_expires = 300\n\n[security]\nauth_failures = 3\n",
        );
        let mut new = new;
        new.registrar.realm = "other".to_owned();
        let report = diff(&running, &new);
        assert!(report.needs_restart.contains(&"registrar.realm".to_owned()));
        assert!(report.applied.contains(&"security".to_owned()));
        let next = adopt_live(&running, &new);
        let live = LiveSettings::from_config(&next, None);
        assert_eq!(live.registrar.realm, "r", "the realm waits for the restart");
        assert_eq!(live.registrar.min_expires, 300);
        assert_eq!(live.trusted, new.trusted_peers);
        assert_eq!(next.security, new.security);
    }

    #[test]
    fn shard_merge_is_live_and_left_out_keeps_the_running_one() {
        use ferroswitch_config::ShardMerge;
        let mut running = config("", "");
        // `--shard-merge always` at start; the file says nothing: no change
        running.shard_merge = Some(ShardMerge::Always);
        let r = diff(&running, &config("", ""));
        assert!(r.applied.is_empty() && r.needs_restart.is_empty(), "{r:?}");
        assert_eq!(
            adopt_live(&running, &config("", "")).shard_merge,
            Some(ShardMerge::Always)
        );
        // the file says never: applied at once
        let new = config("shard_merge = \"never\"", "");
        assert_eq!(diff(&running, &new).applied, ["shard_merge"]);
        assert_eq!(
            adopt_live(&running, &new).shard_merge,
            Some(ShardMerge::Never)
        );
    }

    #[test]
    fn the_voicemail_section_needs_a_restart() {
        let a = config("", "");
        let b = config("", "[voicemail]\nenabled = true\n");
        let r = diff(&a, &b);
        assert_eq!(r.needs_restart, ["voicemail"]);
        assert!(r.applied.is_empty());
    }

    #[test]
    fn nothing_changed_reports_nothing() {
        let a = config("", "");
        assert_eq!(diff(&a, &a.clone()), ReloadReport::default());
    }

    #[test]
    fn live_keys_are_applied_and_the_others_need_a_restart() {
        let a = config("", "");
        let b = config(
            "node_id = \"other\"\nshutdown_timeout = 20\ntrusted_peers = [\"192.0.2.9\"]",
            "min_expires = 120\n[calls]\ncall_timeout = 40\n[log]\nlevel = \"debug\"\n[database]\nurl = \"sqlite::memory:\"",
        );
        let r = diff(&a, &b);
        assert_eq!(
            r.applied,
            [
                "shutdown_timeout",
                "registrar.min_expires",
                "log.level",
                "calls.call_timeout",
                "trusted_peers"
            ]
        );
        assert_eq!(r.needs_restart, ["node_id", "database"]);
        // shards: a change in the file needs a restart; a file without it changes nothing
        let mut running = a.clone();
        running.shards = Some(2);
        assert!(diff(&running, &a).needs_restart.is_empty());
        let four = config("shards = 4", "");
        assert_eq!(diff(&running, &four).needs_restart, ["shards"]);
        let unsteered = config("udp_steering = false", "");
        assert_eq!(diff(&running, &unsteered).needs_restart, ["udp_steering"]);
    }

    #[test]
    fn a_changed_smtp_section_or_password_needs_a_restart() {
        let a = config("", "");
        let smtp = |password: &str| {
            let text = format!(
                "[[listener]]\naddress = \"127.0.0.1:5060\"\n[smtp]\nhost = \"h\"\n\
                 username = \"u\"\npassword = \"{password}\"\nfrom = \"vm@x.org\"\n"
            );
            ferroswitch_config::parse_toml(&text, Path::new("/etc/t.toml")).unwrap()
        };
        assert!(diff(&a, &smtp("p1"))
            .needs_restart
            .contains(&"smtp".to_owned()));
        assert_eq!(diff(&smtp("p1"), &smtp("p2")).needs_restart, ["smtp"]);
        assert!(diff(&smtp("p1"), &smtp("p1")).needs_restart.is_empty());
    }

    #[test]
    fn listeners_realm_and_media_need_a_restart() {
        let a = config("", "");
        let text = "[[listener]]\naddress = \"127.0.0.1:5070\"\n\n[registrar]\nrealm = \"other\"\n[media]\npublic_address = \"192.0.2.1\"\n";
        let b = ferroswitch_config::parse_toml(text, Path::new("/etc/t.toml")).unwrap();
        assert_eq!(
            diff(&a, &b).needs_restart,
            ["listener", "registrar.realm", "media"]
        );
    }

    #[test]
    fn adopted_config_keeps_restart_keys_so_they_are_reported_again() {
        let a = config("", "");
        let b = config(
            "node_id = \"other\"",
            "max_expires = 7200\n[push_service]\nipaddr = \"127.0.0.1\"\nport = 8000\nmax_in_flight = 5",
        );
        let first = diff(&a, &b);
        assert_eq!(first.applied, ["registrar.max_expires", "push_service"]);
        assert_eq!(
            first.needs_restart,
            ["node_id", "push_service.max_in_flight"]
        );
        let running = adopt_live(&a, &b);
        assert_eq!(running.registrar.max_expires, 7200);
        assert_eq!(running.node_id, a.node_id);
        assert_eq!(running.push.max_in_flight, a.push.max_in_flight);
        let again = diff(&running, &b);
        assert!(again.applied.is_empty(), "{again:?}");
        assert_eq!(
            again.needs_restart,
            ["node_id", "push_service.max_in_flight"]
        );
    }

    #[test]
    fn the_relay_inactivity_timeout_is_live_its_ports_are_not() {
        let media = "[media]\npublic_address = \"192.0.2.1\"\n";
        let a = config("", media);
        let b = config("", &format!("{media}inactivity_timeout = 20\n"));
        let r = diff(&a, &b);
        assert_eq!(r.applied, ["media.inactivity_timeout"]);
        assert!(r.needs_restart.is_empty());
        let running = adopt_live(&a, &b);
        assert_eq!(diff(&running, &b), ReloadReport::default());
        let c = config("", &format!("{media}port_min = 21000\n"));
        assert_eq!(diff(&a, &c).needs_restart, ["media"]);
    }

    #[test]
    fn every_key_is_classified_once() {
        let mut keys: Vec<&str> = KEYS.iter().map(|k| k.0).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
