//! The step both formats share: a format layer builds a [`Config`] from its raw form (syntax,
//! unknown keys and value types already checked) and records where each setting came from in
//! [`Positions`]; [`finish`] then resolves relative paths, merges listeners and checks the rules
//! on values (ranges, required settings, bounds that depend on each other), naming the line and
//! key of the setting at fault. The rules live only here, whatever the format.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::model::{
    AdminSettings, AdminToken, CallSettings, Config, HttpHook, ListenerRole, LogSettings,
    MediaSettings, PushSettings, RegistrarSettings, SecuritySettings, SipListener, TlsSettings,
    Transport,
};
use crate::ConfigError;

mod api;
mod fields;
mod voicemail;

pub(crate) use fields::{Field, Hook, Positions};

/// Resolves, merges and validates what a format layer built. `config.source` must be set.
pub(crate) fn finish(mut config: Config, at: &Positions) -> Result<Config, ConfigError> {
    let path = config.source.clone();
    let check = Check { path: &path, at };
    let base = base_dir(&path);

    if !is_node_id(&config.node_id) {
        let rule = "must be 1 to 64 characters of letters, digits, '.', '_' or '-'";
        return Err(check.fail(&[Field::NodeId], rule));
    }
    check.seconds(Field::ShutdownTimeout, config.shutdown_timeout, 1..=300)?;
    if config.shards.is_some_and(|n| !(1..=256).contains(&n)) {
        return Err(check.fail(
            &[Field::Shards],
            "must be 1 to 256 (or left out: one per core)",
        ));
    }
    let listeners = std::mem::take(&mut config.listeners);
    config.listeners = check.listeners(listeners, config.tls.is_some())?;
    if let Some(tls) = &mut config.tls {
        check.tls(tls, &base)?;
    }
    check.registrar(&mut config.registrar)?;
    config.database.url = resolve_database_url(&config.database.url, &base)
        .map_err(|m| check.fail(&[Field::DatabaseUrl], m))?;
    check.hook(Hook::Web, &mut config.web_service)?;
    check.hook(Hook::Push, &mut config.push_service)?;
    check.hook(Hook::Sms, &mut config.sms_service)?;
    check.push(&mut config.push)?;
    if let Some(admin) = &mut config.admin {
        check.admin(admin, &base)?;
    }
    if let Some(api) = &config.api {
        check.api(api)?;
    }
    check.log(&config.log)?;
    check.calls(&config.calls)?;
    check.security(&config.security)?;
    if let Some(media) = &mut config.media {
        // behind 1:1 NAT the relay is reached on the public address the listeners advertise,
        // not on the private one it binds
        if media.public_address.is_none() {
            let dual_stack = media.bind_address == IpAddr::from([0u16; 8]);
            media.public_address = config
                .listeners
                .iter()
                .find_map(|l| l.advertise.map(|a| a.ip))
                .filter(|ip| ip.is_ipv4() == media.bind_address.is_ipv4() || dual_stack);
        }
    }
    if let Some(media) = &config.media {
        check.media(media)?;
    }
    crate::trunks::check(&mut config.trunks, &path, &base)?;
    check.voicemail(&mut config.voicemail, &base, &config.database.url)?;
    if let Some(smtp) = &mut config.smtp {
        crate::smtp::check(smtp, &path, &base)?;
    }
    if let Some(cluster) = &config.cluster {
        crate::cluster::check(cluster, &config.listeners, |f, m| check.fail(&[f], m))?;
    }
    Ok(config)
}

/// The rules, each section at a time; errors name the position of the setting at fault.
struct Check<'a> {
    path: &'a Path,
    at: &'a Positions,
}

