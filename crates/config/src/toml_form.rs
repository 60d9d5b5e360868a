//! The TOML form: serde structs that refuse unknown keys, converted into the model.
//!
//! Syntax, unknown-key and type errors come from the deserializer: `serde_path_to_error` gives the
//! key path, the error's byte span gives the line. Values that later rules check are kept as
//! [`Spanned`] so that [`validate::finish`] can name their line too.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use toml::Spanned;

use crate::model::{
    sqlite_url_in, AdminSettings, AdminToken, Config, ContactRouting, DigestAlgorithm, HttpHook,
    ListenerRole, LogFormat, MediaSettings, SipListener, StunSettings, TlsSettings, Transport,
    Trunk,
};
use crate::origin::{parse_socket_addr, Advertise, Origin};
use crate::validate::{self, Field, Hook, Positions};
use crate::ConfigError;

mod api;
mod cluster;
mod voicemail;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node_id: Option<Spanned<String>>,
    /// Seconds.
    shutdown_timeout: Option<Spanned<u32>>,
    shards: Option<Spanned<u32>>,
    udp_steering: Option<Spanned<bool>>,
    shard_merge: Option<Parsed<crate::ShardMerge>>,
    #[serde(default)]
    trusted_peers: Vec<IpAddr>,
    #[serde(default)]
    listener: Vec<RawListener>,
    tls: Option<RawTls>,
    #[serde(default)]
    registrar: RawRegistrar,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    calls: RawCalls,
    #[serde(default)]
    security: RawSecurity,
    media: Option<RawMedia>,
    admin: Option<RawAdmin>,
    api: Option<api::RawApi>,
    stun: Option<RawStun>,
    web_service: Option<RawHook>,
    push_service: Option<RawPushService>,
    sms_service: Option<RawHook>,
    #[serde(default)]
    dns: RawDns,
    #[serde(default)]
    trunk: Vec<RawTrunk>,
    #[serde(default)]
    voicemail: voicemail::RawVoicemail,
    smtp: Option<crate::smtp::RawSmtp>,
    cluster: Option<cluster::RawCluster>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    #[serde(default)]
    servers: Vec<Parsed<Addr>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrunk {
    gateway: Spanned<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    tls_ca_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    address: Spanned<Parsed<Addr>>,
    transport: Option<Spanned<Parsed<Transport>>>,
    role: Option<Parsed<ListenerRole>>,
    advertise: Option<Parsed<Advertise>>,
    allowed_origins: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    certificate: Spanned<String>,
    private_key: Option<Spanned<String>>,
    generate_self_signed: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistrar {
    realm: Option<Spanned<String>>,
    min_expires: Option<Spanned<u32>>,
    max_expires: Option<Spanned<u32>>,
    default_expires: Option<Spanned<u32>>,
    subscribe_expiration: Option<Spanned<u32>>,
    nonce_lifetime: Option<Spanned<u32>>,
    nonce_secret: Option<Spanned<String>>,
    algorithms: Option<Spanned<Vec<Parsed<DigestAlgorithm>>>>,
    purge_interval: Option<Spanned<u32>>,
    contact_routing: Option<Parsed<ContactRouting>>,
    domain: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<Spanned<String>>,
    data_dir: Option<Spanned<String>>,
    keep_plain_passwords: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<Spanned<String>>,
    format: Option<Parsed<LogFormat>>,
}

/// Times in seconds.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    auth_failures: Option<Spanned<u32>>,
    auth_window: Option<Spanned<u32>>,
    auth_ban: Option<Spanned<u32>>,
    source_rate: Option<Spanned<u32>>,
    source_ban: Option<Spanned<u32>>,
    message_timeout: Option<Spanned<u32>>,
    unauthenticated_message_max: Option<Spanned<u32>>,
    buffered_max_mb: Option<Spanned<u32>>,
    connections_per_ip: Option<Spanned<u32>>,
    idle_timeout: Option<Spanned<u32>>,
}

