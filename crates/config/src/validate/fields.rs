//! Where each setting came from: the [`Field`]s the rules name, and [`Positions`], the line
//! and key of each setting a file gave, for errors that point at it.

use std::collections::HashMap;

use crate::model::HttpHook;

/// Which operator hook a [`Field`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Hook {
    Web,
    Push,
    Sms,
}

impl Hook {
    /// The section's name (the same in both formats) and the default `service`.
    pub(crate) fn section(self) -> (&'static str, &'static str) {
        match self {
            Self::Web => ("web_service", HttpHook::WEB_SERVICE_DEFAULT),
            Self::Push => ("push_service", HttpHook::PUSH_SERVICE_DEFAULT),
            Self::Sms => ("sms_service", HttpHook::SMS_SERVICE_DEFAULT),
        }
    }
}

/// A setting of the model that a rule can blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    NodeId,
    ShutdownTimeout,
    Shards,
    UdpSteering,
    /// The listener list as a whole (where to report "no listener").
    Listeners,
    /// The address of `Config::listeners[i]`, as the format layer built the list.
    ListenerAddr(usize),
    ListenerTransport(usize),
    /// `allowed_origins` of `Config::listeners[i]` (WebSocket listeners).
    ListenerOrigins(usize),
    TlsCertificate,
    TlsPrivateKey,
    Realm,
    Domain,
    MinExpires,
    MaxExpires,
    DefaultExpires,
    SubscribeExpiration,
    NonceLifetime,
    NonceSecret,
    Algorithms,
    PurgeInterval,
    DatabaseUrl,
    AdminListen,
    AdminToken,
    AdminTokenFile,
    ApiListen,
    ApiPublicUrl,
    ApiJwtKey,
    ApiJwtPreviousKey,
    ApiTokenLifetime,
    HookPort(Hook),
    HookService(Hook),
    PushTimeout,
    PushDelay,
    PushProviders,
    PushSystemContentTypes,
    PushMaxInFlight,
    LogLevel,
    ClusterRedis,
    ClusterInternal,
    ClusterNodes,
    ClusterSecret,
    ClusterKeyPrefix,
    CallTimeout,
    CallMessageTimeout,
    GatewayTimeout,
    MaxDuration,
    SessionExpires,
    MinSe,
    AuthFailures,
    AuthWindow,
    AuthBan,
    SourceRate,
    SourceBan,
    MessageTimeout,
    UnauthenticatedMessageMax,
    BufferedMaxMb,
    ConnectionsPerIp,
    IdleTimeout,
    /// Where the public address is given; when it is not, the format layer records the media
    /// section here (where it is missing).
    MediaPublicAddress,
    MediaPublicAddressV6,
    MediaBindAddress,
    MediaPortMin,
    MediaPortMax,
    MediaInactivityTimeout,
    VoicemailDirectory,
    VoicemailPrompts,
    VoicemailMaxMessage,
    VoicemailSilenceTimeout,
    VoicemailAccessPrefixes,
}

