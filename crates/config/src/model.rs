//! The typed configuration model both file formats load into.
//!
//! Values here are already validated: a `Config` returned by [`crate::load`] has at least one
//! listener, consistent expiry bounds, TLS settings whenever a TLS listener exists, absolute
//! file paths, timers within their ranges and, when the media relay is on, an address to
//! advertise and a usable port range.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::origin::Origin;

mod listener;
pub use listener::{ListenerRole, SipListener, TlsSettings, Transport};

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The file the configuration was read from, as given to [`crate::load`].
    pub source: PathBuf,
    /// Names this node in the shared location table (scale-out). Default `node1`.
    pub node_id: String,
    /// The SIP sockets to open; never empty, no two on the same socket.
    pub listeners: Vec<SipListener>,
    /// Registration, subscription and digest authentication settings.
    pub registrar: RegistrarSettings,
    /// Certificate and key for TLS listeners; present whenever a listener is [`Transport::Tls`].
    pub tls: Option<TlsSettings>,
    /// Where bindings, accounts and CDRs are stored.
    pub database: DatabaseSettings,
    /// The STUN Binding responder, if enabled.
    pub stun: Option<StunSettings>,
    /// The buddy-list hook (voipswitch `web_service`, `bl.ashx`).
    pub web_service: Option<HttpHook>,
    /// The push-notification hook (voipswitch `push_service`, `emc.ashx`).
    pub push_service: Option<HttpHook>,
    /// How calls and messages wake devices through the push hook; the defaults when the file
    /// says nothing (also when there is no push hook).
    pub push: PushSettings,
    /// The SMS-out hook for MESSAGEs routed OFFNET (voipswitch's `VSServices\sms_send.ashx`).
    pub sms_service: Option<HttpHook>,
    /// The admin HTTP API, if enabled; always on a loopback address.
    pub admin: Option<AdminSettings>,
    /// The call-control API for applications, if enabled (docs/api.md).
    pub api: Option<crate::ApiSettings>,
    /// Logging filter and output format.
    pub log: LogSettings,
    /// Call setup timers.
    pub calls: CallSettings,
    /// Brute-force protection: when a source IP is throttled for failed authentications.
    pub security: SecuritySettings,
    /// The media relay, if enabled; `None` relays no media.
    pub media: Option<MediaSettings>,
    /// Peers (gateways, other nodes) whose requests are not challenged.
    pub trusted_peers: Vec<IpAddr>,
    /// How long a SIGTERM/SIGINT shutdown may take: calls are ended, in-flight transactions
    /// answered and every queued database write flushed within it. Default 10 s; 1 to 300 s.
    pub shutdown_timeout: Duration,
    /// How many core shards process SIP (docs/architecture.md "Core shards"): `None` is one per
    /// core of the machine. 1 to 256.
    pub shards: Option<usize>,
    /// With several shards, give each UDP listener's socket group the kernel program that puts
    /// a datagram on its owner's socket (`sip_message::steer`); default on.
    pub udp_steering: bool,
    /// How the shards are driven (`shard_merge`, `--shard-merge`, FERRO_SHARD_MERGE): one task
    /// for all while one core keeps up, a task each above (`Auto`), or always one way. `None`:
    /// not set, `Auto`. A reload applies the file's value at once (left out of the file, the
    /// running one stays).
    pub shard_merge: Option<ShardMerge>,
    /// How gateways' DNS names are resolved (RFC 3263).
    pub dns: DnsSettings,
    /// Credentials and TLS trust per gateway (carrier trunks), by gateway name.
    pub trunks: Vec<Trunk>,
    /// The built-in voicemail service.
    pub voicemail: crate::voicemail::VoicemailSettings,
    /// The mail server of voicemail to email; `None`: no mail is sent.
    pub smtp: Option<crate::SmtpSettings>,
    /// Several nodes sharing location through Redis (docs/cluster.md); `None`: this node alone.
    pub cluster: Option<crate::cluster::ClusterSettings>,
}

/// How the core shards' dispatchers are driven (docs/architecture.md "Core shards").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardMerge {
    /// One task drives every shard while it is busy less than ~3/4 of the time; above, each
    /// shard gets a task of its own (the runtime's worker threads take them in parallel), and
    /// they are merged again when together they use less than ~0.6 of a core.
    #[default]
    Auto,
    /// Always one task for all shards (one core at most; for measurements).
    Always,
    /// Always a task per shard (what the server did before session 11).
    Never,
}