/// Times in seconds.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalls {
    call_timeout: Option<Spanned<u32>>,
    gateway_timeout: Option<Spanned<u32>>,
    max_duration: Option<Spanned<u32>>,
    message_timeout: Option<Spanned<u32>>,
    session_expires: Option<Spanned<u32>>,
    min_se: Option<Spanned<u32>>,
    billing: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    public_address: Option<Spanned<IpAddr>>,
    public_address_v6: Option<Spanned<IpAddr>>,
    bind_address: Option<Spanned<IpAddr>>,
    port_min: Option<Spanned<u16>>,
    port_max: Option<Spanned<u16>>,
    /// Seconds.
    inactivity_timeout: Option<Spanned<u32>>,
    anchor_onnet: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Spanned<Parsed<Addr>>,
    token: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStun {
    address: Spanned<Parsed<Addr>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    ipaddr: String,
    port: Spanned<u16>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    service: Option<Spanned<String>>,
    #[serde(default)]
    https: bool,
}

/// `[push_service]`: the hook's keys (as [`RawHook`]; the hook is still required) and the push
/// settings. Times in seconds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPushService {
    ipaddr: String,
    port: Spanned<u16>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    service: Option<Spanned<String>>,
    #[serde(default)]
    https: bool,
    push_timeout: Option<Spanned<u32>>,
    push_delay: Option<Spanned<u32>>,
    providers: Option<Spanned<Vec<String>>>,
    system_content_types: Option<Spanned<Vec<String>>>,
    system_body_prefix: Option<String>,
    max_in_flight: Option<Spanned<u32>>,
}

/// A value read from a TOML string through the model type's `FromStr`, so both formats accept
/// and refuse the same names with the same message.
struct Parsed<T>(T);

impl<'de, T> Deserialize<'de> for Parsed<T>
where
    T: FromStr,
    T::Err: Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Parsed).map_err(D::Error::custom)
    }
}

/// A socket address whose syntax errors say what is wrong ([`parse_socket_addr`]).
struct Addr(SocketAddr);

impl FromStr for Addr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_socket_addr(s).map(Self)
    }
}

/// Parses the TOML form; see [`crate::parse_toml`].
pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|e| deserialize_error(e, text, path))?;
    let mut at = Recorder {
        text,
        positions: Positions::new(1),
    };
    let config = convert(raw, path, &mut at)?;
    validate::finish(config, &at.positions)
}

/// Records where each kept value was written.
struct Recorder<'t> {
    text: &'t str,
    positions: Positions,
}

impl Recorder<'_> {
    fn take<T>(&mut self, value: Spanned<T>, field: Field, key: impl Into<String>) -> T {
        self.positions
            .set(field, line_at(self.text, value.span().start), key);
        value.into_inner()
    }

    /// Where a value is written, as an [`Origin`].
    fn origin<T>(&self, value: &Spanned<T>, key: impl Into<String>) -> Origin {
        Origin::File {
            line: line_at(self.text, value.span().start),
            key: key.into(),
        }
    }

    fn take_opt<T>(&mut self, value: Option<Spanned<T>>, field: Field, key: &str) -> Option<T> {
        value.map(|v| self.take(v, field, key))
    }
}