impl Check<'_> {
    /// An error at the first of `fields` the file gave (see [`Positions::blame`]).
    fn fail(&self, fields: &[Field], message: impl Into<String>) -> ConfigError {
        let pos = self.at.blame(fields);
        ConfigError::invalid(self.path, pos.line, pos.key, message)
    }

    /// At least one listener, TLS settings for TLS listeners, one socket per address.
    fn listeners(
        &self,
        listeners: Vec<SipListener>,
        has_tls: bool,
    ) -> Result<Vec<SipListener>, ConfigError> {
        if listeners.is_empty() {
            return Err(self.fail(&[Field::Listeners], "at least one SIP listener is required"));
        }
        if !has_tls {
            if let Some(i) = listeners.iter().position(|l| l.transport.uses_tls()) {
                return Err(self.fail(
                    &[Field::ListenerTransport(i), Field::ListenerAddr(i)],
                    format!(
                        "a {} listener needs a certificate: add a [tls] section (TOML) or a \
                         tls-certificate param (XML)",
                        l_name(listeners[i].transport)
                    ),
                ));
            }
        }
        for (i, l) in listeners.iter().enumerate() {
            if l.allowed_origins.is_empty() {
                continue;
            }
            if !l.transport.is_websocket() {
                return Err(self.fail(
                    &[Field::ListenerOrigins(i)],
                    format!(
                        "only ws and wss listeners take allowed origins (this one is {})",
                        l.transport
                    ),
                ));
            }
            if let Some(bad) = l.allowed_origins.iter().find(|o| !is_origin(o)) {
                return Err(self.fail(
                    &[Field::ListenerOrigins(i)],
                    format!(
                        "{bad:?} is not an origin: give scheme://host[:port] (e.g. \
                         https://phone.example.com), or \"*\" to allow every origin"
                    ),
                ));
            }
        }
        merge_listeners(listeners, self.at)
            .map_err(|(i, message)| self.fail(&[Field::ListenerAddr(i)], message))
    }

    fn tls(&self, tls: &mut TlsSettings, base: &Path) -> Result<(), ConfigError> {
        if tls.certificate.as_os_str().is_empty() {
            return Err(self.fail(&[Field::TlsCertificate], "must not be empty"));
        }
        if tls.private_key.as_os_str().is_empty() {
            return Err(self.fail(&[Field::TlsPrivateKey], "must not be empty"));
        }
        tls.certificate = resolve(base, &tls.certificate);
        tls.private_key = resolve(base, &tls.private_key);
        Ok(())
    }

    fn registrar(&self, r: &mut RegistrarSettings) -> Result<(), ConfigError> {
        // An unset default expiry follows the bounds (voipswitch's register-expiration caps it).
        if self.at.get(Field::DefaultExpires).is_none() && r.min_expires <= r.max_expires {
            r.default_expires = r.default_expires.clamp(r.min_expires, r.max_expires);
        }
        if r.realm.is_empty()
            || r.realm
                .chars()
                .any(|c| matches!(c, '"' | '\\') || c.is_control())
        {
            let rule = "must be non-empty, without quotes, backslashes or control characters";
            return Err(self.fail(&[Field::Realm], rule));
        }
        if let Some(d) = &r.domain {
            // a host as it goes into `sip:{login}@{domain}`: a name, an IPv4 address or a
            // bracketed IPv6 reference, with an optional port
            let (host, port) = match d.rsplit_once(':') {
                Some((h, p))
                    if !h.ends_with(':')
                        && (h.starts_with('[') == h.ends_with(']'))
                        && !p.contains(']') =>
                {
                    (h, Some(p))
                }
                _ => (d.as_str(), None),
            };
            let host_ok = !host.is_empty()
                && (host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
                    || (host.starts_with('[')
                        && host.ends_with(']')
                        && host[1..host.len() - 1]
                            .parse::<std::net::Ipv6Addr>()
                            .is_ok()));
            let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
            if !host_ok || !port_ok {
                let rule =
                    "must be a host name or IP address (with an optional port), e.g. example.com";
                return Err(self.fail(&[Field::Domain], rule));
            }
        }
        for (field, value) in [
            (Field::MinExpires, r.min_expires),
            (Field::SubscribeExpiration, r.subscribe_expiration),
            (Field::NonceLifetime, r.nonce_lifetime),
            (Field::PurgeInterval, r.purge_interval),
        ] {
            if value == 0 {
                return Err(self.fail(&[field], "must be at least 1 second"));
            }
        }
        let out_of_order = |blame: &[Field]| {
            let (min, default, max) = (r.min_expires, r.default_expires, r.max_expires);
            let message = format!(
                "registration expiry out of order: min {min}, default {default}, max {max} \
                 (need min <= default <= max)"
            );
            Err(self.fail(blame, message))
        };
        if r.min_expires > r.max_expires {
            return out_of_order(&[Field::MinExpires, Field::MaxExpires]);
        }
        if r.default_expires > r.max_expires {
            return out_of_order(&[Field::DefaultExpires, Field::MaxExpires]);
        }
        if r.default_expires < r.min_expires {
            return out_of_order(&[Field::DefaultExpires, Field::MinExpires]);
        }
        if r.nonce_secret.as_ref().is_some_and(|s| s.len() < 16) {
            let rule = "must be at least 16 characters (leave it out for a random secret)";
            return Err(self.fail(&[Field::NonceSecret], rule));
        }
        if r.algorithms.is_empty() {
            return Err(self.fail(
                &[Field::Algorithms],
                "at least one digest algorithm is required",
            ));
        }
        let repeated = r
            .algorithms
            .iter()
            .enumerate()
            .find(|(i, a)| r.algorithms[..*i].contains(a));
        if let Some((i, a)) = repeated {
            return Err(self.fail(
                &[Field::Algorithms],
                format!("{a} is listed twice (entry {})", i + 1),
            ));
        }
        Ok(())
    }

    fn hook(&self, hook: Hook, setting: &mut Option<HttpHook>) -> Result<(), ConfigError> {
        // voipswitch ships `ipaddr=""` for a hook that is not set up yet: treat it as off.
        if setting.as_ref().is_some_and(|h| h.ipaddr.is_empty()) {
            *setting = None;
        }
        let Some(h) = setting else { return Ok(()) };
        if h.port == 0 {
            return Err(self.fail(&[Field::HookPort(hook)], "must be 1 to 65535"));
        }
        if h.service.is_empty() {
            return Err(self.fail(&[Field::HookService(hook)], "must not be empty"));
        }
        Ok(())
    }

    /// Timers and limits within range; provider names and content types well-formed (made
    /// lowercase), none twice.
    fn push(&self, p: &mut PushSettings) -> Result<(), ConfigError> {
        self.seconds(Field::PushTimeout, p.timeout, 5..=300)?;
        self.seconds(Field::PushDelay, p.delay, 0..=30)?;
        if !(1..=10_000).contains(&p.max_in_flight) {
            let message = format!("must be 1 to 10000, not {}", p.max_in_flight);
            return Err(self.fail(&[Field::PushMaxInFlight], message));
        }
        if p.providers.is_empty() {
            return Err(self.fail(
                &[Field::PushProviders],
                "at least one push provider is required (e.g. apns, fcm)",
            ));
        }
        for (i, name) in p.providers.iter().enumerate() {
            if !is_provider(name) {
                let message = format!(
                    "entry {} ({name:?}) is not an RFC 8599 pn-provider: use letters, digits, \
                     '.' or '-'",
                    i + 1
                );
                return Err(self.fail(&[Field::PushProviders], message));
            }
        }
        for (i, content_type) in p.system_content_types.iter().enumerate() {
            let problem = if content_type.contains(';') {
                "must be a media type without parameters (type/subtype alone)"
            } else if !is_media_type(content_type) {
                "is not a media type (type/subtype, e.g. application/vnd.ferroswitch.command)"
            } else {
                continue;
            };
            let message = format!("entry {} ({content_type:?}) {problem}", i + 1);
            return Err(self.fail(&[Field::PushSystemContentTypes], message));
        }
        for (field, list) in [
            (Field::PushProviders, &mut p.providers),
            (Field::PushSystemContentTypes, &mut p.system_content_types),
        ] {
            list.iter_mut().for_each(|s| s.make_ascii_lowercase());
            let repeated = list
                .iter()
                .enumerate()
                .find(|(i, s)| list[..*i].contains(s));
            if let Some((i, s)) = repeated {
                return Err(self.fail(&[field], format!("{s} is listed twice (entry {})", i + 1)));
            }
        }
        Ok(())
    }

    fn admin(&self, admin: &mut AdminSettings, base: &Path) -> Result<(), ConfigError> {
        let ip = admin.listen.ip();
        if !ip.is_loopback() {
            let message = format!(
                "{ip} is not a loopback address: parts of the admin API have no authentication, \
                 bind it to 127.0.0.1 or [::1]"
            );
            return Err(self.fail(&[Field::AdminListen], message));
        }
        if let Some(file) = &admin.token_file {
            if admin.token.is_some() {
                return Err(self.fail(
                    &[Field::AdminTokenFile],
                    "set either token or token_file, not both",
                ));
            }
            let file = resolve(base, file);
            let text = std::fs::read_to_string(&file).map_err(|e| {
                self.fail(
                    &[Field::AdminTokenFile],
                    format!("cannot read the token from {}: {e}", file.display()),
                )
            })?;
            admin.token = Some(AdminToken::new(text.trim()));
            admin.token_file = Some(file);
        }
        if let Some(token) = &admin.token {
            let t = token.expose();
            let field = if admin.token_file.is_some() {
                Field::AdminTokenFile
            } else {
                Field::AdminToken
            };
            if t.len() < AdminToken::MIN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(self.fail(
                    &[field],
                    format!(
                        "the admin token must be at least {} visible ASCII characters without \
                         spaces (e.g. the output of `openssl rand -hex 32`)",
                        AdminToken::MIN_LEN
                    ),
                ));
            }
        }
        Ok(())
    }

    fn log(&self, log: &LogSettings) -> Result<(), ConfigError> {
        if log.level.trim().is_empty() {
            return Err(self.fail(&[Field::LogLevel], "must not be empty (e.g. \"info\")"));
        }
        // Exactly what the binary will install, so a bad directive fails here, with its line.
        match tracing_subscriber::EnvFilter::try_new(&log.level) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(&[Field::LogLevel], format!("invalid filter directive: {e}"))),
        }
    }

    fn calls(&self, calls: &CallSettings) -> Result<(), ConfigError> {
        self.seconds(Field::CallTimeout, calls.call_timeout, 5..=600)?;
        self.seconds(Field::GatewayTimeout, calls.gateway_timeout, 1..=60)?;
        self.seconds(Field::CallMessageTimeout, calls.message_timeout, 1..=30)?;
        self.seconds(Field::MaxDuration, calls.max_duration, 60..=604_800)?;
        self.seconds(Field::MinSe, calls.min_se, 1..=86_400)?;
        self.seconds(
            Field::SessionExpires,
            calls.session_expires,
            calls.min_se.as_secs()..=86_400,
        )
    }

    fn security(&self, s: &SecuritySettings) -> Result<(), ConfigError> {
        if !(1..=100_000).contains(&s.auth_failures) {
            let message = format!("must be 1 to 100000, not {}", s.auth_failures);
            return Err(self.fail(&[Field::AuthFailures], message));
        }
        self.seconds(Field::AuthWindow, s.auth_window, 1..=86_400)?;
        self.seconds(Field::AuthBan, s.auth_ban, 1..=86_400)?;
        for (field, value, range) in [
            (Field::SourceRate, s.source_rate, 0..=1_000_000),
            (
                Field::UnauthenticatedMessageMax,
                s.unauthenticated_message_max,
                1024..=1_114_112,
            ),
            (Field::BufferedMaxMb, s.buffered_max_mb, 1..=65_536),
            (Field::ConnectionsPerIp, s.connections_per_ip, 1..=1_000_000),
        ] {
            if !range.contains(&value) {
                let message = format!("must be {} to {}, not {value}", range.start(), range.end());
                return Err(self.fail(&[field], message));
            }
        }
        self.seconds(Field::SourceBan, s.source_ban, 1..=86_400)?;
        self.seconds(Field::MessageTimeout, s.message_timeout, 1..=300)?;
        self.seconds(Field::IdleTimeout, s.idle_timeout, 5..=86_400)
    }

    fn media(&self, m: &MediaSettings) -> Result<(), ConfigError> {
        let bind = m.bind_address;
        if bind.is_multicast() {
            let message = format!("{bind} is a multicast address: bind a local unicast address");
            return Err(self.fail(&[Field::MediaBindAddress], message));
        }
        match m.public_address {
            Some(public) if public.is_unspecified() || public.is_multicast() => {
                let message = format!(
                    "{public} cannot be advertised: give the address clients reach the relay on"
                );
                return Err(self.fail(&[Field::MediaPublicAddress], message));
            }
            // A socket bound to `::` takes IPv4 too (dual stack); any other mix cannot work.
            Some(public)
                if public.is_ipv4() != bind.is_ipv4()
                    && !(public.is_ipv4() && bind == IpAddr::from([0u16; 8])) =>
            {
                let message = format!(
                    "{public} is not of the IP version of the bind address {bind}: the relay \
                     could not receive on it"
                );
                return Err(self.fail(&[Field::MediaPublicAddress], message));
            }
            None if bind.is_unspecified() => {
                let message = format!(
                    "required when the bind address is unspecified ({bind}): the address \
                     clients reach the relay on, advertised in SDP and ICE candidates"
                );
                return Err(self.fail(&[Field::MediaPublicAddress], message));
            }
            _ => {}
        }
        if let Some(v6) = m.public_address_v6 {
            let message = if !v6.is_ipv6() || v6.is_unspecified() || v6.is_multicast() {
                Some(format!("{v6} is not an IPv6 unicast address"))
            } else if bind != IpAddr::from([0u16; 8]) {
                Some(format!(
                    "the relay binds {bind}: set bind_address to \"::\" (both IP versions) to \
                     relay IPv6 peers too"
                ))
            } else if !m.public_address.is_some_and(|p| p.is_ipv4()) {
                Some("needs an IPv4 public_address beside it (the address of IPv4 peers)".into())
            } else {
                None
            };
            if let Some(message) = message {
                return Err(self.fail(&[Field::MediaPublicAddressV6], message));
            }
        }
        if m.port_min < 1024 {
            let message = format!("must be at least 1024, not {}", m.port_min);
            return Err(self.fail(&[Field::MediaPortMin], message));
        }
        // The relay hands out pairs: an even RTP port and the RTCP port above it.
        let first_even = (u32::from(m.port_min) + 1) & !1;
        if first_even + 1 > u32::from(m.port_max) {
            let (min, max) = (m.port_min, m.port_max);
            let message = format!(
                "media port range {min}-{max} holds no RTP/RTCP pair (an even port and the one \
                 above it): the highest port must be above the lowest"
            );
            return Err(self.fail(&[Field::MediaPortMax, Field::MediaPortMin], message));
        }
        self.seconds(
            Field::MediaInactivityTimeout,
            m.inactivity_timeout,
            5..=3600,
        )
    }

    /// A time that must be within `range` seconds.
    fn seconds(
        &self,
        field: Field,
        value: Duration,
        range: RangeInclusive<u64>,
    ) -> Result<(), ConfigError> {
        let (min, max) = (*range.start(), *range.end());
        if (Duration::from_secs(min)..=Duration::from_secs(max)).contains(&value) {
            return Ok(());
        }
        let message = format!(
            "must be {min} to {max} seconds, not {}",
            value.as_secs_f64()
        );
        Err(self.fail(&[field], message))
    }
}