impl FromStr for ShardMerge {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match_name(
            s,
            "shard merge",
            &[
                ("auto", Self::Auto),
                ("always", Self::Always),
                ("never", Self::Never),
            ],
        )
    }
}

impl Config {
    /// The default of [`Config::shutdown_timeout`].
    pub const SHUTDOWN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
}

impl Default for Config {
    /// An empty configuration with every default set; it has no listener, so it is not yet valid.
    fn default() -> Self {
        Self {
            source: PathBuf::new(),
            node_id: "node1".to_owned(),
            listeners: Vec::new(),
            registrar: RegistrarSettings::default(),
            tls: None,
            database: DatabaseSettings::default(),
            stun: None,
            web_service: None,
            push_service: None,
            push: PushSettings::default(),
            sms_service: None,
            admin: None,
            api: None,
            log: LogSettings::default(),
            calls: CallSettings::default(),
            security: SecuritySettings::default(),
            media: None,
            trusted_peers: Vec::new(),
            shutdown_timeout: Self::SHUTDOWN_TIMEOUT_DEFAULT,
            shards: None,
            udp_steering: true,
            shard_merge: None,
            dns: DnsSettings::default(),
            trunks: Vec::new(),
            voicemail: crate::voicemail::VoicemailSettings::default(),
            smtp: None,
            cluster: None,
        }
    }
}

/// Registrar, subscription and digest-authentication settings. Times are in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrarSettings {
    /// Digest realm. Default `ferroswitch`.
    pub realm: String,
    /// Shortest registration accepted (shorter gets 423 Interval Too Brief). Default 60.
    pub min_expires: u32,
    /// Longest registration granted. Default 3600.
    pub max_expires: u32,
    /// Granted when the REGISTER asks for no expiry. Default 3600, brought within
    /// `min_expires..=max_expires` when the file does not set it.
    pub default_expires: u32,
    /// Longest subscription granted. Default 3600.
    pub subscribe_expiration: u32,
    /// How long a digest nonce stays valid. Default 300.
    pub nonce_lifetime: u32,
    /// Key for stateless nonces; `None` draws a random one at start (nonces then do not
    /// survive a restart nor work across nodes).
    pub nonce_secret: Option<String>,
    /// Challenge algorithms, in the order offered. Default `[Md5]`: clients that do not know
    /// SHA-256 (baresip 1.0, many desk phones) fail when a SHA-256 challenge is offered at all.
    pub algorithms: Vec<DigestAlgorithm>,
    /// How often expired bindings are purged. Default 30.
    pub purge_interval: u32,
    /// Whether requests go to a binding's Contact or over the flow its REGISTER came on.
    /// Default [`ContactRouting::Auto`].
    pub contact_routing: ContactRouting,
    /// The SIP domain clients use (`sip:{login}@{domain}`): the host of From/To in relayed
    /// calls and messages and of presence entities. `None`: the host of the To URI the
    /// clients register with. Never the digest realm.
    pub domain: Option<String>,
}

/// `[registrar] contact_routing`: where requests to a registered device go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContactRouting {
    /// Over the flow for RFC 5626 outbound clients and clients behind NAT, to the Contact
    /// otherwise (RFC 3261 §10.2, third-party registration).
    #[default]
    Auto,
    /// Always over the flow the REGISTER came on.
    AlwaysFlow,
    /// Always to the Contact, when it is a UDP address.
    AlwaysContact,
}

impl FromStr for ContactRouting {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match_name(
            s,
            "contact routing",
            &[
                ("auto", Self::Auto),
                ("always_flow", Self::AlwaysFlow),
                ("always_contact", Self::AlwaysContact),
            ],
        )
    }
}

impl Default for RegistrarSettings {
    fn default() -> Self {
        Self {
            realm: "ferroswitch".to_owned(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            subscribe_expiration: 3600,
            nonce_lifetime: 300,
            nonce_secret: None,
            algorithms: vec![DigestAlgorithm::Md5],
            purge_interval: 30,
            contact_routing: ContactRouting::Auto,
            domain: None,
        }
    }
}

/// A digest algorithm (RFC 7616 / RFC 8760 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Md5,
    Sha256,
}