fn convert(raw: RawConfig, path: &Path, at: &mut Recorder<'_>) -> Result<Config, ConfigError> {
    let mut config = Config {
        source: path.to_path_buf(),
        ..Config::default()
    };
    if let Some(id) = at.take_opt(raw.node_id, Field::NodeId, "node_id") {
        config.node_id = id;
    }
    if let Some(seconds) = at.take_opt(
        raw.shutdown_timeout,
        Field::ShutdownTimeout,
        "shutdown_timeout",
    ) {
        config.shutdown_timeout = Duration::from_secs(seconds.into());
    }
    if let Some(n) = at.take_opt(raw.shards, Field::Shards, "shards") {
        config.shards = Some(n as usize);
    }
    if let Some(on) = at.take_opt(raw.udp_steering, Field::UdpSteering, "udp_steering") {
        config.udp_steering = on;
    }
    config.shard_merge = raw.shard_merge.map(|m| m.0);
    config.trusted_peers = raw.trusted_peers;

    for (i, l) in raw.listener.into_iter().enumerate() {
        let key = format!("listener[{i}].address");
        let origin = at.origin(&l.address, &key);
        let addr = at.take(l.address, Field::ListenerAddr(i), key).0 .0;
        let transport = l.transport.map_or(Transport::Udp, |t| {
            at.take(
                t,
                Field::ListenerTransport(i),
                format!("listener[{i}].transport"),
            )
            .0
        });
        let role = l.role.map_or(ListenerRole::Sip, |r| r.0);
        let allowed_origins = at
            .take_opt(
                l.allowed_origins,
                Field::ListenerOrigins(i),
                &format!("listener[{i}].allowed_origins"),
            )
            .unwrap_or_default();
        config.listeners.push(SipListener {
            addr,
            transport,
            role,
            advertise: l.advertise.map(|a| a.0),
            allowed_origins,
            origin,
        });
    }

    if let Some(tls) = raw.tls {
        let certificate =
            PathBuf::from(at.take(tls.certificate, Field::TlsCertificate, "tls.certificate"));
        let private_key = at
            .take_opt(tls.private_key, Field::TlsPrivateKey, "tls.private_key")
            .map_or_else(|| certificate.clone(), PathBuf::from);
        config.tls = Some(TlsSettings {
            certificate,
            private_key,
            generate_self_signed: tls.generate_self_signed.unwrap_or(false),
        });
    }

    let (r, reg) = (raw.registrar, &mut config.registrar);
    if let Some(v) = at.take_opt(r.realm, Field::Realm, "registrar.realm") {
        reg.realm = v;
    }
    if let Some(v) = r.contact_routing {
        reg.contact_routing = v.0;
    }
    reg.domain = at.take_opt(r.domain, Field::Domain, "registrar.domain");
    for (value, field, key, slot) in [
        (
            r.min_expires,
            Field::MinExpires,
            "registrar.min_expires",
            &mut reg.min_expires,
        ),
        (
            r.max_expires,
            Field::MaxExpires,
            "registrar.max_expires",
            &mut reg.max_expires,
        ),
        (
            r.default_expires,
            Field::DefaultExpires,
            "registrar.default_expires",
            &mut reg.default_expires,
        ),
        (
            r.subscribe_expiration,
            Field::SubscribeExpiration,
            "registrar.subscribe_expiration",
            &mut reg.subscribe_expiration,
        ),
        (
            r.nonce_lifetime,
            Field::NonceLifetime,
            "registrar.nonce_lifetime",
            &mut reg.nonce_lifetime,
        ),
        (
            r.purge_interval,
            Field::PurgeInterval,
            "registrar.purge_interval",
            &mut reg.purge_interval,
        ),
    ] {
        if let Some(v) = at.take_opt(value, field, key) {
            *slot = v;
        }
    }
    reg.nonce_secret = at.take_opt(r.nonce_secret, Field::NonceSecret, "registrar.nonce_secret");
    if let Some(algorithms) = at.take_opt(r.algorithms, Field::Algorithms, "registrar.algorithms") {
        reg.algorithms = algorithms.into_iter().map(|a| a.0).collect();
    }

    if let Some(keep) = raw.database.keep_plain_passwords {
        config.database.keep_plain_passwords = keep;
    }
    match (raw.database.url, raw.database.data_dir) {
        (Some(_), Some(dir)) => {
            return Err(ConfigError::invalid(
                path,
                line_at(at.text, dir.span().start),
                "database.data_dir",
                "set either url or data_dir, not both",
            ));
        }
        (Some(url), None) => {
            config.database.url = at.take(url, Field::DatabaseUrl, "database.url");
        }
        (None, Some(dir)) => {
            config.database.url =
                sqlite_url_in(&at.take(dir, Field::DatabaseUrl, "database.data_dir"));
        }
        (None, None) => {}
    }

    if let Some(level) = at.take_opt(raw.log.level, Field::LogLevel, "log.level") {
        config.log.level = level;
    }
    if let Some(format) = raw.log.format {
        config.log.format = format.0;
    }
    let calls = &mut config.calls;
    calls.billing = raw.calls.billing.unwrap_or(false);
    for (value, field, key, slot) in [
        (
            raw.calls.call_timeout,
            Field::CallTimeout,
            "calls.call_timeout",
            &mut calls.call_timeout,
        ),
        (
            raw.calls.gateway_timeout,
            Field::GatewayTimeout,
            "calls.gateway_timeout",
            &mut calls.gateway_timeout,
        ),
        (
            raw.calls.max_duration,
            Field::MaxDuration,
            "calls.max_duration",
            &mut calls.max_duration,
        ),
        (
            raw.calls.message_timeout,
            Field::CallMessageTimeout,
            "calls.message_timeout",
            &mut calls.message_timeout,
        ),
        (
            raw.calls.session_expires,
            Field::SessionExpires,
            "calls.session_expires",
            &mut calls.session_expires,
        ),
        (
            raw.calls.min_se,
            Field::MinSe,
            "calls.min_se",
            &mut calls.min_se,
        ),
    ] {
        if let Some(seconds) = at.take_opt(value, field, key) {
            *slot = Duration::from_secs(seconds.into());
        }
    }
    let security = &mut config.security;
    if let Some(n) = at.take_opt(
        raw.security.auth_failures,
        Field::AuthFailures,
        "security.auth_failures",
    ) {
        security.auth_failures = n;
    }
    for (value, field, key, slot) in [
        (
            raw.security.source_rate,
            Field::SourceRate,
            "security.source_rate",
            &mut security.source_rate,
        ),
        (
            raw.security.unauthenticated_message_max,
            Field::UnauthenticatedMessageMax,
            "security.unauthenticated_message_max",
            &mut security.unauthenticated_message_max,
        ),
        (
            raw.security.buffered_max_mb,
            Field::BufferedMaxMb,
            "security.buffered_max_mb",
            &mut security.buffered_max_mb,
        ),
        (
            raw.security.connections_per_ip,
            Field::ConnectionsPerIp,
            "security.connections_per_ip",
            &mut security.connections_per_ip,
        ),
    ] {
        if let Some(n) = at.take_opt(value, field, key) {
            *slot = n;
        }
    }
    for (value, field, key, slot) in [
        (
            raw.security.auth_window,
            Field::AuthWindow,
            "security.auth_window",
            &mut security.auth_window,
        ),
        (
            raw.security.auth_ban,
            Field::AuthBan,
            "security.auth_ban",
            &mut security.auth_ban,
        ),
        (
            raw.security.source_ban,
            Field::SourceBan,
            "security.source_ban",
            &mut security.source_ban,
        ),
        (
            raw.security.message_timeout,
            Field::MessageTimeout,
            "security.message_timeout",
            &mut security.message_timeout,
        ),
        (
            raw.security.idle_timeout,
            Field::IdleTimeout,
            "security.idle_timeout",
            &mut security.idle_timeout,
        ),
    ] {
        if let Some(seconds) = at.take_opt(value, field, key) {
            *slot = Duration::from_secs(seconds.into());
        }
    }
    config.media = raw.media.map(|m| media(m, at));
    config.api = raw.api.map(|a| api::api(a, at));
    config.admin = raw.admin.map(|a| AdminSettings {
        origin: at.origin(&a.listen, "admin.listen"),
        listen: at.take(a.listen, Field::AdminListen, "admin.listen").0 .0,
        token: at
            .take_opt(a.token, Field::AdminToken, "admin.token")
            .map(AdminToken::new),
        token_file: at
            .take_opt(a.token_file, Field::AdminTokenFile, "admin.token_file")
            .map(PathBuf::from),
    });
    config.stun = raw.stun.map(|s| StunSettings {
        origin: at.origin(&s.address, "stun.address"),
        addr: s.address.into_inner().0 .0,
    });
    config.web_service = raw.web_service.map(|h| hook(h, Hook::Web, at));
    if let Some(p) = raw.push_service {
        push_service(p, &mut config, at);
    }
    config.sms_service = raw.sms_service.map(|h| hook(h, Hook::Sms, at));
    config.cluster = raw.cluster.map(|c| cluster::cluster(c, at));
    config.dns.servers = raw.dns.servers.into_iter().map(|a| a.0 .0).collect();
    if let Some(smtp) = raw.smtp {
        let (line, given) = crate::smtp::from_toml(smtp, at.text, line_at);
        config.smtp = Some(crate::smtp::build(line, given, path)?);
    }
    for (i, t) in raw.trunk.into_iter().enumerate() {
        let origin = at.origin(&t.gateway, format!("trunk[{i}]"));
        let mut trunk = Trunk::new(&t.gateway.into_inner(), &t.username, &t.password);
        trunk.tls_ca_file = t.tls_ca_file.map(PathBuf::from);
        trunk.origin = origin;
        config.trunks.push(trunk);
    }
    voicemail::convert(raw.voicemail, &mut config.voicemail, at);
    Ok(config)
}