fn is_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// An RFC 8599 `pn-provider` value as this server accepts it: letters, digits, `.` and `-`.
fn is_provider(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
}

/// `type/subtype`, each an RFC 6838 `restricted-name` (1 to 127 characters, the first a letter
/// or digit).
fn is_media_type(s: &str) -> bool {
    let restricted_name = |name: &str| {
        (1..=127).contains(&name.len())
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                    )
            })
    };
    s.split_once('/')
        .is_some_and(|(ty, subtype)| restricted_name(ty) && restricted_name(subtype))
}

/// TCP, TLS and WebSocket listeners are all TCP sockets: they cannot share an address.
fn is_stream(t: Transport) -> bool {
    !matches!(t, Transport::Udp)
}

/// How an error names a listener's transport: `TLS`, `WSS`.
fn l_name(t: Transport) -> String {
    t.as_str().to_ascii_uppercase()
}

/// A browser origin as RFC 6454 serialises it (`scheme://host[:port]`, no path), or `*`.
fn is_origin(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !rest.starts_with(':')
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Merges each registrar listener into the SIP listener on the same address and transport (one
/// socket serves both) and refuses two listeners on one socket. Port 0 asks the system for a
/// fresh port, so it never collides. Errors carry the index of the listener at fault.
fn merge_listeners(
    listeners: Vec<SipListener>,
    at: &Positions,
) -> Result<Vec<SipListener>, (usize, String)> {
    // (listener, its index in the input, a SIP listener seen here, a registrar listener seen here)
    let mut kept: Vec<(SipListener, usize, bool, bool)> = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let is_sip = l.role == ListenerRole::Sip;
        let mate = kept.iter_mut().find(|(k, _, sip, registrar)| {
            k.addr == l.addr
                && k.transport == l.transport
                && if is_sip { !*sip } else { !*registrar }
        });
        if let Some((k, _, sip, registrar)) = mate {
            if k.advertise.is_none() {
                k.advertise = l.advertise;
            }
            *sip |= is_sip;
            *registrar |= !is_sip;
            k.role = ListenerRole::Sip;
            continue;
        }
        if l.addr.port() != 0 {
            let clash = kept.iter().find(|(k, ..)| {
                k.addr == l.addr && is_stream(k.transport) == is_stream(l.transport)
            });
            if let Some((k, j, ..)) = clash {
                let line = at.blame(&[Field::ListenerAddr(*j)]).line;
                let message = if k.transport == l.transport {
                    format!(
                        "duplicate listener: {} {} is already defined at line {line}",
                        l.transport, l.addr
                    )
                } else {
                    format!(
                        "{} {} clashes with the {} listener at line {line}: both are TCP sockets",
                        l.transport, l.addr, k.transport
                    )
                };
                return Err((i, message));
            }
        }
        kept.push((l, i, is_sip, !is_sip));
    }
    Ok(kept.into_iter().map(|(l, ..)| l).collect())
}

/// The directory relative paths are resolved against: the config file's, made absolute (and
/// canonical when it exists, so that a leading `..` means its real parent).
fn base_dir(source: &Path) -> PathBuf {
    let dir = match source.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    dir.canonicalize()
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// `p` against `base` unless absolute; leading `..` steps up from `base`, `.` is dropped.
pub(crate) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let mut out = base.to_path_buf();
    let mut leading = true;
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if leading => {
                out.pop();
            }
            other => {
                leading = false;
                out.push(other);
            }
        }
    }
    out
}