impl Field {
    /// A name for a setting the file did not give (its default is at fault).
    fn default_key(self) -> String {
        let hook = |h: Hook| h.section().0;
        match self {
            Self::NodeId => "node_id".into(),
            Self::ShutdownTimeout => "shutdown_timeout".into(),
            Self::Shards => "shards".into(),
            Self::UdpSteering => "udp_steering".into(),
            Self::Listeners => "listener".into(),
            Self::ListenerAddr(i) => format!("listener[{i}].address"),
            Self::ListenerTransport(i) => format!("listener[{i}].transport"),
            Self::ListenerOrigins(i) => format!("listener[{i}].allowed_origins"),
            Self::TlsCertificate => "tls.certificate".into(),
            Self::TlsPrivateKey => "tls.private_key".into(),
            Self::Realm => "registrar.realm".into(),
            Self::Domain => "registrar.domain".into(),
            Self::MinExpires => "registrar.min_expires".into(),
            Self::MaxExpires => "registrar.max_expires".into(),
            Self::DefaultExpires => "registrar.default_expires".into(),
            Self::SubscribeExpiration => "registrar.subscribe_expiration".into(),
            Self::NonceLifetime => "registrar.nonce_lifetime".into(),
            Self::NonceSecret => "registrar.nonce_secret".into(),
            Self::Algorithms => "registrar.algorithms".into(),
            Self::PurgeInterval => "registrar.purge_interval".into(),
            Self::DatabaseUrl => "database.url".into(),
            Self::AdminListen => "admin.listen".into(),
            Self::AdminToken => "admin.token".into(),
            Self::AdminTokenFile => "admin.token_file".into(),
            Self::ApiListen => "api.listen".into(),
            Self::ApiPublicUrl => "api.public_url".into(),
            Self::ApiJwtKey => "api.jwt_key".into(),
            Self::ApiJwtPreviousKey => "api.jwt_previous_key".into(),
            Self::ApiTokenLifetime => "api.token_lifetime".into(),
            Self::HookPort(h) => format!("{}.port", hook(h)),
            Self::HookService(h) => format!("{}.service", hook(h)),
            Self::PushTimeout => "push_service.push_timeout".into(),
            Self::PushDelay => "push_service.push_delay".into(),
            Self::PushProviders => "push_service.providers".into(),
            Self::PushSystemContentTypes => "push_service.system_content_types".into(),
            Self::PushMaxInFlight => "push_service.max_in_flight".into(),
            Self::LogLevel => "log.level".into(),
            Self::ClusterRedis => "cluster.redis".into(),
            Self::ClusterInternal => "cluster.internal".into(),
            Self::ClusterNodes => "cluster.nodes".into(),
            Self::ClusterSecret => "cluster.secret".into(),
            Self::ClusterKeyPrefix => "cluster.key_prefix".into(),
            Self::CallTimeout => "calls.call_timeout".into(),
            Self::CallMessageTimeout => "calls.message_timeout".into(),
            Self::GatewayTimeout => "calls.gateway_timeout".into(),
            Self::MaxDuration => "calls.max_duration".into(),
            Self::SessionExpires => "calls.session_expires".into(),
            Self::MinSe => "calls.min_se".into(),
            Self::AuthFailures => "security.auth_failures".into(),
            Self::AuthWindow => "security.auth_window".into(),
            Self::AuthBan => "security.auth_ban".into(),
            Self::SourceRate => "security.source_rate".into(),
            Self::SourceBan => "security.source_ban".into(),
            Self::MessageTimeout => "security.message_timeout".into(),
            Self::UnauthenticatedMessageMax => "security.unauthenticated_message_max".into(),
            Self::BufferedMaxMb => "security.buffered_max_mb".into(),
            Self::ConnectionsPerIp => "security.connections_per_ip".into(),
            Self::IdleTimeout => "security.idle_timeout".into(),
            Self::MediaPublicAddress => "media.public_address".into(),
            Self::MediaPublicAddressV6 => "media.public_address_v6".into(),
            Self::MediaBindAddress => "media.bind_address".into(),
            Self::MediaPortMin => "media.port_min".into(),
            Self::MediaPortMax => "media.port_max".into(),
            Self::MediaInactivityTimeout => "media.inactivity_timeout".into(),
            Self::VoicemailDirectory => "voicemail.directory".into(),
            Self::VoicemailPrompts => "voicemail.prompts".into(),
            Self::VoicemailMaxMessage => "voicemail.max_message".into(),
            Self::VoicemailSilenceTimeout => "voicemail.silence_timeout".into(),
            Self::VoicemailAccessPrefixes => "voicemail.access_prefixes".into(),
        }
    }
}

/// Where a setting was written: its 1-based line and its key in the file's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) key: String,
}

/// The positions of the settings a file gave, carried alongside the [`Config`] built from it.
#[derive(Debug)]
pub(crate) struct Positions {
    at: HashMap<Field, Pos>,
    /// Where to report a setting the file left out.
    fallback_line: usize,
}

impl Positions {
    pub(crate) fn new(fallback_line: usize) -> Self {
        Self {
            at: HashMap::new(),
            fallback_line,
        }
    }

    pub(crate) fn set(&mut self, field: Field, line: usize, key: impl Into<String>) {
        self.at.insert(
            field,
            Pos {
                line,
                key: key.into(),
            },
        );
    }

    pub(crate) fn get(&self, field: Field) -> Option<&Pos> {
        self.at.get(&field)
    }

    /// The position of the first of `fields` the file gave, else of the first by default name.
    pub(super) fn blame(&self, fields: &[Field]) -> Pos {
        fields
            .iter()
            .find_map(|f| self.get(*f).cloned())
            .unwrap_or_else(|| Pos {
                line: self.fallback_line,
                key: fields.first().map_or_else(String::new, |f| f.default_key()),
            })
    }
}