fn media(m: RawMedia, at: &mut Recorder<'_>) -> MediaSettings {
    let public_address = at.take_opt(
        m.public_address,
        Field::MediaPublicAddress,
        "media.public_address",
    );
    let mut media = MediaSettings {
        public_address,
        ..MediaSettings::default()
    };
    if media.public_address.is_none() {
        // Where it is missing: the section.
        let line = section_line(at.text, "media").unwrap_or(1);
        at.positions
            .set(Field::MediaPublicAddress, line, "media.public_address");
    }
    media.public_address_v6 = at.take_opt(
        m.public_address_v6,
        Field::MediaPublicAddressV6,
        "media.public_address_v6",
    );
    if let Some(ip) = at.take_opt(
        m.bind_address,
        Field::MediaBindAddress,
        "media.bind_address",
    ) {
        media.bind_address = ip;
    }
    if let Some(port) = at.take_opt(m.port_min, Field::MediaPortMin, "media.port_min") {
        media.port_min = port;
    }
    if let Some(port) = at.take_opt(m.port_max, Field::MediaPortMax, "media.port_max") {
        media.port_max = port;
    }
    if let Some(seconds) = at.take_opt(
        m.inactivity_timeout,
        Field::MediaInactivityTimeout,
        "media.inactivity_timeout",
    ) {
        media.inactivity_timeout = Duration::from_secs(seconds.into());
    }
    media.anchor_onnet = m.anchor_onnet.unwrap_or(false);
    media
}