/// Checks the scheme and makes a SQLite file path absolute. Messages never echo the URL: it
/// may hold a password.
fn resolve_database_url(url: &str, base: &Path) -> Result<String, String> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => {
            let rest = &url["sqlite:".len()..];
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (file, query) = match rest.split_once('?') {
                Some((file, query)) => (file, Some(query)),
                None => (rest, None),
            };
            if file == ":memory:" {
                return Ok(url.to_owned());
            }
            if file.is_empty() {
                return Err("the SQLite URL has no file path (sqlite://<path>)".into());
            }
            let file = resolve(base, Path::new(file));
            Ok(match query {
                Some(q) => format!("sqlite://{}?{q}", file.display()),
                None => format!("sqlite://{}", file.display()),
            })
        }
        Some("mysql" | "mariadb") => {
            let host = url.split_once("://").map_or("", |(_, rest)| rest);
            if host.is_empty() || host.starts_with('/') {
                return Err(
                    "the MySQL/MariaDB URL has no host (mysql://user:password@host:port/db)".into(),
                );
            }
            Ok(url.to_owned())
        }
        _ => Err("unsupported database URL scheme (expected sqlite:, mysql: or mariadb:)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn listener(addr: &str, transport: Transport, role: ListenerRole) -> SipListener {
        let addr: SocketAddr = addr.parse().unwrap();
        SipListener {
            role,
            ..SipListener::new(addr, transport)
        }
    }

    #[test]
    fn provider_names_and_media_types() {
        for good in ["apns", "fcm", "APNS", "webpush.example-1"] {
            assert!(is_provider(good), "{good:?}");
        }
        for bad in ["", "ap ns", "fcm;x", "ap_ns", "fcm,apns", "é"] {
            assert!(!is_provider(bad), "{bad:?}");
        }
        for good in [
            "application/vnd.ferroswitch.command",
            "text/plain",
            "A/B+json",
        ] {
            assert!(is_media_type(good), "{good:?}");
        }
        for bad in [
            "",
            "text",
            "text/",
            "/plain",
            "text/plain/x",
            "text/ plain",
            "+a/b",
        ] {
            assert!(!is_media_type(bad), "{bad:?}");
        }
    }

    #[test]
    fn resolve_steps_up_from_base_and_keeps_absolute_paths() {
        let base = Path::new("/srv/fs/etc");
        assert_eq!(
            resolve(base, Path::new("../data/x.db")),
            Path::new("/srv/fs/data/x.db")
        );
        assert_eq!(
            resolve(base, Path::new("./tls/a/../b")),
            Path::new("/srv/fs/etc/tls/a/../b")
        );
        assert_eq!(
            resolve(base, Path::new("/abs/cert.pem")),
            Path::new("/abs/cert.pem")
        );
    }

    #[test]
    fn sqlite_urls_become_absolute_others_pass() {
        let base = Path::new("/srv/fs/etc");
        let r = |u| resolve_database_url(u, base);
        assert_eq!(
            r("sqlite://../data/f.db").unwrap(),
            "sqlite:///srv/fs/data/f.db"
        );
        assert_eq!(
            r("sqlite:f.db?mode=rwc").unwrap(),
            "sqlite:///srv/fs/etc/f.db?mode=rwc"
        );
        assert_eq!(r("sqlite:///var/f.db").unwrap(), "sqlite:///var/f.db");
        assert_eq!(r("sqlite::memory:").unwrap(), "sqlite::memory:");
        assert_eq!(
            r("mysql://root@db:3306/fs").unwrap(),
            "mysql://root@db:3306/fs"
        );
        assert!(r("mariadb://u:p@h/x").is_ok());
        assert!(r("sqlite://").is_err());
        assert!(r("mysql://").is_err());
        let err = r("postgres://u:secret@h/x").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn registrar_listener_merges_whichever_comes_first() {
        let at = Positions::new(1);
        for pair in [
            [ListenerRole::Registrar, ListenerRole::Sip],
            [ListenerRole::Sip, ListenerRole::Registrar],
        ] {
            let ls = pair
                .map(|role| listener("1.2.3.4:5061", Transport::Tls, role))
                .to_vec();
            let merged = merge_listeners(ls, &at).unwrap();
            assert_eq!(
                merged,
                [listener("1.2.3.4:5061", Transport::Tls, ListenerRole::Sip)]
            );
        }
    }

    #[test]
    fn one_socket_per_address_except_port_zero() {
        let at = Positions::new(1);
        let tcp = listener("1.2.3.4:5060", Transport::Tcp, ListenerRole::Sip);
        let tls = listener("1.2.3.4:5060", Transport::Tls, ListenerRole::Sip);
        let udp = listener("1.2.3.4:5060", Transport::Udp, ListenerRole::Sip);
        assert_eq!(
            merge_listeners(vec![udp.clone(), tcp.clone()], &at)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            merge_listeners(vec![udp.clone(), tcp.clone(), tls], &at)
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(
            merge_listeners(vec![udp.clone(), udp], &at).unwrap_err().0,
            1
        );
        let reg = listener("1.2.3.4:5060", Transport::Tcp, ListenerRole::Registrar);
        assert_eq!(
            merge_listeners(vec![tcp, reg.clone(), reg], &at)
                .unwrap_err()
                .0,
            2
        );
        let any = listener("127.0.0.1:0", Transport::Udp, ListenerRole::Sip);
        assert_eq!(
            merge_listeners(vec![any.clone(), any], &at).unwrap().len(),
            2
        );
        assert_eq!(merge_listeners(vec![], &at), Ok(vec![]));
    }
}