impl DigestAlgorithm {
    /// The name as written in `WWW-Authenticate` (`MD5`, `SHA-256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DigestAlgorithm {
    type Err = UnknownName;

    /// `MD5` or `SHA-256` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match_name(
            s,
            "digest algorithm",
            &[("MD5", Self::Md5), ("SHA-256", Self::Sha256)],
        )
    }
}

/// The database connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseSettings {
    /// `sqlite://<absolute path>` (or `sqlite::memory:`), `mysql://...` or `mariadb://...`.
    pub url: String,
    /// Keep the plain SIP password in `clientsshared.password` beside the digest HA1 values
    /// (a table voipswitch shares). Default `false`: only HA1 values are stored, and plain
    /// passwords found in the table are replaced by them.
    pub keep_plain_passwords: bool,
}

impl Default for DatabaseSettings {
    /// SQLite in `data/` (relative to the config file's directory once loaded).
    fn default() -> Self {
        Self {
            url: sqlite_url_in("data"),
            keep_plain_passwords: false,
        }
    }
}

/// The SQLite URL for the database file in `data_dir`.
pub(crate) fn sqlite_url_in(data_dir: &str) -> String {
    format!("sqlite://{}/ferroswitch.db", data_dir.trim_end_matches('/'))
}

/// The STUN Binding responder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StunSettings {
    pub addr: SocketAddr,
    /// Where `addr` was given (named when the port is busy).
    pub origin: Origin,
}

impl StunSettings {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            origin: Origin::Unknown,
        }
    }
}

/// The admin HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminSettings {
    /// A loopback address: `/api/health`, `/api/local-dialing-plan` and `/metrics` have no
    /// authentication (the push-token endpoint takes SIP credentials; apps reach it through a
    /// local reverse proxy).
    pub listen: SocketAddr,
    /// Where `listen` was given (named when the port is busy).
    pub origin: Origin,
    /// The bearer token of the operator routes (`token`, or read from `token_file`); `None`:
    /// those routes answer 403.
    pub token: Option<AdminToken>,
    /// Where the token was read from (absolute), when `token_file` gave it.
    pub token_file: Option<PathBuf>,
}

impl AdminSettings {
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            origin: Origin::Unknown,
            token: None,
            token_file: None,
        }
    }
}

/// The admin API's bearer token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// The shortest token accepted.
    pub const MIN_LEN: usize = 16;

    /// A token; [`crate::load`] checks it (at least [`Self::MIN_LEN`] visible ASCII
    /// characters).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret itself, to compare a request's credentials with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// An operator web hook (voipswitch `web_service` / `push_service`, our `sms_service`): called as
/// `http(s)://{ipaddr}:{port}/{service}` with `username`/`password`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpHook {
    /// Host to call: an IP address (voipswitch asks for one) or a host name; never empty.
    pub ipaddr: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    /// The method (path) called, e.g. `bl.ashx`.
    pub service: String,
    /// Call over HTTPS instead of HTTP. Default false.
    pub https: bool,
}

impl HttpHook {
    /// The default method of the buddy-list hook.
    pub const WEB_SERVICE_DEFAULT: &'static str = "bl.ashx";
    /// The default method of the push hook.
    pub const PUSH_SERVICE_DEFAULT: &'static str = "emc.ashx";
    /// The default method of the SMS-out hook (voipswitch's VSServices method).
    pub const SMS_SERVICE_DEFAULT: &'static str = "VSServices/sms_send.ashx";

    /// A hook without credentials, over plain HTTP.
    pub fn new(ipaddr: impl Into<String>, port: u16, service: impl Into<String>) -> Self {
        Self {
            ipaddr: ipaddr.into(),
            port,
            username: String::new(),
            password: String::new(),
            service: service.into(),
            https: false,
        }
    }
}