/// `[push_service]`: the hook into `config.push_service`, the push keys into `config.push`.
fn push_service(p: RawPushService, config: &mut Config, at: &mut Recorder<'_>) {
    let raw_hook = RawHook {
        ipaddr: p.ipaddr,
        port: p.port,
        username: p.username,
        password: p.password,
        service: p.service,
        https: p.https,
    };
    config.push_service = Some(hook(raw_hook, Hook::Push, at));
    let push = &mut config.push;
    for (value, field, key, slot) in [
        (
            p.push_timeout,
            Field::PushTimeout,
            "push_service.push_timeout",
            &mut push.timeout,
        ),
        (
            p.push_delay,
            Field::PushDelay,
            "push_service.push_delay",
            &mut push.delay,
        ),
    ] {
        if let Some(seconds) = at.take_opt(value, field, key) {
            *slot = Duration::from_secs(seconds.into());
        }
    }
    for (value, field, key, slot) in [
        (
            p.providers,
            Field::PushProviders,
            "push_service.providers",
            &mut push.providers,
        ),
        (
            p.system_content_types,
            Field::PushSystemContentTypes,
            "push_service.system_content_types",
            &mut push.system_content_types,
        ),
    ] {
        if let Some(list) = at.take_opt(value, field, key) {
            *slot = list;
        }
    }
    if let Some(prefix) = p.system_body_prefix {
        push.system_body_prefix = prefix;
    }
    if let Some(n) = at.take_opt(
        p.max_in_flight,
        Field::PushMaxInFlight,
        "push_service.max_in_flight",
    ) {
        push.max_in_flight = usize::try_from(n).unwrap_or(usize::MAX);
    }
}