/// Push wake-up of sleeping devices for calls and messages. Read from the push hook's section
/// (`[push_service]`, `<push_service>`); the files give times in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushSettings {
    /// How long a parked call waits for a pushed device to pick it up. Default 30 s; 5 to 300 s.
    pub timeout: Duration,
    /// A registered device that has a push token and has sent nothing (no provisional, no
    /// final) for this long is pushed too. Default 3 s; 0 (off) to 30 s.
    pub delay: Duration,
    /// RFC 8599 `pn-provider` values this server can serve through the push hook; a REGISTER
    /// naming another gets 555. Default `["apns", "fcm"]`; never empty, each lowercase
    /// letters, digits, `.` or `-`, none twice.
    pub providers: Vec<String>,
    /// Content types (lowercase `type/subtype`, no parameters) of MESSAGEs from trusted peers
    /// that carry system commands: stored and delivered on REGISTER but never pushed. Default
    /// `["application/vnd.ferroswitch.command"]`; may be empty, none twice.
    pub system_content_types: Vec<String>,
    /// A body prefix that also marks a trusted peer's MESSAGE as a system command (e.g.
    /// `#cmd:`); empty = off. Default empty.
    pub system_body_prefix: String,
    /// Most push hook requests in flight at once. Default 64; 1 to 10000.
    pub max_in_flight: usize,
}

impl PushSettings {
    /// The default of [`PushSettings::system_content_types`].
    pub const SYSTEM_CONTENT_TYPE_DEFAULT: &'static str = "application/vnd.ferroswitch.command";
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            delay: Duration::from_secs(3),
            providers: vec!["apns".to_owned(), "fcm".to_owned()],
            system_content_types: vec![Self::SYSTEM_CONTENT_TYPE_DEFAULT.to_owned()],
            system_body_prefix: String::new(),
            max_in_flight: 64,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogSettings {
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `info` or `info,ferroswitch=debug`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match_name(
            s,
            "log format",
            &[("text", Self::Text), ("json", Self::Json)],
        )
    }
}

/// Call setup timers. The files give them in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSettings {
    /// No answer within this time: every branch is cancelled (480, or voicemail). Default
    /// 30 s; 5 to 600 s.
    pub call_timeout: Duration,
    /// A gateway that sends nothing at all (not even 100 Trying) for this long is skipped for
    /// the next one. Default 5 s; 1 to 60 s.
    pub gateway_timeout: Duration,
    /// An answered call is hung up (BYE to both legs) after this long: the guard against calls
    /// whose ends vanished without a BYE (like Kamailio's dialog timeout). Default 12 h; 60 s
    /// to 7 days.
    pub max_duration: Duration,
    /// A MESSAGE forwarded to devices none of which answered within this time gets 202
    /// Accepted; it is stored for delivery if no device takes it. Default 4 s; 1 to 30 s.
    pub message_timeout: Duration,
    /// Session timers (RFC 4028): the `Session-Expires` the B2BUA asks for when the caller
    /// gives none. Default 1800 s; `min_se` to 86400 s.
    pub session_expires: Duration,
    /// Our `Min-SE`: a smaller `Session-Expires` is answered 422. Default 90 s, the RFC 4028
    /// floor; 1 to 86400 s (below 90 only for tests).
    pub min_se: Duration,
    /// Prepaid billing (docs/billing.md): calls of accounts with a `billing_accounts` row are
    /// rated, authorized against their balance and cut when it is spent. Default off.
    pub billing: bool,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            gateway_timeout: Duration::from_secs(5),
            max_duration: Duration::from_secs(12 * 3600),
            message_timeout: Duration::from_secs(4),
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
            billing: false,
        }
    }
}

/// Protection against the open internet. Password guessing: a source IP with `auth_failures`
/// failed authentications within `auth_window` is throttled (its requests dropped) for
/// `auth_ban`; per source IP, so an attacker cannot lock a real user out. Floods: a source
/// sending more than `source_rate` requests a second is dropped for `source_ban`. TCP/TLS:
/// deadlines and size limits for messages in progress, a per-IP connection cap and an idle
/// timeout for connections that carry no registration. The files give times in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecuritySettings {
    /// Failures that throttle a source. Default 10; 1 to 100000.
    pub auth_failures: u32,
    /// The window the failures are counted in. Default 60 s; 1 to 86400 s.
    pub auth_window: Duration,
    /// How long a throttled source is dropped. Default 300 s; 1 to 86400 s.
    pub auth_ban: Duration,
    /// Requests (datagrams, stream messages) a second one source IP may send; above it the
    /// source is dropped for `source_ban`. Trusted peers are exempt, addresses of registered
    /// devices may send ten times as many. Default 200; 0 turns the limit off; at most 1000000.
    pub source_rate: u32,
    /// How long a source over `source_rate` is dropped. Default 60 s; 1 to 86400 s.
    pub source_ban: Duration,
    /// A TCP/TLS message must be whole within this time from its first byte, or the connection
    /// is closed. Default 10 s; 1 to 300 s.
    pub message_timeout: Duration,
    /// The largest message (head and body, bytes) a connection that has not yet carried an
    /// authenticated request or a registration may send. Default 16384; 1024 to 1114112.
    pub unauthenticated_message_max: u32,
    /// All TCP/TLS connections together buffer at most this many MiB of messages in progress;
    /// above it, connections not yet authenticated are closed. Default 64; 1 to 65536.
    pub buffered_max_mb: u32,
    /// Most TCP/TLS connections from one IP address at once. Default 128; 1 to 1000000.
    pub connections_per_ip: u32,
    /// A TCP/TLS connection that carries no registration is closed after this long without a
    /// message. Default 60 s; 5 to 86400 s. Registered devices' flows live as long as their
    /// registration (they keep them with CRLF keep-alives or re-REGISTERs).
    pub idle_timeout: Duration,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            auth_failures: 10,
            auth_window: Duration::from_secs(60),
            auth_ban: Duration::from_secs(300),
            source_rate: 200,
            source_ban: Duration::from_secs(60),
            message_timeout: Duration::from_secs(10),
            unauthenticated_message_max: 16_384,
            buffered_max_mb: 64,
            connections_per_ip: 128,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The media relay (RTP/RTCP anchoring and ICE relay candidates).
///
/// Once loaded, the address advertised is always known: either `public_address` is set or
/// `bind_address` is a specified address; [`MediaSettings::advertised_address`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaSettings {
    /// The address advertised in SDP and in ICE relay candidates. `None`: the bind address,
    /// which is then never unspecified (`0.0.0.0` or `::` without a public address is refused).
    pub public_address: Option<IpAddr>,
    /// The IPv6 address advertised to IPv6 peers when `public_address` is IPv4 (dual stack:
    /// `bind_address` must then be `::`). `None`: every peer gets `public_address`.
    pub public_address_v6: Option<IpAddr>,
    /// The address the relay sockets bind. Default `0.0.0.0`.
    pub bind_address: IpAddr,
    /// The lowest relay port. Default 20000; at least 1024.
    pub port_min: u16,
    /// The highest relay port. Default 30000; the range holds at least one RTP/RTCP pair (an
    /// even port and the one above it).
    pub port_max: u16,
    /// A relay session that carries no packet for this long is reported inactive. Default 60 s;
    /// 5 to 3600 s.
    pub inactivity_timeout: Duration,
    /// Anchor ONNET calls (both parties our own users) in the relay too. Default false: they
    /// only get a relay ICE candidate, media flows directly when ICE finds a path.
    pub anchor_onnet: bool,
}

impl MediaSettings {
    /// The defaults with `public_address` set: a valid relay setting.
    pub fn new(public_address: IpAddr) -> Self {
        Self {
            public_address: Some(public_address),
            ..Self::default()
        }
    }

    /// The address to advertise in SDP and ICE: `public_address`, else `bind_address`.
    pub fn advertised_address(&self) -> IpAddr {
        self.public_address.unwrap_or(self.bind_address)
    }
}

impl Default for MediaSettings {
    /// The documented defaults, with no public address: not valid as such, since the default
    /// bind address `0.0.0.0` cannot be advertised.
    fn default() -> Self {
        Self {
            public_address: None,
            public_address_v6: None,
            bind_address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port_min: 20000,
            port_max: 30000,
            inactivity_timeout: Duration::from_secs(60),
            anchor_onnet: false,
        }
    }
}

/// The resolver of gateways' DNS names (NAPTR, SRV, A/AAAA).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DnsSettings {
    /// The nameservers to ask (UDP, TCP for truncated answers). Empty (the default): the
    /// system's, from `/etc/resolv.conf`.
    pub servers: Vec<SocketAddr>,
}

/// A carrier trunk: what we present to one gateway (the `gateways` table names it).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trunk {
    /// The gateway's name in the `gateways` table.
    pub gateway: String,
    /// Digest credentials answered to the gateway's 401/407 challenges; no auth when empty.
    pub username: String,
    /// Never logged ([`fmt::Debug`] prints `***`).
    pub password: String,
    /// PEM CA certificates that sign the gateway's TLS certificate; `None`: the system's
    /// trust store.
    pub tls_ca_file: Option<PathBuf>,
    /// Where the trunk was configured.
    pub origin: Origin,
}