fn hook(raw: RawHook, which: Hook, at: &mut Recorder<'_>) -> HttpHook {
    let (section, default_service) = which.section();
    HttpHook {
        ipaddr: raw.ipaddr,
        port: at.take(raw.port, Field::HookPort(which), format!("{section}.port")),
        username: raw.username,
        password: raw.password,
        service: raw.service.map_or_else(
            || default_service.to_owned(),
            |s| at.take(s, Field::HookService(which), format!("{section}.service")),
        ),
        https: raw.https,
    }
}

/// The 1-based line where top-level table `name` starts: its `[name]` header, else the first
/// `name = { ... }` or `name.key = ...` line. (`toml::Spanned` cannot wrap a table written with
/// dotted keys, so the line is looked up in the text.)
fn section_line(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            if let Some(header) = line.strip_prefix('[') {
                !header.starts_with('[')
                    && header
                        .split_once(']')
                        .is_some_and(|(inner, _)| inner.trim() == name)
            } else {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.trim_start().starts_with(['.', '=']))
            }
        })
        .map(|i| i + 1)
}

/// The 1-based line holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn deserialize_error(
    e: serde_path_to_error::Error<toml::de::Error>,
    text: &str,
    path: &Path,
) -> ConfigError {
    let mut key = String::new();
    for segment in e.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key: k } => {
                // `toml::Spanned` goes through a private map key of its own: not the user's.
                if k.starts_with("$__serde_spanned") {
                    continue;
                }
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                key.push_str(&format!("::{variant}"));
            }
            serde_path_to_error::Segment::Unknown => key.push_str(".?"),
        }
    }
    if key.is_empty() {
        key.push_str("toml");
    }
    let inner = e.into_inner();
    let start = inner.span().map(|span| span.start);
    let line = start.map_or(1, |start| line_at(text, start));
    let mut message = inner.message().trim().replace('\n', ": ");
    if message.is_empty() {
        // toml says nothing about e.g. a control character in a comment: name it.
        let found = start
            .and_then(|start| text.get(start..))
            .and_then(|s| s.chars().next());
        message = found.map_or_else(|| "syntax error".into(), |c| format!("unexpected {c:?}"));
    }
    ConfigError::invalid(path, line, key, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("t.toml")).unwrap_err().to_string()
    }

    const MINIMAL: &str = "[[listener]]\naddress = \"127.0.0.1:0\"\n";

    #[test]
    fn minimal_file_gets_the_defaults() {
        let c = parse(MINIMAL, Path::new("t.toml")).unwrap();
        assert_eq!(c.node_id, "node1");
        assert_eq!(
            c.listeners,
            [SipListener::new(
                "127.0.0.1:0".parse().unwrap(),
                Transport::Udp
            )]
        );
        assert_eq!(c.registrar, crate::RegistrarSettings::default());
        assert!(
            c.database.url.starts_with("sqlite:///"),
            "{}",
            c.database.url
        );
        assert!(
            c.database.url.ends_with("/data/ferroswitch.db"),
            "{}",
            c.database.url
        );
        assert_eq!(c.log, crate::LogSettings::default());
    }

    #[test]
    fn unset_default_expiry_follows_the_bounds() {
        let registrar = |rest: &str| {
            let c = parse(
                &format!("{MINIMAL}[registrar]\n{rest}"),
                Path::new("t.toml"),
            )
            .unwrap();
            c.registrar.default_expires
        };
        assert_eq!(registrar("max_expires = 1800\n"), 1800);
        assert_eq!(registrar("min_expires = 7200\nmax_expires = 9000\n"), 7200);
        assert_eq!(registrar("default_expires = 600\n"), 600);
        assert!(err(&format!(
            "{MINIMAL}[registrar]\nmax_expires = 1800\ndefault_expires = 2000\n"
        ))
        .starts_with("t.toml:5: registrar.default_expires: registration expiry out of order"));
    }

    #[test]
    fn section_line_finds_headers_inline_and_dotted_tables() {
        let text = "[[media]]\nmedia_x = 1\n# [media]\n[ media ] # relay\n";
        assert_eq!(section_line(text, "media"), Some(4));
        assert_eq!(section_line("a = 1\n  media = { }\n", "media"), Some(2));
        assert_eq!(section_line("media . port_min = 2\n", "media"), Some(1));
        assert_eq!(section_line("[mediax]\n[media.x]\n", "media"), None);
    }

    #[test]
    fn missing_public_address_is_reported_where_media_is() {
        for (text, line) in [
            (format!("{MINIMAL}\n# relay\n[media]\nport_min = 2000\n"), 5),
            (
                format!("\nmedia = {{ bind_address = \"::\" }}\n{MINIMAL}"),
                2,
            ),
            (
                format!("node_id = \"a\"\nmedia.port_min = 2000\n{MINIMAL}"),
                2,
            ),
        ] {
            let e = err(&text);
            assert!(
                e.starts_with(&format!("t.toml:{line}: media.public_address: required")),
                "{e}"
            );
        }
    }

    #[test]
    fn line_at_counts_from_one_and_never_panics() {
        assert_eq!(line_at("a\nb\nc", 0), 1);
        assert_eq!(line_at("a\nb\nc", 2), 2);
        assert_eq!(line_at("a\nb\nc", 99), 3);
    }

    #[test]
    fn spanned_and_array_segments_make_a_readable_key() {
        let e = err(&format!("{MINIMAL}\n[[listener]]\naddress = \"1.2.3.4\"\n"));
        assert_eq!(
            e,
            "t.toml:5: listener[1].address: \"1.2.3.4\" has no port: write ip:port, e.g. \
             0.0.0.0:5060 ([::]:5060 for IPv6)"
        );
        let e = err(&format!(
            "{MINIMAL}[registrar]\nalgorithms = [\"MD5\", \"SHA-1\"]\n"
        ));
        assert!(
            e.starts_with("t.toml:4: registrar.algorithms[1]: unknown digest algorithm"),
            "{e}"
        );
    }

    #[test]
    fn shards_are_one_to_256_or_one_per_core() {
        assert_eq!(parse(MINIMAL, Path::new("t.toml")).unwrap().shards, None);
        let c = parse(&format!("shards = 2\n{MINIMAL}"), Path::new("t.toml")).unwrap();
        assert_eq!(c.shards, Some(2));
        let e = err(&format!("shards = 0\n{MINIMAL}"));
        assert!(e.starts_with("t.toml:1: shards: "), "{e}");
        assert!(c.udp_steering, "on by default");
        let c = parse(
            &format!("udp_steering = false\n{MINIMAL}"),
            Path::new("t.toml"),
        )
        .unwrap();
        assert!(!c.udp_steering);
        let e = err(&format!("udp_steering = 1\n{MINIMAL}"));
        assert!(e.starts_with("t.toml:1: udp_steering"), "{e}");
    }

    #[test]
    fn shard_merge_is_auto_always_or_never() {
        assert_eq!(
            parse(MINIMAL, Path::new("t.toml")).unwrap().shard_merge,
            None
        );
        for (v, m) in [
            ("auto", crate::ShardMerge::Auto),
            ("always", crate::ShardMerge::Always),
            ("Never", crate::ShardMerge::Never),
        ] {
            let c = parse(
                &format!("shard_merge = \"{v}\"\n{MINIMAL}"),
                Path::new("t.toml"),
            )
            .unwrap();
            assert_eq!(c.shard_merge, Some(m), "{v}");
        }
        let e = err(&format!("shard_merge = \"sometimes\"\n{MINIMAL}"));
        assert!(e.starts_with("t.toml:1: "), "{e}");
        assert!(e.contains("sometimes") && e.contains("always"), "{e}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = err("node_id = \"a\"\nnode_id = \"b\"\n");
        assert!(e.starts_with("t.toml:2: toml: "), "{e}");
        let e = err("# a comment\n# with a \u{0}\n");
        assert_eq!(e, "t.toml:2: toml: unexpected '\\0'");
    }

    #[test]
    fn url_and_data_dir_are_exclusive() {
        let e = err(&format!(
            "{MINIMAL}[database]\nurl = \"sqlite::memory:\"\ndata_dir = \"d\"\n"
        ));
        assert_eq!(
            e,
            "t.toml:5: database.data_dir: set either url or data_dir, not both"
        );
    }
}