impl Trunk {
    /// A trunk with credentials and the system's trust store.
    pub fn new(gateway: &str, username: &str, password: &str) -> Self {
        Self {
            gateway: gateway.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            tls_ca_file: None,
            origin: Origin::default(),
        }
    }
}

impl fmt::Debug for Trunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trunk")
            .field("gateway", &self.gateway)
            .field("username", &self.username)
            .field("password", &"***")
            .field("tls_ca_file", &self.tls_ca_file)
            .finish_non_exhaustive()
    }
}

/// A name that is not one of the accepted ones (transport, algorithm, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    what: &'static str,
    value: String,
    expected: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?} (expected one of {})",
            self.what,
            self.value,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

pub(crate) fn match_name<T: Copy>(
    s: &str,
    what: &'static str,
    names: &[(&'static str, T)],
) -> Result<T, UnknownName> {
    names
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, v)| v)
        .ok_or_else(|| UnknownName {
            what,
            value: s.to_owned(),
            expected: names.iter().map(|&(name, _)| name).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case() {
        assert_eq!("UDP".parse(), Ok(Transport::Udp));
        assert_eq!("tls-tcp".parse(), Ok(Transport::Tls));
        assert_eq!("WSS".parse(), Ok(Transport::Wss));
        assert_eq!("sha-256".parse(), Ok(DigestAlgorithm::Sha256));
        assert_eq!("MD5".parse(), Ok(DigestAlgorithm::Md5));
        assert_eq!("Json".parse(), Ok(LogFormat::Json));
        assert_eq!("registrar".parse(), Ok(ListenerRole::Registrar));
    }

    #[test]
    fn unknown_name_lists_the_accepted_ones() {
        let err = "sctp".parse::<Transport>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown transport "sctp" (expected one of udp, tcp, tls, tls-tcp, ws, wss)"#
        );
        assert!("SHA-512".parse::<DigestAlgorithm>().is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let r = RegistrarSettings::default();
        assert_eq!(
            (r.min_expires, r.default_expires, r.max_expires),
            (60, 3600, 3600)
        );
        assert_eq!(r.algorithms, [DigestAlgorithm::Md5]);
        assert_eq!(
            DatabaseSettings::default().url,
            "sqlite://data/ferroswitch.db"
        );
        assert_eq!(Config::default().node_id, "node1");
        assert_eq!(Config::default().shutdown_timeout, Duration::from_secs(10));
        let calls = CallSettings::default();
        assert_eq!(
            (calls.call_timeout, calls.gateway_timeout),
            (Duration::from_secs(30), Duration::from_secs(5))
        );
        assert_eq!(Config::default().calls, calls);
        assert_eq!(Config::default().media, None);
        let m = MediaSettings::default();
        assert_eq!(m.public_address, None);
        assert_eq!(m.bind_address, IpAddr::from([0, 0, 0, 0]));
        assert_eq!((m.port_min, m.port_max), (20000, 30000));
        assert_eq!(m.inactivity_timeout, Duration::from_secs(60));
        assert!(!m.anchor_onnet);
        let p = PushSettings::default();
        assert_eq!(
            (p.timeout, p.delay, p.max_in_flight),
            (Duration::from_secs(30), Duration::from_secs(3), 64)
        );
        assert_eq!(p.providers, ["apns", "fcm"]);
        assert_eq!(
            p.system_content_types,
            ["application/vnd.ferroswitch.command"]
        );
        assert_eq!(p.system_body_prefix, "");
        assert_eq!(Config::default().push, p);
    }

    #[test]
    fn media_advertises_the_public_address_else_the_bound_one() {
        let public = IpAddr::from([203, 0, 113, 10]);
        let m = MediaSettings::new(public);
        assert_eq!(m.advertised_address(), public);
        assert_eq!(m.bind_address, MediaSettings::default().bind_address);
        let bound = MediaSettings {
            bind_address: IpAddr::from([192, 0, 2, 5]),
            ..MediaSettings::default()
        };
        assert_eq!(bound.advertised_address(), IpAddr::from([192, 0, 2, 5]));
    }
}
